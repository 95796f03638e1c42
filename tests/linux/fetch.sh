#!/usr/bin/env bash
# Builds the stock-Linux test guest into DIR (default build/linux): a Debian cloud kernel
# (vmlinuz) and an initramfs (initrd.gz) holding busybox, the virtio-net modules and
# tests/linux/init. The packages come from Debian with `apt-get download` and are unpacked
# with `dpkg-deb -x`: nothing is installed on the host. Idempotent: reuses what is there.
# Prints nothing on success; on failure one line saying what is missing, exit 1.
set -euo pipefail
DIR=${1:-build/linux}
HERE=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$DIR/debs"
DIR=$(cd "$DIR" && pwd)
[ -s "$DIR/vmlinuz" ] && [ -s "$DIR/initrd.gz" ] && [ "$DIR/initrd.gz" -nt "$HERE/init" ] && [ "$DIR/initrd.gz" -nt "$HERE/fetch.sh" ] && exit 0

cd "$DIR/debs"
# The kernel the metapackage points at today (the newest security update).
kpkg=$(apt-cache depends linux-image-cloud-amd64 2>/dev/null | awk '/Depends: linux-image-[0-9]/ { print $2; exit }')
if [ -z "$kpkg" ]; then
    echo "linux guest: apt-cache knows no linux-image-cloud-amd64 (run apt-get update)" >&2
    exit 1
fi
for p in "$kpkg" busybox-static; do
    ls ./"$p"_*.deb >/dev/null 2>&1 || apt-get download -q "$p" >/dev/null 2>&1 ||
        { echo "linux guest: apt-get download $p failed" >&2; exit 1; }
done
rm -rf "$DIR/x" "$DIR/root" "$DIR/initrd.gz"
for d in ./"$kpkg"_*.deb ./busybox-static_*.deb; do dpkg-deb -x "$d" "$DIR/x"; done
kver=${kpkg#linux-image-}
cp "$DIR/x/boot/vmlinuz-$kver" "$DIR/vmlinuz"

# The initramfs: busybox and its applets, the modules virtio-net needs (in load order: each
# after what its `depends=` names), /init.
R=$DIR/root
mkdir -p "$R"/{bin,dev,proc,sys,tmp,etc,lib/modules}
cp "$DIR/x/bin/busybox" "$R/bin/busybox"
for a in sh ip udhcpc wget nc insmod mount poweroff cat echo sleep ifconfig route seq printf grep sed hostname timeout; do
    ln -sf busybox "$R/bin/$a"
done
K=$DIR/x/lib/modules/$kver/kernel
for m in drivers/virtio/virtio_ring.ko drivers/virtio/virtio.ko drivers/virtio/virtio_pci_modern_dev.ko \
    drivers/virtio/virtio_pci_legacy_dev.ko drivers/virtio/virtio_pci.ko net/core/failover.ko \
    drivers/net/net_failover.ko drivers/net/virtio_net.ko; do
    f=$K/$m
    [ -f "$f" ] || { [ -f "$f.xz" ] && xz -dc "$f.xz" >"$f"; } || { echo "linux guest: $m missing in $kpkg" >&2; exit 1; }
    cp "$f" "$R/lib/modules/"
    basename "$m" >>"$R/lib/modules/order"
done
cp "$HERE/init" "$R/init"
cp "$HERE/udhcpc.script" "$R/etc/udhcpc.script"
chmod +x "$R/init" "$R/etc/udhcpc.script"
(cd "$R" && find . | "$DIR/x/bin/busybox" cpio -o -H newc 2>/dev/null | gzip -1) >"$DIR/initrd.gz.tmp"
mv "$DIR/initrd.gz.tmp" "$DIR/initrd.gz"
rm -rf "$DIR/x"
