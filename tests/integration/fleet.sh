# A fleet of hosts on etcd (docs/fleet.md), at the sizes of issue 20: a real 3-member etcd
# cluster on loopback ports that serves its clients over HTTPS with client-certificate
# authentication, and three xenods (--cpus 2: admission counts 180% each), each in a network
# namespace of its own, reaching etcd over a bridge (tests/fleet_lib.sh). Places 30 domains with
# CPU reservations through `xenctl --fleet create` (15 under binpack, 15 under spread) and
# checks where they went against the policy, in etcd and on the hosts themselves; a 31st checks
# anti-affinity. Then 20 creates from 4 placers at once against the nearly full fleet (exactly
# the free slots are taken, no host over its capacity). Stops one etcd member (placement still
# works) then a second (no quorum: placement fails with a clear error, the domains keep
# running, a host refuses what a placer sends it) and starts both again (placement works
# again). A placer without the client certificate is refused by etcd.
# The domains run (16 MiB echo guests that idle after boot): the checks compare what each
# host's xenod runs with the records in etcd. Ports and addresses: inside the namespaces.

FL=$TMP/fleet
FL_XENOD=$BUILD_DIR/bin/xenod
FL_XENCTL=$BUILD_DIR/bin/xenctl
FN=xfl$$ FN_DIR=$FL
. tests/fleet_lib.sh
FL_URLS=$(fn_etcd_urls 3)
declare -A FL_XPID=()
mkdir -p "$FL"

fl_healthy() { fn_etcd_healthy 3; }
fl_xenod_start() { # N: host hN in its namespace
    mkdir -p "$FL/h$1"
    # shellcheck disable=SC2046 # fn_tls_opts: options and paths without spaces
    ip netns exec "$(fn_ns "$1")" "$FL_XENOD" --state-dir "$FL/h$1" --socket "$FL/h$1.sock" --cpus 2 --no-web \
        --fleet "$FL_URLS" $(fn_tls_opts) --host-name "h$1" --advertise "unix:$FL/h$1.sock" --fleet-ttl 4 \
        >"$FL/h$1.log" 2>&1 &
    FL_XPID[h$1]=$!
}
# shellcheck disable=SC2046
flx() { timeout -k 5 60 ip netns exec "${FN}e" "$FL_XENCTL" --fleet "$FL_URLS" $(fn_tls_opts) "$@"; }
hostx() { XENOD_SOCKET=$FL/$1.sock timeout -k 5 30 "$FL_XENCTL" "${@:2}"; } # HOST ARGS...
fl_hosts_up() { [ "$(flx --json hosts 2>/dev/null | jq '.hosts | length')" = "$1" ]; }
# fl_xml NAME RESERVATION SPONSOR: an idle (echo) domain of 16 MiB with that CPU reservation.
fl_xml() {
    printf '<domain type="kvm"><name>%s</name><memory unit="MiB">16</memory><vcpu>1</vcpu>' "$1"
    printf '<os><kernel>%s</kernel></os><metadata>' "$PWD/$GUEST/echo.elf"
    printf '<xeno:sponsor xmlns:xeno="urn:xenoserver:domain:1">%s</xeno:sponsor>' "$3"
    printf '<xeno:cpu xmlns:xeno="urn:xenoserver:domain:1" reservation="%s"/></metadata></domain>\n' "$2"
}
fl_create() { # NAME RESERVATION SPONSOR [xenctl options]
    fl_xml "$1" "$2" "$3" >"$FL/$1.xml"
    flx create "$FL/$1.xml" "${@:4}"
}
# fl_where: "NAME HOST" lines of the fleet's domain records, sorted.
fl_where() { flx --json list | jq -r '.domains[] | "\(.name) \(.host)"' | sort -V; }
# fl_on HOST: the names of the domains that run on HOST according to that host's xenod.
fl_on() { hostx "$1" --json list | jq -r '.domains[] | select(.state == "running" or .state == "blocked") | .name' | sort -V | tr '\n' ' '; }
fl_count() { fl_where | awk -v h="$1" '$2 == h' | wc -l; }
fl_claimed() { flx --json hosts | jq -r --arg h "$1" '.hosts[] | select(.name == $h) | .claimed_ppm'; } # HOST
# fl_seq PREFIX FROM TO HOST: "PREFIXi HOST " for i in FROM..TO (the expected placements).
fl_seq() { for i in $(seq "$2" "$3"); do printf '%s%s %s ' "$1" "$i" "$4"; done; }

