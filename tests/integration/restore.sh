# Suspend and resume through xenod (xenctl save / xenctl restore, docs/snapshot-format.md).
# The counter guest saved on one xenod is resumed by the same xenod, then saved again and
# resumed by a second xenod with its own state directory and socket, standing in for another
# host: it must go on counting from where it was with its checksum intact. Bad snapshot files
# are refused with a message naming the file, and nothing is defined.

RS=$TMP/rs
XENOD=$BUILD_DIR/bin/xenod
XENCTL=$BUILD_DIR/bin/xenctl
RS_PIDS=

rs_xenod() { # NAME: a xenod with its state in $RS/NAME and its socket at $RS/NAME.sock
    "$XENOD" --state-dir "$RS/$1" --save-dir "$RS" --socket "$RS/$1.sock" >>"$RS/$1.log" 2>&1 &
    RS_PIDS="$RS_PIDS $!"
    wait_until 100 curl -sf --unix-socket "$RS/$1.sock" http://x/v1/host -o /dev/null
}
rx() { # HOST ARGS...: xenctl against that host's xenod
    local host=$1
    shift
    XENOD_SOCKET=$RS/$host.sock timeout -k 5 60 "$XENCTL" "$@"
}
# rs_ticks HOST DOMAIN: the last tick count in the domain's console log.
rs_ticks() { rx "$1" console "$2" --dump 2>/dev/null | sed -n 's/^counter: ticks=\([0-9]*\) .*/\1/p' | tail -1; }
rs_ticks_at_least() { local t; t=$(rs_ticks "$1" "$2"); [ -n "$t" ] && [ "$t" -ge "$3" ]; } # HOST DOMAIN N

if kvm_case restore; then
    rm -rf "$RS"
    mkdir -p "$RS"
    if ! rs_xenod a || ! rs_xenod b; then
        fail restore-xenods-start "$(tail -3 "$RS"/*.log)"
    else
        rx a create examples/counter.xml >/dev/null
        check restore-counter-runs 'wait_until 200 rs_ticks_at_least a counter 20' "$(rx a console counter --dump | tail -2)"
        uuid=$(rx a --json info counter | jq -r .uuid)
        out=$(rx a save counter "$RS/c1.snap" --shrink 2>&1)
        saved=$(rs_ticks a counter)
        check restore-save-stops '! rx a info counter >/dev/null 2>&1' "$out"

        # Same host: the transient domain comes back under its own name and UUID.
        out=$(rx a restore "$RS/c1.snap" 2>&1)
        rc=$?
        check restore-same-host '[ $rc = 0 ] && grep -Eq "^Domain counter restored \(id [0-9]+, (running|blocked)\)$" <<<"$out"' "exit $rc: $out"
        check restore-same-uuid '[ "$(rx a --json info counter | jq -r .uuid)" = "$uuid" ]'
        check restore-continues-counting 'wait_until 200 rs_ticks_at_least a counter $((saved + 20))' "saved at $saved, now $(rs_ticks a counter)"
        first=$(rx a console counter --dump | sed -n 's/^counter: ticks=\([0-9]*\) .*/\1/p' | awk -v s="$saved" '$1 > s { print; exit }')
        check restore-no-lost-ticks '[ -n "$first" ] && [ "$first" -le $((saved + 100)) ]' "saved at $saved, first line after restore at ${first:-none}"
        check restore-event 'rx a --json events counter | jqe "[.events[] | select(.kind==\"restored\")] | length == 1" >/dev/null'
        out=$(rx a restore "$RS/c1.snap" 2>&1)
        rc=$?
        check restore-running-conflict '[ $rc = 1 ] && grep -q "is running here" <<<"$out"' "exit $rc: $out"
        out=$(rx a restore "$RS/c1.snap" --name counter2 --paused 2>&1)
        rc=$?
        check restore-copy-new-name '[ $rc = 0 ] && [ "$(rx a --json info counter2 | jq -r .state)" = paused ] && [ "$(rx a --json info counter2 | jq -r .uuid)" != "$uuid" ]' "exit $rc: $out"
        rx a destroy counter2 >/dev/null 2>&1

        # Another host: a second save of the restored domain (so the definition travels on
        # through a restore) resumed by xenod b, which never saw this domain.
        rx a save counter "$RS/c2.snap" >/dev/null 2>&1
        saved=$(rs_ticks a counter)
        out=$(rx b restore "$RS/c2.snap" 2>&1)
        rc=$?
        check restore-other-host '[ $rc = 0 ] && rx b --json info counter | jqe ".uuid == \"$uuid\" and .sponsor == \"examples\"" >/dev/null' "exit $rc: $out $(tail -c 400 "$RS/b.log")"
        check restore-other-host-counts 'wait_until 200 rs_ticks_at_least b counter $((saved + 20))' "saved at $saved, now $(rs_ticks b counter)"
        # quit once the console is attached (its scrollback arrives).
        (wait_until 10 test -s "$RS/quit.out"; printf 'quit\r') | rx b console counter --linger 3 >"$RS/quit.out" 2>&1
        out=$(cat "$RS/quit.out")
        check restore-other-host-pass 'grep -q "Test result: PASS" <<<"$out" && ! grep -q mismatch <<<"$out"' "$(tail -c 300 <<<"$out")"

        # Bad files: refused whole, nothing defined, the message names the file.
        before=$(rx a --json list | jq -c '[.domains[].name]')
        cp "$RS/c2.snap" "$RS/bad.snap"
        printf 'X' | dd of="$RS/bad.snap" bs=1 seek=$(($(stat -c %s "$RS/bad.snap") / 2)) conv=notrunc 2>/dev/null
        out=$(rx a restore "$RS/bad.snap" 2>&1)
        rc=$?
        check restore-corrupted-refused '[ $rc = 1 ] && grep -q "bad.snap" <<<"$out" && grep -qi "checksum\|corrupt" <<<"$out"' "exit $rc: $out"
        head -c 5000 "$RS/c2.snap" >"$RS/short.snap"
        out=$(rx a restore "$RS/short.snap" 2>&1)
        rc=$?
        check restore-truncated-refused '[ $rc = 1 ] && grep -q "short.snap" <<<"$out" && grep -qi "truncated" <<<"$out"' "exit $rc: $out"
        out=$(rx a restore "$RS/none.snap" 2>&1)
        rc=$?
        check restore-missing-refused '[ $rc = 1 ] && grep -q "none.snap" <<<"$out"' "exit $rc: $out"
        # A monitor started without xenod saves no definition: xenod cannot tell what it is.
        if vmm_start rsbare --kernel "$GUEST/counter.elf" --memory 16M; then
            sn_request rsbare "save $RS/bare.snap"
            vmm_wait
            out=$(rx a restore "$RS/bare.snap" 2>&1)
            rc=$?
            check restore-without-definition '[ $rc = 1 ] && grep -q "holds no domain definition" <<<"$out"' "exit $rc: $out"
        else
            fail restore-without-definition "monitor did not start: $(tail -c 300 "$TMP/rsbare.vmm.log")"
        fi
        check restore-bad-defines-nothing '[ "$(rx a --json list | jq -c "[.domains[].name]")" = "$before" ]' "before $before, now $(rx a --json list | jq -c '[.domains[].name]')"
        rx a destroy counter >/dev/null 2>&1
    fi
    for p in $RS_PIDS; do kill -TERM "$p" 2>/dev/null; done
    for p in $RS_PIDS; do wait "$p" 2>/dev/null; done
    pkill -KILL -f -- "--run-dir $RS/" 2>/dev/null
fi
