# Metering and billing (docs/metering.md, docs/billing.md) with real monitors on real KVM: a
# spinning domain under a CPU reservation (sponsor acme) and an idle one (beta) for 30 s; the
# ledger's CPU-seconds against the vCPU threads' own CPU time in /proc, reserved seconds
# against reservation x wall time, the double entry and bills rebuilt from the raw postings;
# then a domain whose xenod is SIGKILLed and restarted and whose monitor is SIGKILLed: no
# second counted twice. Price lists: malformed refused with file:line, the old list kept.
# test-harness: serial (it compares CPU time and wall time: other tests beside it skew both)

BL_XENOD=$BUILD_DIR/bin/xenod
BL_XENCTL=$BUILD_DIR/bin/xenctl
BL=$TMP/billing
BL_SOCK=$BL/xenod.sock
BL_DB=$BL/state/ledger.db
BL_XPID=
mkdir -p "$BL"

blx() { XENOD_SOCKET=$BL_SOCK timeout -k 5 60 "$BL_XENCTL" "$@"; }
blapi() { # METHOD PATH: the body, then the status on its own last line
    curl -s --unix-socket "$BL_SOCK" -X "$1" -w '\n%{http_code}\n' "http://xenod/v1$2"
}
blsql() { ledger_sql "$BL_DB" "$1"; }
bl_up() { blapi GET /host 2>/dev/null | head -1 | grep -q version; }
bl_start() {
    "$BL_XENOD" --state-dir "$BL/state" --socket "$BL_SOCK" --cpus 2 --prices "$BL/prices" \
        --ledger-interval 2s >>"$BL/xenod.log" 2>&1 &
    BL_XPID=$!
    wait_until 10 bl_up
}
bl_stop() {
    [ -z "$BL_XPID" ] || { kill -TERM "$BL_XPID" 2>/dev/null && wait "$BL_XPID" 2>/dev/null; }
    BL_XPID=
}
bl_cleanup() {
    bl_stop
    for p in $(pgrep -f -- "--run-dir $BL/state/"); do kill -KILL "$p" 2>/dev/null; done
}
# bl_xml NAME SPONSOR KERNEL RESERVATION
bl_xml() {
    printf '<domain type="kvm"><name>%s</name><memory unit="MiB">64</memory><vcpu>1</vcpu>
  <os><kernel>%s</kernel></os>
  <metadata><xeno:sponsor xmlns:xeno="urn:xenoserver:domain:1">%s</xeno:sponsor>
  <xeno:cpu xmlns:xeno="urn:xenoserver:domain:1" reservation="%s"/></metadata></domain>\n' \
        "$1" "$PWD/$GUEST/$3" "$2" "$4" >"$BL/$1.xml"
}
# bl_vcpu_ns PID: the CPU time of the monitor's vCPU threads (comm vcpuN), from /proc.
bl_vcpu_ns() {
    local t sum=0 comm
    for t in /proc/"$1"/task/*; do
        comm=$(cat "$t/comm" 2>/dev/null)
        [[ $comm == vcpu* ]] && sum=$((sum + $(cut -d' ' -f1 "$t/schedstat")))
    done
    echo "$sum"
}
# bl_meter DOMAIN METER: the sum of the domain's sponsor-side lines of that meter (micro-units).
bl_meter() {
    blsql "SELECT COALESCE(SUM(p.quantity), 0) FROM ledger_posting p JOIN ledger_tx t ON t.id = p.tx_id
           WHERE t.domain_name = '$1' AND p.meter = '$2' AND p.account <> 'host'"
}
bl_within() { awk -v a="$1" -v b="$2" -v r="$3" 'BEGIN { d = a - b; if (d < 0) d = -d; exit !(d <= r * b) }'; }
bl_between() { awk -v v="$1" -v lo="$2" -v hi="$3" 'BEGIN { exit !(v >= lo && v <= hi) }'; }
bl_gone() { ! blx info "$1" >/dev/null 2>&1; }

if ! kvm_case billing; then return 0 2>/dev/null || exit 0; fi
if [ ! -f "$GUEST/spin.elf" ] || [ ! -f "$GUEST/echo.elf" ] || ! command -v sqlite3 >/dev/null; then
    fail billing-prerequisites "$GUEST/spin.elf, $GUEST/echo.elf or sqlite3 is missing (make guests; install-deps)"
    return 0 2>/dev/null || exit 0
fi

cat >"$BL/prices" <<'P'
version v1
effective 2020-01-01T00:00:00Z
price cpu 100 per vcpu-second
price memory 1 per GiB-second
price cpu 50 per vcpu-second sponsor beta
P
printf 'version bad\neffective 2020-01-01T00:00:00Z\nprice cpu ten per vcpu-second\n' >"$BL/bad.prices"

# --- a malformed price list: xenod does not start, and says where -------------------------------
out=$(timeout 10 "$BL_XENOD" --state-dir "$BL/state0" --socket "$BL/s0.sock" --prices "$BL/bad.prices" 2>&1)
rc=$?
check billing-bad-prices-refused-at-start "[ $rc != 0 ] && grep -q \"bad.prices:3: price 'ten' is not a whole number\" <<<\"\$out\"" \
    "exit $rc: $out"

bl_start
check billing-xenod-starts bl_up "$(tail -3 "$BL/xenod.log")"

# --- conservation: two sponsors, 30 s -------------------------------------------------------
bl_xml spin acme spin.elf 30%
bl_xml idle beta echo.elf 20%
T0=$EPOCHREALTIME
blx create "$BL/spin.xml" >/dev/null && blx create "$BL/idle.xml" >/dev/null
T1=$EPOCHREALTIME
SPID=$(blx --json info spin | jq -r .pid)
sleep 30 # a duration: the domains run, the ledger takes a posting every 2 s
TP=$EPOCHREALTIME
blx pause spin >/dev/null
blx pause idle >/dev/null
sleep 0.5 # the vCPU thread leaves the CPU; its time stops growing
PROC_NS=$(bl_vcpu_ns "$SPID")
blx destroy spin >/dev/null
blx destroy idle >/dev/null
T3=$EPOCHREALTIME
wait_until 10 bl_gone spin
wait_until 10 bl_gone idle

USED=$(bl_meter spin vcpu_seconds_used)
check billing-cpu-matches-proc "[ $PROC_NS -gt 1000000000 ] && [ ${USED:-0} -gt 0 ] && bl_within $USED $((PROC_NS / 1000)) 0.01" \
    "ledger $USED us, /proc $PROC_NS ns"
RES=$(bl_meter spin vcpu_seconds_reserved)
RES_S=$(awk -v r="$RES" 'BEGIN { printf "%.3f", r / 1e6 / 0.30 }')
check billing-reserved-is-reservation-times-wall \
    "[ ${RES:-0} -gt 0 ] && bl_between $RES_S $(awk -v a="$T1" -v b="$TP" 'BEGIN { print (b - a) * 0.99 }') $(awk -v a="$T0" -v b="$T3" 'BEGIN { print (b - a) * 1.01 }')" \
    "reserved/30% = $RES_S s; wall $T0 $T1 $TP $T3"
echo "    spin: ledger $USED us used, /proc $PROC_NS ns; reserved/30% $RES_S s"
NTX=$(blsql "SELECT COUNT(*) FROM ledger_tx WHERE domain_name = 'spin'")
check billing-posts-while-running "[ $NTX -ge 10 ]" "$NTX transactions in 30 s at 2 s"
check billing-double-entry-balances \
    "[ \"\$(blsql 'SELECT COUNT(*) FROM (SELECT tx_id FROM ledger_posting GROUP BY tx_id, meter HAVING SUM(quantity) <> 0) AS u')\" = 0 ]"

# --- bills, rebuilt from the raw postings ----------------------------------------------------
# CPU: max(used, reserved) per transaction (the price list has no rule cpu line).
bl_cpu_billable() {
    blsql "SELECT SUM(CASE WHEN u > r THEN u ELSE r END) FROM (SELECT p.tx_id,
             SUM(CASE p.meter WHEN 'vcpu_seconds_used' THEN p.quantity ELSE 0 END) AS u,
             SUM(CASE p.meter WHEN 'vcpu_seconds_reserved' THEN p.quantity ELSE 0 END) AS r
           FROM ledger_posting p JOIN ledger_tx t ON t.id = p.tx_id
           WHERE t.sponsor = '$1' AND p.account <> 'host' GROUP BY p.tx_id) AS x"
}
FROM=2020-01-01T00:00:00Z
TO=$(date -u -d '+1 hour' +%Y-%m-%dT%H:%M:%SZ)
ACME=$(blx --json bill acme --from $FROM --to "$TO")
Q=$(bl_cpu_billable acme)
check billing-bill-cpu-rebuilt "jqe --argjson q $Q '.lines[] | select(.resource == \"cpu\") | .quantity_micros == \$q and .amount_micros == ((\$q * 100 / 1000000) | floor)' <<<\"\$ACME\" >/dev/null" \
    "rebuilt $Q: $ACME"
check billing-bill-total "jqe '.total_micros == ([.lines[].amount_micros] | add) and .price_list == \"v1\"' <<<\"\$ACME\" >/dev/null" "$ACME"
# /metrics says the same money as the bill (both domains ended: nothing is posted after).
METRICS=$(curl -s --unix-socket "$BL_SOCK" http://xenod/metrics)
check billing-metrics-charge-is-bill-total \
    "grep -qx 'xeno_sponsor_charge_micros_total{sponsor=\"acme\"} $(jq -r .total_micros <<<"$ACME")' <<<\"\$METRICS\"" \
    "bill $(jq -c .total_micros <<<"$ACME"); $(grep charge <<<"$METRICS")"
BETA=$(blx --json bill beta --from $FROM --to "$TO" --by domain)
QB=$(bl_cpu_billable beta)
BRES=$(bl_meter idle vcpu_seconds_reserved)
check billing-idle-pays-its-reservation-at-its-price \
    "[ $QB = $BRES ] && jqe --argjson q $QB '.lines[] | select(.resource == \"cpu\") | .group == \"idle\" and .quantity_micros == \$q and .unit_price_micros == 50' <<<\"\$BETA\" >/dev/null" \
    "rebuilt $QB, reserved $BRES: $BETA"
out=$(blx bill acme --from $FROM --to "$TO" --csv)
check billing-bill-csv "[ \$(wc -l <<<\"\$out\") -ge 3 ] && head -1 <<<\"\$out\" | grep -q '^\"group\",\"domain_uuid\",\"resource\"'" "$out"
out=$(blx bill acme --from $FROM --to "$TO")
check billing-bill-text "grep -Eq '^- +cpu +.* vcpu-second +0\\.000100 per vcpu-second +[0-9]+\\.[0-9]{6}\$' <<<\"\$out\" && grep -q '^Total for acme' <<<\"\$out\"" "$out"

# --- --explain: each line of beta's bill by domain rebuilt from the raw postings ------------------
NL=$(jq '.lines | length' <<<"$BETA")
for n in $(seq 1 "$NL"); do
    EX=$(blx --json bill beta --from $FROM --to "$TO" --by domain --explain "$n")
    # The pieces' billable add up to the line; each is the rule (max) of its shares; the
    # transactions named are beta's, and their postings are the ledger's own rows.
    check billing-explain-line-$n "jqe '.quantity_micros == .line.quantity_micros and .amount_micros == .line.amount_micros
        and ([.pieces[].billable] | add) == .line.quantity_micros
        and all(.pieces[]; .billable == ([.share[]] | max))' <<<\"\$EX\" >/dev/null" "$EX"
done
TX1=$(jq -r '[.pieces[] | select(.postings.vcpu_seconds_reserved != null)][0] | "\(.tx) \(.postings.vcpu_seconds_reserved)"' \
    <<<"$(blx --json bill beta --from $FROM --to "$TO" --by domain --explain 1)")
check billing-explain-postings-are-the-ledgers "[ \"\$(blsql \"SELECT quantity FROM ledger_posting WHERE tx_id = ${TX1%% *}
    AND meter = 'vcpu_seconds_reserved' AND account <> 'host'\")\" = '${TX1#* }' ]" "$TX1"
out=$(blx bill beta --from $FROM --to "$TO" --by domain --explain 1)
check billing-explain-text "grep -q '^Rebuilt: quantity' <<<\"\$out\" && grep -q 'billable = max' <<<\"\$out\"" "$out"
r=$(blapi GET "/sponsors/beta/bill/explain?from=$FROM&to=$TO&line=99")
check billing-explain-no-such-line "[ \"\$(tail -1 <<<\"\$r\")\" = 400 ] && grep -q 'the bill has' <<<\"\$r\"" "$r"

# --- bad input ------------------------------------------------------------------------------
out=$(blx bill nobody --from $FROM --to "$TO" 2>&1)
rc=$?
check billing-unknown-sponsor "[ $rc = 1 ] && grep -q \"no usage of sponsor 'nobody'\" <<<\"\$out\"" "exit $rc: $out"
out=$(blx bill acme --from "$TO" --to $FROM 2>&1)
rc=$?
check billing-inverted-period "[ $rc = 1 ] && grep -q 'inverted' <<<\"\$out\"" "exit $rc: $out"
r=$(blapi GET "/sponsors/acme/bill?from=0&to=253402300799")
check billing-absurd-period "[ \"\$(tail -1 <<<\"\$r\")\" = 400 ] && grep -q 'longer than 3700 days' <<<\"\$r\"" "$r"
r=$(blapi GET "/sponsors/acme/bill?from=yesterday&to=now")
check billing-bad-time "[ \"\$(tail -1 <<<\"\$r\")\" = 400 ] && grep -q \"time 'yesterday'\" <<<\"\$r\"" "$r"

# --- price list reload: an error keeps the old list -----------------------------------------
cp "$BL/prices" "$BL/good.prices"
cp "$BL/bad.prices" "$BL/prices"
kill -HUP "$BL_XPID"
wait_until 5 has "$BL/xenod.log" "prices:3: price 'ten'"
check billing-sighup-bad-list-logged "has '$BL/xenod.log' \"prices:3: price 'ten' is not a whole number\" && kill -0 $BL_XPID" \
    "$(tail -3 "$BL/xenod.log")"
r=$(blapi POST /prices)
check billing-reload-bad-list-refused "[ \"\$(tail -1 <<<\"\$r\")\" = 400 ] && grep -q 'prices:3:' <<<\"\$r\"" "$r"
check billing-old-list-kept "blx --json bill acme --from $FROM --to '$TO' | jqe '.price_list == \"v1\"' >/dev/null"
sed 's/^version v1/version v2/' "$BL/good.prices" >"$BL/prices"
r=$(blapi POST /prices)
check billing-reload-good-list "[ \"\$(tail -1 <<<\"\$r\")\" = 200 ] && grep -q '\"version\":\"v2\"' <<<\"\$r\"" "$r"

# --- exactly once: xenod SIGKILLed and restarted, then the monitor SIGKILLed ------------------
bl_xml victim gamma spin.elf 20%
T0=$EPOCHREALTIME
blx create "$BL/victim.xml" >/dev/null
T1=$EPOCHREALTIME
sleep 6 # a duration: postings every 2 s
kill -KILL "$BL_XPID"
wait "$BL_XPID" 2>/dev/null
BL_XPID=
sleep 4 # a duration: the domain runs on while no xenod watches it
bl_start
check billing-xenod-restarts bl_up "$(tail -3 "$BL/xenod.log")"
sleep 6 # a duration: postings again after the restart
MPID=$(blx --json info victim | jq -r .pid)
TK0=$EPOCHREALTIME
kill -KILL "$MPID"
TK1=$EPOCHREALTIME
wait_until 15 bl_gone victim
check billing-keys-unique "[ \"\$(blsql 'SELECT COUNT(*) - COUNT(DISTINCT idem_key) FROM ledger_tx')\" = 0 ]"
# The monitor source's intervals: none overlaps the one before, and together they are the
# domain's running time (within 1 s: the page's last update before the kill).
IV=$(blsql "SELECT period_start_us, period_end_us FROM ledger_tx WHERE domain_name = 'victim'
            AND idem_key LIKE '%/monitor/%' ORDER BY period_start_us")
SUM=$(awk '{ split($0, f, "|"); if (NR > 1 && f[1] < e) bad = 1; s += f[2] - f[1]; e = f[2] }
           END { if (bad) print "overlap"; else printf "%.3f\n", s / 1e6 }' <<<"$IV")
check billing-exactly-once-running-time \
    "[ $(wc -l <<<"$IV") -ge 5 ] && bl_between $SUM $(awk -v a="$T1" -v b="$TK0" 'BEGIN { print b - a - 1 }') $(awk -v a="$T0" -v b="$TK1" 'BEGIN { print b - a + 1 }')" \
    "sum $SUM s over $(wc -l <<<"$IV") postings; create $T0..$T1, kill $TK0..$TK1"
VRES=$(bl_meter victim vcpu_seconds_reserved)
echo "    victim: $(wc -l <<<"$IV") postings, $SUM s posted; ran $(awk -v a="$T1" -v b="$TK0" 'BEGIN { print b - a }') to $(awk -v a="$T0" -v b="$TK1" 'BEGIN { print b - a }') s"
check billing-exactly-once-reserved "[ ${VRES:-0} -gt 0 ] && bl_within $(awk -v r="$VRES" 'BEGIN { print r / 1e6 / 0.20 }') $SUM 0.01" \
    "reserved $VRES us, intervals $SUM s"

bl_cleanup
