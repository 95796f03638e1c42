# libvirt domain XML through xenod and xenctl (docs/domain-xml.md, "Compatibility policy"):
# a typical direct-kernel-boot file is defined as it is, with its warnings listed; a disk-boot
# file is refused in one round with every reason; the API answers with "errors"/"warnings";
# clashing names and UUIDs say which clashed and with what. Defines only: nothing boots, so no
# KVM is needed.

XENOD=$BUILD_DIR/bin/xenod
XENCTL=$BUILD_DIR/bin/xenctl
LV=tests/data/xml/libvirt
D=$TMP/dx
mkdir -p "$D"
export XENOD_SOCKET=$D/xenod.sock
xenod_up() { [ -S "$XENOD_SOCKET" ] && curl -s --unix-socket "$XENOD_SOCKET" http://x/v1/host >/dev/null; }
xc() { timeout -k 5 60 "$XENCTL" "$@"; }
"$XENOD" --state-dir "$D/state" --socket "$XENOD_SOCKET" >>"$D/xenod.log" 2>&1 &
XPID=$!
if ! wait_until 10 xenod_up; then
    fail dxml-xenod-starts "xenod did not come up: $(log_tail "$D/xenod.log")"
    kill "$XPID" 2>/dev/null
    return 0 2>/dev/null || exit 0
fi

# The typical guest: defined, the warnings on stderr (count first, one per line, in line order).
xc define "$LV/direct-kernel-boot.xml" >"$D/ok.out" 2>"$D/ok.err"
rc=$?
nwarn=$(grep -c '^warning: ' "$D/ok.err")
check dxml-direct-kernel-defined '[ $rc = 0 ] && grep -q "^Domain web1 defined" "$D/ok.out"' "exit $rc: $(cat "$D/ok.out" "$D/ok.err")"
check dxml-direct-kernel-warnings '[ "$(head -1 "$D/ok.err")" = "13 warnings (accepted and ignored):" ] && [ "$nwarn" = 13 ] && grep -q "^warning: .*direct-kernel-boot.xml:15: <type>: ignored: attribute machine=" "$D/ok.err"' "$(cat "$D/ok.err")"
lines=$(grep '^warning: ' "$D/ok.err" | sed 's/.*\.xml:\([0-9]*\):.*/\1/' | tr '\n' ' ')
check dxml-warnings-in-line-order '[ "$lines" = "$(tr " " "\n" <<<"$lines" | sed "/^$/d" | sort -n | tr "\n" " ")" ]' "lines: $lines"

# The disk-boot guest: refused at once, every reason.
xc define "$LV/disk-boot.xml" >"$D/bad.out" 2>"$D/bad.err"
rc=$?
check dxml-disk-boot-refused-once '[ $rc = 1 ] && [ "$(head -1 "$D/bad.err")" = "14 problems (8 refused, 6 warnings):" ] && [ "$(grep -c "^error: " "$D/bad.err")" = 8 ] && grep -q "<boot>: not supported: XenoServer boots a kernel directly: add <kernel>" "$D/bad.err" && grep -q "<driver>: type .qcow2. is not served; convert it with .xenctl disk convert" "$D/bad.err" && grep -q "<graphics>: not supported" "$D/bad.err"' "exit $rc: $(cat "$D/bad.err")"
check dxml-disk-boot-not-stored '! xc info db1 >/dev/null 2>&1'

# The API: JSON arrays with line, element and message.
body=$(jq -n --rawfile x "$LV/disk-boot.xml" '{xml: $x, start: false, persistent: true}')
ans=$(curl -s --unix-socket "$XENOD_SOCKET" -H 'Content-Type: application/json' -d "$body" -w '\n%{http_code}' http://x/v1/domains)
check dxml-api-errors-json '[ "$(tail -1 <<<"$ans")" = 400 ] && head -n -1 <<<"$ans" | jqe ".errors | length == 8 and (.[0].line == 7) and (.[0].element == \"os\")" >/dev/null && head -n -1 <<<"$ans" | jqe ".warnings | length == 6" >/dev/null' "$ans"
# Accepted with warnings: 201, the domain, and its warnings (no path: the kernel's is absolute).
sed 's|\.\./\.\./\.\./\.\./build|'"$PWD"'/build|' "$LV/warned-host-details.xml" >"$D/warned.xml"
body=$(jq -n --rawfile x "$D/warned.xml" '{xml: $x, start: false, persistent: true}')
ans=$(curl -s --unix-socket "$XENOD_SOCKET" -H 'Content-Type: application/json' -d "$body" -w '\n%{http_code}' http://x/v1/domains)
check dxml-api-warnings-json '[ "$(tail -1 <<<"$ans")" = 201 ] && head -n -1 <<<"$ans" | jqe ".name == \"warned\" and (.errors | length == 0) and (.warnings | length == 17) and .warnings[0].line == 1 and .warnings[16].element == \"seclabel\"" >/dev/null' "$ans"

# Clashes name the existing domain and which part clashed.
out=$(xc define "$LV/direct-kernel-boot.xml" 2>&1)
check dxml-duplicate-both 'grep -q "domain .web1. is already defined with UUID 6f1c2a9e-3b4d-4c5e-8f70-1a2b3c4d5e6f" <<<"$out"' "$out"
sed 's|<name>web1</name>|<name>web2</name>|; s|\.\./\.\./\.\./\.\./build|'"$PWD"'/build|' "$LV/direct-kernel-boot.xml" >"$D/same-uuid.xml"
out=$(xc define "$D/same-uuid.xml" 2>&1)
check dxml-duplicate-uuid 'grep -q "UUID 6f1c2a9e-3b4d-4c5e-8f70-1a2b3c4d5e6f is already domain .web1.: the UUID of .web2. clashes" <<<"$out"' "$out"
sed 's|<uuid>.*</uuid>||; s|\.\./\.\./\.\./\.\./build|'"$PWD"'/build|' "$LV/direct-kernel-boot.xml" >"$D/same-name.xml"
out=$(xc define "$D/same-name.xml" 2>&1)
check dxml-duplicate-name 'grep -q "domain .web1. already exists with UUID 6f1c2a9e-3b4d-4c5e-8f70-1a2b3c4d5e6f: the name clashes" <<<"$out"' "$out"

# Over the API's limit: the message names it.
head -c 2300000 /dev/zero | tr '\0' 'a' >"$D/big.txt"
code=$(curl -s --unix-socket "$XENOD_SOCKET" -H 'Content-Type: application/json' --data-binary @"$D/big.txt" -o "$D/big.ans" -w '%{http_code}' http://x/v1/domains)
check dxml-api-size-limit '[ "$code" = 413 ] && jqe ".error | test(\"limit of 2 MiB and 64 KiB.*1 MiB\")" <"$D/big.ans" >/dev/null' "$code $(cat "$D/big.ans")"

kill "$XPID" 2>/dev/null
wait "$XPID" 2>/dev/null
