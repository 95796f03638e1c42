#include "net/audit_events.h"

#include "lib/err.h"
#include "lib/log.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int open_current(struct nb_audit_events *e)
{
    e->fd = openat(e->dirfd, AUDIT_EVENTS_FILE, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
    if (e->fd < 0)
        return err_set(errno, "audit events: opening %s: %s", AUDIT_EVENTS_FILE, strerror(errno));
    struct stat st;
    e->size = fstat(e->fd, &st) == 0 ? (uint64_t)st.st_size : 0;
    return 0;
}

int audit_events_open(struct nb_audit_events *e, int dirfd, uint64_t max_bytes)
{
    memset(e, 0, sizeof(*e));
    e->dirfd = dirfd;
    e->max_bytes = max_bytes ? max_bytes : AUDIT_EVENTS_MAX_BYTES;
    return open_current(e);
}

void audit_events_close(struct nb_audit_events *e)
{
    if (e->fd >= 0)
        close(e->fd);
    e->fd = -1;
}

size_t audit_events_format(const struct audit_event *ev, char *buf, size_t size)
{
    char detail[700];
    audit_event_detail(ev, detail, sizeof(detail));
    /* Engine-wide events (a log error) have no domain: "-" keeps the word non-empty. */
    int n = snprintf(buf, size, "domain=%s sponsor=%s kind=%s action=%s %s", ev->domain[0] ? ev->domain : "-",
                     ev->sponsor[0] ? ev->sponsor : "-", audit_event_kind_name(ev->kind), audit_action_name(ev->action),
                     detail);
    size_t len = n < 0 ? 0 : (size_t)n >= size - 1 ? size - 2 : (size_t)n;
    /* Names are printable, but the source quotes a rules file and evidence may quote a path:
     * nothing may break the one-line framing xenod relies on. */
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)buf[i] < 0x20 || buf[i] == 0x7f)
            buf[i] = '?';
    buf[len++] = '\n';
    buf[len] = 0;
    return len;
}

static void rotate(struct nb_audit_events *e)
{
    if (renameat(e->dirfd, AUDIT_EVENTS_FILE, e->dirfd, AUDIT_EVENTS_OLD) < 0) {
        log_warn("audit events: renaming %s to %s: %s", AUDIT_EVENTS_FILE, AUDIT_EVENTS_OLD, strerror(errno));
        e->errors++;
        return;
    }
    close(e->fd);
    e->rotations++;
    if (open_current(e) < 0) {
        log_warn("%s", err_msg());
        e->errors++;
    }
}

void audit_events_append(void *opaque, const struct audit_event *ev)
{
    struct nb_audit_events *e = opaque;
    char line[AUDIT_EVENTS_LINE_MAX];
    size_t len = audit_events_format(ev, line, sizeof(line));
    if (e->fd >= 0 && e->size + len > e->max_bytes)
        rotate(e);
    if (e->fd < 0 && open_current(e) < 0) {
        e->errors++;
        return;
    }
    ssize_t w = write(e->fd, line, len);
    if (w != (ssize_t)len) {
        /* A full disk must not stop the datapath: counted and logged, the frame goes on. */
        if (e->errors++ == 0)
            log_warn("audit events: write: %s", w < 0 ? strerror(errno) : "short write");
        return;
    }
    e->size += len;
    e->lines++;
}
