# A domain with a disk saved, restored and migrated (docs/snapshot-format.md "Disks",
# docs/migration.md "Disks"): blk_rw writes its pattern over a 4 MiB disk served by a real,
# sandboxed xeno-blkback; the monitor saves it in the middle of that, a new monitor restores it
# and the guest's whole-disk verification passes; an image changed after the save makes the
# restore refuse, naming the disk; and the domain moves live to a second monitor of this host
# serving the same image (the backend's disk handed from one monitor's socket to the other's
# after GO) and passes there. The image file is checked from the host after each run.

. tests/blk_lib.sh
IMAGES=$TMP/images
mkdir -p "$IMAGES"

# bs_backend: one backend with a control socket ($TMP/bbctl.sock) and no disk yet (BB_PID).
bs_backend() {
    rm -f "$TMP/bbctl.sock" # the last backend's: not a sign that this one listens
    # LeakSanitizer cannot work inside the sandbox (see netback.sh).
    ASAN_OPTIONS=${ASAN_OPTIONS:-}:detect_leaks=0 "$BLKBACK" --image-dir "$IMAGES" --control "$TMP/bbctl.sock" \
        >>"$TMP/bb.log" 2>&1 &
    BB_PID=$!
    wait_until 10 test -S "$TMP/bbctl.sock"
}
# bs_ctl REQUEST: one request to the backend; the reply lines in BB_REPLY.
bs_ctl() { BB_REPLY=$(printf '%s\n' "$1" | timeout 5 "$UNIXCAT" "$TMP/bbctl.sock" 2>&1); }
# disk_opt NAME IMAGE: the monitor's --disk value for IMAGE (4 MiB) on $TMP/NAME.sock.
disk_opt() { printf 'socket=%s,size=4M,image=%s,image-dir=%s' "$TMP/$1.sock" "$2" "$IMAGES"; }
# console_has NAME PATTERN: the guest's console under $TMP/NAME.
console_has() { has "$TMP/$1/console.log" "$2"; }
check_context() { printf '; logs: %s' "$(LOG_TAIL_BYTES=600 log_tail "$TMP"/*.vmm.log "$TMP/bb.log")"; }
cleanup() {
    [ -n "${VMM_PID:-}" ] && kill -KILL "$VMM_PID" 2>/dev/null
    [ -n "${DST_JOB:-}" ] && pkill -KILL -P "$DST_JOB" 2>/dev/null
    bb_stop
    return 0
}
trap 'cleanup; test_file_exit' EXIT

bs_ready() {
    [ -x "$BLKBACK" ] || { fail "$1" "xeno-blkback is not built ($BLKBACK)"; return 1; }
    kvm_case "$1"
}

