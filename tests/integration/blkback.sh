# xeno-blkback (docs/blkback.md) serving the virtio-blk disk of a real monitor under KVM:
# blk_rw writes a pattern over the whole disk and reads it back (the image file is checked
# from the host too), the backend killed with SIGKILL in the middle of it and restarted,
# blk_hostile's malformed requests on a writable and a read-only disk, the image directory's
# wall, and the sandbox's seccomp filter. The backend always runs sandboxed here.

. tests/blk_lib.sh

# blk_vmm NAME KERNEL SIZE [readonly]: a monitor with one disk on $TMP/NAME.sock (VMM_BG).
blk_vmm() {
    timeout -k 5 "${TIMEOUT:-120}" "$VMM" --kernel "$GUEST/$2.elf" --memory 64M \
        --disk "socket=$TMP/$1.sock,size=$3${4:+,$4}" </dev/null >"$TMP/$1.log" 2>&1 &
    VMM_BG=$!
}
blk_vmm_wait() {
    wait_until 120 gone "$VMM_BG" || kill -KILL "$VMM_BG" 2>/dev/null
    wait "$VMM_BG"
    RC=$?
}
blk_ready() {
    [ -x "$BLKBACK" ] || { fail "$1" "xeno-blkback is not built ($BLKBACK)"; return 1; }
    kvm_case "$1"
}
cleanup() {
    bb_stop
    [ -n "${VMM_BG:-}" ] && kill -KILL "$VMM_BG" 2>/dev/null
    return 0
}
trap 'cleanup; test_file_exit' EXIT

mkdir -p "$TMP/images"
echo secret >"$TMP/outside.img"
truncate -s 1M "$TMP/outside.img"

# ---- blk_rw: the whole disk, verified in the guest and in the image file -------------------
if blk_ready blkback-rw; then
    truncate -s 4M "$TMP/images/rw.img"
    blk_vmm rw blk_rw 4M
    bb_start rw --disk "name=vda,socket=$TMP/rw.sock,file=rw.img,serial=XENO-SN-1"
    blk_vmm_wait
    kill -0 "$BB_PID" 2>/dev/null
    alive=$?
    bb_stop
    check blkback-rw '[ $RC -eq 0 ] && has "$TMP/rw.log" "Test result: PASS" && has "$TMP/rw.log" "serial .XENO-SN-1."' \
        "guest: $(log_tail "$TMP/rw.log") backend: $(log_tail "$TMP/rw.bb.log")"
    check blkback-rw-image 'blk_rw_verify "$TMP/images/rw.img" 8192' "the image file does not hold the pattern"
    check blkback-rw-clean-exit '[ $alive -eq 0 ] && [ $BB_RC -eq 0 ] && has "$TMP/rw.bb.log" "writes=[1-9]"' \
        "backend: rc $BB_RC, $(log_tail "$TMP/rw.bb.log")"
fi

# ---- blk_rw on a copy-on-write overlay: its reads and writes on io_uring, sandboxed ----------
# Every cluster is copied on first write (synchronously), then read back on the ring (O_DIRECT);
# the overlay is read from the host through the image layer; the base stays all zeros.
if blk_ready blkback-overlay-rw; then
    truncate -s 4M "$TMP/images/obase.img"
    "$BUILD_DIR/bin/xenctl" disk create o.ovl --base obase.img --cluster-size 4K --image-dir "$TMP/images" \
        >"$TMP/o.create.log" 2>&1
    blk_vmm o blk_rw 4M
    bb_start o --disk "name=vda,socket=$TMP/o.sock,file=o.ovl,serial=XENO-SN-1"
    blk_vmm_wait
    bb_stop
    "$BUILD_DIR/tests/tools/image_io" "$TMP/images" o.ovl dump 0 4194304 >"$TMP/o.dump" 2>"$TMP/o.dump.log"
    check blkback-overlay-rw '[ $RC -eq 0 ] && has "$TMP/o.log" "Test result: PASS" && [ $BB_RC -eq 0 ] &&
        blk_rw_verify "$TMP/o.dump" 8192 && [ -z "$(tr -d "\\0" <"$TMP/images/obase.img" | head -c1)" ]' \
        "guest: $(log_tail "$TMP/o.log") backend: $(log_tail "$TMP/o.bb.log") $(cat "$TMP/o.create.log" "$TMP/o.dump.log")"
