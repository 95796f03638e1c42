# Many disks, many queues (docs/blkback.md "Multi-queue"): a real monitor under KVM with two
# disks of two queues each, served by one sandboxed xeno-blkback. blk_multi writes a pattern
# of each disk's own over every queue at once and verifies it; the image files are checked
# from the host. Then the same with the backend killed with SIGKILL mid-run and restarted:
# each disk's rings are handed over again and the guest still passes. Six disks, so that the
# last takes a window past the eighth (ISA pin 5). Finally a monitor whose disk wants more
# queues than the backend serves: the front end refuses that backend.

. tests/blk_lib.sh
MQ_VMM=

# mq_vmm NAME SIZE QUEUES [QUEUES2]: blk_multi with two disks of SIZE on $TMP/NAME-{a,b}.sock.
mq_vmm() {
    timeout -k 5 "${TIMEOUT:-240}" "$VMM" --kernel "$GUEST/blk_multi.elf" --memory 64M \
        --disk "socket=$TMP/$1-a.sock,size=$2,queues=$3" --disk "socket=$TMP/$1-b.sock,size=$2,queues=${4:-$3}" \
        </dev/null >"$TMP/$1.log" 2>&1 &
    MQ_VMM=$!
}
mq_vmm_wait() {
    wait_until 250 gone "$MQ_VMM" || kill -KILL "$MQ_VMM" 2>/dev/null
    wait "$MQ_VMM"
    RC=$?
    MQ_VMM=
}
# mq_disks NAME QUEUES: the backend's two disks for mq_vmm NAME (images NAME-{a,b}.img).
mq_disks() {
    echo --disk "name=$1-a,socket=$TMP/$1-a.sock,file=$1-a.img,queues=$2" \
        --disk "name=$1-b,socket=$TMP/$1-b.sock,file=$1-b.img,queues=$2"
}
# mq_image_verify FILE SECTORS DISK: blk_multi's pattern for disk number DISK.
mq_image_verify() {
    python3 - "$1" "$2" "$3" <<'PY'
import sys
path, n, disk = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
with open(path, 'rb') as f:
    data = f.read()
for s in range(n):
    want = bytes(((s * 131 + i * 7 + (i >> 8) + 0x5a + disk * 0x3b) & 0xff) for i in range(512))
    if data[s * 512:(s + 1) * 512] != want:
        print(f"{path}: sector {s} differs"); sys.exit(1)
PY
}
mq_ready() {
    [ -x "$BLKBACK" ] || { fail "$1" "xeno-blkback is not built ($BLKBACK)"; return 1; }
    kvm_case "$1"
}
mq_cleanup() {
    bb_stop
    [ -n "$MQ_VMM" ] && kill -KILL "$MQ_VMM" 2>/dev/null
    return 0
}
trap 'mq_cleanup; test_file_exit' EXIT

mkdir -p "$TMP/images"

# ---- two disks x two queues: the guest verifies, the image files hold each disk's pattern ---
if mq_ready blk-multi; then
    truncate -s 1M "$TMP/images/mq-a.img" "$TMP/images/mq-b.img"
    mq_vmm mq 1M 2
    # shellcheck disable=SC2046 # the words are mq_disks' arguments
    bb_start mq $(mq_disks mq 2)
    mq_vmm_wait
    kill -0 "$BB_PID" 2>/dev/null
    alive=$?
    bb_stop
    check blk-multi '[ $RC -eq 0 ] && guest_has "$TMP/mq.log" "Test result: PASS" &&
        guest_has "$TMP/mq.log" "disk 0: 2048 sectors, 2 queue(s)" && guest_has "$TMP/mq.log" "disk 1: 2048 sectors, 2 queue(s)"' \
        "guest: $(log_tail "$TMP/mq.log") backend: $(log_tail "$TMP/mq.bb.log")"
    check blk-multi-images 'mq_image_verify "$TMP/images/mq-a.img" 2048 0 && mq_image_verify "$TMP/images/mq-b.img" 2048 1' \
        "the image files do not hold the patterns"
    check blk-multi-handover '[ "$(grep -c "rings handed to the backend (2 ring(s)" "$TMP/mq.log")" -eq 2 ] &&
        [ $alive -eq 0 ] && [ "$BB_RC" = 0 ]' \
        "hand-overs: $(grep "rings handed" "$TMP/mq.log" | tr '\n' ' '); backend alive=$alive rc=${BB_RC:-?}"
