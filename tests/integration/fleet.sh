# A fleet of hosts on etcd (docs/fleet.md): a real 3-member etcd cluster on loopback and three
# xenods (distinct state directories and sockets, --cpus 2: admission counts 180% each) that
# register under leases. Places domains with CPU reservations through `xenctl --fleet create`
# under binpack then spread and checks where they went against the policy, both in etcd and on
# the hosts themselves; runs 8 creates from 4 placers at once against a nearly full fleet
# (exactly the free slots are taken, no host over its capacity); stops one etcd member
# (placement still works) then a second (no quorum: placement fails with a clear error, the
# domains keep running, a host refuses what a placer sends it) and starts both again
# (placement works again).
# Ports: etcd clients 23791/23793/23795, peers 23792/23794/23796 (loopback).

FL=$TMP/fleet
FL_XENOD=$BUILD_DIR/bin/xenod
FL_XENCTL=$BUILD_DIR/bin/xenctl
FL_URLS=http://127.0.0.1:23791,http://127.0.0.1:23793,http://127.0.0.1:23795
FL_CLUSTER=e1=http://127.0.0.1:23792,e2=http://127.0.0.1:23794,e3=http://127.0.0.1:23796
declare -A FL_ETCD=() FL_XPID=()
mkdir -p "$FL"

fl_etcd_start() { # N: member eN (client port 2379(2N-1), peer 2379(2N))
    local n=$1 c=$((23789 + 2 * $1)) p=$((23790 + 2 * $1))
    etcd --name "e$n" --data-dir "$FL/etcd$n" --listen-client-urls "http://127.0.0.1:$c" \
        --advertise-client-urls "http://127.0.0.1:$c" --listen-peer-urls "http://127.0.0.1:$p" \
        --initial-advertise-peer-urls "http://127.0.0.1:$p" --initial-cluster "$FL_CLUSTER" \
        --initial-cluster-state new --initial-cluster-token "xeno-fleet-$$" >>"$FL/etcd$n.log" 2>&1 &
    FL_ETCD[$n]=$!
}
fl_etcd_stop() { # N
    [ -z "${FL_ETCD[$1]:-}" ] || { kill "${FL_ETCD[$1]}" 2>/dev/null; wait "${FL_ETCD[$1]}" 2>/dev/null; }
    FL_ETCD[$1]=
}
fl_healthy() { ETCDCTL_API=3 timeout 5 etcdctl --endpoints "$FL_URLS" endpoint health >/dev/null 2>&1; }
fl_xenod_start() { # NAME
    mkdir -p "$FL/$1"
    "$FL_XENOD" --state-dir "$FL/$1" --socket "$FL/$1.sock" --cpus 2 --no-web --fleet "$FL_URLS" \
        --host-name "$1" --advertise "unix:$FL/$1.sock" --fleet-ttl 4 >"$FL/$1.log" 2>&1 &
    FL_XPID[$1]=$!
}
flx() { timeout -k 5 60 "$FL_XENCTL" --fleet "$FL_URLS" "$@"; }
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
fl_where() { flx --json list | jq -r '.domains[] | "\(.name) \(.host)"' | sort; }
# fl_on HOST: the names of the domains that run on HOST according to that host's xenod.
fl_on() { hostx "$1" --json list | jq -r '.domains[] | select(.state == "running" or .state == "blocked") | .name' | sort | tr '\n' ' '; }
fl_count() { fl_where | awk -v h="$1" '$2 == h' | wc -l; }

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
    for n in 1 2 3; do fl_etcd_stop "$n"; done
}
trap 'fl_cleanup; test_file_exit' EXIT
check_context() { printf ' | h1: %s | etcd1: %s' "$(log_tail "$FL/h1.log")" "$(LOG_TAIL_BYTES=200 log_tail "$FL/etcd1.log")"; }

if ! command -v etcd >/dev/null || ! command -v etcdctl >/dev/null; then
    fail fleet "etcd and etcdctl are not installed (scripts/install-deps.sh installs etcd-server etcd-client)"
elif ! kvm_case fleet; then
    :
