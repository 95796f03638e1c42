# Idle domains cost nothing (issue 18): a monitor whose vCPUs are halted stops its 100 ms
# stats refresh and makes no system call at all, yet a reader of its stats page still gets
# fresh figures (the read itself asks for them: docs/control-channel.md, "Stats page"); the
# tickless `demo` shell idles like `echo`. Checked with strace -c (every thread) and the
# monitor's CPU time in /proc/PID/stat.

stat_of() { "$STATSDUMP" "$TMP/$1/stats" 2>/dev/null | sed -n "s/^$2=//p"; } # NAME FIELD
stat_is() { [ "$(stat_of "$1" "$2")" = "$3" ]; }
# syscalls_in PID SECONDS: the number of system calls all of PID's threads made meanwhile
# (strace -c prints a table with a total line only when there were some).
syscalls_in() {
    timeout -s INT "$2" strace -c -f -p "$1" 2>&1 | awk '$NF == "total" { n = $(NF - 2) } END { print n + 0 }'
}
# cpu_ticks PID: user + system clock ticks of the whole process (every thread).
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }
now_ns() { date +%s%N; }

if ! kvm_case vmm-idle; then
    :
elif ! command -v strace >/dev/null; then
    fail vmm-idle "strace is not installed (scripts/install-deps.sh installs it)"
else
    # The method can fail: a monitor whose guest prints ten times a second keeps ticking.
    vmm_start idle-busy --kernel "$GUEST/counter.elf" --memory 32M
    busy_calls=$(syscalls_in "$VMM_PID" 2)
    check idle-strace-sees-a-busy-monitor '[ "$busy_calls" -gt 10 ]' "counter guest: $busy_calls system calls in 2 s"
    kill "$VMM_PID"
    vmm_wait

    vmm_start idle-echo --kernel "$GUEST/echo.elf" --memory 32M
    check idle-echo-goes-to-sleep 'wait_until 10 stat_is idle-echo refresh_on_read 1' \
        "$("$STATSDUMP" "$TMP/idle-echo/stats" 2>&1 | tr '\n' ' ')"
    calls=$(syscalls_in "$VMM_PID" 5)
    check idle-echo-no-syscalls-5s '[ "$calls" = 0 ]' "$calls system calls in 5 s"
    # A read after the sleep is answered with a page refreshed after it was asked for.
    before=$(stat_of idle-echo refreshes_on_read)
    t0=$(now_ns)
    "$STATSDUMP" "$TMP/idle-echo/stats" >"$TMP/idle-echo.page"
    upd=$(sed -n 's/^updated_ns=//p' "$TMP/idle-echo.page")
    after=$(sed -n 's/^refreshes_on_read=//p' "$TMP/idle-echo.page")
    check idle-echo-read-is-fresh '[ "$upd" -ge "$t0" ] && [ "$after" -gt "$before" ] && has "$TMP/idle-echo.page" "^state=blocked"' \
        "asked at $t0, page of $upd, refreshes $before -> $after"
    # Console input wakes the monitor; the counters show it; then it sleeps again.
    sn_type idle-echo 'wake up\n'
    check idle-echo-wakes-on-input 'wait_until 10 has "$TMP/idle-echo/console.log" "wake up" && [ "$(stat_of idle-echo console_in_bytes)" -ge 8 ]' \
        "$(log_tail "$TMP/idle-echo/console.log")"
    check idle-echo-sleeps-again 'wait_until 10 stat_is idle-echo refresh_on_read 1'
    kill "$VMM_PID"
    vmm_wait

    # demo: a shell on its console, tickless: its monitor's CPU time over 5 s idle stays
    # under 1% of one core (5 clock ticks of 10 ms; 0 in practice).
    vmm_start idle-demo --kernel "$GUEST/demo.elf" --memory 32M
    wait_until 10 has "$TMP/idle-demo/console.log" 'xeno>' && wait_until 10 stat_is idle-demo refresh_on_read 1
    c0=$(cpu_ticks "$VMM_PID")
    sleep 5
    c1=$(cpu_ticks "$VMM_PID")
    check idle-demo-cpu-under-1pct '[ $((c1 - c0)) -le 5 ]' "$((c1 - c0)) clock ticks of CPU in 5 s"
    sn_type idle-demo 'ticks\n'
    check idle-demo-ticks-without-timer 'wait_until 10 has "$TMP/idle-demo/console.log" "[0-9]* ticks ([0-9.]* s at 100 Hz)"' \
        "$(log_tail "$TMP/idle-demo/console.log")"
    kill "$VMM_PID"
    vmm_wait
fi
