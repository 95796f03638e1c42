#!/usr/bin/env bash
# Disk backend benchmark (bench/README.md, "bench/blk: xeno-blkback beside QEMU's export and
# raw io_uring"), in one run and on one image file on the disk under build/ (not tmpfs):
#   xeno-blkback   driven by tests/tools/blk_driver (a native vhost-user-blk front end: memfd
#                  guest memory, 1 or 4 queues, QD requests in flight per queue), sandboxed
#                  as in production;
#   qemu-storage-daemon --export vhost-user-blk on the same file (aio=io_uring,
#                  cache.direct=on: what xeno-blkback does), driven by the same driver;
#   fio            ioengine=io_uring, direct=1 on the file itself: the limit (no vhost-user,
#                  no guest memory, no virtqueue), numjobs = queues, iodepth = QD.
# 4 KiB random reads and writes, QD 1 and 32, 1 and 4 queues. IOPS, and CPU per request: the
# backend process's utime + stime (/proc/PID/stat, every thread) over the measured window
# divided by the requests completed in it (fio: its own usr + sys CPU). The driver's own CPU
# is printed apart (it is the "guest").
# Usage: bench/blk/run.sh     Environment: SECS (per run, default 5), SIZE_MB (image, 1024);
# RWS, QDS, QUEUES (the rows: default "read write", "1 32", "1 4"); BB, DRV (other binaries,
# e.g. an older build to compare with); BB_ARGS (more xeno-blkback options, e.g. --poll-us 0),
# DRV_ARGS (more driver options, e.g. --event-idx 0: for both backends).
set -eu
cd "$(dirname "$0")/../.."

SECS=${SECS:-5}
SIZE_MB=${SIZE_MB:-1024}
make --no-print-directory build/bin/xeno-blkback build/tests/tools/blk_driver >/dev/null
BB=${BB:-build/bin/xeno-blkback}
DRV=${DRV:-build/tests/tools/blk_driver}
for p in qemu-storage-daemon fio; do
    command -v $p >/dev/null || {
        echo "bench/blk: needs $p (scripts/install-deps.sh)" >&2
        exit 1
    }
done

# The image on build/'s file system (a real disk here; tmpfs would measure memory copies).
DIR=build/bench-blk
IMG=$DIR/images/bench.img
mkdir -p "$DIR/images"
if [ "$(stat -c %s "$IMG" 2>/dev/null || echo 0)" -ne $((SIZE_MB << 20)) ]; then
    echo "bench/blk: writing a ${SIZE_MB} MiB image (every block allocated, not sparse)"
    rm -f "$IMG"
    fio --name=fill --filename="$IMG" --rw=write --bs=1M --size=${SIZE_MB}M --ioengine=psync \
        --direct=1 --refill_buffers >/dev/null
fi
SIZE=$((SIZE_MB << 20))
TMP=$(mktemp -d /tmp/xeno-blk-bench.XXXXXX)
BE_PID=
cleanup() {
    [ -z "$BE_PID" ] || kill "$BE_PID" 2>/dev/null || true
    rm -rf "$TMP"
}
trap cleanup EXIT

