#!/usr/bin/env bash
# Density benchmark: how many idle domains one host carries through xenod, and what each costs.
# For each N: create N idle `echo` domains (32 MiB, 1 vCPU) with xenctl one after the other,
# destroy them the same way, create them again with 4 parallel clients, then with all N
# running and idle measure host memory per domain (MemAvailable drop, the monitors' PSS),
# host CPU over 10 s, xenod's RSS, and the latency of list (whole, and a page of 50 with
# filters) and get; last destroy them with 4 parallel clients. Every monitor started is
# destroyed through the API, and killed at exit if anything went wrong.
#
# Usage: bench/density/run.sh [N...]        (default: 100 300)
# Environment: BUILD (default build: the non-sanitizer programs), MEM_MIB (32), CLIENTS (4),
# IDLE_S (10), XENOD_ARGS (more xenod options, e.g. "--sample-interval 1s --ledger-interval 1s"
# to measure idle domains under xenod's busiest reading). Prints one block per N;
# bench/README.md ("Density") keeps the figures.
set -euo pipefail
cd "$(dirname "$0")/../.."

BUILD=${BUILD:-build}
MEM_MIB=${MEM_MIB:-32}
CLIENTS=${CLIENTS:-4}
IDLE_S=${IDLE_S:-10}
XENOD_ARGS=${XENOD_ARGS:-}
KERNEL=$PWD/build/guest/echo.elf
XENOD=$BUILD/bin/xenod
XENCTL=$BUILD/bin/xenctl
SIZES=("$@")
[ ${#SIZES[@]} -gt 0 ] || SIZES=(100 300)

for f in "$XENOD" "$XENCTL" "$BUILD/bin/xeno-vmm" "$KERNEL"; do
    [ -e "$f" ] || { echo "bench/density: $f is missing: run make" >&2; exit 1; }
done
[ -r /dev/kvm ] && [ -w /dev/kvm ] || { echo "bench/density: /dev/kvm is not usable" >&2; exit 1; }

TMP=$(mktemp -d /tmp/xeno-density-bench.XXXXXX)
XENOD_PID=
export XENOD_SOCKET=$TMP/xenod.sock

# The monitors of our state directory (xenod runs each with --run-dir STATE/run/UUID).
monitors() { pgrep -f -- "--run-dir $TMP/state/run/" || true; }

finish() {
    trap - EXIT INT TERM
    local left
    left=$(monitors)
    if [ -n "$left" ]; then
        echo "bench/density: killing monitors left behind: $(echo $left)" >&2
        # Only the pids pgrep found for this run's own state directory.
        for p in $left; do kill -KILL "$p" 2>/dev/null || true; done
    fi
    if [ -n "$XENOD_PID" ]; then
        kill -TERM "$XENOD_PID" 2>/dev/null || true
        wait "$XENOD_PID" 2>/dev/null || true
    fi
    rm -rf "$TMP"
}
trap finish EXIT INT TERM

now() { echo "${EPOCHREALTIME/./}"; } # microseconds
mem_available_kib() { awk '/^MemAvailable:/ {print $2}' /proc/meminfo; }
# busy and total jiffies of all CPUs
cpu_jiffies() { awk '/^cpu / {print $2+$3+$4+$7+$8+$9, $2+$3+$4+$5+$6+$7+$8+$9}' /proc/stat; }
proc_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; } # PID: its utime+stime in ticks
procs_ticks() { # PID...: the sum of their utime+stime in ticks (one awk over all)
    local f=() p
    for p in "$@"; do f+=("/proc/$p/stat"); done
    [ ${#f[@]} -gt 0 ] || { echo 0; return; }
    awk '{s += $14 + $15} END {print s + 0}' "${f[@]}" 2>/dev/null || echo 0
}
ticks_pct() { awk -v t="$1" -v hz="$(getconf CLK_TCK)" -v s="$IDLE_S" 'BEGIN {printf "%.2f%%", 100*t/hz/s}'; } # TICKS over IDLE_S
pss_kib() { # PID...: the sum of their PSS
    local p s=0 v
    for p in "$@"; do
        v=$(awk '/^Pss:/ {print $2}' "/proc/$p/smaps_rollup" 2>/dev/null || echo 0)
        s=$((s + ${v:-0}))
    done
    echo "$s"
}
# percentiles P50 P99 of the numbers on stdin (milliseconds with 2 decimals)
pctl() { sort -n | awk '{a[NR]=$1} END {i50=int(NR*0.5+0.5); i99=int(NR*0.99+0.5); if(i50<1)i50=1; if(i99<1)i99=1; printf "%.2f %.2f", a[i50]*1000, a[i99]*1000}'; }
api_time() { curl -s -o /dev/null -w '%{time_total}\n' --unix-socket "$XENOD_SOCKET" "http://x$1"; }

make_xml() { # N: d00001.xml ... in $TMP/xml, sponsors s0..s3
    mkdir -p "$TMP/xml"
    for i in $(seq 1 "$1"); do
        printf '<domain type="kvm"><name>d%05d</name><memory unit="MiB">%d</memory><vcpu>1</vcpu><os><type>hvm</type><kernel>%s</kernel></os><devices><console type="pty"/></devices><metadata><xeno:sponsor xmlns:xeno="urn:xenoserver:domain:1">s%d</xeno:sponsor></metadata></domain>\n' \
            "$i" "$MEM_MIB" "$KERNEL" $((i % 4)) >"$TMP/xml/d$(printf %05d "$i").xml"
    done
}

# run_clients C VERB N: C clients share the N domains (client k takes every C-th); prints seconds.
# VERB create-batch: each client is one `xenctl create FILE...` with all its files.
run_clients() {
    local c=$1 verb=$2 n=$3 t0 k
    t0=$(now)
    for k in $(seq 0 $((c - 1))); do
        if [ "$verb" = create-batch ]; then
            files=()
            for i in $(seq $((k + 1)) "$c" "$n"); do files+=("$TMP/xml/d$(printf %05d "$i").xml"); done
            timeout 600 "$XENCTL" create "${files[@]}" >/dev/null || echo "bench/density: batch create failed" >&2 &
            continue
        fi
        (
            for i in $(seq $((k + 1)) "$c" "$n"); do
                name=d$(printf %05d "$i")
                if [ "$verb" = create ]; then arg=$TMP/xml/$name.xml; else arg=$name; fi
                timeout 60 "$XENCTL" "$verb" "$arg" >/dev/null || echo "bench/density: $verb $name failed" >&2
            done
        ) &
    done
    wait
    awk -v a="$t0" -v b="$(now)" 'BEGIN {printf "%.2f", (b-a)/1e6}'
}

# running or blocked (all vCPUs halted), in one answer
wait_all_up() { for _ in $(seq 300); do [ "$(up_count)" = "$1" ] && return; sleep 0.2; done; } # N, at most 60 s
up_count() { curl -s --unix-socket "$XENOD_SOCKET" 'http://x/v1/domains?fields=state' | jq '[.domains[] | select(.state == "running" or .state == "blocked")] | length'; }

bench_one() {
    local n=$1
    rm -rf "$TMP/state" "$TMP/xml"
    make_xml "$n"
    local mem0 cpu0
    mem0=$(mem_available_kib)
    # shellcheck disable=SC2086 # XENOD_ARGS is a list of options
    "$XENOD" --state-dir "$TMP/state" --socket "$XENOD_SOCKET" --max-domains $((n + 16)) $XENOD_ARGS >"$TMP/xenod-$n.log" 2>&1 &
    XENOD_PID=$!
    for _ in $(seq 100); do [ -S "$XENOD_SOCKET" ] && curl -sf --unix-socket "$XENOD_SOCKET" http://x/v1/host >/dev/null && break; sleep 0.1; done

    local t_seq_c t_seq_d t_par_c t_par_d
    t_seq_c=$(run_clients 1 create "$n")
    t_seq_d=$(run_clients 1 destroy "$n")
    local x0 h0 x1 h1
    x0=$(proc_ticks "$XENOD_PID")
    h0=$(cpu_jiffies)
    t_par_c=$(run_clients "$CLIENTS" create "$n")
    x1=$(proc_ticks "$XENOD_PID")
    h1=$(cpu_jiffies)
    local up
    up=$(up_count)
    sleep 5 # the domains settle: guests booted and halted, first stats published
    local mem1 pids pss rss j0 j1 cpu
    mem1=$(mem_available_kib)
    pids=$(monitors)
    pss=$(pss_kib $pids)
    rss=$(awk '/^VmRSS:/ {print $2}' "/proc/$XENOD_PID/status")
    local own0 own1 xi0 xi1
    own0=$(procs_ticks $pids)
    xi0=$(proc_ticks "$XENOD_PID")
    j0=$(cpu_jiffies)
    sleep "$IDLE_S" # the idle period measured
    j1=$(cpu_jiffies)
    own1=$(procs_ticks $pids)
    xi1=$(proc_ticks "$XENOD_PID")
    cpu=$(awk -v a="$j0" -v b="$j1" -v ncpu="$(nproc)" 'BEGIN {split(a,x," "); split(b,y," "); printf "%.1f", 100*ncpu*(y[1]-x[1])/(y[2]-x[2])}')

    local list_full list_page get
    list_full=$(for _ in $(seq 20); do api_time /v1/domains; done | pctl)
    list_page=$(for i in $(seq 100); do api_time "/v1/domains?limit=50&after=d$(printf %05d $(( (i * 37) % n )))&state=blocked&fields=name,id,state,sponsor"; done | pctl)
    get=$(for i in $(seq 100); do api_time "/v1/domains/d$(printf %05d $(( (i * 37) % n + 1)))"; done | pctl)
    local bytes
    bytes=$(curl -s --unix-socket "$XENOD_SOCKET" http://x/v1/domains | wc -c)

    t_par_d=$(run_clients "$CLIENTS" destroy "$n")
    # Again with one xenctl per client for all its domains (`xenctl create FILE...`).
    local t_bat_c t_bat_d b0 b1
    b0=$(cpu_jiffies)
    t_bat_c=$(run_clients "$CLIENTS" create-batch "$n")
    b1=$(cpu_jiffies)
    wait_all_up "$n"
    t_bat_d=$(run_clients "$CLIENTS" destroy "$n")
    local left
    left=$(monitors | wc -w)
    kill -TERM "$XENOD_PID"
    wait "$XENOD_PID" || true
    XENOD_PID=

    local npids
    npids=$(echo $pids | wc -w)
    echo "N=$n (running after the parallel create: $up; monitors measured: $npids; left after destroy: $left)"
    awk -v n="$n" -v a="$t_seq_c" -v b="$t_seq_d" -v c="$t_par_c" -v d="$t_par_d" -v cl="$CLIENTS" 'BEGIN {
        printf "  create  sequential %6.2f s  %6.1f/s   %d clients %6.2f s  %6.1f/s\n", a, n/a, cl, c, n/c
        printf "  destroy sequential %6.2f s  %6.1f/s   %d clients %6.2f s  %6.1f/s\n", b, n/b, cl, d, n/d }'
    awk -v n="$n" -v c="$t_bat_c" -v cl="$CLIENTS" -v h0="$b0" -v h1="$b1" -v hz="$(getconf CLK_TCK)" 'BEGIN {
        split(h0,a," "); split(h1,b," ")
        printf "  create  %d clients, one xenctl each for all its files: %6.2f s  %6.1f/s, host CPU per create %.1f ms\n", cl, c, n/c, 1000*(b[1]-a[1])/hz/n }'
    awk -v n="$n" -v x0="$x0" -v x1="$x1" -v h0="$h0" -v h1="$h1" -v hz="$(getconf CLK_TCK)" 'BEGIN {
        split(h0,a," "); split(h1,b," ")
        printf "  CPU per create (4 clients): host %.1f ms (all processes: xenctl, xenod, monitor start-up, guest boot), xenod %.2f ms\n",
            1000*(b[1]-a[1])/hz/n, 1000*(x1-x0)/hz/n }'
    awk -v n="$n" -v m0="$mem0" -v m1="$mem1" -v pss="$pss" -v np="$npids" 'BEGIN {
        printf "  memory  MemAvailable drop %.2f MiB/domain; monitors PSS %.2f MiB/domain\n", (m0-m1)/1024/n, pss/1024/(np?np:1) }'
    echo "  idle host CPU over ${IDLE_S} s: ${cpu}% of one core ($(nproc) cores); the monitors' own $(ticks_pct $((own1 - own0))), xenod's own $(ticks_pct $((xi1 - xi0)))"
    echo "  xenod RSS ${rss} KiB ($(awk -v r="$rss" -v n="$n" 'BEGIN {printf "%.1f", r/n}') KiB/domain)"
    echo "  list all (${bytes} bytes) p50/p99 ms: $list_full;  list page of 50 (state filter, 4 fields) p50/p99 ms: $list_page;  get p50/p99 ms: $get"
}

echo "bench/density: $(nproc) CPUs, $(awk '/^MemTotal:/ {printf "%.1f GiB", $2/1048576}' /proc/meminfo), $(uname -r), $(date -u +%FT%TZ)"
for n in "${SIZES[@]}"; do bench_one "$n"; done
