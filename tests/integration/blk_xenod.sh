# Disks through xenod (docs/blkback.md, "Under xenod"): a domain with a <disk> gets its disk on
# the host's xeno-blkback, which xenod starts, supervises, restarts and gives the disks again.
#   bx-start              blk_rw defined and started with xenctl: the backend runs, serves the disk
#   bx-xenod-kill9-*      kill -9 of xenod while the guest writes; a new xenod re-attaches (the
#                         domain still runs, the same backend still serves the disk)
#   bx-backend-kill9-*    kill -9 of the backend while the guest writes: xenod starts a new one
#                         and gives it the disk again; the guest sees no I/O error
#   bx-guest-pass         the guest's whole-disk pattern verified in the guest and in the file
#   bx-stop-removes       the domain's end takes its disk off the backend
#   bx-qos-*              xenctl disk-qos changes a limit live: the backend's list shows it,
#                         dumpxml too (the stored definition); libvirt's rules refuse
#   bx-reservation-*      a reservation over the calibrated capacity fails the start with the
#                         backend's reason, nothing left on the backend
#   bx-save, bx-restore  xenctl save mid-run takes the disk off the backend; restore resumes
#                         the guest, which verifies what it wrote before and after: PASS
#   bx-restore-changed-image  an image written after the save: the restore is refused, naming
#                         it, never reported restored, its disk not left on the backend
#   bx-restore-changed-touched-back  the same with the image's mtime put back: still refused
#   bx-many-disks-*       two disks of two queues each (blk_multi) started by xenod: both on the
#                         backend, the guest's patterns verified over every queue
#   bx-sponsor-*          a sponsor's disk limit (xenctl sponsor-policy --disk-total-iops-sec):
#                         its disks join its group on the backend at start and take a change,
#                         or leave, live; any sponsor name gets a group; bad values refused
# Every process started here is ended here, with bounded waits.

BX=$TMP/bx
BX_XENOD=$BUILD_DIR/bin/xenod
BX_CTL=$BUILD_DIR/bin/xenctl
BX_PID=
. tests/blk_lib.sh
bx() { XENOD_SOCKET=$BX/x.sock timeout -k 5 60 "$BX_CTL" "$@"; }
# The backend's pid, from its stats page (struct bb_stats_page: pid at byte 12).
bx_bb_pid() { od -An -tu4 -j12 -N4 "$BX/state/blkback/stats" 2>/dev/null | tr -d ' '; }
bx_bb_alive() { local p; p=$(bx_bb_pid); [ -n "$p" ] && [ "$p" != 0 ] && kill -0 "$p" 2>/dev/null; }
bx_ctl() { BX_REPLY=$(printf '%s\n' "$1" | timeout 5 "$UNIXCAT" "$BX/state/blkback/control.sock" 2>&1); }
bx_event_count() { bx --json events --limit 1000 | jq "[.events[] | select(.kind==\"$1\")] | length"; }
bx_events_at_least() { [ "$(bx_event_count "$1")" -ge "$2" ] 2>/dev/null; }
bx_xenod() {
    ASAN_OPTIONS=${ASAN_OPTIONS:-}:detect_leaks=0 "$BX_XENOD" --state-dir "$BX/state" --socket "$BX/x.sock" \
        --image-dir "$BX/images" --save-dir "$BX" --blkback "$BLKBACK" --sample-interval 300ms >>"$BX/xenod.log" 2>&1 &
    BX_PID=$!
    wait_until 100 curl -sf --unix-socket "$BX/x.sock" http://x/v1/host -o /dev/null
}
# bx_xml NAME SIZE [EXTRA]: blk_rw with its own image NAME.img of SIZE, EXTRA inside <disk>.
bx_xml() {
    truncate -s "$2" "$BX/images/$1.img"
    sed -e "s|<kernel>.*</kernel>|<kernel>$(realpath "$GUEST/blk_rw.elf")</kernel>|" \
        -e "s|<name>blk_rw</name>|<name>$1</name>|" -e "s|blk_rw.img|$1.img|" \
        -e "s|</serial>|</serial>${3:-}|" examples/blk_rw.xml >"$BX/$1.xml"
}
bx_cleanup() {
    for d in $(bx --json list 2>/dev/null | jq -r '.domains[]?.name' 2>/dev/null); do
        bx destroy "$d" >/dev/null 2>&1
    done
    [ -n "$BX_PID" ] && kill -TERM "$BX_PID" 2>/dev/null && wait_until 10 gone "$BX_PID"
    [ -n "$BX_PID" ] && kill -KILL "$BX_PID" 2>/dev/null
    pkill -KILL -f -- "--run-dir $BX/" 2>/dev/null
    pkill -KILL -f -- "--state-dir $BX/state/blkback" 2>/dev/null
    return 0
}
trap 'bx_cleanup; test_file_exit' EXIT

