#!/bin/sh
# Boot benchmark: xeno-vmm against QEMU microvm, same PVH kernel, same RAM, one vCPU.
# Usage: bench/boot/run.sh [boot-bench options, e.g. -n 50 --json build/bench/boot.json]
# Environment: KERNEL (default build/guest/hello.elf), MEMORY (default 64M).
# See bench/README.md for what is measured.
set -eu
cd "$(dirname "$0")/../.."

KERNEL=${KERNEL:-build/guest/hello.elf}
MEMORY=${MEMORY:-64M}

scripts/install-deps.sh qemu-system-x86
make --no-print-directory programs guests bench-programs

for f in build/bin/xeno-vmm "$KERNEL" build/bench/boot-bench; do
    [ -e "$f" ] || { echo "bench/boot: $f was not built" >&2; exit 1; }
done
if [ ! -r /dev/kvm ] || [ ! -w /dev/kvm ]; then
    echo "bench/boot: /dev/kvm is missing or not accessible" >&2
    exit 1
fi
QEMU=$(command -v qemu-system-x86_64) || { echo "bench/boot: qemu-system-x86_64 not found" >&2; exit 1; }

# Both monitors boot one snapshot of the kernel, so a rebuild during the runs changes nothing.
SNAP=build/bench/boot-kernel.elf
cp "$KERNEL" "$SNAP.tmp" && mv "$SNAP.tmp" "$SNAP"

echo "date:   $(date -u '+%Y-%m-%d %H:%M UTC')"
echo "host:   $(grep -m1 '^model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//'), $(nproc) CPUs, Linux $(uname -r)"
echo "qemu:   $("$QEMU" --version | head -1)"
echo "kernel: $KERNEL ($(stat -c %s "$SNAP") bytes, sha256 $(sha256sum "$SNAP" | cut -c1-12)), memory $MEMORY, 1 vCPU"
echo

# QEMU: microvm with its defaults (qboot firmware, ISA serial, ACPI), no default devices, no
# display, no network; guest RAM in a memfd like ours; isa-debug-exit so the test kernel
# can end the run (QEMU then exits with status (value << 1) | 1, hence -s any).
# -cpu host,-arch-capabilities: the host's CPU model without the one MSR feature KVM here
# refuses to expose.
exec build/bench/boot-bench "$@" \
    xeno-vmm -- build/bin/xeno-vmm --kernel "$SNAP" --memory "$MEMORY" --vcpus 1 \
    ::: -s any qemu-microvm -- "$QEMU" \
        -M microvm,memory-backend=mem -object memory-backend-memfd,id=mem,size="$MEMORY" \
        -accel kvm -cpu host,-arch-capabilities -m "$MEMORY" -smp 1 \
        -display none -nodefaults -no-user-config -serial stdio -no-reboot \
        -device isa-debug-exit,iobase=0xf4,iosize=4 \
        -kernel "$SNAP"
