# Two xenods on this machine, each in a network namespace of its own, for live migration
# between hosts (docs/migration.md, "Between hosts"): host A is 10.78.0.1, host B 10.78.0.2,
# a veth pair between them; each xenod has its own state directory $XM/a or $XM/b and socket
# $XM/a.sock or $XM/b.sock. Sourced by tests/integration/xenod_migrate.sh and blk_migrate.sh,
# after tests/lib.sh.

XM=$TMP/xm
# Names apart from those of another file of this run (TEST_INDEX) and of a run beside it.
XM_ID=${TEST_INDEX}n$$
XM_A=xmA$XM_ID XM_B=xmB$XM_ID
XM_PIDS=
xm_ctl() { # HOST ARGS...
    local h=$1
    shift
    XENOD_SOCKET=$XM/$h.sock timeout -k 5 120 "$BUILD_DIR/bin/xenctl" "$@"
}
xm_state() { xm_ctl "$1" --json info "$2" 2>/dev/null | jq -r .state; }
# xm_cleanup: both xenods, their monitors and disk backends (backends outlive xenod), the
# namespaces.
xm_cleanup() {
    local p ns
    for p in $XM_PIDS; do kill -TERM "$p" 2>/dev/null; done
    for p in $XM_PIDS; do wait "$p" 2>/dev/null; done
    XM_PIDS=
    pkill -KILL -f -- "--run-dir $XM/" 2>/dev/null
    pkill -KILL -f -- "--state-dir $XM/[a-z]*/blkback" 2>/dev/null
    for ns in "$XM_A" "$XM_B"; do ip netns del "$ns" 2>/dev/null; done
    return 0
}
# xm_hosts: $XM made empty, the key files $XM/key and $XM/wrong.key, both namespaces with the
# link between them. 1, with the reason in $XM/netns.err, when they cannot be made.
xm_hosts() {
    rm -rf "$XM"
    mkdir -p "$XM"
    head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$XM/key"
    head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$XM/wrong.key"
    chmod 600 "$XM/key" "$XM/wrong.key"
    { ip netns add "$XM_A" && ip netns add "$XM_B" &&
        ip link add xa$XM_ID netns "$XM_A" type veth peer name xb$XM_ID netns "$XM_B" &&
        ip -n "$XM_A" addr add 10.78.0.1/24 dev xa$XM_ID && ip -n "$XM_B" addr add 10.78.0.2/24 dev xb$XM_ID &&
        ip -n "$XM_A" link set xa$XM_ID up && ip -n "$XM_B" link set xb$XM_ID up &&
        ip -n "$XM_A" link set lo up && ip -n "$XM_B" link set lo up; } 2>"$XM/netns.err"
}
# xm_xenod HOST NETNS IP [ARGS...]: HOST's xenod in NETNS (its pid last in XM_PIDS); 1 when
# its API does not answer within 5 s.
xm_xenod() {
    local h=$1 ns=$2
    shift 3
    ip netns exec "$ns" "$BUILD_DIR/bin/xenod" --state-dir "$XM/$h" --socket "$XM/$h.sock" "$@" \
        >"$XM/$h.log" 2>&1 &
    XM_PIDS="$XM_PIDS $!"
    wait_until 100 curl -sf --unix-socket "$XM/$h.sock" http://x/v1/host -o /dev/null
}
# xm_stop_last: stops the xenod started last (its domains run on; the backends too).
xm_stop_last() {
    kill -TERM "${XM_PIDS##* }" 2>/dev/null
    wait "${XM_PIDS##* }" 2>/dev/null
    XM_PIDS=${XM_PIDS% *}
}
