/* The registry's side of disk metering (docs/metering.md, "Disk meters"): the counters
 * xeno-blkback keeps of each domain's disks, read from its stats page for `xenctl info`, the
 * usage samples and the ledger. The backend names a domain's disk "u<UUID's first 10 hex
 * digits>-<target>" (reg_disk_tag, blk_meter_disk_name); it is read only while the domain
 * runs. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "daemon/billing.h"
#include "daemon/blk_meter.h"
#include "daemon/registry_priv.h"
#include "daemon/views.h"
#include "lib/err.h"
#include "lib/log.h"

_Static_assert(METER_DISKS_MAX == DOMAIN_DISKS_MAX, "one meter source per disk a domain may have");

/* The reader, made at first use, and the page brought up to date. NULL when there is no
 * good copy (no backend, or a page that is not one: said once in the log). */
static struct blk_meter *page_locked(struct registry *r)
{
    if (!r->blk_page) {
        char path[PATH_MAX + 32];
        snprintf(path, sizeof(path), "%s/blkback/stats", r->state_dir);
        r->blk_page = malloc(sizeof(*r->blk_page));
        if (!r->blk_page)
            return NULL;
        blk_meter_init(r->blk_page, path);
    }
    struct blk_meter *m = r->blk_page;
    /* One look per pass: a pass over many domains (/metrics, the samples) asks once per disk,
     * and the backend writes the page about once a second. */
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    uint64_t now = (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
    if (m->checked_ns && now - m->checked_ns < 50000000ull)
        return m->valid ? m : NULL;
    m->checked_ns = now;
    int was = m->valid, rc = blk_meter_refresh(m);
    if (rc < 0 && rc != -ENOENT && was)
        log_warn("xeno-blkback's stats page %s: %s (disk counters unknown until it is good again)", m->path,
                 strerror(-rc));
    return m->valid ? m : NULL;
}

const struct bb_stats_disk *reg_disk_stats_locked(struct registry *r, const struct reg_domain *d, unsigned i)
{
    if (!d->mon || i >= d->cfg.ndisks)
        return NULL;
    struct blk_meter *m = page_locked(r);
    char name[BLK_METER_NAME_MAX], tag[REG_DISK_TAG_SIZE];
    reg_disk_tag(&d->cfg, tag);
    if (!m || blk_meter_disk_name(name, tag, d->cfg.disks[i].target) < 0)
        return NULL;
    return blk_meter_find(m, name);
}

void reg_disk_readings_locked(struct registry *r, const struct reg_domain *d, struct billing_reading *out)
{
    for (unsigned i = 0; i < d->cfg.ndisks && i < METER_DISKS_MAX; i++) {
        const struct bb_stats_disk *k = reg_disk_stats_locked(r, d, i);
        if (!k || !k->added_ns)
            continue;
        out->has_disk[i] = 1;
        /* As of the page's update: the counters' own time, so a reading is exact. */
        blk_meter_reading(k, r->blk_page->page.updated_ns, &out->disk[i]);
    }
}

void reg_disk_samples_locked(struct registry *r, const struct reg_domain *d)
{
    for (unsigned i = 0; i < d->cfg.ndisks; i++) {
        const struct bb_stats_disk *k = reg_disk_stats_locked(r, d, i);
        if (!k)
            continue;
        const int64_t v[STORE_DISK_FIELDS] = {(int64_t)k->reads,          (int64_t)k->writes,
                                              (int64_t)k->flushes,        (int64_t)k->discards,
                                              (int64_t)k->write_zeroes,   (int64_t)k->bytes_read,
                                              (int64_t)k->bytes_written,  (int64_t)(k->ioerr + k->unsupp),
                                              (int64_t)k->throttled_ns,   (int64_t)k->size_bytes,
                                              (int64_t)k->allocated_bytes};
        if (store_add_disk_sample(&r->store, d->cfg.uuid, d->cfg.disks[i].target, v) < 0)
            log_error("%s", err_msg());
    }
}

void reg_disks_close(struct registry *r)
{
    if (r->blk_page)
        blk_meter_fini(r->blk_page);
    free(r->blk_page);
    r->blk_page = NULL;
}

/* A percentile as JSON: the histogram bucket's upper edge in ns (0: no requests), null when
 * it is the last, open bucket (no upper edge). */
static json_t *latency_json(const uint64_t lat[BB_STATS_LAT_BUCKETS], unsigned permille)
{
    uint64_t ns = blk_meter_latency_ns(lat, permille);
    return ns == UINT64_MAX ? json_null() : json_integer((json_int_t)ns);
}

json_t *disk_stats_json(const struct bb_stats_disk *k)
{
    json_t *hist = json_array();
    for (unsigned b = 0; hist && b < BB_STATS_LAT_BUCKETS; b++)
        json_array_append_new(hist, json_integer((json_int_t)k->latency[b]));
    json_t *o = json_pack("{s:s, s:b, s:I, s:{s:I, s:I, s:I, s:I, s:I}, s:I, s:I, s:I, s:I, s:I}", "backend_name",
                          k->name, "connected", k->connected != 0, "connects", (json_int_t)k->connects, "ops", "read",
                          (json_int_t)k->reads, "write", (json_int_t)k->writes, "flush", (json_int_t)k->flushes,
                          "discard", (json_int_t)k->discards, "write_zeroes", (json_int_t)k->write_zeroes, "bytes_read",
                          (json_int_t)k->bytes_read, "bytes_written", (json_int_t)k->bytes_written, "throttled_ns",
                          (json_int_t)k->throttled_ns, "size_bytes", (json_int_t)k->size_bytes, "allocated_bytes",
                          (json_int_t)k->allocated_bytes);
    if (!o) {
        json_decref(hist);
        return json_null();
    }
    json_object_set_new(o, "errors",
                        json_pack("{s:I, s:I, s:I, s:I}", "io", (json_int_t)k->ioerr, "unsupported",
                                  (json_int_t)k->unsupp, "bad_chains", (json_int_t)k->bad_chains, "ring",
                                  (json_int_t)k->ring_errors));
    json_object_set_new(o, "latency_ns",
                        json_pack("{s:o, s:o, s:o, s:o}", "p50", latency_json(k->latency, 500), "p90",
                                  latency_json(k->latency, 900), "p99", latency_json(k->latency, 990), "max",
                                  latency_json(k->latency, 1000)));
    json_object_set_new(o, "latency_histogram", hist);
    json_object_set_new(o, "latency_base_ns", json_integer((json_int_t)BB_STATS_LAT_BASE_NS));
    json_object_set_new(o, "reservation", json_integer((json_int_t)k->reservation));
    json_object_set_new(o, "weight", json_integer((json_int_t)k->weight));
    return o;
}
