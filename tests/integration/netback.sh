# xeno-netback (docs/netback.md) driven by tests/tools/vhost_driver, a vhost-user front end
# standing in for two monitors and their guests: switching with exactly-once delivery,
# anti-spoofing, the control socket and ports file, restarts after kill -9 with in-flight
# frames, the sandbox, and (with ip netns) the tap uplink.

NETBACK=${NETBACK:-$BUILD_DIR/bin/xeno-netback}
VDRIVER=${VDRIVER:-$BUILD_DIR/tests/tools/vhost_driver}
MAC_A=52:54:00:00:0a:01 IP_A=10.77.0.1
MAC_B=52:54:00:00:0a:02 IP_B=10.77.0.2
MAC_C=52:54:00:00:0a:03 IP_C=10.77.0.3

# nb_start DIR [ARGS...]: a backend on state directory DIR in the background (NB_PID);
# waits for its pid file.
nb_start() {
    local dir=$1
    shift
    rm -f "$dir/pid"
    # LeakSanitizer (build/san) cannot stop the world inside the sandbox (ptrace and /proc are
    # walled off): leaks are checked by the unit tests, not in the sandboxed process.
    ASAN_OPTIONS=${ASAN_OPTIONS:-}:detect_leaks=0 "$NETBACK" --state-dir "$dir" "$@" 2>>"$dir.log" &
    NB_PID=$!
    wait_until 10 test -s "$dir/pid"
}
# nb_stop and nb_ctl DIR REQUEST: tests/lib.sh.
# drv_start NAME ARGS...: the driver in the background (DRV_PID), output in $TMP/NAME.drv.
drv_start() {
    local name=$1
    shift
    timeout -k 5 120 "$VDRIVER" --port "$TMP/$name.a.sock,$MAC_A,$IP_A" --port "$TMP/$name.b.sock,$MAC_B,$IP_B" \
        --ready "$TMP/$name.ready" "$@" >"$TMP/$name.drv" 2>&1 &
    DRV_PID=$!
    wait_until 10 test -e "$TMP/$name.ready"
}
drv_wait() {
    wait "$DRV_PID"
    RC=$?
}
add_ports() { # NAME DIR
    nb_ctl "$2" "port-add a socket=$TMP/$1.a.sock mac=$MAC_A ip=$IP_A domain=dom-a sponsor=alice"
    local r1=$NB_REPLY
    nb_ctl "$2" "port-add b socket=$TMP/$1.b.sock mac=$MAC_B ip=$IP_B domain=dom-b sponsor=bob"
    [[ $r1 == "ok id="* && $NB_REPLY == "ok id="* ]]
}
stat_field() { # PORT FIELD: from the last NB_REPLY of `stats`
    grep "^port $1 " <<<"$NB_REPLY" | tr ' ' '\n' | sed -n "s/^$2=//p"
}

