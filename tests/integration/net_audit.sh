# The audit engine inside xeno-netback, end to end (issue 9, docs/audit.md "In xeno-netback"):
# a Debian Linux guest under QEMU (TCG) with two virtio-net devices served by the backend
# over vhost-user, one port per domain: "scanner" (sponsor mallory, 10.99.0.10 by DHCP) and
# "client" (sponsor alice, 10.99.1.10). The backend runs in a private network namespace with
# the tap uplink, where busybox httpd listens on ports 25, 8080-8082 and 9, nfcapd collects
# the IPFIX export, and udhcpd gives the scanner its address. Rules:
# `limit tcp dport 25 new 1/10s per sponsor`. In the guest:
#   1. client: two SMTP connections in a row (the second is refused), then 8080 (works);
#   2. scanner: SYNs to 10 closed ports of 10.99.0.1 (RSTs) while the client connects to
#      8081 and 8082: the scan is detected within 6 probes and the later probes are held
#      (throttle verdicts); the client is never touched;
#   3. client: 80 connections to 10.99.1.77:9, an address nobody answers yet (a static
#      neighbour entry sends them to the tap): a SYN flood. Once the backend reports it
#      (audit-events), the test gives the namespace that address, the SYN+ACKs come back, the
#      flood ends, and a last connection there works.
# After the guest powers off the backend is stopped (SIGTERM: the flow log is sealed) and
# `xenctl audit query` must return exactly the flows the guest made towards the namespace,
# `xenctl audit verify` must pass and fail on a log with one byte altered, and nfdump must
# show the same flows as the log. Also: `audit-rules` reloads live, and a bad file keeps the
# old rules with a FILE:LINE:COLUMN reply.
#
# Needs root, ip netns, qemu-system-x86_64, busybox, nfdump, jq (scripts/install-deps.sh) and
# the Debian kernel package that tests/integration/netback_qemu.sh fetches into
# build/netback-qemu (fetched here too if missing).

NA_CTL=${NA_CTL:-$BUILD_DIR/bin/xenctl}

