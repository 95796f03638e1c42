# Suspend to a file and resume from it (docs/snapshot-format.md): the counter guest under
# --run-dir is saved with the control request `save PATH`, resumed by a new monitor with
# --restore, and must go on counting from where it was with its checksum intact. Damaged,
# truncated and foreign snapshot files are refused with exit status 1 and a message.

# A failed check shows the end of the monitors' logs.
check_context() { printf '; monitors: %s' "$(LOG_TAIL_BYTES=800 log_tail "$TMP"/snap*.vmm.log)"; }

if kvm_case snapshot; then
    SNAP=$TMP/counter.snap
    rm -f "$SNAP"
    if ! vmm_start snap1 --kernel "$GUEST/counter.elf" --memory 64M; then
        fail snapshot-boot "monitor did not start: $(tail -c 600 "$TMP/snap1.vmm.log" | tr '\n' '|')"
    else
        check snapshot-counter-ticks 'wait_until 60 sn_ticks_at_least snap1 30'
        sn_request snap1 "save $SNAP"
        check snapshot-save-reply 'grep -Eq "^ok bytes=[0-9]+ pages=[0-9]+$" <<<"$SN_REPLY"'
        vmm_wait
        check snapshot-save-stops '[ "$RC" -eq 0 ]'
        check snapshot-save-outcome 'has "$TMP/snap1/outcome" "^saved $SNAP"'
        saved_ticks=$(sn_last_ticks snap1)
        size=$(stat -c %s "$SNAP" 2>/dev/null || echo 0)
        # Sparse: the guest touched a few MiB of its 64 MiB.
        check snapshot-file-sparse '[ "$size" -gt 0 ] && [ "$size" -lt $((16 << 20)) ]'
        check snapshot-no-tmp-left '[ ! -e "$SNAP.tmp" ]'

        if vmm_start snap2 --restore "$SNAP"; then
            check snapshot-restore-continues 'wait_until 60 sn_ticks_at_least snap2 $((saved_ticks + 20))'
            first=$(sed -n 's/^counter: ticks=\([0-9]*\) .*/\1/p' "$TMP/snap2/console.log" | head -1)
            # The first line after resuming continues the old count (not a fresh boot at 0).
            check snapshot-restore-from-saved-ticks '[ -n "$first" ] && [ "$first" -ge "$saved_ticks" ] &&
                [ "$first" -le $((saved_ticks + 200)) ]' "first tick after the restore '$first', saved at $saved_ticks"
            check snapshot-restore-no-reboot '! has "$TMP/snap2/console.log" "counter: [0-9]* words"'
            sn_type snap2 'quit\r'
            vmm_wait
            check snapshot-restore-pass 'has "$TMP/snap2/console.log" "^Test result: PASS"'
            check snapshot-restore-no-mismatch '! has "$TMP/snap2/console.log" "mismatch"'
            check snapshot-restore-exit '[ "$RC" -eq 0 ]'
            # Lazy by default: memory came in through userfaultfd while the guest ran.
            check snapshot-restore-lazy 'has "$TMP/snap2.vmm.log" "lazy restore: all saved memory in after"'
        else
            fail snapshot-restore "monitor did not start: $(tail -c 600 "$TMP/snap2.vmm.log" | tr '\n' '|')"
        fi

        # --restore-eager: the same file, all memory copied (and checked) before the guest runs.
        if vmm_start snap2e --restore "$SNAP" --restore-eager; then
            check snapshot-eager-continues 'wait_until 60 sn_ticks_at_least snap2e $((saved_ticks + 20))'
            sn_type snap2e 'quit\r'
            vmm_wait
            check snapshot-eager-pass 'has "$TMP/snap2e/console.log" "^Test result: PASS"'
            check snapshot-eager-not-lazy '! has "$TMP/snap2e.vmm.log" "lazy restore"'
        else
            fail snapshot-eager "monitor did not start: $(tail -c 600 "$TMP/snap2e.vmm.log" | tr '\n' '|')"
        fi

        # keep-running: the domain goes on after the save.
        if vmm_start snap3 --kernel "$GUEST/counter.elf" --memory 64M; then
            wait_until 60 sn_ticks_at_least snap3 10
            sn_request snap3 "save $TMP/keep.snap keep-running"
            check snapshot-keep-running-reply 'grep -Eq "^ok bytes=" <<<"$SN_REPLY"'
            t=$(sn_last_ticks snap3)
            check snapshot-keep-running-runs 'wait_until 30 sn_ticks_at_least snap3 $((t + 20))'
            # A save that cannot be written: err, nothing left behind, the domain runs on.
            sn_request snap3 "save $TMP/no-such-dir/x.snap"
            check snapshot-save-error-reply 'grep -Eq "^err .*no-such-dir/x.snap.tmp" <<<"$SN_REPLY"'
            t=$(sn_last_ticks snap3)
            check snapshot-save-error-runs-on 'wait_until 30 sn_ticks_at_least snap3 $((t + 20))'
            # A symlink planted at PATH.tmp (the monitor saves as root; fs.protected_symlinks
            # may be 0): not followed, the file it points to unchanged, the save refused.
            echo victim >"$TMP/victim"
            ln -s "$TMP/victim" "$TMP/planted.snap.tmp"
            sn_request snap3 "save $TMP/planted.snap keep-running"
            check snapshot-save-no-follow 'grep -Eq "^err .*planted.snap.tmp" <<<"$SN_REPLY" &&
                [ "$(cat "$TMP/victim")" = victim ] && [ -L "$TMP/planted.snap.tmp" ] && [ ! -e "$TMP/planted.snap" ]' \
                "reply '$SN_REPLY', victim now: $(head -c 20 "$TMP/victim" | tr -c '[:print:]' .)"
            sn_type snap3 'quit\r'
            vmm_wait
            check snapshot-keep-running-pass 'has "$TMP/snap3/console.log" "^Test result: PASS"'
            check snapshot-keep-running-exit '[ "$RC" -eq 0 ]'
        fi

        # --restore --paused: nothing runs until unpause; then the count goes on.
        if [ -s "$TMP/keep.snap" ] && vmm_start snap4 --restore "$TMP/keep.snap" --paused; then
            sn_request snap4 status
            check snapshot-restore-paused-state 'grep -q "^ok state=paused" <<<"$SN_REPLY"'
            sleep 1 # a duration: a paused domain prints nothing during it
            check snapshot-restore-paused-quiet '[ -z "$(sn_last_ticks snap4)" ]'
            sn_request snap4 unpause
            check snapshot-restore-unpause-runs 'wait_until 30 sn_ticks_at_least snap4 20'
            sn_type snap4 'quit\r'
            vmm_wait
            check snapshot-restore-paused-pass 'has "$TMP/snap4/console.log" "^Test result: PASS"'
        else
            fail snapshot-restore-paused "monitor did not start: $(tail -c 600 "$TMP/snap4.vmm.log" | tr '\n' '|')"
        fi
    fi

    # Lazy restore under pressure: memfill fills 40% of 128 MiB, then checks every filled page
    # again and again; restored lazily, its first pass after the resume touches pages the
    # background fill has not reached (faults answered from the file), with no mismatch.
    if vmm_start snapm1 --kernel "$GUEST/memfill.elf" --memory 128M --cmdline "fill=40 verify" &&
        wait_until 120 has "$TMP/snapm1/console.log" 'memfill: pass 1 ok'; then
        sn_request snapm1 "save $TMP/m1.snap"
        vmm_wait
        if vmm_start snapm2 --restore "$TMP/m1.snap"; then
            sn_passes() { grep -c 'memfill: pass [0-9]* ok' "$TMP/snapm2/console.log" 2>/dev/null; }
            check snapshot-lazy-pressure-passes 'wait_until 120 eval "[ \"\$(sn_passes)\" -ge 2 ]"'
            faults=$(sed -n 's/.*lazy restore: all saved memory in after [0-9]* us: \([0-9]*\) faults.*/\1/p' "$TMP/snapm2.vmm.log")
            check snapshot-lazy-pressure-faults '[ "${faults:-0}" -gt 0 ]'
            sn_type snapm2 'quit\r'
            vmm_wait
            check snapshot-lazy-pressure-pass 'has "$TMP/snapm2/console.log" "^Test result: PASS"'
            check snapshot-lazy-pressure-no-mismatch '! has "$TMP/snapm2/console.log" mismatch'
        else
            fail snapshot-lazy-pressure "restored monitor did not start: $(tail -c 600 "$TMP/snapm2.vmm.log" | tr '\n' '|')"
        fi
    else
        fail snapshot-lazy-pressure "memfill did not finish its first pass: $(tail -c 600 "$TMP/snapm1.vmm.log" | tr '\n' '|')"
    fi

    # A save right after a lazy restore, before the fill is over: it waits for the fill, and
    # the file it writes restores to a guest whose pattern is intact. memfill idles here (1 GiB,
    # 10% filled: ~100 MiB for the fill to bring in).
    if vmm_start snapf1 --kernel "$GUEST/memfill.elf" --memory 1G --cmdline "fill=10" &&
        wait_until 120 has "$TMP/snapf1/console.log" 'memfill: filled'; then
        sn_request snapf1 "save $TMP/f1.snap"
        vmm_wait
        if vmm_start snapf2 --restore "$TMP/f1.snap"; then
            sn_request snapf2 "save $TMP/f2.snap"
            check snapshot-save-during-fill-reply 'grep -Eq "^ok bytes=" <<<"$SN_REPLY"'
            vmm_wait
            if has "$TMP/snapf2.vmm.log" 'save: waiting for the lazy restore'; then
                pass snapshot-save-during-fill-waited
            else
                skip snapshot-save-during-fill-waited "the fill was over before the save request came"
            fi
            check snapshot-save-during-fill-size '[ "$(stat -c %s "$TMP/f2.snap")" -ge $(($(stat -c %s "$TMP/f1.snap") - 65536)) ]'
            if vmm_start snapf3 --restore "$TMP/f2.snap"; then
                sn_type snapf3 'verify\r'
                check snapshot-save-during-fill-intact 'wait_until 60 has "$TMP/snapf3/console.log" "memfill: verified"'
                sn_type snapf3 'quit\r'
                vmm_wait
                check snapshot-save-during-fill-pass 'has "$TMP/snapf3/console.log" "^Test result: PASS"'
            else
                fail snapshot-save-during-fill "restored monitor did not start: $(tail -c 600 "$TMP/snapf3.vmm.log" | tr '\n' '|')"
            fi
        else
            fail snapshot-save-during-fill "restored monitor did not start: $(tail -c 600 "$TMP/snapf2.vmm.log" | tr '\n' '|')"
        fi
    else
        fail snapshot-save-during-fill "memfill did not fill: $(tail -c 600 "$TMP/snapf1.vmm.log" | tr '\n' '|')"
    fi

    # save ... shrink: balloon_obey dirtied 3/4 of its RAM and holds it as free memory; asked
    # through the balloon before the save, it gives that back, so the file holds little. With
    # keep-running the target goes back at once; after a stop, the restored guest gets it.
    if vmm_start snapb1 --kernel "$GUEST/balloon_obey.elf" --memory 128M &&
        wait_until 120 has "$TMP/snapb1/console.log" 'ready'; then
        # The shrink asks for the free memory of the guest's first statistics report.
        sn_stats_reported() {
            local v
            v=$("$STATSDUMP" "$TMP/$1/stats" 2>/dev/null | sed -n 's/^guest_free_bytes=//p')
            [ -n "$v" ] && [ "$v" != unknown ]
        }
        wait_until 10 sn_stats_reported snapb1
        sn_request snapb1 "save $TMP/b-plain.snap keep-running"
        plain=$(stat -c %s "$TMP/b-plain.snap" 2>/dev/null || echo 0)
        sn_request snapb1 "save $TMP/b-shrink.snap keep-running shrink"
        check snapshot-shrink-reply 'grep -Eq "^ok bytes=[0-9]+ pages=[0-9]+ shrunk=[1-9][0-9]*$" <<<"$SN_REPLY"'
        shrunk=$(stat -c %s "$TMP/b-shrink.snap" 2>/dev/null || echo 0)
        # 3/4 of 128 MiB dirty: the plain file holds ~96 MiB, the shrunk one under 16 MiB.
        check snapshot-shrink-smaller '[ "$plain" -gt $((80 << 20)) ] && [ "$shrunk" -gt 0 ] && [ "$shrunk" -lt $((16 << 20)) ]'
        check snapshot-shrink-deflates-after 'wait_until 30 has "$TMP/snapb1/console.log" "target 0 pages: deflated"'
        sn_request snapb1 "save $TMP/b-stop.snap shrink"
        vmm_wait
        if vmm_start snapb2 --restore "$TMP/b-stop.snap"; then
            check snapshot-shrink-restored-deflates 'wait_until 30 has "$TMP/snapb2/console.log" "target 0 pages: deflated"'
            sn_type snapb2 'quit\r'
            vmm_wait
            check snapshot-shrink-restored-pass 'has "$TMP/snapb2/console.log" "^Test result: PASS"'
        else
            fail snapshot-shrink-restored "restored monitor did not start: $(tail -c 600 "$TMP/snapb2.vmm.log" | tr '\n' '|')"
        fi
    else
        fail snapshot-shrink "balloon_obey did not get ready: $(tail -c 600 "$TMP/snapb1.vmm.log" | tr '\n' '|')"
    fi
    # A guest without a balloon driver: the save goes ahead, nothing shrunk.
    if vmm_start snapb3 --kernel "$GUEST/counter.elf" --memory 64M && wait_until 60 sn_ticks_at_least snapb3 5; then
        sn_request snapb3 "save $TMP/b-none.snap shrink"
        check snapshot-shrink-no-driver 'grep -Eq "^ok bytes=[0-9]+ pages=[0-9]+ shrunk=0$" <<<"$SN_REPLY"'
        vmm_wait
        check snapshot-shrink-no-driver-logged 'has "$TMP/snapb3.vmm.log" "save shrink: nothing asked of the guest: the guest runs no balloon driver"'
    else
        fail snapshot-shrink-no-driver "counter did not run"
    fi

    # Domain identity: --domain-xml is saved (section domain-xml, raw bytes), carried over by a
    # restore into the next save, replaced by a new --domain-xml; a mem-set target is saved
    # and re-armed by the restore.
    printf '<domain type="xeno"><name>snapxml-one</name></domain>\n' >"$TMP/one.xml"
    printf '<domain type="xeno"><name>snapxml-two</name></domain>\n' >"$TMP/two.xml"
    if vmm_start snapx1 --kernel "$GUEST/counter.elf" --memory 64M --domain-xml "$TMP/one.xml" &&
        wait_until 60 sn_ticks_at_least snapx1 10; then
        sn_request snapx1 "mem-set $((48 << 20)) 5000"
        sn_request snapx1 "save $TMP/x1.snap"
        vmm_wait
        check snapshot-domain-xml-saved 'grep -q "snapxml-one" "$TMP/x1.snap"'
        if vmm_start snapx2 --restore "$TMP/x1.snap"; then
            check snapshot-mem-target-rearmed 'has "$TMP/snapx2.vmm.log" "memory target $((48 << 20)) bytes within 5000 ms, from the snapshot"'
            sn_request snapx2 "save $TMP/x2.snap keep-running"
            check snapshot-domain-xml-carried 'grep -q "snapxml-one" "$TMP/x2.snap"'
            sn_request snapx2 destroy
            vmm_wait
        else
            fail snapshot-domain-xml-carried "restored monitor did not start: $(tail -c 600 "$TMP/snapx2.vmm.log" | tr '\n' '|')"
        fi
        if vmm_start snapx3 --restore "$TMP/x2.snap" --domain-xml "$TMP/two.xml"; then
            sn_request snapx3 "save $TMP/x3.snap"
            vmm_wait
            check snapshot-domain-xml-replaced 'grep -q snapxml-two "$TMP/x3.snap" && ! grep -q snapxml-one "$TMP/x3.snap"'
        else
            fail snapshot-domain-xml-replaced "restored monitor did not start: $(tail -c 600 "$TMP/snapx3.vmm.log" | tr '\n' '|')"
        fi
    else
        fail snapshot-domain-xml "counter guest with --domain-xml did not run: $(tail -c 600 "$TMP/snapx1.vmm.log" | tr '\n' '|')"
    fi
    head -c $(((1 << 20) + 1)) /dev/zero | tr '\0' x >"$TMP/big.xml"
    run_vmm snapshot-domain-xml-too-big '' --kernel "$GUEST/counter.elf" --domain-xml "$TMP/big.xml"
    expect snapshot-domain-xml-too-big 1 "domain-xml $TMP/big.xml: larger than 1 MiB"
    run_vmm snapshot-domain-xml-missing '' --kernel "$GUEST/counter.elf" --domain-xml "$TMP/none.xml"
    expect snapshot-domain-xml-missing 1 "domain-xml $TMP/none.xml: No such file"

    # virtio: saved while the virtio-console driver waits for a line (its receive buffer
    # held by the device), the line typed after the restore must arrive over virtio.
    if vmm_start snapvc1 --kernel "$GUEST/virtio_console.elf" --memory 64M &&
        wait_until 60 has "$TMP/snapvc1/console.log" 'type a line (virtio)'; then
        sn_request snapvc1 "save $TMP/vc.snap"
        vmm_wait
        if vmm_start snapvc2 --restore "$TMP/vc.snap"; then
            wait_until 10 has "$TMP/snapvc2.vmm.log" 'restored'
            sn_type snapvc2 'hello after restore\r'
            vmm_wait
            typed="got line 'hello after restore'"
            check snapshot-virtio-console 'has "$TMP/snapvc2/console.log" "$typed"'
            check snapshot-virtio-console-pass 'has "$TMP/snapvc2/console.log" "^Test result: PASS"'
        else
            fail snapshot-virtio-console "restored monitor did not start: $(tail -c 600 "$TMP/snapvc2.vmm.log" | tr '\n' '|')"
        fi
    else
        fail snapshot-virtio-console "virtio_console guest did not reach its prompt"
    fi

    # Damaged files: refused before any VM exists, exit 1 and a message naming the problem.
    if [ -s "$SNAP" ]; then
        sn_bad() { # NAME FILE PATTERN
            run_vmm "$1" '' --restore "$2"
            expect "$1" 1 "$3"
        }
        head -c 100 "$SNAP" >"$TMP/trunc-hdr.snap"
        sn_bad snapshot-refuse-truncated-header "$TMP/trunc-hdr.snap" 'truncated header'
        head -c $((size / 2)) "$SNAP" >"$TMP/trunc-half.snap"
        sn_bad snapshot-refuse-truncated-half "$TMP/trunc-half.snap" 'truncated'
        head -c $((size - 8)) "$SNAP" >"$TMP/trunc-end.snap"
        sn_bad snapshot-refuse-truncated-end "$TMP/trunc-end.snap" 'truncated'
        cp "$SNAP" "$TMP/flip-cfg.snap"
        printf '\x7f' | dd of="$TMP/flip-cfg.snap" bs=1 seek=200 conv=notrunc status=none
        sn_bad snapshot-refuse-corrupt-config "$TMP/flip-cfg.snap" 'config section at offset [0-9]+: checksum'
        cp "$SNAP" "$TMP/flip-mem.snap"
        printf '\x7f' | dd of="$TMP/flip-mem.snap" bs=1 seek=$((size - 5000)) conv=notrunc status=none
        run_vmm snapshot-refuse-corrupt-memory '' --restore "$TMP/flip-mem.snap" --restore-eager
        expect snapshot-refuse-corrupt-memory 1 'memory section: run [0-9]+ at file offset [0-9]+: checksum mismatch'
        # Lazily, memory CRCs are checked run by run as the fill reaches them, after the guest
        # resumed: the damaged run never reaches guest RAM and the domain stops (host error).
        run_vmm snapshot-lazy-corrupt-memory '' --restore "$TMP/flip-mem.snap"
        expect snapshot-lazy-corrupt-memory 4 'lazy restore: snapshot file damaged: memory section: run [0-9]+ at file offset [0-9]+: checksum mismatch'
        cp "$SNAP" "$TMP/magic.snap"
        printf 'NOTASNAP' | dd of="$TMP/magic.snap" bs=1 seek=0 conv=notrunc status=none
        sn_bad snapshot-refuse-magic "$TMP/magic.snap" 'bad magic'
        # Another CPU vendor and another version, the header's CRC made right again (the
        # vendor string sits at offset 16, the version at 8, the CRC in the header's last 4
        # of 104 bytes; docs/snapshot-format.md).
        sn_patch() { # IN OUT OFFSET BYTES(python literal)
            python3 -c 'import sys, zlib, struct
d = bytearray(open(sys.argv[1], "rb").read()); off = int(sys.argv[3]); b = eval(sys.argv[4])
d[off:off + len(b)] = b
struct.pack_into("<I", d, 100, zlib.crc32(bytes(d[:100])))
open(sys.argv[2], "wb").write(d)' "$@"
        }
        if command -v python3 >/dev/null; then
            if grep -q GenuineIntel /proc/cpuinfo; then other=AuthenticAMD; else other=GenuineIntel; fi
            sn_patch "$SNAP" "$TMP/vendor.snap" 16 "b'$other'"
            sn_bad snapshot-refuse-other-vendor "$TMP/vendor.snap" "saved on a $other CPU"
            sn_patch "$SNAP" "$TMP/version.snap" 8 'b"\x07\x00\x00\x00"'
            sn_bad snapshot-refuse-version "$TMP/version.snap" 'snapshot version 7'
        else
            skip snapshot-refuse-other-vendor "no python3"
        fi
        sn_bad snapshot-refuse-missing "$TMP/no-such.snap" 'No such file'
        run_vmm snapshot-refuse-kernel-too '' --restore "$SNAP" --kernel "$GUEST/counter.elf"
        expect snapshot-refuse-kernel-too 1 'do not go together'
    fi
fi