nb_case_switch() {
    local name=netback_switch dir=$TMP/netback_switch
    mkdir -p "$dir"
    drv_start $name --send 0,1,20000 --send 1,0,20000 --timeout 60
    nb_start "$dir" || { fail $name "no pid file: $(tail -3 "$dir.log")"; kill $DRV_PID; return; }
    add_ports $name "$dir" || { fail $name "port-add: $NB_REPLY"; nb_stop; kill $DRV_PID; return; }
    drv_wait
    nb_ctl "$dir" stats
    # The stats page: magic "NEBS", the backend's pid, a heartbeat (offset 32) that stands
    # still while the backend is idle (no wake-up at all: /proc/PID/schedstat's count of
    # times it ran stays put) and moves when xenod's watchdog asks (SIGUSR2).
    local magic pid hb1 hb2 hb3 runs1 runs2
    magic=$(od -An -tx4 -N4 "$dir/stats" | tr -d ' ')
    pid=$(od -An -tu4 -j12 -N4 "$dir/stats" | tr -d ' ')
    # Idle means no port either (a port whose front end is gone retries its connection on a
    # back-off: that is work, not idleness).
    local reply=$NB_REPLY
    nb_ctl "$dir" "port-del a"
    nb_ctl "$dir" "port-del b"
    NB_REPLY=$reply
    sleep 0.3 # the deletions are counted and written within 100 ms
    hb1=$(od -An -tu8 -j32 -N8 "$dir/stats" | tr -d ' ')
    runs1=$(awk '{print $3}' "/proc/$NB_PID/schedstat")
    sleep 1 # a duration: nothing may run in it
    runs2=$(awk '{print $3}' "/proc/$NB_PID/schedstat")
    hb2=$(od -An -tu8 -j32 -N8 "$dir/stats" | tr -d ' ')
    kill -USR2 "$NB_PID"
    wait_until 5 eval '[ "$(od -An -tu8 -j32 -N8 "$dir/stats" | tr -d " ")" -gt "$hb2" ]'
    hb3=$(od -An -tu8 -j32 -N8 "$dir/stats" | tr -d ' ')
    nb_stop
    if [ $RC -ne 0 ] || ! grep -q '^result ok' "$TMP/$name.drv"; then
        fail $name "driver: $(tr '\n' '|' <"$TMP/$name.drv")"
    elif [ "$(stat_field a tx_packets)" != 20000 ] || [ "$(stat_field b rx_packets)" != 20000 ] ||
        [ "$(stat_field b tx_packets)" != 20000 ]; then
        fail $name "counters: $NB_REPLY"
    elif [ "$magic" != 5342454e ] || [ "$pid" != "$NB_PID" ] || [ "$hb2" != "$hb1" ] || [ "$hb3" -le "$hb2" ] ||
        [ "$runs1" != "$runs2" ]; then
        fail $name "stats page: magic $magic pid $pid (backend $NB_PID) heartbeat idle $hb1 then $hb2, asked $hb3; runs idle $runs1 then $runs2"
    else
        pass $name
    fi
}

nb_case_ports_file() {
    local name=netback_ports_file dir=$TMP/netback_ports_file
    mkdir -p "$dir"
    drv_start $name --send 0,1,1000 --timeout 30
    nb_start "$dir" || { fail $name "no pid file"; kill $DRV_PID; return; }
    add_ports $name "$dir" || { fail $name "port-add: $NB_REPLY"; nb_stop; kill $DRV_PID; return; }
    nb_ctl "$dir" "port-add c socket=$TMP/$name.c.sock mac=$MAC_A"
    local dup=$NB_REPLY
    nb_ctl "$dir" "port-add d socket=$TMP/$name.d.sock mac=52:54:00:zz:00:01"
    local badmac=$NB_REPLY
    nb_ctl "$dir" "port-qos a out-average=1000 weight=3"
    local qos=$NB_REPLY
    # A backend killed with -9 knows its ports when started again, and reconnects by itself.
    kill -KILL $NB_PID
    wait $NB_PID 2>/dev/null
    nb_start "$dir" || { fail $name "no pid file after the restart"; kill $DRV_PID; return; }
    drv_wait
    nb_ctl "$dir" ports
    local ports=$NB_REPLY
    nb_stop
    if [[ $dup != err* || $badmac != err* || $qos != ok ]]; then
        fail $name "duplicate MAC: '$dup'; bad MAC: '$badmac'; port-qos: '$qos'"
    elif ! grep -q '^ok ports=2' <<<"$ports" || ! grep -q "^port a id=1 socket=$TMP/$name.a.sock mac=$MAC_A ip=$IP_A domain=dom-a sponsor=alice out-average=1000 weight=3" <<<"$ports"; then
        fail $name "ports after the restart: $(tr '\n' '|' <<<"$ports")"
    elif [ $RC -ne 0 ]; then
        fail $name "driver: $(tr '\n' '|' <"$TMP/$name.drv")"
    else
        pass $name
    fi
}

