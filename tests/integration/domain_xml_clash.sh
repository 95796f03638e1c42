# Define-time clashes (docs/domain-xml.md, "Clashes"): a UUID, a name or an interface MAC that
# a defined domain already has is refused naming that domain and the field that clashed, and
# the check is atomic with the insert: of 20 concurrent `xenctl define`s of files with the same
# MAC (or the same name) exactly one gets in. Defines only: no KVM needed.

CL_XENOD=$BUILD_DIR/bin/xenod
CL_XENCTL=$BUILD_DIR/bin/xenctl
CL=$TMP/cl
mkdir -p "$CL"
export XENOD_SOCKET=$CL/xenod.sock
clx() { timeout -k 5 60 "$CL_XENCTL" "$@"; }
cl_up() { [ -S "$XENOD_SOCKET" ] && curl -s --unix-socket "$XENOD_SOCKET" http://x/v1/host >/dev/null; }
# cl_xml FILE NAME MAC [UUID]
cl_xml() {
    {
        printf '<domain type="kvm">\n  <name>%s</name>\n' "$2"
        [ -z "${4:-}" ] || printf '  <uuid>%s</uuid>\n' "$4"
        printf '  <memory unit="MiB">64</memory>\n  <vcpu>1</vcpu>\n'
        printf '  <os><kernel>%s</kernel></os>\n' "$PWD/$GUEST/spin.elf"
        printf '  <devices>\n    <interface type="vhostuser">\n'
        [ -z "$3" ] || printf '      <mac address="%s"/>\n' "$3"
        printf '      <model type="virtio"/>\n    </interface>\n  </devices>\n'
        printf '  <metadata><xeno:sponsor xmlns:xeno="urn:xenoserver:domain:1">tests</xeno:sponsor></metadata>\n'
        printf '</domain>\n'
    } >"$1"
}
"$CL_XENOD" --state-dir "$CL/state" --socket "$XENOD_SOCKET" >>"$CL/xenod.log" 2>&1 &
CL_XPID=$!
if ! wait_until 10 cl_up; then
    fail clash-xenod-starts "xenod did not come up: $(log_tail "$CL/xenod.log")"
    kill "$CL_XPID" 2>/dev/null
    return 0 2>/dev/null || exit 0
fi

# One at a time: each field's message names the domain that has it.
cl_xml "$CL/first.xml" first 52:54:00:aa:00:01 11111111-2222-3333-4444-555555555555
out=$(clx define "$CL/first.xml" 2>&1)
check clash-first-defined 'clx info first >/dev/null 2>&1' "$out"
cl_xml "$CL/mac.xml" other 52:54:00:AA:00:01
out=$(clx define "$CL/mac.xml" 2>&1)
check clash-mac-names-domain '! clx info other >/dev/null 2>&1 && grep -q "mac.xml: <mac>: address 52:54:00:aa:00:01 is already that of domain .first. (UUID 11111111-2222-3333-4444-555555555555): the MAC clashes" <<<"$out"' "$out"
cl_xml "$CL/uuid.xml" third 52:54:00:aa:00:03 11111111-2222-3333-4444-555555555555
out=$(clx define "$CL/uuid.xml" 2>&1)
check clash-uuid-names-domain '! clx info third >/dev/null 2>&1 && grep -q "UUID 11111111-2222-3333-4444-555555555555 is already domain .first.: the UUID of .third. clashes" <<<"$out"' "$out"
cl_xml "$CL/name.xml" first 52:54:00:aa:00:04
out=$(clx define "$CL/name.xml" 2>&1)
check clash-name-names-domain 'grep -q "domain .first. already exists with UUID 11111111-2222-3333-4444-555555555555: the name clashes" <<<"$out"' "$out"
# A redefinition of the same domain keeps its own MAC (it is not a clash with itself).
printf '#!/bin/sh\nsed -i "s|<vcpu\\([^>]*\\)>1</vcpu>|<vcpu\\\\1>2</vcpu>|" "$1"\n' >"$CL/ed-vcpu.sh"
chmod +x "$CL/ed-vcpu.sh"
out=$(EDITOR="$CL/ed-vcpu.sh" clx edit first </dev/null 2>&1)
check clash-redefine-keeps-own-mac '[ "$(clx --json info first | jq .vcpus)" = 2 ]' "$out"
cl_xml "$CL/gen.xml" gen ''
out=$(clx define "$CL/gen.xml" 2>&1)
check clash-generated-mac-defined 'clx dumpxml gen | grep -q "<mac address=\"52:54:00:"' "$out"

# Concurrent: 20 defines with the same MAC and different names; 20 with the same name.
cl_race() { # PREFIX SAME-NAME? : defines 20 files at once, prints how many succeeded
    local i pids=()
    for i in $(seq 1 20); do
        if [ "$2" = name ]; then cl_xml "$CL/$1$i.xml" "$1" "52:54:00:bb:$(printf %02x "$i"):01"; else cl_xml "$CL/$1$i.xml" "$1$i" 52:54:00:cc:00:01; fi
        (clx define "$CL/$1$i.xml" >"$CL/$1$i.out" 2>&1 && touch "$CL/$1$i.ok") &
        pids+=($!)
    done
    wait "${pids[@]}"
    ls "$CL"/"$1"*.ok 2>/dev/null | wc -l
}
n=$(cl_race racemac mac)
defined=$(clx list 2>/dev/null | grep -c racemac)
check clash-concurrent-mac-one-wins '[ "$n" = 1 ] && [ "$defined" = 1 ] && [ "$(grep -l "the MAC clashes" "$CL"/racemac*.out | wc -l)" = 19 ]' "succeeded $n, defined $defined: $(cat "$CL"/racemac*.out | sort | uniq -c | head -5 | tr '\n' ' ')"
n=$(cl_race racename name)
defined=$(clx list 2>/dev/null | grep -c racename)
check clash-concurrent-name-one-wins '[ "$n" = 1 ] && [ "$defined" = 1 ] && [ "$(grep -l "the name clashes" "$CL"/racename*.out | wc -l)" = 19 ]' "succeeded $n, defined $defined: $(cat "$CL"/racename*.out | sort | uniq -c | head -5 | tr '\n' ' ')"

kill "$CL_XPID" 2>/dev/null
wait "$CL_XPID" 2>/dev/null
