#!/usr/bin/env bash
# Network backend benchmark (bench/README.md, docs/netback.md): xeno-netback alone, driven by
# tests/tools/vhost_driver (a vhost-user front end at native speed: no guest in the loop).
#   switch   two ports sending numbered UDP frames to each other as fast as they can, without
#            and with QoS configured (limits far above the rate: the cost of the QoS path),
#            and with the audit engine on (--audit-rules: flow log, rules, detectors);
#            frames/s and the backend's CPU time per frame (getrusage of the backend, from
#            its `status` reply: cpu_us);
#   limit    one port limited to out-average=N KiB/s: achieved rate vs configured (target
#            within 2%);
#   floor    two ports sending to the tap uplink (in a private network namespace) with an
#            uplink capacity; one has weight 1 and a floor, the other weight 10: the floor is
#            kept under contention (and, for reference, what the same port gets without it).
# Every run checks exactly-once delivery too (the driver fails on a lost or doubled frame).
# Usage: bench/net/run.sh     Environment: SECS (per run, default 5).
set -eu
cd "$(dirname "$0")/../.."

SECS=${SECS:-5}
make --no-print-directory build/bin/xeno-netback build/tests/tools/vhost_driver build/tests/tools/unixcat >/dev/null
NB=build/bin/xeno-netback
DRV=build/tests/tools/vhost_driver
UNIXCAT=build/tests/tools/unixcat
if [ "$(id -u)" -ne 0 ]; then
    echo "bench/net: run as root (the floor scenario creates a network namespace and a tap)" >&2
    exit 1
fi

TMP=$(mktemp -d /tmp/xeno-net-bench.XXXXXX)
NS=xnbbench$$
NB_PID=
DRV_PID=
cleanup() {
    [ -z "$NB_PID" ] || kill "$NB_PID" 2>/dev/null || true
    [ -z "$DRV_PID" ] || kill "$DRV_PID" 2>/dev/null || true
    ip netns del "$NS" 2>/dev/null || true
    rm -rf "$TMP"
}
trap cleanup EXIT

MAC_A=52:54:00:00:0b:01 IP_A=10.88.0.1
MAC_B=52:54:00:00:0b:02 IP_B=10.88.0.2

ctl() { (printf '%s\n' "$2"; sleep 0.2) | timeout 5 "$UNIXCAT" "$1/control.sock"; } # DIR REQUEST

# run NAME "BACKEND ARGS" "PORT-A SETTINGS" "PORT-B SETTINGS" DRIVER ARGS...: one measurement;
# leaves the driver's report in $TMP/NAME.drv and the backend's CPU microseconds in CPU_US.
run() {
    local name=$1 nbargs=$2 qa=$3 qb=$4
    shift 4
    local dir=$TMP/$name
    mkdir -p "$dir"
    rm -f "$TMP/$name.ready"
    "$DRV" --port "$TMP/$name.a.sock,$MAC_A,$IP_A" --port "$TMP/$name.b.sock,$MAC_B,$IP_B" \
        --ready "$TMP/$name.ready" --timeout $((SECS + 30)) "$@" >"$TMP/$name.drv" 2>&1 &
    DRV_PID=$!
    while [ ! -e "$TMP/$name.ready" ]; do sleep 0.05; done
    # shellcheck disable=SC2086
    $NB_WRAP "$NB" --state-dir "$dir" $nbargs 2>"$dir.log" &
    NB_PID=$!
    while [ ! -s "$dir/pid" ]; do sleep 0.05; done
    [ -z "${NB_SETUP:-}" ] || eval "$NB_SETUP"
    ctl "$dir" "port-add a socket=$TMP/$name.a.sock mac=$MAC_A ip=$IP_A $qa" >/dev/null
    ctl "$dir" "port-add b socket=$TMP/$name.b.sock mac=$MAC_B ip=$IP_B $qb" >/dev/null
    wait "$DRV_PID" || { echo "bench/net: $name: the driver failed:" >&2; cat "$TMP/$name.drv" >&2; exit 1; }
    DRV_PID=
    CPU_US=$(ctl "$dir" status | sed -n 's/.*cpu_us=\([0-9]*\).*/\1/p')
    kill "$NB_PID"
    wait "$NB_PID" 2>/dev/null || true
    NB_PID=
}
field() { sed -n "s/^flow $2 .* $3=\([0-9.]*\).*/\1/p" "$TMP/$1.drv"; } # NAME FLOW FIELD

