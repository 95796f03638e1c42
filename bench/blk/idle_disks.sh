#!/usr/bin/env bash
# What idle disks cost the busy one (bench/README.md, "bench/blk/idle_disks.sh"): one
# xeno-blkback serving one disk driven at QD requests in flight by tests/tools/blk_driver, beside
# N other disks whose front ends (blk_driver instances too) are connected, their rings started,
# and idle. Prints, for each N, the busy disk's IOPS and the backend's CPU per request
# (utime + stime of every thread over the measured window): what the backend's loop spends per
# turn on disks that have nothing to do shows up there.
# Usage: bench/blk/idle_disks.sh   Environment: IDLE (the Ns, default "0 31"), SECS (per run,
# default 3), RW (read|write, default read), QD (default 32), ROUNDS (default 3: each N in turn,
# ROUNDS times), BB, DRV (other binaries, e.g. an older build to compare with).
set -eu
cd "$(dirname "$0")/../.."

SECS=${SECS:-3}
RW=${RW:-read}
QD=${QD:-32}
make --no-print-directory build/bin/xeno-blkback build/tests/tools/blk_driver >/dev/null
BB=${BB:-build/bin/xeno-blkback}
DRV=${DRV:-build/tests/tools/blk_driver}

# The busy disk's image on build/'s file system (a real disk, every block allocated); the idle
# disks' images are small and sparse: nothing reads them.
DIR=build/bench-blk
SIZE_MB=256
IMG=$DIR/images/idle-bench.img
mkdir -p "$DIR/images"
if [ "$(stat -c %s "$IMG" 2>/dev/null || echo 0)" -ne $((SIZE_MB << 20)) ]; then
    dd if=/dev/urandom of="$IMG" bs=1M count=$SIZE_MB oflag=direct status=none
fi
TMP=$(mktemp -d /tmp/xeno-blk-idle.XXXXXX)
PIDS=
cleanup() {
    # shellcheck disable=SC2086
    [ -z "$PIDS" ] || kill $PIDS 2>/dev/null || true
    wait 2>/dev/null || true
    rm -rf "$TMP" "$DIR"/images/idle-*.raw
}
trap cleanup EXIT

# run N: prints the busy driver's line.
run() {
    local n=$1 args=() i
    rm -f "$TMP"/*.sock "$TMP"/ready* "$TMP/be.pid"
    for ((i = 1; i <= n; i++)); do
        [ -e "$DIR/images/idle-$i.raw" ] || truncate -s 16M "$DIR/images/idle-$i.raw"
        "$DRV" --listen "$TMP/i$i.sock" --ready "$TMP/ready$i" --disk-size $((16 << 20)) --rw read --qd 1 \
            --warmup 0 --duration 0.1 --idle 3600 --backend-pid-file "$TMP/be.pid" >"$TMP/idle$i.out" 2>&1 &
        PIDS="$PIDS $!"
        args+=(--disk "name=idle$i,socket=$TMP/i$i.sock,file=idle-$i.raw")
    done
    "$DRV" --listen "$TMP/busy.sock" --ready "$TMP/ready0" --disk-size $((SIZE_MB << 20)) --rw "$RW" --qd "$QD" \
        --duration "$SECS" --warmup 2 --backend-pid-file "$TMP/be.pid" >"$TMP/busy.out" 2>&1 &
    local busy=$!
    for ((i = 0; i <= n; i++)); do
        while [ ! -e "$TMP/ready$i" ]; do sleep 0.02; done
    done
    "$BB" --image-dir "$DIR/images" --disk "name=busy,socket=$TMP/busy.sock,file=idle-bench.img" "${args[@]}" \
        2>"$TMP/bb.log" &
    local be=$!
    echo $be >"$TMP/be.pid"
    wait $busy || { cat "$TMP/busy.out" "$TMP/bb.log" >&2; exit 1; }
    kill $be
    wait $be 2>/dev/null || true
    # shellcheck disable=SC2086
    kill $PIDS 2>/dev/null || true
    wait 2>/dev/null || true
    PIDS=
    head -1 "$TMP/busy.out"
}
f() { sed -n "s/.*[ ^]$1=\([-0-9.]*\).*/\1/p" <<<" $2"; } # FIELD LINE

echo "bench/blk/idle_disks: $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) CPUs, load $(cut -d' ' -f1-3 /proc/loadavg)," \
    "$RW QD $QD on ${SIZE_MB} MiB, ${SECS}s per run after 2s warm-up"
printf '%-6s %-6s | %10s %9s\n' idle round "IOPS" "ns/req"
for ((r = 1; r <= ${ROUNDS:-3}; r++)); do
    for n in ${IDLE:-0 31}; do
        X=$(run "$n")
        printf '%-6s %-6s | %10.0f %9.0f\n' "$n" "$r" "$(f iops "$X")" "$(f backend_ns_per_op "$X")"
    done
done
echo "ns/req: the backend's CPU per request of the busy disk"
