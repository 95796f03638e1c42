# <title> and <description> (docs/domain-xml.md): kept, shown by `xenctl info` and in the API's
# domain view, escaped: entities decoded once, JSON escaping by the API, control characters
# (here U+009B, a C1 CSI some terminals obey) shown as '?' on a terminal; the description's
# lines each on their own line. A newline in <title> is refused, as libvirt does. Defines only.

NT_XENOD=$BUILD_DIR/bin/xenod
NT_XENCTL=$BUILD_DIR/bin/xenctl
NT=$TMP/n
mkdir -p "$NT"
export XENOD_SOCKET=$NT/xenod.sock
ntx() { timeout -k 5 60 "$NT_XENCTL" "$@"; }
nt_up() { [ -S "$XENOD_SOCKET" ] && curl -s --unix-socket "$XENOD_SOCKET" http://x/v1/host >/dev/null; }
"$NT_XENOD" --state-dir "$NT/state" --socket "$XENOD_SOCKET" >>"$NT/xenod.log" 2>&1 &
NT_XPID=$!
if ! wait_until 10 nt_up; then
    fail notes-xenod-starts "xenod did not come up: $(log_tail "$NT/xenod.log")"
    kill "$NT_XPID" 2>/dev/null
    return 0 2>/dev/null || exit 0
fi
nt_xml() { # FILE NAME TITLE
    cat >"$1" <<XML
<domain type="kvm">
  <name>$2</name>
  <title>$3</title>
  <description>
    Web front end &lt;prod&gt; &amp; "friends"
	second line, tab first
  </description>
  <memory unit="MiB">64</memory>
  <os><kernel>$PWD/$GUEST/hello.elf</kernel></os>
  <metadata><xeno:sponsor xmlns:xeno="urn:xenoserver:domain:1">tests</xeno:sponsor></metadata>
</domain>
XML
}
nt_xml "$NT/web.xml" web 'Web &lt;1&gt; &amp; co &#x9b;2J'
out=$(ntx define "$NT/web.xml" 2>&1)
json=$(curl -s --unix-socket "$XENOD_SOCKET" http://x/v1/domains/web)
check notes-api-json '[ "$(jq -r .title <<<"$json")" = "Web <1> & co $(printf "\xc2\x9b")2J" ] && [ "$(jq -r .description <<<"$json")" = "$(printf "Web front end <prod> & \"friends\"\n\tsecond line, tab first")" ]' "$out; $json"
info=$(ntx info web 2>&1)
check notes-info-escaped 'grep -qx "Title:          Web <1> & co ?2J" <<<"$info" && grep -qx "Description:    Web front end <prod> & \"friends\"" <<<"$info" && grep -qx "                ?second line, tab first" <<<"$info" && ! grep -q "$(printf "\xc2\x9b")" <<<"$info"' "$info"
ntx define "$PWD/examples/hello.xml" >/dev/null 2>&1
info=$(ntx info hello 2>&1)
check notes-absent-not-shown '! grep -q "^Title:\|^Description:" <<<"$info" && [ "$(ntx --json info hello | jq -c "[.title, .description]")" = "[null,null]" ]' "$info"
printf '<domain><name>nl</name><title>a\nb</title><memory unit="MiB">64</memory><os><kernel>%s</kernel></os></domain>\n' "$PWD/$GUEST/hello.elf" >"$NT/nl.xml"
out=$(ntx define "$NT/nl.xml" 2>&1)
check notes-title-newline-refused '! ntx info nl >/dev/null 2>&1 && grep -q "nl.xml:1: <title>: text: control character" <<<"$out"' "$out"
dump=$(ntx dumpxml web)
check notes-dumpxml 'grep -q "<title>Web &lt;1&gt; &amp; co" <<<"$dump" && grep -q "second line, tab first" <<<"$dump"' "$dump"
# An <interface> without <mac> gets one (libvirt's 52:54:00 prefix), kept: dumpxml shows it,
# and a define of the dump keeps it; two domains get different ones.
for n in m1 m2; do
    printf '<domain><name>%s</name><memory unit="MiB">64</memory><os><kernel>%s</kernel></os><devices><interface type="vhostuser"><model type="virtio"/></interface></devices></domain>\n' "$n" "$PWD/$GUEST/hello.elf" >"$NT/$n.xml"
    ntx define "$NT/$n.xml" >/dev/null 2>&1
done
mac1=$(ntx dumpxml m1 2>/dev/null | grep -o '<mac address="[^"]*"/>')
mac2=$(ntx dumpxml m2 2>/dev/null | grep -o '<mac address="[^"]*"/>')
ntx dumpxml m1 >"$NT/m1.dump.xml" 2>/dev/null
ntx undefine m1 >/dev/null 2>&1
ntx define "$NT/m1.dump.xml" >/dev/null 2>&1
mac1b=$(ntx dumpxml m1 2>/dev/null | grep -o '<mac address="[^"]*"/>')
check notes-mac-generated 'grep -q "^<mac address=\"52:54:00:" <<<"$mac1" && grep -q "^<mac address=\"52:54:00:" <<<"$mac2" && [ "$mac1" != "$mac2" ] && [ "$mac1" = "$mac1b" ]' "m1 $mac1, m2 $mac2, m1 redefined $mac1b"

# A restarted xenod reads them back from the stored XML (the store's columns lack them).
kill "$NT_XPID" 2>/dev/null
wait "$NT_XPID" 2>/dev/null
"$NT_XENOD" --state-dir "$NT/state" --socket "$XENOD_SOCKET" >>"$NT/xenod.log" 2>&1 &
NT_XPID=$!
wait_until 10 nt_up
info=$(ntx info web 2>&1)
check notes-kept-across-restart 'grep -qx "Title:          Web <1> & co ?2J" <<<"$info"' "$info"
kill "$NT_XPID" 2>/dev/null
wait "$NT_XPID" 2>/dev/null
