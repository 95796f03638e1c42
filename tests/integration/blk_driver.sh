# tests/tools/blk_driver, the native vhost-user-blk front end of bench/blk, against the two
# backends it benchmarks: xeno-blkback (sandboxed; it connects to the driver) with 1 and 4
# queues, and qemu-storage-daemon's vhost-user-blk export (the driver connects). Each run is
# short (1 s): it checks that every request completes with status OK and that the backend's
# own counters saw at least the requests the driver counted, not the speed (bench/blk/run.sh).
# Both backends offer the event index and the driver takes it (as a Linux guest does); one
# more run against xeno-blkback declines it (the VRING_USED_F_NO_NOTIFY / NO_INTERRUPT flags)
# with the backend's busy polling on (--poll-us), the paths a monitor's guest takes. Two more
# run the submission batch's extremes (--submit-batch 1: a system call per request; 256: one
# per turn, as before batches of 4), and an out-of-range batch is refused.

BLKBACK=${BLKBACK:-$BUILD_DIR/bin/xeno-blkback}
DRV=${DRV:-$BUILD_DIR/tests/tools/blk_driver}
BD_PID=
bd_cleanup() {
    [ -z "$BD_PID" ] || kill -KILL "$BD_PID" 2>/dev/null
    return 0
}
trap 'bd_cleanup; test_file_exit' EXIT

mkdir -p "$TMP/images"
truncate -s 64M "$TMP/images/d.img"

# bd_xeno NAME RW QUEUES EVENT_IDX [BACKEND OPTIONS]: the driver listens, xeno-blkback connects;
# EVENT_IDX is what the driver must have negotiated (it asks for it when 1).
bd_xeno() {
    local name=$1 ev=$4
    rm -f "$TMP/$name.ready"
    timeout -k 5 60 "$DRV" --listen "$TMP/$name.sock" --ready "$TMP/$name.ready" --disk-size $((64 << 20)) \
        --rw "$2" --qd 8 --queues "$3" --duration 1 --warmup 0.2 --timeout 20 --event-idx "$ev" \
        --backend-pid-file "$TMP/$name.pid" --idle 1 >"$TMP/$name.out" 2>&1 &
    local drv=$!
    wait_until 10 test -e "$TMP/$name.ready"
    ASAN_OPTIONS=${ASAN_OPTIONS:-}:detect_leaks=0 "$BLKBACK" --image-dir "$TMP/images" \
        --disk "name=vda,socket=$TMP/$name.sock,file=d.img,queues=$3" "${@:5}" >"$TMP/$name.bb.log" 2>&1 &
    BD_PID=$!
    echo "$BD_PID" >"$TMP/$name.pid"
    wait $drv
    RC=$?
    kill -TERM "$BD_PID" 2>/dev/null
    wait_until 10 gone "$BD_PID" || kill -KILL "$BD_PID" 2>/dev/null
    wait "$BD_PID" 2>/dev/null
    BD_PID=
    local ops served
    ops=$(sed -n 's/^ops=\([0-9]*\) .*/\1/p' "$TMP/$name.out")
    [ "$2" = read ] && served=$(sed -n 's/.*stats disk=vda .* reads=\([0-9]*\) .*/\1/p' "$TMP/$name.bb.log" | tail -1)
    [ "$2" = write ] && served=$(sed -n 's/.*stats disk=vda .* writes=\([0-9]*\) .*/\1/p' "$TMP/$name.bb.log" | tail -1)
    check "$name" '[ $RC -eq 0 ] && has "$TMP/$name.out" "result ok" && has "$TMP/$name.out" " event_idx=$ev " &&
        [ "${ops:-0}" -gt 0 ] && [ "${served:-0}" -ge "$ops" ]' \
        "driver rc $RC: $(log_tail "$TMP/$name.out") backend: $(log_tail "$TMP/$name.bb.log")"
    # Idle for 1 s with the rings up: the backend sleeps (no busy polling without work). Its
    # CPU over that second is counted in clock ticks (10 ms): 0.05 s is five of them, room for
    # the loop's 1 s poll timeout and the ticks a busy host misattributes; a poller spins 1 s.
    local idle
    idle=$(sed -n 's/^idle_seconds=[0-9.]* idle_backend_cpu_s=\([0-9.]*\)$/\1/p' "$TMP/$name.out")
    check "${name}_idle" '[ -n "$idle" ] && awk -v c="$idle" "BEGIN { exit !(c < 0.05) }"' \
        "idle backend CPU '$idle' s over 1 s: $(log_tail "$TMP/$name.out")"
}

if [ ! -x "$BLKBACK" ] || [ ! -x "$DRV" ]; then
    fail blk_driver "build $BLKBACK and $DRV first"
else
    bd_xeno blk_driver_xeno_read_1q read 1 1
    bd_xeno blk_driver_xeno_write_4q write 4 1
    bd_xeno blk_driver_xeno_flags_poll_1q write 1 0 --poll-us 50
    bd_xeno blk_driver_xeno_submit_each_4q read 4 1 --submit-batch 1
    bd_xeno blk_driver_xeno_submit_turn_1q write 1 1 --submit-batch 256
    out=$("$BLKBACK" --image-dir "$TMP/images" --submit-batch 0 2>&1)
    RC=$?
    check blk_driver_xeno_submit_batch_range '[ $RC -eq 2 ] && [ "$out" = "xeno-blkback: --submit-batch '"'"'0'"'"' (1..256)" ]' \
        "rc $RC: $out"
    if ! command -v qemu-storage-daemon >/dev/null; then
        fail blk_driver_qsd "needs qemu-storage-daemon (scripts/install-deps.sh installs qemu-system-common)"
    else
        qemu-storage-daemon --blockdev driver=file,node-name=f0,filename="$TMP/images/d.img" \
            --export type=vhost-user-blk,id=e0,node-name=f0,addr.type=unix,addr.path="$TMP/q.sock",writable=on,num-queues=4 \
            >"$TMP/qsd.log" 2>&1 &
        BD_PID=$!
        timeout -k 5 60 "$DRV" --connect "$TMP/q.sock" --disk-size $((64 << 20)) --rw write --qd 8 --queues 4 \
            --duration 1 --warmup 0.2 --timeout 20 --backend-pid $BD_PID >"$TMP/qsd.out" 2>&1
        RC=$?
        kill -TERM "$BD_PID" 2>/dev/null
        wait "$BD_PID" 2>/dev/null
        BD_PID=
        check blk_driver_qsd '[ $RC -eq 0 ] && has "$TMP/qsd.out" "result ok" && has "$TMP/qsd.out" " event_idx=1 "' \
            "driver rc $RC: $(log_tail "$TMP/qsd.out") qsd: $(log_tail "$TMP/qsd.log")"
    fi
fi