fl_cleanup() {
    local h n
    for h in h1 h2 h3; do
        [ -S "$FL/$h.sock" ] || continue
        for n in $(hostx "$h" --json list 2>/dev/null | jq -r '.domains[].name' 2>/dev/null); do
            hostx "$h" destroy "$n" >/dev/null 2>&1
        done
    done
    for h in "${!FL_XPID[@]}"; do kill "${FL_XPID[$h]}" 2>/dev/null; done
    for h in "${!FL_XPID[@]}"; do wait "${FL_XPID[$h]}" 2>/dev/null; done
    # A monitor whose xenod could not destroy it: only ours (their run dirs are under $FL).
    for n in $(pgrep -f "xeno-vmm.*$FL/" 2>/dev/null); do kill -9 "$n" 2>/dev/null; done
    fn_etcd_stop_all
    fn_net_down
}
trap 'fl_cleanup; test_file_exit' EXIT
check_context() { printf ' | h1: %s | etcd1: %s' "$(log_tail "$FL/h1.log")" "$(LOG_TAIL_BYTES=200 log_tail "$FL/etcd1.log")"; }

if ! command -v etcd >/dev/null || ! command -v etcdctl >/dev/null; then
    fail fleet "etcd and etcdctl are not installed (scripts/install-deps.sh installs etcd-server etcd-client)"
elif ! kvm_case fleet; then
    :
elif ! fn_net_up 3 2>"$FL/net.err" || ! fn_certs; then
    fail fleet "cannot make the fleet's namespaces or certificates: $(log_tail "$FL/net.err" "$FL/tls/openssl.log")"
