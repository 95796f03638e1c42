# Shared helpers for the integration tests. tests/run.sh sources this file, then one
# integration file, in a subshell of its own per file: a file's functions, variables, traps and
# background jobs never reach another file. Each check ends in exactly one of pass/fail/skip;
# the subshell's counts go to $TEST_COUNTS when it exits, and tests/run.sh sums them.
#
# Set by tests/run.sh for each file: BUILD_DIR, TEST_NAME (the file's name without .sh),
# TEST_INDEX (its place in the sorted list of integration files, whatever the pattern: a
# number no other file of the run has), TEST_COUNTS (where the counts go).

VMM=${VMM:-$BUILD_DIR/bin/xeno-vmm}
GUEST=${GUEST:-build/guest}
TEST_NAME=${TEST_NAME:-test}
TEST_INDEX=${TEST_INDEX:-0}
# A temporary directory per file: paths under it never collide with another file's.
TMP=$(mktemp -d "/tmp/xeno-tests.$TEST_NAME.XXXXXX")
TEST_OWN_TMP=$TMP # what the exit removes: this directory only, whatever becomes of TMP
# TEST_PORT_BASE: the first of 4 ports on loopback (root namespace) this file may use: apart
# from every other file's in this run (TEST_INDEX) and from a run beside it (the runner's pid).
# Ports inside a network namespace the file made are its own anyway.
TEST_PORT_BASE=$((20000 + ($$ % 400) * 100 + (TEST_INDEX % 25) * 4))
PASSED=0 FAILED=0 SKIPPED=0
# TEST_FILE_DONE is set by tests/run.sh once the file ran to its end: a file that stops
# early (an unbound variable under set -u, an exit) is reported by the runner.
test_file_exit() {
    [ -z "${TEST_COUNTS:-}" ] || echo "$PASSED $FAILED $SKIPPED ${TEST_FILE_DONE:-0}" >"$TEST_COUNTS"
    case $TEST_OWN_TMP in /tmp/xeno-tests.*.*) rm -rf "$TEST_OWN_TMP" ;; esac
}
trap test_file_exit EXIT

pass() { PASSED=$((PASSED + 1)); printf 'PASS %s\n' "$1"; }
fail() { FAILED=$((FAILED + 1)); printf 'FAIL %s: %s\n' "$1" "$2"; }
skip() { SKIPPED=$((SKIPPED + 1)); printf 'SKIP %s: %s\n' "$1" "$2"; }

# check NAME CONDITION [WHY]: the one check of the integration tests. CONDITION is shell text,
# evaluated (eval) where check is called, so it may hold pipelines, `!`, `&&` and variables
# the file set; it passes when its status is 0. On failure the message is WHY (default: the
# condition itself), then what the file's check_context prints (a file may define it to add
# the logs that explain a failure, e.g. its monitor's). check uses no local variables, so
# the condition sees the caller's.
check() {
    if eval "$2"; then
        pass "$1"
    else
        fail "$1" "${3:-$2}$(check_context 2>/dev/null)"
    fi
}
check_context() { :; }
# log_tail FILE... : the last 400 bytes of the files, one line ('|' for newlines), for messages.
log_tail() { cat "$@" 2>/dev/null | tail -c "${LOG_TAIL_BYTES:-400}" | tr '\n' '|'; }

have_kvm() { [ -c /dev/kvm ] && [ -r /dev/kvm ] && [ -w /dev/kvm ]; }

# run_vmm NAME STDIN_TEXT ARGS...: runs the monitor with a time limit; leaves
# $TMP/NAME.out, $TMP/NAME.err and $RC.
run_vmm() {
    local name=$1 input=$2
    shift 2
    printf '%b' "$input" | timeout -k 5 ${TIMEOUT:-120} "$VMM" "$@" >"$TMP/$name.out" 2>"$TMP/$name.err"
    RC=$?
}

# run_cmd NAME ARGS...: runs any command (60 s at most, no input); leaves $TMP/NAME.out,
# $TMP/NAME.err and $RC, for expect.
run_cmd() {
    local name=$1
    shift
    timeout -k 5 60 "$@" </dev/null >"$TMP/$name.out" 2>"$TMP/$name.err"
    RC=$?
}

