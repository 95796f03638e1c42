# GET /metrics (docs/metrics.md) as a monitoring system sees it: a real xenod over TLS with a
# spinning domain (real KVM), promtool (Debian's `prometheus` package) checks the text, and a
# real Prometheus server started here scrapes xenod every second with an operator token; its
# PromQL rate() of the domain's CPU time must agree with xenctl's exact CPU time over the same
# window within 2%. A sponsor token is refused (403), and the label values of a sponsor name
# with a quote and a backslash come back intact through Prometheus's parser.

MX_XENOD=$BUILD_DIR/bin/xenod
MX_XENCTL=$BUILD_DIR/bin/xenctl
MX=$TMP/metrics
MX_SOCK=$MX/xenod.sock
MX_PORT=$TEST_PORT_BASE           # xenod --listen
MX_PROM_PORT=$((TEST_PORT_BASE + 1)) # prometheus --web.listen-address
MX_XPID= MX_PPID=
mkdir -p "$MX/pki" "$MX/prom"

mx_cleanup() {
    [ -z "$MX_PPID" ] || kill -TERM "$MX_PPID" 2>/dev/null
    [ -z "$MX_XPID" ] || kill -TERM "$MX_XPID" 2>/dev/null
    for p in $(pgrep -f -- "--run-dir $MX/state/"); do kill -KILL "$p" 2>/dev/null; done
    [ -s "$MX/state/netback/pid" ] && kill -KILL "$(cat "$MX/state/netback/pid")" 2>/dev/null
    [ -z "$MX_PPID" ] || { wait_until 10 gone "$MX_PPID" || kill -KILL "$MX_PPID" 2>/dev/null; }
    [ -z "$MX_XPID" ] || { wait_until 10 gone "$MX_XPID" || kill -KILL "$MX_XPID" 2>/dev/null; }
}
trap 'mx_cleanup; test_file_exit' EXIT # never a xenod, monitor or prometheus left behind

mxx() { XENOD_SOCKET=$MX_SOCK timeout -k 5 60 "$MX_XENCTL" "$@"; }
mxapi() { # METHOD PATH [BODY]: over the unix socket (the operator)
    curl -s -m 10 --unix-socket "$MX_SOCK" -X "$1" ${3:+-H 'Content-Type: application/json' -d "$3"} "http://xenod$2"
}
# mxtls TOKEN PATH: over HTTPS; the body to $MX/last, the status printed.
mxtls() {
    curl -s -m 10 --cacert "$MX/pki/ca.pem" -o "$MX/last" -D "$MX/last.h" -w '%{http_code}' \
        -H "Authorization: Bearer $1" "https://127.0.0.1:$MX_PORT$2"
}
# promq QUERY [TIME]: Prometheus's HTTP API, the JSON answer.
promq() {
    curl -s -m 10 -G "http://127.0.0.1:$MX_PROM_PORT/api/v1/query" --data-urlencode "query=$1" \
        ${2:+--data-urlencode "time=$2"}
}

if ! kvm_case metrics; then return 0 2>/dev/null || exit 0; fi
if ! command -v promtool >/dev/null || ! command -v prometheus >/dev/null; then
    fail metrics-prerequisites "promtool or prometheus missing (Debian package prometheus: scripts/install-deps.sh)"
    return 0 2>/dev/null || exit 0
fi
{
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 -subj /CN=xeno-test-ca \
        -keyout "$MX/pki/ca.key" -out "$MX/pki/ca.pem" &&
        openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -subj /CN=localhost \
            -keyout "$MX/pki/server.key" -out "$MX/pki/server.csr" &&
        printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\n' >"$MX/pki/ext" &&
        openssl x509 -req -in "$MX/pki/server.csr" -CA "$MX/pki/ca.pem" -CAkey "$MX/pki/ca.key" -CAcreateserial \
            -days 2 -extfile "$MX/pki/ext" -out "$MX/pki/server.pem"
} >"$MX/pki.log" 2>&1 || {
    fail metrics-pki "openssl could not make the test certificates: $(log_tail "$MX/pki.log")"
    return 0 2>/dev/null || exit 0
}

"$MX_XENOD" --state-dir "$MX/state" --socket "$MX_SOCK" --cpus 2 --listen "127.0.0.1:$MX_PORT" \
    --tls-cert "$MX/pki/server.pem" --tls-key "$MX/pki/server.key" >>"$MX/xenod.log" 2>&1 &
MX_XPID=$!
mx_up() { mxapi GET /v1/host 2>/dev/null | grep -q version; }
check metrics-xenod-up 'wait_until 10 mx_up' "$(log_tail "$MX/xenod.log")"
OP=$(mxapi POST /v1/tokens '{}' | jq -r .secret)
SPONSOR=$(mxapi POST /v1/tokens '{"sponsor": "te\"st\\s"}' | jq -r .secret) # te"st\s
printf '%s' "$OP" >"$MX/prom/token"
chmod 600 "$MX/prom/token"

