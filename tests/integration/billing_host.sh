# The host's bill and conservation (docs/billing.md, "The host's bill") with real monitors on
# real KVM: three domains of two sponsors for 60 s (acme's spinning under a 30% reservation,
# beta's idle under a 20% reservation, beta's spinning under a 20% limit). Every figure is
# measured twice, by xenod into its ledger and by this test from /proc, and printed:
#   - each domain's metered CPU-seconds against its vCPU threads' CPU time (1%), and its used +
#     monitor overhead against the monitor process's own CPU time (1% or 30 ms: /proc counts
#     10 ms ticks, and an idle monitor's whole time is a fraction of a second);
#   - reserved seconds against reservation x wall time (1%);
#   - over one period of 60 s: sponsors + idle + overhead + other = capacity (0.5%), with idle
#     measured by xenod (/proc/stat) against idle measured here (0.5% of capacity), and "other"
#     against this test's own figure of it: the host's busy time less the CPU time of xenod and
#     the monitors (0.5% of capacity), and the ledger's used + overhead against the monitors'
#     and xenod's CPU time from /proc (0.5% of capacity; per monitor printed). Memory the
#     same, MemAvailable sampled every second here.
# The machine is shared: other processes' load shows up as "other" (it is printed); it is
# still conservation, since idle is measured, not taken as what is left.
# test-harness: serial (it compares CPU time and wall time: other tests beside it skew both)

BH_XENOD=$BUILD_DIR/bin/xenod
BH_XENCTL=$BUILD_DIR/bin/xenctl
BH=$TMP/h # short: the monitors' sockets live under it (sun_path is 108 bytes)
BH_SOCK=$BH/xenod.sock
BH_DB=$BH/state/ledger.db
BH_XPID=
mkdir -p "$BH"

