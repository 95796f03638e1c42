# The API over TCP with TLS and tokens (docs/api.md "Authentication", "Scoping"): real xenod,
# curl as the client. The access matrix is every route of the route table (`xenod
# --list-routes`, so a new route without a row fails) x 8 principals, expected statuses in
# tests/data/api/access.tsv; then what a sponsor sees, the TLS versions and CAs, throttling.

XENOD=$BUILD_DIR/bin/xenod
AT=$TMP/api_tls
mkdir -p "$AT/state" "$AT/img" "$AT/pki"
SOCK=$AT/xenod.sock
PORT=$((20000 + RANDOM % 20000))
BASE=https://127.0.0.1:$PORT/v1
MATRIX=tests/data/api/access.tsv
XPID=

# A test CA signs the server's certificate; another CA is the wrong one.
pki() {
    local d=$AT/pki
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 -subj /CN=xeno-test-ca \
        -keyout "$d/ca.key" -out "$d/ca.pem" &&
        openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 -subj /CN=wrong-ca \
            -keyout "$d/wrong.key" -out "$d/wrong.pem" &&
        openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -subj /CN=localhost \
            -keyout "$d/server.key" -out "$d/server.csr" &&
        printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\n' >"$d/ext" &&
        openssl x509 -req -in "$d/server.csr" -CA "$d/ca.pem" -CAkey "$d/ca.key" -CAcreateserial -days 2 \
            -extfile "$d/ext" -out "$d/server.pem"
} >"$AT/pki.log" 2>&1

