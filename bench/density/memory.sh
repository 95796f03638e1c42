#!/usr/bin/env bash
# Host memory per idle domain, broken down (bench/README.md, "Host memory per domain"): starts
# N idle `echo` monitors (32 MiB, 1 vCPU, each with its own run directory, no xenod), then
# prints per domain: the monitors' own memory from /proc/PID/smaps_rollup and status (PSS,
# private dirty, anonymous, guest RAM, page tables), and the kernel's growth while they run:
# /proc/meminfo, the slab caches (/proc/slabinfo) and vmalloc by caller (/proc/vmallocinfo),
# the last two only as root. Host-wide figures include whatever else the host does meanwhile:
# run it on a quiet host and read the per-process figures as the exact ones.
#
# Usage: bench/density/memory.sh [N]      (default 40)
# Environment: VMM (default build/bin/xeno-vmm, the non-sanitizer monitor), MEM (32M).
set -euo pipefail
cd "$(dirname "$0")/../.."

N=${1:-40}
VMM=${VMM:-build/bin/xeno-vmm}
MEM=${MEM:-32M}
KERNEL=build/guest/echo.elf
for f in "$VMM" "$KERNEL"; do
    [ -e "$f" ] || { echo "bench/density/memory.sh: $f is missing: run make" >&2; exit 1; }
done
[ -r /dev/kvm ] && [ -w /dev/kvm ] || { echo "bench/density/memory.sh: /dev/kvm is not usable" >&2; exit 1; }

D=$(mktemp -d /tmp/xeno-memory.XXXXXX)
pids=()
cleanup() {
    [ ${#pids[@]} -eq 0 ] || kill "${pids[@]}" 2>/dev/null || true
    sleep 1
    [ ${#pids[@]} -eq 0 ] || kill -KILL "${pids[@]}" 2>/dev/null || true
    wait 2>/dev/null || true
    rm -rf "$D"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

meminfo() { awk '/^(MemAvailable|Slab|SReclaimable|SUnreclaim|KernelStack|PageTables|SecPageTables|Shmem|AnonPages|VmallocUsed):/ { print $1, $2 }' /proc/meminfo | sort; }
slabs() { [ -r /proc/slabinfo ] && awk 'NR > 2 { print $1, $3 * $4 }' /proc/slabinfo | sort || true; }
vmallocs() { # KiB of vmalloc'd pages per caller
    [ -r /proc/vmallocinfo ] || return 0
    awk '{ c = "?"; p = 0; for (i = 1; i <= NF; i++) { if ($i ~ /\+0x/) { c = $i; sub(/\+.*/, "", c) } if ($i ~ /^pages=/) p = substr($i, 7) } s[c] += p * 4 } END { for (k in s) print k, s[k] }' /proc/vmallocinfo | sort
}

meminfo >"$D/m0"; slabs >"$D/s0"; vmallocs >"$D/v0"
for i in $(seq "$N"); do
    "$VMM" --kernel "$KERNEL" --memory "$MEM" --run-dir "$D/r$i" --name "m$i" </dev/null >/dev/null 2>&1 &
    pids+=($!)
done
for i in $(seq "$N"); do
    for _ in $(seq 300); do [ -s "$D/r$i/pid" ] && break; sleep 0.1; done
    [ -s "$D/r$i/pid" ] || { echo "bench/density/memory.sh: monitor $i did not start" >&2; exit 1; }
done
sleep 3 # the guests reach their prompt and the monitors go idle
meminfo >"$D/m1"; slabs >"$D/s1"; vmallocs >"$D/v1"

echo "$N idle monitors: $VMM, echo.elf, $MEM, 1 vCPU ($(date -u '+%Y-%m-%d %H:%M UTC'), Linux $(uname -r))"
echo "== the monitors (KiB per domain, /proc/PID/smaps_rollup and status)"
for p in "${pids[@]}"; do
    cat "/proc/$p/smaps_rollup"
    awk '/^(RssAnon|RssShmem|VmPTE):/' "/proc/$p/status"
done | awk -v n="$N" '$1 ~ /^(Pss|Private_Dirty|Private_Clean|Shared_Clean|Pss_Shmem|RssAnon|RssShmem|VmPTE):$/ { s[$1] += $2 }
    END { for (k in s) printf "  %-16s %8.1f\n", k, s[k] / n }' | sort
echo "== the host (KiB per domain, growth of /proc/meminfo)"
join "$D/m0" "$D/m1" | awk -v n="$N" '{ d = ($3 - $2) / n; if ($1 == "MemAvailable:") d = -d; printf "  %-16s %8.1f%s\n", $1, d, ($1 == "MemAvailable:" ? " (drop)" : "") }'
if [ -s "$D/s1" ]; then
    echo "== slab caches that grew by more than 1 KiB per domain"
    join "$D/s0" "$D/s1" | awk -v n="$N" '{ d = ($3 - $2) / 1024 / n; t += d; if (d > 1) printf "  %-28s %7.1f\n", $1, d } END { printf "  %-28s %7.1f\n", "(all slab caches)", t }' | sort -k2 -rn
    echo "== vmalloc by caller, KiB per domain"
    join -a2 -e0 -o 0,1.2,2.2 "$D/v0" "$D/v1" | awk -v n="$N" '{ d = ($3 - $2) / n; if (d > 0.5) printf "  %-36s %7.1f\n", $1, d }' | sort -k2 -rn
fi
