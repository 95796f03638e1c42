# Snapshots written before a change still restore after it (docs/snapshot-format.md,
# "Compatibility"). tests/data/snapshot/counter-2026-12-07-VENDOR.snap.zst were saved by the
# monitor as it was before devices owned their state (commit 230701f: the counter guest, 8 MiB,
# saved at ticks=470..490 with `save PATH` over the control socket), one on an AMD host and one
# on an Intel host: a snapshot restores only on the CPU vendor it was saved on (the header
# names it), so the test takes the file of this host's vendor. The monitor of today must
# resume it where it was: the count goes on from there with its checksum intact, without a
# reboot.

check_context() { printf ' | %s' "$(log_tail "$TMP/compat.vmm.log" "$TMP/compat/console.log")"; }

if kvm_case snapshot-compat; then
    vendor=$(sed -n 's/^vendor_id[[:space:]]*: *//p' /proc/cpuinfo | head -1)
    OLD=tests/data/snapshot/counter-2026-12-07-$vendor.snap.zst
    if [ ! -e "$OLD" ]; then
        skip snapshot-compat "no snapshot saved on a '$vendor' CPU in tests/data/snapshot"
    elif ! zstd -d -q -f "$OLD" -o "$TMP/compat.snap"; then
        fail snapshot-compat-unpack "cannot decompress $OLD"
    elif ! vmm_start compat --restore "$TMP/compat.snap"; then
        fail snapshot-compat-restore "monitor did not start: $(log_tail "$TMP/compat.vmm.log")"
    else
        check snapshot-compat-continues 'wait_until 60 sn_ticks_at_least compat 490'
        first=$(grep -m1 -o 'ticks=[0-9]*' "$TMP/compat/console.log" | cut -d= -f2)
        check snapshot-compat-from-saved-ticks '[ -n "$first" ] && [ "$first" -ge 470 ] && [ "$first" -le 700 ]' \
            "first count after the resume: '${first}', saved at 470"
        check snapshot-compat-intact '! grep -Eq "mismatch|counter: [0-9]* words" "$TMP/compat/console.log"'
        kill -TERM "$VMM_PID" 2>/dev/null
        vmm_wait
    fi
fi
