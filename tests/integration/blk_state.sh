# A domain with a disk saved, restored and migrated (docs/snapshot-format.md "Disks",
# docs/migration.md "Disks"): blk_rw writes its pattern over a 4 MiB disk served by a real,
# sandboxed xeno-blkback; the monitor saves it in the middle of that, a new monitor restores it
# and the guest's whole-disk verification passes; an image changed after the save makes the
# restore refuse, naming the disk; and the domain moves live to a second monitor of this host
# serving the same image (the backend's disk handed from one monitor's socket to the other's
# after GO) and passes there. The image file is checked from the host after each run.

. tests/blk_lib.sh
IMAGES=$TMP/images
# The moves' pre-copy: rounds until max-rounds (no downtime is short enough) at 1 MB/s, a few
# seconds in all (the guest touches little memory): long enough to see its disk served during
# them, and to restart the backend in them.
BS_MIG_SLOW="bandwidth=1 max-downtime=0 max-rounds=150"
mkdir -p "$IMAGES"

# bs_backend: one backend with a control socket (BB_CTL: $TMP/bbctl.sock) and no disk yet
# (BB_PID).
bs_backend() {
    BB_CTL=$TMP/bbctl.sock
    rm -f "$TMP/bbctl.sock" # the last backend's: not a sign that this one listens
    # LeakSanitizer cannot work inside the sandbox (see netback.sh).
    ASAN_OPTIONS=${ASAN_OPTIONS:-}:detect_leaks=0 "$BLKBACK" --image-dir "$IMAGES" --control "$TMP/bbctl.sock" \
        >>"$TMP/bb.log" 2>&1 &
    BB_PID=$!
    wait_until 10 test -S "$TMP/bbctl.sock"
}
# bs_ctl REQUEST: one request to the backend; the reply lines in BB_REPLY.
bs_ctl() { BB_REPLY=$(printf '%s\n' "$1" | timeout 5 "$UNIXCAT" "$BB_CTL" 2>&1); }
# disk_opt NAME IMAGE: the monitor's --disk value for IMAGE (4 MiB) on $TMP/NAME.sock.
disk_opt() { printf 'socket=%s,size=4M,image=%s,image-dir=%s' "$TMP/$1.sock" "$2" "$IMAGES"; }
# console_has NAME PATTERN: the guest's console under $TMP/NAME.
console_has() { has "$TMP/$1/console.log" "$2"; }
check_context() { printf '; logs: %s' "$(LOG_TAIL_BYTES=600 log_tail "$TMP"/*.vmm.log "$TMP/bb.log")"; }
cleanup() {
    [ -n "${VMM_PID:-}" ] && kill -KILL "$VMM_PID" 2>/dev/null
    [ -n "${DST_JOB:-}" ] && pkill -KILL -P "$DST_JOB" 2>/dev/null
    [ -n "${BB2_PID:-}" ] && kill -KILL "$BB2_PID" 2>/dev/null
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
# bs_writes DISK: the backend's count of writes served to DISK (its stats page).
bs_writes() {
    bs_ctl stats
    sed -n "s/^disk=$1 .* writes=\([0-9]*\) .*/\1/p" <<<"$BB_REPLY"
}
# bs_migrate_watch NAME REQUEST DISK [ON-CONNECTED]: bs_migrate, and the backend's writes to
# DISK when the move has begun (event migrate connected; after ON-CONNECTED, a command, if
# given) in MG_W0 and at its final stop (event migrate stop-and-copy: the disk is held
# then, so nothing is served after it here) in MG_W1; the events in $TMP/NAME.events.
bs_migrate_watch() {
    local line
    MG_REPLY= MG_W0= MG_W1=
    : >"$TMP/$1.events"
    while IFS= read -r line; do
        printf '%s\n' "$line" >>"$TMP/$1.events"
        case $line in
        "event migrate connected"*)
            [ -n "${4:-}" ] && $4
            MG_W0=$(bs_writes "$3")
            ;;
        "event migrate stop-and-copy"*) MG_W1=$(bs_writes "$3") ;;
        ok* | err*)
            MG_REPLY=$line
            break
            ;;
        esac
    done < <(printf '%s\n' "$2" | timeout 120 "$UNIXCAT" "$TMP/$1/control.sock" 2>&1)
}
# bs_served_during_precopy: the disk kept completing the guest's requests between the start
# of the move and its final stop (on the code that held the disks for the whole move, the
# count stood still there: at most the one request in flight at the hold was added).
bs_served_during_precopy() { [ -n "$MG_W0" ] && [ -n "$MG_W1" ] && [ "$MG_W1" -ge $((MG_W0 + 4)) ]; }
# bs_restart_backend: once the source monitor's dirty log is on for its disk (the move's
# pre-copy has begun), its backend killed with SIGKILL and the disk BS_RESTART_DISK given to a
# second backend started beforehand (BB2_PID, control socket $TMP/bbctl2.sock), as xenod's
# supervision would: the new backend connects during the full pass.
bs_restart_backend() {
    WAIT_POLL=0.01 wait_until 5 has "$TMP/rssrc.vmm.log" "virtio-blk: dirty log on"
    kill -KILL "$BB_PID" 2>/dev/null
    wait "$BB_PID" 2>/dev/null
    BB_PID=$BB2_PID BB2_PID= BB_CTL=$TMP/bbctl2.sock
    bs_ctl "add-disk $BS_RESTART_DISK"
    BS_RESTARTED=$BB_REPLY
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
            bs_migrate_watch mgsrc "migrate 127.0.0.1:$DST_PORT $BS_MIG_SLOW" src
            check blkstate-migrate-reply 'grep -Eq "^ok dest=127.0.0.1:$DST_PORT .*confirmed=yes$" <<<"$MG_REPLY"' \
                "reply: $MG_REPLY"
            check blkstate-migrate-served-during-precopy bs_served_during_precopy \
                "writes served at the start $MG_W0, at the final stop $MG_W1: $(tr '\n' ' ' <"$TMP/mgsrc.events")"
            check blkstate-migrate-logged 'has "$TMP/mgsrc.vmm.log" "virtio-blk: dirty log on" &&
                ! has "$TMP/mgsrc.vmm.log" "stay held for the migration"'
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

# ---- the backend killed (SIGKILL) and restarted during the pre-copy ------------------------
# The new backend gets the dirty log with the rings (while a move runs the front end hands
# them only to a backend that logs) and serves the disk for the rest of the rounds; the lost
# one's used rings are resent (it may have died between a write and its mark). The domain
# passes on the destination and the image holds the pattern.
if bs_ready blkstate-migrate-restart; then
    ASAN_OPTIONS=${ASAN_OPTIONS:-}:detect_leaks=0 "$BLKBACK" --image-dir "$IMAGES" --control "$TMP/bbctl2.sock" \
        >>"$TMP/bb2.log" 2>&1 &
    BB2_PID=$!
    wait_until 10 test -S "$TMP/bbctl2.sock"
    bs_backend
    truncate -s 4M "$IMAGES/rs.img"
    BS_RESTART_DISK="name=src,socket=$TMP/rssrc.sock,file=rs.img"
    bs_ctl "add-disk $BS_RESTART_DISK"
    if vmm_start rssrc --kernel "$GUEST/blk_rw.elf" --memory 64M --migrate-key "$TMP/mig.key" \
        --disk "$(disk_opt rssrc rs.img)"; then
        SRC_PID=$VMM_PID SRC_JOB=$VMM_JOB
        wait_until 60 img_kib_over "$IMAGES/rs.img" 256
        if bs_dst rsdst "$(disk_opt rsdst rs.img)"; then
            bs_migrate_watch rssrc "migrate 127.0.0.1:$DST_PORT $BS_MIG_SLOW" src bs_restart_backend
            check blkstate-migrate-restart-reply 'grep -Eq "^ok dest=127.0.0.1:$DST_PORT .*confirmed=yes$" <<<"$MG_REPLY"' \
                "reply: $MG_REPLY"
            # MG_W0: the new backend's count soon after it took the disk; MG_W1: at the final stop.
            check blkstate-migrate-restart-served '[[ "$BS_RESTARTED" == "ok"* ]] && bs_served_during_precopy' \
                "add-disk: $BS_RESTARTED; new backend's writes $MG_W0 after it took the disk, $MG_W1 at the final stop: $(tr '\n' ' ' <"$TMP/rssrc.events")"
            check blkstate-migrate-restart-logged 'has "$TMP/rssrc.vmm.log" "virtio-blk: backend disconnected" &&
                has "$TMP/rssrc.vmm.log" "virtio-blk: rings handed to the backend .*, dirty log on"'
            VMM_PID=$SRC_PID VMM_JOB=$SRC_JOB
            vmm_wait
            moved_kib=$(img_kib "$IMAGES/rs.img")
            bs_ctl "remove-disk src"
            bs_ctl "add-disk name=dst,socket=$TMP/rsdst.sock,file=rs.img"
            wait_until 120 gone "$DST_JOB"
            wait "$DST_JOB"
            dst_rc=$?
            check blkstate-migrate-restart-mid-run '[ "$RC" -eq 0 ] && [ "$moved_kib" -lt 4096 ] &&
                ! console_has rssrc "Test result"' "source rc $RC, $moved_kib KiB written at the move"
            check blkstate-migrate-restart-pass '[ "$dst_rc" -eq 0 ] && console_has rsdst "Test result: PASS"' \
                "destination rc $dst_rc: $(log_tail "$TMP/rsdst/console.log")"
            check blkstate-migrate-restart-image 'blk_rw_verify "$IMAGES/rs.img" 8192' \
                "the image file does not hold the pattern"
        else
            fail blkstate-migrate-restart "destination did not listen: $(log_tail "$TMP/rsdst.vmm.log")"
        fi
    else
        fail blkstate-migrate-restart "monitor did not start: $(log_tail "$TMP/rssrc.vmm.log")"
    fi
    bb_stop
fi
