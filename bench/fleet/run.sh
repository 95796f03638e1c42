#!/usr/bin/env bash
# bench/fleet (bench/README.md): a fresh single-member etcd on loopback (client port 23781,
# data under build/, removed after; a real disk, not a tmpfs, as etcd's fsyncs cost), then
# build/bench/fleet-bench against it.
# usage: bench/fleet/run.sh [HOSTS DOMAINS PLACERS SPONSORS]   (default 50 1000 4 20)
set -eu
cd "$(dirname "$0")/../.."
make -s build/bench/fleet-bench
DIR=$(mktemp -d "$PWD/build/fleet-bench.XXXXXX")
etcd --name b --data-dir "$DIR/etcd" --listen-client-urls http://127.0.0.1:23781 \
    --advertise-client-urls http://127.0.0.1:23781 --listen-peer-urls http://127.0.0.1:23782 \
    --initial-advertise-peer-urls http://127.0.0.1:23782 --initial-cluster b=http://127.0.0.1:23782 \
    >"$DIR/etcd.log" 2>&1 &
ETCD=$!
trap 'kill $ETCD 2>/dev/null; wait $ETCD 2>/dev/null; rm -rf "$DIR"' EXIT
for _ in $(seq 100); do
    ETCDCTL_API=3 etcdctl --endpoints http://127.0.0.1:23781 endpoint health >/dev/null 2>&1 && break
    sleep 0.1
done
echo "fleet-bench: etcd $(etcd --version | sed -n 's/^etcd Version: //p') on $(df -T "$DIR" | awk 'NR == 2 { print $2 }'), $(nproc) CPUs, $(date -u +%FT%TZ)"
build/bench/fleet-bench http://127.0.0.1:23781 "$@"