# A port whose monitor is not there yet: the backend keeps retrying (bounded backoff, at
# most 1 s between tries) and serves it as soon as its socket appears.
nb_case_reconnect_later() {
    local name=netback_reconnect_later dir=$TMP/netback_reconnect_later
    mkdir -p "$dir"
    nb_start "$dir" || { fail $name "no pid file"; return; }
    add_ports $name "$dir" || { fail $name "port-add: $NB_REPLY"; nb_stop; return; }
    sleep 2 # a duration: the backend retries for a while before the sockets appear
    local t0=$SECONDS
    drv_start $name --send 0,1,1000 --send 1,0,1000 --timeout 20
    drv_wait
    local took=$((SECONDS - t0))
    nb_ctl "$dir" stats
    nb_stop
    if [ $RC -ne 0 ]; then
        fail $name "driver: $(tr '\n' '|' <"$TMP/$name.drv")"
    elif [ $took -gt 10 ]; then
        fail $name "took $took s to connect and move 2000 frames"
    elif [ "$(stat_field a connects)" != 1 ] || [ "$(stat_field b connects)" != 1 ]; then
        fail $name "connects: $NB_REPLY"
    else
        pass $name
    fi
}

# The restart test of issue 8: kill -9 the backend 20 times while numbered frames flow both
# ways; every frame must arrive exactly once and in order, and the "guests" (the driver's
# rings) are never reset: the backend resumes them through the inflight regions.
nb_case_kill9() {
    local name=netback_kill9_exactly_once dir=$TMP/netback_kill9
    mkdir -p "$dir"
    rm -f "$TMP/$name.stop"
    drv_start $name --send 0,1,0 --send 1,0,0 --stop-file "$TMP/$name.stop" --timeout 100
    nb_start "$dir" || { fail $name "no pid file"; kill $DRV_PID; return; }
    add_ports $name "$dir" || { fail $name "port-add: $NB_REPLY"; nb_stop; kill $DRV_PID; return; }
    local i kills=0
    for i in $(seq 20); do
        sleep "0.$((RANDOM % 20 + 5))" # a duration: frames flow 50-240 ms between kills
        gone $DRV_PID && break
        kill -KILL $NB_PID
        wait $NB_PID 2>/dev/null
        kills=$((kills + 1))
        nb_start "$dir" || break
    done
    sleep 0.3 # a duration: frames flow through the last backend too
    touch "$TMP/$name.stop"
    drv_wait
    nb_stop
    local conns
    conns=$(sed -n 's/^connections //p' "$TMP/$name.drv")
    if [ $RC -ne 0 ] || ! grep -q '^result ok' "$TMP/$name.drv"; then
        fail $name "after $kills kills: $(tr '\n' '|' <"$TMP/$name.drv")"
    elif [ $kills -lt 20 ] || [[ $conns != "p0=21 p1=21 device_resets=0" ]]; then
        fail $name "only $kills kills during the transfer, or reconnects missing ($conns): make the transfer longer"
    else
        pass "$name ($(grep -c 'resolving the frame' "$dir.log") in-flight frames resolved)"
    fi
}

# Every kill point of the delivery protocol, deterministically (--test-crash-at P:N ends the
# backend the Nth time it reaches point P: docs/netback.md): points 2-4 leave a live commit
# that the next backend must resolve (resend at 2, "already delivered" at 3 and 4).
nb_case_kill_points() {
    local name=netback_kill_points dir=$TMP/netback_kill_points
    mkdir -p "$dir"
    rm -f "$TMP/$name.stop"
    drv_start $name --send 0,1,0 --send 1,0,0 --stop-file "$TMP/$name.stop" --timeout 60
    nb_start "$dir" --test-crash-at 1:5000 || { fail $name "no pid file"; kill $DRV_PID; return; }
    add_ports $name "$dir" || { fail $name "port-add: $NB_REPLY"; nb_stop; kill $DRV_PID; return; }
    local p st bad=
    for p in 1 2 3 4 5; do
        wait_until 20 gone $NB_PID || { bad="point $p never reached"; break; }
        wait $NB_PID
        st=$?
        [ $st -eq 137 ] || { bad="point $p: exit status $st"; break; }
        if [ $p -lt 5 ]; then
            nb_start "$dir" --test-crash-at $((p + 1)):$((RANDOM % 5000 + 1000)) || { bad="restart $p"; break; }
        else
            nb_start "$dir" || { bad="restart $p"; break; }
        fi
    done
    sleep 0.3 # a duration: frames flow through the last backend too
    touch "$TMP/$name.stop"
    drv_wait
    nb_stop
    local resent skipped
    resent=$(grep -c 'resolved: resent to 1, already delivered to 0' "$dir.log")
    skipped=$(grep -c 'resolved: resent to 0, already delivered to 1' "$dir.log")
    if [ -n "$bad" ]; then
        fail $name "$bad; $(tail -3 "$dir.log" | tr '\n' '|')"
    elif [ $RC -ne 0 ] || ! grep -q '^result ok' "$TMP/$name.drv"; then
        fail $name "$(tr '\n' '|' <"$TMP/$name.drv")"
    elif [ "$resent" != 1 ] || [ "$skipped" != 2 ]; then
        fail $name "recoveries: $resent resent (expected 1), $skipped already delivered (expected 2)"
    else
        pass $name
    fi
}