bhx() { XENOD_SOCKET=$BH_SOCK timeout -k 5 60 "$BH_XENCTL" "$@"; }
bhsql() { ledger_sql "$BH_DB" "$1"; }
bh_up() { curl -s --unix-socket "$BH_SOCK" http://xenod/v1/host 2>/dev/null | grep -q version; }
bh_cleanup() {
    [ -z "$BH_XPID" ] || { kill -TERM "$BH_XPID" 2>/dev/null && wait "$BH_XPID" 2>/dev/null; }
    BH_XPID=
    for p in $(pgrep -f -- "--run-dir $BH/state/"); do kill -KILL "$p" 2>/dev/null; done
}
trap 'bh_cleanup; test_file_exit' EXIT # never a xenod or monitor left behind
# bh_xml NAME SPONSOR KERNEL RESERVATION QUOTA_US (of a 10 ms period; 0: no limit)
bh_xml() {
    local tune= res=
    [ "$5" = 0 ] || tune="<cputune><period>10000</period><quota>$5</quota></cputune>"
    [ "$4" = 0% ] || res="<xeno:cpu xmlns:xeno=\"urn:xenoserver:domain:1\" reservation=\"$4\"/>"
    printf '<domain type="kvm"><name>%s</name><memory unit="MiB">64</memory><vcpu>1</vcpu>%s
  <os><kernel>%s</kernel></os>
  <metadata><xeno:sponsor xmlns:xeno="urn:xenoserver:domain:1">%s</xeno:sponsor>%s</metadata></domain>\n' \
        "$1" "$tune" "$PWD/$GUEST/$3" "$2" "$res" >"$BH/$1.xml"
}
# The vCPU threads' CPU time (ns, schedstat) and the whole process's (ns, /proc/PID/stat ticks).
bh_vcpu_ns() {
    local t sum=0 comm
    for t in /proc/"$1"/task/*; do
        comm=$(cat "$t/comm" 2>/dev/null)
        [[ $comm == vcpu* ]] && sum=$((sum + $(cut -d' ' -f1 "$t/schedstat")))
    done
    echo "$sum"
}
bh_proc_ns() { awk -v hz="$(getconf CLK_TCK)" '{ sub(/^.*\) /, ""); printf "%.0f\n", ($12 + $13) * 1e9 / hz }' "/proc/$1/stat"; }
# /proc/stat's cpu line: "total idle" in seconds (idle = idle + iowait).
bh_stat() { awk -v hz="$(getconf CLK_TCK)" '/^cpu / { printf "%.2f %.2f\n", ($2+$3+$4+$5+$6+$7+$8+$9) / hz, ($5+$6) / hz }' /proc/stat; }
bh_avail() { awk '/^MemAvailable:/ { print $2 }' /proc/meminfo; } # kB
# bh_meter DOMAIN METER: a domain's ledger total of one meter, in micro-units.
bh_meter() {
    bhsql "SELECT COALESCE(SUM(p.quantity), 0) FROM ledger_posting p JOIN ledger_tx t ON t.id = p.tx_id
           WHERE t.domain_name = '$1' AND p.meter = '$2' AND p.account <> 'host'"
}
# bh_near A B TOL ABS: |A - B| <= TOL x |B| + ABS
# bh_period NAME METER: its ledger quantity over [FROM, TO) in micro-units, each transaction
# cut at the period's edges in proportion to time (as a bill cuts it).
bh_period() {
    local f=$((FROM * 1000000)) t=$((TO * 1000000))
    bhsql "SELECT CAST(COALESCE(SUM(p.quantity * (MIN(x.period_end_us, $t) - MAX(x.period_start_us, $f)) * 1.0
           / (x.period_end_us - x.period_start_us)), 0) AS INTEGER) FROM ledger_posting p JOIN ledger_tx x
           ON x.id = p.tx_id WHERE x.domain_name = '$1' AND p.meter = '$2' AND p.account <> 'host'
           AND x.period_end_us > $f AND x.period_start_us < $t AND x.period_end_us > x.period_start_us"
}
bh_near() { awk -v a="$1" -v b="$2" -v r="$3" -v z="${4:-0}" 'BEGIN { d = a - b; if (d < 0) d = -d; if (b < 0) b = -b; exit !(d <= r * b + z) }'; }
bh_between() { awk -v v="$1" -v lo="$2" -v hi="$3" 'BEGIN { exit !(v >= lo && v <= hi) }'; }
bh_gone() { ! bhx info "$1" >/dev/null 2>&1; }
bh_f() { awk "BEGIN { printf \"%.6f\", $1 }"; } # arithmetic on decimals

if ! kvm_case billing-host; then return 0 2>/dev/null || exit 0; fi
if [ ! -f "$GUEST/spin.elf" ] || [ ! -f "$GUEST/echo.elf" ] || ! command -v sqlite3 >/dev/null; then
    fail billing-host-prerequisites "$GUEST/spin.elf, $GUEST/echo.elf or sqlite3 is missing (make guests; install-deps)"
    return 0 2>/dev/null || exit 0
fi
printf 'version h1\neffective 2020-01-01T00:00:00Z\nprice cpu 100 per vcpu-second\nprice memory 1 per GiB-second\n' \
    >"$BH/prices"
"$BH_XENOD" --state-dir "$BH/state" --socket "$BH_SOCK" --prices "$BH/prices" --ledger-interval 2s \
    >>"$BH/xenod.log" 2>&1 &
BH_XPID=$!
wait_until 10 bh_up
check billing-host-xenod-starts bh_up "$(log_tail "$BH/xenod.log")"

bh_xml hot acme spin.elf 30% 0
bh_xml rest beta echo.elf 20% 0
bh_xml capped beta spin.elf 0% 2000
T0=$EPOCHREALTIME
for d in hot rest capped; do bhx create "$BH/$d.xml" >/dev/null; done
T1=$EPOCHREALTIME
declare -A PID
for d in hot rest capped; do PID[$d]=$(bhx --json info $d | jq -r .pid); done

# The period: 60 whole seconds, starting a few seconds in (the ledger's first postings made).
FROM=$(($(date +%s) + 5))
TO=$((FROM + 60))
declare -A PP PV XP # [EDGE,DOMAIN]: process and vCPU ns; [EDGE]: xenod's
# The /proc side of the period's edges, the same reads in the same order at both (so that
# their own time cancels), each begun within milliseconds of the edge: a read begun late
# counts that much more of the processes' time than the ledger's period holds (a loop that
# slept past TO once made this side up to 1 s long).
bh_edge() { # 0 at FROM, 1 at TO
    local d late
    late=$(bh_f "$EPOCHREALTIME - $2")
    read -r "S$1_TOTAL" "S$1_IDLE" < <(bh_stat)
    for d in hot rest capped; do
        PP[$1,$d]=$(bh_proc_ns "${PID[$d]}")
        PV[$1,$d]=$(bh_vcpu_ns "${PID[$d]}")
    done
    XP[$1]=$(bh_proc_ns "$BH_XPID")
    echo "    /proc read at ${2}: begun $late s late, done $(bh_f "$EPOCHREALTIME - $2") s after"
}
sleep "$(bh_f "$FROM - $EPOCHREALTIME")"
bh_edge 0 "$FROM"
AVAIL_SUM=0 AVAIL_N=0
while :; do # MemAvailable once a second, for idle memory; never past TO
    LEFT=$(bh_f "$TO - $EPOCHREALTIME")
    awk -v l="$LEFT" 'BEGIN { exit !(l > 0) }' || break
    AVAIL_SUM=$((AVAIL_SUM + $(bh_avail))) AVAIL_N=$((AVAIL_N + 1))
    LEFT=$(bh_f "$TO - $EPOCHREALTIME")
    awk -v l="$LEFT" 'BEGIN { exit !(l > 0) }' || break
    sleep "$(awk -v l="$LEFT" 'BEGIN { printf "%.6f", (l < 1 ? l : 1) }')"
done
bh_edge 1 "$TO"
P0=$((PP[0,hot] + PP[0,rest] + PP[0,capped])) P1=$((PP[1,hot] + PP[1,rest] + PP[1,capped]))
X0=${XP[0]} X1=${XP[1]}
sleep 5 # a duration: the postings that cover the period's end (every 2 s)

# --- the host bill over the period ----------------------------------------------------------
HB=$(bhx --json bill --host --from "$FROM" --to "$TO")
check billing-host-bill-answers "jqe '.lines | length >= 4' <<<\"\$HB\" >/dev/null" "$HB"
hb() { jq -r "$1" <<<"$HB"; }
CAP=$(hb '.capacity.cpu_seconds_micros / 1e6')
CAPM=$(hb '.capacity.memory_gib_seconds_micros / 1e6')
SP=$(hb '[.lines[] | select(.kind == "sponsor") | .cpu_seconds_micros] | add / 1e6')
SPU=$(hb '[.lines[] | select(.kind == "sponsor") | .cpu_used_seconds_micros] | add / 1e6')
IDLE=$(hb '.lines[] | select(.kind == "idle") | .cpu_seconds_micros / 1e6')
IDLE_M=$(hb '.lines[] | select(.kind == "idle") | .measured_cpu_seconds_micros / 1e6')
OVH=$(hb '[.lines[] | select(.kind == "overhead") | .cpu_seconds_micros] | add / 1e6')
OVH_VMM=$(hb '[.lines[] | select(.kind == "overhead" and .name == "xeno-vmm") | .cpu_seconds_micros] | add / 1e6')
OVH_XENOD=$(hb '[.lines[] | select(.kind == "overhead" and .name == "xenod") | .cpu_seconds_micros] | add / 1e6')
OTHER=$(hb '.lines[] | select(.kind == "other") | .cpu_seconds_micros / 1e6')
SUM=$(bh_f "$SP + $IDLE + $OVH + $OTHER")
# This test's own figures of the same period.
T_CAP=$(bh_f "$S1_TOTAL - $S0_TOTAL")
T_IDLE=$(bh_f "$S1_IDLE - $S0_IDLE")
T_MON=$(bh_f "($P1 - $P0) / 1e9")
T_XENOD=$(bh_f "($X1 - $X0) / 1e9")
# Charged-but-unused seconds come out of idle, and out of other where idle was short of them.
T_UNUSED=$(bh_f "$SP - $SPU")
T_LENT=$(awk -v u="$T_UNUSED" -v i="$T_IDLE" 'BEGIN { d = u - (i > 0 ? i : 0); printf "%.6f", (d > 0 ? d : 0) }')
# Capacity is CPUs x wall time: /proc/stat's own total (printed) may fall short of it where
# the kernel's tick accounting loses time (seen here in a VM: about 1%); that shortfall is
# "other" on both sides.
T_OTHER=$(bh_f "$(hb .capacity.cpus) * ($TO - $FROM) - $T_IDLE - $T_MON - $T_XENOD - $T_LENT")
echo "    period $FROM..$TO on $(hb .capacity.cpus) CPUs, CPU-seconds:"
echo "      capacity $CAP (/proc/stat here: $T_CAP)"
echo "      sponsors $SP charged, $SPU used: $(hb '[.lines[] | select(.kind == "sponsor") | "\(.name) \(.cpu_seconds_micros / 1e6) (used \(.cpu_used_seconds_micros / 1e6), \(.amount_micros / 1e6))"] | join("; ")')"
echo "      idle $IDLE (measured $IDLE_M less charged-unused $T_UNUSED; here: $T_IDLE)"
echo "      overhead $OVH (xeno-vmm $OVH_VMM, xenod $OVH_XENOD; here: monitors - vCPUs $(bh_f "$T_MON - $SPU"), xenod $T_XENOD)"
echo "      other $OTHER (here: $T_OTHER)"
for d in hot rest capped; do # where a difference of used + overhead lies, per monitor
    echo "      $d: ledger used $(bh_f "$(bh_period "$d" vcpu_seconds_used) / 1e6") overhead" \
        "$(bh_f "$(bh_period "xeno-vmm:$d" overhead_cpu_seconds) / 1e6"); /proc vCPUs" \
        "$(bh_f "(${PV[1,$d]} - ${PV[0,$d]}) / 1e9") process $(bh_f "(${PP[1,$d]} - ${PP[0,$d]}) / 1e9")"
done
echo "      xenod: ledger overhead $(bh_f "$(bh_period xenod overhead_cpu_seconds) / 1e6"); /proc $T_XENOD"
echo "      sponsors + idle + overhead + other = $SUM"
check billing-host-cpu-conservation "bh_near $SUM $CAP 0.005" "sum $SUM, capacity $CAP"
check billing-host-capacity-is-cpus-times-wall "[ $(hb .capacity.cpu_seconds_micros) = $(($(nproc) * (TO - FROM) * 1000000)) ]" \
    "xenod $CAP, $(nproc) CPUs x $((TO - FROM)) s"
check billing-host-idle-measured "bh_near $IDLE_M $T_IDLE 0 $(bh_f "$CAP * 0.005")" "xenod $IDLE_M, here $T_IDLE"
# The issue's 0.5% (these two once needed 1.5%: this side's read at TO could begin up to 1 s
# late, see bh_edge).
check billing-host-other-independent "bh_near $OTHER $T_OTHER 0 $(bh_f "$CAP * 0.005")" \
    "xenod's other $OTHER, this test's $T_OTHER"
check billing-host-overhead-independent \
    "bh_near $(bh_f "$SPU + $OVH_VMM + $OVH_XENOD") $(bh_f "$T_MON + $T_XENOD") 0 $(bh_f "$CAP * 0.005")" \
    "ledger used + overhead $(bh_f "$SPU + $OVH_VMM + $OVH_XENOD"), /proc $(bh_f "$T_MON + $T_XENOD")"

MSP=$(hb '[.lines[] | select(.kind == "sponsor") | .memory_gib_seconds_micros] | add / 1e6')
MIDLE=$(hb '.lines[] | select(.kind == "idle") | .memory_gib_seconds_micros / 1e6')
MIDLE_M=$(hb '.lines[] | select(.kind == "idle") | .measured_memory_gib_seconds_micros / 1e6')
MOVH=$(hb '[.lines[] | select(.kind == "overhead") | .memory_gib_seconds_micros] | add / 1e6')
MOTHER=$(hb '.lines[] | select(.kind == "other") | .memory_gib_seconds_micros / 1e6')
MSUM=$(bh_f "$MSP + $MIDLE + $MOVH + $MOTHER")
T_MIDLE=$(bh_f "$AVAIL_SUM / $AVAIL_N / 1048576 * 60")
echo "    memory GiB-seconds: capacity $CAPM; sponsors $MSP; idle $MIDLE (measured $MIDLE_M; here $T_MIDLE);"
echo "      overhead $MOVH; other $MOTHER; sum $MSUM"
check billing-host-memory-conservation "bh_near $MSUM $CAPM 0.005" "sum $MSUM, capacity $CAPM"
check billing-host-memory-idle-measured "bh_near $MIDLE_M $T_MIDLE 0 $(bh_f "$CAPM * 0.005")" \
    "xenod $MIDLE_M, here $T_MIDLE"
check billing-host-memory-other-not-negative "awk 'BEGIN { exit !($MOTHER >= -$CAPM * 0.005) }'" "other $MOTHER"
out=$(bhx bill --host --from "$FROM" --to "$TO")
check billing-host-table "grep -q '^capacity' <<<\"\$out\" && grep -q '^idle' <<<\"\$out\"" "$out"
echo "$out" | sed 's/^/      /'
out=$(bhx bill --host --from "$FROM" --to "$TO" --csv)
check billing-host-csv "[ \"\$(head -1 <<<\"\$out\")\" = '\"kind\",\"name\",\"cpu_seconds\",\"memory_gib_seconds\",\"amount\"' ] && grep -q '^\"capacity\"' <<<\"\$out\"" "$out"
out=$(bhx bill --host --from "$TO" --to "$FROM" 2>&1)
check billing-host-inverted-period "[ \$? != 0 ] && grep -qi period <<<\"\$out\"" "$out"

# --- xenctl top's cost column: the price list (cpu 100 per vcpu-second, memory 1 per GiB-second)
# at the rate the same frame shows: max(CPU%, reservation) and max(resident, 64 MiB allocated).
TOPOUT=$(bhx top -b -n 2 -d 2)
FRAME=$(awk '/^Name / { f = "" } { f = f $0 "\n" } END { printf "%s", f }' <<<"$TOPOUT")
echo "$FRAME" | sed 's/^/      /'
bh_top_ok() { # the second frame: every running domain's Cost/h as its CPU% and reservation say
    awk '/^Name / { t = 1; next } /^$/ { t = 0 } /^Sponsor / { s = 1; next }
         t && NF >= 9 { cpu = $4 / 100; res = $6; sub(/%/, "", res); res /= 100; if ($6 == "-") res = 0
                        q = (cpu > res ? cpu : res) * 100 + 0.0625 * 1; want = q * 3600 / 1e6
                        d = $9 - want; if (d < 0) d = -d; if (d > want * 0.01 + 0.000002) bad = 1; n++ }
         END { exit !(n == 3 && !bad) }' <<<"$FRAME"
}
check billing-host-top-cost-is-price-times-rate bh_top_ok "$FRAME"
bh_top_totals_ok() { # Sponsor Domains Cost/h: acme = hot, beta = rest + capped
    awk '/^Name / { t = 1; next } /^$/ { t = 0 } /^Sponsor / { s = 1; next }
         t && NF >= 9 { c[$1] = $9 } s && NF == 3 { tot[$1] = $3; ns++ }
         END { a = tot["acme"] - c["hot"]; b = tot["beta"] - c["rest"] - c["capped"]
               exit !(ns == 2 && a * a < 1e-11 && b * b < 1e-11) }' <<<"$FRAME"
}
check billing-host-top-sponsor-totals bh_top_totals_ok "$FRAME"

# --- each domain over its life: the ledger against /proc --------------------------------------
TP=$EPOCHREALTIME
declare -A VNS PNS
for d in hot rest capped; do bhx pause $d >/dev/null; done
sleep 0.5 # the vCPU threads leave the CPU
for d in hot rest capped; do
    VNS[$d]=$(bh_vcpu_ns "${PID[$d]}")
    PNS[$d]=$(bh_proc_ns "${PID[$d]}")
done
for d in hot rest capped; do bhx destroy $d >/dev/null; done
T3=$EPOCHREALTIME
for d in hot rest capped; do wait_until 10 bh_gone $d; done
for d in hot rest capped; do
    U=$(bh_meter "$d" vcpu_seconds_used)
    O=$(bh_meter "xeno-vmm:$d" overhead_cpu_seconds)
    echo "    $d: used $U us (vCPU threads ${VNS[$d]} ns); used + overhead $((U + O)) us (process ${PNS[$d]} ns)"
    check "billing-host-$d-used-is-vcpu-time" "bh_near $U $((VNS[$d] / 1000)) 0.01 10000" \
        "ledger $U us, vCPU threads ${VNS[$d]} ns"
    check "billing-host-$d-used-and-overhead-is-process-time" "bh_near $((U + O)) $((PNS[$d] / 1000)) 0.01 30000" \
        "ledger $U + $O us, process ${PNS[$d]} ns"
done
for d in hot:0.30 rest:0.20; do
    R=$(bh_meter "${d%:*}" vcpu_seconds_reserved)
    RS=$(bh_f "$R / 1e6 / ${d#*:}")
    echo "    ${d%:*}: reserved / ${d#*:} = $RS s; ran $(bh_f "$TP - $T1") to $(bh_f "$T3 - $T0") s"
    check "billing-host-${d%:*}-reserved-is-reservation-times-wall" \
        "bh_between $RS $(bh_f "($TP - $T1) * 0.99") $(bh_f "($T3 - $T0) * 1.01")" "reserved/${d#*:} $RS s"
done
check billing-host-keys-unique "[ \"\$(bhsql 'SELECT COUNT(*) - COUNT(DISTINCT idem_key) FROM ledger_tx')\" = 0 ]"
check billing-host-double-entry-balances \
    "[ \"\$(bhsql 'SELECT COUNT(*) FROM (SELECT tx_id FROM ledger_posting GROUP BY tx_id, meter HAVING SUM(quantity) <> 0) AS u')\" = 0 ]"
bh_cleanup
