/* The disk scheduler in xeno-blkback's request path (blkback.h, docs/blkback.md
 * "Scheduler"): one iosched queue per disk, groups from group= (libvirt group_name: the
 * group holds the <iotune>, its disks none of their own) and sponsor= (a limit over all the
 * sponsor's disks), reservations admitted against the calibrated capacity. Same thread as
 * the rest of the backend. */
#include "blk/blkback.h"

#include "lib/err.h"
#include "lib/log.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int blkback_set_device(struct blkback *bb, const struct blk_capacity *cap, unsigned depth)
{
    if (bb->ndisks)
        return err_set(EBUSY, "the device's capacity and depth are set before any disk");
    depth = depth ? depth : BLK_DEVICE_DEPTH_DEFAULT;
    if (depth > BLK_URING_ENTRIES)
        return err_set(EINVAL, "device depth %u is above %u", depth, BLK_URING_ENTRIES);
    struct blk_iosched_config c = {.queues = BLK_MAX_DISKS,
                                   .groups = BLK_SCHED_GROUPS,
                                   .queue_depth = BLK_MAX_QUEUES * VRING_MAX_NUM,
                                   .device_depth = depth,
                                   .ref_bytes = cap ? cap->ref_bytes : 0};
    struct blk_iosched *s;
    int e = blk_iosched_create(&c, blk_now_ns(), &s);
    if (e)
        return e;
    if (bb->sched)
        blk_iosched_destroy(bb->sched);
    bb->sched = s;
    bb->device_depth = depth;
    bb->sched_retry_at_ns = UINT64_MAX;
    bb->cap = cap ? *cap : (struct blk_capacity){0};
    memset(bb->group, 0, sizeof(bb->group));
    return 0;
}

/* The group of that name and kind, or a free one (members 0) other than `taken` (a number
 * just chosen for the other kind). Its number (index + 1). */
static int group_slot(struct blkback *bb, const char *name, bool sponsor, uint32_t taken, uint32_t *out)
{
    int spare = -1;
    for (unsigned i = 0; i < BLK_SCHED_GROUPS; i++) {
        const struct blk_sched_group *g = &bb->group[i];
        if (g->members && g->sponsor == sponsor && !strcmp(g->name, name)) {
            *out = i + 1;
            return 0;
        }
        if (!g->members && spare < 0 && i + 1 != taken)
            spare = (int)i;
    }
    if (spare < 0)
        return err_set(ENOSPC, "no room for %s %s (at most %u groups)", sponsor ? "sponsor" : "group", name,
                       BLK_SCHED_GROUPS);
    *out = (uint32_t)spare + 1;
    return 0;
}

/* What the disks other than d reserve in all (the group's or sponsor's members only when
 * name is given), listed in holders. */
static uint64_t held_by_others(const struct blkback *bb, const struct blk_disk *d, const char *group,
                               const char *sponsor, char *holders, size_t size)
{
    uint64_t held = 0;
    size_t off = 0;
    holders[0] = 0;
    for (unsigned i = 0; i < bb->ndisks; i++) {
        const struct blk_disk *o = bb->disk[i];
        const struct blk_qos *q = &o->cfg.qos;
        if (o == d || !q->reservation || (group && strcmp(q->group, group)) || (sponsor && strcmp(q->sponsor, sponsor)))
            continue;
        held += q->reservation;
        if (off < size) {
            int w = snprintf(holders + off, size - off, "%s%s %llu", off ? ", " : "", o->cfg.name,
                             (unsigned long long)q->reservation);
            off += w > 0 ? (size_t)w : 0;
        }
    }
    return held;
}

/* Admission of d's reservation (d need not be in bb->disk yet): the host's capacity, then
 * its group's and its sponsor's IOPS limits. 0 or -errno with the reason. */
