# virtio-balloon and memory targets with a deadline (docs/control-interface.md): a guest
# that follows the balloon must really give its memory back to the host (measured from
# outside the monitor: RssShmem in /proc/PID/status and the guest RAM memfd's allocation),
# before the deadline; a guest that does not is caught and the enforcement applied (pause,
# destroy, report) within 100 ms of the deadline; a guest that grows back is caught too.
# test-harness: serial (deadlines of 100 ms to 1.5 s, measured from here: a busy machine
# would move them)

BL_UNIXCAT=${UNIXCAT:-$BUILD_DIR/tests/tools/unixcat}
BL_STATSDUMP=${STATSDUMP:-$BUILD_DIR/tests/tools/statsdump}
MiB=$((1 << 20))

# Waits poll every 10 ms: the times printed below are measured to the event.
WAIT_POLL=0.01
bl_ms() { echo $(($(date +%s%N) / 1000000)); }
bl_stat() { "$BL_STATSDUMP" "$BL_DIR/stats" 2>/dev/null | sed -n "s/^$1=//p"; } # FIELD
# Host-side measurements of the monitor, from outside it: the guest RAM it maps (RssShmem)
# and what the guest RAM memfd holds (its blocks, through /proc/PID/fd).
bl_rss() { awk '/^RssShmem:/ { print $2 * 1024 }' "/proc/$BL_PID/status" 2>/dev/null; }
bl_memfd() {
    local f
    for f in /proc/"$BL_PID"/fd/*; do
        case $(readlink "$f" 2>/dev/null) in
        /memfd:xeno-guest-ram*) echo $(($(stat -L -c %b "$f") * 512)) && return ;;
        esac
    done
    echo 0
}
bl_within() { [ "$1" -le $(($2 + $2 / 20)) ]; } # BYTES TARGET: within 5%

# bl_start NAME KERNEL MEMORY ENFORCEMENT: a monitor under --run-dir with a control client
# ($TMP/NAME.ctl, requests on fd 7) and a console client ($TMP/NAME.con, input on fd 6);
# waits for the guest's "ready".
bl_start() {
    BL_NAME=$1 BL_DIR=$TMP/$1 BL_PID=
    rm -rf "$BL_DIR" "$TMP/$1".*
    timeout -k 5 120 "$VMM" --run-dir "$BL_DIR" --name "$1" --kernel "$GUEST/$2.elf" --memory "$3" --on-reboot restart \
        --memory-enforcement "$4" </dev/null >"$TMP/$1.log" 2>&1 &
    BL_JOB=$!
    wait_until 30 test -s "$BL_DIR/pid" || return 1
    BL_PID=$(cat "$BL_DIR/pid")
    mkfifo "$TMP/$1.ctl.in" "$TMP/$1.con.in"
    "$BL_UNIXCAT" "$BL_DIR/control.sock" <"$TMP/$1.ctl.in" >"$TMP/$1.ctl" 2>&1 &
    BL_CTL_JOB=$!
    exec 7>"$TMP/$1.ctl.in"
    "$BL_UNIXCAT" "$BL_DIR/console.sock" <"$TMP/$1.con.in" >"$TMP/$1.con" 2>&1 &
    BL_CON_JOB=$!
    exec 6>"$TMP/$1.con.in"
    wait_until 60 has "$BL_DIR/console.log" '; ready$'
}
bl_send() { (printf '%s\n' "$1" >&7) 2>/dev/null; }      # a control request
bl_type() { (printf '%s\r' "$1" >&6) 2>/dev/null; }      # a console command
bl_replies() { grep -cE '^(ok|err)' "$TMP/$BL_NAME.ctl" 2>/dev/null || true; }
bl_more_replies() { [ "$(bl_replies)" -gt "$1" ]; }
bl_request() { # REQUEST: sends it, waits for its reply (in BL_REPLY)
    local before
    before=$(bl_replies)
    bl_send "$1"
    wait_until 10 bl_more_replies "$before" || { BL_REPLY="(no reply)"; return 1; }
    BL_REPLY=$(grep -E '^(ok|err)' "$TMP/$BL_NAME.ctl" | sed -n "$((before + 1))p")
}
bl_events() { grep -c "^event memory-target $1" "$TMP/$BL_NAME.ctl" 2>/dev/null || true; } # reached|missed
bl_more_events() { [ "$(bl_events "$1")" -gt "$2" ]; }
bl_last_event() { grep "^event memory-target $1" "$TMP/$BL_NAME.ctl" | tail -1; }
bl_field() { sed -n "s/.* $2=\([^ ]*\).*/\1/p" <<<"$1"; } # LINE KEY
bl_end() {
    exec 7>&- 6>&- 2>/dev/null
    [ -n "${BL_PID:-}" ] && kill -KILL "$BL_PID" 2>/dev/null
    kill "$BL_CTL_JOB" "$BL_CON_JOB" 2>/dev/null
    wait "$BL_JOB" "$BL_CTL_JOB" "$BL_CON_JOB" 2>/dev/null
    BL_PID=
}
bl_log() { tail -c 600 "$TMP/$BL_NAME.log" 2>/dev/null | tr '\n' '|'; }
# A failed check shows the guest's console and the monitor's log.
check_context() { printf '; console: %s monitor: %s' "$(LOG_TAIL_BYTES=300 log_tail "$BL_DIR/console.log")" "$(bl_log)"; }

# bl_target NAME TARGET DEADLINE_MS: mem-set, then waits for the reached event (measured
# from the request); checks both host measurements against the target at that moment.
bl_target() {
    local name=$1 target=$2 deadline=$3 before t0 t1 rss memfd ev
    before=$(bl_events reached)
    t0=$(bl_ms)
    bl_send "mem-set $target $deadline"
    if ! wait_until $((deadline / 1000 + 5)) bl_more_events reached "$before"; then
        fail "$name" "no reached event; $(grep '^event memory' "$TMP/$BL_NAME.ctl" | tail -2 | tr '\n' '|') monitor: $(bl_log)"
        return 1
    fi
    t1=$(bl_ms)
    rss=$(bl_rss) memfd=$(bl_memfd)
    ev=$(bl_last_event reached)
    BL_AFTER=$(bl_field "$ev" after_ms)
    printf '   %s: reached after %s ms (host), seen %d ms after the request; RssShmem %d MiB, memfd %d MiB, target %d MiB\n' \
        "$name" "$BL_AFTER" $((t1 - t0)) $((rss / MiB)) $((memfd / MiB)) $((target / MiB))
    if [ "$BL_AFTER" -lt "$deadline" ] && bl_within "$rss" "$target" && bl_within "$memfd" "$target" &&
        [ "$(bl_field "$ev" target)" = "$target" ] && bl_within "$(bl_field "$ev" resident)" "$target"; then
        pass "$name"
    else
        fail "$name" "event '$ev'; RssShmem $rss, memfd $memfd for a target of $target"
    fi
}

if [ ! -x "$BL_UNIXCAT" ] || [ ! -x "$BL_STATSDUMP" ]; then
    fail balloon "test tools missing: build them with 'make unit-tests'"
elif kvm_case balloon; then

    # ---- a guest that obeys: down, up, down again, then grows back on its own -------------

    if ! bl_start obey balloon_obey 128M pause; then
        fail balloon-obey-ready "no ready guest; monitor: $(bl_log)"
    else
        # The stats page is published every 100 ms: let it catch up with the guest's touch.
        wait_until 40 eval '[ "$(bl_stat guest_resident_bytes)" -gt $((90 * MiB)) ]'
        rss=$(bl_rss) memfd=$(bl_memfd) resident=$(bl_stat guest_resident_bytes)
        printf '   balloon-obey: touched: RssShmem %d MiB, memfd %d MiB, stats page %d MiB\n' \
            $((rss / MiB)) $((memfd / MiB)) $((resident / MiB))
        check balloon-obey-touched '[ "$rss" -gt $((90 * MiB)) ] && [ "$memfd" -gt $((90 * MiB)) ] &&
            [ "$resident" -gt $((90 * MiB)) ]'
        grep -o 'touched [0-9]* MiB in [0-9]* ms' "$BL_DIR/console.log" | sed 's/^/   guest: /'

        # Down to 32 MiB within 1 s: 96 MiB (24576 pages) to give back.
        bl_target balloon-inflate $((32 * MiB)) 1000
        wait_until 5 has "$BL_DIR/console.log" 'target 24576 pages: inflated'
        grep -o 'target 24576 pages: inflated [0-9]* pages in [0-9]* ms' "$BL_DIR/console.log" | head -1 |
            sed 's/^/   guest: /'
        stats_page_after_inflate() {
            [ "$(bl_stat balloon_bytes)" = $((96 * MiB)) ] &&
            [ "$(bl_stat balloon_target_bytes)" = $((96 * MiB)) ] &&
            [ "$(bl_stat memory_target_bytes)" = $((32 * MiB)) ] &&
            [ "$(bl_stat memory_target_state)" = met ] && [ "$(bl_stat memory_enforcement)" = pause ] &&
            [ "$(bl_stat balloon_released_bytes)" -ge $((90 * MiB)) ] &&
            [ "$(bl_stat guest_total_bytes)" -gt $((120 * MiB)) ] &&
            [ "$(bl_stat guest_free_bytes)" != unknown ] && [ "$(bl_stat guest_available_bytes)" != unknown ] &&
            [ "$(bl_stat monitor_rss_bytes)" -gt 0 ] && [ "$(bl_stat memory_target_reached)" = 1 ]
        }
        check balloon-stats-page 'wait_until 3 stats_page_after_inflate'
        # Statistics are asked for again every second: the timestamp moves.
        s1=$(bl_stat guest_stats_ns)
        stats_refreshed() { [ "$(bl_stat guest_stats_ns)" != "$s1" ]; }
        check balloon-stats-refresh 'wait_until 5 stats_refreshed'

        # Up to 100 MiB: the balloon deflates (the guest uses what it gets back: memfd grows).
        bl_target balloon-deflate $((100 * MiB)) 1000
        deflated_and_used() { [ "$(bl_stat balloon_bytes)" = $((28 * MiB)) ] && [ "$(bl_memfd)" -gt $((60 * MiB)) ]; }
        check balloon-deflate-used 'wait_until 10 deflated_and_used'

        # And down again: the pages it used go back.
        bl_target balloon-inflate-again $((32 * MiB)) 1000

        # It grows back on its own, ignoring the target: caught after a whole deadline over
        # it, and paused (the enforcement of this domain).
        missed=$(bl_events missed)
        bl_type grow
        wait_until 10 has "$BL_DIR/console.log" 'balloon_obey: grew'
        t0=$(bl_ms)
        if wait_until 10 bl_more_events missed "$missed"; then
            t1=$(bl_ms)
            ev=$(bl_last_event missed)
            printf '   balloon-regrow: caught %d ms after the guest said it grew: %s\n' $((t1 - t0)) "$ev"
            bl_request status
            if [ "$(bl_field "$ev" why)" = regrown ] && [ "$(bl_field "$ev" action)" = pause ] &&
                [ "$BL_REPLY" = "ok state=paused boots=1" ] && [ "$(bl_stat memory_enforcements)" = 1 ]; then
                pass balloon-regrow-caught
            else
                fail balloon-regrow-caught "event '$ev', status '$BL_REPLY'"
            fi
        else
            fail balloon-regrow-caught "no missed event; monitor: $(bl_log)"
        fi

        # Unpaused and told to obey, it gets back within the target: a late "reached".
        reached=$(bl_events reached)
        bl_request unpause
        bl_type obey
        check balloon-late-reached 'wait_until 10 bl_more_events reached "$reached"'
        check balloon-late-reached-measured 'bl_within "$(bl_memfd)" $((32 * MiB))'

        # A target is a multiple of 4 KiB between 4 MiB and the domain's memory.
        bl_request "mem-set 1000 1000"
        check balloon-mem-set-unaligned 'grep -q "^err memory target 1000 bytes" <<<"$BL_REPLY"'
        bl_request "mem-set $((256 * MiB)) 1000"
        check balloon-mem-set-too-big 'grep -q "^err memory target $((256 * MiB)) bytes" <<<"$BL_REPLY"'
        bl_request "mem-set 4096"
        check balloon-mem-set-usage 'grep -q "^err mem-set takes TARGET_BYTES DEADLINE_MS" <<<"$BL_REPLY"'

        bl_type quit
        wait_until 20 eval '! kill -0 "$BL_PID" 2>/dev/null'
        wait "$BL_JOB"
        RC=$?
        check balloon-obey-pass '[ "$RC" = 0 ] && grep -q "^Test result: PASS" "$BL_DIR/console.log" &&
            grep -q "^poweroff " "$BL_DIR/outcome"'
    fi
    bl_end

    # ---- free page reporting: the guest hands its free runs to the host -------------------

    if ! bl_start report balloon_obey 64M report; then
        fail balloon-report "no ready guest; monitor: $(bl_log)"
    else
        before=$(bl_memfd)
        bl_type report
        wait_until 10 has "$BL_DIR/console.log" 'reported [0-9]* free pages'
        after=$(bl_memfd)
        printf '   balloon-report: memfd %d MiB -> %d MiB; %s\n' $((before / MiB)) $((after / MiB)) \
            "$(grep -o 'reported .*' "$BL_DIR/console.log")"
        check balloon-report '[ "$before" -gt $((40 * MiB)) ] && [ "$after" -lt $((8 * MiB)) ] &&
            wait_until 2 eval "[ \"\$(bl_stat balloon_reported_bytes)\" -gt $((40 * MiB)) ]"'
    fi
    bl_end

    # ---- the target belongs to the domain: a restarted VM's balloon gets it at once -------

    if ! bl_start restart balloon_obey 64M report; then
        fail balloon-restart "no ready guest; monitor: $(bl_log)"
    else
        bl_target balloon-restart-first $((16 * MiB)) 2000
        bl_request reset
        check balloon-restart-keeps-target 'wait_until 20 eval "[ \$(grep -c \"target 12288 pages: inflated 12288\" \"\$BL_DIR/console.log\") = 2 ]" &&
            [ "$(bl_stat boots)" = 2 ] && [ "$(bl_stat memory_target_state)" = met ] &&
            [ "$(bl_events missed)" = 0 ] && bl_within "$(bl_memfd)" $((16 * MiB))'
        bl_request destroy
    fi
    bl_end

    # ---- a guest that ignores the balloon: pause, destroy, report -------------------------

    # pause: the missed event within 100 ms of the deadline, then the state is paused.
    if ! bl_start ignore-pause balloon_ignore 64M pause; then
        fail balloon-ignore-pause "no ready guest; monitor: $(bl_log)"
    else
        t0=$(bl_ms)
        bl_send "mem-set $((16 * MiB)) 1000"
        if wait_until 5 bl_more_events missed 0; then
            t1=$(bl_ms)
            ev=$(bl_last_event missed)
            after=$(bl_field "$ev" after_ms)
            printf '   balloon-ignore-pause: missed %s ms after the request (host), seen after %d ms: %s\n' \
                "$after" $((t1 - t0)) "$ev"
            bl_request status
            if [ "$after" -ge 1000 ] && [ "$after" -le 1100 ] && [ $((t1 - t0)) -le 1300 ] &&
                [ "$(bl_field "$ev" action)" = pause ] && [ "$(bl_field "$ev" why)" = deadline ] &&
                [ "$(bl_field "$ev" target)" = $((16 * MiB)) ] && [ "$BL_REPLY" = "ok state=paused boots=1" ] &&
                has "$TMP/ignore-pause.ctl" '^event state paused'; then
                pass balloon-ignore-pause
            else
                fail balloon-ignore-pause "event '$ev' after $((t1 - t0)) ms; status '$BL_REPLY'"
            fi
            check balloon-ignore-pause-stats '[ "$(bl_stat memory_target_state)" = missed ] &&
                [ "$(bl_stat memory_target_missed)" = 1 ] && [ "$(bl_stat memory_enforcements)" = 1 ] &&
                [ "$(bl_stat state)" = paused ]'
        else
            fail balloon-ignore-pause "no missed event; monitor: $(bl_log)"
        fi
    fi
    bl_end

    # destroy: the monitor ends, outcome destroyed, the reason names the memory target.
    if ! bl_start ignore-destroy balloon_ignore 64M destroy; then
        fail balloon-ignore-destroy "no ready guest; monitor: $(bl_log)"
    else
        t0=$(bl_ms)
        bl_send "mem-set $((16 * MiB)) 500"
        wait_until 10 eval '! kill -0 "$BL_PID" 2>/dev/null'
        t1=$(bl_ms)
        wait "$BL_JOB"
        RC=$?
        printf '   balloon-ignore-destroy: monitor gone %d ms after the request; outcome: %s\n' $((t1 - t0)) \
            "$(cat "$BL_DIR/outcome" 2>/dev/null)"
        check balloon-ignore-destroy '[ "$RC" = 0 ] &&
            grep -q "^destroyed memory target missed: .* for a target of $((16 * MiB)) " "$BL_DIR/outcome" &&
            wait_until 2 has "$TMP/ignore-destroy.ctl" "^event memory-target missed .*action=destroy" &&
            [ $((t1 - t0)) -lt 1500 ]'
    fi
    bl_end

    # report: only the event; the domain keeps running.
    if ! bl_start ignore-report balloon_ignore 64M report; then
        fail balloon-ignore-report "no ready guest; monitor: $(bl_log)"
    else
        bl_send "mem-set $((16 * MiB)) 300"
        wait_until 5 bl_more_events missed 0
        sleep 0.5 # a duration: the domain must still run half a second after the missed event
        bl_request status
        ev=$(bl_last_event missed)
        check balloon-ignore-report '[ "$(bl_field "$ev" action)" = report ] &&
            grep -Eq "^ok state=(running|blocked) boots=1$" <<<"$BL_REPLY" &&
            [ "$(bl_stat memory_enforcements)" = 0 ] && [ "$(bl_events missed)" = 1 ] &&
            has "$BL_DIR/console.log" "target 12288 pages: ignored"'
        # A new target replaces the old one: one the guest already meets is reached at once.
        check balloon-new-target-replaces 'bl_request "mem-set $((64 * MiB)) 1000" && [ "$BL_REPLY" = ok ] &&
            wait_until 2 bl_more_events reached 0 && [ "$(bl_stat memory_target_state)" = met ]'
        bl_request destroy
    fi
    bl_end
fi
