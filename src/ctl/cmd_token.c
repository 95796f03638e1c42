/* `xenctl token create|list|revoke`: the API's bearer tokens (docs/api.md "Over TCP with TLS,
 * tokens"); operator only. `create` prints the secret, and only it, on stdout: the one time it
 * is ever shown, for a script to put straight into a 0600 file. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "ctl/commands.h"
#include "ctl/render.h"
#include "ctl/table.h"
#include "lib/err.h"
#include "lib/log.h"
#include "lib/parse.h"

/* The longest --expires: ten years. */
#define TOKEN_EXPIRES_MAX_S (10ull * 366 * 86400)

/* DURATION: N with s, m, h, d or w (a bare number is seconds), e.g. 30d, 12h. */
static int parse_expires(const char *text, uint64_t *out_s)
{
    static const struct {
        char unit;
        uint64_t s;
    } units[] = {{'s', 1}, {'m', 60}, {'h', 3600}, {'d', 86400}, {'w', 7 * 86400}};
    char num[32];
    size_t n = strlen(text);
    uint64_t mult = 1, v;
    if (n == 0 || n >= sizeof(num))
        return err_set(EINVAL, "'%s' is not a duration (e.g. 3600, 90m, 12h, 30d, 2w)", text);
    memcpy(num, text, n + 1);
    for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++)
        if (num[n - 1] == units[i].unit) {
            mult = units[i].s;
            num[n - 1] = '\0';
        }
    if (parse_u64_range(num, 1, TOKEN_EXPIRES_MAX_S / mult, &v) < 0)
        return err_set(EINVAL, "'%s' is not a duration from 1s to 10 years (e.g. 3600, 90m, 12h, 30d, 2w)", text);
    *out_s = v * mult;
    return 0;
}

static int token_create(const struct ctl *c, const struct ctl_args *a)
{
    const char *sponsor = ctl_args_get(a, "sponsor"), *expires = ctl_args_get(a, "expires");
    int operator_token = ctl_args_get(a, "operator") != NULL;
    uint64_t expires_s = 0;
    if (!sponsor == !operator_token)
        return ctl_usage_error("token create needs --sponsor NAME or --operator (one of them)");
    if (sponsor && !*sponsor)
        return ctl_usage_error("--sponsor needs a NAME");
    if (expires && parse_expires(expires, &expires_s) < 0)
        return ctl_usage_error("--expires: %s", err_msg());
    json_t *body =
        json_pack("{s:b, s:I}", "read_only", ctl_args_get(a, "read-only") != NULL, "expires_s", (json_int_t)expires_s);
    if (body && sponsor)
        json_object_set_new(body, "sponsor", json_string(sponsor));
    json_t *answer;
    int rc = ctl_call(c, "POST", "/v1/tokens", body, CTL_REQUEST_TIMEOUT_S, &answer, NULL);
    json_decref(body);
    if (rc != CTL_EXIT_OK)
        return rc;
    const char *secret = json_string_value(json_object_get(answer, "secret"));
    if (c->json) {
        ctl_print_json(answer);
    } else if (secret) {
        printf("%s\n", secret);
        fprintf(stderr, "token %" JSON_INTEGER_FORMAT " created; its secret (above) is shown this once\n",
                json_integer_value(json_object_get(answer, "id")));
    } else {
        log_error("xenod's answer to POST /v1/tokens has no secret");
        rc = CTL_EXIT_FAILED;
    }
    json_decref(answer);
    return rc;
}

