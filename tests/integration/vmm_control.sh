# xeno-vmm under xenod (--run-dir): the console socket and log, the control channel, the
# stats page, lifecycle actions and power requests (docs/control-channel.md). Sockets are
# driven by tests/tools/unixcat, the stats page is read by tests/tools/statsdump.

count_of() { grep -c -- "$2" "$1" 2>/dev/null || true; }        # FILE PATTERN
at_least() { [ "$(count_of "$1" "$2")" -ge "$3" ]; }            # FILE PATTERN N
alive() { kill -0 "$1" 2>/dev/null; }
stat_of() { "$STATSDUMP" "$TMP/$1/stats" 2>/dev/null | sed -n "s/^$2=//p"; } # NAME FIELD
stat_is() { [ "$(stat_of "$1" "$2")" = "$3" ]; }

# A control connection kept open: requests with ctl, replies and events in $TMP/NAME.ctl.
ctl_open() { # NAME
    CTL_NAME=$1
    local fifo="$TMP/$1.ctl.in"
    rm -f "$fifo"
    mkfifo "$fifo"
    "$UNIXCAT" "$TMP/$1/control.sock" <"$fifo" >"$TMP/$1.ctl" 2>&1 &
    CTL_JOB=$!
    exec 8>"$fifo"
}
ctl_close() {
    exec 8>&-
    wait_until 10 gone "$CTL_JOB" || kill "$CTL_JOB" 2>/dev/null
    wait "$CTL_JOB" 2>/dev/null
}
replies() { grep -cE '^(ok|err)' "$TMP/$CTL_NAME.ctl" 2>/dev/null || true; }
more_replies() { [ "$(replies)" -gt "$1" ]; }
# ctl REQUEST: sends it and waits for its reply, left in REPLY.
ctl() {
    local before
    before=$(replies)
    (printf '%s\n' "$1" >&8) 2>/dev/null # a subshell: a closed connection must not SIGPIPE us
    if ! wait_until 10 more_replies "$before"; then
        REPLY="(no reply to $1)"
        return 1
    fi
    REPLY=$(grep -E '^(ok|err)' "$TMP/$CTL_NAME.ctl" | sed -n "$((before + 1))p")
}
# expect_reply NAME REQUEST PATTERN: one check.
expect_reply() {
    if ctl "$2" && grep -Eq -- "$3" <<<"$REPLY"; then
        pass "$1"
    else
        fail "$1" "'$2' got '$REPLY', expected /$3/"
    fi
}

# Console clients: con_open NAME TAG attaches one, its output in $TMP/NAME.con.TAG; type
# on it with con_type TAG TEXT.
declare -A CON_FD CON_JOB
con_open() {
    local fifo="$TMP/$1.con.$2.in" fd
    rm -f "$fifo"
    mkfifo "$fifo"
    "$UNIXCAT" "$TMP/$1/console.sock" <"$fifo" >"$TMP/$1.con.$2" 2>&1 &
    CON_JOB[$2]=$!
    exec {fd}>"$fifo"
    CON_FD[$2]=$fd
}
con_type() { (printf '%b' "$2" >&"${CON_FD[$1]}") 2>/dev/null; }
con_close() {
    local fd=${CON_FD[$1]}
    exec {fd}>&-
    kill "${CON_JOB[$1]}" 2>/dev/null
    wait "${CON_JOB[$1]}" 2>/dev/null
}

# A failed check shows the log of the current case's monitor.
check_context() { printf '; monitor log: %s' "$(log_tail "$TMP/${VMM_NAME:-x}.vmm.log")"; }

# Leaves nothing running: the monitor and clients of the current case.
cleanup_case() {
    [ -n "${VMM_PID:-}" ] && kill -KILL "$VMM_PID" 2>/dev/null
    [ -n "${CTL_JOB:-}" ] && kill "$CTL_JOB" 2>/dev/null
    for t in "${!CON_JOB[@]}"; do kill "${CON_JOB[$t]}" 2>/dev/null; done
    exec 8>&- 2>/dev/null
    for t in "${!CON_FD[@]}"; do
        local fd=${CON_FD[$t]}
        exec {fd}>&- 2>/dev/null
    done
    CON_FD=() CON_JOB=() CTL_JOB= VMM_PID=
    wait 2>/dev/null
}

ticks_of() { # NAME TAG: the last "N ticks" the demo printed on that client
    grep -a -o '[0-9]* ticks (' "$TMP/$1.con.$2" | tail -1 | cut -d' ' -f1
}

