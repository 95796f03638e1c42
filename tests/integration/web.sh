# The web console (docs/web.md) in a real browser: xenod over HTTPS with a test CA that
# Chromium trusts (its own NSS database in a HOME of the test's), the page served from web/,
# Debian's chromium driven by tests/browser/web.mjs (puppeteer-core, installed by
# scripts/install-deps.sh with npm ci). The script prints the browser checks; this file adds
# the static-file checks curl can make, and stops every process it started.

XENOD=$BUILD_DIR/bin/xenod
XENCTL=$BUILD_DIR/bin/xenctl
WT=$TMP/web
mkdir -p "$WT/state" "$WT/pki" "$WT/home/.pki/nssdb"
SOCK=$WT/xenod.sock
PORT=$((TEST_PORT_BASE + 1))
BASE=https://localhost:$PORT
ART=${ARTIFACTS:-build/test-artifacts}
XPID= CPID=

stop_all() {
    # The domains first (monitors outlive xenod), then the browser's process group, then xenod.
    if [ -n "$XPID" ] && kill -0 "$XPID" 2>/dev/null; then
        for d in web1 b1; do timeout 20 "$XENCTL" --socket "$SOCK" destroy "$d" >/dev/null 2>&1; done
    fi
    CPID=$(cat "$WT/chromium.pid" 2>/dev/null)
    [ -n "$CPID" ] && kill -KILL -- "-$CPID" 2>/dev/null
    [ -n "$XPID" ] && kill "$XPID" 2>/dev/null && wait_until 10 gone "$XPID"
    [ -n "$XPID" ] && kill -KILL "$XPID" 2>/dev/null
    test_file_exit
}
trap stop_all EXIT

pki() {
    local d=$WT/pki
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 -subj /CN=xeno-web-test-ca \
        -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign \
        -keyout "$d/ca.key" -out "$d/ca.pem" &&
        openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -subj /CN=localhost \
            -keyout "$d/server.key" -out "$d/server.csr" &&
        printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n' >"$d/ext" &&
        openssl x509 -req -in "$d/server.csr" -CA "$d/ca.pem" -CAkey "$d/ca.key" -CAcreateserial -days 2 \
            -extfile "$d/ext" -out "$d/server.pem" &&
        certutil -N -d "sql:$WT/home/.pki/nssdb" --empty-password &&
        certutil -A -d "sql:$WT/home/.pki/nssdb" -n xeno-web-test-ca -t C,, -i "$d/ca.pem"
} >"$WT/pki.log" 2>&1

