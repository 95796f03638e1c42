/* The commands that change a domain: create, define, start, undefine, pause, unpause,
 * shutdown, reboot, reset, destroy, mem-set, save, restore. Each is one API request; the text output is one
 * confirmation line on stdout (the JSON answer with --json). */
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ctl/commands.h"
#include "ctl/table.h"
#include "lib/err.h"
#include "lib/log.h"
#include "lib/parse.h"

/* Domain XML is a page or two; anything this big is the wrong file. */
#define XML_MAX (4u << 20)
/* shutdown --wait without --timeout. */
#define SHUTDOWN_TIMEOUT_S 30
/* Extra time xenod gets, beyond the shutdown timeout, to answer 504 itself. */
#define WAIT_SLACK_S 30

/* Prints "Domain NAME <what>" with the name from xenod's answer, or the user's REF when the
 * answer has none (a domain that is gone answers `{}`). */
static void say(const json_t *dom, const char *ref, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void say(const json_t *dom, const char *ref, const char *fmt, ...)
{
    const char *name = json_string_value(json_object_get(dom, "name"));
    char what[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof(what), fmt, ap);
    va_end(ap);
    char *clean_name = ctl_sanitize(name ? name : ref), *clean_what = ctl_sanitize(what);
    printf("Domain %s %s\n", clean_name ? clean_name : "?", clean_what ? clean_what : "?");
    free(clean_name);
    free(clean_what);
}

/* " (id 3, paused)": where a just-started domain stands. */
static void started_suffix(const json_t *dom, char *buf, size_t size)
{
    const json_t *id = json_object_get(dom, "id");
    const char *state = json_string_value(json_object_get(dom, "state"));
    if (json_is_integer(id))
        snprintf(buf, size, " (id %" JSON_INTEGER_FORMAT ", %s)", json_integer_value(id), state ? state : "?");
    else
        snprintf(buf, size, "%s%s%s", state ? " (" : "", state ? state : "", state ? ")" : "");
}

/* Reads the XML file and its absolute path (which anchors relative paths inside it and names
 * it in xenod's error messages). File trouble is a usage error: the command line named it. */
static int read_xml(const char *file, char **text, char abs_path[PATH_MAX])
{
    struct stat st;
    FILE *f = fopen(file, "rb");
    if (!f)
        return ctl_usage_error("cannot read %s: %s", file, strerror(errno));
    if (fstat(fileno(f), &st) == 0 && S_ISDIR(st.st_mode)) {
        fclose(f);
        return ctl_usage_error("%s is a directory: give a domain XML file", file);
    }
    if (!realpath(file, abs_path)) {
        int e = errno;
        fclose(f);
        return ctl_usage_error("cannot resolve the path %s: %s", file, strerror(e));
    }
    size_t cap = 8192, len = 0;
    char *buf = malloc(cap);
    while (buf) {
        if (len + 1 >= cap) {
            if (cap >= XML_MAX) {
                free(buf);
                fclose(f);
                return ctl_usage_error("%s is larger than %u MiB: not a domain XML file", file, XML_MAX >> 20);
            }
            char *grown = realloc(buf, cap * 2);
            if (!grown) {
                free(buf);
                buf = NULL;
                break;
            }
            buf = grown;
            cap *= 2;
        }
        size_t n = fread(buf + len, 1, cap - 1 - len, f);
        len += n;
        if (n == 0)
            break;
    }
    int failed = !buf || ferror(f);
    int e = errno;
    fclose(f);
    if (failed) {
        free(buf);
        return ctl_usage_error("cannot read %s: %s", file, buf ? strerror(e) : "out of memory");
    }
    buf[len] = '\0';
    *text = buf;
    return CTL_EXIT_OK;
}

/* Attach right after create/start, or print the confirmation. */
static int after_start(const struct ctl *c, const struct ctl_args *a, const json_t *dom, const char *ref,
                       const char *verb)
{
    if (c->json)
        ctl_print_json(dom);
    if (ctl_args_get(a, "console")) {
        fflush(stdout);
        return ctl_attach_to(c, dom, ref, a);
    }
    if (!c->json) {
        char suffix[128];
        started_suffix(dom, suffix, sizeof(suffix));
        say(dom, ref, "%s%s", verb, suffix);
    }
    return CTL_EXIT_OK;
}

static int post_xml(const struct ctl *c, const struct ctl_args *a, const char *file, int start, json_t **dom)
{
    char *xml = NULL, path[PATH_MAX];
    int rc = read_xml(file, &xml, path);
    if (rc != CTL_EXIT_OK)
        return rc;
    json_t *text = json_string(xml);
    free(xml);
    if (!text)
        return ctl_usage_error("%s is not UTF-8 text (or holds a NUL byte): domain XML must be UTF-8", file);
    json_t *body = json_pack("{s:o, s:s, s:b, s:b, s:b}", "xml", text, "path", path, "start", start, "paused",
                             start && ctl_args_get(a, "paused") != NULL, "persistent", !start);
    if (!body) {
        log_error("out of memory building the request");
        return CTL_EXIT_FAILED;
    }
    rc = ctl_call(c, "POST", "/v1/domains", body, CTL_REQUEST_TIMEOUT_S, dom, NULL);
    json_decref(body);
    return rc;
}

/* Several files are created one after the other by this one process: a batch costs the
 * host one xenctl start-up (its libraries' loading is a good part of a create's CPU time),
 * not one per domain. Each file's failure is reported and the others still go; the exit
 * status is the first failure's. */
int ctl_cmd_create(const struct ctl *c, const struct ctl_args *a)
{
    if (a->fleet && a->npos > 1)
        return ctl_usage_error("create --fleet: one FILE at a time, not %d", a->npos);
    if (a->fleet)
        return ctl_cmd_fleet_create(c, a);
    json_t *dom;
    int rc = ctl_check_linger(a);
    if (rc != CTL_EXIT_OK)
        return rc;
    if (a->npos > 1 && ctl_args_get(a, "console"))
        return ctl_usage_error("create: --console takes one FILE, not %d", a->npos);
    int first_failure = CTL_EXIT_OK;
    for (int i = 0; i < a->npos; i++) {
        rc = post_xml(c, a, a->pos[i], 1, &dom);
        if (rc == CTL_EXIT_OK) {
            if (!c->json)
                ctl_print_problems(dom);
            rc = after_start(c, a, dom, a->pos[i], "created");
            json_decref(dom);
        }
        if (rc != CTL_EXIT_OK && first_failure == CTL_EXIT_OK)
            first_failure = rc;
    }
    return first_failure;
}

int ctl_cmd_define(const struct ctl *c, const struct ctl_args *a)
{
    json_t *dom;
    int rc = post_xml(c, a, a->pos[0], 0, &dom);
    if (rc != CTL_EXIT_OK)
        return rc;
    if (c->json) {
        ctl_print_json(dom);
    } else {
        ctl_print_problems(dom);
        const char *uuid = json_string_value(json_object_get(dom, "uuid"));
        say(dom, a->pos[0], "defined%s%s%s", uuid ? " (uuid " : "", uuid ? uuid : "", uuid ? ")" : "");
    }
    json_decref(dom);
    return CTL_EXIT_OK;
}

/* POST /v1/domains/REF/ACTION with `body`; prints the answer or "Domain NAME <done>". */
static int simple_action(const struct ctl *c, const char *ref, const char *method, const char *action,
                         const json_t *body, long timeout_s, const char *done)
{
    char path[1200];
    json_t *dom;
    int rc = ctl_domain_path(ref, action, path, sizeof(path));
    if (rc == CTL_EXIT_OK)
        rc = ctl_call(c, method, path, body, timeout_s, &dom, NULL);
    if (rc != CTL_EXIT_OK)
        return rc;
    if (c->json)
        ctl_print_json(dom);
    else
        say(dom, ref, "%s", done);
    json_decref(dom);
    return CTL_EXIT_OK;
}

int ctl_cmd_start(const struct ctl *c, const struct ctl_args *a)
{
    char path[1200];
    json_t *dom;
    int rc = ctl_check_linger(a);
    if (rc == CTL_EXIT_OK)
        rc = ctl_domain_path(a->pos[0], "start", path, sizeof(path));
    if (rc != CTL_EXIT_OK)
        return rc;
    json_t *body = json_pack("{s:b}", "paused", ctl_args_get(a, "paused") != NULL);
    rc = ctl_call(c, "POST", path, body, CTL_REQUEST_TIMEOUT_S, &dom, NULL);
    json_decref(body);
    if (rc != CTL_EXIT_OK)
        return rc;
    rc = after_start(c, a, dom, a->pos[0], "started");
    json_decref(dom);
    return rc;
}

int ctl_cmd_undefine(const struct ctl *c, const struct ctl_args *a)
{
    return simple_action(c, a->pos[0], "DELETE", NULL, NULL, CTL_REQUEST_TIMEOUT_S, "undefined");
}

int ctl_cmd_pause(const struct ctl *c, const struct ctl_args *a)
{
    return simple_action(c, a->pos[0], "POST", "pause", NULL, CTL_REQUEST_TIMEOUT_S, "paused");
}

int ctl_cmd_unpause(const struct ctl *c, const struct ctl_args *a)
{
    return simple_action(c, a->pos[0], "POST", "unpause", NULL, CTL_REQUEST_TIMEOUT_S, "unpaused");
}

int ctl_cmd_reboot(const struct ctl *c, const struct ctl_args *a)
{
    return simple_action(c, a->pos[0], "POST", "reboot", NULL, CTL_REQUEST_TIMEOUT_S, "is being rebooted");
}

int ctl_cmd_reset(const struct ctl *c, const struct ctl_args *a)
{
    return simple_action(c, a->pos[0], "POST", "reset", NULL, CTL_REQUEST_TIMEOUT_S, "reset");
}

int ctl_cmd_destroy(const struct ctl *c, const struct ctl_args *a)
{
    return simple_action(c, a->pos[0], "POST", "destroy", NULL, CTL_REQUEST_TIMEOUT_S, "destroyed");
}

int ctl_cmd_shutdown(const struct ctl *c, const struct ctl_args *a)
{
    const char *timeout = ctl_args_get(a, "timeout");
    int wait = ctl_args_get(a, "wait") != NULL || timeout != NULL;
    uint64_t secs = SHUTDOWN_TIMEOUT_S;
    if (timeout && parse_u64_range(timeout, 0, 3600, &secs) < 0)
        return ctl_usage_error("--timeout: %s", err_msg());
    if (!wait) {
        json_t *body = json_pack("{s:b}", "wait", 0);
        int rc = simple_action(c, a->pos[0], "POST", "shutdown", body, CTL_REQUEST_TIMEOUT_S, "is being shut down");
        json_decref(body);
        return rc;
    }
    json_t *body = json_pack("{s:b, s:I}", "wait", 1, "timeout_s", (json_int_t)secs);
    int rc = simple_action(c, a->pos[0], "POST", "shutdown", body, (long)secs + WAIT_SLACK_S, "shut down");
    json_decref(body);
    return rc;
}

/* Default --deadline: long enough for a guest under software emulation to inflate a lot. */
#define MEM_SET_DEADLINE_MS 10000
#define MEM_SET_DEADLINE_MAX_MS (3600 * 1000)

int ctl_cmd_mem_set(const struct ctl *c, const struct ctl_args *a)
{
    uint64_t target, deadline_ms = MEM_SET_DEADLINE_MS;
    const char *deadline = ctl_args_get(a, "deadline");
    if (parse_size(a->pos[1], 1ULL << 20, &target) < 0)
        return ctl_usage_error("SIZE: %s", err_msg());
    if (deadline && parse_duration_ms(deadline, MEM_SET_DEADLINE_MAX_MS, &deadline_ms) < 0)
        return ctl_usage_error("--deadline: %s", err_msg());
    json_t *body = json_pack("{s:I, s:I}", "target_bytes", (json_int_t)target, "deadline_ms", (json_int_t)deadline_ms);
    char done[128];
    snprintf(done, sizeof(done), "has %llu MiB as its memory target, deadline %llu ms",
             (unsigned long long)(target >> 20), (unsigned long long)deadline_ms);
    int rc = simple_action(c, a->pos[0], "POST", "memory", body, CTL_REQUEST_TIMEOUT_S, done);
    json_decref(body);
    return rc;
}

/* Saving writes all of a large guest's memory: give xenod more than the usual minute. */
#define SAVE_TIMEOUT_S 180

/* FILE as an absolute path; the file need not exist yet (save): its name is kept as given. */
static int absolute_file(const char *file, char abs_path[PATH_MAX])
{
    char dir[PATH_MAX];
    if (file[0] == '/')
        snprintf(abs_path, PATH_MAX, "%s", file);
    else if (!getcwd(dir, sizeof(dir)) || snprintf(abs_path, PATH_MAX, "%s/%s", dir, file) >= PATH_MAX)
        return ctl_usage_error("FILE %s: cannot make it an absolute path", file);
    return CTL_EXIT_OK;
}

/* A snapshot's place in a save or restore body: a sponsor's name as it is (--snapshot: xenod
 * checks it), else a path made absolute from this directory. */
static int snapshot_member(const struct ctl_args *a, const char *arg, const char **key, char abs_path[PATH_MAX])
{
    if (ctl_args_get(a, "snapshot")) {
        *key = "snapshot";
        snprintf(abs_path, PATH_MAX, "%s", arg);
        return CTL_EXIT_OK;
    }
    *key = "path";
    return absolute_file(arg, abs_path);
}

int ctl_cmd_save(const struct ctl *c, const struct ctl_args *a)
{
    char abs_path[PATH_MAX];
    const char *key;
    int rc = snapshot_member(a, a->pos[1], &key, abs_path);
    if (rc != CTL_EXIT_OK)
        return rc;
    int keep = ctl_args_get(a, "keep-running") != NULL;
    json_t *body =
        json_pack("{s:s, s:b, s:b}", key, abs_path, "keep_running", keep, "shrink", ctl_args_get(a, "shrink") != NULL);
    char done[PATH_MAX + 64];
    snprintf(done, sizeof(done), "saved %s %s%s", strcmp(key, "path") ? "as snapshot" : "to", abs_path,
             keep ? " (still running)" : "");
    rc = simple_action(c, a->pos[0], "POST", "save", body, SAVE_TIMEOUT_S, done);
    json_decref(body);
    return rc;
}

int ctl_cmd_restore(const struct ctl *c, const struct ctl_args *a)
{
    char abs_path[PATH_MAX];
    const char *name = ctl_args_get(a, "name"), *key = "path";
    int rc = ctl_check_linger(a);
    if (rc == CTL_EXIT_OK)
        rc = snapshot_member(a, a->pos[0], &key, abs_path);
    if (rc != CTL_EXIT_OK)
        return rc;
    json_t *body = json_pack("{s:s, s:b}", key, abs_path, "paused", ctl_args_get(a, "paused") != NULL);
    if (body && name)
        json_object_set_new(body, "name", json_string(name));
    json_t *dom = NULL;
    rc = body ? ctl_call(c, "POST", "/v1/restore", body, SAVE_TIMEOUT_S, &dom, NULL) : CTL_EXIT_FAILED;
    json_decref(body);
    if (rc != CTL_EXIT_OK)
        return rc;
    rc = after_start(c, a, dom, name ? name : a->pos[0], "restored");
    json_decref(dom);
    return rc;
}