# ---- the demo shell under a monitor: console, stats, pause, reboot, reset, shutdown ------

if [ ! -x "$UNIXCAT" ] || [ ! -x "$STATSDUMP" ]; then
    fail vmm-control "test tools missing: build them with 'make unit-tests'"
elif kvm_case vmm-daemon-ready; then
    VMM_NAME=demo
    D=$TMP/demo
    # timer=periodic: these checks watch the guest's timer interrupts (CPU time while
    # blocked, no ticks while paused); the default tickless demo has none.
    if ! vmm_start demo --kernel "$GUEST/demo.elf" --cmdline "timer=periodic" --on-reboot restart --console-log-size 1K; then
        fail vmm-daemon-ready "no pid file; log: $(tail -c 400 "$TMP/demo.vmm.log" | tr '\n' '|')"
    else
        ok=1
        [ "$VMM_PID" = "$(stat_of demo pid)" ] || ok=0
        [ "$(stat -c %a "$D")" = 700 ] || ok=0
        for f in control.sock console.sock stats pid console.log; do
            [ -e "$D/$f" ] || ok=0
        done
        [ "$(stat -c %a "$D/control.sock")" = 600 ] && [ "$(stat -c %a "$D/console.sock")" = 600 ] || ok=0
        [ -e "$D/outcome" ] && ok=0
        [ $ok = 1 ] && pass vmm-daemon-ready || fail vmm-daemon-ready "run directory: $(ls -la "$D" | tr '\n' '|')"

        # The banner is in the log before anyone attaches; a client gets it as scrollback.
        wait_until 30 has "$D/console.log" 'xeno>'
        con_open demo one
        check vmm-console-scrollback 'wait_until 10 has "$TMP/demo.con.one" "XenoServer demo shell"'

        con_type one 'echo hi\r'
        check vmm-console-input 'wait_until 10 at_least "$TMP/demo.con.one" "^hi" 1'

        con_open demo two
        wait_until 10 has "$TMP/demo.con.two" 'echo hi'
        con_type two 'echo from-two\r'
        check vmm-console-two-clients \
            'wait_until 10 eval "at_least $TMP/demo.con.one ^from-two 1 && at_least $TMP/demo.con.two ^from-two 1"'
        con_close two

        # Idle, the demo is blocked; its CPU time still grows (timer ticks), its counters count.
        check vmm-stats-blocked 'wait_until 10 stat_is demo state blocked'
        c1=$(stat_of demo cpu_ns)
        sleep 0.5 # a duration: CPU time must grow in it
        c2=$(stat_of demo cpu_ns)
        if [ "${c2:-0}" -gt "${c1:-0}" ] && [ "$(stat_of demo boots)" = 1 ] && [ "$(stat_of demo nvcpus)" = 1 ] &&
            [ "$(stat_of demo memory_bytes)" = $((64 << 20)) ] && [ "$(stat_of demo console_in_bytes)" -gt 10 ] &&
            [ "$(stat_of demo console_out_bytes)" -gt 100 ] && [ "$(stat_of demo exits_io)" -gt 100 ]; then
            pass vmm-stats-counters
        else
            fail vmm-stats-counters "$("$STATSDUMP" "$D/stats" | tr '\n' ' ')"
        fi

        ctl_open demo
        expect_reply vmm-control-status status '^ok state=(blocked|running) boots=1$'

        # A busy guest is running, and says so as an event.
        con_type one 'spin 1\r'
        check vmm-stats-running 'wait_until 10 stat_is demo state running'
        check vmm-event-state 'wait_until 10 has "$TMP/demo.ctl" "^event state running"'
        wait_until 30 has "$TMP/demo.con.one" 'million iterations'

        # Paused: no CPU time, no timer ticks, input waits.
        con_type one 'ticks\r'
        wait_until 10 at_least "$TMP/demo.con.one" ' ticks (' 1
        t1=$(ticks_of demo one)
        expect_reply vmm-pause pause '^ok$'
        check vmm-pause-event 'has "$TMP/demo.ctl" "^event state paused"'
        expect_reply vmm-pause-status status '^ok state=paused boots=1$'
        check vmm-pause-stats 'stat_is demo state paused'
        c1=$(stat_of demo cpu_ns)
        con_type one 'ticks\r'
        sleep 3 # a duration: paused for 3 s (no CPU time, no ticks, input waits)
        c2=$(stat_of demo cpu_ns)
        # (a parked vCPU may finish parking after it said so: allow it a millisecond)
        check vmm-pause-no-cpu '[ $((c2 - c1)) -lt 1000000 ]'
        check vmm-pause-input-waits '[ "$(count_of "$TMP/demo.con.one" " ticks (")" = 1 ]'
        expect_reply vmm-unpause unpause '^ok$'
        wait_until 10 at_least "$TMP/demo.con.one" ' ticks (' 2
        t2=$(ticks_of demo one)
        # 3 s paused: a timer that kept ticking would have added 300 at 100 Hz.
        if [ -n "$t1" ] && [ -n "$t2" ] && [ $((t2 - t1)) -lt 300 ]; then
            pass vmm-pause-stops-ticks
        else
            fail vmm-pause-stops-ticks "ticks went from '$t1' to '$t2' across 3 s of pause"
        fi
        expect_reply vmm-pause-twice pause '^ok$'
        expect_reply vmm-unpause-twice unpause '^ok$'
        expect_reply vmm-unpause-idempotent unpause '^ok$'

        # A reboot request: the guest reboots itself, on_reboot=restart boots it again in
        # this process; the console client stays attached and sees the second boot.
        expect_reply vmm-reboot-request reboot '^ok$'
        check vmm-reboot-event-stopped 'wait_until 20 has "$TMP/demo.ctl" "^event stopped reboot "'
        check vmm-reboot-event-restarted 'wait_until 20 has "$TMP/demo.ctl" "^event restarted 2$"'
        check vmm-reboot-console-stays 'wait_until 20 at_least "$TMP/demo.con.one" "XenoServer demo shell" 2'
        check vmm-reboot-log 'has "$TMP/demo.con.one" "Reboot requested by the host"'
        expect_reply vmm-reboot-status status 'boots=2$'
        check vmm-reboot-stats 'stat_is demo boots 2'

        # A hard reset: same lifecycle as a guest reset.
        expect_reply vmm-reset reset '^ok$'
        check vmm-reset-event 'wait_until 20 has "$TMP/demo.ctl" "^event stopped reboot reset over the control channel"'
        check vmm-reset-restarted 'wait_until 20 has "$TMP/demo.ctl" "^event restarted 3$"'
        check vmm-reset-console 'wait_until 20 at_least "$TMP/demo.con.one" "XenoServer demo shell" 3'

        # console.log rotates at 1 KiB: the old part moves to console.log.1.
        con_type one 'help\rhelp\rhelp\r'
        wait_until 20 at_least "$TMP/demo.con.one" 'power the machine off' 3
        if [ -f "$D/console.log.1" ] && [ "$(stat -c %s "$D/console.log.1")" = 1024 ] &&
            [ "$(stat -c %s "$D/console.log")" -le 1024 ] &&
            [ "$(cat "$D/console.log.1" "$D/console.log" | grep -c 'reboot      reset the machine')" -ge 1 ]; then
            pass vmm-console-log-rotation
        else
            fail vmm-console-log-rotation "$(ls -l "$D" | tr '\n' '|')"
        fi

        # A second control connection replaces the first, which is closed.
        old_ctl=$CTL_JOB
        exec 9>&8
        ctl_open demo
        check vmm-control-replaced 'wait_until 10 gone "$old_ctl"'
        exec 9>&-
        wait "$old_ctl" 2>/dev/null
        expect_reply vmm-control-reconnect status '^ok state=(running|blocked) boots=3$'

        # An over-long request line: an error, and the connection closes.
        head -c 5000 /dev/zero | tr '\0' a | "$UNIXCAT" -t 10 "$D/control.sock" >"$TMP/demo.long" 2>&1
        RC=$?
        if [ $RC = 0 ] && grep -q '^err request line too long' "$TMP/demo.long"; then
            pass vmm-control-long-line
        else
            fail vmm-control-long-line "unixcat status $RC, got: $(head -c 200 "$TMP/demo.long")"
        fi
        ctl_open demo
        expect_reply vmm-control-bad-request 'frobnicate' "^err unknown request 'frobnicate'"

        # A shutdown request: the demo obeys and powers off; the monitor exits 0 and says so.
        expect_reply vmm-shutdown shutdown '^ok$'
        check vmm-shutdown-event 'wait_until 20 has "$TMP/demo.ctl" "^event stopped poweroff "'
        vmm_wait
        check vmm-shutdown-exit '[ "$RC" = 0 ]'
        check vmm-shutdown-outcome 'grep -q "^poweroff guest powered off" "$D/outcome"'
        check vmm-shutdown-cleanup '[ ! -e "$D/pid" ] && [ ! -e "$D/control.sock" ] && [ ! -e "$D/console.sock" ]'
        check vmm-shutdown-console 'has "$TMP/demo.con.one" "Power-off requested by the host"'
        check vmm-shutdown-clients-closed 'wait_until 10 gone "${CON_JOB[one]}"'
        check vmm-shutdown-stats 'stat_is demo state shutdown'
    fi
    cleanup_case
