/* `xenctl dumpxml REF` and `xenctl edit REF`: a domain's definition as libvirt XML (GET
 * /v1/domains/{ref}/xml) and a new one from $EDITOR (PUT /v1/domains/{ref}/xml). An edit
 * that is refused changes nothing in xenod, and the edited text is never thrown away: it
 * can be edited again at once (on a terminal) or stays in its file, whose path is printed. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ctl/commands.h"
#include "ctl/table.h"
#include "lib/domain_config.h"
#include "lib/log.h"

/* GET .../xml: the text in *raw (ctl_reply_free after). */
static int get_xml(const struct ctl *c, const char *ref, struct ctl_reply *raw)
{
    char path[1200];
    int rc = ctl_domain_path(ref, "xml", path, sizeof(path));
    if (rc != CTL_EXIT_OK)
        return rc;
    return ctl_call(c, "GET", path, NULL, CTL_REQUEST_TIMEOUT_S, NULL, raw);
}

int ctl_cmd_dumpxml(const struct ctl *c, const struct ctl_args *a)
{
    struct ctl_reply raw;
    int rc = get_xml(c, a->pos[0], &raw);
    if (rc != CTL_EXIT_OK)
        return rc;
    if (c->json) {
        json_t *o = json_pack("{s:s%}", "xml", raw.body, raw.len);
        ctl_print_json(o);
        json_decref(o);
    } else {
        fwrite(raw.body, 1, raw.len, stdout);
    }
    ctl_reply_free(&raw);
    return CTL_EXIT_OK;
}

/* Runs $VISUAL or $EDITOR (as a shell command, like git and virsh: it may carry options)
 * on file. 0 when it exited 0. */
static int run_editor(const char *file)
{
    const char *editor = getenv("VISUAL");
    if (!editor || !*editor)
        editor = getenv("EDITOR");
    if (!editor || !*editor)
        editor = "vi";
    /* Passed through the environment, not pasted into the command: no quoting to get wrong. */
    if (setenv("XENCTL_EDITOR", editor, 1) < 0)
        return -errno;
    fflush(stdout);
    pid_t pid = fork();
    if (pid < 0)
        return -errno;
    if (pid == 0) {
        execl("/bin/sh", "sh", "-c", "exec $XENCTL_EDITOR \"$1\"", "sh", file, (char *)NULL);
        _exit(127);
    }
    int status;
    while (waitpid(pid, &status, 0) < 0)
        if (errno != EINTR)
            return -errno;
    return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : -ECANCELED;
}

static char *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    char *buf = malloc(DOMAIN_XML_MAX + 2);
    if (buf) {
        *len = fread(buf, 1, DOMAIN_XML_MAX + 1, f);
        buf[*len] = 0;
    }
    fclose(f);
    return buf;
}

/* On a terminal: "Edit again? [y/N]". Elsewhere: no (the file stays). */
static int ask_again(void)
{
    if (!isatty(STDIN_FILENO))
        return 0;
    fprintf(stderr, "Edit again? [y/N] ");
    char line[16];
    return fgets(line, sizeof(line), stdin) && (line[0] == 'y' || line[0] == 'Y');
}

/* Sends the edited text; CTL_EXIT_OK with the domain's new name printed. */
static int put_xml(const struct ctl *c, const char *ref, const char *text, size_t len)
{
    char path[1200];
    int rc = ctl_domain_path(ref, "xml", path, sizeof(path));
    if (rc != CTL_EXIT_OK)
        return rc;
    json_t *xml = json_stringn(text, len);
    if (!xml)
        return ctl_usage_error("the edited file is not UTF-8 text (or holds a NUL byte): domain XML must be UTF-8");
    json_t *body = json_pack("{s:o}", "xml", xml), *dom = NULL;
    rc = ctl_call(c, "PUT", path, body, CTL_REQUEST_TIMEOUT_S, &dom, NULL);
    json_decref(body);
    if (rc != CTL_EXIT_OK)
        return rc;
    if (c->json) {
        ctl_print_json(dom);
    } else {
        ctl_print_problems(dom);
        const char *name = json_string_value(json_object_get(dom, "name"));
        char *clean = ctl_sanitize(name ? name : ref);
        printf("Domain %s XML configuration edited.\n", clean ? clean : "?");
        free(clean);
    }
    json_decref(dom);
    return CTL_EXIT_OK;
}

int ctl_cmd_edit(const struct ctl *c, const struct ctl_args *a)
{
    const char *ref = a->pos[0];
    struct ctl_reply raw;
    int rc = get_xml(c, ref, &raw);
    if (rc != CTL_EXIT_OK)
        return rc;
    const char *tmp = getenv("TMPDIR");
    char file[PATH_MAX];
    snprintf(file, sizeof(file), "%s/xenctl-edit-XXXXXX.xml", tmp && *tmp ? tmp : "/tmp");
    int fd = mkstemps(file, 4);
    if (fd < 0) {
        ctl_reply_free(&raw);
        return ctl_usage_error("cannot create a file to edit in %s: %s", tmp && *tmp ? tmp : "/tmp", strerror(errno));
    }
    FILE *f = fdopen(fd, "w");
    int wrote = f && fwrite(raw.body, 1, raw.len, f) == raw.len;
    if (f ? fclose(f) != 0 : close(fd) != 0)
        wrote = 0;
    if (!wrote) {
        ctl_reply_free(&raw);
        unlink(file);
        return ctl_usage_error("cannot write %s", file);
    }
    for (;;) {
        if (run_editor(file) < 0) {
            log_error("the editor failed; nothing was changed (the text is in %s)", file);
            rc = CTL_EXIT_FAILED;
            break;
        }
        size_t len;
        char *text = read_file(file, &len);
        if (!text) {
            log_error("cannot read %s back: %s; nothing was changed", file, strerror(errno));
            rc = CTL_EXIT_FAILED;
            break;
        }
        if (len == raw.len && memcmp(text, raw.body, len) == 0) {
            free(text);
            printf("Domain %s XML configuration not changed.\n", ref);
            unlink(file);
            rc = CTL_EXIT_OK;
            break;
        }
        rc = put_xml(c, ref, text, len);
        free(text);
        if (rc == CTL_EXIT_OK) {
            unlink(file);
            break;
        }
        if (rc == CTL_EXIT_UNREACHABLE || !ask_again()) {
            fprintf(stderr, "The definition in xenod is unchanged; your edit is kept in %s\n", file);
            break;
        }
    }
    ctl_reply_free(&raw);
    return rc;
}
