/* Snapshots and migration: save a running domain to a file, restore one from a file, and
 * move one to or take one from another host (migrate_host.h carries the offer). */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "daemon/migrate_host.h"
#include "daemon/registry_priv.h"
#include "lib/err.h"
#include "lib/log.h"
#include "proto/migrate_proto.h"
#include "proto/blkback_stats.h"
#include "proto/control_proto.h"
#include "proto/snapshot.h"

#define SAVE_TIMEOUT_MS 120000              /* writing a large guest's memory takes its time */
#define MIGRATE_TIMEOUT_MS (30 * 60 * 1000) /* pre-copy of a large, busy guest over a slow link */

int reg_save(struct registry *r, struct reg_domain *d, const char *path, int keep_running, int shrink)
{
    char line[PATH_MAX + 32], reply[CONTROL_LINE_MAX];
    if (path[0] != '/' || strpbrk(path, " \t\r\n") || strlen(path) >= PATH_MAX)
        return err_set(EINVAL, "snapshot path '%s': give an absolute path without blanks", path);
    /* The monitor's sandbox lets it write only there (docs/security.md, Monitor sandbox). */
    size_t n = strlen(r->save_dir);
    if (strncmp(path, r->save_dir, n) != 0 || path[n] != '/' || strstr(path, "/../") || strstr(path, "/./"))
        return err_set(EACCES, "snapshot path '%s': outside the save directory %s (xenod --save-dir)", path,
                       r->save_dir);
    struct monitor *m = reg_grab_monitor(r, d);
    if (!m)
        return err_set(EBUSY, "domain '%s' is not running (start it first)", d->cfg.name);
    snprintf(line, sizeof(line), "save %s%s%s", path, keep_running ? " keep-running" : "", shrink ? " shrink" : "");
    int rc = monitor_request(m, line, reply, sizeof(reply), SAVE_TIMEOUT_MS);
    /* A save that stops the domain is recorded when the monitor ends, from its outcome. */
    pthread_mutex_lock(&r->lock);
    if (rc == 0 && keep_running)
        reg_event(r, d, "saved", "%s (%s), still running", path, reply[2] ? reply + 3 : "");
    pthread_mutex_unlock(&r->lock);
    reg_release_monitor(r, m);
    if (rc < 0) {
        return err_wrap(-rc, "domain '%s'", d->cfg.name);
    }
    /* Without keep-running the monitor ends now: answer once it has, and its disks are off
     * the backend (a restore right after adds them again, by the same names). */
    if (!keep_running && (rc = reg_wait_stopped(r, d, 10000)) == 0)
        rc = reg_wait_detached(r, d, REG_DETACH_WAIT_MS);
    return keep_running ? 0 : rc;
}

/* The domain a snapshot belongs to here: the one with its UUID if defined and stopped, else a
 * new transient one (as libvirt's restore of an undefined domain). Caller holds r->lock. */
static int restore_target(struct registry *r, const struct domain_config *cfg, const char *xml, const char *path,
                          int persistent, struct reg_domain **out, int *created)
{
    *out = NULL;
    *created = 0;
    /* A snapshot file or a migration offer is as hostile as an API request: the same
     * define-time checks. */
    int bad = reg_net_check_source(r, cfg, path);
    if (bad < 0)
        return bad;
    for (struct reg_domain *o = r->domains; o; o = o->next) {
        if (o->gone)
            continue;
        int same_uuid = strcmp(o->cfg.uuid, cfg->uuid) == 0;
        if (same_uuid && (o->mon || o->starting))
            return err_set(EBUSY, "domain '%s' (%s) from %s is running here; restore a copy with --name NEW",
                           o->cfg.name, o->cfg.uuid, path);
        if (same_uuid && (o->cfg.memory_bytes != cfg->memory_bytes || o->cfg.vcpus != cfg->vcpus))
            return err_set(EINVAL,
                           "%s: domain '%s' is defined here with %llu bytes and %u vCPUs, the incoming one "
                           "has %llu bytes and %u vCPUs",
                           path, o->cfg.name, (unsigned long long)o->cfg.memory_bytes, o->cfg.vcpus,
                           (unsigned long long)cfg->memory_bytes, cfg->vcpus);
        if (same_uuid) {
            *out = o;
            o->refs++;
            return 0;
        }
        if (strcmp(o->cfg.name, cfg->name) == 0)
            return err_set(EEXIST, "%s: a domain named '%s' with another UUID exists here", path, cfg->name);
    }
    int rc = reg_room_locked(r);
    if (rc == 0)
        rc = store_add_domain(&r->store, cfg, xml, path, persistent);
    if (rc == 0 && (rc = store_set_sched(&r->store, cfg->uuid, &cfg->sched)) < 0)
        store_remove_domain(&r->store, cfg->uuid);
    if (rc < 0)
        return rc;
    struct reg_domain *d = reg_add_domain(r, cfg, xml, path, persistent);
    if (!d) {
        store_remove_domain(&r->store, cfg->uuid);
        return err_set(ENOMEM, "out of memory");
    }
    d->refs++;
    reg_event(r, d, "defined", "from %s (%s)", path, persistent ? "persistent" : "transient");
    *out = d;
    *created = 1;
    return 0;
}