# A spinning domain under a 30% limit (a steady rate to compare), of a sponsor whose name needs
# escaping in a label value.
cat >"$MX/spin.xml" <<EOF
<domain type="kvm">
  <name>spin</name>
  <memory unit="MiB">64</memory>
  <vcpu>1</vcpu>
  <os><kernel>$PWD/$GUEST/spin.elf</kernel></os>
  <cputune><period>10000</period><quota>3000</quota></cputune>
  <metadata><xeno:sponsor xmlns:xeno="urn:xenoserver:domain:1">te&quot;st\\s</xeno:sponsor></metadata>
</domain>
EOF
out=$(mxx create "$MX/spin.xml" 2>&1)
check metrics-domain-starts 'mxx --json info spin | jqe ".state == \"running\" or .state == \"blocked\"" >/dev/null' \
    "$out | $(log_tail "$MX/xenod.log")"

# ---- the text: promtool, content type, who may read it ----
status=$(mxtls "$OP" /metrics)
check metrics-operator-200 '[ "$status" = 200 ] && grep -qi "^content-type: text/plain; version=0.0.4" "$MX/last.h"' \
    "status $status: $(head -c 200 "$MX/last")"
promtool check metrics <"$MX/last" >"$MX/promtool.out" 2>&1
rc=$?
check metrics-promtool-passes '[ $rc = 0 ] && [ ! -s "$MX/promtool.out" ]' "exit $rc: $(log_tail "$MX/promtool.out")"
# The sponsor te"st\s as the format escapes it: te\"st\\s.
MX_LABELS='{domain="spin",uuid="'$(mxx --json info spin | jq -r .uuid)'",sponsor="te\"st\\s"}'
check metrics-has-figures 'grep -Eq "^xeno_domain_cpu_seconds_total[{].* [0-9]+\.[0-9]{9}$" "$MX/last" &&
    grep -Fq "xeno_domain_cpu_seconds_total$MX_LABELS " "$MX/last" &&
    grep -Fq "xeno_domain_memory_resident_bytes$MX_LABELS " "$MX/last" && grep -q "^xeno_host_domains_running 1$" "$MX/last"' \
    "want labels $MX_LABELS in: $(grep -v '^#' "$MX/last" | head -c 600)"
status=$(mxtls "$SPONSOR" /metrics)
check metrics-sponsor-refused '[ "$status" = 403 ] && ! grep -q xeno_ "$MX/last"' "status $status: $(head -c 200 "$MX/last")"
check metrics-no-token-refused '[ "$(mxtls "" /metrics)" = 401 ]'

# ---- a real Prometheus scrapes it ----
cat >"$MX/prom/prometheus.yml" <<EOF
global:
  scrape_interval: 1s
  scrape_timeout: 1s
  evaluation_interval: 1s
scrape_configs:
  - job_name: xenod
    scheme: https
    metrics_path: /metrics
    tls_config:
      ca_file: $MX/pki/ca.pem
    authorization:
      type: Bearer
      credentials_file: $MX/prom/token
    static_configs:
      - targets: ['127.0.0.1:$MX_PORT']
EOF
prometheus --config.file="$MX/prom/prometheus.yml" --storage.tsdb.path="$MX/prom/data" \
    --web.listen-address="127.0.0.1:$MX_PROM_PORT" --log.level=warn >>"$MX/prom/log" 2>&1 &
MX_PPID=$!
prom_up() { promq 'up{job="xenod"}' | jqe '.data.result[0].value[1] == "1"' >/dev/null 2>&1; }
check metrics-prometheus-scrapes 'wait_until 30 prom_up' "$(promq 'up' | head -c 300) | $(log_tail "$MX/prom/log")"