fi

# ---- a guest that refuses to power off; destroy ends it ----------------------------------

if [ -x "$UNIXCAT" ] && kvm_case vmm-stubborn; then
    VMM_NAME=stubborn
    if vmm_start stubborn --kernel "$GUEST/stubborn.elf"; then
        wait_until 30 has "$TMP/stubborn/console.log" 'stubborn:'
        ctl_open stubborn
        expect_reply vmm-stubborn-shutdown shutdown '^ok$'
        check vmm-stubborn-refuses 'wait_until 10 has "$TMP/stubborn/console.log" "refused the power-off request"'
        sleep 1 # a duration: still running a second after refusing
        check vmm-stubborn-still-running 'alive "$VMM_PID"'
        expect_reply vmm-stubborn-status status '^ok state=(running|blocked) boots=1$'
        expect_reply vmm-destroy destroy '^ok$'
        vmm_wait
        check vmm-destroy-exit '[ "$RC" = 0 ]'
        check vmm-destroy-outcome 'grep -q "^destroyed " "$TMP/stubborn/outcome"'
        check vmm-destroy-closes 'wait_until 10 gone "$CTL_JOB"'
    else
        fail vmm-stubborn "no pid file; log: $(tail -c 400 "$TMP/stubborn.vmm.log" | tr '\n' '|')"
    fi
    cleanup_case
