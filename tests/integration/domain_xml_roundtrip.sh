# Round trip through xenod (docs/domain-xml.md, "Round trip"): for EVERY example, define ->
# dumpxml -> undefine -> define the dump gives the same domain (info and a second dump equal,
# byte for byte), and GET /v1/domains/{ref}/xml answers the same text. `xenctl edit` with
# EDITOR a sed script redefines a shut-off domain, refuses a bad edit listing every problem
# with nothing changed and the edit kept, refuses another UUID, and renames. Defines only: no
# KVM needed (the refusal while a domain runs is in xenod's reg_redefine, checked by boot tests
# where KVM is; see docs/domain-xml.md).

XENOD=$BUILD_DIR/bin/xenod
XENCTL=$BUILD_DIR/bin/xenctl
D=$TMP/rt
mkdir -p "$D"
export XENOD_SOCKET=$D/xenod.sock
xenod_up() { [ -S "$XENOD_SOCKET" ] && curl -s --unix-socket "$XENOD_SOCKET" http://x/v1/host >/dev/null; }
xc() { timeout -k 5 60 "$XENCTL" "$@"; }
"$XENOD" --state-dir "$D/state" --socket "$XENOD_SOCKET" >>"$D/xenod.log" 2>&1 &
XPID=$!
if ! wait_until 10 xenod_up; then
    fail dxml-rt-xenod-starts "xenod did not come up: $(log_tail "$D/xenod.log")"
    kill "$XPID" 2>/dev/null
    return 0 2>/dev/null || exit 0
fi

# What must not change: the domain's details less what is only about its life here.
info() { xc --json info "$1" | jq -S 'del(.id, .state, .created, .started_at, .events, .cpu_time_ns, .time_s)'; }

bad=""
n=0
for x in examples/*.xml; do
    name=$(basename "$x" .xml)
    n=$((n + 1))
    if ! xc define "$x" >/dev/null 2>"$D/$name.err"; then bad="$bad $name(define: $(head -1 "$D/$name.err"))"; continue; fi
    xc dumpxml "$name" >"$D/$name.1.xml" && info "$name" >"$D/$name.1.info"
    curl -s --unix-socket "$XENOD_SOCKET" http://x/v1/domains/"$name"/xml >"$D/$name.api.xml"
    cmp -s "$D/$name.1.xml" "$D/$name.api.xml" || bad="$bad $name(API and xenctl differ)"
    xc undefine "$name" >/dev/null
    if ! xc define "$D/$name.1.xml" >/dev/null 2>"$D/$name.err2"; then bad="$bad $name(define dump: $(head -1 "$D/$name.err2"))"; continue; fi
    xc dumpxml "$name" >"$D/$name.2.xml" && info "$name" >"$D/$name.2.info"
    cmp -s "$D/$name.1.xml" "$D/$name.2.xml" || bad="$bad $name(second dump differs)"
    cmp -s "$D/$name.1.info" "$D/$name.2.info" || bad="$bad $name(info differs: $(diff "$D/$name.1.info" "$D/$name.2.info" | head -3 | tr '\n' ' '))"
    xc undefine "$name" >/dev/null
done
check dxml-rt-every-example '[ $n -ge 10 ] && [ -z "$bad" ]' "$n examples;$bad"
check dxml-rt-fills-defaults 'grep -q "<uuid>" "$D/hello.1.xml" && grep -q "<currentMemory unit=\"KiB\">65536</currentMemory>" "$D/hello.1.xml" && grep -q "<kernel>/.*/build/guest/hello.elf</kernel>" "$D/hello.1.xml" && grep -q "<xeno:sponsor" "$D/hello.1.xml"' "$(cat "$D/hello.1.xml")"

# edit: EDITOR is a sed script that changes the vCPU count.
xc define examples/hello.xml >/dev/null
printf '#!/bin/sh\nsed -i "s|<vcpu\\([^>]*\\)>1</vcpu>|<vcpu\\\\1>2</vcpu>|" "$1"\n' >"$D/ed-vcpu.sh"
printf '#!/bin/sh\nsed -i "s|<memory\\([^>]*\\)>[0-9]*</memory>|<memory\\\\1>3</memory>|; s|</os>|<boot dev=\\"hd\\"/><loader>/x</loader></os>|" "$1"\n' >"$D/ed-bad.sh"
printf '#!/bin/sh\ntrue\n' >"$D/ed-none.sh"
chmod +x "$D"/ed-*.sh
before=$(xc dumpxml hello)
out=$(EDITOR="$D/ed-vcpu.sh" xc edit hello </dev/null 2>&1)
rc=$?
check dxml-edit-redefines '[ $rc = 0 ] && grep -q "Domain hello XML configuration edited" <<<"$out" && [ "$(xc --json info hello | jq .vcpus)" = 2 ]' "exit $rc: $out; $(xc --json info hello)"
out=$(EDITOR="$D/ed-none.sh" xc edit hello </dev/null 2>&1)
check dxml-edit-unchanged 'grep -q "XML configuration not changed" <<<"$out"' "$out"
before=$(xc dumpxml hello)
out=$(EDITOR="$D/ed-bad.sh" TMPDIR=$D xc edit hello </dev/null 2>&1)
rc=$?
kept=$(sed -n 's/.*your edit is kept in \(.*\)$/\1/p' <<<"$out")
check dxml-edit-refused-every-problem '[ $rc = 1 ] && grep -q "^3 problems (2 refused, 1 warning):" <<<"$out" && grep -q "<memory>" <<<"$out" && grep -q "<loader>" <<<"$out" && grep -q "<boot>" <<<"$out"' "exit $rc: $out"
check dxml-edit-refused-nothing-changed '[ "$(xc dumpxml hello)" = "$before" ]' "$(xc dumpxml hello)"
check dxml-edit-refused-nothing-lost '[ -n "$kept" ] && grep -q "<loader>/x</loader>" "$kept"' "$out"
# Another UUID is another domain: refused.
printf '#!/bin/sh\nsed -i "s|<uuid>.*</uuid>|<uuid>0b7e0c4e-1111-4222-8333-944455556666</uuid>|" "$1"\n' >"$D/ed-uuid.sh"
chmod +x "$D/ed-uuid.sh"
out=$(EDITOR="$D/ed-uuid.sh" TMPDIR=$D xc edit hello </dev/null 2>&1)
check dxml-edit-keeps-uuid 'grep -q "is not the UUID of domain .hello." <<<"$out" && [ "$(xc dumpxml hello)" = "$before" ]' "$out"
# A renaming edit: the new name, the same UUID, the old name gone.
uuid=$(xc --json info hello | jq -r .uuid)
printf '#!/bin/sh\nsed -i "s|<name>hello</name>|<name>hello2</name>|" "$1"\n' >"$D/ed-name.sh"
chmod +x "$D/ed-name.sh"
out=$(EDITOR="$D/ed-name.sh" xc edit hello </dev/null 2>&1)
check dxml-edit-renames '[ "$(xc --json info hello2 | jq -r .uuid)" = "$uuid" ] && ! xc info hello >/dev/null 2>&1 && xc events hello2 | grep -q redefined' "$out"

# The API: PUT needs the XML.
ans=$(curl -s --unix-socket "$XENOD_SOCKET" -X PUT -H 'Content-Type: application/json' -d '{}' -w '\n%{http_code}' http://x/v1/domains/hello2/xml)
check dxml-api-put-needs-xml '[ "$(tail -1 <<<"$ans")" = 400 ] && grep -q "body needs" <<<"$ans"' "$ans"

kill "$XPID" 2>/dev/null
wait "$XPID" 2>/dev/null
