#!/usr/bin/env bash
# bench/billing (bench/README.md): runs build/bench/billing-bench on a directory of the disk
# the state directory would be on (default: a fresh one under the repository's build/, not
# /tmp, which may be a tmpfs without fsync cost), then removes it.
# usage: bench/billing/run.sh [DOMAINS DAYS INTERVAL_S [POSTINGS]]   (default 1000 30 3600 2000)
set -eu
cd "$(dirname "$0")/../.."
make -s build/bench/billing-bench
DIR=$(mktemp -d "$PWD/build/billing-bench.XXXXXX")
trap 'rm -rf "$DIR"' EXIT
echo "billing-bench on $(df -T "$DIR" | awk 'NR == 2 { print $2 }') ($DIR), $(nproc) CPUs, $(date -u +%FT%TZ)"
build/bench/billing-bench "$DIR" "$@"
