#include "vmm/state/migrate_recv.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "lib/domain_config.h"
#include "lib/err.h"
#include "lib/file.h"
#include "lib/log.h"
#include "vmm/state/migrate_apply.h"
#include "vmm/state/migrate_state.h"

#define GO_TIMEOUT_MS 10000
#define INCOMING_ATTEMPTS 8     /* connections that fail the handshake before we give up */
#define INCOMING_GRACE_MS 15000 /* after the first failed one, the real source has this long */

/* RUN_DIR/migrate-port: the port we listen on, for xenod (docs/migration.md). */
static int publish_port(const char *run_dir, int port)
{
    char path[4200], line[16];
    if (mkdir(run_dir, 0700) < 0 && errno != EEXIST)
        return err_set(errno, "run directory %s: %s", run_dir, strerror(errno));
    if (snprintf(path, sizeof(path), "%s/migrate-port", run_dir) >= (int)sizeof(path))
        return err_set(ENAMETOOLONG, "run directory %s: path too long", run_dir);
    snprintf(line, sizeof(line), "%d\n", port);
    return file_write_atomic(path, line, strlen(line), 0600);
}

/* Whoever connects first is not necessarily the source: a stranger (no key, or not our
 * protocol at all) is closed and we go on accepting, up to INCOMING_ATTEMPTS connections and
 * for INCOMING_GRACE_MS after the first one failed. One handshake at a time, each within
 * MIG_AUTH_DEADLINE_MS, which the source's own handshake deadline outlasts while it waits in
 * our backlog. 0 with r->c authenticated, or the last handshake's failure (-EACCES for a
 * wrong key) with its message. */
static int accept_authenticated(struct migrate_recv *r, int lfd, const uint8_t *key, size_t keylen)
{
    char why[512] = "";
    int ret = 0, wait_ms = -1; /* the first connection: however long it takes */
    struct timespec t0 = {0}, t;
    for (int attempt = 1; attempt <= INCOMING_ATTEMPTS; attempt++) {
        if (wait_ms >= 0) {
            clock_gettime(CLOCK_MONOTONIC, &t);
            wait_ms = INCOMING_GRACE_MS - (int)((t.tv_sec - t0.tv_sec) * 1000 + (t.tv_nsec - t0.tv_nsec) / 1000000);
            if (wait_ms <= 0)
                break;
        }
        int a = mig_accept(&r->c, lfd, wait_ms);
        if (a == -ETIMEDOUT && wait_ms >= 0)
            break;
        if (a < 0) { /* EMFILE and the like: no spinning, and it counts as an attempt */
            log_warn("incoming migration: %s", err_msg());
            struct timespec pause = {0, 100 * 1000000L};
            nanosleep(&pause, NULL);
            ret = a;
            snprintf(why, sizeof(why), "%s", err_msg());
            continue;
        }
        log_info("migration from %s: authenticating", r->c.peer);
        if ((ret = mig_auth_destination(&r->c, key, keylen)) == 0)
            return 0;
        snprintf(why, sizeof(why), "%s", err_msg());
        log_warn("migration from %s refused (connection %d of at most %d): %s", r->c.peer, attempt, INCOMING_ATTEMPTS,
                 why);
        mig_close(&r->c);
        if (wait_ms < 0) {
            clock_gettime(CLOCK_MONOTONIC, &t0);
            wait_ms = INCOMING_GRACE_MS;
        }
    }
    return err_set(-ret, "%s", why);
}

int migrate_recv_accept(struct migrate_recv *r, const char *addr, const char *key_path, const char *run_dir)
{
    uint8_t key[MIG_KEY_MAX];
    size_t keylen;
    uint32_t len;
    memset(r, 0, sizeof(*r));
    r->c.fd = -1;
    int ret = mig_key_load(key_path, key, &keylen);
    if (ret < 0)
        return ret;
    r->buf = malloc(MIG_MAX_PAYLOAD);
    if (!r->buf)
        return err_set(ENOMEM, "out of memory");
    int port = 0;
    int lfd = mig_listen_port(addr, &port);
    if (lfd < 0)
        return lfd;
    if (run_dir && (ret = publish_port(run_dir, port)) < 0) {
        close(lfd);
        return ret;
    }
    log_info("waiting for a migration on %s (port %d)", addr, port);
    ret = accept_authenticated(r, lfd, key, keylen);
    memset(key, 0, sizeof(key));
    close(lfd);    /* one migration per monitor: nobody else gets in */
    if (run_dir) { /* whoever needed the port has used it */
        char path[4200];
        snprintf(path, sizeof(path), "%s/migrate-port", run_dir);
        unlink(path);
    }
    if (ret < 0)
        return ret;
    if ((ret = mig_expect(&r->c, MIG_CONFIG, r->buf, MIG_MAX_PAYLOAD, &len, "waiting for the domain's config")) < 0)
        return ret;
    if ((ret = migrate_apply_config(&r->cfg, &r->cpu, &r->have_cpu, &r->cpu_unknown, r->buf, len, r->c.peer)) < 0) {
        mig_send_error(&r->c, err_msg());
        return ret;
    }
    return 0;
}

