/* `xenctl console`: attach to a domain's console socket, or print the log xenod keeps. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ctl/commands.h"
#include "ctl/console_attach.h"
#include "ctl/console_ws.h"
#include "ctl/table.h"
#include "lib/err.h"
#include "lib/log.h"
#include "lib/parse.h"

int ctl_check_linger(const struct ctl_args *a)
{
    double unused;
    const char *linger = ctl_args_get(a, "linger");
    if (linger && ctl_parse_seconds(linger, 3600, &unused) < 0)
        return ctl_usage_error("--linger: %s", err_msg());
    return CTL_EXIT_OK;
}

/* The console over the remote xenod's WebSocket (console_ws.h). Frees label. */
static int attach_remote(const struct ctl *c, const json_t *dom, const char *ref, const struct ctl_console_opts *o,
                         char *label)
{
    char path[1200];
    const char *uuid = json_string_value(json_object_get(dom, "uuid"));
    int rc = ctl_domain_path(uuid ? uuid : ref, "console", path, sizeof(path));
    struct ctl_console_ws *w = NULL;
    int fd, signo = 0, r = -1;
    if (rc == CTL_EXIT_OK && (r = ctl_console_ws_open(&c->t, path, &w, &fd)) == 0) {
        r = ctl_console_attach_fd(fd, o, &signo);
        ctl_console_ws_close(w);
    }
    free(label);
    if (rc != CTL_EXIT_OK)
        return rc;
    if (r < 0) {
        log_error("%s", err_msg());
        return CTL_EXIT_FAILED;
    }
    return r == CTL_CONSOLE_SIGNALLED ? 128 + signo : CTL_EXIT_OK;
}

int ctl_attach_to(const struct ctl *c, const json_t *dom, const char *ref, const struct ctl_args *a)
{
    struct ctl_console_opts o = {.in_fd = STDIN_FILENO, .out_fd = STDOUT_FILENO, .linger_s = CTL_CONSOLE_LINGER_S};
    const char *linger = ctl_args_get(a, "linger");
    if (linger && ctl_parse_seconds(linger, 3600, &o.linger_s) < 0)
        return ctl_usage_error("--linger: %s", err_msg());

    const char *name = json_string_value(json_object_get(dom, "name"));
    char *label = ctl_sanitize(name ? name : ref);
    o.domain = label ? label : ref;
    const char *sock = json_string_value(json_object_get(dom, "console_socket"));
    /* Remote: the console socket named in the answer is a path on xenod's host, never to be
     * connected to here; the console comes over xenod's WebSocket instead. */
    if (c->t.server)
        return attach_remote(c, dom, ref, &o, label);
    if (!sock || !*sock) {
        const char *state = json_string_value(json_object_get(dom, "state"));
        log_error("domain %s is not running (state %s), so it has no console: start it with `xenctl start %s`, or "
                  "read its log with `xenctl console --dump %s`",
                  o.domain, state ? state : "unknown", o.domain, o.domain);
        free(label);
        return CTL_EXIT_FAILED;
    }
    int signo;
    int r = ctl_console_attach(sock, &o, &signo);
    int rc = CTL_EXIT_OK;
    if (r < 0) {
        log_error("%s", err_msg());
        rc = CTL_EXIT_FAILED;
    } else if (r == CTL_CONSOLE_SIGNALLED) {
        rc = 128 + signo; /* as a shell reports a command a signal ended */
    }
    free(label);
    return rc;
}

/* --dump: the kept log, as the bytes the guest wrote (the API answers text, not JSON, so
 * --json changes nothing here). */
static int dump(const struct ctl *c, const struct ctl_args *a, const char *path)
{
    char full[1400];
    const char *tail = ctl_args_get(a, "tail");
    uint64_t bytes;
    if (tail) {
        if (parse_size(tail, 1, &bytes) < 0)
            return ctl_usage_error("--tail: %s", err_msg());
        snprintf(full, sizeof(full), "%s?tail=%llu", path, (unsigned long long)bytes);
        path = full;
    }
    struct ctl_reply r;
    int rc = ctl_call(c, "GET", path, NULL, CTL_REQUEST_TIMEOUT_S, NULL, &r);
    if (rc != CTL_EXIT_OK)
        return rc;
    if (fwrite(r.body, 1, r.len, stdout) != r.len && errno != EPIPE) {
        log_error("writing the console log: %s", strerror(errno));
        rc = CTL_EXIT_FAILED;
    }
    ctl_reply_free(&r);
    return rc;
}

int ctl_cmd_console(const struct ctl *c, const struct ctl_args *a)
{
    char path[1200];
    int rc = ctl_domain_path(a->pos[0], NULL, path, sizeof(path));
    if (rc != CTL_EXIT_OK)
        return rc;
    if (ctl_args_get(a, "dump")) {
        strncat(path, "/console", sizeof(path) - strlen(path) - 1);
        return dump(c, a, path);
    }
    if (ctl_args_get(a, "tail"))
        return ctl_usage_error("--tail goes with --dump (usage: xenctl console REF --dump --tail BYTES)");
    rc = ctl_check_linger(a);
    if (rc != CTL_EXIT_OK)
        return rc;
    json_t *dom;
    rc = ctl_call(c, "GET", path, NULL, CTL_REQUEST_TIMEOUT_S, &dom, NULL);
    if (rc != CTL_EXIT_OK)
        return rc;
    rc = ctl_attach_to(c, dom, a->pos[0], a);
    json_decref(dom);
    return rc;
}
