# Networking through xenod (docs/netback.md, docs/network.md): domains with an <interface>
# get their port on the host's xeno-netback, which xenod starts, supervises and restarts.
#   xnet-ping-echo        net_ping and net_echo, created with xenctl, exchange numbered frames
#   xnet-counters         xenctl info shows the port's counters; they are stored as usage samples
#   xnet-restart-on-kill  kill -9 the backend: xenod starts a new one (event), traffic goes on
#   xnet-watchdog         a backend that stops (SIGSTOP: no heartbeat) is killed and replaced
#   xnet-qos-*            xenctl net-qos changes the port's QoS live; bad values are refused
#   xnet-source-path-*    an <interface><source path> other than xenod's own choice (here
#                         xenod's API socket) is refused at define; xenod still answers
#   xnet-control-char-*   a path with a newline (a second request to the backend) is refused
#                         by the parser and never reaches the backend
# Every process started here is ended here, with bounded waits.

XN=$TMP/xn
XN_XENOD=$BUILD_DIR/bin/xenod
XN_CTL=$BUILD_DIR/bin/xenctl
xn() { XENOD_SOCKET=$XN/x.sock timeout -k 5 60 "$XN_CTL" "$@"; }
xn_nb_pid() { cat "$XN/state/netback/pid" 2>/dev/null; }
xn_event_count() { xn --json events --limit 1000 | jq "[.events[] | select(.kind==\"$1\")] | length"; }
xn_events_at_least() { [ "$(xn_event_count "$1")" -ge "$2" ] 2>/dev/null; }

# Socket paths and line protocols (docs/security.md): no KVM needed, nothing is started.
XS=$TMP/xs
xs() { XENOD_SOCKET=$XS/x.sock timeout -k 5 60 "$XN_CTL" "$@"; }
mkdir -p "$XS"
"$XN_XENOD" --state-dir "$XS/state" --socket "$XS/x.sock" >"$XS/xenod.log" 2>&1 &
XS_PID=$!
if ! wait_until 100 curl -sf --unix-socket "$XS/x.sock" http://x/v1/host -o /dev/null; then
    fail xnet-source-path-xenod "xenod did not start: $(tail -3 "$XS/xenod.log")"
else
    : >"$XS/k.elf" # the parser only checks that the kernel exists; nothing boots here
    # xs_xml NAME SOURCE_ATTRS: a domain with an interface whose <source> has SOURCE_ATTRS
    # (a & in SOURCE_ATTRS written \&: it goes through sed).
    xs_xml() {
        sed -e "s|<kernel>.*</kernel>|<kernel>$XS/k.elf</kernel>|" -e "s|<name>net_echo</name>|<name>$1</name>|" \
            -e "s|<model type=\"virtio\"/>|<model type=\"virtio\"/><source type=\"unix\" $2/>|" \
            examples/net_echo.xml >"$XS/$1.xml"
    }
    sock_ino=$(stat -c %i "$XS/x.sock")
    xs_xml takeover "path=\"$XS/x.sock\" mode=\"server\""
    out=$(xs create "$XS/takeover.xml" 2>&1)
    rc=$?
    check xnet-source-path-refused '[ $rc != 0 ] && grep -q "is not allowed: xenod puts the vhost-user socket in the domain.s own run directory" <<<"$out" && ! xs --json list | grep -q takeover' "exit $rc: $out"
    check xnet-api-still-answers '[ "$(stat -c %i "$XS/x.sock")" = "$sock_ino" ] && curl -sf --unix-socket "$XS/x.sock" http://x/v1/host -o /dev/null' "$(ls -li "$XS")"
    xs_xml injected "path=\"/tmp/n.sock\&#10;port-del net_ping\""
    out=$(xs define "$XS/injected.xml" 2>&1)
    rc=$?
    check xnet-control-char-refused '[ $rc != 0 ] && grep -q "<source>: attribute path: control character (0x0a)" <<<"$out"' "exit $rc: $out"
    check xnet-control-char-not-in-backend '[ ! -e "$XS/state/netback/ports" ] && ! grep -rqs "port-del net_ping" "$XS/state"' "$(cat "$XS/state/netback/ports" 2>/dev/null)"
    # The path xenod would choose anyway is accepted (a libvirt-style round trip keeps it).
    u=5e1c0f8e-8d5a-4c1e-9b43-1b0c2d3e4f51
    xs_xml ownpath "path=\"$XS/state/run/$u/net0.sock\" mode=\"server\""
    sed -i "s|<name>ownpath</name>|<name>ownpath</name><uuid>$u</uuid>|" "$XS/ownpath.xml"
    out=$(xs define "$XS/ownpath.xml" 2>&1)
    check xnet-source-path-own '[ $? = 0 ]' "$out"
    xs undefine ownpath >/dev/null 2>&1
fi
kill -TERM "$XS_PID" 2>/dev/null
wait "$XS_PID" 2>/dev/null
# A backend would have been started only by a port that got through (none should).
[ -s "$XS/state/netback/pid" ] && kill -KILL "$(cat "$XS/state/netback/pid")" 2>/dev/null