# The same with a broadcast flow to two receivers, so that kill point 3 falls between the
# two copies: the next backend must resend to one destination only.
nb_case_kill_points_broadcast() {
    local name=netback_kill_points_broadcast dir=$TMP/netback_kill_points_broadcast
    mkdir -p "$dir"
    rm -f "$TMP/$name.stop" "$TMP/$name.ready"
    timeout -k 5 120 "$VDRIVER" --port "$TMP/$name.a.sock,$MAC_A,$IP_A" --port "$TMP/$name.b.sock,$MAC_B,$IP_B" \
        --port "$TMP/$name.c.sock,$MAC_C,$IP_C" --send 0,bcast,0 --stop-file "$TMP/$name.stop" \
        --ready "$TMP/$name.ready" --timeout 60 >"$TMP/$name.drv" 2>&1 &
    DRV_PID=$!
    wait_until 10 test -e "$TMP/$name.ready"
    # Point 3 is reached twice per frame (once per receiver): an odd count stops between them.
    local points=(2:3001 3:4001 4:2001) bad= i st
    nb_start "$dir" --test-crash-at ${points[0]} || { fail $name "no pid file"; kill $DRV_PID; return; }
    add_ports $name "$dir" || bad="port-add: $NB_REPLY"
    nb_ctl "$dir" "port-add c socket=$TMP/$name.c.sock mac=$MAC_C ip=$IP_C"
    [[ $NB_REPLY == "ok id="* ]] || bad="port-add c: $NB_REPLY"
    for i in 1 2 3; do
        [ -z "$bad" ] || break
        if ! wait_until 30 gone $NB_PID; then
            nb_ctl "$dir" stats
            bad="point ${points[$((i - 1))]} never reached; driver: $(tr '\n' '|' <"$TMP/$name.drv"); stats: $(tr '\n' '|' <<<"$NB_REPLY")"
            break
        fi
        wait $NB_PID
        st=$?
        [ $st -eq 137 ] || { bad="point ${points[$((i - 1))]}: exit status $st"; break; }
        if [ $i -lt 3 ]; then
            nb_start "$dir" --test-crash-at ${points[$i]} || bad="restart $i"
        else
            nb_start "$dir" || bad="restart $i"
        fi
    done
    sleep 0.3 # a duration: frames flow through the last backend too
    touch "$TMP/$name.stop"
    drv_wait
    nb_stop
    if [ -n "$bad" ]; then
        fail $name "$bad; $(tail -3 "$dir.log" | tr '\n' '|')"
    elif [ $RC -ne 0 ] || ! grep -q '^result ok' "$TMP/$name.drv"; then
        fail $name "$(tr '\n' '|' <"$TMP/$name.drv")"
    elif ! grep -q 'resolved: resent to 2, already delivered to 0' "$dir.log" ||
        ! grep -q 'resolved: resent to 1, already delivered to 1' "$dir.log" ||
        ! grep -q 'resolved: resent to 0, already delivered to 2' "$dir.log"; then
        fail $name "recoveries: $(grep resolved "$dir.log" | tr '\n' '|')"
    else
        pass $name
    fi
}

