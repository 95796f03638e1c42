/* Token buckets, floors and deficit round robin for the network backend (qos.h,
 * docs/network.md).
 *
 * Tokens are kept in nanobytes (bytes x 1e9), so that refilling for an elapsed time is
 * one exact multiplication, rate (bytes/s) x elapsed (ns), with no rounding to drift a
 * limit over a long run. The bounds in qos.h keep every product within 64 bits: a depth
 * is at most 4 GiB (4.3e18 nanobytes), a debt is clamped to as much, and a refill never
 * multiplies past what fills the bucket. */
#include "net/qos.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "lib/err.h"

#define NS_PER_S 1000000000ll
#define MAX_DEPTH ((int64_t)(NET_QOS_MAX_BURST_KIB * NET_QOS_KIB) * NS_PER_S)
#define NO_PORT 0xffffu
#define NO_WEIGHT (NET_QOS_WEIGHT_MAX + 1) /* min_weight of an empty ring */

struct bucket {
    uint64_t rate;  /* bytes/s; 0: unlimited, never empty */
    int64_t depth;  /* nanobytes */
    int64_t tokens; /* nanobytes; below zero: a debt to pay before the next frame */
    uint64_t last_ns;
};

struct qport {
    bool used;
    struct net_qos_port_config cfg;
    struct bucket average[2], peak[2]; /* [enum net_qos_dir] */
    struct bucket floor;
    bool pending;
    int64_t deficit;     /* round-robin credit, bytes */
    uint16_t prev, next; /* the ring of pending ports */
};

struct net_qos {
    unsigned max_ports;
    struct bucket uplink;
    uint64_t floors; /* bytes/s promised in all */
    /* The ring of ports with frames for the uplink, in round-robin order. */
    unsigned npending, nfloor_pending;
    uint32_t min_weight; /* the smallest weight in the ring: it gets one quantum a turn */
    /* How many pending ports have each weight, so that the smallest is found without
     * walking the ring when a port leaves it (ports come and go with every frame). */
    uint16_t weight_count[NET_QOS_WEIGHT_MAX + 1];
    unsigned cursor;       /* whose turn it is (NO_PORT: ring empty) */
    bool turn_started;     /* cursor's quantum for this turn is granted */
    unsigned floor_cursor; /* where the next floor scan starts */
    /* No pending port can be below its floor and eligible before this time: a scan that
     * found none stores the earliest time one could be, so the floor pass costs nothing
     * until then. Times only move later by sending, so it stays a lower bound until a
     * port joins the ring or changes its settings (which reset it to 0). */
    uint64_t floor_scan_at;
    unsigned picked;   /* what uplink_next answered last, */
    bool picked_floor; /* and whether for its floor */
    struct qport ports[];
};

static int64_t clamp_depth(uint64_t rate, uint64_t ns)
{
    /* rate x ns would overflow past MAX_DEPTH for the largest rates: compare first. */
    if (rate && ns > (uint64_t)MAX_DEPTH / rate)
        return MAX_DEPTH;
    return (int64_t)(rate * ns);
}

static void refill(struct bucket *b, uint64_t now_ns)
{
    if (!b->rate || now_ns <= b->last_ns) {
        if (now_ns > b->last_ns)
            b->last_ns = now_ns;
        return;
    }
    uint64_t elapsed = now_ns - b->last_ns;
    b->last_ns = now_ns;
    if (b->tokens >= b->depth)
        return;
    uint64_t need = (uint64_t)(b->depth - b->tokens);
    if (elapsed >= (need + b->rate - 1) / b->rate)
        b->tokens = b->depth;
    else
        b->tokens += (int64_t)(b->rate * elapsed);
}

static void charge(struct bucket *b, size_t bytes)
{
    if (!b->rate)
        return;
    if (bytes > NET_QOS_MAX_FRAME)
        bytes = NET_QOS_MAX_FRAME;
    b->tokens -= (int64_t)bytes * NS_PER_S;
    if (b->tokens < -MAX_DEPTH)
        b->tokens = -MAX_DEPTH;
}

/* Call after refill. */
static uint64_t bucket_ready_at(const struct bucket *b, uint64_t now_ns)
{
    if (!b->rate || b->tokens >= 0)
        return now_ns;
    uint64_t debt = (uint64_t)-b->tokens;
    return now_ns + (debt + b->rate - 1) / b->rate;
}