if kvm_case blk-xenod; then
    rm -rf "$BX"
    mkdir -p "$BX/images" "$BX/state/blkback"
    # A calibration record first: the backend reads it when it starts (admission).
    "$BLKBACK" --image-dir "$BX/images" --calibrate --state-dir "$BX/state/blkback" --calibrate-ms 300 \
        >"$BX/calibrate.out" 2>&1
    reservable=$(sed -n 's/.*reservable=\([0-9]*\).*/\1/p' "$BX/calibrate.out")
    if ! bx_xenod; then
        fail bx-xenod "xenod did not start: $(log_tail "$BX/xenod.log")"
    else
        bx_xml bx 16M
        # Persistent, so that its console is still there once the guest has powered off.
        out=$(bx define "$BX/bx.xml" 2>&1 && bx start bx 2>&1)
        # The monitor connects to its disk's socket a moment after the start returns.
        bx_serves_bx() { bx_ctl list && [[ "$BX_REPLY" == *"file=bx.img sectors=32768 readonly=0 connected=1"* ]]; }
        check bx-start '[ $? = 0 ] && wait_until 20 bx_bb_alive && wait_until 20 bx_serves_bx' \
            "create: $out; list: ${BX_REPLY:-}; backend: $(log_tail "$BX/state/blkback/blkback.log")"
        # ---- kill -9 of xenod while the guest writes; the new one re-attaches ----
        wait_until 60 img_kib_over "$BX/images/bx.img" 512
        bb=$(bx_bb_pid)
        kill -KILL "$BX_PID"
        wait "$BX_PID" 2>/dev/null
        BX_PID=
        bx_xenod
        bx_ctl list
        check bx-xenod-kill9-reattach '[ "$(bx --json list | jq -r ".domains[] | select(.name==\"bx\") | .state")" = running ] &&
            [ "$(bx_bb_pid)" = "$bb" ] && [[ "$BX_REPLY" == *"file=bx.img sectors=32768 readonly=0 connected=1"* ]]' \
            "backend $bb -> $(bx_bb_pid); list: $BX_REPLY; $(bx --json list)"
        # ---- kill -9 of the backend while the guest writes ----
        at=$(img_kib "$BX/images/bx.img")
        kill -KILL "$bb"
        check bx-backend-kill9-restarted 'wait_until 30 eval "bx_bb_alive && [ \"\$(bx_bb_pid)\" != $bb ] && bx_events_at_least blkback-started 1"' \
            "pid $bb -> $(bx_bb_pid); $(bx --json events | jq -c '[.events[] | select(.domain=="(host)")]')"
        bx_ctl list
        check bx-backend-kill9-readded '[[ "$BX_REPLY" == *"file=bx.img sectors=32768"* ]]' "list: $BX_REPLY"
        check bx-backend-kill9-during-io '[ "$at" -lt 16384 ]' "the guest had written all ($at KiB) before the kill"
        # ---- xenctl disk-qos: a limit changed live, on the backend at once ----
        out=$(bx disk-qos bx vda --total-iops-sec 20000 --weight 500 2>&1)
        rc=$?
        bx_ctl list
        check bx-qos-live '[ $rc = 0 ] && grep -q "total-iops-sec: *20000" <<<"$out" &&
            [[ "$BX_REPLY" == *"total_iops_sec=20000"*"weight=500"* ]]' "exit $rc: $out; list: $BX_REPLY"
        dump=$(bx dumpxml bx 2>&1)
        check bx-qos-stored 'grep -q "<total_iops_sec>20000</total_iops_sec>" <<<"$dump" && grep -q "<weight>500</weight>" <<<"$dump"' "$dump"
        out=$(bx disk-qos bx vda 2>&1)
        check bx-qos-show '[ $? = 0 ] && grep -q "total-iops-sec: *20000" <<<"$out" && grep -q "weight: *500" <<<"$out"' "$out"
        out=$(bx disk-qos bx vda --read-iops-sec 10 2>&1)
        rc=$?
        bx_ctl list
        check bx-qos-libvirt-rule '[ $rc != 0 ] && grep -q "cannot be combined" <<<"$out" && [[ "$BX_REPLY" != *read_iops_sec* ]]' "$out; list: $BX_REPLY"
        out=$(bx disk-qos bx vdq --total-iops-sec 1 2>&1)
        check bx-qos-no-disk '[ $? != 0 ] && grep -q "has no disk .vdq." <<<"$out"' "$out"
        check bx-guest-pass 'wait_until 300 eval "bx console bx --dump | grep -q \"Test result: PASS\""' \
            "$(bx console bx --dump | tail -3)"
        check bx-guest-no-ioerr '! bx console bx --dump | grep -qi "status [1-9]\|FAIL"' "$(bx console bx --dump | tail -3)"
        check bx-image 'blk_rw_verify "$BX/images/bx.img" 32768 0 97' "the image file does not hold the pattern"
        check bx-stop-removes 'wait_until 30 eval "bx_ctl list && [ \"\$BX_REPLY\" = \"ok disks=0\" ]"' "list: $BX_REPLY"

        # ---- a reservation over the calibrated capacity: the start fails cleanly ----
        bx_xml over 1M "<xeno:iotune xmlns:xeno=\"urn:xenoserver:domain:1\" reservation=\"$((reservable + 1000))\"/>"
        bx define "$BX/over.xml" >/dev/null 2>&1
        out=$(bx start over 2>&1)
        rc=$?
        bx_ctl list
        check bx-reservation-refused '[ $rc != 0 ] && grep -q "reservation of $((reservable + 1000)) units/s" <<<"$out" &&
            [ "$BX_REPLY" = "ok disks=0" ] && [ "$(bx --json list | jq -r ".domains[] | select(.name==\"over\") | .state")" != running ]' \
            "exit $rc: $out; list: $BX_REPLY; reservable $reservable"

        # ---- save and restore through xenod (docs/snapshot-format.md, "Disks") ----
        bx_xml sr 4M
        bx define "$BX/sr.xml" >/dev/null 2>&1
        bx start sr >/dev/null 2>&1
        wait_until 60 eval 'bx console sr --dump | grep -q "blk_rw: .* sectors"'
        out=$(bx save sr "$BX/sr1.snap" 2>&1)
        rc=$?
        bx_ctl list
        check bx-save '[ $rc = 0 ] && [ "$(bx --json info sr | jq -r .state)" != running ] && [[ "$BX_REPLY" != *"file=sr.img"* ]]' \
            "exit $rc: $out; list: $BX_REPLY"
        out=$(bx restore "$BX/sr1.snap" 2>&1)
        check bx-restore '[ $? = 0 ] && wait_until 300 eval "bx console sr --dump | grep -q \"Test result: PASS\""' \
            "$out; $(bx console sr --dump | tail -3)"
        # A snapshot whose image was written after it is refused, naming the disk, and never
        # reported restored: the monitor refuses before the guest runs and writes no pid file
        # (xenod took one for a restored domain, and under load answered "restored" while the
        # refusing monitor was ending). The restored guest powers off after its PASS: the next
        # start waits for that, and the save for the new boot's first line.
        wait_until 60 eval '[ "$(bx --json info sr | jq -r .state)" != running ]'
        booted=$(bx console sr --dump | grep -c "blk_rw: .* sectors")
        bx start sr >/dev/null 2>&1
        wait_until 60 eval '[ "$(bx console sr --dump | grep -c "blk_rw: .* sectors")" -gt "$booted" ]'
        saved=$(bx save sr "$BX/sr2.snap" 2>&1)
        src=$?
        mtime=$(stat -c %.9Y "$BX/images/sr.img")
        # One byte, the size unchanged, at once: on this kernel the save's stat makes the
        # next change take a fine-grained stamp (docs/snapshot-format.md, "Disks").
        printf 'x' | dd of="$BX/images/sr.img" bs=1 seek=4096 conv=notrunc status=none
        bx_restored_sr2() { bx --json events --limit 1000 | jq '[.events[] | select(.domain=="sr" and .kind=="restored" and (.detail | contains("sr2.snap")))] | length'; }
        out=$(bx restore "$BX/sr2.snap" 2>&1)
        rc=$?
        bx_ctl list
        check bx-restore-changed-image '[ $src = 0 ] && [ $rc != 0 ] && grep -q "sr.img.* changed since the snapshot" <<<"$out" &&
            [ "$(bx --json info sr | jq -r .state)" != running ] && [ "$(bx_restored_sr2)" = 0 ] &&
            [[ "$BX_REPLY" != *"file=sr.img"* ]]' \
            "save: exit $src: $saved; restore: exit $rc: $out; restored events: $(bx_restored_sr2); list: $BX_REPLY"
        # The modification time put back (touch -d): the change time still tells.
        touch -m -d "@$mtime" "$BX/images/sr.img"
        out=$(bx restore "$BX/sr2.snap" 2>&1)
        rc=$?
        check bx-restore-changed-touched-back '[ $rc != 0 ] && grep -q "sr.img.* changed since the snapshot" <<<"$out" &&
            [ "$(bx_restored_sr2)" = 0 ]' "restore: exit $rc: $out"

        # ---- two disks of two queues each (blk_multi): both served, every queue handed over ----
        truncate -s 1M "$BX/images/blk_multi.img" "$BX/images/blk_multi-b.img"
        sed -e "s|<kernel>.*</kernel>|<kernel>$(realpath "$GUEST/blk_multi.elf")</kernel>|" examples/blk_multi.xml >"$BX/multi.xml"
        bx define "$BX/multi.xml" >/dev/null 2>&1
        out=$(bx start blk_multi 2>&1)
        check bx-many-disks-start '[ $? = 0 ]' "$out"
        bx_ctl list
        check bx-many-disks-served 'grep -q "disks=2" <<<"$BX_REPLY"' "list: $BX_REPLY"
        check bx-many-disks-pass 'wait_until 300 eval "bx console blk_multi --dump | grep -q \"Test result: PASS\""' \
            "$(bx console blk_multi --dump | tail -3)"

        # ---- a sponsor's disk limit (its policy): every disk of the sponsor in one group ----
        # "Acme Corp" is no backend group name (a space): its group is 'h' and SHA-256's hex.
        bx_xml sp 16M
        sed -i 's|>examples</xeno:sponsor>|>Acme Corp</xeno:sponsor>|' "$BX/sp.xml"
        key=h$(printf '%s' 'Acme Corp' | sha256sum | cut -c1-30)
        out=$(bx sponsor-policy 'Acme Corp' --disk-total-iops-sec 1500 2>&1)
        check bx-sponsor-policy-set '[ $? = 0 ] && grep -q "at most 1500 IOPS" <<<"$out"' "$out"
        bx define "$BX/sp.xml" >/dev/null 2>&1
        out=$(bx start sp 2>&1)
        bx_ctl list
        check bx-sponsor-group-at-start '[[ "$BX_REPLY" == *"file=sp.img"*"sponsor=$key sponsor_total_iops_sec=1500"* ]]' \
            "start: $out; list: $BX_REPLY"
        out=$(bx --json sponsor-policy 'Acme Corp' --disk-total-iops-sec 900 --disk-total-bytes-sec 8000000 2>&1)
        bx_ctl list
        check bx-sponsor-group-live '[ "$(jq -r ".disk_refused" <<<"$out")" = null ] &&
            [[ "$BX_REPLY" == *"sponsor=$key sponsor_total_iops_sec=900 sponsor_total_bytes_sec=8000000"* ]]' \
            "$out; list: $BX_REPLY"
        out=$(bx sponsor-policy 'Acme Corp' --disk-total-iops-sec 0 --disk-total-bytes-sec 0 2>&1)
        rc=$?
        bx_ctl list
        check bx-sponsor-group-lifted '[ $rc = 0 ] && grep -q "Disk: *no limit" <<<"$out" &&
            [[ "$BX_REPLY" == *"file=sp.img"* && "$BX_REPLY" != *sponsor=* ]]' "$out; list: $BX_REPLY"
        out=$(bx sponsor-policy 'Acme Corp' --disk-total-iops-sec many 2>&1)
        check bx-sponsor-policy-bad '[ $? = 2 ] && grep -q "disk-total-iops-sec" <<<"$out"' "$out"
        out=$(curl -s --unix-socket "$BX/x.sock" -X PUT -d '{"disk": {"total_iops_sec": 1.5}}' \
            "http://x/v1/sponsors/Acme%20Corp/policy" 2>&1)
        check bx-sponsor-policy-api-bad 'grep -q "total_iops_sec.* must be a whole number" <<<"$out"' "$out"
        bx destroy sp >/dev/null 2>&1
    fi
fi