int migrate_recv_adopt_cpu(struct migrate_recv *r, struct vm *vm)
{
    if (!r->have_cpu) {
        log_warn("%s: the source sends no CPU feature record (an older monitor); the guest's features are not checked",
                 r->c.peer);
        return 0;
    }
    return vm_cpu_adopt(vm, &r->cpu, r->cpu_unknown) < 0 ? err_wrap(EOPNOTSUPP, "%s: refused", r->c.peer) : 0;
}

int migrate_recv_load(struct migrate_recv *r, struct vm *vm)
{
    uint32_t type, len;
    int ret;
    if (vm->mem.size != r->cfg.mem_size)
        return err_set(EINVAL, "the VM's memory differs from the migrated config");
    for (;;) {
        if ((ret = mig_recv(&r->c, &type, r->buf, MIG_MAX_PAYLOAD, &len, "receiving memory")) < 0)
            return ret;
        if (type == MIG_PAGES) {
            if ((ret = migrate_apply_pages(vm->mem.host, vm->mem.size, r->buf, len, r->c.peer, &r->pages)) < 0)
                return ret;
        } else if (type == MIG_ROUND) {
            /* The source waits for this before it measures the round or pauses: the
             * pages are in our RAM, not queued in a socket buffer, so the last copy does
             * not begin behind a backlog (which would count as downtime). */
            struct mig_round rd = {0};
            memcpy(&rd, r->buf, len < sizeof(rd) ? len : sizeof(rd));
            r->rounds++;
            if ((ret = mig_send(&r->c, MIG_ROUND_ACK, &rd, sizeof(rd))) < 0)
                return ret;
        } else if (type == MIG_STATE) {
            break;
        } else {
            return err_set(EPROTO, "%s: unexpected %s message while receiving memory", r->c.peer, mig_type_name(type));
        }
    }
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    if ((ret = mig_state_apply(vm, r->buf, len)) < 0)
        return ret;
    clock_gettime(CLOCK_MONOTONIC, &t1);
    r->apply_us = (uint64_t)(t1.tv_sec - t0.tv_sec) * 1000000u + (uint64_t)(t1.tv_nsec - t0.tv_nsec) / 1000u;
    if ((ret = mig_send(&r->c, MIG_READY, NULL, 0)) < 0)
        return ret;
    /* Until GO the source may still run the domain: we hold ours. No GO (link cut,
     * source gone, timeout): we never run it. */
    r->c.timeout_ms = GO_TIMEOUT_MS;
    return mig_expect(&r->c, MIG_GO, r->buf, 64, &len, "waiting for the source to commit (go)");
}

void migrate_recv_started(struct migrate_recv *r)
{
    /* Test-only fault (tests/integration/migrate.sh): the acknowledgement is lost. */
    const char *fault = getenv("XENO_MIGRATE_TEST_FAULT");
    if (fault && !strcmp(fault, "no-started")) {
        log_warn("XENO_MIGRATE_TEST_FAULT=no-started: not telling the source that the domain runs");
        migrate_recv_close(r);
        return;
    }
    if (r->c.fd >= 0 && mig_send(&r->c, MIG_STARTED, NULL, 0) < 0)
        log_warn("telling the source we run: %s", err_msg());
    migrate_recv_close(r);
}

void migrate_recv_abort(struct migrate_recv *r, const char *why)
{
    mig_send_error(&r->c, why);
    migrate_recv_close(r);
}

void migrate_recv_close(struct migrate_recv *r)
{
    mig_close(&r->c);
    free(r->buf);
    r->buf = NULL;
}
