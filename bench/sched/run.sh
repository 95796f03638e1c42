#!/usr/bin/env bash
# CPU scheduling benchmark (bench/README.md, docs/scheduling.md): the scenarios of the
# scheduling issue, each run with XenoServer's controls and again with none (plain Linux
# scheduling, the baseline), printed side by side with the scheduler's own CPU overhead.
# Every domain boots the spin test kernel (guest/tests/spin.c) under a private xenod and
# has all its monitor's threads pinned to one CPU (CPU=, default 1), with the competitors
# and, where a scenario says so, a host CPU hog (sched-bench hog) pinned there too. Shares
# are measured from outside: the vCPU thread's CPU time in /proc/PID/task/TID/schedstat,
# every 10 ms, in every 1 s window.
# Usage: bench/sched/run.sh          Environment: CPU (default 1), SECS (measuring time per
# scenario, default 5), WARMUP (seconds before measuring, default 1).
set -eu
cd "$(dirname "$0")/../.."

CPU=${CPU:-1}
SECS=${SECS:-5}
WARMUP=${WARMUP:-1}

scripts/install-deps.sh procps util-linux
make --no-print-directory programs guests bench-programs >/dev/null

for f in build/bin/xenod build/bin/xeno-vmm build/bin/xenctl build/guest/spin.elf build/guest/demo.elf \
    build/bench/sched-bench; do
    [ -e "$f" ] || { echo "bench/sched: $f was not built" >&2; exit 1; }
done
if [ ! -r /dev/kvm ] || [ ! -w /dev/kvm ]; then
    echo "bench/sched: /dev/kvm is missing or not accessible" >&2
    exit 1
fi
if [ "$(id -u)" -ne 0 ]; then
    echo "bench/sched: run as root: the reserved band is real-time priority" >&2
    exit 1
fi

TMP=$(mktemp -d /tmp/xeno-sched-bench.XXXXXX)
export XENOD_SOCKET=$TMP/xenod.sock
XENOD_PID=
HOG=
BENCH=build/bench/sched-bench
XC=build/bin/xenctl

finish() {
    rc=$?
    trap - EXIT INT TERM
    [ -z "$HOG" ] || kill "$HOG" 2>/dev/null || true
    if [ -n "$XENOD_PID" ]; then
        for d in $("$XC" --json list 2>/dev/null | jq -r '.domains[] | select(.pid != null) | .name'); do
            "$XC" destroy "$d" >/dev/null 2>&1 || true
        done
        kill -TERM "$XENOD_PID" 2>/dev/null || true
        wait "$XENOD_PID" 2>/dev/null || true
    fi
    if [ "$rc" -ne 0 ] && [ -s "$TMP/xenod.log" ]; then
        echo "bench/sched: the end of xenod's log:" >&2
        tail -n 20 "$TMP/xenod.log" >&2
    fi
    rm -rf "$TMP"
    exit "$rc"
}
trap finish EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

build/bin/xenod --state-dir "$TMP/state" --socket "$XENOD_SOCKET" --sample-interval 60m >"$TMP/xenod.log" 2>&1 &
XENOD_PID=$!
for i in $(seq 100); do
    curl -sf --unix-socket "$XENOD_SOCKET" http://x/v1/host >/dev/null 2>&1 && break
    kill -0 "$XENOD_PID" 2>/dev/null || { echo "bench/sched: xenod did not start" >&2; exit 1; }
    sleep 0.05
done

# dom NAME KERNEL CPUTUNE XENO_CPU_ATTRS: creates and starts a domain (1 vCPU, 64 MiB) and pins
# all its monitor's threads to $CPU; sets PID_<NAME>.
dom() {
    local name=$1 kernel=$2 tune=$3 attrs=$4 xml=$TMP/$1.xml pid
    {
        printf '<domain type="kvm"><name>%s</name><memory unit="MiB">64</memory><vcpu>1</vcpu>\n' "$name"
        printf '<os><kernel>%s</kernel></os>\n' "$PWD/$kernel"
        [ -z "$tune" ] || printf '<cputune>%s</cputune>\n' "$tune"
        printf '<metadata><xeno:sponsor xmlns:xeno="urn:xenoserver:domain:1">bench</xeno:sponsor>'
        [ -z "$attrs" ] || printf '<xeno:cpu xmlns:xeno="urn:xenoserver:domain:1" %s/>' "$attrs"
        printf '</metadata></domain>\n'
    } >"$xml"
    "$XC" create "$xml" >/dev/null
    pid=$("$XC" --json info "$name" | jq -r .pid)
    taskset -a -p -c "$CPU" "$pid" >/dev/null
    printf -v "PID_$name" '%s' "$pid"
}
undom() { for d in "$@"; do "$XC" destroy "$d" >/dev/null; done; }
hog_start() {
    taskset -c "$CPU" "$BENCH" hog &
    HOG=$!
}
hog_stop() {
    kill "$HOG"
    wait "$HOG" 2>/dev/null || true
    HOG=
}
# measure LABEL=PID[:THREAD]...: sched-bench's lines, after the warm-up.
measure() {
    sleep "$WARMUP"
    "$BENCH" measure "$SECS" "$@"
}
get() { awk -v l="$2" -v k="$3" '$1 == l { for (i = 2; i < NF; i += 2) if ($i == k) print $(i + 1) }' "$1"; } # FILE LABEL KEY
# The scheduler threads' CPU over the measurement, in percent of one CPU: the sum over labels ov*.
overhead() { awk -v s="$SECS" '$1 ~ /^ov/ { ms += $9 } END { printf "%.2f", ms / (s * 10) }' "$1"; }

