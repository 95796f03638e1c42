# xeno-blkback's disk QoS outside a guest (docs/blkback.md, "Scheduler"): --calibrate measures
# the device under the image directory and stores the capacity record in the state directory
# (never through a planted link); the backend refuses a reservation that does not fit, with
# the reason, and one without a calibration; QoS words are checked with clear errors; the
# stats page appears in the state directory with its heartbeat. No KVM needed: the backend
# waits for monitors that never come.

BLKBACK=${BLKBACK:-$BUILD_DIR/bin/xeno-blkback}
BB_PID=
cleanup() {
    [ -n "$BB_PID" ] && kill -KILL "$BB_PID" 2>/dev/null
    return 0
}
trap 'cleanup; test_file_exit' EXIT
mkdir -p "$TMP/images" "$TMP/state" "$TMP/nocal"
truncate -s 1M "$TMP/images/a.img" "$TMP/images/b.img"
export ASAN_OPTIONS=${ASAN_OPTIONS:-}:detect_leaks=0 # LeakSanitizer cannot work in the sandbox

# ---- --calibrate: a record, the scratch file gone, planted links never followed --------------
ln -s "$TMP/victim" "$TMP/state/capacity.tmp"
run_cmd blk-calibrate-tmp-link "$BLKBACK" --image-dir "$TMP/images" --calibrate --state-dir "$TMP/state" \
    --calibrate-ms 100
expect blk-calibrate-tmp-link 1 "capacity.tmp: File exists"
check blk-calibrate-tmp-link-victim '[ ! -e "$TMP/victim" ] && [ ! -e "$TMP/state/capacity" ]'
rm -f "$TMP/state/capacity.tmp"
ln -s "$TMP/victim" "$TMP/state/capacity" # replaced by the rename, not written through
run_cmd blk-calibrate "$BLKBACK" --image-dir "$TMP/images" --calibrate --state-dir "$TMP/state" --calibrate-ms 300
expect blk-calibrate 0 "iops=[1-9][0-9]* bytes_per_sec=[1-9][0-9]* ref_bytes=[0-9]+ units_per_sec=[1-9]"
check blk-calibrate-record 'grep -Eq "^iops=[1-9][0-9]* bytes_per_sec=[1-9][0-9]* headroom_ppm=100000$" \
    "$TMP/state/capacity" && [ ! -L "$TMP/state/capacity" ] && [ ! -e "$TMP/images/.xeno-calibrate.tmp" ] &&
    [ ! -e "$TMP/victim" ]' \
    "record: $(cat "$TMP/state/capacity" 2>/dev/null); victim: $(ls "$TMP/victim" 2>&1)"
reservable=$(sed -n 's/.*reservable=\([0-9]*\).*/\1/p' "$TMP/blk-calibrate.out")

# ---- admission: too much refused with the reason; none without a calibration ----------------
half=$((reservable / 2 + 1))
run_cmd blk-admit-over "$BLKBACK" --image-dir "$TMP/images" --no-sandbox --state-dir "$TMP/state" \
    --disk "name=a,socket=$TMP/a.sock,file=a.img,reservation=$half" \
    --disk "name=b,socket=$TMP/b.sock,file=b.img,reservation=$half"
expect blk-admit-over 1 "disk b asks for a reservation of $half units/s, but only [0-9]+ .* are free: disks hold $half \(a $half\)"
run_cmd blk-admit-nocal "$BLKBACK" --image-dir "$TMP/images" --no-sandbox --state-dir "$TMP/nocal" --disk "name=a,socket=$TMP/a.sock,file=a.img,reservation=10"
expect blk-admit-nocal 1 "never measured; run xeno-blkback --calibrate"
run_cmd blk-qos-words "$BLKBACK" --image-dir "$TMP/images" --disk "name=a,socket=$TMP/a.sock,file=a.img,total_iops_sec=100,read_iops_sec=10"
expect blk-qos-words 2 "total_iops_sec cannot be combined with read_iops_sec"
run_cmd blk-qos-weight "$BLKBACK" --image-dir "$TMP/images" --disk "name=a,socket=$TMP/a.sock,file=a.img,weight=0"
expect blk-qos-weight 2 "weight '0' \(1..10000\)"

# ---- two disks that fit, sandboxed; the stats page and its heartbeat --------------------------
quarter=$((reservable / 4))
"$BLKBACK" --image-dir "$TMP/images" --state-dir "$TMP/state" --disk "name=a,socket=$TMP/a.sock,file=a.img,reservation=$quarter,weight=300" \
    --disk "name=b,socket=$TMP/b.sock,file=b.img,group=g1,total_iops_sec=500,sponsor=alice" >"$TMP/serve.log" 2>&1 &
BB_PID=$!
page() { # prints "magic ndisks heartbeat name0 reservation0 weight0 name1 group1 sponsor1"
    python3 - "$TMP/state/stats" <<'PY'
import struct, sys
d = open(sys.argv[1], 'rb').read()
magic, version, seq, pid, started, updated, hb, n, depth, cap = struct.unpack_from('<4I3Q2IQ', d, 0)
off, size = 56, 416  # struct bb_stats_disk (page version 2)
def disk(i):
    b = d[off + i * size: off + (i + 1) * size]
    names = [b[k * 32:(k + 1) * 32].split(b'\0')[0].decode() for k in range(3)]
    res, weight = struct.unpack_from('<2Q', b, 96 + 8 + 8 + 48 + 16 + 40 + 32)
    return names, res, weight
(n0, g0, s0), r0, w0 = disk(0)
(n1, g1, s1), r1, w1 = disk(1)
print(hex(magic), n, hb, depth, n0, r0, w0, n1, g1 or '-', s1 or '-')
PY
}
hb_past() { set -- $(page 2>/dev/null); [ -n "$3" ] && [ "$3" -ge "$1" ]; }
wait_until 20 has "$TMP/serve.log" "serving 2 disk"
first=$(page 2>&1)
sleep 2.2
second=$(page 2>&1)
check blk-stats-page '[ "$(echo "$first" | cut -d" " -f1,2,4-)" = "0x534b4c42 2 32 a $quarter 300 b g1 alice" ] &&
    [ "$(echo "$second" | cut -d" " -f3)" -gt "$(echo "$first" | cut -d" " -f3)" ]' \
    "first: $first; second: $second; log: $(log_tail "$TMP/serve.log")"
kill -TERM "$BB_PID"
wait_until 10 gone "$BB_PID" || kill -KILL "$BB_PID"
wait "$BB_PID"
RC=$?
BB_PID=
check blk-serve-clean-exit '[ $RC -eq 0 ] && has "$TMP/serve.log" "disk=a .*throttled_ms=0"' \
    "rc $RC: $(log_tail "$TMP/serve.log")"