nb_case_antispoof() {
    local name=netback_antispoof dir=$TMP/netback_antispoof
    mkdir -p "$dir"
    drv_start $name --send 0,1,50 --spoof mac --send 0,1,70 --spoof ip --send 1,0,30 --duration 1.5 --timeout 30
    nb_start "$dir" || { fail $name "no pid file"; kill $DRV_PID; return; }
    add_ports $name "$dir" || { fail $name "port-add: $NB_REPLY"; nb_stop; kill $DRV_PID; return; }
    drv_wait
    nb_ctl "$dir" stats
    nb_stop
    if ! grep -q '^flow 0->1 .* received=0 ' "$TMP/$name.drv" || [ "$(grep -c '^flow 0->1 .* received=0 ' "$TMP/$name.drv")" != 2 ] ||
        ! grep -q '^flow 1->0 sent=30 received=30 ' "$TMP/$name.drv"; then
        fail $name "driver: $(tr '\n' '|' <"$TMP/$name.drv")"
    elif [ "$(stat_field a tx_drop_src-mac)" != 50 ] || [ "$(stat_field a tx_drop_ipv4-src)" != 70 ] ||
        [ "$(stat_field a rx_packets)" != 30 ]; then
        fail $name "drop counters: $NB_REPLY"
    else
        pass $name
    fi
}

nb_case_sandbox() {
    local name=netback_sandbox dir=$TMP/netback_sandbox
    mkdir -p "$dir"
    nb_start "$dir" || { fail $name "no pid file: $(tail -3 "$dir.log")"; return; }
    local st
    st=$(cat /proc/$NB_PID/status)
    nb_stop
    if ! grep -q '^Seccomp:[[:space:]]*2' <<<"$st" || ! grep -q '^NoNewPrivs:[[:space:]]*1' <<<"$st" ||
        ! grep -q '^CapEff:[[:space:]]*0000000000000000' <<<"$st" || ! grep -q '^CapBnd:[[:space:]]*0000000000000000' <<<"$st"; then
        fail $name "status: $(grep -E 'Seccomp|NoNewPrivs|Cap' <<<"$st" | tr '\n' '|')"
        return
    fi
    # A syscall off the allow-list (socket(AF_INET)) kills the process with SIGSYS.
    ASAN_OPTIONS=${ASAN_OPTIONS:-}:detect_leaks=0 timeout 10 "$NETBACK" --state-dir "$dir" --test-forbidden-syscall \
        2>"$dir.forbidden.log"
    RC=$?
    if [ $RC -ne $((128 + 31)) ]; then
        fail $name "the forbidden syscall: exit status $RC, expected 159 (SIGSYS); $(tail -2 "$dir.forbidden.log" | tr '\n' '|')"
    else
        pass $name
    fi
}

# A guest that posts a buffer outside its memory breaks its own transmit ring, and only that:
# its receive ring and the other port go on, and the error is counted.
nb_case_bad_descriptor() {
    local name=netback_bad_descriptor dir=$TMP/netback_bad_descriptor
    mkdir -p "$dir"
    drv_start $name --break-tx 0 --send 0,1,100 --send 1,0,5000 --duration 1.5 --timeout 30
    nb_start "$dir" || { fail $name "no pid file"; kill $DRV_PID; return; }
    add_ports $name "$dir" || { fail $name "port-add: $NB_REPLY"; nb_stop; kill $DRV_PID; return; }
    drv_wait
    nb_ctl "$dir" stats
    nb_stop
    if ! grep -q '^flow 0->1 .* received=0 ' "$TMP/$name.drv" || ! grep -q '^flow 1->0 sent=5000 received=5000 ' "$TMP/$name.drv"; then
        fail $name "driver: $(tr '\n' '|' <"$TMP/$name.drv")"
    elif [ "$(stat_field a ring_errors)" != 1 ] || [ "$(stat_field b ring_errors)" != 0 ] ||
        [ "$(stat_field a rx_packets)" != 5000 ] || ! grep -q 'transmit queue broken by the guest: descriptor .* outside guest memory' "$dir.log"; then
        fail $name "counters: $NB_REPLY; log: $(grep -c broken "$dir.log") lines"
    else
        pass $name
    fi
}

