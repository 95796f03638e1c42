# The network audit through xenod (docs/audit.md): xenod runs in a network namespace made
# here with --net-uplink and --net-audit, so its xeno-netback makes the tap there, where
# busybox httpd listens on ports 25 and 8080. The net_tcp_syn guest (a domain of sponsor
# "examples") tries port 25 twice and 8080 once: the rule `limit tcp dport 25 new 1/10s per
# sponsor` lets the first SMTP connection through and refuses the second while 8080 works;
# the refusal reaches xenod's event stream as an audit event naming domain and sponsor, and
# the flow log it keeps verifies.
# Before that, without KVM: --net-audit-flow-quota reaches the backend (xaudit-flow-quota-*).

XA=$TMP/xa
XA_NS=xau$$
xa() { XENOD_SOCKET=$XA/x.sock timeout -k 5 60 "$BUILD_DIR/bin/xenctl" "$@"; }

# The flow quota reaches the backend (no KVM: --net-audit starts the backend with xenod):
# xenod's --net-audit-flow-quota is the quota the backend's engine enforces, shown in its
# `stats` (flow_quota=); without the option the backend's default (an eighth of 65536).
XQ=$TMP/xq
for want in 7 8192; do
    rm -rf "$XQ"
    mkdir -p "$XQ"
    opt=()
    [ "$want" = 7 ] && opt=(--net-audit-flow-quota 7)
    "$BUILD_DIR/bin/xenod" --state-dir "$XQ/state" --socket "$XQ/x.sock" --net-audit "${opt[@]}" >"$XQ/xenod.log" 2>&1 &
    XQ_PID=$!
    NB_REPLY=
    wait_until 100 eval 'nb_ctl "$XQ/state/netback" stats && grep -q "^audit " <<<"$NB_REPLY"'
    check "xaudit-flow-quota-$want" 'grep -q "^audit .* flow_quota=$want flows_over_quota=0" <<<"$NB_REPLY"' \
        "${NB_REPLY:-no reply}; $(tail -2 "$XQ/xenod.log")"
    kill -TERM "$XQ_PID" 2>/dev/null
    wait "$XQ_PID" 2>/dev/null
    [ -s "$XQ/state/netback/pid" ] && kill -TERM "$(cat "$XQ/state/netback/pid")" 2>/dev/null
    wait_until 50 eval '! pgrep -f -- "--state-dir $XQ/state/netback" >/dev/null'
done
out=$("$BUILD_DIR/bin/xenod" --state-dir "$XQ/state2" --net-audit --net-audit-flow-quota 65537 2>&1)
check xaudit-flow-quota-range '[ $? != 0 ] && grep -q -- "--net-audit-flow-quota" <<<"$out"' "$out"

