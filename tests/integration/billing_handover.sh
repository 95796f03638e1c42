# Exactly once across save/restore and live migration (docs/metering.md, "Migration: the
# hand-over instant"): one domain of sponsor acme runs on host A, is saved and restored there,
# then moved live to host B (two network namespaces, each with its own xenod and ledger, as
# xenod_migrate.sh). Over both ledgers: every monitor interval starts at or after the end of
# the one before (the destination bills from GO, the source until GO: no second twice),
# their sum is the domain's running time within 1 s, the reserved vCPU-seconds are the
# reservation x that sum within 1%, every idempotency key is unique, and every transaction is
# acme's.
# Root: network namespaces.

HO=$TMP/h # short: the monitors' socket paths under it must fit 108 bytes
HO_A=hoA$$ HO_B=hoB$$
HO_PIDS=
ho_ctl() { # HOST ARGS...
    local h=$1
    shift
    XENOD_SOCKET=$HO/$h.sock timeout -k 5 60 "$BUILD_DIR/bin/xenctl" "$@"
}
ho_sql() { ledger_sql "$HO/$1/ledger.db" "$2"; } # HOST SQL
ho_cleanup() {
    local p ns
    for p in $HO_PIDS; do kill -TERM "$p" 2>/dev/null; done
    for p in $HO_PIDS; do wait "$p" 2>/dev/null; done
    HO_PIDS=
    for p in $(pgrep -f -- "--run-dir $HO/"); do kill -KILL "$p" 2>/dev/null; done
    for ns in "$HO_A" "$HO_B"; do ip netns del "$ns" 2>/dev/null; done
    return 0
}
trap 'ho_cleanup; test_file_exit' EXIT
ho_xenod() { # HOST NETNS [ARGS...]
    local h=$1 ns=$2
    shift 2
    ip netns exec "$ns" "$BUILD_DIR/bin/xenod" --state-dir "$HO/$h" --socket "$HO/$h.sock" --cpus 2 \
        --ledger-interval 1s "$@" >"$HO/$h.log" 2>&1 &
    HO_PIDS="$HO_PIDS $!"
    wait_until 30 curl -sf --unix-socket "$HO/$h.sock" http://x/v1/host -o /dev/null
}
ho_alive() { ho_ctl "$1" --json info mover 2>/dev/null | jqe '.state == "running" or .state == "blocked"' >/dev/null; }
ho_gone() { ! ho_ctl "$1" --json info mover 2>/dev/null | jqe '.state == "running" or .state == "blocked" or .state == "paused"' >/dev/null; }
sub() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.6f\n", b - a }'; }

if ! kvm_case billing-handover; then return 0 2>/dev/null || exit 0; fi
if [ ! -f "$GUEST/echo.elf" ] || ! command -v sqlite3 >/dev/null || [ "$(id -u)" != 0 ]; then
    fail billing-handover "needs root, sqlite3 (scripts/install-deps.sh) and $GUEST/echo.elf"
    return 0 2>/dev/null || exit 0
fi
mkdir -p "$HO"
head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$HO/key"
chmod 600 "$HO/key"
if ! { ip netns add "$HO_A" && ip netns add "$HO_B" &&
    ip link add hova$$ netns "$HO_A" type veth peer name hovb$$ netns "$HO_B" &&
    ip -n "$HO_A" addr add 10.79.0.1/24 dev hova$$ && ip -n "$HO_B" addr add 10.79.0.2/24 dev hovb$$ &&
    ip -n "$HO_A" link set hova$$ up && ip -n "$HO_B" link set hovb$$ up &&
    ip -n "$HO_A" link set lo up && ip -n "$HO_B" link set lo up; } 2>"$HO/netns.err"; then
    fail billing-handover-hosts "cannot make the namespaces: $(cat "$HO/netns.err")"
    return 0 2>/dev/null || exit 0
fi
if ! ho_xenod a "$HO_A" --migrate-key "$HO/key" ||
    ! ho_xenod b "$HO_B" --migrate-listen 10.79.0.2:7431 --migrate-key "$HO/key"; then
    fail billing-handover-xenods "$(tail -3 "$HO"/*.log)"
    return 0 2>/dev/null || exit 0
fi
printf '<domain type="kvm"><name>mover</name><memory unit="MiB">64</memory><vcpu>1</vcpu>
  <os><kernel>%s</kernel></os>
  <metadata><xeno:sponsor xmlns:xeno="urn:xenoserver:domain:1">acme</xeno:sponsor>
  <xeno:cpu xmlns:xeno="urn:xenoserver:domain:1" reservation="20%%"/></metadata></domain>\n' \
    "$(realpath "$GUEST/echo.elf")" >"$HO/mover.xml"