/* Sets a bucket's rate and depth from now on: what it holds is kept (up to the new
 * depth), so a change neither grants nor forgives; a bucket that was unlimited starts
 * full, like a new one. */
static void bucket_set(struct bucket *b, uint64_t rate, int64_t depth, uint64_t now_ns)
{
    refill(b, now_ns);
    bool was_unlimited = b->rate == 0;
    b->rate = rate;
    b->depth = rate ? depth : 0;
    if (was_unlimited || !rate)
        b->tokens = b->depth;
    else if (b->tokens > b->depth)
        b->tokens = b->depth;
    b->last_ns = now_ns;
}

int net_qos_create(unsigned max_ports, uint64_t uplink_kib, uint64_t now_ns, struct net_qos **out)
{
    if (max_ports == 0 || max_ports >= NO_PORT)
        return err_set(EINVAL, "network QoS: %u ports, expected 1 to %u", max_ports, NO_PORT - 1);
    if (uplink_kib > NET_QOS_MAX_RATE_KIB)
        return err_set(EINVAL, "network QoS: uplink capacity %llu KiB/s above the most, %llu",
                       (unsigned long long)uplink_kib, (unsigned long long)NET_QOS_MAX_RATE_KIB);
    struct net_qos *q = calloc(1, sizeof(*q) + max_ports * sizeof(q->ports[0]));
    if (!q)
        return err_set(ENOMEM, "network QoS: out of memory for %u ports", max_ports);
    q->max_ports = max_ports;
    q->cursor = q->floor_cursor = q->picked = NO_PORT;
    q->min_weight = NO_WEIGHT;
    uint64_t rate = uplink_kib * NET_QOS_KIB;
    bucket_set(&q->uplink, rate, clamp_depth(rate, NET_QOS_UPLINK_DEPTH_NS), now_ns);
    *out = q;
    return 0;
}

void net_qos_destroy(struct net_qos *q)
{
    free(q);
}

int net_qos_set_uplink(struct net_qos *q, uint64_t uplink_kib, uint64_t now_ns)
{
    if (uplink_kib > NET_QOS_MAX_RATE_KIB)
        return err_set(EINVAL, "network QoS: uplink capacity %llu KiB/s above the most, %llu",
                       (unsigned long long)uplink_kib, (unsigned long long)NET_QOS_MAX_RATE_KIB);
    uint64_t rate = uplink_kib * NET_QOS_KIB;
    if (q->floors && !rate)
        return err_set(EINVAL, "network QoS: floors of %llu KiB/s are set, so the uplink needs a capacity",
                       (unsigned long long)(q->floors / NET_QOS_KIB));
    if (q->floors > rate)
        return err_set(ENOSPC, "network QoS: uplink capacity %llu KiB/s is below the floors set, %llu KiB/s",
                       (unsigned long long)uplink_kib, (unsigned long long)(q->floors / NET_QOS_KIB));
    bucket_set(&q->uplink, rate, clamp_depth(rate, NET_QOS_UPLINK_DEPTH_NS), now_ns);
    return 0;
}

static struct qport *find(const struct net_qos *q, unsigned port)
{
    if (port >= q->max_ports || !q->ports[port].used)
        return NULL;
    return (struct qport *)&q->ports[port];
}

static int check_limit(unsigned port, const char *dir, const struct net_qos_limit *l)
{
    if (l->average_kib > NET_QOS_MAX_RATE_KIB || l->peak_kib > NET_QOS_MAX_RATE_KIB)
        return err_set(EINVAL, "network QoS port %u %s: a rate above the most, %llu KiB/s", port, dir,
                       (unsigned long long)NET_QOS_MAX_RATE_KIB);
    if (l->burst_kib > NET_QOS_MAX_BURST_KIB)
        return err_set(EINVAL, "network QoS port %u %s: burst %llu KiB above the most, %llu KiB", port, dir,
                       (unsigned long long)l->burst_kib, (unsigned long long)NET_QOS_MAX_BURST_KIB);
    if (l->average_kib && l->peak_kib && l->peak_kib < l->average_kib)
        return err_set(EINVAL, "network QoS port %u %s: peak %llu KiB/s below average %llu KiB/s", port, dir,
                       (unsigned long long)l->peak_kib, (unsigned long long)l->average_kib);
    return 0;
}

