#!/usr/bin/env bash
# Live migration benchmark (bench/README.md, docs/migration.md): the dirtier guest moves
# between two xeno-vmm monitors over TCP on loopback, for several memory sizes, working
# sets and dirty rates; each row is one migration, with the figures the source's reply
# gives (rounds, bytes sent, downtime = source pause to the destination's "started",
# total time) beside the memory the guest had touched. For comparison the same domain is
# moved by save + copy + restore (control request save, cp, xeno-vmm --restore).
# Usage: bench/migrate/run.sh     Environment: ROWS="MEM:WS:PACE:COLD ..." replaces the default
# set: WS the pages the guest keeps rewriting, PACE timer ticks (10 ms) between its passes
# (0: back to back, the highest dirty rate it can make), COLD pages written once at boot.
set -eu
cd "$(dirname "$0")/../.."

ROWS=${ROWS:-"256M:256:0:0 256M:256:0:16384 256M:256:10:16384 256M:2048:0:16384 256M:2048:10:0 256M:8192:10:0
    1G:256:0:65536 1G:8192:10:0"}

make --no-print-directory build/bin/xeno-vmm build/guest/dirtier.elf build/tests/tools/unixcat >/dev/null
VMM=build/bin/xeno-vmm
UNIXCAT=build/tests/tools/unixcat
if [ ! -r /dev/kvm ] || [ ! -w /dev/kvm ]; then
    echo "bench/migrate: /dev/kvm is missing or not accessible" >&2
    exit 1
fi

TMP=$(mktemp -d /tmp/xeno-migrate-bench.XXXXXX)
JOBS=()
cleanup() {
    local j
    for j in "${JOBS[@]}"; do kill "$j" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$TMP"
}
trap cleanup EXIT
head -c 32 /dev/urandom | base64 >"$TMP/key"
chmod 600 "$TMP/key"

now_ms() { date +%s%3N; }
wait_for() { # SECONDS COMMAND...
    local i n=$(($1 * 20))
    shift
    for i in $(seq "$n"); do "$@" 2>/dev/null && return 0; sleep 0.05; done
    return 1
}
has() { grep -q -- "$2" "$1" 2>/dev/null; }
last_pass() { sed -n 's/^dirtier: pass=\([0-9]*\) .*/\1/p' "$1/console.log" 2>/dev/null | tail -1; }
passes_beyond() { local p; p=$(last_pass "$1"); [ -n "$p" ] && [ "$p" -gt "$2" ]; }
# request DIR LINE: one control request; everything that came back in $TMP/reply.
request() {
    rm -f "$TMP/reply"
    (printf '%s\n' "$2"
        for _ in $(seq 1200); do grep -qE '^(ok|err)' "$TMP/reply" 2>/dev/null && break; sleep 0.05; done) |
        timeout 70 "$UNIXCAT" "$1/control.sock" >"$TMP/reply" 2>&1 || true
}
field() { sed -n "s/.* $1=\([^ ]*\).*/\1/p" <<<"$2"; } # KEY LINE
# src DIR MEM WS PACE COLD: a dirtier domain; returns once it has done a few passes.
src() {
    "$VMM" --run-dir "$1" --name src --kernel build/guest/dirtier.elf --memory "$2" \
        --cmdline "ws=$3 pace=$4 cold=${5:-0} secs=300" </dev/null >"$1.log" 2>&1 &
    JOBS+=($!)
    wait_for 30 test -s "$1/pid" && wait_for 60 passes_beyond "$1" 3
}
stop() { # DIR: destroy the domain there, if it still runs
    [ -S "$1/control.sock" ] && request "$1" destroy
    wait_for 30 test -e "$1/outcome" || true
}

port=17000
printf '%-6s %6s %4s %7s %6s %10s %11s %8s %10s %7s %11s %8s  %s\n' memory ws_MiB pace cold_MiB rounds dirty_MBps \
    touched_MiB sent_MiB sent/touch pages downtime_ms total_ms "downtime: pause/state/send/ready/go (us)"
for row in $ROWS; do
    IFS=: read -r mem ws pace cold <<<"$row"
    port=$((port + 1))
    d=$TMP/r$port
    "$VMM" --migrate-incoming "127.0.0.1:$port" --migrate-key "$TMP/key" --run-dir "$d.dst" --name dst \
        </dev/null >"$d.dst.log" 2>&1 &
    JOBS+=($!)
    wait_for 30 has "$d.dst.log" 'waiting for a migration'
    if ! src "$d.src" "$mem" "$ws" "$pace" "$cold"; then
        echo "bench/migrate: $row: the source did not start: $(tail -c 300 "$d.src.log")" >&2
        exit 1
    fi
    request "$d.src" "migrate 127.0.0.1:$port key=$TMP/key max-downtime=50"
    reply=$(grep -m1 -E '^(ok|err)' "$TMP/reply" || true)
    if [[ $reply != ok* ]]; then
        echo "bench/migrate: $row: $reply" >&2
        exit 1
    fi
    rate=$(grep '^event migrate round=' "$TMP/reply" | tail -1 | sed -n 's/.* dirty_mbps=\([^ ]*\).*/\1/p')
    touched=$(field touched_bytes "$reply") bytes=$(field bytes "$reply")
    wait_for 30 passes_beyond "$d.dst" 1 || echo "bench/migrate: $row: the destination does not run" >&2
    parts=$(grep -m1 '^event migrate downtime_us=' "$TMP/reply" || true)
    printf '%-6s %6.1f %4s %7.1f %6s %10s %11.1f %8.1f %10.2f %7s %11s %8s  %s/%s/%s/%s/%s\n' "$mem" \
        "$(bc <<<"scale=1; $ws*4/1024")" "$pace" "$(bc <<<"scale=1; $cold*4/1024")" "$(field rounds "$reply")" "$rate" \
        "$(bc <<<"scale=1; $touched/1048576")" "$(bc <<<"scale=1; $bytes/1048576")" \
        "$(bc <<<"scale=2; $bytes/$touched")" "$(field pages "$reply")" "$(field downtime_ms "$reply")" \
        "$(field total_ms "$reply")" "$(field pause_us "$parts")" "$(field state_us "$parts")" \
        "$(field send_us "$parts")" "$(field ready_us "$parts")" "$(field go_us "$parts")"
    stop "$d.dst"
done

echo
echo "save + copy + restore of the same domain (downtime = all of it: save request to the restored monitor ready)"
printf '%-6s %6s %4s %7s %9s %8s %8s %10s %11s\n' memory ws_MiB pace cold_MiB file_MiB save_ms copy_ms restore_ms \
    downtime_ms
for row in "256M:256:0:16384" "256M:8192:10:0" "1G:256:0:65536" "1G:8192:10:0"; do
    IFS=: read -r mem ws pace cold <<<"$row"
    port=$((port + 1))
    d=$TMP/s$port
    src "$d.src" "$mem" "$ws" "$pace" "$cold"
    t0=$(now_ms)
    request "$d.src" "save $d.snap"
    t1=$(now_ms)
    mkdir -p "$d.there" && cp "$d.snap" "$d.there/dom.snap"
    t2=$(now_ms)
    "$VMM" --restore "$d.there/dom.snap" --restore-eager --run-dir "$d.dst" --name dst </dev/null >"$d.dst.log" 2>&1 &
    JOBS+=($!)
    wait_for 60 test -s "$d.dst/pid"
    t3=$(now_ms)
    wait_for 30 passes_beyond "$d.dst" 1 || echo "bench/migrate: restore of $row does not run" >&2
    printf '%-6s %6.1f %4s %7.1f %9.1f %8s %8s %10s %11s\n' "$mem" "$(bc <<<"scale=1; $ws*4/1024")" "$pace" \
        "$(bc <<<"scale=1; $cold*4/1024")" \
        "$(bc <<<"scale=1; $(stat -c %s "$d.snap")/1048576")" $((t1 - t0)) $((t2 - t1)) $((t3 - t2)) $((t3 - t0))
    stop "$d.dst"
done
