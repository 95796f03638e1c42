#!/usr/bin/env bash
# Create rate only (issue 18's "100 creates/s with 4 clients"): for each N and each build,
# alternating builds so that the host's load falls on both alike, a fresh xenod, then N idle
# `echo` domains (32 MiB, 1 vCPU) created by 4 clients with one xenctl per domain, destroyed,
# created again by 4 clients each running one `xenctl create FILE...`, destroyed. Prints
# creates per second and host CPU per create (all CPUs' busy jiffies over the phase / N:
# other work on the host in the same seconds is in it) and, for the batch creates, our own CPU
# per create split by process, which other work does not inflate: xenod (its /proc/PID/stat,
# exited threads included), the monitors (the sum of their threads' /proc/PID/task/*/schedstat
# run times right after the phase) and the xenctl clients (bash's `time`, from wait4).
# Every monitor started is destroyed
# through the API, and killed at exit if anything went wrong.
#
# Usage: bench/density/create_rate.sh [N...]   (default: 100 300)
# Environment: BUILDS (default "build": directories holding bin/xenod, bin/xenctl,
# bin/xeno-vmm; e.g. "/path/to/before/build build"), ROUNDS (1), CLIENTS (4).
set -u
BUILDS=${BUILDS:-build}
ROUNDS=${ROUNDS:-1}
CLIENTS=${CLIENTS:-4}
KERNEL=$PWD/build/guest/echo.elf
SIZES=("$@")
[ ${#SIZES[@]} -gt 0 ] || SIZES=(100 300)
[ -e "$KERNEL" ] || { echo "bench/density: $KERNEL is missing: run make" >&2; exit 1; }

TMP=$(mktemp -d /tmp/xeno-create-rate.XXXXXX)
XENOD_PID=
export XENOD_SOCKET=$TMP/xenod.sock
monitors() { pgrep -f -- "--run-dir $TMP/state/run/" || true; }
finish() {
    trap - EXIT INT TERM
    local p
    for p in $(monitors); do kill -KILL "$p" 2>/dev/null || true; done
    if [ -n "$XENOD_PID" ]; then
        kill -TERM "$XENOD_PID" 2>/dev/null || true
        wait "$XENOD_PID" 2>/dev/null || true
    fi
    rm -rf "$TMP"
}
trap finish EXIT INT TERM

now() { echo "${EPOCHREALTIME/./}"; }
busy_jiffies() { awk '/^cpu / {print $2 + $3 + $4 + $7 + $8 + $9}' /proc/stat; }
hz=$(getconf CLK_TCK)

# clients VERB N XENCTL: CLIENTS clients share the N domains (client k takes every C-th).
clients() {
    local verb=$1 n=$2 ctl=$3 k i pids=()
    for k in $(seq 0 $((CLIENTS - 1))); do
        if [ "$verb" = create-batch ]; then
            local files=()
            for i in $(seq $((k + 1)) "$CLIENTS" "$n"); do files+=("$TMP/xml/d$(printf %05d "$i").xml"); done
            (
                TIMEFORMAT='%U %S'
                { time timeout 600 "$ctl" create "${files[@]}" >/dev/null || echo "create_rate: batch create failed" >&2; } 2>"$TMP/ctl-cpu.$k"
            ) &
            pids+=($!)
            continue
        fi
        (
            for i in $(seq $((k + 1)) "$CLIENTS" "$n"); do
                local name=d$(printf %05d "$i") arg
                if [ "$verb" = destroy ]; then arg=$name; else arg=$TMP/xml/$name.xml; fi
                timeout 60 "$ctl" "${verb%-batch}" "$arg" >/dev/null || echo "create_rate: $verb $name failed" >&2
            done
        ) &
        pids+=($!)
    done
    wait "${pids[@]}" # not a bare wait: xenod is this shell's child too
}

# phase VERB N XENCTL: prints "RATE/s CPU_MS ms"
phase() {
    local t0 j0 t1 j1
    t0=$(now) j0=$(busy_jiffies)
    clients "$@"
    t1=$(now) j1=$(busy_jiffies)
    awk -v n="$2" -v t="$((t1 - t0))" -v j="$((j1 - j0))" -v hz="$hz" \
        'BEGIN {printf "%.1f/s %.1f ms", n / (t / 1e6), 1000 * j / hz / n}'
}

# own_cpu N: prints "xenod X + monitors M + xenctl C ms" per create (after a batch phase; the
# xenod figure needs XENOD_CPU0, its ticks before the phase)
own_cpu() {
    local n=$1 x1 mon_ns
    x1=$(awk '{print $14 + $15}' "/proc/$XENOD_PID/stat")
    mon_ns=$(for p in $(monitors); do cat /proc/"$p"/task/*/schedstat 2>/dev/null; done | awk '{s += $1} END {print s + 0}')
    awk -v n="$n" -v x="$((x1 - XENOD_CPU0))" -v hz="$hz" -v m="$mon_ns" -v c="$(cat "$TMP"/ctl-cpu.* | awk '{s += $1 + $2} END {print s + 0}')" \
        'BEGIN {printf "xenod %.1f + monitors %.1f + xenctl %.1f ms", 1000 * x / hz / n, m / 1e6 / n, 1000 * c / n}'
}

one() { # BUILD N
    local b=$1 n=$2 i
    rm -rf "$TMP/state" "$TMP/xml"
    mkdir -p "$TMP/xml"
    for i in $(seq 1 "$n"); do
        printf '<domain type="kvm"><name>d%05d</name><memory unit="MiB">32</memory><vcpu>1</vcpu><os><type>hvm</type><kernel>%s</kernel></os><devices><console type="pty"/></devices></domain>\n' \
            "$i" "$KERNEL" >"$TMP/xml/d$(printf %05d "$i").xml"
    done
    "$b/bin/xenod" --state-dir "$TMP/state" --socket "$XENOD_SOCKET" --max-domains $((n + 16)) >"$TMP/xenod.log" 2>&1 &
    XENOD_PID=$!
    for _ in $(seq 100); do curl -sf --unix-socket "$XENOD_SOCKET" http://x/v1/host >/dev/null 2>&1 && break; sleep 0.1; done
    local per batch own
    per=$(phase create "$n" "$b/bin/xenctl")
    clients destroy "$n" "$b/bin/xenctl"
    rm -f "$TMP"/ctl-cpu.*
    XENOD_CPU0=$(awk '{print $14 + $15}' "/proc/$XENOD_PID/stat")
    batch=$(phase create-batch "$n" "$b/bin/xenctl")
    own=$(own_cpu "$n")
    clients destroy "$n" "$b/bin/xenctl"
    kill -TERM "$XENOD_PID"
    wait "$XENOD_PID" 2>/dev/null
    XENOD_PID=
    [ -z "$(monitors)" ] || echo "create_rate: monitors left behind" >&2
    printf '%-40s N=%-5s %d clients, one xenctl per domain: %s per create; one xenctl each: %s per create (own: %s); load %s\n' \
        "$b" "$n" "$CLIENTS" "$per" "$batch" "$own" "$(cut -d' ' -f1-3 /proc/loadavg)"
}

for r in $(seq "$ROUNDS"); do
    for n in "${SIZES[@]}"; do
        for b in $BUILDS; do one "$b" "$n"; done
    done
done
