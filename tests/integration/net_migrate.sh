# Live migration of a domain that receives traffic through xeno-netback while it moves
# (docs/migration.md, "Devices' writes"): the backend writes received frames and used entries
# into guest RAM through its own mapping, which KVM's dirty log does not see, so the
# monitor asks it for the vhost-user dirty log and holds its rings at the final stop.
#   net-migrate-*  two backends on this host (A and B, the same MAC on each, as a domain's
#                  port follows it between hosts), one sender on each. The receiver
#                  (guest/tests/net_stream.c) checks every byte of every frame; it migrates
#                  from A to B while stream 1 arrives (reading slowly, so that its receive
#                  ring is full of frames the backend wrote during the rounds), and must end
#                  with PASS on B after stream 2: no corrupt frame, no frame seen again (a
#                  stale buffer or used ring on B shows as one), only frames the network
#                  dropped missing.
#   net-restore-*  a receiver saved while stream 1 arrives and restored (--restore-eager) on
#                  the same port: its rings go to the backend only once RAM is in, so the
#                  backend starts from the used index the snapshot recorded.
# Every process started here is ended here, with bounded waits.

NM_MAC=52:54:00:00:07:01
NM_PORT=$((TEST_PORT_BASE + 1))
NM_PIDS=()
# The receiver's lines for a bad frame (its summary line says "0 corrupt, 0 seen again").
NM_BAD='^net_stream: (corrupt|foreign) frame|: seen again'

# nm_backend NAME: xeno-netback with state directory $TMP/NAME (no uplink); waits for its
# control socket.
nm_backend() {
    mkdir -p "$TMP/$1"
    # LeakSanitizer cannot run in the backend's sandbox (net.sh).
    ASAN_OPTIONS=${ASAN_OPTIONS:-}:detect_leaks=0 "$NETBACK" --state-dir "$TMP/$1" >>"$TMP/$1.log" 2>&1 &
    NM_PIDS+=($!)
    wait_until 10 test -S "$TMP/$1/control.sock"
}

# nm_sender NAME STREAM BACKEND IP: a paced sender guest on BACKEND (port NAME).
nm_sender() {
    local mac=52:54:00:00:07:1$2
    nb_ctl "$TMP/$3" "port-add $1 socket=$TMP/$1.sock mac=$mac ip=$4"
    timeout -k 5 240 "$VMM" --kernel "$GUEST/net_stream.elf" --memory 32M --net "socket=$TMP/$1.sock,mac=$mac" \
        --cmdline "role=send ip=$4 peer=$NM_MAC peer_ip=10.0.7.1 stream=$2 rate=${NM_RATE:-1500} secs=200" \
        </dev/null >"$TMP/$1.log" 2>&1 &
    NM_PIDS+=($!)
}

nm_cleanup() {
    local p
    [ -z "${VMM_JOB:-}" ] || NM_PIDS+=("$VMM_JOB") # the last vmm_start's monitor
    for p in "${NM_PIDS[@]}"; do kill "$p" 2>/dev/null; done
    for p in "${NM_PIDS[@]}"; do wait_until 10 gone "$p" || kill -KILL "$p" 2>/dev/null; done
    for p in "${NM_PIDS[@]}"; do wait "$p" 2>/dev/null; done
    NM_PIDS=()
}

check_context() {
    printf '; source: %s; destination: %s; receiver: %s' "$(log_tail "$TMP/nmsrc.vmm.log")" \
        "$(log_tail "$TMP/nmdst.vmm.log")" "$(grep -h '^net_stream\|^FAIL\|^Test result' \
            "$TMP/nmsrc/console.log" "$TMP/nmdst/console.log" 2>/dev/null | tr '\n' '|')"
}

nm_ready() {
    if [ ! -x "$NETBACK" ] || [ ! -x "$UNIXCAT" ]; then
        fail net-migrate "xeno-netback or tests/tools/unixcat is not built"
        return 1
    fi
    kvm_case net-migrate
}