else
    for n in 1 2 3; do fl_etcd_start "$n"; done
    check fleet-etcd-cluster 'wait_until 30 fl_healthy' "the 3-member etcd cluster did not become healthy"
    for h in h1 h2 h3; do fl_xenod_start "$h"; done
    check fleet-hosts-register 'wait_until 20 fl_hosts_up 3' "3 hosts did not register: $(flx hosts 2>&1 | tr '\n' '|')"
    check fleet-hosts-view 'flx hosts | grep -Eq "^h2 +active +2 +180% +0% .* [0-9]+s/4s$"' \
        "hosts: $(flx hosts 2>&1 | tr '\n' '|')"

    # binpack, 40% each, one sponsor per domain (no anti-affinity): h1 takes 4 (160%), then h2.
    for i in 1 2 3 4 5 6; do fl_create "b$i" 40% "s$i" >>"$FL/binpack.out" 2>&1; done
    check fleet-binpack '[ "$(fl_where | tr "\n" " ")" = "b1 h1 b2 h1 b3 h1 b4 h1 b5 h2 b6 h2 " ]' \
        "placed: $(fl_where | tr '\n' ' '); $(tail -c 300 "$FL/binpack.out" | tr '\n' '|')"
    check fleet-binpack-runs '[ "$(fl_on h1)" = "b1 b2 b3 b4 " ] && [ "$(fl_on h2)" = "b5 b6 " ] && [ -z "$(fl_on h3)" ]' \
        "h1 runs [$(fl_on h1)], h2 [$(fl_on h2)], h3 [$(fl_on h3)]"
    # spread from there (h1 160%, h2 80%, h3 0%): the largest share left after the claim is
    # h3's twice (140%, then 100% against h2's 60%), then h2 and h3 tie at 60% with 2 domains
    # each: the name decides (h2).
    for i in 1 2 3; do fl_create "p$i" 40% "t$i" --policy spread >>"$FL/spread.out" 2>&1; done
    check fleet-spread '[ "$(fl_where | grep "^p" | tr "\n" " ")" = "p1 h3 p2 h3 p3 h2 " ]' \
        "placed: $(fl_where | tr '\n' ' '); $(tail -c 300 "$FL/spread.out" | tr '\n' '|')"
    # anti-affinity: sponsor s1 already has b1 on h1; a 0% domain of s1 under binpack goes to
    # a host without one of s1's domains, the fullest of those (h2, 120%, before h3, 80%).
    fl_create a1 0% s1 >"$FL/anti.out" 2>&1
    check fleet-anti-affinity '[ "$(fl_where | grep "^a1 ")" = "a1 h2" ]' "placed: $(fl_where | tr '\n' ' ')"

    # Nearly full: 20% left on h1, 60% on h2, 100% on h3: room for three 40% domains. 4
    # placers create 2 each at once: exactly 3 succeed, the others are refused.
    FL_PLACERS=()
    for p in 1 2 3 4; do
        (for k in 1 2; do
            if fl_create "c$p$k" 40% "u$p$k" >"$FL/c$p$k.out" 2>&1; then echo ok; else echo "no $?"; fi
        done >"$FL/placer$p.out") &
        FL_PLACERS+=($!)
    done
    wait "${FL_PLACERS[@]}" # each create is bounded by flx's timeout
    check fleet-concurrent-exact '[ "$(cat "$FL"/placer?.out | grep -c "^ok")" -eq 3 ] && [ "$(cat "$FL"/placer?.out | grep -c "^no 1")" -eq 5 ]' \
        "outcomes: $(cat "$FL"/placer?.out | tr '\n' ' '); $(cat "$FL"/c*.out | tail -c 400 | tr '\n' '|')"
    check fleet-concurrent-refusal 'grep -qh "no host can take" "$FL"/c*.out' "$(cat "$FL"/c*.out | tail -c 300 | tr '\n' '|')"
    check fleet-no-overcommit '[ "$(flx --json hosts | jq "[.hosts[] | select(.claimed_ppm > 1800000 or .held_ppm > 1800000)] | length")" = 0 ]' \
        "$(flx hosts | tr '\n' '|')"
    check fleet-claims-match-hosts 'for h in h1 h2 h3; do [ "$(fl_count $h)" -eq "$(fl_on $h | wc -w)" ] || exit 1; done' \
        "etcd: $(fl_where | tr '\n' ' '); hosts: [$(fl_on h1)] [$(fl_on h2)] [$(fl_on h3)]"

    # A host that refuses gives the claim back: every host has 20% left, so binpack's tie goes
    # to h1, which already runs a domain named b1 (another UUID): 409 there, and the fleet
    # forgets the claim (one b1 in etcd, h1's claims as before).
    FL_H1=$(flx --json hosts | jq -c '.hosts[] | select(.name == "h1") | [.claimed_ppm, .domains]')
    fl_create b1 0% zz >"$FL/refused.out" 2>&1
    FL_RC=$?
    check fleet-refused-claim-released '[ $FL_RC -eq 1 ] && grep -q "b1" "$FL/refused.out" && [ "$(fl_where | grep -c "^b1 ")" = 1 ] && [ "$(flx --json hosts | jq -c ".hosts[] | select(.name == \"h1\") | [.claimed_ppm, .domains]")" = "$FL_H1" ]' \
        "rc $FL_RC: $(tail -c 300 "$FL/refused.out" | tr '\n' '|'); h1 before $FL_H1; $(flx hosts | tr '\n' '|')"

    # One etcd member down: nothing changes for placement.
    fl_etcd_stop 1
    fl_create q1 0% v1 >"$FL/q1.out" 2>&1
    check fleet-one-member-down 'grep -q "created on" "$FL/q1.out" && fl_hosts_up 3' "$(tail -c 300 "$FL/q1.out" | tr '\n' '|')"
    # Two down: no quorum. Placement fails within its timeouts, saying so; domains keep running.
    fl_etcd_stop 2
    fl_create q2 0% v2 >"$FL/q2.out" 2>&1
    FL_RC=$?
    check fleet-no-quorum-fails '[ $FL_RC -eq 3 ] && grep -q "no quorum or none running" "$FL/q2.out"' "rc $FL_RC: $(tail -c 300 "$FL/q2.out" | tr '\n' '|')"
    check fleet-no-quorum-runs '[ "$(fl_on h1 | wc -w)" -ge 4 ]' "h1 runs [$(fl_on h1)]"
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
    fl_etcd_start 1
    fl_etcd_start 2
    # ... and each host, once its own round reaches etcd again, takes placements again.
    fl_all_back() { for h in h1 h2 h3; do grep -q "etcd answers again" "$FL/$h.log" || return 1; done; }
    check fleet-quorum-back 'wait_until 30 fl_healthy && wait_until 20 fl_hosts_up 3 && wait_until 20 fl_all_back' \
        "$(flx hosts 2>&1 | tr '\n' '|') h2: $(log_tail "$FL/h2.log")"
    fl_create q3 0% v3 >"$FL/q3.out" 2>&1
    check fleet-placement-back 'grep -q "created on" "$FL/q3.out"' "$(tail -c 300 "$FL/q3.out" | tr '\n' '|')"

    # The same through a member's API: POST /v1/fleet/domains on h3 places (spread) and the
    # chosen host runs it; a reservation no host has room for (every host has 20% left) is 409.
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