int reg_restore(struct registry *r, const char *path, const char *new_name, int paused, const char *sponsor,
                int (*admit)(void *ctx, const struct reg_domain *d), void *admit_ctx, struct reg_domain **out)
{
    struct snap_info info;
    struct domain_config cfg;
    char *xml = NULL, *renamed = NULL;
    size_t len = 0;
    int rc;

    *out = NULL;
    if (path[0] != '/' || strpbrk(path, " \t\r\n") || strlen(path) >= PATH_MAX)
        return err_set(EINVAL, "snapshot path '%s': give an absolute path without blanks", path);
    if (new_name && !domain_name_valid(new_name))
        return err_set(EINVAL, "--name '%s': use letters, digits, '_', '.' and '-' (not all digits, at most %d)",
                       new_name, DOMAIN_NAME_MAX);
    /* The whole file is checked here first, so a bad one is refused with nothing defined. */
    if ((rc = snapshot_inspect(path, &info, &xml, &len)) < 0) {
        char msg[ERR_MSG_MAX];
        snprintf(msg, sizeof(msg), "%s", err_msg());
        return err_set(rc == -ENOMEM ? ENOMEM : EBADMSG, "%s", msg); /* a bad request, whatever the file's fault */
    }
    if (!xml)
        return err_set(EBADMSG,
                       "snapshot %s holds no domain definition (its monitor was not started by xenod); resume it "
                       "with xeno-vmm --restore",
                       path);
    rc = domain_xml_parse(xml, len, path, NULL, &cfg);
    if (rc < 0) {
        free(xml);
        return err_wrap(rc == -ENOMEM ? ENOMEM : EBADMSG, "snapshot %s: its domain definition", path);
    }
    if (cfg.memory_bytes != info.mem_bytes || cfg.vcpus != info.nvcpus) {
        rc = err_set(EBADMSG, "snapshot %s: its definition says %llu bytes and %u vCPUs, its state %llu and %u", path,
                     (unsigned long long)cfg.memory_bytes, cfg.vcpus, (unsigned long long)info.mem_bytes, info.nvcpus);
        goto out;
    }
    if (sponsor && strcmp(cfg.sponsor, sponsor) != 0) {
        rc = err_set(EACCES, "snapshot %s is not a domain of sponsor '%s'", path, sponsor);
        goto out;
    }
    if (new_name) {
        /* A copy: its own name and identity, so it can run beside the original. */
        snprintf(cfg.name, sizeof(cfg.name), "%s", new_name);
        if ((rc = domain_uuid_generate(cfg.uuid)) < 0) {
            rc = err_set(-rc, "cannot generate a UUID: %s", strerror(-rc));
            goto out;
        }
    }
    /* What is stored is the definition with this identity, ready for the next snapshot. */
    size_t renamed_len;
    if ((rc = domain_xml_canonical(xml, len, &cfg, &renamed, &renamed_len)) < 0)
        goto out;

    struct reg_domain *d;
    int created;
    pthread_mutex_lock(&r->lock);
    rc = restore_target(r, &cfg, renamed, path, 0, &d, &created);
    pthread_mutex_unlock(&r->lock);
    if (rc < 0)
        goto out;
    struct reg_start_how how = {.paused = paused, .restore_file = path};
    if ((admit && (rc = admit(admit_ctx, d)) < 0) || (rc = reg_start_monitor(r, d, &how)) < 0) {
        if (created) {
            char msg[ERR_MSG_MAX];
            snprintf(msg, sizeof(msg), "%s", err_msg());
            pthread_mutex_lock(&r->lock);
            store_remove_domain(&r->store, d->cfg.uuid);
            reg_unlink_domain(r, d);
            pthread_mutex_unlock(&r->lock);
            err_set(-rc, "%s", msg);
        }
        reg_put(r, d);
        goto out;
    }
    *out = d;
out:
    free(xml);
    free(renamed);
    domain_config_free(&cfg);
    return rc;
}