declare -A R # results: R[scenario.mode]

run_mode() { # MODE: controls or baseline
    local m=$1 c=0 f
    [ "$m" = controls ] && c=1

    # 1. Reservation: R reserved 30% against 3 CPU-bound domains and a host hog, one CPU.
    f=$TMP/res.$m
    dom res build/guest/spin.elf "" "$([ $c = 1 ] && echo 'reservation="30%"')"
    dom c1 build/guest/spin.elf "" ""
    dom c2 build/guest/spin.elf "" ""
    dom c3 build/guest/spin.elf "" ""
    hog_start
    measure res="$PID_res":vcpu0 c1="$PID_c1":vcpu0 c2="$PID_c2":vcpu0 c3="$PID_c3":vcpu0 hog="$HOG" \
        ovres="$PID_res":xeno-sched ov1="$PID_c1":xeno-sched ov2="$PID_c2":xeno-sched \
        ov3="$PID_c3":xeno-sched >"$f"
    hog_stop
    undom res c1 c2 c3
    R[res_min.$m]=$(get "$f" res min)
    R[res_mean.$m]=$(get "$f" res mean)
    R[res_others.$m]=$(awk '$1 ~ /^c[0-9]$/ { s += $3; n++ } END { printf "%.2f", s / n }' "$f")
    R[res_hog.$m]=$(get "$f" hog mean)
    R[res_ov.$m]=$(overhead "$f")

    # 2. Limit: L limited to 20% (libvirt quota 2000 us per 10000 us period), idle host.
    f=$TMP/lim.$m
    dom lim build/guest/spin.elf "$([ $c = 1 ] && echo '<period>10000</period><quota>2000</quota>')" ""
    measure lim="$PID_lim":vcpu0 ovlim="$PID_lim":xeno-sched >"$f"
    undom lim
    R[lim_max.$m]=$(get "$f" lim max)
    R[lim_mean.$m]=$(get "$f" lim mean)
    R[lim_ov.$m]=$(overhead "$f")

    # 3. Weight: A and B, weights 1:3 (shares 256 and 768), share the CPU (all slack).
    f=$TMP/weight.$m
    dom wa build/guest/spin.elf "$([ $c = 1 ] && echo '<shares>256</shares>')" ""
    dom wb build/guest/spin.elf "$([ $c = 1 ] && echo '<shares>768</shares>')" ""
    measure wa="$PID_wa":vcpu0 wb="$PID_wb":vcpu0 ova="$PID_wa":xeno-sched ovb="$PID_wb":xeno-sched >"$f"
    undom wa wb
    R[w_a.$m]=$(get "$f" wa mean)
    R[w_b.$m]=$(get "$f" wb mean)
    R[w_share.$m]=$(awk -v a="${R[w_a.$m]}" -v b="${R[w_b.$m]}" 'BEGIN { printf "%.2f", a * 100 / (a + b) }')
    R[w_ov.$m]=$(overhead "$f")

    # 4. Work conservation: W, reserved 30% and unlimited, alone.
    f=$TMP/wc.$m
    dom wc build/guest/spin.elf "" "$([ $c = 1 ] && echo 'reservation="30%"')"
    measure wc="$PID_wc":vcpu0 ovwc="$PID_wc":xeno-sched >"$f"
    undom wc
    R[wc_mean.$m]=$(get "$f" wc mean)
    R[wc_min.$m]=$(get "$f" wc min)
    R[wc_ov.$m]=$(overhead "$f")

    # 5. Halted vCPUs: an idle domain (the demo shell, halted but for its 100 Hz timer)
    #    reserving 60%, beside a CPU-bound one with nothing reserved.
    f=$TMP/halt.$m
    dom idle build/guest/demo.elf "" "$([ $c = 1 ] && echo 'reservation="60%"')"
    dom busy build/guest/spin.elf "" ""
    measure idle="$PID_idle":vcpu0 busy="$PID_busy":vcpu0 ovidle="$PID_idle":xeno-sched \
        ovbusy="$PID_busy":xeno-sched >"$f"
    undom idle busy
    R[h_busy.$m]=$(get "$f" busy mean)
    R[h_idle.$m]=$(get "$f" idle mean)
    R[h_ov.$m]=$(overhead "$f")
}

