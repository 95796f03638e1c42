#!/bin/sh
# Snapshot benchmark: save time, file size and restore-to-running time (lazy and eager) of
# xeno-vmm for 256 MiB and 1 GiB guests with 10% of RAM touched, beside QEMU's
# migrate-to-file of the same guest. Usage: bench/snapshot/run.sh [snapshot_bench.py
# options, e.g. --runs 10 --sizes 256M --json build/bench/snapshot.json --no-qemu].
# See bench/README.md for what is measured and the figures.
set -eu
cd "$(dirname "$0")/../.."

scripts/install-deps.sh qemu-system-x86
make --no-print-directory programs guests

for f in build/bin/xeno-vmm build/guest/memfill.elf; do
    [ -e "$f" ] || { echo "bench/snapshot: $f was not built" >&2; exit 1; }
done
if [ ! -r /dev/kvm ] || [ ! -w /dev/kvm ]; then
    echo "bench/snapshot: /dev/kvm is missing or not accessible" >&2
    exit 1
fi
command -v python3 >/dev/null || { echo "bench/snapshot: python3 is needed" >&2; exit 1; }

echo "date:   $(date -u '+%Y-%m-%d %H:%M UTC')"
echo "host:   $(grep -m1 '^model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//'), $(nproc) CPUs, Linux $(uname -r)"
echo "qemu:   $(qemu-system-x86_64 --version | head -1)"
exec python3 bench/snapshot/snapshot_bench.py "$@"
