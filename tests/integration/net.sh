# Networking through xeno-netback (docs/netback.md) with the monitor's virtio-net over
# vhost-user (docs/machine.md): real monitors, real test kernels, the real backend.
#   net-ping-echo     two domains exchange numbered frames through the switch (the backend
#                     starts after the guests' drivers: their first frames wait in the rings)
#   net-udp-uplink    a domain reaches a UDP listener in a network namespace through the
#                     backend's tap uplink (ARP, then datagrams)
#   net-restart-*     kill -9 the backend 20 times during a net_seq transfer, starting it again
#                     each time with the same --state-dir: every frame arrives exactly once
#                     and in order, and neither guest resets its device
# Every process and namespace started here is ended here, with bounded waits.

NETBACK=${NETBACK:-$BUILD_DIR/bin/xeno-netback}
UDPSINK=${UDPSINK:-$BUILD_DIR/tests/tools/udp_sink}
NET_KILLS=${NET_KILLS:-20}
NET_SEQ_FRAMES=${NET_SEQ_FRAMES:-20000} # long enough for NET_KILLS kills, about 0.4 s each

# net_backend_start DIR [ARGS...]: xeno-netback on state directory DIR, in the background
# (NB_PID); waits for its control socket.
net_backend_start() {
    local dir=$1
    shift
    mkdir -p "$dir"
    rm -f "$dir/control.sock"
    # LeakSanitizer (build/san) clones a thread at exit, which the sandbox forbids (SIGSYS at
    # every stop): leaks are the unit tests' to find, as in netback.sh.
    ASAN_OPTIONS=${ASAN_OPTIONS:-}:detect_leaks=0 "$NETBACK" --state-dir "$dir" "$@" >>"$dir.log" 2>&1 &
    NB_PID=$!
    wait_until 10 test -S "$dir/control.sock"
}

# net_backend_stop: SIGTERM, then SIGKILL after 5 s.
net_backend_stop() {
    [ -n "${NB_PID:-}" ] || return 0
    kill "$NB_PID" 2>/dev/null
    wait_until 5 gone "$NB_PID" || kill -KILL "$NB_PID" 2>/dev/null
    wait "$NB_PID" 2>/dev/null
    NB_PID=
}

# net_ctl DIR REQUEST: one request on the backend's control socket; the reply's first line
# in NET_REPLY (the backend answers, then closes at the end of the request: lib.sh nb_ctl).
net_ctl() {
    NET_REPLY=$(printf '%s\n' "$2" | timeout 5 "$UNIXCAT" "$1/control.sock" 2>&1 | head -1)
}

# net_ctl_lines DIR REQUEST: the same for `stats`/`ports`, whose reply is several lines (joined by '|').
net_ctl_lines() {
    NET_REPLY=$(printf '%s\n' "$2" | timeout 5 "$UNIXCAT" "$1/control.sock" 2>&1 | tr '\n' '|')
}

# net_vmm NAME KERNEL MAC CMDLINE: a standalone monitor with one interface whose socket is
# $TMP/NAME.sock, output in $TMP/NAME.log; its pid in NET_VMM_PID.
net_vmm() {
    timeout -k 5 "${TIMEOUT:-300}" "$VMM" --kernel "$GUEST/$2.elf" --memory 64M \
        --net "socket=$TMP/$1.sock,mac=$3" --cmdline "$4" </dev/null >"$TMP/$1.log" 2>&1 &
    NET_VMM_PID=$!
}

net_handovers() { grep -c 'rings handed to the backend' "$TMP/$1.log" 2>/dev/null; } # NAME
net_handovers_at_least() { [ "$(net_handovers "$1")" -ge "$2" ]; }                    # NAME N

net_ready() {
    if [ ! -x "$NETBACK" ] || ! "$NETBACK" --help 2>&1 | grep -q -- --state-dir; then
        skip "$1" "xeno-netback is not built ($NETBACK)"
        return 1
    fi
    [ -x "$UNIXCAT" ] || { skip "$1" "tests/tools/unixcat is not built"; return 1; }
    kvm_case "$1"
}

# ---- two domains, one switch ---------------------------------------------------------------

