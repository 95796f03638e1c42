# <memtune> (docs/domain-xml.md, "Memory limits"): xenod runs the monitor of a domain with
# memory limits in a memory cgroup of its own ("xeno-UUID" under xenod's cgroup; v2 where
# delegated, else v1) holding them. Checked on real KVM: the cgroup file holds the hard limit
# while the domain runs and `xenctl info` shows it; a guest that touches more memory than its
# cgroup allows (lowered by the test) is killed by the kernel and xenod records a
# "memory-limit" event; the cgroup is gone once the domain stops. Define-time refusals (a
# limit below what the domain needs) and dumpxml's round trip need no KVM.

MT_XENOD=$BUILD_DIR/bin/xenod
MT_XENCTL=$BUILD_DIR/bin/xenctl
MT=$TMP/mt
mkdir -p "$MT"
export XENOD_SOCKET=$MT/xenod.sock
mtx() { timeout -k 5 60 "$MT_XENCTL" "$@"; }
mt_up() { [ -S "$XENOD_SOCKET" ] && curl -s --unix-socket "$XENOD_SOCKET" http://x/v1/host >/dev/null; }
# mt_xml FILE NAME MEMORY_MIB MEMTUNE CMDLINE
mt_xml() {
    {
        printf '<domain type="kvm">\n  <name>%s</name>\n  <memory unit="MiB">%s</memory>\n' "$2" "$3"
        printf '  <memtune>\n%s\n  </memtune>\n' "$4"
        printf '  <os><kernel>%s</kernel><cmdline>%s</cmdline></os>\n' "$PWD/$GUEST/memfill.elf" "$5"
        printf '  <metadata><xeno:sponsor xmlns:xeno="urn:xenoserver:domain:1">tests</xeno:sponsor></metadata>\n'
        printf '</domain>\n'
    } >"$1"
}
"$MT_XENOD" --state-dir "$MT/state" --socket "$XENOD_SOCKET" >>"$MT/xenod.log" 2>&1 &
MT_XPID=$!
if ! wait_until 10 mt_up; then
    fail memtune-xenod-starts "xenod did not come up: $(log_tail "$MT/xenod.log")"
    kill "$MT_XPID" 2>/dev/null
    return 0 2>/dev/null || exit 0
fi
# Which controller xenod found (its log says); the rest needs one.
wait_until 5 grep -q "memory limits (<memtune>)" "$MT/xenod.log"
MT_BASE=$(sed -n 's/.*memory limits (<memtune>): cgroup v[12] under \([^,]*\).*/\1/p' "$MT/xenod.log" | head -1)
MT_V=$(sed -n 's/.*memory limits (<memtune>): cgroup v\([12]\) .*/\1/p' "$MT/xenod.log" | head -1)

# Refused at define: below <memory> + 32 MiB, with the line and what would do.
mt_xml "$MT/low.xml" low 64 '    <hard_limit unit="MiB">90</hard_limit>' ''
out=$(mtx define "$MT/low.xml" 2>&1)
check memtune-refuses-low-hard-limit '! mtx info low >/dev/null 2>&1 && grep -q "low.xml:5: <hard_limit>: 90 MiB is less than the domain needs: its <memory> (64 MiB) and 32 MiB for the monitor itself; give at least 96 MiB" <<<"$out"' "$out"

if [ -z "$MT_BASE" ]; then
    mt_xml "$MT/none.xml" none 64 '    <hard_limit unit="MiB">512</hard_limit>' ''
    out=$(mtx define "$MT/none.xml" 2>&1)
    check memtune-refused-without-controller '! mtx info none >/dev/null 2>&1 && grep -q "none.xml:4: <memtune>: this host gives xenod no memory cgroup controller" <<<"$out"' "$out; $(log_tail "$MT/xenod.log")"
else
    # Defined; dumpxml keeps the limits.
    mt_xml "$MT/capped.xml" capped 64 '    <hard_limit unit="MiB">576</hard_limit>
    <soft_limit unit="MiB">512</soft_limit>' 'fill=10'
    out=$(mtx define "$MT/capped.xml" 2>&1)
    dump=$(mtx dumpxml capped 2>&1)
    check memtune-define-and-dumpxml 'grep -q "<hard_limit unit=\"MiB\">576</hard_limit>" <<<"$dump" && grep -q "<soft_limit unit=\"MiB\">512</soft_limit>" <<<"$dump"' "$out; $dump"
    uuid=$(mtx --json info capped | jq -r .uuid)
    cg=$MT_BASE/xeno-$uuid
    if kvm_case memtune-cgroup-holds-limit; then
        out=$(mtx start capped 2>&1)
        pid=$(mtx --json info capped | jq -r .pid)
        if [ "$MT_V" = 2 ]; then lim=$(cat "$cg/memory.max" 2>&1); else lim=$(cat "$cg/memory.limit_in_bytes" 2>&1); fi
        procs=$(cat "$cg/cgroup.procs" 2>&1)
        info=$(mtx info capped 2>&1)
        eff=$(mtx --json info capped | jq -r .memtune.effective_hard_limit_bytes)
        check memtune-cgroup-holds-limit '[ "$lim" = $((576 << 20)) ] && grep -qx "$pid" <<<"$procs" && [ "$eff" = $((576 << 20)) ] && grep -q "^Memory limits: *hard 576 MiB, soft 512 MiB" <<<"$info" && grep -q "^Memory cgroup: *$cg" <<<"$info"' "start: $out; cgroup $cg: limit $lim, procs $procs; eff $eff; $info"
        mtx destroy capped >/dev/null 2>&1
        wait_until 10 sh -c "! [ -d '$cg' ]"
        check memtune-cgroup-removed-at-stop '! [ -d "$cg" ]' "$(ls "$cg" 2>&1 | head -3)"
    fi
    # A guest that touches more memory than its cgroup allows is killed by the kernel and
    # xenod says why. Admission keeps a defined hard limit above <memory> + 32 MiB, so a guest
    # cannot outgrow one by itself (a release monitor needs less than that): the test, as
    # root, lowers the started (paused) domain's cgroup limit to 96 MiB, as an operator
    # could, then lets its guest fill 90% of its 256 MiB (memfill fill=90).
    mt_xml "$MT/hog.xml" hog 256 '    <hard_limit unit="MiB">288</hard_limit>' 'fill=90'
    out=$(mtx define "$MT/hog.xml" 2>&1)
    if kvm_case memtune-over-limit-killed; then
        huuid=$(mtx --json info hog | jq -r .uuid)
        out=$(mtx start --paused hog 2>&1)
        if [ "$MT_V" = 2 ]; then f=memory.max; else f=memory.limit_in_bytes; fi
        low=$( (echo $((96 << 20)) >"$MT_BASE/xeno-$huuid/$f") 2>&1)
        out="$out; lowered: $low $(cat "$MT_BASE/xeno-$huuid/$f" 2>&1)"
        mtx unpause hog >/dev/null 2>&1
        wait_until 60 sh -c "timeout 10 '$MT_XENCTL' events hog 2>/dev/null | grep -q memory-limit"
        ev=$(mtx events hog 2>&1)
        st=$(mtx --json info hog | jq -r .state)
        check memtune-over-limit-killed 'grep -q "memory-limit.*the kernel.s OOM killer ended the monitor (pid [0-9]*): its memory cgroup reached its hard limit of 100663296 bytes" <<<"$ev" && grep -q "monitor-died" <<<"$ev" && [ "$st" != running ] && ! [ -d "$MT_BASE/xeno-$huuid" ]' "start: $out; state $st; events: $ev; $(tail -3 "$MT"/state/run/*/vmm.log 2>/dev/null)"
        mtx destroy hog >/dev/null 2>&1
    fi
fi
kill "$MT_XPID" 2>/dev/null
wait "$MT_XPID" 2>/dev/null