static void set_limit(struct qport *p, enum net_qos_dir dir, const struct net_qos_limit *l, uint64_t now_ns)
{
    uint64_t avg = l->average_kib * NET_QOS_KIB;
    /* Without an average, libvirt ignores peak and burst: so do we. */
    uint64_t peak = avg ? l->peak_kib * NET_QOS_KIB : 0;
    int64_t depth =
        l->burst_kib ? (int64_t)(l->burst_kib * NET_QOS_KIB) * NS_PER_S : clamp_depth(avg, NET_QOS_DEFAULT_BURST_NS);
    bucket_set(&p->average[dir], avg, depth, now_ns);
    bucket_set(&p->peak[dir], peak, clamp_depth(peak, NET_QOS_PEAK_DEPTH_NS), now_ns);
}

static void weight_add(struct net_qos *q, uint32_t w)
{
    if (q->weight_count[w]++ == 0 && w < q->min_weight)
        q->min_weight = w;
}

/* others: whether other ports stay pending (if not, there is nothing to look for). */
static void weight_del(struct net_qos *q, uint32_t w, bool others)
{
    if (--q->weight_count[w] > 0 || w != q->min_weight)
        return;
    if (!others) {
        q->min_weight = NO_WEIGHT;
        return;
    }
    while (q->min_weight < NO_WEIGHT && !q->weight_count[q->min_weight])
        q->min_weight++;
}

static void ring_insert(struct net_qos *q, unsigned port)
{
    struct qport *p = &q->ports[port];
    weight_add(q, p->cfg.weight);
    if (q->cursor == NO_PORT) {
        p->prev = p->next = (uint16_t)port;
        q->cursor = q->floor_cursor = port;
        q->turn_started = false;
    } else {
        /* Just before the cursor: the last to get a turn in this round. */
        struct qport *c = &q->ports[q->cursor];
        p->next = (uint16_t)q->cursor;
        p->prev = c->prev;
        q->ports[c->prev].next = (uint16_t)port;
        c->prev = (uint16_t)port;
    }
    q->npending++;
    if (p->floor.rate) {
        q->nfloor_pending++;
        q->floor_scan_at = 0;
    }
}

static void ring_remove(struct net_qos *q, unsigned port)
{
    struct qport *p = &q->ports[port];
    weight_del(q, p->cfg.weight, q->npending > 1);
    if (--q->npending == 0) {
        q->cursor = q->floor_cursor = NO_PORT;
    } else {
        q->ports[p->prev].next = p->next;
        q->ports[p->next].prev = p->prev;
        if (q->cursor == port) {
            q->cursor = p->next;
            q->turn_started = false;
        }
        if (q->floor_cursor == port)
            q->floor_cursor = p->next;
    }
    if (p->floor.rate)
        q->nfloor_pending--;
    if (q->picked == port)
        q->picked = NO_PORT;
    /* An idle port has no claim on past rounds (classic DRR). */
    p->deficit = 0;
}