fi

# ---- kill -9 of the backend while blk_rw runs; a new one finishes the work ------------------
if blk_ready blkback-kill9; then
    truncate -s 2M "$TMP/images/k9.img"
    blk_vmm k9 blk_rw 2M
    bb_start k9 --disk "name=vda,socket=$TMP/k9.sock,file=k9.img"
    # Some writes done, not all: the image's allocated size has grown past 256 KiB (the guest
    # computes its pattern in emulated ring 0 here, ~15 s per MiB written and verified).
    wait_until 60 img_kib_over "$TMP/images/k9.img" 256
    kill -KILL "$BB_PID"
    wait "$BB_PID" 2>/dev/null
    BB_PID=
    killed_at=$(img_kib "$TMP/images/k9.img")
    bb_start k9 --disk "name=vda,socket=$TMP/k9.sock,file=k9.img"
    blk_vmm_wait
    bb_stop
    check blkback-kill9 '[ $RC -eq 0 ] && has "$TMP/k9.log" "Test result: PASS" && [ "$killed_at" -lt 2048 ] &&
        [ "$(grep -c "rings handed to the backend" "$TMP/k9.log")" -ge 2 ] &&
        [ "$(grep -c "inflight region of 1 queue" "$TMP/k9.bb.log")" -ge 2 ]' \
        "killed at ${killed_at:-?} KiB; guest: $(log_tail "$TMP/k9.log") backend: $(log_tail "$TMP/k9.bb.log")"
    check blkback-kill9-image 'blk_rw_verify "$TMP/images/k9.img" 4096' "the image file does not hold the pattern"
fi

# ---- blk_flush: what the guest had flushed is in the image after kill -9 of both ------------
if blk_ready blkback-flush; then
    truncate -s 1M "$TMP/images/fl.img"
    blk_vmm fl blk_flush 1M
    bb_start fl --disk "name=vda,socket=$TMP/fl.sock,file=fl.img"
    wait_until 60 has "$TMP/fl.log" "blk_flush: flushed"
    flushed=$?
    kill -KILL "$BB_PID" 2>/dev/null
    wait "$BB_PID" 2>/dev/null
    BB_PID=
    pkill -KILL -P "$VMM_BG" 2>/dev/null # the monitor under timeout
    kill -KILL "$VMM_BG" 2>/dev/null
    wait "$VMM_BG" 2>/dev/null
    check blkback-flush '[ $flushed -eq 0 ] && blk_rw_verify "$TMP/images/fl.img" 228 100' \
        "flushed=$flushed; guest: $(log_tail "$TMP/fl.log") backend: $(log_tail "$TMP/fl.bb.log")"
fi

# ---- blk_hostile on a writable and a read-only disk: errors, the backend survives -----------
for mode in rw ro; do
    if blk_ready blkback-hostile-$mode; then
        truncate -s 1M "$TMP/images/h$mode.img"
        ro=
        [ $mode = ro ] && ro=readonly
        blk_vmm h$mode blk_hostile 1M $ro
        bb_start h$mode --disk "name=vda,socket=$TMP/h$mode.sock,file=h$mode.img${ro:+,$ro}"
        blk_vmm_wait
        kill -0 "$BB_PID" 2>/dev/null
        alive=$?
        bb_stop
        check blkback-hostile-$mode '[ $RC -eq 0 ] && has "$TMP/h$mode.log" "Test result: PASS" && [ $alive -eq 0 ] &&
            [ $BB_RC -eq 0 ] && has "$TMP/h$mode.bb.log" "ioerr=[1-9]"' \
            "guest: $(log_tail "$TMP/h$mode.log") backend alive=$alive rc=${BB_RC:-?}: $(log_tail "$TMP/h$mode.bb.log")"
    fi
done

