# The monitor's sandbox, for a monitor as xenod starts it (docs/security.md, "Monitor sandbox"):
#   sandbox-seccomp-filter      /proc/PID/status: Seccomp 2 (filter mode), NoNewPrivs 1
#   sandbox-cached-filters      the monitor was started with --cache-dir STATE/cache and its seccomp
#                               programs are there (so the checks below test the cached filters)
#   sandbox-capabilities        no capability in the bounding, inheritable or ambient sets; at
#                               most CAP_SYS_NICE effective/permitted (kept only where the host
#                               withholds CAP_SYS_RESOURCE, which the real-time limits need)
#   sandbox-limits              RLIMIT_CORE 0, RLIMIT_NOFILE 4096 (/proc/PID/limits)
#   sandbox-thread-filters      the main thread has one filter, every other thread (vCPU, vCPU
#                               scheduler, virtio) two: its kind's stacked on the base
#   sandbox-save-outside-refused  `xenctl save` outside --save-dir is refused by xenod, and
#                               the monitor's own `save` outside its directories by the monitor
#   sandbox-monitor-save-*      the same at the monitor itself (its control socket)
#   sandbox-save-inside         a save into --save-dir works (and a restore from it)
#   sandbox-vcpu-unix-socket-killed  socket(AF_UNIX) made by a vCPU thread (allowed to the main
#                               thread, not to vCPUs) kills the monitor with SIGSYS; xenod says so
#   sandbox-main-packet-socket-killed  socket(AF_PACKET) made by the main thread: the same
# The forbidden calls are made by the real threads: tests/tools/syscall_inject stops one with
# ptrace and has it run the call. Every process started here is ended here.