static int admit(struct blkback *bb, const struct blk_disk *d, const struct blk_qos *q,
                 const struct blk_iotune *sponsor_tune)
{
    if (!q->reservation)
        return 0;
    char holders[512], why[640];
    uint64_t held = held_by_others(bb, d, NULL, NULL, holders, sizeof(holders));
    int rc = blk_admit(&bb->cap, held, holders, d->cfg.name, q->reservation, q->group[0] ? NULL : &q->iotune, why,
                       sizeof(why));
    if (rc == 0 && q->group[0]) {
        held = held_by_others(bb, d, q->group, NULL, holders, sizeof(holders));
        rc = blk_admit_in_group(q->group, &q->iotune, held, holders, d->cfg.name, q->reservation, why, sizeof(why));
    }
    if (rc == 0 && q->sponsor[0]) {
        held = held_by_others(bb, d, NULL, q->sponsor, holders, sizeof(holders));
        rc = blk_admit_in_group(q->sponsor, sponsor_tune, held, holders, d->cfg.name, q->reservation, why, sizeof(why));
    }
    return rc ? err_set(-rc, "%s", why) : 0;
}

static bool iotune_empty(const struct blk_iotune *t)
{
    static const struct blk_iotune none;
    return blk_iotune_equal(t, &none);
}

/* Checks q for d, resolves its groups, admits it and applies it. live: d is served already
 * (a group's new limits then apply to every member, as libvirt's blkdeviotune does); else a
 * new disk must state the limits its group has (libvirt's rule). Nothing changes on error. */
static int apply(struct blkback *bb, struct blk_disk *d, const struct blk_qos *q, bool live)
{
    char what[48];
    snprintf(what, sizeof(what), "disk %s", d->cfg.name);
    int e = blk_qos_check(q, what);
    uint32_t g[2] = {0, 0};
    if (!e && q->group[0])
        e = group_slot(bb, q->group, false, 0, &g[0]);
    if (!e && q->sponsor[0])
        e = group_slot(bb, q->sponsor, true, g[0], &g[1]);
    if (e)
        return e;
    const struct blk_sched_group *grp = g[0] ? &bb->group[g[0] - 1] : NULL;
    const struct blk_sched_group *sp = g[1] ? &bb->group[g[1] - 1] : NULL;
    bool grp_shared = grp && grp->members > (live && d->sched_g[0] == g[0]);
    bool sp_shared = sp && sp->members > (live && d->sched_g[1] == g[1]);
    if (!live && grp_shared && !blk_iotune_equal(&grp->tune, &q->iotune))
        return err_set(EINVAL, "%s: group %s has other limits: every disk of a group states the same (libvirt)", what,
                       q->group);
    struct blk_iotune sp_tune = q->sponsor_iotune;
    if (sp_shared && iotune_empty(&sp_tune))
        sp_tune = sp->tune; /* a disk that names the sponsor only joins its limit */
    else if (!live && sp_shared && !blk_iotune_equal(&sp->tune, &sp_tune))
        return err_set(EINVAL, "%s: sponsor %s has other limits", what, q->sponsor);
    if ((e = admit(bb, d, q, &sp_tune)))
        return e;
    uint64_t now = blk_now_ns();
    if ((g[0] && (e = blk_iosched_group_set(bb->sched, g[0], &q->iotune, now))) ||
        (g[1] && (e = blk_iosched_group_set(bb->sched, g[1], &sp_tune, now))))
        return e;
    struct blk_iosched_params p = {.reservation = q->reservation, .weight = q->weight, .group = {g[0], g[1]}};
    if (!g[0])
        p.limits = q->iotune;
    if ((e = blk_iosched_queue_set(bb->sched, d->sched_q, &p, now)))
        return e;
    for (int k = 0; k < 2; k++) {
        if (live && d->sched_g[k])
            bb->group[d->sched_g[k] - 1].members--;
        d->sched_g[k] = g[k];
        if (!g[k])
            continue;
        struct blk_sched_group *x = &bb->group[g[k] - 1];
        snprintf(x->name, sizeof(x->name), "%s", k ? q->sponsor : q->group);
        x->sponsor = k == 1;
        x->tune = k ? sp_tune : q->iotune;
        x->members++;
    }
    d->cfg.qos = *q;
    for (unsigned i = 0; i < bb->ndisks; i++) /* what every member states follows the group */
        if (g[0] && bb->disk[i]->sched_g[0] == g[0])
            bb->disk[i]->cfg.qos.iotune = q->iotune;
    return 0;
}

