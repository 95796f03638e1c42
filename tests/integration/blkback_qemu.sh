# A real Linux guest on xeno-blkback: QEMU (TCG) with a Debian kernel and a busybox initramfs,
# its disk a vhost-user-blk-pci device served by the backend (QEMU is the socket server, as our
# monitor is: the backend connects, and reconnects after a restart, docs/blkback.md).
#
# 1. First boot: mkfs.ext4 (the host's e2fsprogs, copied with its libraries), mount, write
#    files of random data and their sha256 sums, unmount, power off.
# 2. Second boot ("reboot": a new QEMU, a new backend on the same image): mount, the sums
#    match (checked in the guest and against the first boot's list), unmount; then fio (the
#    host's, copied with its libraries) on the raw disk, psync random writes with crc32c
#    verification, repeated, while the host kills the backend with SIGKILL 20 times and
#    starts a new one each time, each kill while the backend's write count is growing (fio's
#    writes in its hands), each new backend given QEMU's inflight region. Passes with 0
#    verify errors, fio's err=0 and exit 0 on every run, and no I/O error in the guest's
#    kernel log.
#
# Needs qemu-system-x86_64, busybox, fio and mkfs.ext4 (scripts/install-deps.sh: qemu-system-x86,
# busybox-static, fio, e2fsprogs), and the Debian mirror once for the kernel package
# (tests/lib.sh debian_kernel). No root, no KVM. Stock QEMU talks to xeno-blkback directly: its
# device reads the config space from the backend (GET_CONFIG, PROTOCOL_F_CONFIG), which serves it.
# Takes about 2-3 minutes on the 2-core shared build host (TCG).

BLKBACK=${BLKBACK:-$BUILD_DIR/bin/xeno-blkback}
BBQ_PID=
BBQ_KILLS=20

# bbq_start DIR LOG: the backend on DIR/images/disk.img, connecting to QEMU's DIR/vhost.sock
# (BBQ_PID), its log appended to DIR/LOG.
bbq_start() {
    ASAN_OPTIONS=${ASAN_OPTIONS:-}:detect_leaks=0 "$BLKBACK" --image-dir "$1/images" \
        --disk "name=vda,socket=$1/vhost.sock,file=disk.img,serial=BBQ-1" -v >>"$1/$2" 2>&1 &
    BBQ_PID=$!
}
bbq_stop() {
    [ -n "$BBQ_PID" ] || return 0
    kill -TERM "$BBQ_PID" 2>/dev/null
    wait_until 10 gone "$BBQ_PID" || kill -KILL "$BBQ_PID" 2>/dev/null
    wait "$BBQ_PID" 2>/dev/null
    BBQ_PID=
}

# bbq_copy_prog ROOT PROGRAM: PROGRAM and every shared library it loads (ldd) into ROOT at
# the same paths, so it runs in the guest as on the host.
bbq_copy_prog() {
    local root=$1 prog=$2 lib
    mkdir -p "$root$(dirname "$prog")"
    cp -L "$prog" "$root$prog"
    for lib in $(ldd "$prog" | awk '/=> \// { print $3 } /^\t\/lib/ { print $1 }'); do
        mkdir -p "$root$(dirname "$lib")"
        cp -L "$lib" "$root$lib"
    done
}

