# Helpers of the disk tests, sourced after tests/lib.sh by tests/integration/blkback.sh,
# blk_multi.sh, blk_state.sh, blk_xenod.sh and blk_migrate.sh: a sandboxed xeno-blkback of
# the test's own, blk_rw's pattern (guest/tests/blk_rw.c) read back from an image by the host,
# and an image's allocated size.

BLKBACK=${BLKBACK:-$BUILD_DIR/bin/xeno-blkback}
BB_PID=

# bb_start NAME ARGS...: the backend on $TMP/images in the background (BB_PID), log in
# $TMP/NAME.bb.log.
bb_start() {
    local name=$1
    shift
    # LeakSanitizer cannot work inside the sandbox (see netback.sh).
    ASAN_OPTIONS=${ASAN_OPTIONS:-}:detect_leaks=0 "$BLKBACK" --image-dir "$TMP/images" "$@" \
        >>"$TMP/$name.bb.log" 2>&1 &
    BB_PID=$!
}
# bb_stop: SIGTERM, SIGKILL after 10 s; its exit status in BB_RC.
bb_stop() {
    [ -n "$BB_PID" ] || return 0
    kill -TERM "$BB_PID" 2>/dev/null
    wait_until 10 gone "$BB_PID" || kill -KILL "$BB_PID" 2>/dev/null
    wait "$BB_PID" 2>/dev/null
    BB_RC=$?
    BB_PID=
}

# blk_rw_verify FILE SECTORS [FIRST] [STEP]: sectors FIRST, FIRST + STEP, ... below SECTORS of
# FILE hold blk_rw's pattern. FILE - is standard input, which must then hold exactly SECTORS
# sectors.
blk_rw_verify() {
    python3 - "$1" "$2" "${3:-0}" "${4:-1}" 3<&0 <<'PY'
import os, sys
path, n, first, step = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
if path == "-":
    data = os.fdopen(3, "rb").read()
    if len(data) != n * 512:
        sys.exit("%d bytes, want %d" % (len(data), n * 512))
else:
    with open(path, "rb") as f:
        data = f.read()
for s in range(first, n, step):
    want = bytes(((s * 131 + i * 7 + (i >> 8) + 0x5a) & 0xff) for i in range(512))
    if data[s * 512:(s + 1) * 512] != want:
        sys.exit("sector %d differs" % s)
PY
}

# img_kib FILE: the KiB the file takes on its file system; img_kib_over FILE KIB.
img_kib() { du -k "$1" | cut -f1; }
img_kib_over() { [ "$(img_kib "$1")" -gt "$2" ]; }