int net_qos_port_set(struct net_qos *q, unsigned port, const struct net_qos_port_config *cfg, uint64_t now_ns)
{
    if (port >= q->max_ports)
        return err_set(EINVAL, "network QoS: port %u out of range (0 to %u)", port, q->max_ports - 1);
    int rc = check_limit(port, "inbound", &cfg->inbound);
    if (rc == 0)
        rc = check_limit(port, "outbound", &cfg->outbound);
    if (rc < 0)
        return rc;
    if (cfg->weight > NET_QOS_WEIGHT_MAX)
        return err_set(EINVAL, "network QoS port %u: weight %u above the most, %d", port, cfg->weight,
                       NET_QOS_WEIGHT_MAX);
    if (cfg->floor_kib > NET_QOS_MAX_RATE_KIB)
        return err_set(EINVAL, "network QoS port %u: floor %llu KiB/s out of range", port,
                       (unsigned long long)cfg->floor_kib);
    uint64_t floor = cfg->floor_kib * NET_QOS_KIB;
    if (floor && !q->uplink.rate)
        return err_set(EINVAL, "network QoS port %u: a floor of %llu KiB/s needs an uplink capacity", port,
                       (unsigned long long)cfg->floor_kib);
    if (floor && cfg->outbound.average_kib && cfg->floor_kib > cfg->outbound.average_kib)
        return err_set(EINVAL, "network QoS port %u: floor %llu KiB/s above its outbound average %llu KiB/s", port,
                       (unsigned long long)cfg->floor_kib, (unsigned long long)cfg->outbound.average_kib);
    struct qport *p = &q->ports[port];
    uint64_t others = q->floors - (p->used ? p->floor.rate : 0);
    if (others + floor > q->uplink.rate && floor)
        return err_set(ENOSPC,
                       "network QoS port %u: floor %llu KiB/s does not fit: the uplink's %llu KiB/s has %llu "
                       "KiB/s promised to other ports",
                       port, (unsigned long long)cfg->floor_kib, (unsigned long long)(q->uplink.rate / NET_QOS_KIB),
                       (unsigned long long)(others / NET_QOS_KIB));
    if (!p->used) {
        memset(p, 0, sizeof(*p));
        p->used = true;
        for (int d = 0; d < 2; d++) {
            p->average[d].last_ns = p->peak[d].last_ns = now_ns;
        }
        p->floor.last_ns = now_ns;
    }
    if (p->pending && p->floor.rate)
        q->nfloor_pending--;
    /* Leave and rejoin the weight counts (not the ring: the port keeps its place). */
    if (p->pending)
        weight_del(q, p->cfg.weight, q->npending > 1);
    p->cfg = *cfg;
    if (!p->cfg.weight)
        p->cfg.weight = NET_QOS_WEIGHT_DEFAULT;
    set_limit(p, NET_QOS_INBOUND, &cfg->inbound, now_ns);
    set_limit(p, NET_QOS_OUTBOUND, &cfg->outbound, now_ns);
    bucket_set(&p->floor, floor, clamp_depth(floor, NET_QOS_FLOOR_DEPTH_NS), now_ns);
    if (p->pending && p->floor.rate)
        q->nfloor_pending++;
    if (p->pending)
        weight_add(q, p->cfg.weight);
    q->floor_scan_at = 0;
    q->floors = others + floor;
    return 0;
}

int net_qos_port_get(const struct net_qos *q, unsigned port, struct net_qos_port_config *out)
{
    const struct qport *p = find(q, port);
    if (!p)
        return err_set(ENOENT, "network QoS: port %u has no settings", port);
    *out = p->cfg;
    return 0;
}

int net_qos_port_remove(struct net_qos *q, unsigned port)
{
    struct qport *p = find(q, port);
    if (!p)
        return err_set(ENOENT, "network QoS: port %u has no settings to remove", port);
    if (p->pending)
        ring_remove(q, port);
    q->floors -= p->floor.rate;
    memset(p, 0, sizeof(*p));
    return 0;
}

static uint64_t max_u64(uint64_t a, uint64_t b)
{
    return a > b ? a : b;
}

static uint64_t port_ready_at(struct qport *p, enum net_qos_dir dir, uint64_t now_ns)
{
    refill(&p->average[dir], now_ns);
    refill(&p->peak[dir], now_ns);
    return max_u64(bucket_ready_at(&p->average[dir], now_ns), bucket_ready_at(&p->peak[dir], now_ns));
}

bool net_qos_may_send(struct net_qos *q, unsigned port, enum net_qos_dir dir, uint64_t now_ns)
{
    struct qport *p = find(q, port);
    if (!p || (unsigned)dir > NET_QOS_OUTBOUND)
        return false;
    return port_ready_at(p, dir, now_ns) == now_ns;
}

uint64_t net_qos_ready_at(struct net_qos *q, unsigned port, enum net_qos_dir dir, uint64_t now_ns)
{
    struct qport *p = find(q, port);
    if (!p || (unsigned)dir > NET_QOS_OUTBOUND)
        return UINT64_MAX;
    return port_ready_at(p, dir, now_ns);
}

void net_qos_charge(struct net_qos *q, unsigned port, enum net_qos_dir dir, size_t bytes, uint64_t now_ns)
{
    struct qport *p = find(q, port);
    if (!p || (unsigned)dir > NET_QOS_OUTBOUND)
        return;
    refill(&p->average[dir], now_ns);
    refill(&p->peak[dir], now_ns);
    charge(&p->average[dir], bytes);
    charge(&p->peak[dir], bytes);
}

void net_qos_uplink_pending(struct net_qos *q, unsigned port, bool pending)
{
    struct qport *p = find(q, port);
    if (!p || p->pending == pending)
        return;
    p->pending = pending;
    if (pending)
        ring_insert(q, port);
    else
        ring_remove(q, port);
}

static bool eligible(struct qport *p, uint64_t now_ns)
{
    return port_ready_at(p, NET_QOS_OUTBOUND, now_ns) == now_ns;
}