# expect NAME WANT_RC PATTERN...: checks $RC and that each extended regex matches
# stdout+stderr of the last run_vmm or run_cmd NAME.
expect() {
    local name=$1 want=$2 pat
    shift 2
    if [ "$RC" -ne "$want" ]; then
        fail "$name" "exit status $RC, expected $want; stderr: $(tail -c 600 "$TMP/$name.err" | tr '\n' '|')"
        return
    fi
    for pat in "$@"; do
        if ! cat "$TMP/$name.out" "$TMP/$name.err" | grep -Eq -- "$pat"; then
            fail "$name" "output lacks /$pat/; got: $(cat "$TMP/$name.out" "$TMP/$name.err" | tail -c 600 | tr '\n' '|')"
            return
        fi
    done
    pass "$name"
}

# kvm_case NAME: 0 where /dev/kvm is usable; otherwise reports NAME as skipped and returns 1.
kvm_case() {
    local name=$1
    if ! have_kvm; then
        skip "$name" "no usable /dev/kvm on this machine"
        return 1
    fi
    return 0
}

# ---- monitors under --run-dir (vmm_control.sh, snapshot.sh): sockets are driven by
# tests/tools/unixcat, the stats page is read by tests/tools/statsdump.
UNIXCAT=${UNIXCAT:-$BUILD_DIR/tests/tools/unixcat}
STATSDUMP=${STATSDUMP:-$BUILD_DIR/tests/tools/statsdump}