# bbq_initrd DIR: DIR/initrd.gz with busybox, the virtio-blk and ext4 modules, mkfs.ext4, fio
# and /init. The kernel command line's bbq= says which boot it is (mkfs or verify).
bbq_initrd() {
    local root=$1/initrd m
    rm -rf "$root"
    mkdir -p "$root"/{bin,proc,sys,dev,mod,mnt,tmp}
    cp "$(command -v busybox)" "$root/bin/busybox"
    for m in drivers/virtio/virtio.ko drivers/virtio/virtio_ring.ko drivers/virtio/virtio_pci_modern_dev.ko \
        drivers/virtio/virtio_pci_legacy_dev.ko drivers/virtio/virtio_pci.ko drivers/block/virtio_blk.ko \
        lib/crc16.ko fs/mbcache.ko fs/jbd2/jbd2.ko crypto/crc32c_generic.ko fs/ext4/ext4.ko; do
        cp "$DEBIAN_MODS/$m" "$root/mod/" || return 1
    done
    bbq_copy_prog "$root" "$(command -v mkfs.ext4)" || return 1
    bbq_copy_prog "$root" "$(command -v fio)" || return 1
    cat >"$root/init" <<'EOF'
#!/bin/busybox sh
/bin/busybox --install -s /bin
export PATH=/bin:/usr/bin:/usr/sbin:/sbin
mount -t proc proc /proc; mount -t sysfs sys /sys; mount -t devtmpfs dev /dev
for m in virtio_ring virtio virtio_pci_modern_dev virtio_pci_legacy_dev virtio_pci virtio_blk \
    crc16 mbcache jbd2 crc32c_generic ext4; do
    insmod /mod/$m.ko || echo "BBQ: insmod $m failed"
done
i=0
while [ ! -b /dev/vda ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
[ -b /dev/vda ] || { echo "BBQ: no /dev/vda"; poweroff -f; }
echo "BBQ: serial $(cat /sys/block/vda/serial 2>/dev/null) size $(blockdev --getsize64 /dev/vda)"
mode=$(sed -n 's/.*bbq=\([a-z]*\).*/\1/p' /proc/cmdline)
secs=$(sed -n 's/.*bbq_secs=\([0-9]*\).*/\1/p' /proc/cmdline)
if [ "$mode" = mkfs ]; then
    mkfs.ext4 -q -F /dev/vda && echo "BBQ: mkfs ok"
    mount -t ext4 /dev/vda /mnt && echo "BBQ: mount ok"
    for f in 1 2 3 4 5 6 7 8; do
        head -c $((f * 512 * 1024 + f * 4099)) /dev/urandom >/mnt/file$f
    done
    (cd /mnt && sha256sum file* >/mnt/SUMS)
    sed 's/^/BBQ: sum /' /mnt/SUMS
    umount /mnt && echo "BBQ: umount ok"
else
    mount -t ext4 /dev/vda /mnt && echo "BBQ: mount ok"
    sed 's/^/BBQ: sum /' /mnt/SUMS
    (cd /mnt && sha256sum -c SUMS >/dev/null 2>&1) && echo "BBQ: sums ok"
    umount /mnt && echo "BBQ: umount ok"
    # fio on the raw disk (the file system's end), again and again for bbq_secs while the
    # host kills the backend: four jobs, each on its own 8 MiB, so requests are in flight
    # together when the backend dies.
    echo "BBQ: fio start"
    end=$(($(date +%s) + secs)) n=0
    while [ "$(date +%s)" -lt "$end" ]; do
        n=$((n + 1))
        fio --name=k9 --filename=/dev/vda --ioengine=psync --direct=1 --rw=randwrite --bs=4k \
            --numjobs=4 --size=8M --offset_increment=8M --verify=crc32c --do_verify=1 \
            --verify_fatal=1 --randseed=$n --group_reporting >/tmp/fio.out 2>&1
        rc=$?
        grep -E 'err=|verify|crc32c|bad' /tmp/fio.out | sed "s/^/BBQ: fio $n rc=$rc: /"
        [ $rc -eq 0 ] || { cat /tmp/fio.out; break; }
    done
    echo "BBQ: fio end runs=$n"
    echo "BBQ: ioerrors $(dmesg | grep -ciE 'I/O error|blk_update_request|critical medium|EXT4-fs error')"
    dmesg | grep -iE 'I/O error|blk_update_request|virtio_blk' | sed 's/^/BBQ: dmesg /' | tail -5
fi
poweroff -f
EOF
    chmod +x "$root/init"
    (cd "$root" && find . | busybox cpio -o -H newc 2>/dev/null | gzip -1) >"$1/initrd.gz"
}

# bbq_qemu DIR NAME MODE [SECS]: one boot of the guest, in the background (BBQ_QEMU); its
# console in DIR/NAME.out. vectors=0 (INTx): Debian's QEMU 7.2 crashes unmasking MSI-X
# vectors of vhost-user devices (netback_qemu.sh).
bbq_qemu() {
    timeout -k 5 200 qemu-system-x86_64 -accel tcg -m 512M -smp 1 -nographic -no-reboot -nodefaults \
        -serial stdio -object memory-backend-memfd,id=mem,size=512M,share=on,seal=on -numa node,memdev=mem \
        -chardev socket,id=c0,path="$1/vhost.sock",server=on,wait=off \
        -device vhost-user-blk-pci,chardev=c0,num-queues=1,vectors=0 \
        -kernel "$DEBIAN_VMLINUZ" -initrd "$1/initrd.gz" \
        -append "console=ttyS0 quiet panic=-1 bbq=$3 bbq_secs=${4:-0}" </dev/null >"$1/$2.out" 2>&1 &
    BBQ_QEMU=$!
}
bbq_wait_qemu() {
    wait_until "$1" gone "$BBQ_QEMU" || kill -KILL "$BBQ_QEMU" 2>/dev/null
    wait "$BBQ_QEMU"
}
# bbq_serving LOG COUNT: the COUNTth backend of the boot has had its ring set up (QEMU started
# the device on it), so killing it now kills a backend with the guest's I/O in its hands.
bbq_serving() { [ "$(grep -c 'SET_VRING_KICK' "$1")" -ge "$2" ]; }
# bbq_writes LOG: the running backend's count of writes served (SIGUSR1 logs its counters);
# empty when it did not answer.
bbq_writes() {
    local n0
    n0=$(grep -c 'stats disk=vda' "$1")
    kill -USR1 "$BBQ_PID" 2>/dev/null || return 0
    wait_until 5 bbq_stats_after "$1" "$n0" || return 0
    grep 'stats disk=vda' "$1" | tail -1 | sed -n 's/.* writes=\([0-9]*\) .*/\1/p'
}
bbq_stats_after() { [ "$(grep -c 'stats disk=vda' "$1")" -gt "$2" ]; }
# bbq_kill_when_writing LOG: SIGKILL to the backend as soon as its write count has grown over
# 0.2 s (fio's writes are going through it now, not between two fio runs); 1 if that never
# happened within 30 s.
bbq_kill_when_writing() {
    local w1 w2 end=$((SECONDS + 30))
    w1=$(bbq_writes "$1")
    while [ $SECONDS -lt $end ]; do
        sleep 0.2
        w2=$(bbq_writes "$1")
        if [ -n "$w1" ] && [ -n "$w2" ] && [ "$w2" -gt "$w1" ]; then
            kill -KILL "$BBQ_PID"
            return 0
        fi
        w1=$w2
    done
    return 1
}

bbq_case() {
    local dir=$TMP/bbq t0=$SECONDS
    rm -rf "$dir"
    mkdir -p "$dir/images"
    truncate -s 64M "$dir/images/disk.img"
    if ! bbq_initrd "$dir"; then
        fail blkback_qemu_initrd "could not build the initramfs (modules, mkfs.ext4, fio)"
        return
    fi

    # ---- boot 1: mkfs, files, sums
    bbq_qemu "$dir" boot1 mkfs
    bbq_start "$dir" blkback1.log
    bbq_wait_qemu 150
    bbq_stop
    check blkback_qemu_mkfs 'has "$dir/boot1.out" "BBQ: umount ok" && has "$dir/boot1.out" "BBQ: serial BBQ-1"' \
        "$(grep -E 'BBQ|error|Kernel panic' "$dir/boot1.out" | tail -8 | tr '\n' '|') backend: $(grep -v debug "$dir/blkback1.log" | log_tail)"
    tr -d '\r' <"$dir/boot1.out" | grep '^BBQ: sum [0-9a-f]' >"$dir/sums1"
    # QEMU read the disk's config space from the backend itself, and nothing it asked was refused.
    check blkback_qemu_get_config 'grep -q "disk vda: GET_CONFIG" "$dir/blkback1.log" &&
        ! grep -qE "(GET|SET)_CONFIG.*(refused|outside|without|bytes in)" "$dir/blkback1.log"' \
        "$(grep -E '_CONFIG|PROTOCOL_FEATURES' "$dir/blkback1.log" | tail -4 | tr '\n' '|')"

    # ---- boot 2: verify, then fio under kill -9
    bbq_qemu "$dir" boot2 verify 75
    bbq_start "$dir" blkback2.log
    local kills=0 bad= tk=0
    if wait_until 120 has "$dir/boot2.out" "BBQ: fio start"; then
        tk=$SECONDS
        while [ $kills -lt $BBQ_KILLS ]; do
            # kill a backend that QEMU has set up, at a random point of fio's writes
            wait_until 30 bbq_serving "$dir/blkback2.log" $((kills + 1)) ||
                { bad="backend $((kills + 1)) was not set up by QEMU"; break; }
            sleep "0.$((RANDOM % 7 + 3))"
            has "$dir/boot2.out" "BBQ: fio end" && { bad="fio ended after $kills kills"; break; }
            bbq_kill_when_writing "$dir/blkback2.log" || { bad="backend $((kills + 1)) served no writes for 30 s"; break; }
            wait "$BBQ_PID" 2>/dev/null
            kills=$((kills + 1))
            bbq_start "$dir" blkback2.log
        done
    else
        bad="fio did not start"
    fi
    tk=$((SECONDS - tk))
    bbq_wait_qemu 150
    bbq_stop
    tr -d '\r' <"$dir/boot2.out" >"$dir/boot2.txt"
    grep '^BBQ: sum [0-9a-f]' "$dir/boot2.txt" >"$dir/sums2"
    check blkback_qemu_reboot_sums 'has "$dir/boot2.txt" "BBQ: sums ok" && [ "$(wc -l <"$dir/sums1")" -eq 8 ] && cmp -s "$dir/sums1" "$dir/sums2"' \
        "$(grep -E 'BBQ' "$dir/boot2.txt" | head -14 | tr '\n' '|')"
    check blkback_qemu_kills '[ -z "$bad" ] && [ $kills -eq $BBQ_KILLS ]' "$bad (kills: $kills)"
    # QEMU's front end keeps the backend's inflight region and hands it to every new backend
    # (docs/blkback.md "Restarts"): each of the kills+1 backends got it.
    local regions redone
    regions=$(grep -c "inflight region of" "$dir/blkback2.log")
    redone=$(grep -c "before the restart: redone" "$dir/blkback2.log")
    check blkback_qemu_inflight '[ "$regions" -ge $((kills + 1)) ]' "$regions regions for $((kills + 1)) backends"
    local runs fails
    runs=$(grep -c 'BBQ: fio [0-9]* rc=' "$dir/boot2.txt")
    fails=$(grep 'BBQ: fio [0-9]* rc=' "$dir/boot2.txt" | grep -cvE 'rc=0: .*err= 0')
    check blkback_qemu_fio_verify 'has "$dir/boot2.txt" "BBQ: fio end" && [ "$runs" -gt 0 ] && [ "$fails" -eq 0 ] &&
        ! grep -qiE "verify failed|bad magic|bad header|crc32c.*fail" "$dir/boot2.txt"' \
        "runs $runs, failed $fails: $(grep -E 'BBQ: fio|verify|crc' "$dir/boot2.txt" | tail -6 | tr '\n' '|')"
    check blkback_qemu_no_ioerror 'has "$dir/boot2.txt" "BBQ: ioerrors 0"' \
        "$(grep -E 'BBQ: (ioerrors|dmesg)' "$dir/boot2.txt" | tr '\n' '|')"
    echo "blkback_qemu: $kills kills in ${tk}s ($redone restarts redid requests from the region), $runs fio runs of 4x8 MiB written and verified, $((SECONDS - t0)) s in all"
}

cleanup() {
    bbq_stop
    [ -n "${BBQ_QEMU:-}" ] && kill -KILL "$BBQ_QEMU" 2>/dev/null
    return 0
}
trap 'cleanup; test_file_exit' EXIT

if [ ! -x "$BLKBACK" ]; then
    fail blkback_qemu "build $BLKBACK first"
elif ! command -v qemu-system-x86_64 >/dev/null || ! command -v busybox >/dev/null ||
    ! command -v fio >/dev/null || ! command -v mkfs.ext4 >/dev/null; then
    fail blkback_qemu "needs qemu-system-x86_64, busybox, fio and mkfs.ext4 (scripts/install-deps.sh installs them)"
elif ! debian_kernel; then
    skip blkback_qemu "could not fetch the Debian kernel package with apt-get download"
else
    bbq_case
fi
