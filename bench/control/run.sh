#!/bin/sh
# Control-plane benchmark: latency of xenod's API (create, list, get, destroy) with 20 domains,
# measured by build/bench/control-bench against a private xenod started here; list and get
# also over HTTPS (xenod --listen on loopback, a self-signed certificate made here, an
# operator token) on a kept TLS connection, beside the unix socket.
# Usage: bench/control/run.sh [control-bench options, e.g. -l 5000 --json build/bench/control.json]
# Environment: KERNEL (default build/guest/demo.elf), ROUNDS (sequential create-all/destroy-all
# rounds of the 20 domains, default 5, for 100 samples of each), PARALLEL (client threads of the
# parallel phase, default 4; 0 skips it).
# See bench/README.md for what is measured.
set -eu
cd "$(dirname "$0")/../.."

KERNEL=${KERNEL:-build/guest/demo.elf}
ROUNDS=${ROUNDS:-5}
PARALLEL=${PARALLEL:-4}

scripts/install-deps.sh procps
make --no-print-directory programs guests bench-programs

for f in build/bin/xenod build/bin/xeno-vmm "$KERNEL" build/bench/control-bench; do
    [ -e "$f" ] || { echo "bench/control: $f was not built" >&2; exit 1; }
done
if [ ! -r /dev/kvm ] || [ ! -w /dev/kvm ]; then
    echo "bench/control: /dev/kvm is missing or not accessible" >&2
    exit 1
fi

# A private xenod: its own state directory and socket, so nothing else's domains are touched
# and nothing of ours outlives the run.
TMP=$(mktemp -d /tmp/xeno-control-bench.XXXXXX)
STATE=$TMP/state
SOCK=$TMP/xenod.sock
XENOD_PID=

# The monitors xenod started for this state directory (xenod runs each with --run-dir STATE/run/UUID).
monitors() {
    pgrep -f -- "--run-dir $STATE/run/" || true
}

finish() {
    rc=$?
    trap - EXIT INT TERM
    if [ -n "$XENOD_PID" ] && kill -0 "$XENOD_PID" 2>/dev/null; then
        kill -TERM "$XENOD_PID"
        wait "$XENOD_PID" || true
    fi
    # xenod leaves monitors running when it stops (a new xenod re-attaches): every domain
    # must have been destroyed through the API before this point.
    left=$(monitors)
    if [ -n "$left" ]; then
        echo "bench/control: monitors still running after xenod stopped:" $left "- killing them" >&2
        for p in $left; do kill -KILL "$p" 2>/dev/null || true; done
        rc=1
    fi
    if [ "$rc" -ne 0 ] && [ -s "$TMP/xenod.log" ]; then
        echo "bench/control: the end of xenod's log:" >&2
        tail -n 30 "$TMP/xenod.log" >&2
    fi
    rm -rf "$TMP"
    exit "$rc"
}
trap finish EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# The domains boot one snapshot of the kernel, so a rebuild during the run changes nothing.
SNAP=$TMP/kernel.elf
cp "$KERNEL" "$SNAP"

# TLS: a throwaway self-signed certificate for 127.0.0.1 (the one-liner of docs/api.md) and
# a free loopback port.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 1 -subj /CN=localhost \
    -addext subjectAltName=IP:127.0.0.1 -keyout "$TMP/tls.key" -out "$TMP/tls.pem" >"$TMP/openssl.log" 2>&1 ||
    { cat "$TMP/openssl.log" >&2; exit 1; }
PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
build/bin/xenod --state-dir "$STATE" --socket "$SOCK" --listen "127.0.0.1:$PORT" --tls-cert "$TMP/tls.pem" \
    --tls-key "$TMP/tls.key" >"$TMP/xenod.log" 2>&1 &
XENOD_PID=$!
i=0
until curl -sf --unix-socket "$SOCK" http://localhost/v1/host >/dev/null 2>&1; do
    i=$((i + 1))
    if [ "$i" -gt 100 ] || ! kill -0 "$XENOD_PID" 2>/dev/null; then
        echo "bench/control: xenod did not come up on $SOCK" >&2
        exit 1
    fi
    sleep 0.05
done

(umask 077 && curl -sf --unix-socket "$SOCK" -H 'Content-Type: application/json' -d '{}' \
    http://localhost/v1/tokens | sed -n 's/.*"secret": *"\([^"]*\)".*/\1/p' >"$TMP/op.token")
[ -s "$TMP/op.token" ] || { echo "bench/control: could not make an operator token" >&2; exit 1; }

echo "date:   $(date -u '+%Y-%m-%d %H:%M UTC')"
echo "host:   $(grep -m1 '^model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//'), $(nproc) CPUs, Linux $(uname -r)"
echo "xenod:  pid $XENOD_PID, state in $STATE ($(df -T "$TMP" | awk 'NR == 2 { print $2 }'))"
echo "kernel: $KERNEL ($(stat -c %s "$SNAP") bytes, sha256 $(sha256sum "$SNAP" | cut -c1-12))"
echo

build/bench/control-bench --socket "$SOCK" --kernel "$SNAP" --rounds "$ROUNDS" --parallel "$PARALLEL" \
    --tls "https://127.0.0.1:$PORT" --cacert "$TMP/tls.pem" --token-file "$TMP/op.token" "$@"

# Everything the benchmark created is gone: xenod runs nothing, and after it stops no
# monitor of this state directory is left (checked in finish).
running=$(curl -sf --unix-socket "$SOCK" http://localhost/v1/host | sed -n 's/.*"running": *\([0-9]*\).*/\1/p')
if [ "$running" != 0 ]; then
    echo "bench/control: xenod still runs ${running:-?} domain(s) after the benchmark" >&2
    exit 1
fi
kill -TERM "$XENOD_PID"
wait "$XENOD_PID" || { echo "bench/control: xenod exited with status $?" >&2; exit 1; }
XENOD_PID=
left=$(monitors)
[ -z "$left" ] || { echo "bench/control: monitors left running:" $left >&2; exit 1; }
echo "xenod stopped; no monitor of $STATE is left"
