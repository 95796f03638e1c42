# virtio-mmio: the console as a second console channel (output where COM1's goes, input
# while its driver listens), the entropy device, and a guest that feeds the devices
# garbage: the monitor must survive, log each case and count it on the stats page.


# The greeting, 256 numbered lines in order, the echoed input line, PASS: all in FILE.
vio_console_output_ok() { # FILE
    grep -q 'hello from virtio-console' "$1" &&
        [ "$(grep -c '^virtio-line [0-9]\{4\} ' "$1")" = 256 ] &&
        grep '^virtio-line [0-9]\{4\} ' "$1" | awk '{ if ($2 + 0 != NR - 1) exit 1 }'
}

# ---- virtio-console, standalone: output on stdout, input from stdin ------------------------

kvm_case virtio-console && {
    fifo="$TMP/vcon.in"
    rm -f "$fifo"
    mkfifo "$fifo"
    timeout -k 5 120 "$VMM" --kernel "$GUEST/virtio_console.elf" --memory 64M <"$fifo" \
        >"$TMP/virtio-console.out" 2>"$TMP/virtio-console.err" &
    pid=$!
    exec 9>"$fifo"
    # Input typed before the driver listens would go to COM1: wait for the prompt.
    wait_until 60 has "$TMP/virtio-console.out" 'type a line (virtio)' && printf 'hello over virtio\r' >&9
    wait "$pid"
    RC=$?
    exec 9>&-
    expect virtio-console 0 '^virtio_console: got line .hello over virtio.$' '^Test result: PASS'
    if vio_console_output_ok "$TMP/virtio-console.out"; then
        pass virtio-console-output
    else
        fail virtio-console-output "stdout lacks the greeting or the 256 lines in order"
    fi
    grep -o 'uart [0-9]* bytes.*' "$TMP/virtio-console.out" | sed 's/^/   throughput: /'
}

# ---- virtio-console under xenod: console.log and the console socket ------------------------

if [ -x "$UNIXCAT" ] && kvm_case virtio-console-run-dir; then
    D="$TMP/vcon-rd"
    rm -rf "$D"
    timeout -k 5 120 "$VMM" --run-dir "$D" --name vcon --kernel "$GUEST/virtio_console.elf" </dev/null \
        >"$TMP/vcon-rd.log" 2>&1 &
    job=$!
    if wait_until 60 has "$D/console.log" 'type a line (virtio)'; then
        fifo="$TMP/vcon-rd.in"
        rm -f "$fifo"
        mkfifo "$fifo"
        "$UNIXCAT" "$D/console.sock" <"$fifo" >"$TMP/vcon-rd.sock" 2>&1 &
        cat_job=$!
        exec 9>"$fifo"
        printf 'from the socket\r' >&9
        wait_until 30 has "$D/console.log" 'Test result'
        exec 9>&-
        wait "$cat_job" 2>/dev/null
    fi
    wait "$job"
    RC=$?
    if [ "$RC" = 0 ] && grep -q "got line 'from the socket'" "$D/console.log" &&
        grep -q '^Test result: PASS' "$D/console.log" && vio_console_output_ok "$D/console.log" &&
        grep -q '^poweroff ' "$D/outcome"; then
        pass virtio-console-run-dir
    else
        fail virtio-console-run-dir "status $RC; log: $(tail -c 300 "$TMP/vcon-rd.log" | tr '\n' '|'); console.log: $(grep -v -- '-line ' "$D/console.log" 2>/dev/null | tail -c 400 | tr '\n' '|')"
    fi
    # Guest output through virtio counts as console output on the stats page.
    out_bytes=$("$STATSDUMP" "$D/stats" 2>/dev/null | sed -n 's/^console_out_bytes=//p')
    if [ -n "$out_bytes" ] && [ "$out_bytes" -gt 32768 ]; then
        pass virtio-console-stats
    else
        fail virtio-console-stats "console_out_bytes=$out_bytes, expected > 32768 (two 16 KiB runs)"
    fi
fi

# ---- virtio-rng ------------------------------------------------------------------------------

kvm_case virtio-rng && {
    run_vmm virtio-rng "" --kernel "$GUEST/virtio_rng.elf" --memory 64M
    expect virtio-rng 0 '^virtio_rng: device at 0xd0001000, pin 17' '^Test result: PASS'
}

# ---- hostile rings: every case reported by the guest is logged by the monitor ---------------

kvm_case virtio-hostile && {
    run_vmm virtio-hostile "" --kernel "$GUEST/virtio_hostile.elf" --memory 64M
    expect virtio-hostile 0 '^Test result: PASS' 'virtio-rng: queue 0: .*a loop\?; device needs reset' \
        'virtio-rng: queue 0: descriptor 0: buffer 0xfec00000\+16 is not in RAM' \
        'virtio-rng: queue 0: avail idx jumped' 'virtio-rng: queue 0: descriptor table at 0xd0000000' \
        'virtio-console: queue 1: .* is not in RAM; device needs reset' \
        'FEATURES_OK refused'
    cases=$(sed -n 's/^virtio_hostile: \([0-9]*\) cases.*/\1/p' "$TMP/virtio-hostile.out")
    logged=$(grep -c 'device needs reset' "$TMP/virtio-hostile.err")
    if [ -n "$cases" ] && [ "$cases" -ge 20 ] && [ "$logged" = "$cases" ]; then
        pass virtio-hostile-logged
    else
        fail virtio-hostile-logged "guest ran ${cases:-no} cases, monitor logged $logged"
    fi
}

if [ -x "$STATSDUMP" ] && kvm_case virtio-hostile-stats; then
    D="$TMP/vhostile-rd"
    rm -rf "$D"
    timeout -k 5 120 "$VMM" --run-dir "$D" --name hostile --kernel "$GUEST/virtio_hostile.elf" </dev/null \
        >"$TMP/vhostile-rd.log" 2>&1
    RC=$?
    cases=$(sed -n 's/^virtio_hostile: \([0-9]*\) cases.*/\1/p' "$D/console.log" 2>/dev/null)
    errors=$("$STATSDUMP" "$D/stats" 2>/dev/null | sed -n 's/^virtio_errors=//p')
    if [ "$RC" = 0 ] && [ -n "$cases" ] && [ "$errors" = "$cases" ]; then
        pass virtio-hostile-stats
    else
        fail virtio-hostile-stats "status $RC, $cases cases, stats page virtio_errors=$errors"
    fi
fi