if net_ready net-ping-echo; then
    # The guests first: their drivers start with no backend, and what they send waits in the
    # rings until one connects.
    net_vmm echo net_echo 52:54:00:00:00:02 "ip=10.0.0.12 idle=60"
    echo_pid=$NET_VMM_PID
    net_vmm ping net_ping 52:54:00:00:00:01 "ip=10.0.0.11 peer=52:54:00:00:00:02 peer_ip=10.0.0.12 count=50"
    ping_pid=$NET_VMM_PID
    wait_until 30 has "$TMP/ping.log" 'net_ping: 50 frames' || true
    D="$TMP/nb-pe"
    NB_PID=
    net_backend_start "$D"
    net_ctl "$D" "port-add echo socket=$TMP/echo.sock mac=52:54:00:00:00:02 ip=10.0.0.12"
    r1=$NET_REPLY
    net_ctl "$D" "port-add ping socket=$TMP/ping.sock mac=52:54:00:00:00:01 ip=10.0.0.11"
    r2=$NET_REPLY
    wait "$ping_pid"
    ping_rc=$?
    wait_until 30 gone "$echo_pid" || kill "$echo_pid" 2>/dev/null
    wait "$echo_pid"
    echo_rc=$?
    net_backend_stop
    if [ "${r1%% *}" != ok ] || [ "${r2%% *}" != ok ]; then
        fail net-ping-echo "port-add refused: '$r1' '$r2'"
    elif [ "$ping_rc" = 0 ] && [ "$echo_rc" = 0 ] && grep -q '^net_ping: 50/50 replies' "$TMP/ping.log" &&
        grep -q '^Test result: PASS' "$TMP/ping.log" && grep -q '^net_echo: echoed [0-9]* frames' "$TMP/echo.log" &&
        grep -q '^Test result: PASS' "$TMP/echo.log"; then
        pass net-ping-echo
        grep -h '^net_ping: 50/50\|^net_echo: echoed' "$TMP/ping.log" "$TMP/echo.log" | sed 's/^/   /'
    else
        fail net-ping-echo "ping rc $ping_rc, echo rc $echo_rc; ping: $(tail -c 400 "$TMP/ping.log" | tr '\n' '|') echo: $(tail -c 300 "$TMP/echo.log" | tr '\n' '|')"
    fi
fi

# ---- the tap uplink: a listener in a network namespace -------------------------------------

if net_ready net-udp-uplink; then
    ns=xenotest$$
    tap=xtap$$
    if [ ! -x "$UDPSINK" ]; then
        skip net-udp-uplink "tests/tools/udp_sink is not built"
    elif ! ip netns add "$ns" 2>/dev/null; then
        skip net-udp-uplink "cannot create a network namespace (ip netns add: needs root)"
    else
        D="$TMP/nb-udp"
        NB_PID=
        net_backend_start "$D" --uplink-tap "$tap"
        # The backend made the tap; its other end moves into the namespace with the listener.
        if wait_until 10 ip link show "$tap" >/dev/null 2>&1 && ip link set "$tap" netns "$ns" &&
            ip -n "$ns" addr add 10.0.0.1/24 dev "$tap" && ip -n "$ns" link set "$tap" up; then
            rm -f "$TMP/udp.ready"
            ip netns exec "$ns" "$UDPSINK" 5000 5 60000 "$TMP/udp.ready" >"$TMP/udp.out" 2>&1 &
            listen_pid=$!
            wait_until 10 test -e "$TMP/udp.ready"
            net_ctl "$D" "port-add udp socket=$TMP/udp.sock mac=52:54:00:00:00:05 ip=10.0.0.15"
            net_vmm udp net_udp 52:54:00:00:00:05 "ip=10.0.0.15 dst=10.0.0.1 port=5000 count=5"
            wait "$NET_VMM_PID"
            udp_rc=$?
            wait_until 10 gone "$listen_pid" || kill "$listen_pid" 2>/dev/null
            wait "$listen_pid"
            listen_rc=$?
            if [ "$udp_rc" = 0 ] && [ "$listen_rc" = 0 ] && grep -q '^Test result: PASS' "$TMP/udp.log" &&
                grep -q '^udp_sink received=5 duplicates=0 reordered=0' "$TMP/udp.out"; then
                pass net-udp-uplink
            else
                fail net-udp-uplink "guest rc $udp_rc, listener rc $listen_rc; guest: $(tail -c 300 "$TMP/udp.log" | tr '\n' '|') listener: $(tr '\n' '|' <"$TMP/udp.out")"
            fi
        else
            fail net-udp-uplink "the backend's tap $tap did not appear or could not be moved into $ns"
        fi
        net_backend_stop
        ip netns del "$ns" 2>/dev/null
    fi
fi

# ---- kill -9 the backend during a transfer -------------------------------------------------

