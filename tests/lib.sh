# Shared helpers for the integration tests (sourced by tests/run.sh).
# Each check ends in exactly one of pass/fail/skip, which tests/run.sh counts.

VMM=${VMM:-$BUILD_DIR/bin/xeno-vmm}
GUEST=${GUEST:-build/guest}
TMP=$(mktemp -d /tmp/xeno-tests.XXXXXX)
trap 'rm -rf "$TMP"' EXIT

pass() { PASSED=$((PASSED + 1)); printf 'PASS %s\n' "$1"; }
fail() { FAILED=$((FAILED + 1)); printf 'FAIL %s: %s\n' "$1" "$2"; }
skip() { SKIPPED=$((SKIPPED + 1)); printf 'SKIP %s: %s\n' "$1" "$2"; }

have_kvm() { [ -c /dev/kvm ] && [ -r /dev/kvm ] && [ -w /dev/kvm ]; }

# run_vmm NAME STDIN_TEXT ARGS...: runs the monitor with a time limit; leaves
# $TMP/NAME.out, $TMP/NAME.err and $RC.
run_vmm() {
    local name=$1 input=$2
    shift 2
    printf '%b' "$input" | timeout -k 5 ${TIMEOUT:-120} "$VMM" "$@" >"$TMP/$name.out" 2>"$TMP/$name.err"
    RC=$?
}

# expect NAME WANT_RC PATTERN...: checks $RC and that each extended regex matches
# stdout+stderr of the last run_vmm NAME.
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

# boot_test NAME KERNEL INPUT WANT_RC PATTERN... -- ARGS...: a KVM case.
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

# wait_until SECONDS COMMAND...: polls COMMAND every 50 ms until it succeeds.
wait_until() {
    local tries=$(($1 * 20))
    shift
    while ! "$@"; do
        tries=$((tries - 1))
        [ "$tries" -gt 0 ] || return 1
        sleep 0.05
    done
}
has() { grep -q -- "$2" "$1" 2>/dev/null; } # FILE PATTERN
# jqe FILTER...: `jq -e` that fails on empty input (jq 1.6 exits 0 when it reads nothing, so
# `xenctl --json info GONE | jq -e ...` would pass). Checks use this, never a bare jq -e.
jqe() {
    local in
    in=$(cat)
    [ -n "$in" ] && command jq -e "$@" <<<"$in"
}
gone() { ! kill -0 "$1" 2>/dev/null; }      # PID

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

# ---- snapshot helpers (tests/integration/snapshot.sh)
# sn_request NAME REQUEST: one control request on a fresh connection; the reply in SN_REPLY.
sn_request() {
    SN_REPLY=$( (printf '%s\n' "$2"; sleep 20) | timeout 20 "$UNIXCAT" "$TMP/$1/control.sock" 2>&1 |
        grep -m1 -E '^(ok|err)')
}
# sn_type NAME TEXT: types on the console (a short-lived connection).
sn_type() { (printf '%b' "$2"; sleep 0.5) | timeout 5 "$UNIXCAT" "$TMP/$1/console.sock" >/dev/null 2>&1; }
# sn_last_ticks NAME: the tick count of the last "counter: ticks=N" line of the console log.
sn_last_ticks() { sed -n 's/^counter: ticks=\([0-9]*\) .*/\1/p' "$TMP/$1/console.log" 2>/dev/null | tail -1; }
sn_ticks_at_least() { local t; t=$(sn_last_ticks "$1"); [ -n "$t" ] && [ "$t" -ge "$2" ]; } # NAME N
