# Live migration between two xenods (docs/migration.md, "Between hosts"): two network
# namespaces (10.78.0.1 = host A, 10.78.0.2 = host B, a veth pair between them:
# tests/xenod_migrate_lib.sh), each with its own xenod and state directory. xenctl migrate
# moves the dirtier guest from A to B while it runs; it must finish with PASS on B, with its
# definition, sponsor and console history there and nothing left on A. A wrong key and an
# unreachable host leave the domain running on A with a clear error.

. tests/xenod_migrate_lib.sh

xm_idle_gone() { # every stranger's connection was closed by B
    local p
    for p in $XM_IDLE; do kill -0 "$p" 2>/dev/null && return 1; done
    return 0
}
# B's log grows by less than $1 bytes in $2 seconds.
xm_log_quiet() {
    local s0
    s0=$(stat -c %s "$XM/b.log")
    sleep "$2" # a duration: the window the log is measured over
    [ $(($(stat -c %s "$XM/b.log") - s0)) -lt "$1" ]
}

if kvm_case xenod-migrate; then
    if ! xm_hosts; then
        fail xmig-hosts "cannot make the namespaces: $(cat "$XM/netns.err")"
    elif ! xm_xenod a "$XM_A" 10.78.0.1 --migrate-key "$XM/key" ||
        ! xm_xenod b "$XM_B" 10.78.0.2 --migrate-listen 10.78.0.2:7430 --migrate-key "$XM/key"; then
        fail xmig-xenods "$(tail -3 "$XM"/*.log)"
    else
        # Persistent: it stays defined (stopped) on A, as libvirt's migrate without
        # --undefinesource, and is defined on B too, console log and all.
        # 32 MiB written once (cold) besides the 1 MiB it keeps rewriting: the first pass
        # takes a few seconds at 16 MB/s (progress to see), and all of it is checked at the end.
        sed -e "s|<kernel>.*</kernel>|<kernel>$(realpath "$GUEST/dirtier.elf")</kernel>|" \
            -e "s|<cmdline>.*</cmdline>|<cmdline>ws=256 cold=8192 secs=30</cmdline>|" examples/dirtier.xml >"$XM/dirtier.xml"
        xm_ctl a define "$XM/dirtier.xml" >/dev/null
        xm_ctl a start dirtier >/dev/null
        wait_until 200 eval 'xm_ctl a console dirtier --dump | grep -q "pass=[3-9]"'
        # Strangers first: six connect to B's listener and say nothing. Four hold the
        # handshake slots until its deadline (5 s), the other two are closed at once; then
        # the real migration goes through.
        XM_IDLE=
        for i in 1 2 3 4 5 6; do
            ip netns exec "$XM_A" timeout 30 bash -c 'exec 3<>/dev/tcp/10.78.0.2/7430 && cat <&3 >/dev/null' \
                2>/dev/null &
            XM_IDLE="$XM_IDLE $!"
        done
        sleep 2 # a duration: the capped ones are closed at once, the others held for 5 s
        n=0
        for p in $XM_IDLE; do kill -0 "$p" 2>/dev/null || n=$((n + 1)); done
        check xmig-strangers-capped '[ $n = 2 ] && has "$XM/b.log" "connections already in their handshake"' \
            "$n of 6 closed at once; $(tail -3 "$XM/b.log")"
        check xmig-strangers-cut 'wait_until 8 xm_idle_gone' "$(tail -3 "$XM/b.log")"
        out=$(xm_ctl a migrate dirtier 10.78.0.2:7430 --live --bandwidth 16 --max-downtime 300ms 2>&1)
        rc=$?
        printf '   %s\n' "$(tail -1 <<<"$out")"
        check xmig-live '[ $rc = 0 ] && grep -q "^Domain dirtier migrated to 10.78.0.2:7430: .*downtime_ms=" <<<"$out"' "exit $rc: $out"
        check xmig-progress-shown 'grep -q "^migrate: " <<<"$out"' "$out"
        check xmig-stopped-on-source '[ "$(xm_state a dirtier)" = shutdown ]' "$(xm_ctl a list)"
        check xmig-runs-on-dest 'xm_ctl b --json info dirtier | jqe ".sponsor == \"examples\" and (.state == \"running\" or .state == \"blocked\")" >/dev/null' "$(xm_ctl b list 2>&1)"
        check xmig-console-followed 'xm_ctl b console dirtier --dump | grep -q "dirtier: pass="' "$(xm_ctl b console dirtier --dump | head -3)"
        check xmig-events 'xm_ctl a --json events | jqe "[.events[] | select(.kind==\"migrated\")] | length == 1" >/dev/null && xm_ctl b --json events | jqe "[.events[] | select(.kind==\"migrated-in\")] | length == 1" >/dev/null'
        check xmig-pass-on-dest 'wait_until 600 eval "xm_ctl b console dirtier --dump | grep -q \"Test result: PASS\""' "$(xm_ctl b console dirtier --dump | tail -3)"

        wait_until 200 eval '[ "$(xm_state b dirtier)" = shutdown ]'
        xm_ctl b undefine dirtier >/dev/null 2>&1

        # Faults: the domain stays on A, running, and the error says why.
        xm_ctl a start dirtier >/dev/null
        wait_until 200 eval 'xm_ctl a console dirtier --dump | grep -q "pass=[1-9]"'
        # A destination that holds another key.
        xm_stop_last
        xm_xenod b "$XM_B" 10.78.0.2 --migrate-listen 10.78.0.2:7430 --migrate-key "$XM/wrong.key" ||
            fail xmig-dest-restarts "$(tail -3 "$XM/b.log")"
        out=$(xm_ctl a migrate dirtier 10.78.0.2:7430 --live 2>&1)
        rc=$?
        check xmig-wrong-key '[ $rc = 1 ] && grep -qi "key\|authent" <<<"$out" && [ "$(xm_state a dirtier)" != shutdown ] && ! xm_ctl b info dirtier >/dev/null 2>&1' "exit $rc: $out; A: $(xm_state a dirtier)"
        out=$(xm_ctl a migrate dirtier 10.78.0.9:7430 --live 2>&1)
        rc=$?
        check xmig-unreachable '[ $rc = 1 ] && grep -q "10.78.0.9" <<<"$out" && [ "$(xm_state a dirtier)" != shutdown ]' "exit $rc: $out"
        # Out of fds (B's limit lowered to what it has open): connections wait in the backlog
        # and accept fails for as long as they do. B backs off and logs a few lines, not
        # millions; with fds back it serves again.
        bpid=${XM_PIDS##* }
        nofile=$(prlimit --pid "$bpid" --nofile --noheadings --output SOFT | tr -d " ")
        prlimit --pid "$bpid" --nofile="$(ls /proc/"$bpid"/fd | wc -l):" &&
            XM_IDLE= && for i in 1 2 3 4 5 6; do
                ip netns exec "$XM_A" timeout 30 bash -c 'exec 3<>/dev/tcp/10.78.0.2/7430 && sleep 20' 2>/dev/null &
                XM_IDLE="$XM_IDLE $!"
            done
        check xmig-emfile-log-small 'wait_until 5 has "$XM/b.log" "Too many open files" && xm_log_quiet 1500 3' \
            "$(ls -l "$XM/b.log"; tail -3 "$XM/b.log")"
        prlimit --pid "$bpid" --nofile="$nofile:"
        for p in $XM_IDLE; do kill "$p" 2>/dev/null; done
        check xmig-emfile-recovers 'wait_until 10 curl -sf --unix-socket "$XM/b.sock" http://x/v1/host -o /dev/null'
        check xmig-failed-event 'xm_ctl a --json events dirtier | jqe "[.events[] | select(.kind==\"migrate-failed\")] | length == 2" >/dev/null'
        xm_ctl a destroy dirtier >/dev/null 2>&1
        xm_ctl a undefine dirtier >/dev/null 2>&1
    fi
    xm_cleanup
fi