# ---- save in the middle of blk_rw, restore, finish: PASS, image verified --------------------
if bs_ready blkstate-save; then
    bs_backend
    truncate -s 4M "$IMAGES/sv.img"
    bs_ctl "add-disk name=sv,socket=$TMP/sv.sock,file=sv.img"
    if vmm_start sv1 --kernel "$GUEST/blk_rw.elf" --memory 64M --disk "$(disk_opt sv sv.img)"; then
        wait_until 60 img_kib_over "$IMAGES/sv.img" 512
        sn_request sv1 "save $TMP/sv.snap"
        check blkstate-save-reply 'grep -Eq "^ok bytes=[0-9]+ pages=[0-9]+$" <<<"$SN_REPLY"' "reply: $SN_REPLY"
        vmm_wait
        saved_kib=$(img_kib "$IMAGES/sv.img")
        check blkstate-save-mid-run '[ "$RC" -eq 0 ] && [ "$saved_kib" -lt 4096 ] && ! console_has sv1 "blk_rw: written"' \
            "rc $RC, $saved_kib KiB written at the save"
        check blkstate-save-held 'has "$TMP/sv1.vmm.log" "rings taken back from the backend"'
        if vmm_start sv2 --restore "$TMP/sv.snap" --disk "$(disk_opt sv sv.img)"; then
            wait_until 120 console_has sv2 "Test result"
            vmm_wait
            check blkstate-restore-pass '[ "$RC" -eq 0 ] && console_has sv2 "Test result: PASS" &&
                ! console_has sv2 "blk_rw: [0-9]* sectors"' "rc $RC: $(log_tail "$TMP/sv2/console.log")"
            check blkstate-restore-image 'blk_rw_verify "$IMAGES/sv.img" 8192' "the image file does not hold the pattern"
        else
            fail blkstate-restore "monitor did not start: $(log_tail "$TMP/sv2.vmm.log")"
        fi
    else
        fail blkstate-save "monitor did not start: $(log_tail "$TMP/sv1.vmm.log")"
    fi
    bs_ctl "remove-disk sv"

    # ---- the image changes after the save: the restore is refused, naming the disk ----------
    truncate -s 4M "$IMAGES/ch.img"
    bs_ctl "add-disk name=ch,socket=$TMP/ch.sock,file=ch.img"
    if vmm_start ch1 --kernel "$GUEST/blk_rw.elf" --memory 64M --disk "$(disk_opt ch ch.img)"; then
        wait_until 60 img_kib_over "$IMAGES/ch.img" 256
        sn_request ch1 "save $TMP/ch.snap"
        vmm_wait
        bs_ctl "remove-disk ch"
        # One byte written by someone else: the restore is refused before the guest runs.
        printf 'Z' | dd of="$IMAGES/ch.img" bs=1 seek=100 conv=notrunc status=none
        timeout -k 5 60 "$VMM" --restore "$TMP/ch.snap" --disk "$(disk_opt ch2 ch.img)" >"$TMP/ch2.vmm.log" 2>&1 </dev/null
        RC=$?
        # Exit 1 (bad input, docs/control-channel.md "Outcomes"): refused, not a host failure.
        check blkstate-changed-refused '[ "$RC" -eq 1 ] &&
            has "$TMP/ch2.vmm.log" "disk 0: image .ch.img. in $IMAGES changed since the snapshot was taken" &&
            ! has "$TMP/ch2.vmm.log" "Test result"' "rc $RC: $(log_tail "$TMP/ch2.vmm.log")"
        cp --sparse=always "$IMAGES/ch.img" "$IMAGES/other.img"
        timeout -k 5 60 "$VMM" --restore "$TMP/ch.snap" --disk "$(disk_opt ch3 other.img)" >"$TMP/ch3.vmm.log" 2>&1 </dev/null
        RC=$?
        check blkstate-other-image-refused '[ "$RC" -ne 0 ] &&
            has "$TMP/ch3.vmm.log" "disk 0: the snapshot was taken with image .ch.img., this disk serves .other.img."' \
            "rc $RC: $(log_tail "$TMP/ch3.vmm.log")"
    else
        fail blkstate-changed "monitor did not start: $(log_tail "$TMP/ch1.vmm.log")"
    fi

    # ---- a disk without image=: its save is refused, the domain runs on ---------------------
    truncate -s 4M "$IMAGES/ni.img"
    bs_ctl "add-disk name=ni,socket=$TMP/ni.sock,file=ni.img"
    if vmm_start ni --kernel "$GUEST/blk_rw.elf" --memory 64M --disk "socket=$TMP/ni.sock,size=4M"; then
        wait_until 60 img_kib_over "$IMAGES/ni.img" 256
        sn_request ni "save $TMP/ni.snap"
        kill -0 "$VMM_PID" 2>/dev/null
        alive=$?
        check blkstate-no-image-refused '[[ "$SN_REPLY" == "err disk 0: --disk has no image=NAME,image-dir=DIR"* ]] &&
            [ ! -e "$TMP/ni.snap" ] && [ $alive -eq 0 ] && ! has "$TMP/ni.vmm.log" "rings taken back"' \
            "reply: $SN_REPLY; alive $alive"
        sn_request ni destroy
        vmm_wait
    else
        fail blkstate-no-image "monitor did not start: $(log_tail "$TMP/ni.vmm.log")"
    fi
    bs_ctl "remove-disk ni"
    bb_stop
fi