# The backend runs at nice -10 (NICE=): a host service that must answer its timers on time
# on a loaded machine (a token bucket only holds milliseconds of rate).
NB_WRAP="nice -n ${NICE:--10}"
# audit: the audit engine in the datapath (docs/audit.md): every frame goes through it twice
# (the sender's flow out, the receiver's flow in), flow log in the state directory, 3 rules.
printf '%s\n' 'limit tcp dport 25 new 1/10s per sponsor' 'deny tcp dport 23' \
    'limit udp new 100/s per domain action throttle' >"$TMP/audit.rules"
echo "== switch: two ports, both directions, ${SECS}s per run, frames of 66 and 1514 bytes"
printf '%-34s %12s %12s %14s\n' scenario frames/s Mbit/s "CPU ns/frame"
for size in 66 1514; do
    for q in none idle audit; do
        qos="" nbargs=""
        [ $q != idle ] || qos="out-average=4000000000 in-average=4000000000 weight=2"
        [ $q != audit ] || nbargs="--audit-rules $TMP/audit.rules"
        [ $q != audit ] || qos="domain=bench sponsor=bench"
        run "sw$size$q" "$nbargs" "$qos" "$qos" --send 0,1,0 --send 1,0,0 --size $size --duration "$SECS"
        f1=$(field "sw$size$q" '0->1' frames_per_s) f2=$(field "sw$size$q" '1->0' frames_per_s)
        b1=$(field "sw$size$q" '0->1' bytes_per_s) b2=$(field "sw$size$q" '1->0' bytes_per_s)
        r1=$(field "sw$size$q" '0->1' received) r2=$(field "sw$size$q" '1->0' received)
        label="QoS $q"
        [ $q != audit ] || label="no QoS, audit on"
        awk -v n="switch ${size}B, $label" -v f="$f1 + $f2" -v a="$f1" -v b="$f2" -v x="$b1" -v y="$b2" \
            -v c="$CPU_US" -v r1="$r1" -v r2="$r2" 'BEGIN {
            printf "%-34s %12.0f %12.1f %14.0f\n", n, a + b, (x + y) * 8 / 1e6, c * 1000 / (r1 + r2) }'
    done
done

echo "== limit: port a out-average=N KiB/s, 1000-byte frames, ${SECS}s"
printf '%-34s %14s %14s %9s\n' scenario "configured B/s" "achieved B/s" error
for kib in 2000 20000 100000; do
    run "lim$kib" "" "out-average=$kib" "" --send 0,1,0 --size 1000 --duration "$SECS"
    got=$(field "lim$kib" '0->1' bytes_per_s)
    awk -v n="limit $kib KiB/s" -v c=$((kib * 1024)) -v g="$got" 'BEGIN {
        e = (g - c) * 100 / c; printf "%-34s %14d %14.0f %8.2f%%%s\n", n, c, g, e, (e < -2 || e > 2) ? "  OUT OF 2%" : "" }'
done

echo "== floor: both ports to the tap uplink (capacity 20000 KiB/s), 1000-byte frames, ${SECS}s"
ip netns add "$NS"
NB_WRAP="ip netns exec $NS nice -n ${NICE:--10}"
NB_SETUP='ip netns exec $NS ip link set xnbup0 up'
printf '%-44s %14s %14s\n' scenario "a B/s" "b B/s"
for f in 0 5000; do
    qa="weight=1 out-average=20000"
    [ $f = 0 ] || qa="$qa floor=$f"
    run "floor$f" "--uplink-tap xnbup0 --uplink-capacity 20000" "$qa" "weight=10" \
        --send 0,uplink,0 --send 1,uplink,0 --size 1000 --duration "$SECS"
    a=$(field "floor$f" '0->uplink' bytes_per_s) b=$(field "floor$f" '1->uplink' bytes_per_s)
    awk -v n="a weight 1 floor $f KiB/s, b weight 10" -v a="$a" -v b="$b" -v fl=$((f * 1024)) 'BEGIN {
        printf "%-44s %14.0f %14.0f%s\n", n, a, b, (fl && a < fl * 0.98) ? "  FLOOR MISSED" : "" }'
done