# 6. Live changes (controls only): the limit of a 10 ms-period domain changed through the API
#    (POST /v1/domains/live/sched, what xenctl sched sends), written by sched-bench itself.
live() {
    dom live build/guest/spin.elf '<period>10000</period><quota>2000</quota>' ""
    sleep "$WARMUP"
    read -r _ R[up_req] _ R[up_vis] < <("$BENCH" latency "$PID_live" vcpu0 10000 20 60 "$XENOD_SOCKET" \
        /v1/domains/live/sched '{"limit_percent": 60}')
    read -r _ R[dn_req] _ R[dn_vis] < <("$BENCH" latency "$PID_live" vcpu0 10000 60 20 "$XENOD_SOCKET" \
        /v1/domains/live/sched '{"limit_percent": 20}')
    undom live
}

echo "date:   $(date -u '+%Y-%m-%d %H:%M UTC')"
echo "host:   $(grep -m1 '^model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//'), $(nproc) CPUs, Linux $(uname -r)"
echo "setup:  every domain spin.elf (1 vCPU, 64 MiB) unless said, monitors pinned to CPU $CPU;" \
    "${SECS} s measured per scenario after ${WARMUP} s"
run_mode controls
run_mode baseline
live

ok() { awk -v v="$1" "BEGIN { exit !($2) }" && echo ok || echo MISSED; } # VALUE CONDITION-on-v
pct() { printf '%s%%' "$1"; }
echo
printf '%-18s %-52s %-12s %-10s %-10s %s\n' scenario measure target controls baseline met
row() { printf '%-18s %-52s %-12s %-10s %-10s %s\n' "$@"; }
row reservation "R (30% reserved): least share in any 1 s window" ">= 29%" "$(pct "${R[res_min.controls]}")" \
    "$(pct "${R[res_min.baseline]}")" "$(ok "${R[res_min.controls]}" 'v >= 29')"
row "" "R: mean share" "" "$(pct "${R[res_mean.controls]}")" "$(pct "${R[res_mean.baseline]}")" ""
row "" "3 competing domains: mean share each" "" "$(pct "${R[res_others.controls]}")" \
    "$(pct "${R[res_others.baseline]}")" ""
row "" "host CPU hog: mean share" "" "$(pct "${R[res_hog.controls]}")" "$(pct "${R[res_hog.baseline]}")" ""
row limit "L (limit 20%), idle host: most in any 1 s window" "<= 21%" "$(pct "${R[lim_max.controls]}")" \
    "$(pct "${R[lim_max.baseline]}")" "$(ok "${R[lim_max.controls]}" 'v <= 21')"
row "" "L: mean share" "" "$(pct "${R[lim_mean.controls]}")" "$(pct "${R[lim_mean.baseline]}")" ""
row weight "A:B weights 1:3 (256:768): A's part of their CPU" "25% +- 3" \
    "$(pct "${R[w_share.controls]}")" "$(pct "${R[w_share.baseline]}")" \
    "$(ok "${R[w_share.controls]}" 'v >= 22 && v <= 28')"
row "" "A / B: mean share" "" "${R[w_a.controls]}/${R[w_b.controls]}" "${R[w_a.baseline]}/${R[w_b.baseline]}" ""
row "work conservation" "W (30% reserved, no limit) alone: mean share" "> 95%" "$(pct "${R[wc_mean.controls]}")" \
    "$(pct "${R[wc_mean.baseline]}")" "$(ok "${R[wc_mean.controls]}" 'v > 95')"
row "" "W: least share in any 1 s window" "" "$(pct "${R[wc_min.controls]}")" "$(pct "${R[wc_min.baseline]}")" ""
row "halted vCPUs" "busy domain beside an idle one reserving 60%: mean" "not blocked" \
    "$(pct "${R[h_busy.controls]}")" "$(pct "${R[h_busy.baseline]}")" "$(ok "${R[h_busy.controls]}" 'v > 90')"
row "" "the idle (halted) domain: mean share" "" "$(pct "${R[h_idle.controls]}")" "$(pct "${R[h_idle.baseline]}")" ""
row "live change" "limit 20% -> 60% (period 10 ms): seen after (ms)" "<= 20 ms" "${R[up_vis]}" "-" \
    "$(ok "${R[up_vis]}" 'v >= 0 && v <= 20 + 9')"
row "" "limit 60% -> 20%: old limit last seen after (ms)" "<= 20 ms" "${R[dn_vis]}" "-" \
    "$(ok "${R[dn_vis]}" 'v >= 0 && v <= 20')"
row "" "the API request itself took (ms)" "" "${R[up_req]} / ${R[dn_req]}" "-" ""
row overhead "scheduler threads' CPU, % of one CPU: reservation run" "" "$(pct "${R[res_ov.controls]}")" \
    "$(pct "${R[res_ov.baseline]}")" ""
row "" "limit run" "" "$(pct "${R[lim_ov.controls]}")" "$(pct "${R[lim_ov.baseline]}")" ""
row "" "weight run" "" "$(pct "${R[w_ov.controls]}")" "$(pct "${R[w_ov.baseline]}")" ""
row "" "work-conservation run" "" "$(pct "${R[wc_ov.controls]}")" "$(pct "${R[wc_ov.baseline]}")" ""
row "" "halted run" "" "$(pct "${R[h_ov.controls]}")" "$(pct "${R[h_ov.baseline]}")" ""
