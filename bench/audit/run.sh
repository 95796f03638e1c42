#!/bin/sh
# The network audit benchmark (bench/README.md): the audit engine's full pipeline on one core
# over a synthetic trace generated in memory, then nfdump's nfpcapd over the same trace as a
# pcap. PACKETS= sets the trace length (default 5000000), RUNS= the repetitions (default 5).
# The machine is shared: it prints the load before and after; rerun when it is low.
set -eu
cd "$(dirname "$0")/../.."
scripts/install-deps.sh nfdump
make -s build/bench/audit-bench
dir=$(mktemp -d /tmp/audit-bench.XXXXXX)
trap 'rm -rf "$dir"' EXIT INT TERM
echo "load before: $(cut -d' ' -f1-3 /proc/loadavg)"
build/bench/audit-bench --packets "${PACKETS:-5000000}" --runs "${RUNS:-5}" --dir "$dir" \
    --rules bench/audit/rules.conf --pcap "$dir/trace.pcap"
# The attack of issue 14 item 6: another domain's lookup with and without 2000 flows aimed at
# one slot of the flow table's old fixed hash (bench/README.md).
build/bench/audit-bench --attack "${ATTACK_FLOWS:-2000}"
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"

# nfpcapd reads the same trace (a pcap of the headers, original lengths kept) and writes
# nfdump's own flow file: its CPU time (user+sys, all its threads) and bytes per record.
echo "nfpcapd (nfdump $(nfdump -V 2>&1 | sed -n 's/.*Version: *\([^ ]*\).*/\1/p'), same trace):"
for opt in "" -y -z; do
    for run in 1 2 3; do
        rm -rf "$dir/nf" && mkdir "$dir/nf"
        /usr/bin/time -f '%U %S %e' -o "$dir/time" nfpcapd -r "$dir/trace.pcap" -w "$dir/nf" $opt >/dev/null 2>&1
        read -r user sys wall <"$dir/time"
        flows=$(nfdump -R "$dir/nf" -I | sed -n 's/^Flows: //p')
        pkts=$(nfdump -R "$dir/nf" -I | sed -n 's/^Packets: //p')
        size=$(cat "$dir"/nf/nfcapd.* | wc -c)
        awk -v u="$user" -v s="$sys" -v w="$wall" -v f="$flows" -v p="$pkts" -v b="$size" -v o="${opt:-none}" \
            'BEGIN { printf "  compression %-4s run %d: %.2f Mpps cpu (%.2f s user+sys), %.2f Mpps wall, %d records, %.1f bytes/record\n",
                     o, '"$run"', p / (u + s) / 1e6, u + s, p / w / 1e6, f, b / f }'
    done
done