fi

# ---- the echo kernel obeys a shutdown request through the runtime's default handler -----

if [ -x "$UNIXCAT" ] && kvm_case vmm-echo-obeys; then
    VMM_NAME=echo
    if vmm_start echo --kernel "$GUEST/echo.elf"; then
        wait_until 30 has "$TMP/echo/console.log" 'echo: type lines'
        ctl_open echo
        expect_reply vmm-echo-shutdown shutdown '^ok$'
        vmm_wait
        check vmm-echo-obeys '[ "$RC" = 0 ] && grep -q "^poweroff " "$TMP/echo/outcome" &&
            grep -q "Power-off requested by the host" "$TMP/echo/console.log"'
    else
        fail vmm-echo-obeys "no pid file; log: $(tail -c 400 "$TMP/echo.vmm.log" | tr '\n' '|')"
    fi
    cleanup_case
fi

# ---- on_crash=preserve: the crashed domain stays until destroyed -------------------------

if [ -x "$UNIXCAT" ] && kvm_case vmm-crash-preserve; then
    VMM_NAME=crash
    if vmm_start crash --kernel "$GUEST/triplefault.elf" --on-crash preserve; then
        ctl_open crash
        check vmm-crash-preserve 'wait_until 20 eval "ctl status && [ \"\$REPLY\" = \"ok state=crashed boots=1\" ]"'
        sleep 0.5 # a duration: the crashed domain stays
        check vmm-crash-preserve-alive 'alive "$VMM_PID"'
        check vmm-crash-preserve-stats 'stat_is crash state crashed'
        check vmm-crash-preserve-log 'has "$TMP/crash.vmm.log" "triple fault"'
        expect_reply vmm-crash-preserve-no-pause pause '^err the domain is not running \(state crashed\)'
        expect_reply vmm-crash-preserve-destroy destroy '^ok$'
        vmm_wait
        check vmm-crash-preserve-exit '[ "$RC" = 0 ]'
        check vmm-crash-preserve-outcome \
            'grep -q "^destroyed .*preserved after crash vCPU 0: triple fault" "$TMP/crash/outcome"'
    else
        fail vmm-crash-preserve "no pid file; log: $(tail -c 400 "$TMP/crash.vmm.log" | tr '\n' '|')"
    fi
    cleanup_case
fi

# ---- on_crash=restart: a fresh VM each time, until destroyed -----------------------------

