# Disk images with `xenctl disk` (src/blk/image*, src/ctl/cmd_disk.c): a qcow2 made by qemu-img
# and written by qemu-io imported as raw, overlays sharing it as their base, written through
# src/blk's image layer (tests/tools/image_io), committed, and what must be refused: a changed
# base, a qcow2 with a backing file, names and links leaving the image directory. No daemon.

D_CTL=$BUILD_DIR/bin/xenctl
D_IO=$BUILD_DIR/tests/tools/image_io
D=$TMP/images
mkdir -p "$D"
dctl() { run_cmd "$1" "$D_CTL" disk "${@:2}" --image-dir "$D"; }
# bytes N BYTE: N bytes of BYTE (octal escape) on stdout
bytes() { head -c "$1" /dev/zero | tr '\0' "$2"; }

if ! command -v qemu-img >/dev/null || ! command -v qemu-io >/dev/null; then
    fail disk-qemu-utils "qemu-img and qemu-io are needed (scripts/install-deps.sh installs qemu-utils)"
fi

# The import: 1 MiB of 0xab at 0 in a 4 MiB qcow2, read back byte for byte from the raw image.
qemu-img create -q -f qcow2 "$TMP/src.qcow2" 4M
qemu-io -c 'write -P 0xab 0 1M' "$TMP/src.qcow2" >/dev/null
dctl disk-convert convert "$TMP/src.qcow2" debian.raw
expect disk-convert 0
{ bytes 1048576 '\253'; bytes 3145728 '\0'; } >"$TMP/want.raw"
check disk-convert-bytes 'cmp -s "$TMP/want.raw" "$D/debian.raw"' "debian.raw differs from the qcow2's contents"
dctl disk-info-raw info debian.raw
expect disk-info-raw 0 '^Format: raw$' '^Virtual size: 4194304 \(4 MiB\)$'

# A qcow2 whose backing file is a file of this host is refused, and leaves nothing behind.
qemu-img create -q -f qcow2 -b "$TMP/want.raw" -F raw "$TMP/evil.qcow2"
dctl disk-convert-backing convert "$TMP/evil.qcow2" evil.raw
expect disk-convert-backing 1 'has a backing file'
check disk-convert-backing-clean '[ ! -e "$D/evil.raw" ]'
dctl disk-convert-not-qcow2 convert "$TMP/want.raw" x.raw
expect disk-convert-not-qcow2 1 'want.raw'

# Two overlays share the base; a write into one is seen there only.
dctl disk-create-web1 create web1.ovl --base debian.raw
expect disk-create-web1 0 'created web1.ovl'
dctl disk-create-web2 create web2.ovl --base debian.raw --cluster-size 4K
expect disk-create-web2 0
run_cmd disk-write-web1 "$D_IO" "$D" web1.ovl fill 524288 131072 0xcd
expect disk-write-web1 0
{ bytes 524288 '\253'; bytes 131072 '\315'; bytes 393216 '\253'; bytes 3145728 '\0'; } >"$TMP/want1.raw"
check disk-read-web1 '"$D_IO" "$D" web1.ovl dump 0 4194304 | cmp -s - "$TMP/want1.raw"'
check disk-read-web2 '"$D_IO" "$D" web2.ovl dump 0 4194304 | cmp -s - "$TMP/want.raw"'
check disk-base-untouched 'cmp -s "$TMP/want.raw" "$D/debian.raw"'
run_cmd disk-info-json "$D_CTL" --json disk info web1.ovl --image-dir "$D"
check disk-info-json '[ "$(jq -c "[.format,.virtual_size,.cluster_size,.clusters_allocated,.base,.base_ok]" "$TMP/disk-info-json.out")" = "[\"overlay\",4194304,65536,2,\"debian.raw\",true]" ]' \
    "got $(cat "$TMP/disk-info-json.out" | tr '\n' ' ')"

# Commit merges web1 into the base; web2's base changed under it: refused, not misread.
dctl disk-commit commit web1.ovl
expect disk-commit 0 'committed 2 clusters of web1.ovl'
check disk-commit-bytes 'cmp -s "$TMP/want1.raw" "$D/debian.raw"'
check disk-commit-overlay '"$D_IO" "$D" web1.ovl dump 0 4194304 | cmp -s - "$TMP/want1.raw"'
dctl disk-info-stale info web2.ovl
expect disk-info-stale 1 '^Base: debian.raw \(unusable: .*changed since the overlay was made'
run_cmd disk-open-stale "$D_IO" "$D" web2.ovl dump 0 512
expect disk-open-stale 1 'changed since the overlay was made'
dctl disk-commit-raw commit debian.raw
expect disk-commit-raw 1 'not an overlay'

# Names stay beneath the directory; links are not followed; existing images are not replaced.
ln -s /etc/passwd "$D/link.raw"
dctl disk-link info link.raw
expect disk-link 1 "image 'link.raw' in .*: a symbolic link"
dctl disk-dotdot create ../escape.raw --size 1M
expect disk-dotdot 1 "'\.\.' component"
check disk-dotdot-clean '[ ! -e "$TMP/escape.raw" ]'
dctl disk-absolute info /etc/passwd
expect disk-absolute 1 'an absolute path'
dctl disk-exists create debian.raw --size 1M
expect disk-exists 1 'File exists'
dctl disk-usage info web1.ovl --size 1M
expect disk-usage 2 'disk info does not take --size'
run_cmd disk-no-dir "$D_CTL" disk info x.raw --image-dir "$TMP/nowhere"
expect disk-no-dir 1 "image directory .*nowhere"
