#!/bin/bash
# Console over WebSocket benchmark (docs/api.md "Console over WebSocket"): keystroke-to-echo
# round trips through xenod's WebSocket with the `echo` guest (p50/p99), and how many
# concurrent console viewers one xenod holds (each viewer must receive one line typed by
# another), with xenod's RSS and descriptors while they are held.
# Usage: bench/control/console.sh [KEYSTROKES (default 500)]
# Environment: VIEWERS (per-domain counts to try, default "50 100 200 256"), DOMAINS (echo
# domains for the host-wide figure, default 4, 250 viewers each).
# See bench/README.md ("Console over WebSocket") for what is measured.
set -eu
cd "$(dirname "$0")/../.."

N=${1:-500}
VIEWERS=${VIEWERS:-50 100 200 256}
DOMAINS=${DOMAINS:-4}

make --no-print-directory programs guests build/tests/tools/wsclient >/dev/null
WSC=build/tests/tools/wsclient
TMP=$(mktemp -d /tmp/xeno-console-bench.XXXXXX)
SOCK=$TMP/xenod.sock
PORT=$((30000 + RANDOM % 20000))
XENOD_PID=
finish() {
    rc=$?
    trap - EXIT INT TERM
    for i in $(seq "$DOMAINS"); do
        curl -s --unix-socket "$SOCK" -X POST "http://x/v1/domains/e$i/destroy" >/dev/null 2>&1 || true
    done
    if [ -n "$XENOD_PID" ]; then
        kill -TERM "$XENOD_PID" 2>/dev/null || true
        wait "$XENOD_PID" 2>/dev/null || true
    fi
    [ "$rc" = 0 ] || tail -n 20 "$TMP/xenod.log" >&2
    rm -rf "$TMP"
    exit "$rc"
}
trap finish EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 1 -subj /CN=localhost \
    -addext subjectAltName=DNS:localhost,IP:127.0.0.1 -keyout "$TMP/key.pem" -out "$TMP/cert.pem" 2>/dev/null
build/bin/xenod --state-dir "$TMP/state" --socket "$SOCK" --listen "127.0.0.1:$PORT" --tls-cert "$TMP/cert.pem" \
    --tls-key "$TMP/key.pem" >"$TMP/xenod.log" 2>&1 &
XENOD_PID=$!
for _ in $(seq 100); do curl -sf --unix-socket "$SOCK" http://x/v1/host >/dev/null 2>&1 && break; sleep 0.05; done
TOKEN=$(curl -s --unix-socket "$SOCK" -H 'Content-Type: application/json' -d '{}' http://x/v1/tokens | jq -r .secret)
cp build/guest/echo.elf "$TMP/echo.elf"
for i in $(seq "$DOMAINS"); do
    xml="<domain type='kvm'><name>e$i</name><memory unit='MiB'>64</memory><os><type>hvm</type><kernel>$TMP/echo.elf</kernel></os></domain>"
    curl -s --unix-socket "$SOCK" -H 'Content-Type: application/json' \
        -d "$(jq -cn --arg x "$xml" '{xml: $x, start: true}')" http://x/v1/domains >/dev/null
done
for i in $(seq "$DOMAINS"); do
    for _ in $(seq 200); do
        curl -s --unix-socket "$SOCK" "http://x/v1/domains/e$i/console" | grep -q "type lines" && break
        sleep 0.05
    done
done
ws() { "$WSC" --cacert "$TMP/cert.pem" --token "$TOKEN" "$@"; }
url() { echo "https://127.0.0.1:$PORT/v1/domains/$1/console"; }
sample() { # RSS (MiB) and descriptors of xenod
    printf 'xenod RSS %d MiB, %d descriptors' "$(($(awk '/^VmRSS/ { print $2 }' "/proc/$XENOD_PID/status") / 1024))" \
        "$(find "/proc/$XENOD_PID/fd" -mindepth 1 | wc -l)"
}

echo "date:   $(date -u '+%Y-%m-%d %H:%M UTC')"
echo "host:   $(grep -m1 '^model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//'), $(nproc) CPUs, Linux $(uname -r)"
echo "xenod:  $(sample) with $DOMAINS echo domains running, no viewer"
echo
echo "round trip (keystrokes 'rttN\\r' -> 'echo: rttN'), one viewer, over TLS:"
ws --timeout 120 --rtt "$N" "$(url e1)"
echo "the same straight on the monitor's console socket (no xenod, no TLS, no WebSocket):"
uuid=$(curl -s --unix-socket "$SOCK" http://x/v1/domains/e1 | jq -r .uuid)
python3 bench/control/console_rtt_unix.py "$TMP/state/run/$uuid/console.sock" "$N"
echo
echo "viewers of one domain (each must receive a line typed by one of them):"
for v in $VIEWERS; do
    t0=$(date +%s%N)
    ws --timeout 120 --viewers "$v" --send "v$v\r" --expect "echo: v$v" --linger 3 "$(url e1)" >"$TMP/v.out" 2>&1 &
    pid=$!
    for _ in $(seq 1200); do grep -q ok "$TMP/v.out" 2>/dev/null && break; kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    t1=$(date +%s%N)
    if grep -q ok "$TMP/v.out"; then
        echo "  $v viewers: all received the line; connect + delivery $(((t1 - t0) / 1000000)) ms; $(sample)"
    else
        echo "  $v viewers: FAILED ($(tail -c 200 "$TMP/v.out"))"
    fi
    wait "$pid" || true
done
per=$((1000 / DOMAINS))
echo
echo "host-wide: $DOMAINS domains x $per viewers at once:"
pids=()
for i in $(seq "$DOMAINS"); do
    ws --timeout 180 --viewers "$per" --source-net "$i" --send "all$i\r" --expect "echo: all$i" --linger 8 "$(url "e$i")" \
        >"$TMP/all$i.out" 2>&1 &
    pids+=($!)
done
for _ in $(seq 1800); do
    n=$(cat "$TMP"/all*.out 2>/dev/null | grep -c '^ok$' || true)
    [ "$n" -ge "$DOMAINS" ] && break
    sleep 0.1
done
echo "  $n of $DOMAINS groups: every viewer received its line; $(sample)"
for p in "${pids[@]}"; do wait "$p" || true; done
echo "  after they closed: $(sample)"
