#!/usr/bin/env bash
# Overlay benchmark (bench/README.md, "bench/blk: overlays"): xeno-blkback serving a
# copy-on-write overlay (*.ovl) whose every cluster is already the overlay's (written once
# through the image layer, so no copy-on-write happens while it is measured), driven by
# tests/tools/blk_driver as in bench/blk/run.sh: 4 KiB random reads and writes, QD 1 and 32,
# 1 queue. IOPS and the backend's CPU per request, beside the same build serving a raw image
# of the same size (every block written) on the same file system: both on O_DIRECT, so the
# raw column is what the overlay's translation and barriers cost against. With BEFORE=BINARY,
# another xeno-blkback (an older build) serves the same overlay right after; the build before
# overlays went on io_uring served them synchronously through buffered pread/pwrite, i.e. from
# the page cache once the fill has put the file there: its figures are memory, not the disk.
# Usage: bench/blk/overlay.sh   Environment: SECS (per run, 5), SIZE_MB (256), BEFORE.
set -eu
cd "$(dirname "$0")/../.."

SECS=${SECS:-5}
SIZE_MB=${SIZE_MB:-256}
BEFORE=${BEFORE:-}
make --no-print-directory build/bin/xeno-blkback build/bin/xenctl build/tests/tools/blk_driver \
    build/tests/tools/image_io >/dev/null
BB=build/bin/xeno-blkback
DRV=build/tests/tools/blk_driver
DIR=build/bench-blk-ovl
SIZE=$((SIZE_MB << 20))
rm -rf "$DIR"
mkdir -p "$DIR/images"
TMP=$(mktemp -d /tmp/xeno-blk-ovl.XXXXXX)
BE_PID=
cleanup() {
    [ -z "$BE_PID" ] || kill "$BE_PID" 2>/dev/null || true
    rm -rf "$TMP" "$DIR"
}
trap cleanup EXIT

truncate -s $SIZE "$DIR/images/base.img"
dd if=/dev/zero of="$DIR/images/raw.img" bs=1M count=$SIZE_MB oflag=direct conv=fsync status=none
build/bin/xenctl disk create bench.ovl --base base.img --image-dir "$DIR/images" >/dev/null
for ((off = 0; off < SIZE; off += 64 << 20)); do
    build/tests/tools/image_io "$DIR/images" bench.ovl fill $off $((64 << 20)) 0x5a
done

# The overlay's and base's pages out of the page cache (written back first): the fill and a
# BEFORE run leave them there, dirty, and the next O_DIRECT run would pay for writing them.
uncache() {
    for i in bench.ovl base.img; do
        sync "$DIR/images/$i"
        dd if="$DIR/images/$i" iflag=nocache count=0 status=none
    done
}
uncache

# run BINARY RW QD [IMAGE]: one measured run; prints the driver's line.
run() {
    local s=$TMP/x.sock
    rm -f "$TMP/ready" "$s"
    "$DRV" --listen "$s" --ready "$TMP/ready" --disk-size $SIZE --rw "$2" --qd "$3" --queues 1 \
        --duration "$SECS" --backend-pid-file "$TMP/be.pid" >"$TMP/drv.out" 2>&1 &
    local drv=$!
    while [ ! -e "$TMP/ready" ]; do sleep 0.02; done
    "$1" --image-dir "$DIR/images"  --disk "name=vda,socket=$s,file=${4:-bench.ovl}" 2>"$TMP/bb.log" &
    BE_PID=$!
    echo $BE_PID >"$TMP/be.pid"
    wait $drv || { cat "$TMP/drv.out" "$TMP/bb.log" >&2; exit 1; }
    kill $BE_PID
    wait $BE_PID 2>/dev/null || true
    BE_PID=
    uncache
    head -1 "$TMP/drv.out"
}
f() { sed -n "s/.*[ ^]$1=\([-0-9.]*\).*/\1/p" <<<" $2"; } # FIELD LINE

echo "bench/blk/overlay: $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) CPUs, load $(cut -d' ' -f1-3 /proc/loadavg)," \
    "overlay of ${SIZE_MB} MiB (every cluster allocated) on $(df --output=fstype "$DIR" | tail -1), ${SECS}s per run"
printf '%-6s %-4s | %10s %9s | %10s %9s | %7s | %10s %9s\n' rw qd "ovl IOPS" "ns/req" "raw IOPS" "ns/req" \
    "ovl/raw" "before" "ns/req"
for rw in read write; do
    for qd in 1 32; do
        A=$(run $BB $rw $qd)
        R=$(run $BB $rw $qd raw.img)
        bi=0 bc=0
        if [ -n "$BEFORE" ]; then
            B=$(run "$BEFORE" $rw $qd)
            bi=$(f iops "$B") bc=$(f backend_ns_per_op "$B")
        fi
        awk -v rw=$rw -v qd=$qd -v ai="$(f iops "$A")" -v ac="$(f backend_ns_per_op "$A")" \
            -v ri="$(f iops "$R")" -v rc="$(f backend_ns_per_op "$R")" -v bi="$bi" -v bc="$bc" 'BEGIN {
            printf "%-6s %-4s | %10.0f %9.0f | %10.0f %9.0f | %6.2fx | %10.0f %9.0f\n", rw, qd, ai, ac, ri, rc, ai / ri, bi, bc }'
    done
done
echo "ovl: this build on the overlay; raw: this build on the raw image; before: BEFORE on the overlay;" \
    "ns/req: the backend's CPU per completed request"