# xeno RW QD QUEUES: xeno-blkback connects to the driver's socket. Prints the driver's line.
xeno() {
    local s=$TMP/x.sock
    rm -f "$TMP/ready" "$s"
    # shellcheck disable=SC2086 # BB_ARGS and DRV_ARGS are lists of options
    "$DRV" --listen "$s" --ready "$TMP/ready" --disk-size $SIZE --rw "$1" --qd "$2" --queues "$3" ${DRV_ARGS:-} \
        --duration "$SECS" --backend-pid-file "$TMP/be.pid" >"$TMP/drv.out" 2>&1 &
    local drv=$!
    while [ ! -e "$TMP/ready" ]; do sleep 0.02; done
    # shellcheck disable=SC2086
    "$BB" --image-dir "$DIR/images" --disk "name=vda,socket=$s,file=bench.img,queues=$3" ${BB_ARGS:-} 2>"$TMP/bb.log" &
    BE_PID=$!
    echo $BE_PID >"$TMP/be.pid"
    wait $drv || { cat "$TMP/drv.out" "$TMP/bb.log" >&2; exit 1; }
    kill $BE_PID
    wait $BE_PID 2>/dev/null || true
    BE_PID=
    head -1 "$TMP/drv.out"
}
# qsd RW QD QUEUES: qemu-storage-daemon listens, the driver connects.
qsd() {
    local s=$TMP/q.sock
    rm -f "$s"
    qemu-storage-daemon --blockdev driver=file,node-name=f0,filename="$IMG",cache.direct=on,aio=io_uring \
        --export type=vhost-user-blk,id=e0,node-name=f0,addr.type=unix,addr.path="$s",writable=on,num-queues="$3" \
        >"$TMP/qsd.log" 2>&1 &
    BE_PID=$!
    # shellcheck disable=SC2086
    "$DRV" --connect "$s" --disk-size $SIZE --rw "$1" --qd "$2" --queues "$3" --duration "$SECS" ${DRV_ARGS:-} \
        --backend-pid $BE_PID >"$TMP/drv.out" 2>&1 || { cat "$TMP/drv.out" "$TMP/qsd.log" >&2; exit 1; }
    kill $BE_PID
    wait $BE_PID 2>/dev/null || true
    BE_PID=
    head -1 "$TMP/drv.out"
}
# rawfio RW QD JOBS: fio on the file, io_uring, O_DIRECT; prints the same fields.
rawfio() {
    local rw=rand$1
    fio --name=raw --filename="$IMG" --ioengine=io_uring --direct=1 --rw=$rw --bs=4k --iodepth="$2" \
        --numjobs="$3" --group_reporting --time_based --runtime="$SECS" --ramp_time=1 --size=${SIZE_MB}M \
        --output-format=json >"$TMP/fio.json"
    python3 - "$TMP/fio.json" "$1" "$3" <<'PY'
import json, sys
j = json.load(open(sys.argv[1]))["jobs"][0]
d = j["read" if sys.argv[2] == "read" else "write"]
secs = j["job_runtime"] / 1000.0  # summed over the group's jobs
cpu = (j["usr_cpu"] + j["sys_cpu"]) / 100.0 * secs  # the group's CPU seconds (fio: % of runtime)
secs /= int(sys.argv[3])
ops = d["total_ios"]
print(f"ops={ops} seconds={secs:.3f} iops={d['iops']:.0f} errors={j['error']} backend_cpu_s={cpu:.3f} "
      f"backend_ns_per_op={cpu * 1e9 / max(ops, 1):.0f} driver_ns_per_op=0")
PY
}
f() { sed -n "s/.*[ ^]$1=\([-0-9.]*\).*/\1/p" <<<" $2"; } # FIELD LINE

echo "bench/blk: $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) CPUs, load $(cut -d' ' -f1-3 /proc/loadavg)," \
    "image $IMG (${SIZE_MB} MiB on $(df --output=fstype "$DIR" | tail -1)), ${SECS}s per run after 1s warm-up"
printf '%-8s %-5s %4s %6s | %10s %9s %7s | %10s %9s %7s | %10s %9s | %8s %8s\n' rw qd queues "" \
    "xeno IOPS" "ns/req" "drv ns" "qsd IOPS" "ns/req" "drv ns" "fio IOPS" "ns/req" "x/qsd" "x/fio"
for rw in ${RWS:-read write}; do
    for qd in ${QDS:-1 32}; do
        for q in ${QUEUES:-1 4}; do
            X=$(xeno $rw $qd $q)
            Q=$(qsd $rw $qd $q)
            R=$(rawfio $rw $qd $q)
            awk -v rw=$rw -v qd=$qd -v q=$q \
                -v xi="$(f iops "$X")" -v xc="$(f backend_ns_per_op "$X")" -v xd="$(f driver_ns_per_op "$X")" \
                -v qi="$(f iops "$Q")" -v qc="$(f backend_ns_per_op "$Q")" -v qdd="$(f driver_ns_per_op "$Q")" \
                -v ri="$(f iops "$R")" -v rc="$(f backend_ns_per_op "$R")" 'BEGIN {
                printf "%-8s %-5s %4s %6s | %10.0f %9.0f %7.0f | %10.0f %9.0f %7.0f | %10.0f %9.0f | %7.2fx %7.2fx\n",
                    rw, qd, q, "", xi, xc, xd, qi, qc, qdd, ri, rc, xi / qi, xi / ri }'
        done
    done
done
echo "ns/req: the backend's CPU (fio: its own) per completed request; drv ns: the driver's CPU per request"