if kvm_case xenod-audit; then
    rm -rf "$XA"
    mkdir -p "$XA/www"
    echo hello >"$XA/www/hello.txt"
    printf 'limit tcp dport 25 new 1/10s per sponsor action drop\n' >"$XA/rules"
    if ! command -v busybox >/dev/null || ! ip netns add "$XA_NS" 2>/dev/null; then
        skip xaudit "needs busybox and network namespaces (scripts/install-deps.sh)"
    else
        ip netns exec "$XA_NS" ip link set lo up
        ip netns exec "$XA_NS" "$BUILD_DIR/bin/xenod" --state-dir "$XA/state" --socket "$XA/x.sock" \
            --net-uplink xau0 --net-audit --net-audit-rules "$XA/rules" >"$XA/xenod.log" 2>&1 &
        XA_PID=$!
        if ! wait_until 200 eval 'ip netns exec "$XA_NS" ip link show xau0 >/dev/null 2>&1'; then
            fail xaudit-uplink "no tap: $(tail -3 "$XA/xenod.log") $(tail -3 "$XA/state/netback/netback.log" 2>/dev/null)"
        else
            ip netns exec "$XA_NS" ip addr add 10.0.0.1/24 dev xau0
            ip netns exec "$XA_NS" ip link set xau0 up
            for p in 25 8080; do
                # In a subshell: killed at the end, it is not this shell's job (no "Killed" noise).
                (ip netns exec "$XA_NS" timeout -k 2 200 busybox httpd -f -p "10.0.0.1:$p" -h "$XA/www" >/dev/null 2>&1 &)
            done
            # Each step says why it failed, and a domain that is not running ends the wait
            # (a CI run once spent its 1200 s on a domain that was not there).
            check_context() { printf ' | xenod: %s' "$(log_tail "$XA/xenod.log")"; }
            out=$(xa define examples/net_tcp_syn.xml 2>&1) || fail xaudit-define "$out$(check_context)"
            out=$(xa start net_tcp_syn 2>&1) || fail xaudit-start "$out$(check_context)"
            xa_guest_done() {
                xa console net_tcp_syn --dump 2>/dev/null | grep -q "Test result:" ||
                    ! xa --json info net_tcp_syn 2>/dev/null | jqe '.state == "shutdown" or .state == "crashed" | not' >/dev/null
            }
            check xaudit-guest-done 'wait_until 1200 xa_guest_done && xa console net_tcp_syn --dump | grep -q "Test result:"' \
                "$(xa console net_tcp_syn --dump 2>&1 | tail -3) | $(xa list 2>&1 | tail -2)"
            con=$(xa console net_tcp_syn --dump)
            check xaudit-smtp-first-allowed '[ "$(grep -c "port 25: synack" <<<"$con")" = 1 ]' "$(grep "port " <<<"$con")"
            check xaudit-smtp-second-refused '[ "$(grep -c "port 25: none" <<<"$con")" = 1 ]' "$(grep "port " <<<"$con")"
            check xaudit-other-traffic-flows 'grep -q "port 8080: synack" <<<"$con"' "$(grep "port " <<<"$con")"
            check xaudit-event-in-xenod 'wait_until 100 eval "xa --json events net_tcp_syn | jqe \"[.events[] | select((.kind | startswith(\\\"audit-\\\")) and (.detail | test(\\\"sponsor=examples\\\")) and (.detail | test(\\\"25\\\")))] | length >= 1\" >/dev/null"' "$(xa --json events net_tcp_syn | jq -c '[.events[].kind]')"
            wait_until 200 eval '[ "$(xa --json info net_tcp_syn | jq -r .state)" = shutdown ]'
            kill -TERM "$XA_PID" 2>/dev/null
            wait "$XA_PID" 2>/dev/null
            # The backend flushes its flow log when it stops.
            pkill -TERM -f -- "--state-dir $XA/state/netback" 2>/dev/null
            wait_until 100 eval '! pgrep -f -- "--state-dir $XA/state/netback" >/dev/null'
            out=$("$BUILD_DIR/bin/xenctl" audit verify "$XA/state/netback/flows.log" 2>&1)
            check xaudit-log-verifies '[ $? = 0 ] && grep -q "^ok" <<<"$out"' "$out"
            out=$("$BUILD_DIR/bin/xenctl" audit query "$XA/state/netback/flows.log" --sponsor examples --since 2000-01-01T00:00:00Z 2>&1)
            check xaudit-query-sponsor '[ "$(grep -c "10.0.0.16:[0-9]* -> 10.0.0.1:25 " <<<"$out")" = 2 ]' "$out"
        fi
        kill -TERM "$XA_PID" 2>/dev/null
        wait "$XA_PID" 2>/dev/null
        pkill -KILL -f -- "--run-dir $XA/" 2>/dev/null
        pkill -KILL -f -- "--state-dir $XA/state/netback" 2>/dev/null
        for p in $(ip netns pids "$XA_NS" 2>/dev/null); do kill -KILL "$p" 2>/dev/null; done
        ip netns del "$XA_NS" 2>/dev/null
    fi
fi