# Hostile front ends (tests/tools/vhost_attack, issue 14): memory the front end could shrink
# under the backend's mapping is refused (the backend, shared by every domain, would die of
# SIGBUS), a message dribbled a byte a second is dropped within the whole-message deadline,
# and a front end that keeps breaking the protocol is quarantined (back-off, not a reconnect
# every 20 ms). Each attack has a port of its own; the backend must stay alive throughout.
nb_case_hostile_front_ends() {
    local name=netback_hostile dir=$TMP/netback_hostile m
    local attack=${VATTACK:-$BUILD_DIR/tests/tools/vhost_attack}
    mkdir -p "$dir"
    nb_start "$dir" || { fail $name "no pid file"; return; }
    local -a pids=()
    for m in unsealed shrink shrink_sealed dribble garbage; do
        local mode=${m%_sealed} extra=
        [ "$m" = shrink_sealed ] && extra=--seal
        rm -f "$TMP/$name.$m.ready"
        timeout -k 5 60 "$attack" --socket "$TMP/$name.$m.sock" --mode $mode $extra --seconds 6 \
            --ready "$TMP/$name.$m.ready" >"$TMP/$name.$m.out" 2>&1 &
        pids+=($!)
        wait_until 10 test -e "$TMP/$name.$m.ready"
    done
    local i=1
    for m in unsealed shrink shrink_sealed dribble garbage; do
        nb_ctl "$dir" "port-add $m socket=$TMP/$name.$m.sock mac=52:54:00:00:0b:0$i"
        i=$((i + 1))
    done
    wait "${pids[@]}"
    nb_ctl "$dir" stats
    local stats=$NB_REPLY
    nb_ctl "$dir" status
    local status=$NB_REPLY alive=0
    kill -0 "$NB_PID" 2>/dev/null && alive=1
    local dribble_ms
    dribble_ms=$(sed -n 's/^dribble .*dropped_after_ms=\(-*[0-9]*\)$/\1/p' "$TMP/$name.dribble.out")
    check_context() { echo " (attacks: $(cat "$TMP/$name".*.out | tr '\n' '|'); log: $(log_tail "$dir.log"))"; }
    check netback_unsealed_memfd_refused '[ $alive = 1 ] && grep -q "^unsealed mem_table=refused dropped=1$" "$TMP/$name.unsealed.out" &&
        grep -q "port unsealed: .*not sealed against shrinking" "$dir.log"'
    check netback_shrunk_memfd_no_sigbus '[ $alive = 1 ] && grep -q "^shrink sealed=0 mem_table=refused ftruncate=ok rings=refused$" "$TMP/$name.shrink.out"'
    check netback_sealed_memfd_cannot_shrink '[ $alive = 1 ] && grep -q "^shrink sealed=1 mem_table=accepted ftruncate=EPERM rings=ok$" "$TMP/$name.shrink_sealed.out"'
    check netback_dribble_whole_message_deadline '[ $alive = 1 ] && [ -n "$dribble_ms" ] && [ "$dribble_ms" -ge 0 ] && [ "$dribble_ms" -le 4000 ]' \
        "dribbled message dropped after '$dribble_ms' ms (deadline 2000 ms)"
    local conns
    conns=$(sed -n 's/^garbage connections=//p' "$TMP/$name.garbage.out")
    check netback_quarantine '[ $alive = 1 ] && [ -n "$conns" ] && [ "$conns" -le 4 ] && grep -Eq "^port garbage .* quarantined=1( |$)" <<<"$stats" &&
        [[ $status == *" quarantined="[1-9]* ]] && grep -q "port garbage: front end at .* quarantined for" "$dir.log"' \
        "garbage front end got $conns connections in 6 s; stats: $(grep '^port garbage' <<<"$stats"); status: $status"
    check_context() { :; }
    nb_stop
}