uapi() { # METHOD PATH [BODY]: over the unix socket (the operator); the body
    curl -s --unix-socket "$SOCK" -X "$1" ${3:+-H 'Content-Type: application/json' -d "$3"} "http://xenod/v1$2"
}
token() { # SPONSOR|'': the secret of a new token
    uapi POST /tokens "$(jq -cn --arg s "$1" 'if $s == "" then {} else {sponsor: $s} end')" | jq -r .secret
}
xenod_up() { [ -S "$SOCK" ] && curl -s --unix-socket "$SOCK" http://x/v1/domains >/dev/null; }
# get PATH: status and headers of GET PATH over HTTPS with the test CA, no token
get() { curl -s -m 10 --cacert "$WT/pki/ca.pem" -D - -o "$WT/body" "$BASE$1"; }
status_of() { get "$1" | head -1 | awk '{print $2}'; }

# xenod serves a copy of web/ with links in it, which it must never follow.
cp -r web "$WT/web" && ln -s /etc/hostname "$WT/web/host.txt" && ln -s vendor "$WT/web/linked"
if ! pki; then
    fail web_pki "openssl or certutil could not make the test CA: $(log_tail "$WT/pki.log")"
    return 0 2>/dev/null || exit 0
fi

"$XENOD" --state-dir "$WT/state" --socket "$SOCK" --listen "127.0.0.1:$PORT" --tls-cert "$WT/pki/server.pem" \
    --tls-key "$WT/pki/server.key" --web-dir "$WT/web" --sample-interval 1s >>"$WT/xenod.log" 2>&1 &
XPID=$!
check_context() { printf ' | xenod: %s' "$(log_tail "$WT/xenod.log")"; }
check web_xenod_up 'wait_until 10 xenod_up'

# ---- the files, as curl sees them ----
get / >"$WT/h_index"
check web_index_200_html 'head -1 "$WT/h_index" | grep -q " 200" && grep -qi "^content-type: text/html" "$WT/h_index" && grep -q "<title>XenoServer" "$WT/body"' "$(cat "$WT/h_index")"
check web_index_csp "grep -qi \"^content-security-policy: default-src 'none'; script-src 'self'; style-src 'self'\" \"\$WT/h_index\" && grep -qi 'frame-ancestors .none.' \"\$WT/h_index\"" "$(cat "$WT/h_index")"
check web_index_headers 'grep -qi "^x-content-type-options: nosniff" "$WT/h_index" && grep -qi "^referrer-policy: no-referrer" "$WT/h_index" && grep -qi "^x-frame-options: deny" "$WT/h_index"'
get /web/app.js >"$WT/h_js"
check web_js_type 'grep -qi "^content-type: text/javascript" "$WT/h_js" && cmp -s "$WT/body" web/app.js'
check web_vendor_xterm 'cmp -s <(curl -s -m 10 --cacert "$WT/pki/ca.pem" "$BASE/web/vendor/xterm/xterm.js") web/vendor/xterm/xterm.js'
check web_dotdot_404 '[ "$(curl -s -m 10 --cacert "$WT/pki/ca.pem" --path-as-is -o /dev/null -w "%{http_code}" "$BASE/web/../README.md")" = 404 ]'
check web_encoded_dotdot_404 '[ "$(curl -s -m 10 --cacert "$WT/pki/ca.pem" --path-as-is -o /dev/null -w "%{http_code}" "$BASE/web/%2e%2e/Makefile.js")" = 404 ]'
check web_unknown_type_404 '[ "$(status_of /web/vendor/README.md)" = 404 ]'
check web_file_link_not_followed '[ "$(status_of /web/host.txt)" = 404 ]'
check web_dir_link_not_followed '[ "$(status_of /web/linked/xterm/xterm.css)" = 404 ] && [ "$(status_of /web/vendor/xterm/xterm.css)" = 200 ]'
check web_post_405 '[ "$(curl -s -m 10 --cacert "$WT/pki/ca.pem" -X POST -o /dev/null -w "%{http_code}" "$BASE/")" = 405 ]'
check web_api_still_needs_token '[ "$(curl -s -m 10 --cacert "$WT/pki/ca.pem" -o /dev/null -w "%{http_code}" "$BASE/v1/domains")" = 401 ]'

# ---- the browser ----
if ! have_kvm; then
    skip web_browser "no usable /dev/kvm on this machine: the browser test needs a running domain"
elif ! [ -x /usr/bin/chromium ] || ! [ -d tests/browser/node_modules/puppeteer-core ]; then
    fail web_browser "no /usr/bin/chromium or tests/browser/node_modules: run scripts/install-deps.sh as root"
else
    OP=$(token '')
    ALICE=$(token alice)
    kernel=$(realpath "$GUEST/demo.elf")
    for d in "web1 alice" "b1 bob"; do
        set -- $d
        cat >"$WT/$1.xml" <<EOF
<domain type="kvm">
  <name>$1</name>
  <memory unit="MiB">64</memory>
  <vcpu>1</vcpu>
  <os><type>hvm</type><kernel>$kernel</kernel></os>
  <metadata><xeno:sponsor xmlns:xeno="urn:xenoserver:domain:1">$2</xeno:sponsor></metadata>
</domain>
EOF
    done
    # Misspelt <vcpu> on line 5: refused, with the nearest name, at its line.
    printf '<domain type="kvm">\n  <name>bad</name>\n  <memory unit="MiB">64</memory>\n  <os><type>hvm</type><kernel>%s</kernel></os>\n  <vcpus>1</vcpus>\n</domain>\n' \
        "$kernel" >"$WT/bad.xml"
    "$XENCTL" --socket "$SOCK" define "$WT/b1.xml" >"$WT/b1.out" 2>&1
    RC=$?
    check web_bob_domain_defined '[ $RC = 0 ]' "$(cat "$WT/b1.out")"
    XENO_URL=$BASE XENO_CA=$WT/pki/ca.pem XENO_HOME=$WT/home XENO_TOK_OPERATOR=$OP XENO_TOK_ALICE=$ALICE \
        XENOCTL="$XENCTL --socket $SOCK" XENO_XML=$WT/web1.xml XENO_BADXML=$WT/bad.xml XENO_OTHER=b1 XENO_ARTIFACTS=$ART \
        XENO_PIDFILE=$WT/chromium.pid timeout -k 5 260 node tests/browser/web.mjs >"$WT/browser.out" 2>"$WT/browser.err"
    RC=$?
    n=0
    while IFS= read -r line; do
        case $line in
        'PASS '*) pass "${line#PASS }" ;;
        'FAIL '*)
            line=${line#FAIL }
            fail "${line%%: *}" "${line#*: }"
            ;;
        *) continue ;;
        esac
        n=$((n + 1))
    done <"$WT/browser.out"
    grep '^#' "$WT/browser.out"
    check web_browser_ran '[ "$RC" = 0 ] && [ "$n" -ge 18 ]' "node exited $RC after $n checks: $(log_tail "$WT/browser.err")"
fi