VS=$TMP/vs
VS_XENOD=$BUILD_DIR/bin/xenod
VS_CTL=$BUILD_DIR/bin/xenctl
INJECT=$BUILD_DIR/tests/tools/syscall_inject
vs() { XENOD_SOCKET=$VS/x.sock timeout -k 5 60 "$VS_CTL" "$@"; }
vs_pid() { vs --json info "$1" 2>/dev/null | jq -r ".pid // empty" | grep -v "^0$"; } # DOMAIN
vs_status() { sed -n "s/^$2:[[:space:]]*//p" "/proc/$1/status"; }                     # PID FIELD
vs_tid() { grep -lx "$2" /proc/"$1"/task/*/comm 2>/dev/null | head -1 | cut -d/ -f5; }  # PID COMM
vs_forgotten() { ! vs info "$1" >/dev/null 2>&1; } # a transient domain, once stopped
# vs_died_of_sigsys DOMAIN: xenod's event for it says its monitor was killed by signal 31.
vs_died_of_sigsys() {
    vs --json events --limit 1000 |
        jqe "[.events[] | select(.domain==\"$1\" and .kind==\"monitor-died\" and (.detail // .message // \"\" | tostring | test(\"signal 31\")))] | length >= 1" >/dev/null
}
check_context() { printf '; xenod: %s' "$(tail -c 600 "$VS/xenod.log" 2>/dev/null | tr '\n' '|')"; }

if kvm_case sandbox; then
    rm -rf "$VS"
    mkdir -p "$VS/saves" "$VS/elsewhere"
    "$VS_XENOD" --state-dir "$VS/state" --save-dir "$VS/saves" --socket "$VS/x.sock" >"$VS/xenod.log" 2>&1 &
    VS_XPID=$!
    if ! wait_until 30 curl -sf --unix-socket "$VS/x.sock" http://x/v1/host -o /dev/null; then
        fail sandbox-xenod "xenod did not start: $(tail -3 "$VS/xenod.log")"
    else
        vs create examples/counter.xml >/dev/null
        wait_until 30 test -n "$(vs_pid counter)"
        P=$(vs_pid counter)
        wait_until 30 test -n "$(vs_tid "$P" vcpu0)"
        check sandbox-seccomp-filter '[ "$(vs_status "$P" Seccomp)" = 2 ] && [ "$(vs_status "$P" NoNewPrivs)" = 1 ]' \
            "pid '$P': $(grep -E 'Seccomp|NoNewPrivs' /proc/"$P"/status 2>&1 | tr '\n' ' ')"
        # xenod's monitors take their seccomp programs from STATE/cache (xeno-vmm --fill-cache at
        # xenod's start, docs/security.md): every check below is of cached filters.
        check sandbox-cached-filters 'tr "\0" " " </proc/"$P"/cmdline | grep -q -- "--cache-dir $VS/state/cache " &&
            ls "$VS"/state/cache/seccomp-* >/dev/null 2>&1' "$(tr '\0' ' ' </proc/"$P"/cmdline); $(ls "$VS/state/cache" 2>&1)"
        check sandbox-capabilities '[ "$(vs_status "$P" CapBnd)" = 0000000000000000 ] &&
            [ "$(vs_status "$P" CapInh)" = 0000000000000000 ] && [ "$(vs_status "$P" CapAmb)" = 0000000000000000 ] &&
            [ $((0x$(vs_status "$P" CapEff) & ~(1 << 23))) = 0 ] && [ $((0x$(vs_status "$P" CapPrm) & ~(1 << 23))) = 0 ]' \
            "$(grep Cap /proc/"$P"/status | tr '\n' ' ')"
        check sandbox-limits 'grep -Eq "^Max core file size +0 +0 " /proc/"$P"/limits &&
            grep -Eq "^Max open files +4096 +4096 " /proc/"$P"/limits' "$(grep -E 'core|open files' /proc/"$P"/limits)"
        filters() { for t in /proc/"$P"/task/*; do printf '%s=%s ' "$(cat "$t/comm")" "$(vs_status "$P/task/${t##*/}" Seccomp_filters)"; done; }
        main_f=$(vs_status "$P/task/$P" Seccomp_filters)
        vcpu_f=$(vs_status "$P/task/$(vs_tid "$P" vcpu0)" Seccomp_filters)
        sched_f=$(vs_status "$P/task/$(vs_tid "$P" xeno-sched)" Seccomp_filters)
        check sandbox-thread-filters '[ "$main_f" = 1 ] && [ "$vcpu_f" = 2 ] && [ "$sched_f" = 2 ]' "$(filters)"

        out=$(vs save counter "$VS/elsewhere/counter.snap" --keep-running 2>&1)
        check sandbox-save-outside-refused '! [ -e "$VS/elsewhere/counter.snap" ] && grep -q "outside the save directory" <<<"$out"' "$out"
        out=$(vs save counter "$VS/saves/c.snap" 2>&1)
        check sandbox-save-inside '[ -s "$VS/saves/c.snap" ] && wait_until 30 vs_forgotten counter' "$out"
        vs restore "$VS/saves/c.snap" >/dev/null 2>&1
        wait_until 30 test -n "$(vs_pid counter)"
        P=$(vs_pid counter)
        wait_until 30 test -n "$(vs_tid "$P" vcpu0)"
        T=$(vs_tid "$P" vcpu0)
        # socket(AF_UNIX, SOCK_STREAM, 0): x86-64 number 41.
        inj=$("$INJECT" "$T" 41 1 1 0 2>&1)
        check sandbox-vcpu-unix-socket-killed 'wait_until 30 gone "$P" && wait_until 30 vs_died_of_sigsys counter' \
            "inject: $inj; $(vs --json events --limit 1000 | jq -c '[.events[] | select(.domain=="counter")][-2:]')"

        vs create examples/counter.xml >/dev/null 2>&1
        wait_until 30 test -n "$(vs_pid counter)"
        P=$(vs_pid counter)
        wait_until 30 test -n "$(vs_tid "$P" vcpu0)"
        # socket(AF_PACKET, SOCK_RAW, 0) by the main thread (its filter has unix and inet only).
        inj=$("$INJECT" "$P" 41 17 3 0 2>&1)
        check sandbox-main-packet-socket-killed 'wait_until 30 gone "$P" && wait_until 30 vs_died_of_sigsys counter' \
            "inject: $inj"
    fi
    kill -TERM "$VS_XPID" 2>/dev/null
    # The monitor's own check, behind xenod's: a monitor of our own (xenod's holds its one
    # control connection), saves refused outside its --save-dir and its run directory's parent.
    if vmm_start vsown --kernel "$GUEST/counter.elf" --memory 64M --save-dir "$VS/saves"; then
        sn_request vsown "save $VS/elsewhere/counter.snap keep-running"
        check sandbox-monitor-save-outside-refused '! [ -e "$VS/elsewhere/counter.snap" ] && grep -q "^err .*sandbox" <<<"$SN_REPLY"' "$SN_REPLY"
        sn_request vsown "save $VS/saves/own.snap"
        check sandbox-monitor-save-inside '[ -s "$VS/saves/own.snap" ]' "$SN_REPLY"
        vmm_wait
    else
        fail sandbox-monitor-start "$(tail -3 "$TMP/vsown.vmm.log")"
    fi
    wait_until 30 gone "$VS_XPID" || kill -KILL "$VS_XPID" 2>/dev/null
    wait "$VS_XPID" 2>/dev/null
fi
