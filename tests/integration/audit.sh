# The network audit engine (src/audit, docs/audit.md) at native speed, without guests:
# tests/tools/audit_replay plays a fixed synthetic trace through the engine; these checks read
# back what it wrote with `xenctl audit` and what it exported with nfdump's own collector.
# (Guest-driven checks come with the backend hook-up, issue 9.)

AR_TOOL=$BUILD_DIR/tests/tools/audit_replay
AR_CTL=$BUILD_DIR/bin/xenctl
AR=$TMP/audit
mkdir -p "$AR"
head -c 32 /dev/urandom >"$AR/key"
head -c 32 /dev/urandom >"$AR/otherkey"
printf '# SMTP: one new connection per 10 s per sponsor\nlimit tcp dport 25 new 1/10s per sponsor action drop\ndeny tcp dport 23\n' >"$AR/rules"


run_cmd audit-replay "$AR_TOOL" --log "$AR/flows.log" --key "$AR/key" --rules "$AR/rules"
expect audit-replay 0 \
    '^EVENT rule drop domain=web2 sponsor=alice flow="proto 6 10\.0\.0\.3:41000 -> 192\.0\.2\.25:25" source="rule 1 \(.*rules:2\): limit tcp dport 25 new 1/10s per sponsor action drop"' \
    '^EVENT scan throttle domain=mail sponsor=bob flow="proto 6 10\.0\.0\.4:52004 -> 10\.9\.0\.4:22" source="scan-trw" evidence="first contacts: 4 failed, 0 answered' \
    '^SUMMARY flows=18 refused=1 throttled=4$'

run_cmd audit-verify-ok "$AR_CTL" audit verify "$AR/flows.log" --key "$AR/key"
expect audit-verify-ok 0 'ok: .*: 3 blocks, 18 flows, [0-9]+ bytes' 'seals: 3 checked with the key'
run_cmd audit-verify-no-key "$AR_CTL" audit verify "$AR/flows.log"
expect audit-verify-no-key 0 'seals: 3 present, not checked \(no --key\)'
run_cmd audit-verify-wrong-key "$AR_CTL" audit verify "$AR/flows.log" --key "$AR/otherkey"
expect audit-verify-wrong-key 1 'block 0 at offset 64: its seal does not match'

# The query answers exactly the three SMTP connections alice's domains opened: the first, the
# refused second (2 s later, from the other domain), and the one 11 s after the first.
cat >"$AR/smtp.want" <<'WANT'
2025-11-26T08:00:10.000Z 0.023s tcp 10.0.0.2:40100 -> 192.0.2.25:25 out pkts 5/3 bytes 1670/362 flags FSPA/FSPA domain=web1 sponsor=alice port=0 end=tcp-end
2025-11-26T08:00:21.000Z 0.023s tcp 10.0.0.3:41002 -> 192.0.2.25:25 out pkts 5/3 bytes 1670/362 flags FSPA/FSPA domain=web2 sponsor=alice port=1 end=tcp-end
2025-11-26T08:00:12.000Z 0.000s tcp 10.0.0.3:41000 -> 192.0.2.25:25 out pkts 1/0 bytes 54/0 flags S/- domain=web2 sponsor=alice port=1 end=shutdown dropped
WANT
if timeout 30 "$AR_CTL" audit query "$AR/flows.log" --sponsor alice --since 1764144000 --dst 192.0.2.25 \
    >"$AR/smtp.got" 2>"$AR/smtp.err" && cmp -s "$AR/smtp.want" "$AR/smtp.got"; then
    pass audit-query-exact
else
    fail audit-query-exact "got: $(tr '\n' '|' <"$AR/smtp.got") $(cat "$AR/smtp.err")"
fi
run_cmd audit-query-index "$AR_CTL" audit query "$AR/flows.log" --sponsor alice --since 1764144000 --dst 192.0.2.25
expect audit-query-index 0 '^3 flows; 2 of 3 blocks decompressed'
run_cmd audit-query-window "$AR_CTL" audit query "$AR/flows.log" --domain web2 --since 2025-11-26T08:00:11Z --until 2025-11-26T08:00:15Z --dst 192.0.2.25
expect audit-query-window 0 '10\.0\.0\.3:41000 -> 192\.0\.2\.25:25 .* dropped' '^1 flows;'
if [ "$(timeout 30 "$AR_CTL" audit query "$AR/flows.log" --sponsor bob --since 1764144000 --json 2>/dev/null | jq 'length')" = 9 ]; then
    pass audit-query-json
else
    fail audit-query-json "expected 9 flows of bob (DNS and 8 probes) as a JSON array"
fi
run_cmd audit-query-usage "$AR_CTL" audit query "$AR/flows.log" --since 0
expect audit-query-usage 2 'needs --sponsor S or --domain D'
run_cmd audit-query-bad-time "$AR_CTL" audit query "$AR/flows.log" --sponsor a --since yesterday
expect audit-query-bad-time 2 "time 'yesterday'"
run_cmd audit-bad-action "$AR_CTL" audit check "$AR/flows.log"
expect audit-bad-action 2 "unknown action 'check'"

# One byte altered anywhere is detected: in the first block's payload, in the second block's
# header, and in the last block (where only the seal can tell).
size=$(stat -c %s "$AR/flows.log")
for at in 600 $((64 + 432 + 300)) $((size - 3)); do
    cp "$AR/flows.log" "$AR/altered.log"
    byte=$(od -An -tu1 -j "$at" -N1 "$AR/altered.log" | tr -d ' ')
    printf "$(printf '\\%03o' $(((byte + 1) % 256)))" | dd of="$AR/altered.log" bs=1 seek="$at" conv=notrunc status=none
    run_cmd "audit-verify-altered-$at" "$AR_CTL" audit verify "$AR/altered.log" --key "$AR/key"
    expect "audit-verify-altered-$at" 1 'block [0-9]+ at offset [0-9]+: '