if nm_ready; then
    head -c 32 /dev/urandom | base64 >"$TMP/nm.key"
    chmod 600 "$TMP/nm.key"
    rm -rf "$TMP/nmsrc" "$TMP/nmdst"
    nm_backend nbA && nm_backend nbB
    # The domain's port on both hosts: the same MAC and address (docs/migration.md).
    nb_ctl "$TMP/nbA" "port-add recv socket=$TMP/nmsrc/net0.sock mac=$NM_MAC ip=10.0.7.1"
    nb_ctl "$TMP/nbB" "port-add recv socket=$TMP/nmdst/net0.sock mac=$NM_MAC ip=10.0.7.1"
    (timeout -k 5 120 "$VMM" --migrate-incoming "127.0.0.1:$NM_PORT" --migrate-key "$TMP/nm.key" \
        --run-dir "$TMP/nmdst" --name nmdst --net mac=$NM_MAC </dev/null >"$TMP/nmdst.vmm.log" 2>&1
        exit $?) 2>/dev/null &
    dst_job=$!
    NM_PIDS+=($dst_job)
    timeout -k 5 120 "$VMM" --run-dir "$TMP/nmsrc" --name nmsrc --kernel "$GUEST/net_stream.elf" --memory 64M \
        --net mac=$NM_MAC --migrate-key "$TMP/nm.key" \
        --cmdline "role=recv ip=10.0.7.1 need=${NM_NEED:-1500} slow=${NM_SLOW:-3000} idle=30" \
        </dev/null >"$TMP/nmsrc.vmm.log" 2>&1 &
    src_job=$!
    NM_PIDS+=($src_job)
    nm_sender sendA 1 nbA 10.0.7.2
    nm_sender sendB 2 nbB 10.0.7.3
    if wait_until 30 has "$TMP/nmdst.vmm.log" 'waiting for a migration' &&
        wait_until 60 has "$TMP/nmsrc/console.log" 'first frame of stream 1'; then
        sleep 1 # a duration: frames flow into the receiver for a while before it moves
        reply=$(printf '%s\n' "migrate 127.0.0.1:$NM_PORT max-downtime=50" |
            timeout 70 "$UNIXCAT" "$TMP/nmsrc/control.sock" 2>&1 | grep -m1 -E '^(ok|err)')
        check net-migrate-reply 'grep -Eq "^ok dest=127.0.0.1:$NM_PORT .*confirmed=yes$" <<<"$reply"' "reply '$reply'"
        check net-migrate-dirty-log 'has "$TMP/nmsrc.vmm.log" "virtio-net: dirty log on"'
        wait_until 60 has "$TMP/nmdst/console.log" '^Test result' || true
        check net-migrate-receiver-pass 'has "$TMP/nmdst/console.log" "^Test result: PASS"'
        check net-migrate-no-bad-frame '! grep -Eq "$NM_BAD" "$TMP/nmdst/console.log" "$TMP/nmsrc/console.log"'
        check net-migrate-stream-1-before 'has "$TMP/nmsrc/console.log" "first frame of stream 1"'
        # Moved, not restarted: no boot banner of the receiver on B.
        check net-migrate-no-reboot '! has "$TMP/nmdst/console.log" "net_stream: recv"'
        printf '   %s\n' "$(grep -h '^net_stream: received' "$TMP/nmdst/console.log" 2>/dev/null)"
    else
        fail net-migrate "the monitors or the first frames did not come: $(check_context)"
    fi

    # Save and restore on host A's port (its monitor has left): stream 1 still arrives there.
    if vmm_start nmsrc --kernel "$GUEST/net_stream.elf" --memory 64M --net mac=$NM_MAC \
        --cmdline "role=recv ip=10.0.7.1 stream=1 need=${NM_NEED:-3000} idle=30" &&
        wait_until 60 has "$TMP/nmsrc/console.log" 'first frame of stream 1'; then
        sleep 1 # a duration: frames flow for a while before the save
        sn_request nmsrc "save $TMP/nm.snap"
        check net-restore-save 'grep -Eq "^ok bytes=" <<<"$SN_REPLY"' "save reply '$SN_REPLY'"
        vmm_wait
        if vmm_start nmsrc --restore "$TMP/nm.snap" --restore-eager --net mac=$NM_MAC; then
            wait_until 90 has "$TMP/nmsrc/console.log" '^Test result' || true
            check net-restore-receiver-pass 'has "$TMP/nmsrc/console.log" "^Test result: PASS"' \
                "receiver: $(grep -h '^net_stream\|^FAIL' "$TMP/nmsrc/console.log" | tr '\n' '|') monitor: $(log_tail "$TMP/nmsrc.vmm.log")"
            check net-restore-no-bad-frame '! grep -Eq "$NM_BAD" "$TMP/nmsrc/console.log"'
            printf '   %s\n' "$(grep -h '^net_stream: received' "$TMP/nmsrc/console.log" 2>/dev/null)"
            vmm_wait
        else
            fail net-restore "the restoring monitor did not start: $(log_tail "$TMP/nmsrc.vmm.log")"
        fi
    else
        fail net-restore "the receiver did not start or got no frame: $(log_tail "$TMP/nmsrc.vmm.log")"
    fi
    nm_cleanup
fi
