# Disk metering end to end (docs/metering.md, "Disk meters"; docs/billing.md): blk_rw (a pattern
# written over its whole disk, then read back) on a 4 MiB disk with an I/O reservation, through
# xenod and the real xeno-blkback, sponsor acme, with a price list.
#   dm-info-live          GET /v1/domains/{ref} (xenctl --json info) shows the disk's counters
#                         while it runs: writes, size, reservation, the backend's name
#   dm-info-latency       ... and a latency percentile from the histogram
#   dm-info-text          xenctl info's text has the disk's ops line
#   dm-usage-samples      the usage samples' last disk sample (taken at the domain's end) has
#                         what the guest did: every byte written once (4 MiB, 128 writes of
#                         32 KiB), and read back (within 10%: the backend's page is at most
#                         100 ms behind at the end)
#   dm-ledger-matches     the ledger's disk_ops and disk_bytes for the domain are that last
#                         sample's counters exactly (one page, read once for both)
#   dm-ledger-gauges      disk_provisioned_gib_seconds = 4 MiB x the metered time, and
#                         disk_reserved_iops_seconds = the reservation x that time (within 1%)
#   dm-bill-lines         the sponsor's bill has disk_ops, disk_bytes, disk_provisioned and
#                         disk_reserved lines with those quantities, priced
#   dm-balance            the ledger balances (double entry) with the disk lines in it
#   dm-metrics            /metrics has the disk families (promtool check metrics passes)
# Every process started here is ended here, with bounded waits.

DM=$TMP/dm
DM_XENOD=$BUILD_DIR/bin/xenod
DM_CTL=$BUILD_DIR/bin/xenctl
DM_BLKBACK=$BUILD_DIR/bin/xeno-blkback
DM_PID=
DM_SIZE=$((4 * 1024 * 1024))
DM_RES=50 # the disk's reservation, cost units/s
DM_INFO=
dm() { XENOD_SOCKET=$DM/x.sock timeout -k 5 60 "$DM_CTL" "$@"; }
dm_sql() { ledger_sql "$DM/state/ledger.db" "$1"; }
# dm_meter METER: the sum of the domain's sponsor-side lines of that meter (micro-units).
dm_meter() {
    dm_sql "SELECT COALESCE(SUM(p.quantity), 0) FROM ledger_posting p JOIN ledger_tx t ON t.id = p.tx_id
            WHERE t.domain_name = 'dm' AND p.meter = '$1' AND p.account <> 'host'"
}
dm_within() { awk -v a="$1" -v b="$2" -v r="$3" 'BEGIN { d = a - b; if (d < 0) d = -d; exit !(d <= r * b) }'; }
dm_xenod() {
    ASAN_OPTIONS=${ASAN_OPTIONS:-}:detect_leaks=0 "$DM_XENOD" --state-dir "$DM/state" --socket "$DM/x.sock" \
        --image-dir "$DM/images" --blkback "$DM_BLKBACK" --sample-interval 300ms --ledger-interval 2s \
        --prices "$DM/prices" >>"$DM/xenod.log" 2>&1 &
    DM_PID=$!
    wait_until 100 curl -sf --unix-socket "$DM/x.sock" http://x/v1/host -o /dev/null
}
dm_cleanup() {
    dm destroy dm >/dev/null 2>&1
    [ -n "$DM_PID" ] && kill -TERM "$DM_PID" 2>/dev/null && wait_until 10 gone "$DM_PID"
    [ -n "$DM_PID" ] && kill -KILL "$DM_PID" 2>/dev/null
    pkill -KILL -f -- "--run-dir $DM/" 2>/dev/null
    pkill -KILL -f -- "--state-dir $DM/state/blkback" 2>/dev/null
    return 0
}
trap 'dm_cleanup; test_file_exit' EXIT
dm_live() { # the disk's stats object while it runs, with some writes done
    DM_INFO=$(dm --json info dm 2>/dev/null)
    [ "$(jq -r '.disks[0].stats.ops.write // 0' <<<"$DM_INFO")" -gt 0 ] 2>/dev/null
}
dm_ended() { [ "$(dm --json info dm 2>/dev/null | jq -r .state)" = shutdown ]; }

