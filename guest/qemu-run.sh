#!/bin/sh
# Boots one test kernel under QEMU microvm + KVM with its console on stdio, for checking
# the kernels without xeno-vmm. Usage: guest/qemu-run.sh NAME [VCPUS] [MEMORY] [QEMU ARGS...]
# e.g. guest/qemu-run.sh smp 4 512M;  printf 'hi\nquit\n' | guest/qemu-run.sh echo
# QEMU has no ACPI sleep register at 0x600, so the kernels power off through its
# isa-debug-exit device: QEMU then exits with status 1 (reboot and triplefault: 0).
set -e
name=$1; vcpus=${2:-1}; mem=${3:-64M}
[ $# -ge 3 ] && shift 3 || shift $#
exec qemu-system-x86_64 -M microvm -accel kvm -cpu host,-arch-capabilities \
    -m "$mem" -smp "$vcpus" -display none -nodefaults -serial stdio -no-reboot \
    -device isa-debug-exit,iobase=0xf4,iosize=4 \
    -kernel "build/guest/$name.elf" "$@"
