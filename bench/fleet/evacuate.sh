#!/usr/bin/env bash
# bench/fleet/evacuate.sh (bench/README.md, "bench/fleet"): the evacuation time of a host:
# a fresh single-member etcd on loopback (client 23783, peer 23784), two xenods (build/bin,
# --migrate-listen 127.0.0.1:23785/23786, state under build/), DOMAINS echo guests of 16 MiB
# placed on h1, then `xenctl --fleet drain h1 --parallel PARALLEL` timed. Needs root and KVM.
# usage: bench/fleet/evacuate.sh [DOMAINS PARALLEL]   (default 10 1)
set -eu
cd "$(dirname "$0")/../.."
N=${1:-10} P=${2:-1}
make -s build/bin/xenod build/bin/xenctl build/guest/echo.elf
DIR=$(mktemp -d "$PWD/build/fleet-evac.XXXXXX")
URL=http://127.0.0.1:23783
PIDS=
cleanup() {
    local p
    set +e # a kill of a process that is gone must not end the cleanup early
    for p in $PIDS; do kill "$p" 2>/dev/null; done
    for p in $PIDS; do wait "$p" 2>/dev/null; done
    for p in $(pgrep -f "xeno-vmm.*$DIR/" 2>/dev/null); do kill -9 "$p" 2>/dev/null; done
    rm -rf "$DIR"
}
trap cleanup EXIT
etcd --name e --data-dir "$DIR/etcd" --listen-client-urls $URL --advertise-client-urls $URL \
    --listen-peer-urls http://127.0.0.1:23784 --initial-advertise-peer-urls http://127.0.0.1:23784 \
    --initial-cluster e=http://127.0.0.1:23784 >"$DIR/etcd.log" 2>&1 &
PIDS="$PIDS $!"
for _ in $(seq 100); do
    ETCDCTL_API=3 etcdctl --endpoints $URL endpoint health >/dev/null 2>&1 && break
    sleep 0.1
done
head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$DIR/key"
chmod 600 "$DIR/key"
for h in 1 2; do
    mkdir -p "$DIR/h$h"
    build/bin/xenod --state-dir "$DIR/h$h" --socket "$DIR/h$h.sock" --no-web --fleet $URL --host-name "h$h" \
        --advertise "unix:$DIR/h$h.sock" --migrate-listen "127.0.0.1:2378$((4 + h))" --migrate-key "$DIR/key" \
        >"$DIR/h$h.log" 2>&1 &
    PIDS="$PIDS $!"
done
for _ in $(seq 100); do
    [ "$(build/bin/xenctl --fleet $URL --json hosts 2>/dev/null | jq '.hosts | length')" = 2 ] && break
    sleep 0.1
done
for i in $(seq "$N"); do
    printf '<domain type="kvm"><name>e%s</name><memory unit="MiB">16</memory><vcpu>1</vcpu><os><kernel>%s</kernel></os></domain>\n' \
        "$i" "$PWD/build/guest/echo.elf" >"$DIR/e$i.xml"
    build/bin/xenctl --fleet $URL create "$DIR/e$i.xml" >/dev/null
done
echo "fleet-evacuate: $N domains on h1, drain --parallel $P, $(nproc) CPUs, $(date -u +%FT%TZ)"
T0=$(date +%s.%N)
build/bin/xenctl --fleet $URL drain h1 --parallel "$P" | tail -1
T1=$(date +%s.%N)
awk -v a="$T0" -v b="$T1" 'BEGIN { printf "evacuation: %.2f s\n", b - a }'