# ---- live migration between two monitors of this host, the same image ----------------------
# bs_dst NAME DISK-OPT: a monitor waiting for a migration on 127.0.0.1 (DST_JOB); its port in
# DST_PORT once it listens.
bs_dst() {
    rm -rf "${TMP:?}/$1"
    timeout -k 5 120 "$VMM" --migrate-incoming 127.0.0.1:0 --migrate-key "$TMP/mig.key" --run-dir "$TMP/$1" \
        --name "$1" --disk "$2" </dev/null >"$TMP/$1.vmm.log" 2>&1 &
    DST_JOB=$!
    wait_until 30 test -s "$TMP/$1/migrate-port" && DST_PORT=$(cat "$TMP/$1/migrate-port")
}
# bs_migrate NAME REQUEST: the reply line in MG_REPLY.
bs_migrate() {
    MG_REPLY=$(printf '%s\n' "$2" | timeout 70 "$UNIXCAT" "$TMP/$1/control.sock" 2>&1 | grep -m1 -E '^(ok|err)')
}
if bs_ready blkstate-migrate; then
    head -c 32 /dev/urandom | base64 >"$TMP/mig.key"
    chmod 600 "$TMP/mig.key"
    bs_backend
    truncate -s 4M "$IMAGES/mg.img"
    bs_ctl "add-disk name=src,socket=$TMP/mgsrc.sock,file=mg.img"
    if vmm_start mgsrc --kernel "$GUEST/blk_rw.elf" --memory 64M --migrate-key "$TMP/mig.key" \
        --disk "$(disk_opt mgsrc mg.img)"; then
        SRC_PID=$VMM_PID SRC_JOB=$VMM_JOB
        wait_until 60 img_kib_over "$IMAGES/mg.img" 512
        # A destination serving another image refuses the domain: the source runs on.
        truncate -s 4M "$IMAGES/wrong.img"
        if bs_dst mgbad "$(disk_opt mgbad wrong.img)"; then
            bs_migrate mgsrc "migrate 127.0.0.1:$DST_PORT"
            wait_until 30 gone "$DST_JOB"
            wait "$DST_JOB"
            bad_rc=$?
            check blkstate-migrate-other-image-refused '[[ "$MG_REPLY" == "err migration to"*"runs on here" ]] &&
                [ "$bad_rc" -ne 0 ] && has "$TMP/mgbad.vmm.log" "this disk serves .wrong.img."' \
                "reply: $MG_REPLY; destination rc $bad_rc"
        else
            fail blkstate-migrate-other-image "destination did not listen: $(log_tail "$TMP/mgbad.vmm.log")"
        fi
        before_kib=$(img_kib "$IMAGES/mg.img")
        if bs_dst mgdst "$(disk_opt mgdst mg.img)"; then
            bs_migrate mgsrc "migrate 127.0.0.1:$DST_PORT"
            check blkstate-migrate-reply 'grep -Eq "^ok dest=127.0.0.1:$DST_PORT .*confirmed=yes$" <<<"$MG_REPLY"' \
                "reply: $MG_REPLY"
            VMM_PID=$SRC_PID VMM_JOB=$SRC_JOB
            vmm_wait
            moved_kib=$(img_kib "$IMAGES/mg.img")
            # The image moves to the destination's socket once the source is gone.
            bs_ctl "remove-disk src"
            bs_ctl "add-disk name=dst,socket=$TMP/mgdst.sock,file=mg.img"
            added=$BB_REPLY
            wait_until 120 gone "$DST_JOB"
            wait "$DST_JOB"
            dst_rc=$?
            check blkstate-migrate-mid-run '[ "$RC" -eq 0 ] && [ "$moved_kib" -lt 4096 ] &&
                [ "$before_kib" -gt 512 ] && ! console_has mgsrc "Test result"' \
                "source rc $RC, $moved_kib KiB written at the move: $(log_tail "$TMP/mgsrc/console.log")"
            check blkstate-migrate-pass '[ "$dst_rc" -eq 0 ] && [[ "$added" == "ok name=dst"* ]] &&
                console_has mgdst "Test result: PASS"' \
                "destination rc $dst_rc, add-disk: $added: $(log_tail "$TMP/mgdst/console.log")"
            check blkstate-migrate-image 'blk_rw_verify "$IMAGES/mg.img" 8192' "the image file does not hold the pattern"
        else
            fail blkstate-migrate "destination did not listen: $(log_tail "$TMP/mgdst.vmm.log")"
        fi
    else
        fail blkstate-migrate "monitor did not start: $(log_tail "$TMP/mgsrc.vmm.log")"
    fi
    bb_stop
fi
