# API parity (docs/api.md "Parity"): docs/openapi.yaml is the one description of the API.
# Every route of xenod's table (`xenod --list-routes`) is an operation there and the other way
# round; every route a xenctl verb uses (`xenctl --list-routes`, src/ctl/verb_routes.c) is
# there; every "/v1/..." string of the web page (web/) names a documented path. No KVM, no
# daemon: scripts/api_parity.py reads the tables from the real programs and the OpenAPI file
# with PyYAML. Then the checker is shown to fail on drift: a route taken out of (and one added
# to) a copy of the OpenAPI file, and a page that requests an undocumented path.

XENOD=$BUILD_DIR/bin/xenod
XENCTL=$BUILD_DIR/bin/xenctl
OPENAPI=docs/openapi.yaml
# The first python3 with a yaml module: Debian's (python3-yaml, scripts/install-deps.sh) when
# another python3 (pyenv, a venv) comes first on PATH without one.
PY=
for p in python3 /usr/bin/python3; do
    if "$p" -c 'import yaml' 2>/dev/null; then
        PY=$p
        break
    fi
done
PARITY="$PY scripts/api_parity.py"
PT=$TMP/parity
mkdir -p "$PT"

if [ -z "$PY" ]; then
    fail api_parity_yaml "no python3 with a yaml module: scripts/install-deps.sh installs python3-yaml"
    return 0 2>/dev/null || exit 0
fi

# parity NAME WHAT ARGS...: one check, the checker's lines as its message.
parity() {
    local name=$1
    shift
    if $PARITY "$@" >"$PT/$name.out" 2>&1; then
        pass "$name"
        sed 's/^/    /' "$PT/$name.out"
    else
        fail "$name" "$(tr '\n' '|' <"$PT/$name.out" | tail -c 1500)"
    fi
}
parity api_parity_routes routes --xenod "$XENOD" --openapi "$OPENAPI"
parity api_parity_verbs verbs --xenctl "$XENCTL" --openapi "$OPENAPI"
if [ -d web ]; then
    parity api_parity_web web --web web --openapi "$OPENAPI"
else
    # Passes vacuously, and says so: there is no web page in this tree yet.
    parity api_parity_web_absent web --web web --openapi "$OPENAPI"
fi

# ---- the checker fails on drift ----
# A documented route removed, and an undocumented one added, each in a copy of the file.
"$PY" - "$OPENAPI" "$PT" <<'PY'
import sys, yaml
doc = yaml.safe_load(open(sys.argv[1]))
del doc["paths"]["/v1/domains/{ref}/pause"]["post"]
yaml.safe_dump(doc, open(sys.argv[2] + "/missing.yaml", "w"))
doc = yaml.safe_load(open(sys.argv[1]))
doc["paths"]["/v1/domains/{ref}/frobnicate"] = {"post": {"responses": {"200": {"description": "x"}}}}
doc["paths"]["/v1/domains/{ref}/sched"].pop("parameters")
yaml.safe_dump(doc, open(sys.argv[2] + "/extra.yaml", "w"))
PY
$PARITY routes --xenod "$XENOD" --openapi "$PT/missing.yaml" >"$PT/missing.out" 2>&1
RC=$?
check api_parity_detects_undocumented_route '[ $RC = 1 ] && grep -q "POST /v1/domains/{ref}/pause: served by xenod, missing" "$PT/missing.out"' "$(cat "$PT/missing.out")"
$PARITY verbs --xenctl "$XENCTL" --openapi "$PT/missing.yaml" >"$PT/missing_verbs.out" 2>&1
RC=$?
check api_parity_detects_verb_without_route '[ $RC = 1 ] && grep -q "xenctl pause: POST /v1/domains/{ref}/pause is not in" "$PT/missing_verbs.out"' "$(cat "$PT/missing_verbs.out")"
$PARITY routes --xenod "$XENOD" --openapi "$PT/extra.yaml" >"$PT/extra.out" 2>&1
RC=$?
check api_parity_detects_unserved_route '[ $RC = 1 ] && grep -q "POST /v1/domains/{ref}/frobnicate: in .*, but xenod has no such route" "$PT/extra.out"' "$(cat "$PT/extra.out")"
check api_parity_detects_undeclared_parameter 'grep -q "GET /v1/domains/{ref}/sched: path parameters declared \[\], the pattern has \[.ref.\]" "$PT/extra.out"' "$(cat "$PT/extra.out")"

# A page that uses documented paths (literal, template, prefix) and one that does not.
mkdir -p "$PT/web/js" "$PT/badweb"
cat >"$PT/web/js/app.js" <<'JS'
const list = await api('GET', '/v1/domains');
await api('POST', `/v1/domains/${encodeURIComponent(d.name)}/pause`);
const es = new EventSource("/v1/events?follow=1");
fetch('/v1/domains/' + name + '/usage?limit=360');
const ACTIONS = { start: '/v1/domains/{ref}/start' };
const url = `wss://${location.host}${at('/v1/domains/{ref}/console', ref)}`;
JS
cat >"$PT/badweb/page.js" <<'JS'
fetch(`/v1/domains/${ref}/frobnicate`);
const ACTIONS = { boot: '/v1/domains/{ref}/boot' };
const url = `wss://${location.host}${at('/v1/consoles/{ref}', ref)}`;
JS
parity api_parity_web_good_page web --web "$PT/web" --openapi "$OPENAPI"
$PARITY web --web "$PT/badweb" --openapi "$OPENAPI" >"$PT/badweb.out" 2>&1
RC=$?
check api_parity_detects_undocumented_page_path '[ $RC = 1 ] && grep -q "page.js:1: /v1/domains/\${...}/frobnicate is not a path" "$PT/badweb.out" &&
    grep -q "page.js:2: /v1/domains/{ref}/boot is not a path" "$PT/badweb.out" &&
    grep -q "page.js:3: /v1/consoles/{ref} is not a path" "$PT/badweb.out"' "$(cat "$PT/badweb.out")"
