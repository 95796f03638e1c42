# Shared by tests/integration/fleet.sh and fleet_move.sh (sourced after lib.sh): a fleet's
# network and etcd over TLS (docs/fleet.md "etcd over TLS").
#
# The network: a hub namespace ${FN}e holds a bridge (10.79.0.1/24) and the etcd cluster; each
# host i gets a namespace ${FN}i joined to the bridge by a veth pair (10.79.0.1i/24), where its
# xenod and the monitors it starts run. Every address and port is inside namespaces the file
# made (names carry the runner's pid), so a run beside this one cannot clash; fn_net_down
# deletes them all (the bridge and veths go with their namespaces). etcd: 1 or 3 members on
# the hub's loopback (peers) that serve clients over HTTPS with client-certificate
# authentication on 127.0.0.1 and 10.79.0.1; certificates are made here by openssl.
#
# The caller sets FN (a prefix: a few letters and $$, at most 10 characters: interface names
# are ${FN}v1 ...) and FN_DIR (its temporary directory).

FN_SUBNET=10.79.0
FN_HUB_IP=$FN_SUBNET.1
FN_NS=() # the namespaces made so far (fn_net_down deletes them)
declare -A FN_ETCD_PID=()

fn_host_ip() { echo "$FN_SUBNET.1$1"; } # N: host N's address
fn_ns() { echo "${FN}$1"; }             # N (or e: the hub): the namespace's name

# fn_net_up HOSTS: the hub and HOSTS host namespaces. 0, or 1 with the failing step on stderr.
fn_net_up() {
    local i hub=${FN}e
    ip netns add "$hub" && FN_NS+=("$hub") || return 1
    ip -n "$hub" link set lo up &&
        ip -n "$hub" link add "${FN}br" type bridge &&
        ip -n "$hub" addr add "$FN_HUB_IP/24" dev "${FN}br" &&
        ip -n "$hub" link set "${FN}br" up || return 1
    for i in $(seq 1 "$1"); do
        ip netns add "${FN}$i" && FN_NS+=("${FN}$i") || return 1
        ip link add "${FN}v$i" netns "$hub" type veth peer name eth0 netns "${FN}$i" &&
            ip -n "$hub" link set "${FN}v$i" master "${FN}br" up &&
            ip -n "${FN}$i" link set lo up &&
            ip -n "${FN}$i" addr add "$(fn_host_ip "$i")/24" dev eth0 &&
            ip -n "${FN}$i" link set eth0 up || return 1
    done
}

fn_net_down() {
    local ns
    for ns in "${FN_NS[@]}"; do ip netns del "$ns" 2>/dev/null; done
    FN_NS=()
}

# fn_certs: a CA, etcd's server certificate (127.0.0.1 and the hub's address) and a client
# certificate, under $FN_DIR/tls; and another CA (other-ca.pem) that signed none of them. 0 or 1.
fn_certs() {
    local d=$FN_DIR/tls
    mkdir -p "$d" && chmod 700 "$d"
    {
        openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj /CN=fleet-test-ca \
            -keyout "$d/ca.key" -out "$d/ca.pem" &&
            openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj /CN=etcd \
                -keyout "$d/etcd.key" -out "$d/etcd.csr" &&
            printf 'subjectAltName=IP:127.0.0.1,IP:%s\nextendedKeyUsage=serverAuth,clientAuth\n' "$FN_HUB_IP" >"$d/etcd.ext" &&
            openssl x509 -req -in "$d/etcd.csr" -CA "$d/ca.pem" -CAkey "$d/ca.key" -CAcreateserial -days 2 \
                -extfile "$d/etcd.ext" -out "$d/etcd.pem" &&
            openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj /CN=xeno-host \
                -keyout "$d/client.key" -out "$d/client.csr" &&
            printf 'extendedKeyUsage=clientAuth\n' >"$d/client.ext" &&
            openssl x509 -req -in "$d/client.csr" -CA "$d/ca.pem" -CAkey "$d/ca.key" -CAcreateserial -days 2 \
                -extfile "$d/client.ext" -out "$d/client.pem" &&
            openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj /CN=other-ca \
                -keyout "$d/other-ca.key" -out "$d/other-ca.pem"
    } >"$d/openssl.log" 2>&1
}
# What xenod and xenctl take to reach etcd over TLS.
fn_tls_opts() { echo "--etcd-ca $FN_DIR/tls/ca.pem --etcd-cert $FN_DIR/tls/client.pem --etcd-key $FN_DIR/tls/client.key"; }

# fn_etcd_start N MEMBERS: member eN of a cluster of MEMBERS, in the hub: clients on port
# 23790+2N (HTTPS), peers on 23791+2N of the hub's loopback.
fn_client_port() { echo $((23790 + 2 * $1)); }
fn_peer_port() { echo $((23791 + 2 * $1)); }
fn_etcd_urls() { # MEMBERS: the client URLs the hosts and placers use
    local n urls=''
    for n in $(seq 1 "$1"); do urls+=${urls:+,}https://$FN_HUB_IP:$(fn_client_port "$n"); done
    echo "$urls"
}
fn_etcd_start() {
    local n=$1 m cluster='' c p d=$FN_DIR/tls
    c=$(fn_client_port "$n") p=$(fn_peer_port "$n")
    for m in $(seq 1 "$2"); do cluster+=${cluster:+,}e$m=http://127.0.0.1:$(fn_peer_port "$m"); done
    ip netns exec "${FN}e" etcd --name "e$n" --data-dir "$FN_DIR/etcd$n" \
        --listen-client-urls "https://127.0.0.1:$c,https://$FN_HUB_IP:$c" --advertise-client-urls "https://$FN_HUB_IP:$c" \
        --cert-file "$d/etcd.pem" --key-file "$d/etcd.key" --client-cert-auth --trusted-ca-file "$d/ca.pem" \
        --listen-peer-urls "http://127.0.0.1:$p" --initial-advertise-peer-urls "http://127.0.0.1:$p" \
        --initial-cluster "$cluster" --initial-cluster-state new --initial-cluster-token "xeno-fleet-$$" \
        >>"$FN_DIR/etcd$n.log" 2>&1 &
    FN_ETCD_PID[$n]=$!
}
fn_etcd_stop() { # N
    [ -z "${FN_ETCD_PID[$1]:-}" ] || { kill "${FN_ETCD_PID[$1]}" 2>/dev/null; wait "${FN_ETCD_PID[$1]}" 2>/dev/null; }
    FN_ETCD_PID[$1]=
}
fn_etcd_stop_all() {
    local n
    for n in "${!FN_ETCD_PID[@]}"; do fn_etcd_stop "$n"; done
}
# fn_etcd_healthy MEMBERS: every member answers over TLS with the client certificate.
fn_etcd_healthy() {
    local d=$FN_DIR/tls
    ETCDCTL_API=3 timeout 5 ip netns exec "${FN}e" etcdctl --endpoints "$(fn_etcd_urls "$1")" \
        --cacert "$d/ca.pem" --cert "$d/client.pem" --key "$d/client.key" endpoint health >/dev/null 2>&1
}