if kvm_case xenod-net; then
    rm -rf "$XN"
    mkdir -p "$XN"
    "$XN_XENOD" --state-dir "$XN/state" --socket "$XN/x.sock" --sample-interval 300ms >"$XN/xenod.log" 2>&1 &
    XN_PID=$!
    if ! wait_until 100 curl -sf --unix-socket "$XN/x.sock" http://x/v1/host -o /dev/null; then
        fail xnet-xenod "xenod did not start: $(tail -3 "$XN/xenod.log")"
    else
        # 400 frames rather than the example's 20: the pair runs long enough (seconds, even
        # under sanitizers) for its counters to be seen while the frames flow.
        sed -e "s|<kernel>.*</kernel>|<kernel>$(realpath "$GUEST/net_ping.elf")</kernel>|" \
            -e "s|count=20|count=400|" examples/net_ping.xml >"$XN/net_ping.xml"
        xn define examples/net_echo.xml >/dev/null
        xn define "$XN/net_ping.xml" >/dev/null
        xn start net_echo >/dev/null
        xn start net_ping >/dev/null
        check xnet-backend-started '[ -n "$(xn_nb_pid)" ] && kill -0 "$(xn_nb_pid)"' "no backend: $(tail -3 "$XN/state/netback/netback.log" 2>/dev/null)"
        # Counted while the frames flow (the pair stops once the ping side is done).
        check xnet-counters 'wait_until 400 eval "xn --json info net_echo | jqe \".net.connected == true and .net.rx.packets >= 5 and .net.tx.packets >= 5\" >/dev/null"' "$(xn --json info net_echo | jq -c .net)"
        # ... and into the usage record metering reads (GET .../usage "net").
        check xnet-usage-recorded 'wait_until 100 eval "curl -sf --unix-socket $XN/x.sock http://x/v1/domains/net_echo/usage | jqe \".net | length > 0 and .[-1].rx_packets > 0 and .[-1].tx_bytes > 0\" >/dev/null"' "$(curl -s --unix-socket "$XN/x.sock" http://x/v1/domains/net_echo/usage | jq -c '.net[-1]')"
        check xnet-ping-echo 'wait_until 1200 eval "xn console net_ping --dump | grep -q \"Test result: PASS\""' "$(xn console net_ping --dump | tail -3)"

        # The backend dies: xenod starts another on the same state directory; the ports come back.
        old=$(xn_nb_pid)
        kill -KILL "$old"
        check xnet-restart-on-kill 'wait_until 200 eval "[ -n \"\$(xn_nb_pid)\" ] && [ \"\$(xn_nb_pid)\" != $old ] && xn_events_at_least netback-started 1"' "pid $old -> $(xn_nb_pid); $(xn --json events | jq -c '[.events[] | select(.domain=="(host)")]')"
        # ... and a second run of the pair goes through the new backend.
        wait_until 200 eval '[ "$(xn --json info net_echo | jq -r .state)" = shutdown ]'
        xn start net_echo >/dev/null
        xn start net_ping >/dev/null
        check xnet-port-reconnects 'wait_until 400 eval "xn --json info net_echo | jqe \".net.connected == true\" >/dev/null"' "$(xn --json info net_echo | jq -c .net)"
        check xnet-traffic-after-restart 'wait_until 1200 eval "[ \$(xn console net_ping --dump | grep -c \"Test result: PASS\") -ge 2 ]"' "$(xn console net_ping --dump | tail -3)"

        # A hung backend (stopped: no heartbeat) is killed by the watchdog and replaced.
        hung=$(xn_nb_pid)
        kill -STOP "$hung"
        check xnet-watchdog 'wait_until 200 eval "xn_events_at_least netback-hung 1 && [ \"\$(xn_nb_pid)\" != $hung ]"' "$(xn --json events | jq -c '[.events[] | select(.domain=="(host)")]')"
        kill -CONT "$hung" 2>/dev/null

        # QoS, live.
        out=$(xn net-qos net_echo --outbound 1000,2000,64 --inbound 500 --weight 10 2>&1)
        rc=$?
        check xnet-qos-set '[ $rc = 0 ] && xn --json events net_echo | jqe "[.events[] | select(.kind==\"net-qos\")] | .[-1].detail | test(\"out-average=977\")" >/dev/null' "exit $rc: $out"
        out=$(xn net-qos net_echo --outbound fast 2>&1)
        check xnet-qos-bad-value '[ $? = 2 ] && grep -q -- "--outbound fast" <<<"$out"' "$out"
        xn create examples/counter.xml >/dev/null 2>&1
        out=$(xn net-qos counter --inbound 100 2>&1)
        check xnet-qos-no-interface '[ $? = 1 ] && grep -q "no network interface" <<<"$out"' "$out"
        xn destroy counter >/dev/null 2>&1
        for d in net_echo net_ping; do
            xn destroy $d >/dev/null 2>&1
            xn undefine $d >/dev/null 2>&1
        done
    fi
    kill -TERM "$XN_PID" 2>/dev/null
    wait "$XN_PID" 2>/dev/null
    pkill -KILL -f -- "--run-dir $XN/" 2>/dev/null
    pkill -KILL -f -- "--state-dir $XN/state/netback" 2>/dev/null
fi