if net_ready net-restart-exactly-once; then
    D="$TMP/nb-seq"
    NB_PID=
    net_backend_start "$D"
    # The receiver runs as under xenod: its socket is the run directory's net0.sock, its
    # console goes to console.log and its counters to the stats page.
    RD="$TMP/recv-rd"
    rm -rf "$RD"
    net_ctl "$D" "port-add recv socket=$RD/net0.sock mac=52:54:00:00:00:04 ip=10.0.0.14"
    net_ctl "$D" "port-add send socket=$TMP/send.sock mac=52:54:00:00:00:03 ip=10.0.0.13"
    timeout -k 5 "${TIMEOUT:-300}" "$VMM" --run-dir "$RD" --name recv --kernel "$GUEST/net_seq.elf" --memory 64M \
        --net mac=52:54:00:00:00:04 \
        --cmdline "role=recv ip=10.0.0.14 peer=52:54:00:00:00:03 peer_ip=10.0.0.13 count=$NET_SEQ_FRAMES idle=60" \
        </dev/null >"$TMP/recv.log" 2>&1 &
    recv_pid=$!
    net_vmm send net_seq 52:54:00:00:00:03 \
        "role=send ip=10.0.0.13 peer=52:54:00:00:00:04 peer_ip=10.0.0.14 count=$NET_SEQ_FRAMES"
    send_pid=$NET_VMM_PID
    kills=0
    lost=
    wait_until 30 net_handovers_at_least recv 1 && wait_until 30 net_handovers_at_least send 1 || lost=start
    while [ -z "$lost" ] && [ "$kills" -lt "$NET_KILLS" ] && ! has "$RD/console.log" 'Test result'; do
        sleep 0.3 # a duration: frames flow for a while between two kills
        kill -KILL "$NB_PID"
        wait "$NB_PID" 2>/dev/null
        kills=$((kills + 1))
        net_backend_start "$D"
        # Both monitors take the new backend: the ports file brought their ports back.
        # (A transfer that ended meanwhile has monitors that left: the count below says
        # whether enough kills fell inside it.)
        wait_until 20 net_handovers_at_least recv $((kills + 1)) &&
            wait_until 20 net_handovers_at_least send $((kills + 1)) ||
            has "$RD/console.log" 'Test result' || lost="restart $kills"
    done
    # The monitor's own count, while it runs: connections, hand-overs, driver resets (the
    # page is published every 100 ms).
    net_page_handovers() {
        "$STATSDUMP" "$RD/stats" >"$TMP/recv.stats" 2>&1 &&
            [ "$(sed -n 's/^net_backend_handovers=//p' "$TMP/recv.stats")" -ge $((kills + 1)) ]
    }
    wait_until 5 net_page_handovers || true
    wait_until 1200 has "$RD/console.log" 'Test result' || true
    wait_until 60 gone "$send_pid" || kill "$send_pid" 2>/dev/null
    wait_until 10 gone "$recv_pid" || kill "$recv_pid" 2>/dev/null
    wait "$recv_pid"
    recv_rc=$?
    wait "$send_pid"
    send_rc=$?
    net_ctl_lines "$D" stats
    nb_stats=$NET_REPLY
    net_backend_stop
    summary=$(grep -h '^net_seq: received\|^net_seq: sent' "$RD/console.log" "$TMP/send.log" | tr '\n' '|')
    if [ -n "$lost" ]; then
        fail net-restart-exactly-once "a monitor did not get the backend back ($lost); $summary backend log: $(tail -n 8 "$D.log" | tr '\n' '|')"
    elif [ "$kills" -lt "$NET_KILLS" ]; then
        fail net-restart-exactly-once "the transfer ended after $kills kills; raise NET_SEQ_FRAMES ($summary)"
    elif [ "$recv_rc" = 0 ] && grep -q "^net_seq: received $NET_SEQ_FRAMES of $NET_SEQ_FRAMES frames, 0 duplicates, 0 out of order" "$RD/console.log" &&
        grep -q '^Test result: PASS' "$RD/console.log"; then
        pass net-restart-exactly-once
        printf '   %s backend kills; %s\n' "$kills" "$summary"
    else
        fail net-restart-exactly-once "receiver rc $recv_rc after $kills kills: $(grep -h '^net_seq\|^FAIL' "$RD/console.log" "$TMP/send.log" | tr '\n' '|') backend: $nb_stats"
    fi
    if [ "$send_rc" = 0 ] && grep -q '^Test result: PASS' "$TMP/send.log"; then
        pass net-restart-sender
    else
        fail net-restart-sender "sender rc $send_rc: $(tail -c 400 "$TMP/send.log" | tr '\n' '|')"
    fi
    # The guests never saw the restarts: no driver reset, and each monitor handed the same
    # rings to every new backend (one hand-over per connection).
    # The receiver's stats page says the same, read while it ran.
    resets=$(cat "$TMP/recv.log" "$TMP/send.log" | grep -c 'the driver reset the device')
    page_resets=$(sed -n 's/^net_driver_resets=//p' "$TMP/recv.stats")
    page_handovers=$(sed -n 's/^net_backend_handovers=//p' "$TMP/recv.stats")
    if [ "$resets" = 0 ] && [ "$page_resets" = 0 ] && [ "${page_handovers:-0}" -ge $((kills + 1)) ] &&
        [ "$(net_handovers recv)" -ge $((kills + 1)) ] && [ "$(net_handovers send)" -ge $((kills + 1)) ]; then
        pass net-restart-no-device-reset
    else
        fail net-restart-no-device-reset "$resets driver resets in the logs, '$page_resets' on the stats page; hand-overs recv $(net_handovers recv) (page '$page_handovers'), send $(net_handovers send) for $kills kills"
    fi
fi