# ---- the control socket: a disk added to the running, sandboxed backend, then removed -------
# bb_ctl REQUEST: one request on $TMP/bbctl.sock; the reply lines in BB_REPLY.
bb_ctl() { BB_REPLY=$(printf '%s\n' "$1" | timeout 5 "$UNIXCAT" "$TMP/bbctl.sock" 2>&1); }
if blk_ready blkback-control; then
    truncate -s 1M "$TMP/images/ct.img"
    bb_start ct --control "$TMP/bbctl.sock"
    wait_until 10 test -S "$TMP/bbctl.sock"
    bb_ctl version
    check blkback-control-version '[ "$BB_REPLY" = "ok blkctl 1" ]' "reply: $BB_REPLY"
    blk_vmm ct blk_rw 1M
    bb_ctl "add-disk name=d1-vda,socket=$TMP/ct.sock,file=ct.img,serial=XENO-SN-1"
    added=$BB_REPLY
    blk_vmm_wait
    bb_ctl list
    listed=$BB_REPLY
    check blkback-control-add '[ "$added" = "ok name=d1-vda sectors=2048" ] && [ $RC -eq 0 ] &&
        has "$TMP/ct.log" "Test result: PASS" && blk_rw_verify "$TMP/images/ct.img" 2048' \
        "add: $added; guest: $(log_tail "$TMP/ct.log") backend: $(log_tail "$TMP/ct.bb.log")"
    bb_ctl "add-disk name=d1-vda,socket=$TMP/ct.sock,file=ct.img,serial=XENO-SN-1,readonly"
    check blkback-control-readonly-live '[[ "$BB_REPLY" == "err add-disk: disk d1-vda: readonly cannot change"* ]]' \
        "reply: $BB_REPLY"
    # Under the sandbox too, a link or a way out of the directory is refused at add-disk.
    ln -sf "$TMP/outside.img" "$TMP/images/ctlink.img"
    bb_ctl "add-disk name=d2-vda,socket=$TMP/ct2.sock,file=ctlink.img"
    check blkback-control-link '[[ "$BB_REPLY" == *"no links"* ]]' "reply: $BB_REPLY"
    bb_ctl "remove-disk d1-vda"
    removed=$BB_REPLY
    bb_ctl list
    check blkback-control-remove '[ "$removed" = ok ] && [ "$BB_REPLY" = "ok disks=0" ] &&
        [[ "$listed" == *"disk name=d1-vda socket=$TMP/ct.sock file=ct.img sectors=2048 readonly=0"* ]] &&
        kill -0 $BB_PID' "remove: $removed; list: $BB_REPLY; before: $listed"
    bb_stop
    check blkback-control-exit '[ "$BB_RC" = 0 ]' "backend: rc $BB_RC, $(log_tail "$TMP/ct.bb.log")"
fi

# ---- the image directory: outside names, links, absolute paths refused ----------------------
ln -sf "$TMP/outside.img" "$TMP/images/link.img"
for f in ../outside.img link.img "$TMP/outside.img"; do
    case $f in
    /*) name=blkback-dir-absolute want=2 pat="relative to --image-dir" ;;
    link.img) name=blkback-dir-link want=1 pat="images must be files under --image-dir" ;;
    *) name=blkback-dir-dotdot want=1 pat="images must be files under --image-dir" ;;
    esac
    run_cmd $name "$BLKBACK" --image-dir "$TMP/images" --disk "name=vda,socket=$TMP/x.sock,file=$f"
    expect $name $want "$pat"
done

# ---- the sandbox: a forbidden call kills the backend (SIGSYS) -------------------------------
truncate -s 1M "$TMP/images/sb.img"
ASAN_OPTIONS=${ASAN_OPTIONS:-}:detect_leaks=0 timeout -k 5 30 "$BLKBACK" --image-dir "$TMP/images" \
    --disk "name=vda,socket=$TMP/sb.sock,file=sb.img" --test-forbidden >"$TMP/sb.out" 2>&1
RC=$?
check blkback-sandbox '[ $RC -eq $((128 + 31)) ] && has "$TMP/sb.out" "calling socket(AF_INET)"' \
    "rc $RC: $(log_tail "$TMP/sb.out")"