nb_case_control_errors() {
    local name=netback_control_errors dir=$TMP/netback_control_errors
    mkdir -p "$dir"
    nb_start "$dir" || { fail $name "no pid file"; return; }
    nb_ctl "$dir" "frobnicate"
    local r1=$NB_REPLY
    nb_ctl "$dir" "port-add x socket=relative.sock mac=$MAC_A"
    local r2=$NB_REPLY
    nb_ctl "$dir" "port-add x socket=/tmp/x.sock mac=$MAC_A weight=0"
    local r3=$NB_REPLY
    nb_ctl "$dir" "port-del nosuch"
    local r4=$NB_REPLY
    nb_ctl "$dir" "status"
    local r5=$NB_REPLY
    nb_stop
    if [[ $r1 != "err unknown request 'frobnicate'"* || $r2 != "err port-add: socket=relative.sock: an absolute path"* ||
        $r3 != "err port-add: weight=0"* || $r4 != "err port-del: no port nosuch"* || $r5 != "ok pid=$NB_PID ports=0 connected=0 uplink=none cpu_us="* ]]; then
        fail $name "replies: '$r1' '$r2' '$r3' '$r4' '$r5'"
    else
        pass $name
    fi
}

# A domain reaches a listener in a host network namespace through the tap uplink: the
# backend runs in a private namespace with --uplink-tap, the tap gets an address there, and
# tests/tools/udp_sink counts the numbered datagrams the driver's port a sends to it.
nb_case_uplink() {
    local name=netback_uplink_tap dir=$TMP/netback_uplink ns=xnbtest$$
    local sink=${UDPSINK:-$BUILD_DIR/tests/tools/udp_sink}
    if ! command -v ip >/dev/null || ! ip netns add $ns 2>/dev/null; then
        skip $name "no ip netns here (iproute2, root)"
        return
    fi
    mkdir -p "$dir"
    rm -f "$dir/pid"
    ASAN_OPTIONS=${ASAN_OPTIONS:-}:detect_leaks=0 ip netns exec $ns "$NETBACK" --state-dir "$dir" --uplink-tap xnbtap0 \
        2>>"$dir.log" &
    NB_PID=$!
    local mac bad=
    if ! wait_until 10 test -s "$dir/pid"; then
        bad="no pid file: $(tail -2 "$dir.log" | tr '\n' '|')"
    else
        ip netns exec $ns ip addr add 10.77.0.254/24 dev xnbtap0 &&
            ip netns exec $ns ip link set xnbtap0 up && ip netns exec $ns ip link set lo up || bad="tap setup failed"
        mac=$(ip netns exec $ns cat /sys/class/net/xnbtap0/address)
    fi
    if [ -z "$bad" ]; then
        rm -f "$TMP/$name.sink.ready"
        ip netns exec $ns timeout 30 "$sink" 9999 2000 3000 "$TMP/$name.sink.ready" >"$TMP/$name.sink" 2>&1 &
        local sink_pid=$!
        wait_until 10 test -e "$TMP/$name.sink.ready"
        drv_start $name --send 0,uplink,2000 --uplink-mac "$mac" --uplink-ip 10.77.0.254 --udp-port 9999 --timeout 30
        add_ports $name "$dir" || bad="port-add: $NB_REPLY"
        drv_wait
        wait $sink_pid
        local sink_rc=$?
        nb_ctl "$dir" stats
        [ -n "$bad" ] || [ $RC -eq 0 ] || bad="driver: $(tr '\n' '|' <"$TMP/$name.drv")"
        [ -n "$bad" ] || [ $sink_rc -eq 0 ] || bad="listener: $(cat "$TMP/$name.sink") (uplink: $(grep '^uplink' <<<"$NB_REPLY"))"
    fi
    nb_stop
    ip netns del $ns 2>/dev/null
    if [ -n "$bad" ]; then
        fail $name "$bad"
    else
        pass $name
    fi
}

if [ ! -x "$NETBACK" ] || [ ! -x "$VDRIVER" ]; then
    skip netback "build $NETBACK and $VDRIVER first (make programs unit-tests)"
else
    nb_case_switch
    nb_case_ports_file
    nb_case_reconnect_later
    nb_case_antispoof
    nb_case_bad_descriptor
    nb_case_hostile_front_ends
    nb_case_control_errors
    nb_case_sandbox
    nb_case_kill_points
    nb_case_kill_points_broadcast
    nb_case_uplink
    nb_case_kill9
fi