# na_initrd DIR: busybox, the virtio-net modules and the guest's /init into DIR/initrd.gz.
na_initrd() {
    local dir=$1 root=$1/initrd m
    rm -rf "$root"
    mkdir -p "$root"/{bin,proc,sys,dev,mod,etc,tmp}
    cp "$(command -v busybox)" "$root/bin/busybox"
    for m in drivers/virtio/virtio.ko drivers/virtio/virtio_ring.ko drivers/virtio/virtio_pci_modern_dev.ko \
        drivers/virtio/virtio_pci_legacy_dev.ko drivers/virtio/virtio_pci.ko net/core/failover.ko \
        drivers/net/net_failover.ko drivers/net/virtio_net.ko; do
        cp "$DEBIAN_MODS/$m" "$root/mod/" 2>/dev/null
    done
    cat >"$root/init" <<'EOF'
#!/bin/busybox sh
/bin/busybox --install -s /bin
mount -t proc proc /proc; mount -t sysfs sys /sys; mount -t devtmpfs dev /dev
for m in virtio_ring virtio virtio_pci_modern_dev virtio_pci_legacy_dev virtio_pci failover net_failover virtio_net; do
    insmod /mod/$m.ko || echo "NBA: insmod $m failed"
done
nic() { for i in /sys/class/net/eth*; do [ "$(cat $i/address)" = "$1" ] && echo ${i##*/}; done; }
A=$(nic 52:54:00:00:0d:01) B=$(nic 52:54:00:00:0d:02)
cat >/tmp/dhcp.sh <<'S'
#!/bin/sh
[ "$1" = bound ] || exit 0
ip addr add $ip/${mask:-24} dev $interface
echo "NBA: bound $ip" >/dev/console
S
chmod +x /tmp/dhcp.sh
ip link set lo up; ip link set $A up; ip link set $B up
udhcpc -i $A -s /tmp/dhcp.sh -q -n -t 20 -T 2 >/dev/null 2>&1 || echo "NBA: no address"
ip addr add 10.99.1.10/24 dev $B
# HTTP over busybox nc (the static busybox's wget crashes in its name lookup).
get() { printf 'GET /hello.txt HTTP/1.0\r\n\r\n' | nc -w 4 $1 $2 2>/dev/null | tail -1; }
echo "NBA: smtp1 $(get 10.99.1.1 25)."
echo "NBA: smtp2 $(get 10.99.1.1 25)."
echo "NBA: web8080 $(get 10.99.1.1 8080)."
( sleep 2; for p in 8081 8082; do echo "NBA: web$p $(get 10.99.1.1 $p)."; sleep 1; done ) &
cl=$!
for p in 2001 2002 2003 2004 2005 2006 2007 2008 2009 2010; do nc -w 3 10.99.0.1 $p </dev/null >/dev/null 2>&1; done
echo "NBA: scan done"
wait $cl
mac=$(awk '$1 == "10.99.1.1" {print $4}' /proc/net/arp)
arp -i $B -s 10.99.1.77 $mac || echo "NBA: arp -s failed ($mac)"
for i in $(seq 80); do nc -w 40 10.99.1.77 9 </dev/null >/dev/null 2>&1 & done
echo "NBA: flood started"
r=
for i in $(seq 60); do
    r=$(get 10.99.1.77 9)
    [ "$r" = hello-from-the-namespace ] && break
    sleep 1
done
echo "NBA: flood recovered $r."
poweroff -f
EOF
    chmod +x "$root/init"
    (cd "$root" && find . | busybox cpio -o -H newc 2>/dev/null | gzip -1) >"$dir/initrd.gz"
}

# na_flows SPONSOR DST: "PROTO REMOTE_PORT [dropped]" per flow the log has, sorted.
na_flows() {
    timeout 30 "$NA_CTL" audit query "$NA_DIR/state/flows.log" --sponsor "$1" --since "$NA_T0" --dst "$2" 2>/dev/null |
        awk '{n = split($6, r, ":"); print $3, r[n], ($NF == "dropped" ? "dropped" : "")}' | sed 's/ $//' | sort
}

na_case() {
    local name=net_audit_linux_guest dir=$TMP/na ns=xnba$$ qemu
    NA_DIR=$dir
    qemu=$(command -v qemu-system-x86_64)
    if [ -z "$qemu" ] || ! command -v busybox >/dev/null || ! command -v ip >/dev/null ||
        ! command -v nfcapd >/dev/null || ! command -v jq >/dev/null; then
        skip $name "needs qemu-system-x86_64, busybox, ip, nfdump and jq (scripts/install-deps.sh)"
        return
    fi
    debian_kernel || { skip $name "could not fetch the Debian kernel package with apt-get download"; return; }
    mkdir -p "$dir/state" "$dir/www" "$dir/nf"
    na_initrd "$dir"
    echo "hello-from-the-namespace" >"$dir/www/hello.txt"
    head -c 32 /dev/urandom >"$dir/key"
    printf '# issue 9: one SMTP connection per sponsor per 10 s\nlimit tcp dport 25 new 1/10s per sponsor\n' >"$dir/rules"
    if ! ip netns add $ns 2>/dev/null; then
        skip $name "cannot create a network namespace"
        return
    fi
    ip netns exec $ns ip link set lo up
    local nfport=$((20000 + $$ % 20000)) pids=() bad=
    ip netns exec $ns timeout -k 2 400 nfcapd -b 127.0.0.1 -p $nfport -w "$dir/nf" -t 3600 >"$dir/nfcapd.log" 2>&1 &
    local nf_pid=$!
    wait_until 10 grep -qs 'Startup' "$dir/nfcapd.log" || bad="nfcapd did not start: $(tail -c 300 "$dir/nfcapd.log")"
    NA_T0=$(date +%s)
    ASAN_OPTIONS=${ASAN_OPTIONS:-}:detect_leaks=0 ip netns exec $ns "$NETBACK" --state-dir "$dir/state" \
        --uplink-tap xnba0 --audit-rules "$dir/rules" --audit-key "$dir/key" --ipfix 127.0.0.1:$nfport \
        2>"$dir/netback.log" &
    NB_PID=$!
    [ -n "$bad" ] || wait_until 10 test -s "$dir/state/pid" ||
        bad="backend did not start: $(tail -2 "$dir/netback.log" | tr '\n' '|')"
    local reload_bad reload_ok
    if [ -z "$bad" ]; then
        ip netns exec $ns ip addr add 10.99.0.1/24 dev xnba0
        ip netns exec $ns ip addr add 10.99.1.1/24 dev xnba0
        ip netns exec $ns ip link set xnba0 up
        cat >"$dir/udhcpd.conf" <<EOF
start 10.99.0.10
end 10.99.0.20
interface xnba0
lease_file $dir/udhcpd.leases
static_lease 52:54:00:00:0d:01 10.99.0.10
option subnet 255.255.255.0
EOF
        touch "$dir/udhcpd.leases"
        ip netns exec $ns timeout -k 2 400 busybox udhcpd -f "$dir/udhcpd.conf" >"$dir/udhcpd.log" 2>&1 &
        pids+=($!)
        local p
        for p in 25 8080 8081 8082 9; do
            ip netns exec $ns timeout -k 2 400 busybox httpd -f -p $p -h "$dir/www" >/dev/null 2>&1 &
            pids+=($!)
        done
        # Live reload: a bad file is refused whole (FILE:LINE:COLUMN), the good one is taken.
        cp "$dir/rules" "$dir/rules.good"
        printf 'limit tcp dport 25 new 1/10s per sponsor\nlimit udp new 100/s per address\n' >"$dir/rules"
        nb_ctl "$dir/state" audit-rules
        reload_bad=$NB_REPLY
        cp "$dir/rules.good" "$dir/rules"
        nb_ctl "$dir/state" audit-rules
        reload_ok=$NB_REPLY
        nb_ctl "$dir/state" "port-add scan socket=$dir/v0.sock mac=52:54:00:00:0d:01 ip=10.99.0.10 domain=scanner sponsor=mallory"
        [[ $NB_REPLY == "ok id="* ]] || bad="port-add scan: $NB_REPLY"
        nb_ctl "$dir/state" "port-add client socket=$dir/v1.sock mac=52:54:00:00:0d:02 ip=10.99.1.10 domain=client sponsor=alice"
        [[ $NB_REPLY == "ok id="* ]] || bad="port-add client: $NB_REPLY"
    fi
    if [ -z "$bad" ]; then
        # vectors=0: see netback_qemu.sh (Debian's QEMU 7.2 and MSI-X with vhost-user).
        timeout -k 5 400 "$qemu" -accel tcg -m 256M -smp 1 -nographic -no-reboot -nodefaults -serial stdio \
            -object memory-backend-memfd,id=mem,size=256M,share=on -numa node,memdev=mem \
            -chardev socket,id=c0,path="$dir/v0.sock",server=on,wait=off -netdev vhost-user,id=n0,chardev=c0 \
            -device virtio-net-pci,netdev=n0,mac=52:54:00:00:0d:01,vectors=0 \
            -chardev socket,id=c1,path="$dir/v1.sock",server=on,wait=off -netdev vhost-user,id=n1,chardev=c1 \
            -device virtio-net-pci,netdev=n1,mac=52:54:00:00:0d:02,vectors=0 \
            -kernel "$DEBIAN_VMLINUZ" -initrd "$dir/initrd.gz" -append "console=ttyS0 quiet panic=-1" \
            </dev/null >"$dir/qemu.out" 2>&1 &
        local q_pid=$!
        # The flood: once the backend reports it, the namespace takes the address, so the SYNs
        # retransmitted by the guest get their SYN+ACKs.
        na_flood_or_gone() { grep -qs 'domain=client sponsor=alice kind=syn-flood action=' "$dir/state/audit-events" || gone $q_pid; }
        if wait_until 300 na_flood_or_gone && ! gone $q_pid; then
            ip netns exec $ns ip addr add 10.99.1.77/32 dev xnba0
        fi
        wait_until 300 gone $q_pid || kill -KILL $q_pid 2>/dev/null
        wait $q_pid 2>/dev/null
    fi
    nb_ctl "$dir/state" stats
    local stats=$NB_REPLY
    nb_stop
    kill "${pids[@]}" 2>/dev/null
    wait "${pids[@]}" 2>/dev/null
    wait_until 10 udp_drained $ns $nfport # nfcapd has read the last IPFIX datagrams
    kill -TERM $nf_pid 2>/dev/null
    wait $nf_pid 2>/dev/null
    ip netns del $ns 2>/dev/null
    if [ -n "$bad" ]; then
        fail $name "$bad"
        return
    fi
    local ev=$dir/state/audit-events out=$dir/qemu.out
    local why=
    if ! grep -q 'NBA: bound 10.99.0.10' $out; then
        why="the guest got no address: $(grep -E 'NBA|virtio|error' $out | tail -5 | tr '\n' '|')"
    fi
    fail_or_pass() { if [ -n "$why" ]; then fail "$1" "$why"; else pass "$1"; fi; }

    # The reload.
    why=
    [[ $reload_bad == "err audit-rules: "*"rules:2:25: expected 'sponsor' or 'domain'"* && $reload_ok == ok ]] ||
        why="audit-rules replies: '$reload_bad' then '$reload_ok'"
    fail_or_pass net_audit_rules_reload

    # 1. SMTP.
    why=
    if ! grep -q 'NBA: smtp1 hello-from-the-namespace\.' $out || ! grep -q 'NBA: smtp2 \.' $out ||
        ! grep -q 'NBA: web8080 hello-from-the-namespace\.' $out; then
        why="guest: $(grep -E 'NBA: (smtp|web)' $out | tr '\n' '|')"
    elif [ "$(grep -c '^domain=client sponsor=alice kind=rule action=drop flow="proto 6 10.99.1.10:[0-9]* -> 10.99.1.1:25" source="rule 1 (.*rules:2): limit tcp dport 25 new 1/10s per sponsor"' $ev)" != 1 ]; then
        why="events: $(grep 'kind=rule' $ev | tr '\n' '|')"
    fi
    fail_or_pass net_audit_smtp_second_refused

    # 2. The scan: detected within 6 probes, later probes held; the client untouched.
    why=
    local scan held failed answered
    scan=$(grep '^domain=scanner sponsor=mallory kind=scan action=throttle ' $ev | head -1)
    failed=$(sed -n 's/.*evidence="first contacts: \([0-9]*\) failed, \([0-9]*\) answered.*/\1/p' <<<"$scan")
    answered=$(sed -n 's/.*evidence="first contacts: \([0-9]*\) failed, \([0-9]*\) answered.*/\2/p' <<<"$scan")
    held=$(grep '^audit ' <<<"$stats" | tr ' ' '\n' | sed -n 's/^held=//p')
    if ! grep -q 'NBA: scan done' $out || ! grep -q 'NBA: web8081 hello-from-the-namespace\.' $out ||
        ! grep -q 'NBA: web8082 hello-from-the-namespace\.' $out; then
        why="guest: $(grep -E 'NBA: (scan|web)' $out | tr '\n' '|')"
    elif [ -z "$failed" ] || [ $((failed + answered)) -gt 6 ]; then
        why="scan event: '$scan'"
    elif [ -z "$held" ] || [ "$held" -lt 1 ]; then
        why="no probe was held after the detection: $(grep '^audit ' <<<"$stats")"
    elif grep -q '^domain=client .*kind=scan' $ev; then
        why="the client was taken for a scanner: $(grep kind=scan $ev | tr '\n' '|')"
    fi
    fail_or_pass net_audit_scan_throttled

    # 3. The SYN flood: throttled, and over once the answers come back.
    why=
    if ! grep -q '^domain=client sponsor=alice kind=syn-flood action=throttle ' $ev ||
        ! grep -q '^domain=client sponsor=alice kind=syn-flood-end action=pass ' $ev; then
        why="events: $(grep -E 'syn-flood' $ev | tr '\n' '|')"
    elif ! grep -q 'NBA: flood recovered hello-from-the-namespace\.' $out; then
        why="guest: $(grep -E 'NBA: flood' $out | tr '\n' '|')"
    elif grep -v '^domain=[^ ]* sponsor=[^ ]* kind=[a-z-]* action=[a-z]* ' $ev | grep -q .; then
        why="event lines out of format: $(grep -v '^domain=' $ev | head -2 | tr '\n' '|')"
    fi
    fail_or_pass net_audit_syn_flood

    # 4. The flow log: exactly the flows the guest made towards the namespace hosts.
    why=
    local got want
    got=$(na_flows alice 10.99.1.1)
    want=$(printf 'tcp 25\ntcp 25 dropped\ntcp 8080\ntcp 8081\ntcp 8082\n' | sort)
    [ "$got" = "$want" ] || why="alice towards 10.99.1.1: $(tr '\n' '|' <<<"$got")"
    got=$(na_flows mallory 10.99.0.1)
    want=$(seq 2001 2010 | sed 's/^/tcp /' | sort)
    [ -n "$why" ] || [ "$got" = "$want" ] || why="mallory towards 10.99.0.1: $(tr '\n' '|' <<<"$got")"
    fail_or_pass net_audit_query_exact

    why=
    local log=$dir/state/flows.log size byte
    if ! timeout 30 "$NA_CTL" audit verify "$log" --key "$dir/key" >"$dir/verify.out" 2>&1; then
        why="verify: $(tr '\n' '|' <"$dir/verify.out")"
    else
        size=$(stat -c %s "$log")
        cp "$log" "$dir/altered.log"
        byte=$(od -An -tu1 -j $((size / 2)) -N1 "$dir/altered.log" | tr -d ' ')
        printf "$(printf '\\%03o' $(((byte + 1) % 256)))" | dd of="$dir/altered.log" bs=1 seek=$((size / 2)) conv=notrunc status=none
        if timeout 30 "$NA_CTL" audit verify "$dir/altered.log" --key "$dir/key" >"$dir/altered.out" 2>&1 ||
            ! grep -Eq 'block [0-9]+ at offset [0-9]+: ' "$dir/altered.out"; then
            why="one byte altered at $((size / 2)) was not detected: $(tr '\n' '|' <"$dir/altered.out")"
        fi
    fi
    fail_or_pass net_audit_verify_tamper

    # 5. IPFIX: nfdump shows the flows of the log (as tests/integration/audit.sh compares), the
    # IPv4 ones: nfdump abbreviates IPv6 addresses and prints ICMPv6 type.code (the guest's
    # router solicitations are in both, written differently).
    why=
    nfdump -R "$dir/nf" -q -N -o 'fmt:%sa %sp %da %dp %pr %pkt %byt %ts %te' 2>&1 |
        awk '$1 !~ /:/ {print $1, $2, $3, $4, $5, $6, $7, $8 " " $9, $10 " " $11}' | sort >"$dir/nf.got"
    local s
    for s in alice mallory; do
        "$NA_CTL" audit query "$log" --sponsor "$s" --since "$NA_T0" --json 2>/dev/null
    done | jq -r '
        def p: {"tcp": 6, "udp": 17, "icmp": 1}[.protocol] // .protocol;
        def t(ms): (ms / 1000 | floor | strftime("%Y-%m-%d %H:%M:%S")) + "." + ((ms % 1000) + 1000 | tostring | .[1:]);
        .[] | (select(.packets_out > 0) | "\(.local) \(.local_port) \(.remote) \(.remote_port) \(p) \(.packets_out) \(.bytes_out) \(t(.start_ms)) \(t(.end_ms))"),
              (select(.packets_in > 0) | "\(.remote) \(.remote_port) \(.local) \(.local_port) \(p) \(.packets_in) \(.bytes_in) \(t(.start_ms)) \(t(.end_ms))")' |
        awk '$1 !~ /:/' | sort >"$dir/nf.want"
    if ! [ -s "$dir/nf.want" ] || ! cmp -s "$dir/nf.want" "$dir/nf.got"; then
        why="nfdump shows other flows ($(wc -l <"$dir/nf.want") in the log, $(wc -l <"$dir/nf.got") in nfdump): $(diff "$dir/nf.want" "$dir/nf.got" | head -4 | tr '\n' '|')"
    fi
    fail_or_pass net_audit_ipfix_nfdump
}

# Throttling is backpressure, not loss: with `limit udp new 1/3s per sponsor action throttle`,
# port a sends to b and to c (two new flows of one sponsor): the second flow's first frame is
# held in a's TX ring (and every frame behind it); the backend is killed with -9 while it holds
# it (and twice more during the transfer) and started again. The driver (tests/tools/vhost_driver) checks every numbered frame arrived exactly
# once and in order, and its rings were never reset.
na_case_throttle_exactly_once() {
    local name=net_audit_throttle_exactly_once dir=$TMP/na_eo vdriver=${VDRIVER:-$BUILD_DIR/tests/tools/vhost_driver}
    local mac_a=52:54:00:00:0e:01 mac_b=52:54:00:00:0e:02 mac_c=52:54:00:00:0e:03 bad= i
    mkdir -p "$dir/state"
    printf 'limit udp new 1/3s per sponsor action throttle\n' >"$dir/rules"
    rm -f "$dir/stop" "$dir/ready"
    timeout -k 5 120 "$vdriver" --port "$dir/a.sock,$mac_a,10.66.0.1" --port "$dir/b.sock,$mac_b,10.66.0.2" \
        --port "$dir/c.sock,$mac_c,10.66.0.3" --send 0,1,0 --send 0,2,0 --stop-file "$dir/stop" --ready "$dir/ready" --timeout 60 >"$dir/drv" 2>&1 &
    local drv=$!
    wait_until 10 test -e "$dir/ready" || bad="driver not ready: $(tr '\n' '|' <"$dir/drv")"
    na_nb() {
        rm -f "$dir/state/pid"
        ASAN_OPTIONS=${ASAN_OPTIONS:-}:detect_leaks=0 "$NETBACK" --state-dir "$dir/state" --audit-rules "$dir/rules" \
            2>>"$dir/netback.log" &
        NB_PID=$!
        wait_until 10 test -s "$dir/state/pid"
    }
    [ -n "$bad" ] || na_nb || bad="backend did not start: $(tail -2 "$dir/netback.log" | tr '\n' '|')"
    if [ -z "$bad" ]; then
        nb_ctl "$dir/state" "port-add a socket=$dir/a.sock mac=$mac_a ip=10.66.0.1 domain=dom-a sponsor=carol"
        nb_ctl "$dir/state" "port-add b socket=$dir/b.sock mac=$mac_b ip=10.66.0.2 domain=dom-b sponsor=dave"
        nb_ctl "$dir/state" "port-add c socket=$dir/c.sock mac=$mac_c ip=10.66.0.3 domain=dom-c sponsor=dave"
        wait_until 10 grep -qs 'kind=rule action=throttle' "$dir/state/audit-events" || bad="no throttle event"
    fi
    for i in 1 2 3; do
        [ -z "$bad" ] || break
        kill -KILL $NB_PID
        wait $NB_PID 2>/dev/null
        na_nb || bad="restart $i failed"
        sleep 0.$((RANDOM % 5 + 3)) # a duration: the transfer goes on 300-700 ms between kills
    done
    sleep 0.5 # a duration: frames flow through the last backend too
    touch "$dir/stop"
    wait $drv
    local rc=$?
    nb_ctl "$dir/state" stats
    nb_stop
    if [ -n "$bad" ]; then
        fail $name "$bad"
    elif [ $rc -ne 0 ] || ! grep -q '^result ok' "$dir/drv" || ! grep -q '^connections p0=4 p1=4 p2=4 device_resets=0' "$dir/drv"; then
        fail $name "driver: $(tr '\n' '|' <"$dir/drv")"
    elif ! grep -q '^domain=dom-a sponsor=carol kind=rule action=throttle flow="proto 17 10.66.0.1:[0-9]* -> 10.66.0.[23]:' "$dir/state/audit-events"; then
        fail $name "events: $(tr '\n' '|' <"$dir/state/audit-events")"
    else
        pass $name
    fi
}

# Test kernels (guest/tests/net_tcp_syn.c) on xeno-vmm as the traffic generators: the backend
# with its tap uplink in a namespace where busybox httpd listens on 25 and 8080. Domain
# smtp-k (sponsor erin) tries 25, 25, 8080: the second SMTP SYN is dropped (no answer), the
# others are answered. Then domain scan-k (sponsor frank) sends SYNs to 8 closed ports: the
# first four RSTs make it a scanner, the later probes are held (throttled) and still answered.
na_case_kernels() {
    local name=net_audit_test_kernels dir=$TMP/na_k ns=xnbk$$ bad= p pids=()
    kvm_case $name || return
    if [ ! -x "$GUEST/net_tcp_syn.elf" ] || [ ! -x "$VMM" ]; then
        skip $name "build $VMM and $GUEST/net_tcp_syn.elf first (make programs guests)"
        return
    fi
    if ! ip netns add $ns 2>/dev/null; then
        skip $name "cannot create a network namespace"
        return
    fi
    mkdir -p "$dir/state" "$dir/www"
    echo hello >"$dir/www/hello.txt"
    printf 'limit tcp dport 25 new 1/10s per sponsor\n' >"$dir/rules"
    ASAN_OPTIONS=${ASAN_OPTIONS:-}:detect_leaks=0 ip netns exec $ns "$NETBACK" --state-dir "$dir/state" \
        --uplink-tap xnbk0 --audit-rules "$dir/rules" 2>"$dir/netback.log" &
    NB_PID=$!
    wait_until 10 test -s "$dir/state/pid" || bad="backend did not start: $(tail -2 "$dir/netback.log" | tr '\n' '|')"
    if [ -z "$bad" ]; then
        ip netns exec $ns ip addr add 10.98.0.1/24 dev xnbk0
        ip netns exec $ns ip link set xnbk0 up
        ip netns exec $ns ip link set lo up
        for p in 25 8080; do
            ip netns exec $ns timeout -k 2 200 busybox httpd -f -p $p -h "$dir/www" >/dev/null 2>&1 &
            pids+=($!)
        done
        nb_ctl "$dir/state" "port-add k1 socket=$dir/k1.sock mac=52:54:00:00:0f:01 ip=10.98.0.15 domain=smtp-k sponsor=erin"
        [[ $NB_REPLY == "ok id="* ]] || bad="port-add k1: $NB_REPLY"
        nb_ctl "$dir/state" "port-add k2 socket=$dir/k2.sock mac=52:54:00:00:0f:02 ip=10.98.0.16 domain=scan-k sponsor=frank"
        [[ $NB_REPLY == "ok id="* ]] || bad="port-add k2: $NB_REPLY"
    fi
    local rc1= rc2=
    if [ -z "$bad" ]; then
        timeout -k 5 120 "$VMM" --kernel "$GUEST/net_tcp_syn.elf" --memory 64M --net "socket=$dir/k1.sock,mac=52:54:00:00:0f:01" \
            --cmdline "ip=10.98.0.15 dst=10.98.0.1 ports=25,25,8080" </dev/null >"$dir/k1.log" 2>&1
        rc1=$?
        timeout -k 5 120 "$VMM" --kernel "$GUEST/net_tcp_syn.elf" --memory 64M --net "socket=$dir/k2.sock,mac=52:54:00:00:0f:02" \
            --cmdline "ip=10.98.0.16 dst=10.98.0.1 ports=2001,2002,2003,2004,2005,2006,2007,2008" </dev/null >"$dir/k2.log" 2>&1
        rc2=$?
    fi
    nb_ctl "$dir/state" stats
    local stats=$NB_REPLY
    nb_stop
    kill "${pids[@]}" 2>/dev/null
    wait "${pids[@]}" 2>/dev/null
    ip netns del $ns 2>/dev/null
    local ev=$dir/state/audit-events scan failed answered held
    scan=$(grep '^domain=scan-k sponsor=frank kind=scan action=throttle ' "$ev" 2>/dev/null | head -1)
    failed=$(sed -n 's/.*evidence="first contacts: \([0-9]*\) failed, \([0-9]*\) answered.*/\1/p' <<<"$scan")
    answered=$(sed -n 's/.*evidence="first contacts: \([0-9]*\) failed, \([0-9]*\) answered.*/\2/p' <<<"$scan")
    held=$(grep '^audit ' <<<"$stats" | tr ' ' '\n' | sed -n 's/^held=//p')
    if [ -n "$bad" ]; then
        fail $name "$bad"
    elif [ "$rc1" != 0 ] || [ "$(grep '^net_tcp_syn: port' "$dir/k1.log" | tr '\n' ' ')" != "net_tcp_syn: port 25: synack net_tcp_syn: port 25: none net_tcp_syn: port 8080: synack " ]; then
        fail $name "smtp-k (rc $rc1): $(grep -E '^net_tcp_syn|^Test result|FAIL' "$dir/k1.log" | tr '\n' '|')"
    elif [ "$(grep -c '^domain=smtp-k sponsor=erin kind=rule action=drop flow="proto 6 10.98.0.15:41001 -> 10.98.0.1:25"' "$ev")" != 1 ]; then
        fail $name "events: $(tr '\n' '|' <"$ev")"
    elif [ "$rc2" != 0 ] || [ "$(grep -c '^net_tcp_syn: port 200[1-8]: rst$' "$dir/k2.log")" != 8 ]; then
        fail $name "scan-k (rc $rc2): $(grep -E '^net_tcp_syn|^Test result|FAIL' "$dir/k2.log" | tr '\n' '|')"
    elif [ -z "$failed" ] || [ $((failed + answered)) -gt 6 ] || [ -z "$held" ] || [ "$held" -lt 1 ]; then
        fail $name "scan event '$scan', held '$held'"
    else
        pass $name
    fi
}

if [ ! -x "$NETBACK" ] || [ ! -x "$NA_CTL" ]; then
    skip net_audit "build $NETBACK and $NA_CTL first"
elif [ "$(id -u)" -ne 0 ]; then
    skip net_audit "needs root (network namespace, tap)"
else
    na_case_throttle_exactly_once
    na_case_kernels
    na_case
fi