# Runs on A for 4 s; saved; 3 s on disk (not running, not billed); restored on A; 4 s;
# moved live to B; 4 s; destroyed there. Each step's window [before, after] bounds it.
C0=$EPOCHREALTIME
ho_ctl a create "$HO/mover.xml" >/dev/null
C1=$EPOCHREALTIME
sleep 4 # a duration: billed on A
S0=$EPOCHREALTIME
out=$(ho_ctl a save mover "$HO/a/snapshots/mover.snap" 2>&1)
rc=$?
S1=$EPOCHREALTIME
check billing-handover-saved "[ $rc = 0 ] && wait_until 10 ho_gone a" "exit $rc: $out"
sleep 3 # a duration: on disk, billed nowhere
R0=$EPOCHREALTIME
out=$(ho_ctl a restore "$HO/a/snapshots/mover.snap" 2>&1)
rc=$?
R1=$EPOCHREALTIME
check billing-handover-restored "[ $rc = 0 ] && ho_alive a" "exit $rc: $out"
sleep 4 # a duration: billed on A again
M0=$EPOCHREALTIME
out=$(ho_ctl a migrate mover 10.79.0.2:7431 --live 2>&1)
rc=$?
M1=$EPOCHREALTIME
check billing-handover-migrated "[ $rc = 0 ] && ho_alive b" "exit $rc: $out; $(tail -3 "$HO/b.log")"
sleep 4 # a duration: billed on B
D0=$EPOCHREALTIME
ho_ctl b destroy mover >/dev/null
D1=$EPOCHREALTIME
wait_until 10 ho_gone b
sleep 1.5 # a duration: both xenods' final postings (each at its monitor's end) are in

# Running time: at least the time between the steps' windows, at most with the windows.
MIN=$(awk -v s="$(sub "$C1" "$S0")" -v r="$(sub "$R1" "$D0")" 'BEGIN { print s + r }')
MAX=$(awk -v s="$(sub "$C0" "$S1")" -v r="$(sub "$R0" "$D1")" 'BEGIN { print s + r }')
Q="SELECT period_start_us, period_end_us FROM ledger_tx WHERE domain_name = 'mover' AND idem_key LIKE '%/monitor/%'"
IV=$( (ho_sql a "$Q"; ho_sql b "$Q") | sort -t'|' -k1,1n)
SUM=$(awk '{ split($0, f, "|"); if (NR > 1 && f[1] < e) { bad = 1; over += e - f[1] } s += f[2] - f[1]; if (f[2] > e) e = f[2] }
           END { if (bad) printf "overlap of %d us\n", over; else printf "%.3f\n", s / 1e6 }' <<<"$IV")
NA=$(ho_sql a "SELECT COUNT(*) FROM ledger_tx WHERE domain_name = 'mover'")
NB=$(ho_sql b "SELECT COUNT(*) FROM ledger_tx WHERE domain_name = 'mover'")
echo "    mover: $NA postings on A, $NB on B, $SUM s posted; ran between $MIN and $MAX s"
check billing-handover-both-hosts-billed "[ $NA -ge 4 ] && [ $NB -ge 2 ]" "A $NA, B $NB"
check billing-handover-no-overlap "[[ \$SUM != overlap* ]]" "$SUM: $IV"
check billing-handover-running-time \
    "[[ \$SUM != overlap* ]] && awk -v s=\$SUM -v a=$MIN -v b=$MAX 'BEGIN { exit !(s >= a - 1 && s <= b + 1) }'" \
    "sum $SUM s, ran $MIN..$MAX s"
# The reservation's seconds are those intervals too, on both hosts: none while the
# destination received the domain before GO, none after the source sent it.
RQ="SELECT COALESCE(SUM(p.quantity), 0) FROM ledger_posting p JOIN ledger_tx t ON t.id = p.tx_id
    WHERE t.domain_name = 'mover' AND p.meter = 'vcpu_seconds_reserved' AND p.account <> 'host'"
RES=$(($(ho_sql a "$RQ") + $(ho_sql b "$RQ")))
check billing-handover-reserved "[[ \$SUM != overlap* ]] && awk -v r=$RES -v s=\$SUM 'BEGIN { d = r / 1e6 / 0.20 - s; if (d < 0) d = -d; exit !(d <= 0.01 * s) }'" \
    "reserved $RES us, intervals $SUM s"
KQ="SELECT idem_key FROM ledger_tx"
check billing-handover-keys-unique "[ -z \"\$( (ho_sql a '$KQ'; ho_sql b '$KQ') | sort | uniq -d)\" ]"
SQ="SELECT DISTINCT sponsor FROM ledger_tx WHERE domain_name = 'mover'"
check billing-handover-sponsor-follows "[ \"\$( (ho_sql a \"$SQ\"; ho_sql b \"$SQ\") | sort -u)\" = acme ]"
check billing-handover-balances "[ \"\$(ho_sql b 'SELECT COUNT(*) FROM (SELECT tx_id FROM ledger_posting GROUP BY tx_id, meter HAVING SUM(quantity) <> 0) AS u')\" = 0 ]"
