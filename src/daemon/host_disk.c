/* The registry's side of the host's disk backend, xeno-blkback (docs/blkback.md): starting
 * and supervising it (backend_sup.h), giving it the domains' disks (add-disk before the
 * monitor starts, remove-disk when it ends), giving them back after a restart of the
 * backend or of xenod, and live QoS changes (`xenctl disk-qos`). */
#include <errno.h>
#include <inttypes.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "daemon/backend_sup.h"
#include "daemon/registry_priv.h"
#include "lib/err.h"
#include "lib/log.h"
#include "proto/blkback_stats.h"

#define BLK_REQUEST_TIMEOUT_MS 10000
/* A heartbeat at least every 2 s (the backend writes its page once a second while it serves). */
#define BLK_WATCHDOG_MS 6000
#define BLK_NICE (-10)

/* The host-wide name of the domain's disks on the backend: 'u' and the first 10 hex digits of
 * its UUID, then "-TARGET" (domain_disk_spec); the backend's names are [a-z0-9_-], 1-31, so a
 * libvirt group_name gets at most 19 characters after the tag's 12. */
void reg_disk_tag(const struct domain_config *c, char out[REG_DISK_TAG_SIZE])
{
    size_t n = 0;
    out[n++] = 'u';
    for (const char *p = c->uuid; *p && n < REG_DISK_TAG_SIZE - 1; p++)
        if ((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f'))
            out[n++] = *p;
        else if (*p >= 'A' && *p <= 'F')
            out[n++] = (char)(*p - 'A' + 'a');
    out[n] = 0;
}

/* The sponsor's disk limit from its policy (zeros: none, or no sponsor). Under r->lock (the
 * store's). */
static void sponsor_disk_limit_locked(struct registry *r, const char *sponsor, struct sponsor_policy *p)
{
    memset(p, 0, sizeof(*p));
    if (sponsor[0] && store_get_sponsor_policy(&r->store, sponsor, p) < 0)
        memset(p, 0, sizeof(*p));
}

static void sponsor_disk_limit(struct registry *r, const char *sponsor, struct sponsor_policy *p)
{
    pthread_mutex_lock(&r->lock);
    sponsor_disk_limit_locked(r, sponsor, p);
    pthread_mutex_unlock(&r->lock);
}

/* "add-disk SPEC" for disk i of c, served from RUN_DIR/disk-TARGET.sock. A sponsor whose
 * policy limits its disks puts each of them in its group on the backend, under a name any
 * sponsor name maps to (domain_disk_group_key), with the limit stated by every member so
 * that a change reaches the group whichever disk carries it first. */
static int add_disk_line(const struct domain_config *c, unsigned i, const char *dir, const struct sponsor_policy *sp,
                         char *line, size_t size)
{
    char tag[REG_DISK_TAG_SIZE], sock[PATH_MAX + 32], spec[2048], key[DOMAIN_DISK_KEY_SIZE], limit[128] = "";
    reg_disk_tag(c, tag);
    snprintf(sock, sizeof(sock), "%s/disk-%s.sock", dir, c->disks[i].target);
    int rc = domain_disk_spec(c, i, tag, sock, spec, sizeof(spec));
    if (rc < 0)
        return err_set(-rc, "domain '%s': disk %s: its backend spec does not fit (socket %s)", c->name,
                       c->disks[i].target, sock);
    if (c->sponsor[0] && (sp->disk_total_iops_sec || sp->disk_total_bytes_sec)) {
        if ((rc = domain_disk_group_key("", c->sponsor, key)) < 0)
            return err_set(-rc, "domain '%s': sponsor '%s': no backend group name", c->name, c->sponsor);
        size_t n = (size_t)snprintf(limit, sizeof(limit), ",sponsor=%s", key);
        if (sp->disk_total_iops_sec)
            n += (size_t)snprintf(limit + n, sizeof(limit) - n, ",sponsor_total_iops_sec=%" PRIu64,
                                  sp->disk_total_iops_sec);
        if (sp->disk_total_bytes_sec)
            snprintf(limit + n, sizeof(limit) - n, ",sponsor_total_bytes_sec=%" PRIu64, sp->disk_total_bytes_sec);
    }
    if ((size_t)snprintf(line, size, "add-disk %s%s", spec, limit) >= size)
        return err_set(ENAMETOOLONG, "domain '%s': disk %s: its backend spec is too long", c->name, c->disks[i].target);
    return 0;
}

/* Every running (or starting) domain's disks, given to a backend that just started or was
 * found running: the lines are built under r->lock, sent after it. */
static void readd_disks(void *ctx, int restarted)
{
    struct registry *r = ctx;
    char dir[PATH_MAX + 64];
    size_t n = 0, cap = 0;
    char **lines = NULL;
    pthread_mutex_lock(&r->lock);
    for (struct reg_domain *d = r->domains; d; d = d->next) {
        if (d->gone || !(d->mon || d->starting) || d->disks_after_go)
            continue;
        reg_run_dir(r, d, dir, sizeof(dir));
        struct sponsor_policy sp;
        sponsor_disk_limit_locked(r, d->cfg.sponsor, &sp);
        for (unsigned i = 0; i < d->cfg.ndisks; i++) {
            char line[2600];
            if (add_disk_line(&d->cfg, i, dir, &sp, line, sizeof(line)) < 0)
                continue;
            if (n == cap) {
                char **more = realloc(lines, (cap = cap ? 2 * cap : 16) * sizeof(*lines));
                if (!more)
                    break;
                lines = more;
            }
            if ((lines[n] = strdup(line)))
                n++;
        }
    }
    pthread_mutex_unlock(&r->lock);
    unsigned failed = 0;
    for (size_t i = 0; i < n; i++) {
        if (backend_sup_request(r->blkback, lines[i], NULL, 0, BLK_REQUEST_TIMEOUT_MS) < 0) {
            log_error("blkback: %s: %s", restarted ? "after its restart" : "at attach", err_msg());
            failed++;
        }
        free(lines[i]);
    }
    free(lines);
    if (n)
        log_info("blkback: %zu disk(s) of running domains given to the backend%s (%u failed)", n,
                 restarted ? " after its restart" : "", failed);
}

static int blkback_args(void *ctx, char **argv)
{
    struct registry *r = ctx;
    argv[0] = "--image-dir";
    argv[1] = r->image_dir;
    argv[2] = "--control";
    argv[3] = r->blk_sock;
    return 4;
}

/* The backend, started if none runs yet. Never called with r->lock held (it may wait for
 * the backend to come up, and readd_disks and its events take r->lock). */
static int ensure_blkback(struct registry *r)
{
    int rc = 0;
    pthread_mutex_lock(&r->blk_lock);
    if (!r->blkback) {
        if (!r->blk_path[0])
            rc = err_set(ENOTSUP, "this xenod has no disk backend (reg_set_disks was not called)");
        struct backend_sup_opts o = {.name = "blkback",
                                     .path = r->blk_path,
                                     .state_dir = r->blk_dir,
                                     .nice = BLK_NICE,
                                     .watchdog_ms = BLK_WATCHDOG_MS,
                                     .page_size = sizeof(struct bb_stats_page),
                                     .seq_off = offsetof(struct bb_stats_page, seq),
                                     .heartbeat_off = offsetof(struct bb_stats_page, heartbeat),
                                     .pid_off = offsetof(struct bb_stats_page, pid),
                                     .args = blkback_args,
                                     .on_started = readd_disks,
                                     .on_event = reg_on_backend_event,
                                     .ctx = r};
        if (rc == 0)
            rc = backend_sup_open(&r->blkback, &o);
    }
    pthread_mutex_unlock(&r->blk_lock);
    return rc;
}

int reg_set_disks(struct registry *r, const char *blkback_path)
{
    snprintf(r->blk_path, sizeof(r->blk_path), "%s", blkback_path);
    snprintf(r->blk_dir, sizeof(r->blk_dir), "%s/blkback", r->state_dir);
    snprintf(r->blk_sock, sizeof(r->blk_sock), "%s/control.sock", r->blk_dir);
    /* A backend an earlier xenod started serves running domains: supervise it again now
     * (its stats page names it), and give it every running domain's disks again. */
    char page[PATH_MAX + 32];
    snprintf(page, sizeof(page), "%s/stats", r->blk_dir);
    return access(page, F_OK) == 0 ? ensure_blkback(r) : 0;
}

static void remove_disk(struct registry *r, const struct domain_config *c, unsigned i, int quiet)
{
    char tag[REG_DISK_TAG_SIZE], line[64];
    reg_disk_tag(c, tag);
    snprintf(line, sizeof(line), "remove-disk %s-%s", tag, c->disks[i].target);
    if (backend_sup_request(r->blkback, line, NULL, 0, BLK_REQUEST_TIMEOUT_MS) < 0 && !quiet)
        log_warn("%s", err_msg());
}

void reg_disks_detach(struct registry *r, const struct domain_config *c, unsigned n)
{
    if (!r->blkback)
        return;
    for (unsigned i = 0; i < n && i < c->ndisks; i++)
        remove_disk(r, c, i, 0);
}

/* The monitor's --disk for disk i of c, of `bytes` (what the backend serves). */
static int monitor_disk_arg(const struct registry *r, const struct domain_config *c, unsigned i, const char *dir,
                            uint64_t bytes, char out[REG_DISK_ARG_SIZE])
{
    /* The monitor asks the backend for as many queues as the disk has (add_disk_line gave
     * the backend queues=N), so both sides agree. */
    /* image= and image-dir= name the image for a save or a migration, which record its
     * identity (docs/snapshot-format.md, "Disks"); the monitor takes only an absolute dir. */
    int n =
        snprintf(out, REG_DISK_ARG_SIZE, "socket=%s/disk-%s.sock,size=%" PRIu64 "%s,queues=%u", dir, c->disks[i].target,
                 bytes, c->disks[i].readonly ? ",readonly" : "", c->disks[i].queues ? c->disks[i].queues : 1);
    if (n > 0 && n < REG_DISK_ARG_SIZE && r->image_dir[0] == '/')
        n += snprintf(out + n, REG_DISK_ARG_SIZE - (size_t)n, ",image=%s,image-dir=%s", c->disks[i].file, r->image_dir);
    if (n < 0 || n >= REG_DISK_ARG_SIZE)
        return err_set(ENAMETOOLONG, "domain '%s': disk %s: the monitor's --disk value is longer than %d bytes",
                       c->name, c->disks[i].target, REG_DISK_ARG_SIZE - 1);
    return 0;
}

/* Disk i of c to the backend (a stale one of the name, xenod having crashed, goes first):
 * its size in bytes into *bytes. On failure nothing of it is left on the backend. */
static int add_disk(struct registry *r, const struct domain_config *c, unsigned i, const char *dir,
                    const struct sponsor_policy *sp, uint64_t *bytes)
{
    char line[2600], reply[256];
    uint64_t sectors = 0;
    int rc = add_disk_line(c, i, dir, sp, line, sizeof(line));
    if (rc < 0)
        return rc;
    remove_disk(r, c, i, 1);
    if ((rc = backend_sup_request(r->blkback, line, reply, sizeof(reply), BLK_REQUEST_TIMEOUT_MS)) < 0)
        /* The backend's refusal (an image missing or in use, a reservation over capacity) says why. */
        return err_wrap(-rc, "disk %s (image '%s')", c->disks[i].target, c->disks[i].file);
    const char *s = strstr(reply, " sectors=");
    if (!s || sscanf(s + 9, "%" SCNu64, &sectors) != 1 || !sectors || sectors > UINT64_MAX / 512) {
        rc = err_set(EIO, "domain '%s': disk %s: the backend's reply '%s' names no size", c->name, c->disks[i].target,
                     reply);
        remove_disk(r, c, i, 0);
        return rc;
    }
    *bytes = sectors * 512;
    return 0;
}

int reg_disks_attach(struct registry *r, const struct domain_config *c, const char *dir, char args[][REG_DISK_ARG_SIZE])
{
    int rc = c->ndisks ? ensure_blkback(r) : 0;
    unsigned i;
    struct sponsor_policy sp;
    sponsor_disk_limit(r, c->sponsor, &sp);
    for (i = 0; rc == 0 && i < c->ndisks; i++) {
        uint64_t bytes = 0;
        if ((rc = add_disk(r, c, i, dir, &sp, &bytes)) < 0)
            break;
        if ((rc = monitor_disk_arg(r, c, i, dir, bytes, args[i])) < 0) {
            i++; /* it was added: removed below */
            break;
        }
    }
    if (rc < 0) {
        char msg[ERR_MSG_MAX];
        snprintf(msg, sizeof(msg), "%s", err_msg());
        reg_disks_detach(r, c, i); /* nothing left half-attached */
        err_set(-rc, "%s", msg);
    }
    return rc;
}

int reg_disks_args(struct registry *r, const struct domain_config *c, const char *dir, const uint64_t *bytes,
                   char args[][REG_DISK_ARG_SIZE])
{
    int rc = 0;
    for (unsigned i = 0; rc == 0 && i < c->ndisks; i++)
        rc = monitor_disk_arg(r, c, i, dir, bytes[i], args[i]);
    return rc;
}

#define MOVED_RETRY_MS 50

int reg_disks_attach_moved(struct registry *r, const struct domain_config *c, const char *dir, const uint64_t *bytes,
                           int timeout_ms)
{
    struct timespec t0, now;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    int rc = ensure_blkback(r);
    struct sponsor_policy sp;
    sponsor_disk_limit(r, c->sponsor, &sp);
    for (unsigned i = 0; rc == 0 && i < c->ndisks; i++) {
        uint64_t got = 0;
        for (;;) {
            rc = add_disk(r, c, i, dir, &sp, &got);
            clock_gettime(CLOCK_MONOTONIC, &now);
            long spent = (now.tv_sec - t0.tv_sec) * 1000 + (now.tv_nsec - t0.tv_nsec) / 1000000;
            /* The backend's words for an image another process holds (image_lock: EBUSY): the
             * source's backend, until its xenod's remove-disk. Anything else is final. */
            if (rc == 0 || !strstr(err_msg(), " is in use (") || spent >= timeout_ms)
                break;
            usleep(MOVED_RETRY_MS * 1000);
        }
        if (rc == 0 && got != bytes[i])
            log_error("domain '%s': disk %s: this host's backend serves %" PRIu64 " bytes, the source served %" PRIu64
                      " (the guest goes on with the source's size; requests past the image fail)",
                      c->name, c->disks[i].target, got, bytes[i]);
    }
    return rc;
}

/* The domain's disks to give the backend again after a QoS change: the changed one, and all
 * of them when the weight (<blkiotune>: every disk's) changed. */
static int send_qos(struct registry *r, const struct domain_config *c, unsigned changed, int all, const char *dir)
{
    struct sponsor_policy sp;
    sponsor_disk_limit(r, c->sponsor, &sp);
    for (unsigned i = 0; i < c->ndisks; i++) {
        char line[2600];
        if (i != changed && !all)
            continue;
        int rc = add_disk_line(c, i, dir, &sp, line, sizeof(line));
        if (rc == 0)
            rc = backend_sup_request(r->blkback, line, NULL, 0, BLK_REQUEST_TIMEOUT_MS);
        if (rc < 0)
            return err_wrap(rc == -EIO ? EINVAL : -rc, "domain '%s': disk %s", c->name, c->disks[i].target);
    }
    return 0;
}

int reg_disk_qos(struct registry *r, struct reg_domain *d, const char *target, const struct domain_disk_qos *q,
                 struct domain_disk *now, uint32_t *weight)
{
    char dir[PATH_MAX + 64];
    int rc = 0;
    unsigned i = 0;
    pthread_mutex_lock(&d->op_lock); /* not while it starts or stops: the backend's disk is the start's */
    pthread_mutex_lock(&r->lock);
    while (i < d->cfg.ndisks && strcmp(d->cfg.disks[i].target, target) != 0)
        i++;
    struct domain_config c = d->cfg; /* a shallow copy: only its disks and weight are read */
    int running = d->mon != NULL;
    reg_run_dir(r, d, dir, sizeof(dir));
    pthread_mutex_unlock(&r->lock);
    if (i == c.ndisks)
        rc = err_set(ENOENT, "domain '%s' has no disk '%.16s'", c.name, target);
    else if ((rc = domain_disk_qos_merge(q, &c.disks[i], &c.blkio_weight)) < 0)
        rc = err_wrap(EINVAL, "domain '%s': disk %s", c.name, target);
    else if (running && q->given && (rc = ensure_blkback(r)) == 0)
        rc = send_qos(r, &c, i, (q->given >> DISK_QOS_WEIGHT) & 1, dir);
    pthread_mutex_lock(&r->lock);
    if (rc == 0) {
        d->cfg.disks[i] = c.disks[i];
        d->cfg.blkio_weight = c.blkio_weight;
        *now = c.disks[i];
        *weight = c.blkio_weight;
        if (q->given) {
            /* Kept in the stored definition (the canonical XML writes a changed disk's QoS):
             * dumpxml and the next xenod show it. d->xml itself stays as defined (read
             * without a lock). */
            char *xml = NULL;
            size_t len;
            if (domain_xml_canonical(d->xml, strlen(d->xml), &d->cfg, &xml, &len) < 0 ||
                store_set_xml(&r->store, d->cfg.uuid, xml) < 0)
                log_error("domain '%s': disk-qos not stored: %s", d->cfg.name, err_msg());
            free(xml);
            reg_event(r, d, "disk-qos", "disk %s: changed%s", target, running ? "" : " (from the next start)");
        }
    }
    pthread_mutex_unlock(&r->lock);
    pthread_mutex_unlock(&d->op_lock);
    return rc;
}

int reg_disks_sponsor_policy(struct registry *r, const char *sponsor, char *why, size_t size)
{
    struct reg_domain **list = NULL;
    size_t n = 0, cap = 0, len = 0;
    int refused = 0;
    if (size)
        why[0] = 0;
    if (!r->blkback)
        return 0; /* no backend yet: no disk runs, each takes the policy at its start */
    pthread_mutex_lock(&r->lock);
    for (struct reg_domain *d = r->domains; d; d = d->next) {
        if (d->gone || !d->mon || !d->cfg.ndisks || strcmp(d->cfg.sponsor, sponsor) != 0)
            continue;
        if (n == cap) {
            struct reg_domain **more = realloc(list, (cap = cap ? 2 * cap : 8) * sizeof(*list));
            if (!more)
                break;
            list = more;
        }
        d->refs++;
        list[n++] = d;
    }
    pthread_mutex_unlock(&r->lock);
    for (size_t k = 0; k < n; k++) {
        struct reg_domain *d = list[k];
        char dir[PATH_MAX + 64];
        pthread_mutex_lock(&d->op_lock); /* not while it starts or stops, as reg_disk_qos */
        pthread_mutex_lock(&r->lock);
        struct domain_config c = d->cfg; /* a shallow copy: only its disks and weight are read */
        int running = d->mon != NULL;
        reg_run_dir(r, d, dir, sizeof(dir));
        pthread_mutex_unlock(&r->lock);
        for (unsigned i = 0; running && i < c.ndisks; i++) {
            if (send_qos(r, &c, i, 0, dir) == 0)
                continue;
            refused++;
            log_warn("sponsor '%s': %s", sponsor, err_msg());
            int w = snprintf(why + len, size > len ? size - len : 0, "%s%s", len ? "; " : "", err_msg());
            len += w > 0 && (size_t)w < size - len ? (size_t)w : 0;
        }
        pthread_mutex_unlock(&d->op_lock);
        reg_put(r, d);
    }
    free(list);
    return refused;
}
