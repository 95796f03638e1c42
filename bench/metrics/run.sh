#!/bin/bash
# GET /metrics with many domains (docs/metrics.md): time per scrape as a client sees it, and
# xenod's own CPU time per scrape, from which its share of one core at a 15 s scrape interval.
# The domains are defined, not started (no KVM needed): each has its always-present series
# (vcpus, memory, reservation, five state lines); a running domain adds CPU time and resident
# memory (two lines of nine), and one with an interface four more.
#
#   bench/metrics/run.sh [DOMAINS (1000)] [SCRAPES (200)]     XENOD=... to use another xenod
set -u
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
XENOD=${XENOD:-$ROOT/build/bin/xenod}
N=${1:-1000}
S=${2:-200}
D=$(mktemp -d /tmp/xeno-bench-metrics.XXXXXX)
XPID=
trap '[ -z "$XPID" ] || { kill "$XPID" 2>/dev/null; wait "$XPID" 2>/dev/null; }; rm -rf "$D"' EXIT
[ -x "$XENOD" ] || { echo "no $XENOD (make)" >&2; exit 1; }

"$XENOD" --state-dir "$D/state" --socket "$D/s.sock" >"$D/xenod.log" 2>&1 &
XPID=$!
for _ in $(seq 100); do
    curl -s -m 1 --unix-socket "$D/s.sock" http://x/v1/host >/dev/null 2>&1 && break
    sleep 0.1
done
printf 'not a kernel: defined domains only\n' >"$D/k.elf"
echo "defining $N domains..."
for i in $(seq "$N"); do
    xml="<domain type='kvm'><name>dom$i</name><memory unit='MiB'>64</memory><vcpu>2</vcpu><os><kernel>$D/k.elf</kernel></os><metadata><xeno:sponsor xmlns:xeno='urn:xenoserver:domain:1'>sponsor$((i % 50))</xeno:sponsor></metadata></domain>"
    printf '{"xml": "%s", "start": false}' "$xml"
done | while IFS= read -r -d '}' body; do
    curl -s -m 10 --unix-socket "$D/s.sock" -H 'Content-Type: application/json' -d "$body}" \
        -o /dev/null -w '%{http_code}\n' http://x/v1/domains
done | sort | uniq -c | sed 's/^/  define answers: /'

curl -s --unix-socket "$D/s.sock" http://x/metrics >"$D/first"
bytes=$(wc -c <"$D/first")
lines=$(grep -vc '^#' "$D/first")
tck=$(getconf CLK_TCK)
cpu() { awk '{ print $14 + $15 }' "/proc/$XPID/stat"; }
c0=$(cpu)
for _ in $(seq "$S"); do
    curl -s --unix-socket "$D/s.sock" -o /dev/null -w '%{time_total}\n' http://x/metrics
done | sort -n >"$D/times"
c1=$(cpu)
awk -v n="$N" -v s="$S" -v bytes="$bytes" -v lines="$lines" -v c0="$c0" -v c1="$c1" -v tck="$tck" '
    { t[NR] = $1 * 1000 }
    END {
        cpu_ms = (c1 - c0) * 1000 / tck / s
        printf "domains %d, scrape %d bytes, %d samples; %d scrapes\n", n, bytes, lines, s
        printf "time per scrape (client, ms): median %.2f  p90 %.2f  max %.2f\n", t[int(NR / 2) + 1], t[int(NR * 0.9) + 1], t[NR]
        printf "xenod CPU per scrape: %.2f ms (clock ticks of 1/%d s over all scrapes)\n", cpu_ms, tck
        printf "share of one core at a 15 s scrape interval: %.4f%%\n", cpu_ms / 15000 * 100
    }' "$D/times"
