# <disk> through xenod and xenctl (docs/domain-xml.md, "Disks"): a definition with a disk is
# kept with its image named relative to xenod's image directory (an absolute path inside it is
# stored by its name there), a path outside the directory is refused at define with FILE:LINE,
# and a start whose image is missing is refused by xeno-blkback (which xenod starts) with a
# message naming the disk and the image, also after xenod restarts (the disks are in the
# stored XML only). Defines and refused starts only: no guest runs (blk_xenod.sh runs them).

DK_XENOD=$BUILD_DIR/bin/xenod
DK_XENCTL=$BUILD_DIR/bin/xenctl
DK=$TMP/dk
mkdir -p "$DK/images/acme"
truncate -s 1M "$DK/images/blk_rw.img" "$DK/images/acme/web.raw"
export XENOD_SOCKET=$DK/xenod.sock
dkx() { timeout -k 5 60 "$DK_XENCTL" "$@"; }
dk_up() { [ -S "$XENOD_SOCKET" ] && curl -s --unix-socket "$XENOD_SOCKET" http://x/v1/host >/dev/null; }
dk_start_xenod() {
    "$DK_XENOD" --state-dir "$DK/state" --socket "$XENOD_SOCKET" --image-dir "$DK/images" >>"$DK/xenod.log" 2>&1 &
    DK_XPID=$!
    wait_until 10 dk_up
}
dk_stop_xenod() {
    kill "$DK_XPID" 2>/dev/null
    wait_until 10 gone "$DK_XPID" || kill -KILL "$DK_XPID" 2>/dev/null
    wait "$DK_XPID" 2>/dev/null
}
# The disk backend xenod started outlives it, as the monitors do: ended here.
trap 'dk_stop_xenod; pkill -KILL -f -- "--state-dir $DK/state/blkback" 2>/dev/null; test_file_exit' EXIT
if ! dk_start_xenod; then
    fail disk-xenod-starts "xenod did not come up: $(log_tail "$DK/xenod.log")"
    return 0 2>/dev/null || exit 0
fi
# dk_xml FILE NAME SOURCE: a domain with one disk whose <source file> is SOURCE (line 5).
dk_xml() {
    cat >"$1" <<XML
<domain type="kvm">
  <name>$2</name>
  <memory unit="MiB">64</memory>
  <os><kernel>$PWD/$GUEST/blk_rw.elf</kernel></os>
  <devices><disk type="file" device="disk"><source file="$3"/><target dev="vda"/></disk></devices>
</domain>
XML
}

out=$(dkx define "$PWD/examples/blk_rw.xml" 2>&1)
dump=$(dkx dumpxml blk_rw 2>&1)
check disk-define-example 'grep -q "<source file=\"blk_rw.img\"/>" <<<"$dump"' "$out; $dump"

info=$(dkx info blk_rw 2>&1)
json=$(curl -s --unix-socket "$XENOD_SOCKET" http://x/v1/domains/blk_rw | jq -c .disks)
check disk-info-shown 'grep -qx "Disk vda:       blk_rw.img (raw, serial XENO-SN-1)" <<<"$info" &&
    [ "$json" = "[{\"target\":\"vda\",\"file\":\"blk_rw.img\",\"format\":\"raw\",\"readonly\":false,\"serial\":\"XENO-SN-1\",\"stats\":null}]" ]' "$info; $json"
dk_xml "$DK/abs.xml" abs "$DK/images/acme/web.raw"
out=$(dkx define "$DK/abs.xml" 2>&1)
dump=$(dkx dumpxml abs 2>&1)
check disk-absolute-inside-made-relative 'grep -q "<source file=\"acme/web.raw\"/>" <<<"$dump" &&
    ! grep -q "$DK/images" <<<"$dump"' "$out; $dump"

for bad in /etc/passwd "$DK/images/../xenod.log" "$DK/imagesX/web.raw"; do
    dk_xml "$DK/out.xml" outside "$bad"
    out=$(dkx define "$DK/out.xml" 2>&1)
    rc=$?
    check "disk-outside-refused-${bad//[^a-zA-Z]/_}" '[ $rc -ne 0 ] && grep -qF "$DK/out.xml:5: <source>: file '"'"'$bad'"'"' is not inside this host'"'"'s image directory $DK/images" <<<"$out" &&
        ! dkx info outside >/dev/null 2>&1' "rc $rc: $out"
done
dk_xml "$DK/dots.xml" dots "../xenod.log"
out=$(dkx define "$DK/dots.xml" 2>&1)
rc=$?
check disk-dotdot-refused '[ $rc -ne 0 ] && grep -qF "dots.xml:5: <source>: image '"'"'../xenod.log'"'"': empty" <<<"$out"' "rc $rc: $out"

# The image is gone: the backend refuses the disk, the start fails naming it, nothing runs.
rm -f "$DK/images/blk_rw.img"
out=$(dkx start blk_rw 2>&1)
rc=$?
state=$(dkx --json info blk_rw 2>/dev/null | jq -r .state)
check disk-start-refused '[ $rc -ne 0 ] && grep -q "domain .blk_rw.: disk vda (image .blk_rw.img.): " <<<"$out" &&
    [ -n "$state" ] && [ "$state" != running ]' "rc $rc, state $state: $out"

# After a restart of xenod the disks come back from the stored XML.
dk_stop_xenod
dk_start_xenod
rm -f "$DK/images/acme/web.raw"
out=$(dkx start abs 2>&1)
rc=$?
check disk-start-refused-after-restart '[ $rc -ne 0 ] && grep -q "disk vda (image .acme/web.raw.)" <<<"$out"' "rc $rc: $out"