int blk_sched_attach(struct blk_disk *d)
{
    struct blkback *bb = d->bb;
    unsigned i = 0;
    while (i < BLK_MAX_DISKS && (bb->queue_used[i / 64] >> (i % 64) & 1))
        i++;
    if (i == BLK_MAX_DISKS)
        return err_set(ENOSPC, "disk %s: no scheduler queue free", d->cfg.name);
    d->sched_q = i;
    d->sched_g[0] = d->sched_g[1] = 0;
    struct blk_qos q = d->cfg.qos;
    int e = apply(bb, d, &q, false);
    if (e)
        return e;
    bb->queue_used[i / 64] |= 1ull << (i % 64);
    return 0;
}

void blk_sched_detach(struct blk_disk *d)
{
    struct blkback *bb = d->bb;
    if (!(bb->queue_used[d->sched_q / 64] >> (d->sched_q % 64) & 1))
        return;
    if (blk_iosched_queue_remove(bb->sched, d->sched_q) < 0) {
        log_warn("disk %s: %s", d->cfg.name, err_msg());
        return; /* still busy: the queue stays taken rather than be reused under requests */
    }
    for (int k = 0; k < 2; k++)
        if (d->sched_g[k])
            bb->group[d->sched_g[k] - 1].members--;
    d->sched_g[0] = d->sched_g[1] = 0;
    bb->queue_used[d->sched_q / 64] &= ~(1ull << (d->sched_q % 64));
}

int blkback_set_qos(struct blkback *bb, const char *name, const struct blk_qos *qos)
{
    for (unsigned i = 0; i < bb->ndisks; i++)
        if (!strcmp(bb->disk[i]->cfg.name, name)) {
            struct blk_qos q = *qos;
            int e = apply(bb, bb->disk[i], &q, true);
            if (!e)
                log_info("disk %s: QoS changed (reservation %llu, weight %u)", name, (unsigned long long)q.reservation,
                         q.weight);
            return e;
        }
    return err_set(ENOENT, "no disk %.40s", name);
}

/* ---- the request path ---- */

static uint32_t io_bytes(const struct blk_req *r)
{
    if (r->type == VIRTIO_BLK_T_IN || r->type == VIRTIO_BLK_T_OUT)
        return r->len;
    if (r->type != VIRTIO_BLK_T_WRITE_ZEROES)
        return 0; /* flush, discard: metadata, charged as one operation */
    uint64_t n = 0;
    for (unsigned i = 0; i < r->nranges; i++)
        n += (uint64_t)r->ranges[i].num_sectors * VIRTIO_BLK_SECTOR;
    return n > BLK_IO_MAX_BYTES ? BLK_IO_MAX_BYTES : (uint32_t)n;
}

void blk_sched_enqueue(struct blk_slot *s)
{
    struct blk_disk *d = s->q->disk;
    struct blk_io io = {.cookie = (uintptr_t)s,
                        .bytes = io_bytes(&s->req),
                        .dir = s->req.type == VIRTIO_BLK_T_IN ? BLK_IO_READ : BLK_IO_WRITE};
    if (blk_iosched_enqueue(d->bb->sched, d->sched_q, &io, s->queued_ns) == 0) {
        s->scheduled = true;
        return;
    }
    /* Cannot happen (the queue holds every slot of every ring): served unscheduled rather
     * than dropped. */
    log_warn("disk %s: %s", d->cfg.name, err_msg());
    blk_fifo_push(d->bb, s);
}

void blk_sched_pick(struct blkback *bb, struct blk_disk *force)
{
    uint64_t now = blk_now_ns();
    struct blk_iosched_pick p;
    if (force) {
        while (blk_iosched_dispatch_queue(bb->sched, force->sched_q, now, &p) == 0)
            blk_fifo_push(bb, (struct blk_slot *)(uintptr_t)p.io.cookie);
        return;
    }
    bb->sched_retry_at_ns = UINT64_MAX;
    for (;;) {
        int r = blk_iosched_dispatch(bb->sched, now, &p);
        if (r == -EAGAIN)
            bb->sched_retry_at_ns = p.retry_at_ns;
        if (r)
            return; /* -EBUSY: the device is full; a completion picks again */
        blk_fifo_push(bb, (struct blk_slot *)(uintptr_t)p.io.cookie);
    }
}

void blk_sched_done(struct blk_slot *s)
{
    if (!s->scheduled)
        return;
    s->scheduled = false;
    blk_iosched_complete(s->q->disk->bb->sched, s->q->disk->sched_q);
}