done
head -c $((size - 10)) "$AR/flows.log" >"$AR/torn.log"
run_cmd audit-verify-torn "$AR_CTL" audit verify "$AR/torn.log"
expect audit-verify-torn 1 'torn block 2 at offset [0-9]+: payload of [0-9]+ bytes, only [0-9]+ in the file \(after 2 good blocks\)'
run_cmd audit-query-torn "$AR_CTL" audit query "$AR/torn.log" --sponsor bob --since 0
expect audit-query-torn 1 'torn block 2'

printf 'limit tcp dport 25 new 1/10s per sponsor\nlimit udp new 100/s per address\n' >"$AR/bad.rules"
run_cmd audit-bad-rules "$AR_TOOL" --log "$AR/bad.log" --rules "$AR/bad.rules"
expect audit-bad-rules 1 'rules: .*bad\.rules:2:25: expected .sponsor. or .domain. \(rules are never keyed by address\), got .address.'

# IPFIX to nfdump's collector on loopback: nfdump must show the same flows as the log.
if ! command -v nfcapd >/dev/null || ! command -v nfdump >/dev/null; then
    skip audit-ipfix-nfdump "nfdump is not installed (scripts/install-deps.sh installs it)"
else
    mkdir -p "$AR/nf"
    nfport=$TEST_PORT_BASE
    timeout -k 2 60 nfcapd -b 127.0.0.1 -p "$nfport" -w "$AR/nf" -t 3600 >"$AR/nfcapd.log" 2>&1 &
    nfpid=$!
    if wait_until 10 grep -qs 'Startup' "$AR/nfcapd.log" &&
        timeout 30 "$AR_TOOL" --log "$AR/ipfix.log" --rules "$AR/rules" --ipfix "127.0.0.1:$nfport" >"$AR/ipfix.out" 2>&1; then
        # nfcapd has read every datagram queued on loopback; it writes its file when it stops.
        wait_until 10 udp_drained "$nfport"
        kill -TERM "$nfpid" 2>/dev/null
        wait "$nfpid" 2>/dev/null
        nfdump -R "$AR/nf" -q -N -o 'fmt:%sa %sp %da %dp %pr %pkt %byt %ts %te' 2>&1 |
            awk '{print $1, $2, $3, $4, $5, $6, $7, $8 " " $9, $10 " " $11}' | sort >"$AR/nf.got"
        for s in alice bob; do
            "$AR_CTL" audit query "$AR/ipfix.log" --sponsor "$s" --since 1 --json 2>/dev/null
        done | jq -r '
            def p: {"tcp": 6, "udp": 17, "icmp": 1}[.protocol] // .protocol;
            def t(ms): (ms / 1000 | floor | strftime("%Y-%m-%d %H:%M:%S")) + "." + ((ms % 1000) + 1000 | tostring | .[1:]);
            .[] | (select(.packets_out > 0) | "\(.local) \(.local_port) \(.remote) \(.remote_port) \(p) \(.packets_out) \(.bytes_out) \(t(.start_ms)) \(t(.end_ms))"),
                  (select(.packets_in > 0) | "\(.remote) \(.remote_port) \(.local) \(.local_port) \(p) \(.packets_in) \(.bytes_in) \(t(.start_ms)) \(t(.end_ms))")' |
            sort >"$AR/nf.want"
        if [ -s "$AR/nf.want" ] && cmp -s "$AR/nf.want" "$AR/nf.got"; then
            pass audit-ipfix-nfdump
        else
            fail audit-ipfix-nfdump "nfdump shows other flows: $(diff "$AR/nf.want" "$AR/nf.got" | head -5 | tr '\n' '|')"
        fi
    else
        kill -TERM "$nfpid" 2>/dev/null
        wait "$nfpid" 2>/dev/null
        fail audit-ipfix-nfdump "nfcapd did not start or the replay failed: $(tail -c 300 "$AR/nfcapd.log" "$AR/ipfix.out" | tr '\n' '|')"
    fi
fi

# pcap-ng of one domain's traffic, read back by tshark: web2's 23 frames, each commented.
if ! command -v tshark >/dev/null; then
    skip audit-pcapng-tshark "tshark is not installed (scripts/install-deps.sh installs it)"
elif timeout 30 "$AR_TOOL" --log "$AR/cap.log" --rules "$AR/rules" --pcap "$AR/cap.pcapng" --pcap-domain web2 \
    >/dev/null 2>"$AR/cap.err"; then
    timeout 60 tshark -r "$AR/cap.pcapng" -T fields -e ip.src -e tcp.srcport -e ip.dst -e tcp.dstport -e frame.comment \
        >"$AR/cap.txt" 2>"$AR/tshark.err"
    total=$(wc -l <"$AR/cap.txt")
    web2=$(grep -c 'domain=web2 sponsor=alice dir=' "$AR/cap.txt")
    drop=$(grep -c '^10\.0\.0\.3	41000	192\.0\.2\.25	25	domain=web2 sponsor=alice dir=out verdict=drop$' "$AR/cap.txt")
    if [ "$total" = 23 ] && [ "$web2" = 23 ] && [ "$drop" = 1 ]; then
        pass audit-pcapng-tshark
    else
        fail audit-pcapng-tshark "tshark shows $total frames, $web2 of web2, $drop refused SMTP SYN: $(head -c 300 "$AR/cap.txt" "$AR/tshark.err" | tr '\n' '|')"
    fi
else
    fail audit-pcapng-tshark "audit_replay failed: $(cat "$AR/cap.err")"
fi