fi

# ---- kill -9 of the backend mid-run: both disks are handed to the new one, the guest passes --
if mq_ready blk-multi-kill9; then
    truncate -s 4M "$TMP/images/mk-a.img" "$TMP/images/mk-b.img"
    mq_vmm mk 4M 2
    # shellcheck disable=SC2046
    bb_start mk $(mq_disks mk 2)
    # Some writes done, not all: the second disk's image has grown past 512 KiB.
    wait_until 60 img_kib_over "$TMP/images/mk-b.img" 512
    kill -KILL "$BB_PID"
    wait "$BB_PID" 2>/dev/null
    BB_PID=
    killed_at=$(img_kib "$TMP/images/mk-b.img")
    # shellcheck disable=SC2046
    bb_start mk $(mq_disks mk 2)
    mq_vmm_wait
    bb_stop
    check blk-multi-kill9 '[ $RC -eq 0 ] && guest_has "$TMP/mk.log" "Test result: PASS" && [ "$killed_at" -lt 4096 ] &&
        [ "$(grep -c "virtio-blk: rings handed to the backend (2 ring(s)" "$TMP/mk.log")" -ge 2 ] &&
        [ "$(grep -c "virtio-blk1: rings handed to the backend (2 ring(s)" "$TMP/mk.log")" -ge 2 ]' \
        "killed at ${killed_at:-?} KiB; guest: $(log_tail "$TMP/mk.log") backend: $(log_tail "$TMP/mk.bb.log")"
    check blk-multi-kill9-images 'mq_image_verify "$TMP/images/mk-a.img" 8192 0 &&
        mq_image_verify "$TMP/images/mk-b.img" 8192 1' "the image files do not hold the patterns"
fi

# ---- six disks: windows 3..8, the last on ISA pin 5 (docs/machine.md), all served ---------
if mq_ready blk-multi-six; then
    vmm_disks=() bb_disks=()
    for i in 0 1 2 3 4 5; do
        truncate -s 256K "$TMP/images/six$i.img"
        vmm_disks+=(--disk "socket=$TMP/six$i.sock,size=256K,queues=$((1 + i % 2))")
        bb_disks+=(--disk "name=six$i,socket=$TMP/six$i.sock,file=six$i.img,queues=2")
    done
    timeout -k 5 "${TIMEOUT:-240}" "$VMM" --kernel "$GUEST/blk_multi.elf" --memory 64M "${vmm_disks[@]}" \
        </dev/null >"$TMP/six.log" 2>&1 &
    MQ_VMM=$!
    bb_start six "${bb_disks[@]}"
    mq_vmm_wait
    bb_stop
    images_ok=0
    for i in 0 1 2 3 4 5; do
        mq_image_verify "$TMP/images/six$i.img" 512 $i || images_ok=1
    done
    check blk-multi-six '[ $RC -eq 0 ] && guest_has "$TMP/six.log" "Test result: PASS" &&
        guest_has "$TMP/six.log" "disk 5: 512 sectors, 2 queue(s)" && guest_has "$TMP/six.log" "disk 4: 512 sectors, 1 queue(s)" &&
        [ $images_ok -eq 0 ]' "images_ok=$images_ok; guest: $(log_tail "$TMP/six.log") backend: $(log_tail "$TMP/six.bb.log")"
fi

# ---- a disk with more queues than the backend serves: that backend is refused -------------
if mq_ready blk-multi-too-few-queues; then
    truncate -s 1M "$TMP/images/fq-a.img" "$TMP/images/fq-b.img"
    mq_vmm fq 1M 2
    # shellcheck disable=SC2046
    bb_start fq $(mq_disks fq 1)
    wait_until 30 has "$TMP/fq.log" "virtio-blk1: backend dropped"
    refused=$?
    kill -KILL "$MQ_VMM" 2>/dev/null
    mq_vmm_wait
    bb_stop
    check blk-multi-too-few-queues '[ $refused -eq 0 ] &&
        has "$TMP/fq.log" "the device has 2 queues and the backend serves 1" && ! has "$TMP/fq.log" "Test result: PASS"' \
        "guest: $(log_tail "$TMP/fq.log")"
fi