else
    for n in 1 2 3; do fn_etcd_start "$n" 3; done
    check fleet-etcd-cluster 'wait_until 30 fl_healthy' "the 3-member etcd cluster did not become healthy"
    for n in 1 2 3; do fl_xenod_start "$n"; done
    check fleet-hosts-register 'wait_until 20 fl_hosts_up 3' "3 hosts did not register: $(flx hosts 2>&1 | tr '\n' '|')"
    check fleet-hosts-view 'flx hosts | grep -Eq "^h2 +active +2 +180% +0% .* [0-9]+s/4s$"' \
        "hosts: $(flx hosts 2>&1 | tr '\n' '|')"
    # etcd takes only clients with a certificate its CA signed: a placer without one is refused,
    # and TLS files with an http:// endpoint are a usage error (nothing goes out in clear text).
    FL_NOCERT=$(timeout -k 5 30 ip netns exec "${FN}e" "$FL_XENCTL" --fleet "$FL_URLS" --etcd-ca "$FL/tls/ca.pem" hosts 2>&1)
    FL_RC=$?
    check fleet-etcd-client-cert-required '[ $FL_RC = 3 ] && grep -q "etcd https://" <<<"$FL_NOCERT"' "rc $FL_RC: $FL_NOCERT"
    # A member whose certificate the given CA did not sign is not trusted (nor sent the key).
    FL_OTHER=$(timeout -k 5 30 ip netns exec "${FN}e" "$FL_XENCTL" --fleet "$FL_URLS" --etcd-ca "$FL/tls/other-ca.pem" \
        --etcd-cert "$FL/tls/client.pem" --etcd-key "$FL/tls/client.key" hosts 2>&1)
    FL_RC=$?
    check fleet-etcd-server-cert-checked '[ $FL_RC = 3 ] && grep -qi "certificate" <<<"$FL_OTHER"' "rc $FL_RC: $FL_OTHER"
    FL_HTTP=$(timeout -k 5 30 "$FL_XENCTL" --fleet http://127.0.0.1:1 --etcd-ca "$FL/tls/ca.pem" hosts 2>&1)
    FL_RC=$?
    check fleet-etcd-tls-needs-https '[ $FL_RC = 2 ] && grep -q "https:// endpoints only" <<<"$FL_HTTP"' "rc $FL_RC: $FL_HTTP"

    # binpack, 15% each, one sponsor per domain (no anti-affinity): h1 takes 12 (180%), then h2.
    for i in $(seq 1 15); do fl_create "b$i" 15% "s$i" >>"$FL/binpack.out" 2>&1; done
    FL_WANT="$(fl_seq b 1 12 h1)$(fl_seq b 13 15 h2)"
    check fleet-binpack '[ "$(fl_where | tr "\n" " ")" = "$FL_WANT" ]' \
        "placed: $(fl_where | tr '\n' ' '); $(tail -c 300 "$FL/binpack.out" | tr '\n' '|')"
    check fleet-binpack-runs '[ "$(fl_on h1)" = "$(seq -f "b%g" 1 12 | tr "\n" " ")" ] && [ "$(fl_on h2)" = "b13 b14 b15 " ] && [ -z "$(fl_on h3)" ]' \
        "h1 runs [$(fl_on h1)], h2 [$(fl_on h2)], h3 [$(fl_on h3)]"
    # spread, 5% each, from there (h1 full, h2 135% left, h3 180%): the largest share left after
    # the claim is h3's nine times (down to 135%); then h2 and h3 tie or h3 has 5% more: on a
    # tie the host with fewer fleet domains (h2) wins, so they alternate, ending at 120% each.
    for i in $(seq 1 15); do fl_create "p$i" 5% "t$i" --policy spread >>"$FL/spread.out" 2>&1; done
    FL_WANT="$(fl_seq p 1 9 h3)p10 h2 p11 h3 p12 h2 p13 h3 p14 h2 p15 h3 "
    check fleet-spread '[ "$(fl_where | grep "^p" | tr "\n" " ")" = "$FL_WANT" ]' \
        "placed: $(fl_where | grep "^p" | tr '\n' ' '); $(tail -c 300 "$FL/spread.out" | tr '\n' '|')"
    check fleet-spread-balanced '[ "$(fl_claimed h2)" = 600000 ] && [ "$(fl_claimed h3)" = 600000 ] && [ "$(fl_on h3 | wc -w)" = 12 ]' \
        "$(flx hosts | tr '\n' '|'); h3 runs [$(fl_on h3)]"
    # anti-affinity: sponsor s1 already has b1 on h1; a 0% domain of s1 under binpack would go
    # to the fullest host (h1) but goes to a host without one of s1's domains: h2 and h3 tie
    # (120% left each), the name decides (h2).
    fl_create a1 0% s1 >"$FL/anti.out" 2>&1
    check fleet-anti-affinity '[ "$(fl_where | grep "^a1 ")" = "a1 h2" ]' "placed: $(fl_where | grep "^a1 "); $(cat "$FL/anti.out")"
    check fleet-31-placed '[ "$(fl_where | wc -l)" = 31 ] && [ $(($(fl_on h1 | wc -w) + $(fl_on h2 | wc -w) + $(fl_on h3 | wc -w))) = 31 ]' \
        "records $(fl_where | wc -l); h1 [$(fl_on h1)] h2 [$(fl_on h2)] h3 [$(fl_on h3)]"

    # Nearly full: h1 none left, 120% on h2 and on h3: room for eight 25% domains (four each,
    # 20% left). 4 placers create 5 each at once: exactly 8 succeed, the others are refused.
    FL_PLACERS=()
    for p in 1 2 3 4; do
        (for k in 1 2 3 4 5; do
            if fl_create "c$p$k" 25% "u$p$k" >"$FL/c$p$k.out" 2>&1; then echo ok; else echo "no $?"; fi
        done >"$FL/placer$p.out") &
        FL_PLACERS+=($!)
    done
    wait "${FL_PLACERS[@]}" # each create is bounded by flx's timeout
    check fleet-concurrent-exact '[ "$(cat "$FL"/placer?.out | grep -c "^ok")" -eq 8 ] && [ "$(cat "$FL"/placer?.out | grep -c "^no 1")" -eq 12 ]' \
        "outcomes: $(cat "$FL"/placer?.out | tr '\n' ' '); $(cat "$FL"/c*.out | tail -c 400 | tr '\n' '|')"
    check fleet-concurrent-refusal 'grep -qh "no host can take" "$FL"/c*.out' "$(cat "$FL"/c*.out | tail -c 300 | tr '\n' '|')"
    check fleet-no-overcommit '[ "$(flx --json hosts | jq "[.hosts[] | select(.claimed_ppm > 1800000 or .held_ppm > 1800000)] | length")" = 0 ]' \
        "$(flx hosts | tr '\n' '|')"
    check fleet-claims-match-hosts 'for h in h1 h2 h3; do [ "$(fl_count $h)" -eq "$(fl_on $h | wc -w)" ] || exit 1; done' \
        "etcd: $(fl_where | tr '\n' ' '); hosts: [$(fl_on h1)] [$(fl_on h2)] [$(fl_on h3)]"

    # A host that refuses gives the claim back: binpack takes the fullest host, h1 (none left;
    # the domain reserves nothing), which already runs a domain named b1 (another UUID): 409
    # there, and the fleet forgets the claim (one b1 in etcd, h1's claims as before).
    FL_H1=$(flx --json hosts | jq -c '.hosts[] | select(.name == "h1") | [.claimed_ppm, .domains]')
    fl_create b1 0% zz >"$FL/refused.out" 2>&1
    FL_RC=$?
    check fleet-refused-claim-released '[ $FL_RC -eq 1 ] && grep -q "b1" "$FL/refused.out" && [ "$(fl_where | grep -c "^b1 ")" = 1 ] && [ "$(flx --json hosts | jq -c ".hosts[] | select(.name == \"h1\") | [.claimed_ppm, .domains]")" = "$FL_H1" ]' \
        "rc $FL_RC: $(tail -c 300 "$FL/refused.out" | tr '\n' '|'); h1 before $FL_H1; $(flx hosts | tr '\n' '|')"

    # One etcd member down: nothing changes for placement.
    fn_etcd_stop 1
    fl_create q1 0% v1 >"$FL/q1.out" 2>&1
    check fleet-one-member-down 'grep -q "created on" "$FL/q1.out" && fl_hosts_up 3' "$(tail -c 300 "$FL/q1.out" | tr '\n' '|')"
    # Two down: no quorum. Placement fails within its timeouts, saying so; domains keep running.
    fn_etcd_stop 2
    fl_create q2 0% v2 >"$FL/q2.out" 2>&1
    FL_RC=$?
    check fleet-no-quorum-fails '[ $FL_RC -eq 3 ] && grep -q "no quorum or none running" "$FL/q2.out"' "rc $FL_RC: $(tail -c 300 "$FL/q2.out" | tr '\n' '|')"
    check fleet-no-quorum-runs '[ "$(fl_on h1 | wc -w)" -ge 12 ]' "h1 runs [$(fl_on h1)]"
    # A host that cannot reach etcd refuses what a placer sends it ("fleet": true), clearly.
    fl_xml nq 0% nq >"$FL/nq.xml"
    jq -n --rawfile x "$FL/nq.xml" '{xml: $x, fleet: true}' >"$FL/nq.json"
    fl_refuses() {
        curl -s --max-time 10 --unix-socket "$FL/h1.sock" -H 'Content-Type: application/json' \
            --data-binary "@$FL/nq.json" -w '\n%{http_code}\n' http://xenod/v1/domains >"$FL/nq.out"
        [ "$(tail -1 "$FL/nq.out")" = 503 ] && grep -q "cannot reach the fleet's etcd" "$FL/nq.out"
    }
    check fleet-no-quorum-host-refuses 'wait_until 20 grep -q "nothing new is placed here" "$FL/h1.log" && fl_refuses && ! hostx h1 list | grep -qw nq' \
        "$(tail -c 300 "$FL/nq.out" 2>/dev/null | tr '\n' '|')"
    # Both back: the cluster has its quorum again and placement works.
    fn_etcd_start 1 3
    fn_etcd_start 2 3
    # ... and each host, once its own round reaches etcd again, takes placements again.
    # (A host whose rounds fell between the two outages never saw one and says nothing.)
    fl_all_back() {
        for h in h1 h2 h3; do
            ! grep -q "nothing new is placed here" "$FL/$h.log" || grep -q "etcd answers again" "$FL/$h.log" || return 1
        done
    }
    check fleet-quorum-back 'wait_until 30 fl_healthy && wait_until 20 fl_hosts_up 3 && wait_until 20 fl_all_back' \
        "$(flx hosts 2>&1 | tr '\n' '|') h2: $(log_tail "$FL/h2.log")"
    fl_create q3 0% v3 >"$FL/q3.out" 2>&1
    check fleet-placement-back 'grep -q "created on" "$FL/q3.out"' "$(tail -c 300 "$FL/q3.out" | tr '\n' '|')"

    # The same through a member's API: POST /v1/fleet/domains on h3 places (spread) and the
    # chosen host runs it; a reservation no host has room for (20% at most is left) is 409.
    fl_api() { # NAME RESERVATION: the answer's body, then its status on the last line
        fl_xml "$1" "$2" "w$1" >"$FL/$1.xml"
        jq -n --rawfile x "$FL/$1.xml" '{xml: $x, policy: "spread"}' >"$FL/$1.json"
        curl -s --max-time 60 --unix-socket "$FL/h3.sock" -H 'Content-Type: application/json' \
            --data-binary "@$FL/$1.json" -w '\n%{http_code}\n' http://xenod/v1/fleet/domains
    }
    fl_api api1 10% >"$FL/api1.out"
    FL_H=$(head -n -1 "$FL/api1.out" | jq -r .host 2>/dev/null)
    check fleet-api-create '[ "$(tail -1 "$FL/api1.out")" = 201 ] && [ -n "$FL_H" ] && fl_on "$FL_H" | grep -qw api1 && [ "$(fl_where | grep "^api1 ")" = "api1 $FL_H" ]' \
        "$(tail -c 300 "$FL/api1.out" | tr '\n' '|')"
    fl_api api2 80% >"$FL/api2.out"
    check fleet-api-no-room '[ "$(tail -1 "$FL/api2.out")" = 409 ] && grep -q "no host can take api2" "$FL/api2.out" && ! fl_where | grep -q "^api2 "' \
        "$(tail -c 300 "$FL/api2.out" | tr '\n' '|')"
fi