static int token_list(const struct ctl *c)
{
    static const char *const headers[] = {"ID", "Sponsor", "Access", "Created", "Expires", "State"};
    static const enum ctl_align align[] = {CTL_ALIGN_RIGHT, CTL_ALIGN_LEFT, CTL_ALIGN_LEFT,
                                           CTL_ALIGN_LEFT,  CTL_ALIGN_LEFT, CTL_ALIGN_LEFT};
    json_t *answer;
    int rc = ctl_call(c, "GET", "/v1/tokens", NULL, CTL_REQUEST_TIMEOUT_S, &answer, NULL);
    if (rc != CTL_EXIT_OK)
        return rc;
    if (c->json) {
        ctl_print_json(answer);
        json_decref(answer);
        return CTL_EXIT_OK;
    }
    struct ctl_table t;
    ctl_table_init(&t, 6, headers, align);
    size_t i;
    json_t *tok;
    json_array_foreach(json_object_get(answer, "tokens"), i, tok)
    {
        char cells[6][CTL_CELL_MAX];
        const char *cp[6] = {cells[0], cells[1], cells[2], cells[3], cells[4], cells[5]};
        const char *sp = json_string_value(json_object_get(tok, "sponsor"));
        double exp = json_number_value(json_object_get(tok, "expires"));
        ctl_fmt_value(json_object_get(tok, "id"), cells[0], CTL_CELL_MAX);
        snprintf(cells[1], CTL_CELL_MAX, "%s", sp && *sp ? sp : "(operator)");
        snprintf(cells[2], CTL_CELL_MAX, "%s", json_is_true(json_object_get(tok, "read_only")) ? "read-only" : "all");
        ctl_fmt_epoch(json_number_value(json_object_get(tok, "created")), 0, cells[3], CTL_CELL_MAX);
        if (exp > 0)
            ctl_fmt_epoch(exp, 0, cells[4], CTL_CELL_MAX);
        else
            snprintf(cells[4], CTL_CELL_MAX, "never");
        snprintf(cells[5], CTL_CELL_MAX, "%s", json_is_true(json_object_get(tok, "revoked")) ? "revoked" : "valid");
        if (ctl_table_add(&t, cp) < 0) {
            rc = CTL_EXIT_FAILED;
            log_error("out of memory formatting the output");
            break;
        }
    }
    if (rc == CTL_EXIT_OK)
        ctl_table_print(&t, stdout);
    ctl_table_free(&t);
    json_decref(answer);
    return rc;
}

static int token_revoke(const struct ctl *c, const struct ctl_args *a)
{
    uint64_t id;
    char path[64];
    if (a->npos < 2)
        return ctl_usage_error("token revoke needs ID (usage: xenctl token revoke ID; see xenctl token list)");
    if (parse_u64_range(a->pos[1], 1, INT64_MAX, &id) < 0)
        return ctl_usage_error("token revoke: a token ID is a positive number (see xenctl token list)");
    snprintf(path, sizeof(path), "/v1/tokens/%llu", (unsigned long long)id);
    json_t *answer;
    int rc = ctl_call(c, "DELETE", path, NULL, CTL_REQUEST_TIMEOUT_S, &answer, NULL);
    if (rc != CTL_EXIT_OK)
        return rc;
    if (c->json)
        ctl_print_json(answer);
    else
        printf("token %llu revoked\n", (unsigned long long)id);
    json_decref(answer);
    return CTL_EXIT_OK;
}

int ctl_cmd_token(const struct ctl *c, const struct ctl_args *a)
{
    const char *verb = a->pos[0];
    int is_create = strcmp(verb, "create") == 0;
    if (!is_create && (ctl_args_get(a, "sponsor") || ctl_args_get(a, "operator") || ctl_args_get(a, "read-only") ||
                       ctl_args_get(a, "expires")))
        return ctl_usage_error("token %s: --sponsor, --operator, --read-only and --expires go with token create", verb);
    if (strcmp(verb, "revoke") != 0 && a->npos > 1)
        return ctl_usage_error("token %s: unexpected argument '%s'", verb, a->pos[1]);
    if (is_create)
        return token_create(c, a);
    if (strcmp(verb, "list") == 0)
        return token_list(c);
    if (strcmp(verb, "revoke") == 0)
        return token_revoke(c, a);
    return ctl_usage_error("unknown token command '%s' (create, list or revoke)", verb);
}
