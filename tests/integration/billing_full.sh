# A ledger database that refuses writes, against xenod itself (docs/billing.md, "A database
# that refuses writes"): xenod's state directory is a small tmpfs; first it is made read-only
# for new files (chattr +i on the directory: SQLite cannot create its journal), then full (a
# filler file takes every block). Each time the domain runs on, xenod says so once, nothing
# is posted while it lasts, and when the database takes writes again what waited is posted:
# the domain's monitor intervals in the ledger are contiguous from its start to its end
# (no second lost, none twice) and sum to its running time within 1 s.
# Root: mounts a tmpfs.

LF_XENOD=$BUILD_DIR/bin/xenod
LF_XENCTL=$BUILD_DIR/bin/xenctl
LF=$TMP/f # short: the monitors' socket paths under it must fit 108 bytes
LF_STATE=$LF/s
LF_SOCK=$LF/xenod.sock
LF_DB=$LF_STATE/ledger.db
LF_XPID=
mkdir -p "$LF_STATE"

lfx() { XENOD_SOCKET=$LF_SOCK timeout -k 5 60 "$LF_XENCTL" "$@"; }
lfsql() { ledger_sql "$LF_DB" "$1"; }
lf_up() { XENOD_SOCKET=$LF_SOCK timeout 5 "$LF_XENCTL" host >/dev/null 2>&1; }
lf_gone() { ! lfx info "$1" >/dev/null 2>&1; }
lf_running() { lfx --json info "$1" 2>/dev/null | jqe '.state == "running" or .state == "blocked"' >/dev/null; }
lf_ntx() { lfsql "SELECT COUNT(*) FROM ledger_tx"; }
lf_cleanup() {
    chattr -i "$LF_STATE" 2>/dev/null
    [ -z "$LF_XPID" ] || { kill -TERM "$LF_XPID" 2>/dev/null && wait "$LF_XPID" 2>/dev/null; }
    LF_XPID=
    for p in $(pgrep -f -- "--run-dir $LF_STATE/"); do kill -KILL "$p" 2>/dev/null; done
    mountpoint -q "$LF_STATE" && umount "$LF_STATE"
}
trap 'lf_cleanup; test_file_exit' EXIT

if ! kvm_case billing-ledger-full; then return 0 2>/dev/null || exit 0; fi
if [ ! -f "$GUEST/echo.elf" ] || ! command -v sqlite3 >/dev/null || [ "$(id -u)" != 0 ]; then
    fail billing-ledger-full "needs root, sqlite3 (scripts/install-deps.sh) and $GUEST/echo.elf"
    return 0 2>/dev/null || exit 0
fi
mount -t tmpfs -o size=4m,mode=0700 tmpfs "$LF_STATE" || {
    fail billing-ledger-full-mount "cannot mount a tmpfs on $LF_STATE"
    return 0 2>/dev/null || exit 0
}

"$LF_XENOD" --state-dir "$LF_STATE" --socket "$LF_SOCK" --cpus 2 --ledger-interval 1s >>"$LF/xenod.log" 2>&1 &
LF_XPID=$!
wait_until 10 lf_up
check billing-ledger-full-xenod-starts lf_up "$(tail -3 "$LF/xenod.log")"
printf '<domain type="kvm"><name>steady</name><memory unit="MiB">32</memory><vcpu>1</vcpu>
  <os><kernel>%s</kernel></os>
  <metadata><xeno:sponsor xmlns:xeno="urn:xenoserver:domain:1">acme</xeno:sponsor>
  <xeno:cpu xmlns:xeno="urn:xenoserver:domain:1" reservation="10%%"/></metadata></domain>\n' \
    "$PWD/$GUEST/echo.elf" >"$LF/steady.xml"
T0=$EPOCHREALTIME
lfx create "$LF/steady.xml" >/dev/null
T1=$EPOCHREALTIME
lf_has_tx() { [ "$(lf_ntx)" -ge "$1" ]; }
wait_until 10 lf_has_tx 2
check billing-ledger-full-posts-before "lf_has_tx 2" "$(lf_ntx) transactions"

# --- read-only: no new file in the state directory, so no journal ---------------------------
lf_episode() { # NAME HOW: HOW makes the database refuse writes; then 4 s of running
    local before
    before=$(lf_ntx)
    FAILS0=$(grep -c 'cannot post' "$LF/xenod.log")
    OKS0=$(grep -c 'writable again' "$LF/xenod.log")
    eval "$2"
    wait_until 5 has "$LF/xenod.log" 'cannot post'
    sleep 4 # a duration: the domain runs on while its usage waits
    check "billing-ledger-$1-said-once" "[ \$((\$(grep -c 'cannot post' '$LF/xenod.log') - FAILS0)) = 1 ]" \
        "$(log_tail "$LF/xenod.log")"
    check "billing-ledger-$1-nothing-posted" "[ \$(lf_ntx) -le $((before + 1)) ]" "$before then $(lf_ntx)"
    check "billing-ledger-$1-domain-runs" "lf_running steady && kill -0 $LF_XPID" "$(lfx info steady 2>&1)"
}
lf_recovered() { [ "$(grep -c 'writable again' "$LF/xenod.log")" -gt "$OKS0" ]; }
lf_episode readonly 'chattr +i "$LF_STATE"'
N0=$(lf_ntx)
chattr -i "$LF_STATE"
wait_until 10 lf_recovered
check billing-ledger-readonly-backlog-posted "lf_recovered && [ \$(lf_ntx) -ge $((N0 + 3)) ]" \
    "$N0 then $(lf_ntx): $(log_tail "$LF/xenod.log")"

# --- full: a filler takes every block of the tmpfs -----------------------------------------
lf_episode full 'dd if=/dev/zero of="$LF_STATE/filler" bs=4k 2>/dev/null'
N0=$(lf_ntx)
rm -f "$LF_STATE/filler"
wait_until 10 lf_recovered
check billing-ledger-full-backlog-posted "lf_recovered && [ \$(lf_ntx) -ge $((N0 + 3)) ]" \
    "$N0 then $(lf_ntx): $(log_tail "$LF/xenod.log")"

TD0=$EPOCHREALTIME
lfx destroy steady >/dev/null
TD1=$EPOCHREALTIME
wait_until 10 lf_gone steady
check billing-ledger-full-keys-unique "[ \"\$(lfsql 'SELECT COUNT(*) - COUNT(DISTINCT idem_key) FROM ledger_tx')\" = 0 ]"
# Contiguous: every monitor interval starts where the one before ended; the sum is the
# domain's running time.
IV=$(lfsql "SELECT period_start_us, period_end_us FROM ledger_tx WHERE domain_name = 'steady'
            AND idem_key LIKE '%/monitor/%' ORDER BY period_start_us")
SUM=$(awk '{ split($0, f, "|"); if (NR > 1 && f[1] != e) bad = 1; s += f[2] - f[1]; e = f[2] }
           END { if (bad) print "gap-or-overlap"; else printf "%.3f\n", s / 1e6 }' <<<"$IV")
check billing-ledger-full-exactly-once \
    "[[ \$SUM != gap* ]] && awk -v s=$SUM -v a=$(awk -v a="$T1" -v b="$TD0" 'BEGIN { print b - a - 1 }') \
        -v b=$(awk -v a="$T0" -v b="$TD1" 'BEGIN { print b - a + 1 }') 'BEGIN { exit !(s >= a && s <= b) }'" \
    "sum $SUM s over $(wc -l <<<"$IV") postings; created $T0..$T1, destroyed $TD0..$TD1"
echo "    steady: $(wc -l <<<"$IV") postings, $SUM s posted"