/* ---- live migration between hosts (migrate_host.h) ---- */

_Static_assert(MIGRATE_OFFER_DISKS_MAX == DOMAIN_DISKS_MAX, "an offer carries every disk a domain may have");

/* Each disk of c's size from the offer, by target: the destination's monitor serves that size
 * (its backend has the images only after GO). */
static int offered_sizes(const struct domain_config *c, const struct migrate_offer_disk *disks, unsigned n,
                         const char *source, uint64_t bytes[DOMAIN_DISKS_MAX])
{
    if (n != c->ndisks)
        return err_set(EPROTO, "%s: the offer gives the sizes of %u disk(s), the domain has %u%s", source, n, c->ndisks,
                       n ? "" : " (a source xenod that moves no disks)");
    for (unsigned i = 0; i < c->ndisks; i++) {
        unsigned k = 0;
        while (k < n && strcmp(disks[k].target, c->disks[i].target) != 0)
            k++;
        if (k == n)
            return err_set(EPROTO, "%s: the offer gives no size for disk %s", source, c->disks[i].target);
        bytes[i] = disks[k].bytes;
    }
    return 0;
}

/* What the source offers of its disks: each one's size as its backend serves it (the stats
 * page). Caller holds r->lock. */
static int served_sizes_locked(struct registry *r, const struct reg_domain *d, struct migrate_offer_disk *out)
{
    for (unsigned i = 0; i < d->cfg.ndisks; i++) {
        const struct bb_stats_disk *k = reg_disk_stats_locked(r, d, i);
        if (!k || !k->size_bytes || k->size_bytes % 512)
            return err_set(EAGAIN,
                           "domain '%s': disk %s: the disk backend's page does not show its size yet; try again",
                           d->cfg.name, d->cfg.disks[i].target);
        snprintf(out[i].target, sizeof(out[i].target), "%s", d->cfg.disks[i].target);
        out[i].bytes = k->size_bytes;
    }
    return 0;
}

int reg_migrate_in(struct registry *r, const char *offer, size_t len, const char *console, size_t console_len,
                   const char *peer, const char *listen, const char *key_path, int (*on_listening)(void *, int),
                   int (*cancelled)(void *), void *ctx)
{
    char source[256], dir[PATH_MAX + 64];
    struct domain_config cfg;
    char *xml = NULL;
    size_t xml_len = 0;
    int persistent = 0;
    struct migrate_offer_disk disks[MIGRATE_OFFER_DISKS_MAX];
    unsigned ndisks = 0;
    uint64_t disk_bytes[DOMAIN_DISKS_MAX];
    (void)len;
    snprintf(source, sizeof(source), "<migration from %s>", peer);
    int rc = migrate_host_offer_decode(offer, &xml, &xml_len, &persistent, disks, &ndisks);
    if (rc < 0)
        return rc == -ENOMEM
                   ? err_set(ENOMEM, "out of memory")
                   : err_set(EPROTO, "%s: an offer without a domain definition, or with bad disk sizes", source);
    rc = domain_xml_parse(xml, xml_len, source, NULL, &cfg);
    if (rc < 0) {
        free(xml);
        return rc;
    }
    if ((rc = offered_sizes(&cfg, disks, ndisks, source, disk_bytes)) < 0) {
        free(xml);
        domain_config_free(&cfg);
        return rc;
    }
    struct reg_domain *d;
    int created;
    pthread_mutex_lock(&r->lock);
    rc = restore_target(r, &cfg, xml, source, persistent, &d, &created);
    if (rc == 0)
        reg_run_dir(r, d, dir, sizeof(dir));
    pthread_mutex_unlock(&r->lock);
    free(xml);
    domain_config_free(&cfg);
    if (rc < 0)
        return rc;
    /* The console history comes along: `xenctl console --dump` here shows what it printed
     * there, and the monitor appends to it. */
    if (console_len && mkdir(dir, 0700) < 0 && errno != EEXIST)
        log_warn("run directory %s: %s", dir, strerror(errno));
    if (console_len) {
        char path[PATH_MAX + 96];
        snprintf(path, sizeof(path), "%s/console.log", dir);
        FILE *f = fopen(path, "ae");
        if (f) {
            fwrite(console, 1, console_len, f);
            fclose(f);
        }
    }
    struct reg_start_how how = {.migrate_listen = listen,
                                .migrate_key = key_path,
                                .on_listening = on_listening,
                                .cancelled = cancelled,
                                .ctx = ctx,
                                .peer = peer,
                                .disk_bytes = disk_bytes};
    rc = reg_start_monitor(r, d, &how);
    if (rc < 0 && created) {
        char msg[ERR_MSG_MAX];
        snprintf(msg, sizeof(msg), "%s", err_msg());
        pthread_mutex_lock(&r->lock);
        reg_event(r, d, "migrate-in-failed", "from %s: %s", peer, msg);
        store_remove_domain(&r->store, d->cfg.uuid);
        reg_remove_run_dir(r, d);
        reg_unlink_domain(r, d);
        pthread_mutex_unlock(&r->lock);
        err_set(-rc, "%s", msg);
    }
    reg_put(r, d);
    return rc;
}

