# Live migration of a domain with a disk between two xenods (docs/migration.md, "Disks"): the
# same image directory on both hosts (both xenods on this machine share $XM/images: the "same
# image path on both hosts" design), two network namespaces (tests/xenod_migrate_lib.sh). The
# blk_rw guest writes its pattern over a 2 MiB disk and then verifies it; it is moved while it
# writes, and each host's xeno-blkback serves the image only while the domain runs there (the
# destination gives it to its backend after GO, once the source's has let it go).
#   bmig-raw-*      a raw image: A -> B mid-write, served by B's backend and no longer by A's,
#                   then back B -> A mid-write; PASS on A; the image file holds the pattern
#   bmig-ovl-*      an overlay (*.ovl, flock'ed by the backend that serves it): A -> B
#                   mid-write; PASS on B; the overlay, read through the image layer, holds it
#   bmig-changed-*  a destination whose image of that name differs (another size; the same size
#                   with other contents) refuses, naming the disk; the domain runs on at the
#                   source, whose backend still serves its disk, and passes there; the
#                   destination keeps nothing (no domain, no backend: migrate-in-failed)
# Every process started here is ended here (the trap), with bounded waits.

. tests/xenod_migrate_lib.sh
. tests/blk_lib.sh

BM_IMG=$XM/images
BM_BLKBACK=$BUILD_DIR/bin/xeno-blkback
BM_IMAGE_IO=$BUILD_DIR/tests/tools/image_io
BM_DISK_KIB=2048
trap 'xm_cleanup; test_file_exit' EXIT

# bm_xenod HOST NETNS IP IMAGE-DIR: HOST's xenod listening for migrations on IP:7430.
bm_xenod() {
    # LeakSanitizer cannot work inside the backend's sandbox (blk_xenod.sh).
    ASAN_OPTIONS=${ASAN_OPTIONS:-}:detect_leaks=0 xm_xenod "$1" "$2" "$3" --migrate-listen "$3:7430" \
        --migrate-key "$XM/key" --image-dir "$4" --blkback "$BM_BLKBACK"
}
# bm_bb HOST REQUEST: the reply of HOST's xeno-blkback in BM_REPLY.
bm_bb() { BM_REPLY=$(printf '%s\n' "$2" | timeout 5 "$UNIXCAT" "$XM/$1/blkback/control.sock" 2>&1); }
# bm_serves HOST IMAGE: HOST's backend serves IMAGE to a connected monitor.
bm_serves() { bm_bb "$1" list && [[ "$BM_REPLY" == *"file=$2 "*"connected=1"* ]]; }
# bm_not_serving HOST IMAGE: HOST's backend (if it runs) does not have IMAGE.
bm_not_serving() { bm_bb "$1" list; [[ "$BM_REPLY" != *"file=$2 "* ]]; }
bm_undefined() { ! xm_ctl "$1" info "$2" >/dev/null 2>&1; } # HOST NAME
bm_console() { xm_ctl "$1" console "$2" --dump 2>/dev/null; }
bm_passed() { bm_console "$1" "$2" | grep -q "Test result: PASS"; }
bm_running() { case $(xm_state "$1" "$2") in running | blocked) return 0 ;; esac; return 1; }
# bm_xml NAME IMAGE: blk_rw on IMAGE (raw, or an overlay by its .ovl name), persistent.
bm_xml() {
    local type=raw
    [[ $2 == *.ovl ]] && type=xeno-overlay
    sed -e "s|<kernel>.*</kernel>|<kernel>$(realpath "$GUEST/blk_rw.elf")</kernel>|" \
        -e "s|<name>blk_rw</name>|<name>$1</name>|" -e "s|blk_rw.img|$2|" -e "s|type=\"raw\"|type=\"$type\"|" \
        examples/blk_rw.xml >"$XM/$1.xml"
    xm_ctl a define "$XM/$1.xml" >/dev/null
}
# bm_verify: blk_rw's pattern over BM_DISK_KIB, read from stdin.
bm_verify() { blk_rw_verify - $((BM_DISK_KIB * 2)); }
# bm_migrate FROM NAME TO-IP: xenctl migrate (one pass, then stop and copy); output in BM_OUT,
# status in BM_RC.
bm_migrate() {
    BM_OUT=$(xm_ctl "$1" migrate "$2" "$3:7430" 2>&1)
    BM_RC=$?
}
check_context() { printf '; logs: %s' "$(LOG_TAIL_BYTES=500 log_tail "$XM"/a.log "$XM"/b.log)"; }