if kvm_case disk-meter; then
    rm -rf "$DM"
    mkdir -p "$DM/images" "$DM/state/blkback"
    "$DM_BLKBACK" --image-dir "$DM/images" --calibrate --state-dir "$DM/state/blkback" --calibrate-ms 300 \
        >"$DM/calibrate.out" 2>&1
    printf '%s\n' "version dm" "effective 2000-01-01T00:00:00Z" "price disk_ops 1000 per op" \
        "price disk_bytes 1 per 1000 bytes" "price disk_provisioned 1000000 per GiB-second" \
        "price disk_reserved 10 per iops-second" >"$DM/prices"
    truncate -s "$DM_SIZE" "$DM/images/dm.img"
    sed -e "s|<kernel>.*</kernel>|<kernel>$(realpath "$GUEST/blk_rw.elf")</kernel>|" -e "s|<name>blk_rw</name>|<name>dm</name>|" \
        -e "s|blk_rw.img|dm.img|" -e "s|>examples<|>acme<|" \
        -e "s|</serial>|</serial><xeno:iotune xmlns:xeno=\"urn:xenoserver:domain:1\" reservation=\"$DM_RES\"/>|" \
        examples/blk_rw.xml >"$DM/dm.xml"
    if ! dm_xenod; then
        fail dm-xenod "xenod did not start: $(log_tail "$DM/xenod.log")"
    else
        t0=$(date +%s)
        out=$(dm define "$DM/dm.xml" 2>&1 && dm start dm 2>&1)
        check dm-start '[ $? = 0 ]' "$out; $(log_tail "$DM/xenod.log")"
        wait_until 600 dm_live
        live=$(jq -c ".disks[0].stats" <<<"$DM_INFO")
        text=$(dm info dm 2>&1)
        check dm-info-live '[ "$(jq -r .size_bytes <<<"$live")" = "$DM_SIZE" ] && [[ "$(jq -r .backend_name <<<"$live")" == u*-vda ]] &&
            [ "$(jq -r .reservation <<<"$live")" = "$DM_RES" ] && [ "$(jq -r .ops.write <<<"$live")" -gt 0 ]' "stats: $live"
        # The histogram counts completed requests: the first reading may come before one completes.
        dm_latency() {
            live=$(dm --json info dm 2>/dev/null | jq -c ".disks[0].stats")
            [ "$(jq -r .latency_ns.p50 <<<"$live")" -gt 0 ] 2>/dev/null
        }
        check dm-info-latency 'wait_until 60 dm_latency' "stats: $live"
        check dm-info-text 'grep -q "vda ops: *read [0-9]*, write [0-9]" <<<"$text"' "$text"
        check dm-guest-pass 'wait_until 600 eval "dm console dm --dump | grep -q \"Test result: PASS\"" && wait_until 60 dm_ended' \
            "$(dm console dm --dump 2>&1 | tail -3)"
        usage=$(curl -s --unix-socket "$DM/x.sock" "http://x/v1/domains/dm/usage?limit=1000")
        last=$(jq -c '[.disk[] | select(.disk == "vda")] | last' <<<"$usage")
        chunks=$((DM_SIZE / 32768))
        check dm-usage-samples '[ "$(jq .bytes_written <<<"$last")" = "$DM_SIZE" ] && [ "$(jq .writes <<<"$last")" = "$chunks" ] &&
            dm_within "$(jq .bytes_read <<<"$last")" "$DM_SIZE" 0.1 && [ "$(jq .bytes_read <<<"$last")" -le "$DM_SIZE" ] &&
            [ "$(jq .flushes <<<"$last")" -ge 1 ] && [ "$(jq .errors <<<"$last")" = 0 ]' "last disk sample: $last"
        ops=$(jq '.reads + .writes + .flushes + .discards + .write_zeroes' <<<"$last")
        bytes=$(jq '.bytes_read + .bytes_written' <<<"$last")
        check dm-ledger-matches '[ "$(dm_meter disk_ops)" = "$((ops * 1000000))" ] && [ "$(dm_meter disk_bytes)" = "$((bytes * 1000000))" ]' \
            "ledger disk_ops $(dm_meter disk_ops) disk_bytes $(dm_meter disk_bytes); the backend's last counters: $ops ops, $bytes bytes"
        # The disk's metered time: the disk transactions' intervals (key UUID/disk0/...).
        secs=$(dm_sql "SELECT COALESCE(SUM(period_end_us - period_start_us), 0) / 1e6 FROM ledger_tx
                       WHERE domain_name = 'dm' AND idem_key LIKE '%/disk0/%'")
        prov=$(dm_meter disk_provisioned_gib_seconds)
        resv=$(dm_meter disk_reserved_iops_seconds)
        check dm-ledger-gauges 'awk -v s="$secs" "BEGIN { exit !(s > 0) }" &&
            dm_within "$prov" "$(awk -v s="$secs" -v z="$DM_SIZE" "BEGIN { printf \"%.0f\", s * z / 1073741824 * 1e6 }")" 0.01 &&
            dm_within "$resv" "$(awk -v s="$secs" -v r="$DM_RES" "BEGIN { printf \"%.0f\", s * r * 1e6 }")" 0.01' \
            "metered $secs s: provisioned $prov, reserved $resv micro-units"
        bill=$(dm --json bill acme --from "$((t0 - 3600))" --to "$(($(date +%s) + 3600))" 2>&1)
        line() { jq -r ".lines[] | select(.resource == \"$1\") | .quantity_micros" <<<"$bill"; }
        check dm-bill-lines '[ "$(line disk_ops)" = "$(dm_meter disk_ops)" ] && [ "$(line disk_bytes)" = "$(dm_meter disk_bytes)" ] &&
            [ "$(line disk_provisioned)" = "$prov" ] && [ "$(line disk_reserved)" = "$resv" ] &&
            [ "$(jq -r ".lines[] | select(.resource == \"disk_ops\") | .amount_micros" <<<"$bill")" = "$((ops * 1000))" ]' "$bill"
        check dm-balance '[ "$(dm_sql "SELECT COUNT(*) FROM (SELECT tx_id, meter FROM ledger_posting GROUP BY tx_id, meter HAVING SUM(quantity) <> 0) AS x")" = 0 ]' \
            "unbalanced transactions"
        metrics=$(curl -s --unix-socket "$DM/x.sock" http://x/metrics)
        check dm-metrics 'grep -q "^# TYPE xeno_domain_disk_read_ops_total counter" <<<"$metrics" &&
            promtool check metrics <<<"$metrics" >/dev/null 2>&1' "$(promtool check metrics <<<"$metrics" 2>&1 | head -5)"
    fi
fi
