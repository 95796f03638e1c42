# xenod's own overhead at a clean stop (docs/billing.md, "The host's bill"): xenod posts its
# CPU time up to its stop, so nothing of a run is lost between its last periodic posting and
# its exit (the next xenod is a new process, a new meter instance, that counts from its own
# start). Posting once a minute (--ledger-interval 60s), xenod is kept busy with API requests
# after its first posting, then stopped with SIGTERM: the ledger's overhead of account
# "overhead:xenod" must hold the CPU time /proc showed just before the stop (to a tick), for
# each of two runs on the same ledger, with no key twice. No KVM: no domain runs.

HS=$TMP/hs
HS_SOCK=$HS/xenod.sock
HS_DB=$HS/state/ledger.db
HS_XPID=
mkdir -p "$HS"
hs_cleanup() {
    [ -z "$HS_XPID" ] || { kill -TERM "$HS_XPID" 2>/dev/null && wait "$HS_XPID" 2>/dev/null; }
    HS_XPID=
}
trap 'hs_cleanup; test_file_exit' EXIT # never a xenod left behind
hs_up() { curl -s --unix-socket "$HS_SOCK" http://xenod/v1/host 2>/dev/null | grep -q version; }
hs_sql() { ledger_sql "$HS_DB" "$1"; }
# The process's CPU time in microseconds (/proc ticks: 10 ms steps).
hs_proc_us() { awk -v hz="$(getconf CLK_TCK)" '{ sub(/^.*\) /, ""); printf "%.0f\n", ($12 + $13) * 1e6 / hz }' "/proc/$1/stat"; }
hs_overhead_us() {
    hs_sql "SELECT COALESCE(SUM(quantity), 0) FROM ledger_posting WHERE account = 'overhead:xenod'
            AND meter = 'overhead_cpu_seconds'"
}
hs_first_posted() { [ "$(hs_sql "SELECT COUNT(*) FROM ledger_tx WHERE domain_name = 'xenod'" 2>/dev/null)" -gt "$1" ]; }

if ! command -v sqlite3 >/dev/null; then
    fail billing-host-stop-prerequisites "sqlite3 is missing (scripts/install-deps.sh)"
    return 0 2>/dev/null || exit 0
fi
TOTAL=0
for run in 1 2; do
    PREV=$( ([ -f "$HS_DB" ] && hs_overhead_us) || echo 0)
    "$BUILD_DIR/bin/xenod" --state-dir "$HS/state" --socket "$HS_SOCK" --ledger-interval 60s \
        >>"$HS/xenod.log" 2>&1 &
    HS_XPID=$!
    wait_until 10 hs_up
    check "billing-host-stop-$run-xenod-starts" hs_up "$(log_tail "$HS/xenod.log")"
    # Its first posting (the first look at a source posts at once), then a minute of nothing.
    BEFORE=$(hs_sql "SELECT COUNT(*) FROM ledger_tx WHERE domain_name = 'xenod'" 2>/dev/null || echo 0)
    wait_until 10 hs_first_posted "$BEFORE"
    AT_FIRST=$(hs_overhead_us)
    END=$((SECONDS + 3))
    while [ $SECONDS -lt $END ]; do curl -s --unix-socket "$HS_SOCK" http://xenod/v1/host -o /dev/null; done
    P=$(hs_proc_us "$HS_XPID")
    kill -TERM "$HS_XPID"
    wait "$HS_XPID"
    HS_XPID=
    TOTAL=$((TOTAL + P))
    O=$(hs_overhead_us)
    echo "    run $run: xenod's CPU before the stop $P us (/proc); ledger $O us in all, $((AT_FIRST - PREV)) us at its first posting"
    # The premise: xenod worked after its first posting (else there is nothing to lose).
    check "billing-host-stop-$run-worked-after-posting" "[ $((P - (AT_FIRST - PREV))) -ge 50000 ]" \
        "xenod's CPU $P us, $((AT_FIRST - PREV)) us posted before the work"
    # Everything up to the stop; at most half a second more (the stop's own work).
    check "billing-host-stop-$run-overhead-up-to-the-stop" "[ $O -ge $((TOTAL - 10000 * run)) ] && [ $O -le $((TOTAL + 500000 * run)) ]" \
        "ledger $O us, /proc before the stops $TOTAL us"
done
check billing-host-stop-keys-unique "[ \"\$(hs_sql 'SELECT COUNT(*) - COUNT(DISTINCT idem_key) FROM ledger_tx')\" = 0 ]"
check billing-host-stop-two-instances \
    "[ \"\$(hs_sql \"SELECT COUNT(DISTINCT idem_key) FROM ledger_tx WHERE domain_name = 'xenod' AND idem_key LIKE '%/overhead/%'\")\" -ge 4 ]"
check billing-host-stop-double-entry-balances \
    "[ \"\$(hs_sql 'SELECT COUNT(*) FROM (SELECT tx_id FROM ledger_posting GROUP BY tx_id, meter HAVING SUM(quantity) <> 0) AS u')\" = 0 ]"
