# Suspend to a file and resume from it (docs/snapshot-format.md): the counter guest under
# --run-dir is saved with the control request `save PATH`, resumed by a new monitor with
# --restore, and must go on counting from where it was with its checksum intact. Damaged,
# truncated and foreign snapshot files are refused with exit status 1 and a message.

sn_case() { # NAME COMMAND...: one check; the monitor logs on failure
    local name=$1
    shift
    if "$@"; then
        pass "$name"
    else
        fail "$name" "$(cat "$TMP"/snap*.vmm.log 2>/dev/null | tail -c 800 | tr '\n' '|')"
    fi
}

if kvm_case snapshot; then
    SNAP=$TMP/counter.snap
    rm -f "$SNAP"
    if ! vmm_start snap1 --kernel "$GUEST/counter.elf" --memory 64M; then
        fail snapshot-boot "monitor did not start: $(tail -c 600 "$TMP/snap1.vmm.log" | tr '\n' '|')"
    else
        sn_case snapshot-counter-ticks wait_until 60 sn_ticks_at_least snap1 30
        sn_request snap1 "save $SNAP"
        sn_case snapshot-save-reply grep -Eq '^ok bytes=[0-9]+ pages=[0-9]+$' <<<"$SN_REPLY"
        vmm_wait
        sn_case snapshot-save-stops [ "$RC" -eq 0 ]
        sn_case snapshot-save-outcome has "$TMP/snap1/outcome" "^saved $SNAP"
        saved_ticks=$(sn_last_ticks snap1)
        size=$(stat -c %s "$SNAP" 2>/dev/null || echo 0)
        # Sparse: the guest touched a few MiB of its 64 MiB.
        sn_case snapshot-file-sparse [ "$size" -gt 0 ] && [ "$size" -lt $((16 << 20)) ]
        sn_case snapshot-no-tmp-left [ ! -e "$SNAP.tmp" ]

        if vmm_start snap2 --restore "$SNAP"; then
            sn_case snapshot-restore-continues wait_until 60 sn_ticks_at_least snap2 $((saved_ticks + 20))
            first=$(sed -n 's/^counter: ticks=\([0-9]*\) .*/\1/p' "$TMP/snap2/console.log" | head -1)
            # The first line after resuming continues the old count (not a fresh boot at 0).
            sn_case snapshot-restore-from-saved-ticks [ -n "$first" ] && [ "$first" -ge "$saved_ticks" ] &&
                [ "$first" -le $((saved_ticks + 200)) ]
            sn_case snapshot-restore-no-reboot eval '! has "$TMP/snap2/console.log" "counter: [0-9]* words"'
            sn_type snap2 'quit\r'
            vmm_wait
            sn_case snapshot-restore-pass has "$TMP/snap2/console.log" '^Test result: PASS'
            sn_case snapshot-restore-no-mismatch eval '! has "$TMP/snap2/console.log" "mismatch"'
            sn_case snapshot-restore-exit [ "$RC" -eq 0 ]
        else
            fail snapshot-restore "monitor did not start: $(tail -c 600 "$TMP/snap2.vmm.log" | tr '\n' '|')"
        fi

        # keep-running: the domain goes on after the save.
        if vmm_start snap3 --kernel "$GUEST/counter.elf" --memory 64M; then
            wait_until 60 sn_ticks_at_least snap3 10
            sn_request snap3 "save $TMP/keep.snap keep-running"
            sn_case snapshot-keep-running-reply grep -Eq '^ok bytes=' <<<"$SN_REPLY"
            t=$(sn_last_ticks snap3)
            sn_case snapshot-keep-running-runs wait_until 30 sn_ticks_at_least snap3 $((t + 20))
            # A save that cannot be written: err, nothing left behind, the domain runs on.
            sn_request snap3 "save $TMP/no-such-dir/x.snap"
            sn_case snapshot-save-error-reply grep -Eq '^err .*no-such-dir/x.snap.tmp' <<<"$SN_REPLY"
            t=$(sn_last_ticks snap3)
            sn_case snapshot-save-error-runs-on wait_until 30 sn_ticks_at_least snap3 $((t + 20))
            sn_type snap3 'quit\r'
            vmm_wait
            sn_case snapshot-keep-running-pass has "$TMP/snap3/console.log" '^Test result: PASS'
            sn_case snapshot-keep-running-exit [ "$RC" -eq 0 ]
        fi

        # --restore --paused: nothing runs until unpause; then the count goes on.
        if [ -s "$TMP/keep.snap" ] && vmm_start snap4 --restore "$TMP/keep.snap" --paused; then
            sn_request snap4 status
            sn_case snapshot-restore-paused-state grep -q '^ok state=paused' <<<"$SN_REPLY"
            sleep 1
            sn_case snapshot-restore-paused-quiet [ -z "$(sn_last_ticks snap4)" ]
            sn_request snap4 unpause
            sn_case snapshot-restore-unpause-runs wait_until 30 sn_ticks_at_least snap4 20
            sn_type snap4 'quit\r'
            vmm_wait
            sn_case snapshot-restore-paused-pass has "$TMP/snap4/console.log" '^Test result: PASS'
        else
            fail snapshot-restore-paused "monitor did not start: $(tail -c 600 "$TMP/snap4.vmm.log" | tr '\n' '|')"
        fi
    fi

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
            sn_case snapshot-virtio-console has "$TMP/snapvc2/console.log" "got line 'hello after restore'"
            sn_case snapshot-virtio-console-pass has "$TMP/snapvc2/console.log" '^Test result: PASS'
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
        sn_bad snapshot-refuse-corrupt-memory "$TMP/flip-mem.snap" 'checksum mismatch'
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