# The CPU rate over a 20 s window, from xenctl's exact CPU time (its Time(s) column) at both
# ends and from Prometheus's rate() evaluated at the window's end. Prometheus must already
# scrape steadily when the window opens: rate() extrapolates only half an interval past the
# first sample, so a window that opens before its samples reads low.
scraped() { promq 'count_over_time(xeno_domain_cpu_seconds_total{domain="spin"}[5s])' | jqe '.data.result[0].value[1] | tonumber >= 4' >/dev/null 2>&1; }
check metrics-prometheus-steady 'wait_until 30 scraped' "$(promq 'count_over_time(xeno_domain_cpu_seconds_total[5s])' | head -c 300)"
cpu_of() { mxx --json info spin | jq -r '.usage.cpu.total_ns'; }
c0=$(cpu_of) t0=$EPOCHREALTIME
sleep 20
c1=$(cpu_of) t1=$EPOCHREALTIME
# Prometheus holds a sample from after t1 (rate() at t1 then has samples up to the window's
# end, whatever a slow scrape on this shared host delayed; it ignores those after t1).
scraped_past() { promq 'timestamp(xeno_domain_cpu_seconds_total{domain="spin"})' | jqe --argjson t "$1" '.data.result[0].value[1] | tonumber > $t' >/dev/null 2>&1; }
check metrics-prometheus-past-window 'wait_until 15 scraped_past "$t1"' "$(promq 'up{job="xenod"}[30s]' | jq -c '.data.result[0].values')"
ours=$(awk -v a="$c0" -v b="$c1" -v s="$t0" -v e="$t1" 'BEGIN { printf "%.6f", (b - a) / 1e9 / (e - s) }')
theirs=$(promq 'rate(xeno_domain_cpu_seconds_total{domain="spin"}[20s])' "$t1" | jq -r '.data.result[0].value[1]')
check metrics-promql-rate-agrees 'awk -v a="$ours" -v b="$theirs" "BEGIN { d = a - b; if (d < 0) d = -d; exit !(a > 0.05 && d <= 0.02 * a) }"' \
    "xenctl ${ours} CPU/s (${c0} ns at ${t0}, ${c1} ns at ${t1}), Prometheus rate() ${theirs} from $(promq 'xeno_domain_cpu_seconds_total{domain="spin"}[20s]' "$t1" | jq -c '.data.result[0].values'); up: $(promq 'up{job="xenod"}[30s]' | jq -c '.data.result[0].values'); $(log_tail "$MX/prom/log")"
label=$(promq 'xeno_domain_vcpus{domain="spin"}' | jq -r '.data.result[0].metric.sponsor')
check metrics-label-escaping-round-trips '[ "$label" = "te\"st\\s" ]' "Prometheus read sponsor [$label]"

out=$(mxx top -b -n 2 -d 0.5)
check metrics-top-batch '[ "$(grep -c "^Name " <<<"$out")" = 2 ] && ! grep -q $'"'"'\033'"'"' <<<"$out" && grep -Eq "^spin +[0-9]+ +(running|blocked) +[0-9]+\.[0-9]" <<<"$out"' "$out"

# ---- network counters: the backend's port counters of a pair of domains exchanging frames ----
sed -e "s|<kernel>.*</kernel>|<kernel>$(realpath "$GUEST/net_ping.elf")</kernel>|" -e "s|count=20|count=400|" \
    examples/net_ping.xml >"$MX/net_ping.xml"
mxx create examples/net_echo.xml >/dev/null 2>&1
mxx create "$MX/net_ping.xml" >/dev/null 2>&1
# net_of FILE FAMILY: net_echo's sample of xeno_domain_network_FAMILY_total in FILE.
net_of() { awk -v m="xeno_domain_network_$2_total{domain=\"net_echo\"" 'index($0, m) == 1 { print $2 }' "$1"; }
flowing() {
    mxapi GET /metrics >"$MX/net" &&
        [ "$(net_of "$MX/net" receive_packets)" -ge 5 ] 2>/dev/null && [ "$(net_of "$MX/net" transmit_packets)" -ge 5 ] 2>/dev/null
}
check metrics-network-counters 'wait_until 120 flowing' "$(grep "^xeno_domain_network" "$MX/net" 2>/dev/null | head -c 600)"
# The same counters as the API's: /metrics read after the domain object, never behind it.
net_matches() {
    local f ours api
    for f in receive_bytes:rx.bytes transmit_bytes:tx.bytes receive_packets:rx.packets transmit_packets:tx.packets; do
        ours=$(net_of "$MX/net" "${f%%:*}")
        api=$(jq -r ".net.${f#*:}" <<<"$json")
        [ -n "$ours" ] && [ "$ours" -ge "$api" ] && [ "$api" -gt 0 ] || return 1
    done
}
json=$(mxx --json info net_echo)
mxapi GET /metrics >"$MX/net"
check metrics-network-matches-api net_matches "$(grep "^xeno_domain_network.*net_echo" "$MX/net") | $(jq -c .net <<<"$json")"
promtool check metrics <"$MX/net" >"$MX/promtool.out" 2>&1
rc=$?
check metrics-promtool-with-network '[ $rc = 0 ] && [ ! -s "$MX/promtool.out" ]' "exit $rc: $(log_tail "$MX/promtool.out")"

for d in spin net_echo net_ping; do mxx destroy $d >/dev/null 2>&1; done
[ -s "$MX/state/netback/pid" ] && kill -KILL "$(cat "$MX/state/netback/pid")" 2>/dev/null
mx_cleanup
MX_PPID= MX_XPID=