if [ -x "$UNIXCAT" ] && kvm_case vmm-crash-restart; then
    VMM_NAME=crashloop
    if vmm_start crashloop --kernel "$GUEST/triplefault.elf" --on-crash restart; then
        check vmm-crash-restart 'wait_until 30 eval "[ \"\$(stat_of crashloop boots)\" -ge 3 ]"'
        ctl_open crashloop
        expect_reply vmm-crash-restart-destroy destroy '^ok$'
        vmm_wait
        check vmm-crash-restart-exit '[ "$RC" = 0 ]'
        check vmm-crash-restart-outcome 'grep -q "^destroyed " "$TMP/crashloop/outcome"'
    else
        fail vmm-crash-restart "no pid file; log: $(tail -c 400 "$TMP/crashloop.vmm.log" | tr '\n' '|')"
    fi
    cleanup_case
fi

# ---- --paused, then on_poweroff=preserve, SIGTERM ----------------------------------------

if [ -x "$UNIXCAT" ] && kvm_case vmm-start-paused; then
    VMM_NAME=paused
    if vmm_start paused --kernel "$GUEST/demo.elf" --paused --on-poweroff preserve; then
        ctl_open paused
        expect_reply vmm-start-paused status '^ok state=paused boots=1$'
        sleep 0.5 # durations: paused from the start, it uses no CPU time and prints nothing
        c1=$(stat_of paused cpu_ns)
        sleep 0.5
        check vmm-start-paused-silent '[ ! -s "$TMP/paused/console.log" ]'
        check vmm-start-paused-no-cpu '[ $(($(stat_of paused cpu_ns) - c1)) -lt 1000000 ]'
        expect_reply vmm-start-paused-unpause unpause '^ok$'
        check vmm-start-paused-boots 'wait_until 30 has "$TMP/paused/console.log" "xeno>"'
        con_open paused one
        con_type one 'poweroff\r'
        check vmm-poweroff-preserve 'wait_until 20 has "$TMP/paused.ctl" "^event state shutdown"'
        expect_reply vmm-poweroff-preserve-status status '^ok state=shutdown boots=1$'
        check vmm-poweroff-preserve-alive 'alive "$VMM_PID"'
        kill -TERM "$VMM_PID"
        vmm_wait
        check vmm-sigterm-exit '[ "$RC" = 143 ]'
        check vmm-sigterm-outcome 'grep -q "^signal stopped by signal" "$TMP/paused/outcome"'
    else
        fail vmm-start-paused "no pid file; log: $(tail -c 400 "$TMP/paused.vmm.log" | tr '\n' '|')"
    fi
    cleanup_case
fi

# ---- SIGKILL leaves no outcome; the next monitor takes over the directory ----------------

if [ -x "$UNIXCAT" ] && kvm_case vmm-sigkill; then
    VMM_NAME=killed
    if vmm_start killed --kernel "$GUEST/demo.elf"; then
        # A second monitor cannot share the directory.
        timeout 30 "$VMM" --run-dir "$TMP/killed" --kernel "$GUEST/demo.elf" </dev/null >"$TMP/killed.second" 2>&1
        RC=$?
        check vmm-run-dir-locked '[ $RC = 1 ] && grep -q "in use by another monitor" "$TMP/killed.second"'
        kill -KILL "$VMM_PID"
        vmm_wait
        check vmm-sigkill '[ "$RC" = 137 ] && [ ! -e "$TMP/killed/outcome" ] && [ -e "$TMP/killed/pid" ]'
        # The stale pid file and sockets do not stop a new monitor in the same directory.
        timeout -k 5 60 "$VMM" --run-dir "$TMP/killed" --kernel "$GUEST/demo.elf" </dev/null \
            >"$TMP/killed.vmm.log" 2>&1 &
        VMM_JOB=$!
        wait_until 30 eval '[ -s "$TMP/killed/pid" ] && [ "$(cat "$TMP/killed/pid")" != "$VMM_PID" ]'
        VMM_PID=$(cat "$TMP/killed/pid")
        ctl_open killed
        expect_reply vmm-sigkill-takeover status '^ok state=(running|blocked) boots=1$'
        expect_reply vmm-sigkill-takeover-destroy destroy '^ok$'
        vmm_wait
        check vmm-sigkill-takeover-exit '[ "$RC" = 0 ]'
    else
        fail vmm-sigkill "no pid file; log: $(tail -c 400 "$TMP/killed.vmm.log" | tr '\n' '|')"
    fi
    cleanup_case
fi
