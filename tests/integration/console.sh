# The console both ways across a restart, and how the operator stops a domain.

# --on-reboot restart: the demo shell reboots on command, boots again, and a
# command typed after the second boot powers it off. Input is sent only once the
# second boot's prompt is visible, because a reset empties the UART's FIFO just as
# it would on hardware.
kvm_case reboot-restart && {
    fifo="$TMP/restart.in"
    mkfifo "$fifo"
    timeout -k 5 120 "$VMM" --kernel "$GUEST/demo.elf" --on-reboot restart <"$fifo" \
        >"$TMP/reboot-restart.out" 2>"$TMP/reboot-restart.err" &
    pid=$!
    exec 9>"$fifo"
    lines_at_least() { [ "$(grep -c -- "$1" "$TMP/reboot-restart.out")" -ge "$2" ]; } # PATTERN COUNT
    wait_until 60 lines_at_least 'xeno>' 1 && printf 'reboot\r' >&9
    wait_until 60 lines_at_least 'xeno>' 2 && printf 'poweroff\r' >&9
    wait "$pid"
    RC=$?
    exec 9>&-
    expect reboot-restart 0 'restarting' 'powered off'
}

# SIGTERM stops the domain; the status says which signal.
kvm_case sigterm && {
    fifo="$TMP/sigterm.in"
    mkfifo "$fifo"
    timeout -k 5 60 "$VMM" --kernel "$GUEST/demo.elf" <"$fifo" >"$TMP/sigterm.out" 2>"$TMP/sigterm.err" &
    pid=$!
    exec 9>"$fifo"
    wait_until 60 has "$TMP/sigterm.out" 'xeno>'
    kill -TERM "$pid"
    wait "$pid"
    RC=$?
    exec 9>&-
    expect sigterm 143 'stopped by signal'
}