uapi() { # METHOD PATH [BODY]: over the unix socket (the operator); body, then status
    curl -s --unix-socket "$SOCK" -X "$1" ${3:+-H 'Content-Type: application/json' -d "$3"} \
        -w '\n%{http_code}\n' "http://xenod/v1$2"
}
# tapi TOKEN METHOD PATH [BODY] [SOURCE]: over HTTPS with the test CA; prints the status only
# (the body goes to $AT/last). SOURCE is the client's 127.x.y.z address. PATH is under /v1,
# unless it starts with "root:" (root:/metrics is /metrics).
tapi() {
    local url=$BASE$3
    [[ $3 == root:* ]] && url=${BASE%/v1}${3#root:}
    curl -s --cacert "$AT/pki/ca.pem" ${5:+--interface "$5"} -o "$AT/last" -w '%{http_code}' -X "$2" \
        ${1:+-H "Authorization: Bearer $1"} ${4:+-H 'Content-Type: application/json' -d "$4"} "$url"
}
xenod_up() { [ -S "$SOCK" ] && curl -s --unix-socket "$SOCK" http://x/v1/domains >/dev/null; }
token() { # SPONSOR|'' [read_only] [expires_s]: prints "ID SECRET"
    local body
    body=$(jq -cn --arg s "$1" --argjson r "${2:-false}" --argjson e "${3:-0}" \
        '{read_only: $r, expires_s: $e} + (if $s == "" then {} else {sponsor: $s} end)')
    uapi POST /tokens "$body" | head -1 | jq -r '"\(.id) \(.secret)"'
}
xml_of() { # NAME SPONSOR [KERNEL]
    jq -cn --arg x "<domain type='kvm'><name>$1</name><memory unit='MiB'>64</memory><os><type>hvm</type><kernel>${3:-$AT/img/k.elf}</kernel></os><metadata><xeno:sponsor xmlns:xeno='urn:xenoserver:domain:1'>$2</xeno:sponsor></metadata></domain>" \
        '{xml: $x, start: false}'
}
ensure_a1() { uapi GET /domains/a1 | tail -1 | grep -q 200 || uapi POST /domains "$(xml_of a1 alice)" >/dev/null; }

if ! pki; then
    fail api_tls_pki "openssl could not make the test certificates: $(log_tail "$AT/pki.log")"
    return 0 2>/dev/null || exit 0
fi
printf 'not a kernel\n' >"$AT/img/k.elf"
"$XENOD" --state-dir "$AT/state" --socket "$SOCK" --listen "127.0.0.1:$PORT" --tls-cert "$AT/pki/server.pem" \
    --tls-key "$AT/pki/server.key" --image-dir "$AT/img" >>"$AT/xenod.log" 2>&1 &
XPID=$!
trap 'kill "$XPID" ${SSE_PIDS[*]:-} ${SLOW:-} ${GEN:-} ${HALF_PIDS[*]:-} 2>/dev/null; test_file_exit' EXIT # never a xenod left behind, whatever stops the file
check_context() { printf ' | xenod: %s' "$(log_tail "$AT/xenod.log")"; }
check api_tls_xenod_up 'wait_until 10 xenod_up'

read -r _ OP <<<"$(token '')"
read -r _ ALICE <<<"$(token alice)"
read -r _ BOB <<<"$(token bob)"
read -r _ RO <<<"$(token alice true)"
read -r REV_ID REVOKED <<<"$(token alice)"
read -r _ EXPIRED <<<"$(token alice false 1)"
uapi DELETE "/tokens/$REV_ID" >/dev/null
GARBAGE=xeno_1_$(printf '%064d' 0)
uapi POST /domains "$(xml_of b1 bob)" >/dev/null
ensure_a1
# alice may sched (no limit cap, so the matrix's empty body passes) and save; bob may neither.
uapi PUT /sponsors/alice/policy '{"sched": {"max_reservation_percent": 50}, "save": true}' >/dev/null
sleep 1.1 # the expired token's second passes

# ---- TLS ----
check api_tls_test_ca_ok '[ "$(tapi "$OP" GET /domains)" = 200 ]'
check api_tls_plain_http_fails '! curl -s -m 5 -o /dev/null "http://127.0.0.1:$PORT/v1/domains"'
check api_tls_1_1_fails '! curl -s -m 5 --cacert "$AT/pki/ca.pem" --tlsv1.1 --tls-max 1.1 -o /dev/null "$BASE/domains"'
check api_tls_1_2_ok '[ "$(curl -s -m 5 --cacert "$AT/pki/ca.pem" --tlsv1.2 --tls-max 1.2 -o /dev/null -w "%{http_code}" -H "Authorization: Bearer $OP" "$BASE/domains")" = 200 ]'
check api_tls_wrong_ca_fails '! curl -s -m 5 --cacert "$AT/pki/wrong.pem" -o /dev/null "$BASE/domains"'

# ---- the access matrix ----
declare -A ROW=()
while IFS=$'\t' read -r m p rest; do
    [[ $m == \#* || -z $m ]] && continue
    ROW["$m $p"]=$rest
done <"$MATRIX"
mapfile -t ROUTES < <("$XENOD" --list-routes)
missing=()
for r in "${ROUTES[@]}"; do [ -n "${ROW[$r]}" ] || missing+=("$r"); done
check api_matrix_routes_read '[ "${#ROUTES[@]}" -ge 20 ]' "xenod --list-routes listed ${#ROUTES[@]} routes"
check api_matrix_every_route_has_a_row '[ "${#missing[@]}" = 0 ]' "no row in $MATRIX for: ${missing[*]}"
WHO=(operator owner other ro revoked expired none garbage)
declare -A TOK=([operator]=$OP [owner]=$ALICE [other]=$BOB [ro]=$RO [revoked]=$REVOKED [expired]=$EXPIRED [none]= [garbage]=$GARBAGE)
bad=()
src=1
for r in "${ROUTES[@]}"; do
    read -r m p <<<"$r"
    read -ra want <<<"${ROW[$r]}"
    for i in "${!WHO[@]}"; do
        w=${WHO[$i]} exp=${want[$i]}
        ensure_a1
        path=${p/\{ref\}/a1}
        path=${path/\{sponsor\}/alice}
        path=${path/\{target\}/vda} # a1 has no disk: 404 where the handler runs
        [[ $p == */tokens/\{id\} ]] && path=/v1/tokens/$(token carol | cut -d' ' -f1)
        body=
        [ "$m" = GET ] || body='{}'
        # Every principal from an address of its own: the matrix's 401s must not throttle it.
        src=$((src + 1))
        rel=${path#/v1}
        [ "$rel" = "$path" ] && rel=root:$path # a route outside /v1 (GET /metrics)
        got=$(tapi "${TOK[$w]}" "$m" "$rel" "$body" "127.0.$((src / 250)).$((src % 250 + 2))")
        if [ "$exp" = A ]; then
            [[ $got =~ ^(401|403|404|429|000)$ ]] && bad+=("$w $r: $got, want allowed ($(head -c 120 "$AT/last"))")
        elif [ "$got" != "$exp" ]; then
            bad+=("$w $r: $got, want $exp ($(head -c 120 "$AT/last"))")
        fi
    done
done
check api_matrix_cells '[ "${#bad[@]}" = 0 ]' "$(printf '%s; ' "${bad[@]:0:8}") (${#bad[@]} cells wrong)"

# ---- what a sponsor sees: no cross-sponsor read anywhere ----
ensure_a1
A1=$(uapi GET /domains/a1 | head -1 | jq -r .uuid)
tapi "$BOB" GET /domains >/dev/null
check api_scope_list_hides_others '! grep -q "\"a1\"" "$AT/last" && grep -q "\"b1\"" "$AT/last"' "bob's list: $(head -c 300 "$AT/last")"
# Filters and pages cannot widen it: bob asking for alice's domains gets none, and a page of
# one with fields that leave out the sponsor is still bob's only.
tapi "$BOB" GET "/domains?sponsor=alice" >/dev/null
check api_scope_list_filter_cannot_widen '[ "$(jq ".domains | length" "$AT/last")" = 0 ]' "bob's ?sponsor=alice: $(head -c 300 "$AT/last")"
tapi "$BOB" GET "/domains?fields=name" >/dev/null
bob_names=$(jq -r '.domains[].name' "$AT/last" | LC_ALL=C sort)
tapi "$BOB" GET "/domains?limit=1&fields=name" >/dev/null
check api_scope_list_page_own '[ "$(jq -r ".domains[].name" "$AT/last")" = "$(head -1 <<<"$bob_names")" ] &&
    [ "$(jq -r .next "$AT/last")" = "$(if [ "$(wc -l <<<"$bob_names")" -gt 1 ]; then head -1 <<<"$bob_names"; else echo null; fi)" ] &&
    grep -qx b1 <<<"$bob_names" && ! grep -qx a1 <<<"$bob_names"' "bob's first page of one: $(head -c 300 "$AT/last"); all: $bob_names"
tapi "$BOB" GET "/events?limit=1000" >/dev/null
check api_scope_events_hide_others '! grep -q "$A1" "$AT/last" && grep -q "b1" "$AT/last"' "bob's events: $(head -c 300 "$AT/last")"
check api_scope_events_of_other_404 '[ "$(tapi "$BOB" GET "/events?domain=a1")" = 404 ]'
tapi "$BOB" GET /domains/a1/console >/dev/null
n_other=$(head -c 200 "$AT/last")
tapi "$BOB" GET /domains/nosuch/console >/dev/null
check api_scope_404_same_as_missing '[ "${n_other//a1/X}" = "$(head -c 200 "$AT/last" | sed "s/nosuch/X/")" ]' "other's: $n_other"
# Defining as a sponsor: the sponsor field is forced, kernels only from --image-dir.
check api_define_other_sponsor_refused '[ "$(tapi "$ALICE" POST /domains "$(xml_of a2 bob)")" = 403 ]'
check api_define_outside_image_dir_refused '[ "$(tapi "$ALICE" POST /domains "$(xml_of a3 alice "$AT/pki/ca.pem")")" = 403 ]'
check api_define_own_ok '[ "$(tapi "$ALICE" POST /domains "$(xml_of a4 alice)")" = 201 ]'
check api_event_names_principal 'uapi GET "/events?domain=a4" | grep -q "by sponsor alice token"'
# Throttling: AUTH_FAIL_MAX (10) failures from one address, then 429 there, not elsewhere.
for _ in $(seq 10); do tapi "$GARBAGE" GET /domains '' 127.0.9.9 >/dev/null; done
check api_auth_throttled '[ "$(tapi "$ALICE" GET /domains "" 127.0.9.9)" = 429 ]'
check api_auth_throttle_per_address '[ "$(tapi "$ALICE" GET /domains "" 127.0.9.10)" = 200 ]'
# The secret is never stored: only salt and hash.
check api_token_not_stored '! grep -qa "${ALICE##*_}" "$AT/state/xenod.db"'
check api_token_list_has_no_secret 'uapi GET /tokens | head -1 | jq -e "[.tokens[] | has(\"secret\") or has(\"hash\")] | any | not" >/dev/null'

# ---- sponsors within the operator's policy (docs/api.md "Scoping") ----
ensure_a1
pol=$(uapi PUT /sponsors/alice/policy '{"sched": {"max_reservation_percent": 30, "max_limit_percent": 50}, "save": true}')
check api_policy_put '[ "$(tail -1 <<<"$pol")" = 200 ] && head -1 <<<"$pol" | jq -e ".sched.max_limit_percent == 50 and .save" >/dev/null' "$pol"
check api_policy_put_logged 'uapi GET /log | grep -q "api: PUT /v1/sponsors/alice/policy by operator"' "$(uapi GET /log | tail -c 300)"
check api_policy_own_get '[ "$(tapi "$ALICE" GET /sponsors/alice/policy)" = 200 ] && jq -e ".sched.max_reservation_percent == 30" "$AT/last" >/dev/null' "$(cat "$AT/last")"
check api_policy_other_get_404 '[ "$(tapi "$BOB" GET /sponsors/alice/policy)" = 404 ]'
check api_policy_sponsor_put_403 '[ "$(tapi "$ALICE" PUT /sponsors/alice/policy "{\"save\": true}")" = 403 ]'
check api_policy_bad_field_400 '[ "$(uapi PUT /sponsors/alice/policy "{\"sched\": {\"max_cpu\": 1}}" | tail -1)" = 400 ]'
check api_policy_save_odd_sponsor_400 '[ "$(uapi PUT /sponsors/a%20b/policy "{\"save\": true}" | tail -1)" = 400 ]'
check api_sched_within_policy '[ "$(tapi "$ALICE" POST /domains/a1/sched "{\"reservation_percent\": 20, \"limit_percent\": 40}")" = 200 ] && jq -e ".sched.reservation_percent == 20" "$AT/last" >/dev/null' "$(cat "$AT/last")"
check api_sched_over_reservation_403 '[ "$(tapi "$ALICE" POST /domains/a1/sched "{\"reservation_percent\": 40}")" = 403 ] && grep -q max_reservation_percent "$AT/last"' "$(cat "$AT/last")"
check api_sched_over_limit_403 '[ "$(tapi "$ALICE" POST /domains/a1/sched "{\"limit_percent\": 60}")" = 403 ] && grep -q max_limit_percent "$AT/last"' "$(cat "$AT/last")"
check api_sched_no_limit_403 '[ "$(tapi "$ALICE" POST /domains/a1/sched "{\"limit_percent\": null}")" = 403 ]' "$(cat "$AT/last")"
check api_sched_weight_above_default_403 '[ "$(tapi "$ALICE" POST /domains/a1/sched "{\"weight\": 5000}")" = 403 ] && grep -q weight "$AT/last"' "$(cat "$AT/last")"
check api_sched_unchanged_after_refusals 'uapi GET /domains/a1/sched | head -1 | jq -e ".sched.reservation_percent == 20 and .sched.limit_percent == 40" >/dev/null'
check api_sched_other_404 '[ "$(tapi "$BOB" POST /domains/a1/sched "{\"weight\": 512}")" = 404 ]'
check api_sched_read_only_403 '[ "$(tapi "$RO" POST /domains/a1/sched "{\"weight\": 512}")" = 403 ]'
check api_sched_no_policy_403 '[ "$(tapi "$BOB" POST /domains/b1/sched "{\"weight\": 512}")" = 403 ] && grep -q "no CPU scheduling" "$AT/last"' "$(cat "$AT/last")"
# Snapshots: a name, never a path; refused names create nothing.
for n in ../x /etc/x .hidden "a b" "$(printf 'x%.0s' $(seq 65))"; do
    check "api_save_name_refused_${n//[^a-z]/_}" '[ "$(tapi "$ALICE" POST /domains/a1/save "$(jq -cn --arg n "$n" "{snapshot: \$n}")")" = 400 ]' "$n: $(cat "$AT/last")"
done
check api_save_sponsor_path_400 '[ "$(tapi "$ALICE" POST /domains/a1/save "{\"path\": \"$AT/state/snapshots/x\"}")" = 400 ] && grep -q "never a host path" "$AT/last"' "$(cat "$AT/last")"
check api_save_not_running_409 '[ "$(tapi "$ALICE" POST /domains/a1/save "{\"snapshot\": \"s1\"}")" = 409 ]' "$(cat "$AT/last")"
check api_save_dir_0700 '[ "$(stat -c %a "$AT/state/snapshots/sponsors/alice")" = 700 ] && [ "$(stat -c %a "$AT/state/snapshots/sponsors")" = 700 ]'
check api_save_no_policy_403 '[ "$(tapi "$BOB" POST /domains/b1/save "{\"snapshot\": \"s1\"}")" = 403 ]'
check api_restore_no_policy_403 '[ "$(tapi "$BOB" POST /restore "{\"snapshot\": \"s1\"}")" = 403 ]'
check api_restore_missing_404 '[ "$(tapi "$ALICE" POST /restore "{\"snapshot\": \"nosuch\"}")" = 404 ]'
check api_restore_sponsor_path_400 '[ "$(tapi "$ALICE" POST /restore "{\"path\": \"/etc/passwd\"}")" = 400 ]'
check api_restore_name_refused '[ "$(tapi "$ALICE" POST /restore "{\"snapshot\": \"../alice/x\"}")" = 400 ]'
# A file in alice's directory is not bob's to restore, even by its exact name.
uapi PUT /sponsors/bob/policy '{"save": true}' >/dev/null
printf 'not a snapshot\n' >"$AT/state/snapshots/sponsors/alice/alices"
check api_restore_other_sponsors_snapshot_404 '[ "$(tapi "$BOB" POST /restore "{\"snapshot\": \"alices\"}")" = 404 ]' "$(cat "$AT/last")"
ln -s /etc/passwd "$AT/state/snapshots/sponsors/alice/link"
check api_restore_link_404 '[ "$(tapi "$ALICE" POST /restore "{\"snapshot\": \"link\"}")" = 404 ]' "$(cat "$AT/last")"
rm -f "$AT/state/snapshots/sponsors/alice/alices" "$AT/state/snapshots/sponsors/alice/link"
# A real domain (KVM): the total over alice's running domains, and a save/restore round trip
# by name. Destroyed at the end of the section: a monitor outlives a killed xenod.
no_monitor() { ! pgrep -f -- "--run-dir $AT/state/" >/dev/null; }
ac_runs() { uapi GET /domains/ac | head -1 | jq -e '.state == "running" or .state == "blocked"' >/dev/null; }
if kvm_case api_sponsor_snapshot_kvm; then
    cp "$GUEST/counter.elf" "$AT/img/counter.elf"
    check api_kvm_sponsor_defines_and_starts '[ "$(tapi "$ALICE" POST /domains "$(xml_of ac alice "$AT/img/counter.elf" | jq -c ".start = true")")" = 201 ] && wait_until 20 ac_runs' "$(cat "$AT/last")"
    check api_kvm_sched_running_ok '[ "$(tapi "$ALICE" POST /domains/ac/sched "{\"reservation_percent\": 20, \"limit_percent\": 40}")" = 200 ]' "$(cat "$AT/last")"
    # a1 (stopped) asks 15%: with ac's running 20% that is 35%, over alice's 30%.
    check api_kvm_sched_total_over_403 '[ "$(tapi "$ALICE" POST /domains/a1/sched "{\"reservation_percent\": 15}")" = 403 ] && grep -q "reserve 35%" "$AT/last"' "$(cat "$AT/last")"
    # Starting a reserved domain is a sched change too: a1 (20%, stopped) beside ac's 20% would
    # make 40%, over 30%; and a create that starts a domain reserving 50% is refused with
    # nothing left defined. The operator's own start is not the policy's to judge.
    check api_kvm_start_over_policy_403 '[ "$(tapi "$ALICE" POST /domains/a1/start "{}")" = 403 ] && grep -q "max_reservation_percent" "$AT/last"' "$(cat "$AT/last")"
    big=$(jq -cn --arg x "<domain type='kvm'><name>abig</name><memory unit='MiB'>64</memory><os><type>hvm</type><kernel>$AT/img/counter.elf</kernel></os><metadata><xeno:sponsor xmlns:xeno='urn:xenoserver:domain:1'>alice</xeno:sponsor><xeno:cpu xmlns:xeno='urn:xenoserver:domain:1' reservation='50%'/></metadata></domain>" '{xml: $x, start: true}')
    check api_kvm_create_over_policy_403 '[ "$(tapi "$ALICE" POST /domains "$big")" = 403 ] && [ "$(uapi GET /domains/abig | tail -1)" = 404 ]' "$(cat "$AT/last")"
    check api_kvm_sponsor_save '[ "$(tapi "$ALICE" POST /domains/ac/save "{\"snapshot\": \"s1\"}")" = 200 ] && [ -s "$AT/state/snapshots/sponsors/alice/s1" ]' "$(cat "$AT/last")"
    check api_kvm_other_cannot_restore '[ "$(tapi "$BOB" POST /restore "{\"snapshot\": \"s1\"}")" = 404 ]' "$(cat "$AT/last")"
    check api_kvm_sponsor_restore '[ "$(tapi "$ALICE" POST /restore "{\"snapshot\": \"s1\"}")" = 201 ] && wait_until 20 ac_runs' "$(cat "$AT/last")"
    # The same through xenctl, as a sponsor would script it (remote mode, a name, not a path).
    sx() { XENO_TOKEN=$ALICE "$BUILD_DIR/bin/xenctl" --server "https://127.0.0.1:$PORT" --cacert "$AT/pki/ca.pem" "$@"; }
    out=$(sx save ac s2 --snapshot 2>&1)
    check api_kvm_xenctl_sponsor_save_snapshot '[ -s "$AT/state/snapshots/sponsors/alice/s2" ] && grep -q "saved as snapshot s2" <<<"$out"' "$out"
    out=$(sx restore s2 --snapshot 2>&1)
    check api_kvm_xenctl_sponsor_restore_snapshot 'wait_until 20 ac_runs' "$out"
    # A snapshot of a domain reserving 35% (the operator's create: not the policy's to judge),
    # saved by alice: her restore of it is over her policy (35% with no limit, where she has
    # 30% and must give a limit up to 50%): refused before a monitor starts.
    rx=$(jq -cn --arg x "<domain type='kvm'><name>ar</name><memory unit='MiB'>64</memory><os><type>hvm</type><kernel>$AT/img/counter.elf</kernel></os><metadata><xeno:sponsor xmlns:xeno='urn:xenoserver:domain:1'>alice</xeno:sponsor><xeno:cpu xmlns:xeno='urn:xenoserver:domain:1' reservation='35%'/></metadata></domain>" '{xml: $x, start: true}')
    ar_runs() { uapi GET /domains/ar | head -1 | jq -e '.state == "running" or .state == "blocked"' >/dev/null; }
    uapi POST /domains "$rx" >/dev/null
    wait_until 20 ar_runs
    tapi "$ALICE" POST /domains/ar/save '{"snapshot": "r35"}' >/dev/null
    check api_kvm_restore_over_policy_403 '[ -s "$AT/state/snapshots/sponsors/alice/r35" ] && [ "$(tapi "$ALICE" POST /restore "{\"snapshot\": \"r35\"}")" = 403 ] &&
        grep -q "max_limit_percent\|max_reservation_percent" "$AT/last" && ! ar_runs' "$(cat "$AT/last")"
    uapi POST /domains/ar/destroy >/dev/null
    uapi DELETE /domains/ar >/dev/null
    out=$(sx save ac ../s3 --snapshot 2>&1)
    rc=$?
    check api_kvm_xenctl_sponsor_snapshot_name_refused '[ $rc != 0 ] && ! grep -q "saved" <<<"$out" && [ ! -e "$AT/state/snapshots/sponsors/s3" ]' "exit $rc: $out"
    check api_kvm_restore_event_names_sponsor 'uapi GET "/events?domain=ac" | grep -q "POST /v1/restore by sponsor alice"'
    uapi POST /domains/ac/destroy >/dev/null
    uapi DELETE /domains/ac >/dev/null
    check api_kvm_no_monitor_left 'wait_until 10 no_monitor'
fi
# xenctl sponsor-policy: a change keeps what is not given.
"$BUILD_DIR/bin/xenctl" --socket "$SOCK" sponsor-policy carol --max-reservation 25 >/dev/null 2>&1
out=$("$BUILD_DIR/bin/xenctl" --socket "$SOCK" sponsor-policy carol --save 2>&1)
check xenctl_sponsor_policy 'grep -q "up to 25% in all" <<<"$out" && grep -q "Save: *allowed" <<<"$out"' "$out"
out=$("$BUILD_DIR/bin/xenctl" --socket "$SOCK" --json sponsor-policy carol --no-sched 2>&1)
check xenctl_sponsor_policy_no_sched 'jq -e ".sched == null and .save" <<<"$out" >/dev/null' "$out"

# ---- xenctl in remote mode (docs/xenctl.md "Remote") ----
XENCTL=$BUILD_DIR/bin/xenctl
rctl() { "$XENCTL" --server "https://127.0.0.1:$PORT" --cacert "$AT/pki/ca.pem" "$@"; }
ensure_a1
(umask 077 && "$XENCTL" --socket "$SOCK" token create --sponsor alice >"$AT/alice.tok" 2>"$AT/create.err")
check xenctl_token_create_prints_only_secret 'grep -qxE "xeno_[0-9]+_[0-9a-f]{64}" "$AT/alice.tok" && [ "$(wc -l <"$AT/alice.tok")" = 1 ]' "$(cat "$AT/alice.tok" "$AT/create.err")"
(umask 077 && "$XENCTL" --socket "$SOCK" token create --sponsor alice --read-only --expires 1h >"$AT/ro.tok" 2>/dev/null)
rctl --token-file "$AT/alice.tok" list >"$AT/rlist" 2>&1
check xenctl_remote_sponsor_list 'grep -qw a1 "$AT/rlist" && ! grep -qw b1 "$AT/rlist"' "$(cat "$AT/rlist")"
check xenctl_remote_other_domain_404 '! rctl --token-file "$AT/alice.tok" info b1 2>"$AT/rerr" && grep -q "no domain" "$AT/rerr"' "info b1 as alice"
rctl --token-file "$AT/ro.tok" pause a1 >"$AT/rpause" 2>&1
RC_PAUSE=$?
check xenctl_remote_read_only_cannot_pause '[ $RC_PAUSE = 1 ] && grep -q "read-only" "$AT/rpause"' "$(cat "$AT/rpause")"
check xenctl_remote_read_only_can_list 'rctl --token-file "$AT/ro.tok" list | grep -qw a1'
check xenctl_remote_env_token 'XENO_TOKEN=$(cat "$AT/alice.tok") rctl list | grep -qw a1'
cp "$AT/alice.tok" "$AT/open.tok" && chmod 0644 "$AT/open.tok"
rctl --token-file "$AT/open.tok" list >"$AT/ropen" 2>&1
RC_OPEN=$?
check xenctl_token_file_0644_refused '[ $RC_OPEN = 2 ] && grep -q "too open" "$AT/ropen" && ! grep -q "$(cat "$AT/alice.tok")" "$AT/ropen"' "$(cat "$AT/ropen")"
check xenctl_remote_http_refused '! "$XENCTL" --server "http://127.0.0.1:$PORT" --token-file "$AT/alice.tok" list 2>/dev/null'
check xenctl_remote_wrong_ca_fails '! "$XENCTL" --server "https://127.0.0.1:$PORT" --cacert "$AT/pki/wrong.pem" --token-file "$AT/alice.tok" list 2>/dev/null'
check xenctl_remote_sponsor_no_tokens '! rctl --token-file "$AT/alice.tok" token list 2>/dev/null'
# The token never reaches a child: `xenctl edit` runs $EDITOR, which writes its environment.
printf '#!/bin/sh\nenv >"%s"\nexit 1\n' "$AT/edit.env" >"$AT/ed.sh" && chmod +x "$AT/ed.sh"
XENO_TOKEN=$(cat "$AT/alice.tok") EDITOR=$AT/ed.sh rctl edit a1 >/dev/null 2>&1
check xenctl_remote_editor_no_token '[ -s "$AT/edit.env" ] && ! grep -q "xeno_" "$AT/edit.env"' "editor env: $(grep -c . "$AT/edit.env" 2>/dev/null) lines"
RID=$("$XENCTL" --socket "$SOCK" --json token list | jq '[.tokens[] | select(.read_only and .sponsor == "alice" and .expires > 0)][-1].id')
check xenctl_token_list_shows 'nl=$("$XENCTL" --socket "$SOCK" token list) && grep -q "read-only" <<<"$nl" && ! grep -q xeno_ <<<"$nl"'
check xenctl_token_revoke '"$XENCTL" --socket "$SOCK" token revoke "$RID" >/dev/null && ! rctl --token-file "$AT/ro.tok" list 2>/dev/null'
check xenctl_token_not_in_log '! grep -q "$(cat "$AT/alice.tok")" "$AT/xenod.log"'

# ---- live events (docs/api.md "Live events"): SSE, scoped, within a second ----
SSE_PIDS=()
ensure_a1
uapi POST /domains "$(xml_of b1 bob)" >/dev/null
B1=$(uapi GET /domains/b1 | head -1 | jq -r .uuid)
A1=$(uapi GET /domains/a1 | head -1 | jq -r .uuid)
curl -sN -D "$AT/sse_u.h" --unix-socket "$SOCK" "http://x/v1/events?follow=1" >"$AT/sse_u" 2>/dev/null &
SSE_PIDS+=($!)
curl -sN --cacert "$AT/pki/ca.pem" -H "Authorization: Bearer $BOB" "$BASE/events?follow=1" >"$AT/sse_bob" 2>/dev/null &
SSE_PIDS+=($!)
curl -sN --cacert "$AT/pki/ca.pem" -H "Authorization: Bearer $ALICE" "$BASE/events?follow=1" >"$AT/sse_alice" 2>/dev/null &
SSE_PIDS+=($!)
# Each stream's first line, waited for on all three (grep -q with three files succeeds on
# any one: the unix socket's came first and the TLS ones were then read once, too early).
sse_all_open() { grep -q "xenod events" "$AT/sse_u" && grep -q "xenod events" "$AT/sse_bob" && grep -q "xenod events" "$AT/sse_alice"; }
check sse_streams_open 'wait_until 10 sse_all_open'
check sse_content_type 'grep -qi "^content-type: text/event-stream" "$AT/sse_u.h"'
# seen_within FILE TEXT: TEXT appears in FILE within 1 s of now.
seen_within() {
    local end=$(($(date +%s%N) + 1000000000))
    while [ "$(date +%s%N)" -lt $end ]; do
        grep -qF "$2" "$1" && return 0
        sleep 0.02
    done
    return 1
}
(umask 077 && "$XENCTL" --socket "$SOCK" token create --sponsor bob >"$AT/bob.tok" 2>/dev/null)
rctl --token-file "$AT/bob.tok" events --follow --limit 1 >"$AT/ctl_bob" 2>&1 &
SSE_PIDS+=($!)
"$XENCTL" --socket "$SOCK" --json events --follow --limit 1 >"$AT/ctl_op" 2>&1 &
SSE_PIDS+=($!)
sleep 1 # both have their history and are following
uapi POST /domains/a1/pause >/dev/null
check sse_unix_within_1s 'seen_within "$AT/sse_u" "POST /v1/domains/a1/pause by operator"'
check sse_tls_owner_within_1s 'seen_within "$AT/sse_alice" "POST /v1/domains/a1/pause by operator"'
tapi "$BOB" POST /domains/b1/pause '{}' >/dev/null
check sse_tls_sponsor_sees_own 'seen_within "$AT/sse_bob" "POST /v1/domains/b1/pause by sponsor bob"'
check sse_unix_sees_all 'seen_within "$AT/sse_u" "POST /v1/domains/b1/pause by sponsor bob"'
sleep 0.5
check sse_tls_other_sponsor_never '! grep -q "$A1\|/a1/\|\"a1\"" "$AT/sse_bob"' "bob's stream: $(head -c 400 "$AT/sse_bob")"
check sse_tls_no_cross_the_other_way '! grep -q "$B1\|/b1/" "$AT/sse_alice"'
check xenctl_events_follow_op 'seen_within "$AT/ctl_op" "POST /v1/domains/b1/pause by sponsor bob" && grep -q "POST /v1/domains/a1/pause by operator" "$AT/ctl_op"' "$(tail -c 300 "$AT/ctl_op")"
check xenctl_events_follow_sponsor 'seen_within "$AT/ctl_bob" "POST /v1/domains/b1/pause by sponsor bob" && ! grep -q "a1" "$AT/ctl_bob"' "$(tail -c 300 "$AT/ctl_bob")"
check sse_domain_of_other_404 '[ "$(tapi "$BOB" GET "/events?domain=a1&follow=1")" = 404 ]'
# A stream lives no longer than its token: revoked, or expired, it gets a last "end" event
# saying why and closes within a second; the other streams go on.
read -r RV_ID RV_TOK <<<"$(token alice)"
read -r _ EX_TOK <<<"$(token alice false 4)"
EX_AT=$(date +%s%N)
curl -sN --cacert "$AT/pki/ca.pem" -H "Authorization: Bearer $RV_TOK" "$BASE/events?follow=1" >"$AT/sse_rv" 2>/dev/null &
RV_PID=$!
SSE_PIDS+=($RV_PID)
curl -sN --cacert "$AT/pki/ca.pem" -H "Authorization: Bearer $EX_TOK" "$BASE/events?follow=1" >"$AT/sse_ex" 2>/dev/null &
EX_PID=$!
SSE_PIDS+=($EX_PID)
wait_until 5 grep -q "xenod events" "$AT/sse_rv" && wait_until 5 grep -q "xenod events" "$AT/sse_ex"
gone() { ! kill -0 "$1" 2>/dev/null; }
t0=$(date +%s%N)
uapi DELETE "/tokens/$RV_ID" >/dev/null
wait_until 1 gone "$RV_PID"
t1=$(date +%s%N)
check sse_revoked_token_stream_closed 'gone "$RV_PID"' "still open $(((t1 - t0) / 1000000)) ms after the revoke: $(tail -c 200 "$AT/sse_rv" | tr '\n' '|')"
check sse_revoked_token_end_event 'grep -q "^event: end" "$AT/sse_rv" && grep -q "^data: {\"reason\":\"token revoked\"}" "$AT/sse_rv"' "$(tail -c 200 "$AT/sse_rv" | tr '\n' '|')"
check sse_revoke_leaves_others_open '! gone "$EX_PID" && kill -0 "${SSE_PIDS[1]}" && kill -0 "${SSE_PIDS[2]}"'
# The 4 s token: its stream ends within a second of its expiry (and not before it).
wait_until 2 gone "$EX_PID"
check sse_expiring_token_open_before_expiry '! gone "$EX_PID"'
wait_until 3 gone "$EX_PID"
t2=$(date +%s%N)
check sse_expired_token_stream_closed 'gone "$EX_PID" && [ $(((t2 - EX_AT) / 1000000)) -lt 5500 ]' "closed after $(((t2 - EX_AT) / 1000000)) ms of a 4 s token: $(tail -c 200 "$AT/sse_ex" | tr '\n' '|')"
check sse_expired_token_end_event 'grep -q "^data: {\"reason\":\"token expired\"}" "$AT/sse_ex"' "$(tail -c 200 "$AT/sse_ex" | tr '\n' '|')"
check sse_revoked_token_refused_again '[ "$(tapi "$RV_TOK" GET "/events?follow=1" "" 127.0.201.1)" = 401 ]'
# A client that never reads while many events are made: xenod answers others at once, and
# drops it (API_EVENTS_TIMEOUT_S, 45 s, without progress) rather than keeping what it missed.
python3 - "$SOCK" "$AT/slow.out" >"$AT/slow.log" 2>&1 <<'PY' &
import socket, sys, time
s = socket.socket(socket.AF_UNIX)
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
s.connect(sys.argv[1])
s.sendall(b"GET /v1/events?follow=1 HTTP/1.1\r\nHost: x\r\n\r\n")
time.sleep(90)  # never reads meanwhile
s.settimeout(5)
n, eof = 0, False
try:
    while True:
        b = s.recv(65536)
        if not b:
            eof = True
            break
        n += len(b)
except socket.timeout:
    pass
open(sys.argv[2], "w").write("%d %s\n" % (n, "eof" if eof else "open"))
PY
SLOW=$!
sleep 1
EVN=3000
urls=()
for _ in $(seq $EVN); do urls+=("http://x/v1/domains/a1/pause"); done
curl -s -X POST --unix-socket "$SOCK" "${urls[@]}" >/dev/null &
GEN=$!
worst=0
for _ in $(seq 20); do
    t=$(curl -s -o /dev/null -w '%{time_total}' --unix-socket "$SOCK" http://x/v1/domains)
    awk -v t="$t" -v w="$worst" 'BEGIN { exit !(t > w) }' && worst=$t
    sleep 0.2
done
wait "$GEN"
check sse_slow_client_others_answered 'awk -v w="$worst" "BEGIN { exit !(w < 1) }"' "slowest list while events were made: ${worst}s"
check sse_reader_got_all 'seen_within "$AT/sse_u" "$(uapi GET "/events?limit=1" | head -1 | jq -r ".events[0].id" | sed "s/^/id: /")"'
wait "$SLOW"
read -r SLOW_N SLOW_END <"$AT/slow.out" 2>/dev/null
check sse_slow_client_dropped '[ "$SLOW_END" = eof ] && [ "${SLOW_N:-0}" -lt $((EVN * 150)) ]' "slow client: ${SLOW_N:-?} bytes, $SLOW_END ($(cat "$AT/slow.log"))"
check sse_heartbeat 'grep -q "^: keepalive" "$AT/sse_bob"'
kill "${SSE_PIDS[@]}" 2>/dev/null
wait "${SSE_PIDS[@]}" 2>/dev/null

# ---- connection exhaustion: 3000 half-open connections on each listener ----
HALF=$BUILD_DIR/tests/tools/halfopen
"$HALF" -n 3000 -a "127.0.0.1:$PORT" -x -t 60 >"$AT/half_tls" 2>&1 &
HALF_PIDS=($!)
"$HALF" -n 3000 -u "$SOCK" -t 60 >"$AT/half_unix" 2>&1 &
HALF_PIDS+=($!)
wait_until 40 grep -q open "$AT/half_tls"
wait_until 40 grep -q open "$AT/half_unix"
read -r _ N_TLS <"$AT/half_tls"
read -r _ N_UNIX <"$AT/half_unix"
check exhaust_connections_held '[ "${N_TLS:-0}" -ge 2900 ] && [ "${N_UNIX:-0}" -ge 2900 ]' "held: TLS ${N_TLS:-?}, unix ${N_UNIX:-?} of 3000"
# median_ms CMD...: the median of 5 runs of CMD, which prints "STATUS SECONDS"; any status but 200 is 9999.
# Over TLS the time is the request's once the connection is up (a kept connection, as the
# benchmark's): the handshake's own time under the flood is in docs/security.md.
median_ms() {
    local out=() s t
    for _ in 1 2 3 4 5; do
        read -r s t <<<"$("$@")"
        if [ "$s" = 200 ]; then out+=("$(awk -v t="$t" 'BEGIN { printf "%d", t * 1000 }')"); else out+=(9999); fi
    done
    printf '%s\n' "${out[@]}" | sort -n | sed -n 3p
}
op_unix() { curl -s -m 5 -o /dev/null -w '%{http_code} %{time_total}' --unix-socket "$SOCK" http://x/v1/domains; }
sponsor_tls() {
    curl -s -m 5 -o /dev/null -w '%{http_code} %{time_total} %{time_appconnect}' --cacert "$AT/pki/ca.pem" \
        --interface 127.0.200.1 -H "Authorization: Bearer $ALICE" "$BASE/domains" | awk '{ print $1, $2 - $3 }'
}
MS_UNIX=$(median_ms op_unix)
MS_TLS=$(median_ms sponsor_tls)
check exhaust_operator_unix_100ms '[ "$MS_UNIX" -lt 100 ]' "operator on the unix socket: median ${MS_UNIX} ms"
check exhaust_sponsor_tls_100ms '[ "$MS_TLS" -lt 100 ]' "sponsor over TLS (after the handshake): median ${MS_TLS} ms"
kill "${HALF_PIDS[@]}" 2>/dev/null
wait "${HALF_PIDS[@]}" 2>/dev/null

# Bad input: a 1 MiB Authorization header is refused (libmicrohttpd's per-connection memory
# limit: 431, or the connection closed) without growing xenod, which answers the next
# request; a token whose sponsor no longer has any domain still authenticates, and sees
# nothing (a sponsor is a name on domains, not a record: nothing of another's opens to it).
rss_kib() { awk '/^VmRSS/ { print $2 }' "/proc/$XPID/status"; }
RSS0=$(rss_kib)
{
    printf 'Authorization: Bearer xeno_1_'
    head -c 1048576 /dev/zero | tr '\0' a
    printf '\n'
} >"$AT/bighdr"
BIG=()
for i in 1 2 3 4 5; do
    BIG+=("$(curl -s -m 10 --cacert "$AT/pki/ca.pem" --interface 127.0.202.$i -o /dev/null -w '%{http_code}' \
        -H @"$AT/bighdr" "$BASE/domains")")
done
RSS1=$(rss_kib)
check api_bad_1mib_authorization_refused '[[ " ${BIG[*]} " =~ ^( (431|400|413|000))+\ $ ]]' "statuses ${BIG[*]}"
check api_bad_1mib_authorization_then_answered '[ "$(tapi "$ALICE" GET /domains "" 127.0.202.9)" = 200 ]'
check api_bad_1mib_authorization_rss_bounded '[ $((RSS1 - RSS0)) -lt 16384 ]' "RSS ${RSS0} -> ${RSS1} KiB"
uapi POST /domains "$(xml_of g1 gone)" >/dev/null
read -r _ GONE < <(token gone)
uapi DELETE /domains/g1 >/dev/null
check api_token_of_sponsor_without_domains_sees_nothing \
    '[ "$(tapi "$GONE" GET /domains "" 127.0.202.10)" = 200 ] && jqe ".domains | length == 0" <"$AT/last" >/dev/null' "$(head -c 300 "$AT/last")"
check api_token_of_sponsor_without_domains_404 '[ "$(tapi "$GONE" GET /domains/g1 "" 127.0.202.11)" = 404 ] &&
    [ "$(tapi "$GONE" GET /domains/a1 "" 127.0.202.12)" = 404 ]'

kill "$XPID" 2>/dev/null && wait "$XPID" 2>/dev/null
check api_xenod_clean_exit '! grep -q "AddressSanitizer\|runtime error" "$AT/xenod.log"'