/* A pending port below its floor, in turn after the last one served for its floor. */
static int floor_pick(struct net_qos *q, uint64_t now_ns)
{
    if (now_ns < q->floor_scan_at)
        return -1;
    uint64_t first = UINT64_MAX;
    unsigned port = q->floor_cursor;
    for (unsigned i = 0; i < q->npending; i++, port = q->ports[port].next) {
        struct qport *p = &q->ports[port];
        if (!p->floor.rate)
            continue;
        refill(&p->floor, now_ns);
        uint64_t at = max_u64(bucket_ready_at(&p->floor, now_ns), port_ready_at(p, NET_QOS_OUTBOUND, now_ns));
        if (at == now_ns)
            return (int)port;
        if (at < first)
            first = at;
    }
    q->floor_scan_at = first;
    return -1;
}

/* Deficit round robin (Shreedhar and Varghese) over the ring, skipping ports their own
 * limit holds back. A frame may overrun the deficit; the overrun is paid from the next
 * turn, so shares stay exact over time without knowing frame sizes in advance. */
static int drr_pick(struct net_qos *q, uint64_t now_ns)
{
    /* A deficit is never below -NET_QOS_MAX_FRAME, so a port needs at most this many
     * turns to have credit again; the bound only stops a loop that cannot happen. */
    unsigned turns = NET_QOS_MAX_FRAME / NET_QOS_QUANTUM + 2;
    unsigned skipped = 0;
    for (unsigned i = 0; i < q->npending * (turns + 1); i++) {
        struct qport *p = &q->ports[q->cursor];
        if (eligible(p, now_ns)) {
            skipped = 0;
            if (!q->turn_started) {
                /* Scaled to the lightest waiting port, so that heavy ports among
                 * themselves still take short turns. */
                p->deficit += (int64_t)NET_QOS_QUANTUM * p->cfg.weight / q->min_weight;
                q->turn_started = true;
            }
            if (p->deficit > 0)
                return (int)q->cursor;
        } else {
            /* Held back by its own limit: it is not competing, and keeps no credit. */
            if (p->deficit > 0)
                p->deficit = 0;
            if (++skipped == q->npending)
                return -1;
        }
        q->cursor = p->next;
        q->turn_started = false;
    }
    return -1;
}

int net_qos_uplink_next(struct net_qos *q, uint64_t now_ns, uint64_t *retry_at_ns)
{
    if (!q->npending) {
        *retry_at_ns = UINT64_MAX;
        return -EAGAIN;
    }
    refill(&q->uplink, now_ns);
    uint64_t up = bucket_ready_at(&q->uplink, now_ns);
    if (up > now_ns) {
        *retry_at_ns = up;
        return -EAGAIN;
    }
    int port = q->nfloor_pending ? floor_pick(q, now_ns) : -1;
    q->picked_floor = port >= 0;
    if (port < 0)
        port = drr_pick(q, now_ns);
    if (port >= 0) {
        q->picked = (unsigned)port;
        return port;
    }
    /* Every pending port is held back by its own limit: ask again when the first is free. */
    uint64_t first = UINT64_MAX;
    unsigned i = q->cursor;
    for (unsigned n = 0; n < q->npending; n++, i = q->ports[i].next) {
        uint64_t t = port_ready_at(&q->ports[i], NET_QOS_OUTBOUND, now_ns);
        if (t < first)
            first = t;
    }
    q->picked = NO_PORT;
    *retry_at_ns = first;
    return -EAGAIN;
}

void net_qos_uplink_sent(struct net_qos *q, unsigned port, size_t bytes, uint64_t now_ns)
{
    struct qport *p = find(q, port);
    if (!p)
        return;
    net_qos_charge(q, port, NET_QOS_OUTBOUND, bytes, now_ns);
    refill(&p->floor, now_ns);
    charge(&p->floor, bytes);
    refill(&q->uplink, now_ns);
    charge(&q->uplink, bytes);
    size_t b = bytes > NET_QOS_MAX_FRAME ? NET_QOS_MAX_FRAME : bytes;
    if (q->picked == port && q->picked_floor) {
        /* Sent for its floor: the round robin shares what the floors leave. */
        q->floor_cursor = p->next;
    } else {
        p->deficit -= (int64_t)b;
        if (p->deficit < -(int64_t)NET_QOS_MAX_FRAME)
            p->deficit = -(int64_t)NET_QOS_MAX_FRAME;
    }
    q->picked = NO_PORT;
}