if kvm_case blk-migrate; then
    if [ ! -x "$BM_IMAGE_IO" ] || [ ! -x "$BM_BLKBACK" ]; then
        fail bmig-built "image_io or xeno-blkback is not built ($BM_IMAGE_IO, $BM_BLKBACK)"
    elif ! xm_hosts; then
        fail bmig-hosts "cannot make the namespaces: $(cat "$XM/netns.err")"
    elif ! mkdir -p "$BM_IMG" || ! bm_xenod a "$XM_A" 10.78.0.1 "$BM_IMG" || ! bm_xenod b "$XM_B" 10.78.0.2 "$BM_IMG"; then
        fail bmig-xenods "$(tail -3 "$XM"/*.log)"
    else
        # ---- a raw image: A -> B -> A while the guest writes --------------------------------
        truncate -s "${BM_DISK_KIB}K" "$BM_IMG/mr.img"
        bm_xml mr mr.img
        xm_ctl a start mr >/dev/null
        wait_until 60 img_kib_over "$BM_IMG/mr.img" 256
        at=$(img_kib "$BM_IMG/mr.img")
        bm_migrate a mr 10.78.0.2
        check bmig-raw-to-b '[ $BM_RC = 0 ] && grep -q "^Domain mr migrated to 10.78.0.2:7430" <<<"$BM_OUT" &&
            [ "$(xm_state a mr)" = shutdown ] && bm_running b mr' "exit $BM_RC: $BM_OUT; A: $(xm_state a mr)"
        check bmig-raw-served-by-b 'wait_until 20 bm_serves b mr.img && wait_until 10 bm_not_serving a mr.img' \
            "B: $(bm_bb b list; echo "$BM_REPLY"); A: $(bm_bb a list; echo "$BM_REPLY")"
        check bmig-raw-mid-write '[ "$at" -lt "$BM_DISK_KIB" ] && ! bm_console b mr | grep -q "blk_rw: written"' \
            "$at KiB written at the move: $(bm_console b mr | tail -3)"
        # The guest goes on writing on B (its held requests were served by B's backend).
        wait_until 60 img_kib_over "$BM_IMG/mr.img" "$((at + 256))"
        at=$(img_kib "$BM_IMG/mr.img")
        bm_migrate b mr 10.78.0.1
        check bmig-raw-back-to-a '[ $BM_RC = 0 ] && [ "$(xm_state b mr)" = shutdown ] &&
            wait_until 20 bm_serves a mr.img && wait_until 10 bm_not_serving b mr.img' \
            "exit $BM_RC: $BM_OUT; B: $(xm_state b mr); A's backend: $(bm_bb a list; echo "$BM_REPLY")"
        check bmig-raw-back-mid-write '[ "$at" -lt "$BM_DISK_KIB" ]' "$at KiB written at the move back"
        check bmig-raw-pass 'wait_until 300 bm_passed a mr && ! bm_console a mr | grep -q "FAIL"' \
            "$(bm_console a mr | tail -3)"
        check bmig-raw-image 'bm_verify <"$BM_IMG/mr.img"' "mr.img does not hold the pattern"

        # ---- an overlay: A -> B while the guest writes -----------------------------------------
        truncate -s "${BM_DISK_KIB}K" "$BM_IMG/mo-base.img"
        xm_ctl a disk create mo.ovl --base mo-base.img --image-dir "$BM_IMG" >/dev/null
        bm_xml mo mo.ovl
        xm_ctl a start mo >/dev/null
        wait_until 60 eval 'bm_console a mo | grep -q "blk_rw: .* sectors"'
        wait_until 60 img_kib_over "$BM_IMG/mo.ovl" 256
        at=$(img_kib "$BM_IMG/mo.ovl")
        bm_migrate a mo 10.78.0.2
        check bmig-ovl-to-b '[ $BM_RC = 0 ] && [ "$(xm_state a mo)" = shutdown ] && bm_running b mo' \
            "exit $BM_RC: $BM_OUT; A: $(xm_state a mo)"
        check bmig-ovl-served-by-b 'wait_until 20 bm_serves b mo.ovl && wait_until 10 bm_not_serving a mo.ovl' \
            "B: $(bm_bb b list; echo "$BM_REPLY"); A: $(bm_bb a list; echo "$BM_REPLY")"
        check bmig-ovl-mid-write '! bm_console b mo | grep -q "blk_rw: written"' \
            "$at KiB at the move: $(bm_console b mo | tail -3)"
        check bmig-ovl-pass 'wait_until 300 bm_passed b mo && ! bm_console b mo | grep -q "FAIL"' \
            "$(bm_console b mo | tail -3)"
        # Once the domain has ended, B's backend lets go of the overlay: read it as a backend would.
        wait_until 30 bm_not_serving b mo.ovl
        check bmig-ovl-image '"$BM_IMAGE_IO" "$BM_IMG" mo.ovl dump 0 $((BM_DISK_KIB * 1024)) | bm_verify' \
            "mo.ovl does not hold the pattern"

        # ---- a destination whose image differs: refused, the source runs on ------------------
        truncate -s "${BM_DISK_KIB}K" "$BM_IMG/mc.img"
        bm_xml mc mc.img
        xm_ctl a start mc >/dev/null
        wait_until 60 img_kib_over "$BM_IMG/mc.img" 128
        # Host C: B's namespace, a port of its own, an image directory of its own.
        mkdir -p "$XM/images-c"
        truncate -s 1M "$XM/images-c/mc.img"
        if ASAN_OPTIONS=${ASAN_OPTIONS:-}:detect_leaks=0 xm_xenod c "$XM_B" 10.78.0.2 --migrate-listen 10.78.0.2:7431 \
            --migrate-key "$XM/key" --image-dir "$XM/images-c" --blkback "$BM_BLKBACK"; then
            out=$(xm_ctl a migrate mc 10.78.0.2:7431 2>&1)
            rc=$?
            # The monitor's message is long (both identities) and reaches xenctl whole (until
            # 2026-12-07 xenod's 1 KiB error buffer cut its end: "the domain runs on he").
            check bmig-changed-size-refused '[ $rc != 0 ] && grep -q "disk 0: image .mc.img. in $XM/images-c changed" <<<"$out" &&
                grep -q "the domain runs on here" <<<"$out" &&
                bm_running a mc && wait_until 10 bm_undefined c mc' "exit $rc: $out; A: $(xm_state a mc)"
            cp --sparse=always "$BM_IMG/mc.img" "$XM/images-c/mc.img"
            printf 'Z' | dd of="$XM/images-c/mc.img" bs=1 seek=100 conv=notrunc status=none
            out=$(xm_ctl a migrate mc 10.78.0.2:7431 2>&1)
            rc=$?
            check bmig-changed-content-refused '[ $rc != 0 ] && grep -q "disk 0: image .mc.img. in $XM/images-c changed" <<<"$out" &&
                bm_running a mc && wait_until 10 bm_undefined c mc' "exit $rc: $out; A: $(xm_state a mc)"
            check bmig-changed-dest-clean 'xm_ctl c --json events | jqe "[.events[] | select(.kind==\"migrate-in-failed\")] | length == 2" >/dev/null &&
                ! xm_ctl c --json events | jqe "[.events[] | select(.kind==\"migrated-in\")] | length > 0" >/dev/null' \
                "C's events: $(xm_ctl c --json events 2>&1 | jq -c "[.events[] | .kind]")"
            check bmig-changed-source-serves 'bm_serves a mc.img && [ ! -e "$XM/c/blkback/control.sock" ]' \
                "A's backend: $(bm_bb a list; echo "$BM_REPLY"); C's: $(ls "$XM/c/blkback" 2>&1)"
            check bmig-changed-source-pass 'wait_until 300 bm_passed a mc && ! bm_console a mc | grep -q "FAIL"' \
                "$(bm_console a mc | tail -3)"
            check bmig-changed-image 'bm_verify <"$BM_IMG/mc.img"' "mc.img does not hold the pattern"
        else
            fail bmig-changed-xenod "$(tail -3 "$XM/c.log")"
        fi
    fi
fi