int reg_migrate(struct registry *r, struct reg_domain *d, const char *hostport, const struct reg_migrate_opts *o,
                char *result, size_t size)
{
    char host[128], port_s[16], line[PATH_MAX + 256], reply[CONTROL_LINE_MAX], dir[PATH_MAX + 64], path[PATH_MAX + 96];
    if (!r->migrate_key[0])
        return err_set(EINVAL, "xenod runs without --migrate-key: it cannot authenticate to another host");
    if (mig_split_hostport(hostport, host, sizeof(host), port_s, sizeof(port_s)) < 0)
        return -EINVAL;
    struct monitor *m = reg_grab_monitor(r, d);
    if (!m)
        return err_set(EBUSY, "domain '%s' is not running", d->cfg.name);

    /* The offer: the definition as it travels (name, UUID, sponsor, absolute paths). */
    char *xml = NULL, *console = NULL, *offer_text = NULL;
    size_t xml_len, console_len = 0;
    struct migrate_offer_disk disks[MIGRATE_OFFER_DISKS_MAX];
    int rc = domain_xml_canonical(d->xml, strlen(d->xml), &d->cfg, &xml, &xml_len);
    pthread_mutex_lock(&r->lock);
    if (rc == 0 && (rc = served_sizes_locked(r, d, disks)) == 0 &&
        !(offer_text = migrate_host_offer_encode(xml, d->persistent, disks, d->cfg.ndisks)))
        rc = err_set(ENOMEM, "out of memory");
    reg_run_dir(r, d, dir, sizeof(dir));
    snprintf(d->migration, sizeof(d->migration), "offering to %s", hostport);
    pthread_mutex_unlock(&r->lock);
    snprintf(path, sizeof(path), "%s/console.log", dir);
    FILE *f = fopen(path, "re");
    if (f) {
        /* The last 64 KiB of the console log go along with it. */
        if (fseek(f, -(64 << 10), SEEK_END) < 0)
            rewind(f);
        console = malloc(64 << 10);
        console_len = console ? fread(console, 1, 64 << 10, f) : 0;
        fclose(f);
    }
    free(xml);
    int port = 0;
    if (rc == 0)
        rc = migrate_host_offer(hostport, r->migrate_key, offer_text, console ? console : "", console_len, &port);
    free(offer_text);
    free(console);
    if (rc == 0) {
        int n = snprintf(line, sizeof(line), "migrate %s:%d key=%s", host, port, r->migrate_key);
        if (o->bandwidth_mbps)
            n += snprintf(line + n, sizeof(line) - (size_t)n, " bandwidth=%u", o->bandwidth_mbps);
        if (o->max_downtime_ms)
            n += snprintf(line + n, sizeof(line) - (size_t)n, " max-downtime=%u", o->max_downtime_ms);
        if (!o->live)
            snprintf(line + n, sizeof(line) - (size_t)n, " max-rounds=0");
        rc = monitor_request(m, line, reply, sizeof(reply), MIGRATE_TIMEOUT_MS);
    }
    pthread_mutex_lock(&r->lock);
    d->migration[0] = 0;
    if (rc < 0) {
        char msg[ERR_MSG_MAX];
        snprintf(msg, sizeof(msg), "%s", err_msg());
        reg_event(r, d, "migrate-failed", "to %s: %s", hostport, msg);
        err_set(-rc, "domain '%s': migration to %s failed: %s", d->cfg.name, hostport, msg);
    } else {
        snprintf(result, size, "%s", reply[2] ? reply + 3 : "");
    }
    pthread_mutex_unlock(&r->lock);
    reg_release_monitor(r, m);
    /* The monitor ends now (outcome `migrated`): answer once it has. */
    return rc < 0 ? rc : reg_wait_stopped(r, d, 10000);
}