# wait_until SECONDS COMMAND...: runs COMMAND until it succeeds (0) or SECONDS (a decimal
# number) have passed since the call (1), every WAIT_POLL seconds (0.05 unless the file or
# the call sets it). Every wait of the tests for a condition goes through here.
wait_until() {
    local int=${1%.*} frac=${1#*.} end
    [[ $1 == *.* ]] || frac=
    frac=${frac}000000
    end=$((${EPOCHREALTIME/./} + 10#${int:-0} * 1000000 + 10#${frac:0:6}))
    shift
    while ! "$@"; do
        [ "${EPOCHREALTIME/./}" -lt "$end" ] || return 1
        sleep "${WAIT_POLL:-0.05}"
    done
}
has() { grep -q -- "$2" "$1" 2>/dev/null; } # FILE PATTERN
# guest_has FILE PATTERN: the guest's console output in a file the monitor also logs to (its
# stdout and stderr together) holds PATTERN. The console is written a byte at a time, a log
# line whole, so a log line can land inside a console line ("2 qu" LOG-LINE "eue(s)"): whole
# "xeno-vmm: LEVEL: ..." lines are taken out wherever they start before looking.
guest_has() { perl -0pe 's/xeno-vmm: \w+: [^\n]*\n//g' "$1" 2>/dev/null | grep -q -- "$2"; }
# jqe FILTER...: `jq -e` that fails on empty input (jq 1.6 exits 0 when it reads nothing, so
# `xenctl --json info GONE | jq -e ...` would pass). Checks use this, never a bare jq -e.
jqe() {
    local in
    in=$(cat)
    [ -n "$in" ] && command jq -e "$@" <<<"$in"
}
gone() { ! kill -0 "$1" 2>/dev/null; } # PID
# ledger_sql DB SQL: reads a database a running xenod may be writing. The ledger is not in WAL
# mode, so a read that meets a commit gets SQLITE_BUSY at once unless it waits for the lock.
ledger_sql() { sqlite3 -readonly -cmd '.timeout 10000' "$1" "$2"; }

# vmm_start NAME ARGS...: a monitor with --run-dir $TMP/NAME, in the background; waits for
# its pid file (readiness). Sets VMM_JOB (to wait for) and VMM_PID (the monitor itself).
vmm_start() {
    local name=$1
    shift
    rm -rf "${TMP:?}/$name"
    timeout -k 5 "${TIMEOUT:-120}" "$VMM" --run-dir "$TMP/$name" --name "$name" "$@" \
        </dev/null >"$TMP/$name.vmm.log" 2>&1 &
    VMM_JOB=$!
    VMM_PID=
    wait_until 30 test -s "$TMP/$name/pid" || return 1
    VMM_PID=$(cat "$TMP/$name/pid")
}

# vmm_wait: waits for the monitor to exit (30 s at most) and sets RC to its exit status.
vmm_wait() {
    wait_until 30 gone "$VMM_PID" || kill -KILL "$VMM_PID" 2>/dev/null
    wait "$VMM_JOB"
    RC=$?
}

# ---- control sockets (the monitor's and xeno-netback's): both read requests until the
# client shuts down its sending side, answer each one (a deferred reply such as a save's
# included) and then close the connection. So a request piped into unixcat returns with the
# whole reply and no waiting on a clock.
# sn_request NAME REQUEST: one control request to the monitor under $TMP/NAME; the reply
# line in SN_REPLY (events before it are skipped).
sn_request() {
    SN_REPLY=$(printf '%s\n' "$2" | timeout 20 "$UNIXCAT" "$TMP/$1/control.sock" 2>&1 | grep -m1 -E '^(ok|err)')
}
# sn_type NAME TEXT: types on the console (a short-lived connection). The console has no
# reply to wait for: the connection stays 0.5 s so the monitor reads the text before the
# hang-up (a duration, not a wait for a condition).
sn_type() { (printf '%b' "$2"; sleep 0.5) | timeout 5 "$UNIXCAT" "$TMP/$1/console.sock" >/dev/null 2>&1; }
# sn_last_ticks NAME: the tick count of the last "counter: ticks=N" line of the console log.
sn_last_ticks() { sed -n 's/^counter: ticks=\([0-9]*\) .*/\1/p' "$TMP/$1/console.log" 2>/dev/null | tail -1; }
sn_ticks_at_least() { local t; t=$(sn_last_ticks "$1"); [ -n "$t" ] && [ "$t" -ge "$2" ]; } # NAME N

# ---- xeno-netback (netback.sh, netback_qemu.sh, net_audit.sh)
NETBACK=${NETBACK:-$BUILD_DIR/bin/xeno-netback}
# nb_ctl DIR REQUEST: one request on the backend's control socket in DIR; every reply line
# (a `stats` or `ports` reply has several) in NB_REPLY.
nb_ctl() {
    NB_REPLY=$(printf '%s\n' "$2" | timeout 5 "$UNIXCAT" "$1/control.sock" 2>&1)
}
# nb_stop: stops the backend NB_PID (SIGTERM, then SIGKILL after 5 s).
nb_stop() {
    [ -n "${NB_PID:-}" ] || return 0
    kill "$NB_PID" 2>/dev/null
    wait_until 5 gone "$NB_PID" || kill -KILL "$NB_PID" 2>/dev/null
    wait "$NB_PID" 2>/dev/null
}

# debian_kernel: the Debian kernel package (netback_qemu.sh, net_audit.sh), fetched once into
# build/netback-qemu with `apt-get download` and unpacked there (never installed). Sets
# DEBIAN_VMLINUZ, DEBIAN_KVER and DEBIAN_MODS, or returns 1. A lock: two files may ask at once.
debian_kernel() {
    local cache=build/netback-qemu pkg
    mkdir -p "$cache"
    (
        flock 9
        ls $cache/x/boot/vmlinuz-* >/dev/null 2>&1 && exit 0
        pkg=$(apt-cache depends linux-image-amd64 2>/dev/null | awk '/Depends: linux-image-[0-9]/ {print $2; exit}')
        [ -n "$pkg" ] && (cd $cache && apt-get download "$pkg" >/dev/null 2>&1) &&
            dpkg-deb -x $cache/"$pkg"_*.deb $cache/x || exit 1
        rm -f $cache/*.deb
    ) 9>"$cache.lock" || return 1
    DEBIAN_VMLINUZ=$(ls $cache/x/boot/vmlinuz-* | head -1)
    DEBIAN_KVER=${DEBIAN_VMLINUZ##*/vmlinuz-}
    DEBIAN_MODS=$cache/x/lib/modules/$DEBIAN_KVER/kernel
}

# udp_drained [NETNS] PORT: no datagram waits in the receive queue of the UDP socket bound to
# PORT (in NETNS, when given): its reader has taken all that was sent.
udp_drained() {
    local q
    if [ $# -eq 2 ]; then
        q=$(ip netns exec "$1" ss -u -l -n -H "sport = :$2" 2>/dev/null | awk '{ print $2 }')
    else
        q=$(ss -u -l -n -H "sport = :$1" 2>/dev/null | awk '{ print $2 }')
    fi
    [ "${q:-1}" = 0 ]
}
