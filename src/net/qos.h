/* Per-port bandwidth control with libvirt's <bandwidth> semantics (docs/network.md), for
 * a backend that applies backpressure (leaves frames in the guest's virtqueue) instead of
 * queueing copies. Pure decision code: no allocation after net_qos_create(), no locks, no
 * clock reads (times are nanoseconds on any monotonic clock, passed in; a time before one
 * already seen refills nothing). One thread at a time.
 *
 * Per port and direction (libvirt's view, from the domain: NET_QOS_INBOUND is traffic to
 * the domain, NET_QOS_OUTBOUND traffic from it), a limit:
 *   average  KiB/s  long-run rate (0: no limit in this direction)
 *   peak     KiB/s  the most while bursting (0: no peak, bursts go at line speed)
 *   burst    KiB    how much may go above average at once (0: NET_QOS_DEFAULT_BURST_NS of
 *                   average, enough to absorb the backend's wake-up latency)
 * as two token buckets: one of depth `burst` filling at `average`, one of depth
 * NET_QOS_PEAK_DEPTH_NS of peak filling at `peak`. A port may send while neither bucket
 * is in debt; sending charges the frame's bytes to both, and may take them into debt (so
 * a frame is never too big for a bucket, and a limit is exact over time: the debt is
 * paid before the next frame). KiB is 1024 bytes. Mind the units when passing libvirt XML
 * values in: its average, peak and floor are kilobytes/s of 1000 bytes (tc's kbps), its
 * burst kilobytes of 1024 (docs/network.md).
 *
 * On the uplink (capacity in KiB/s, 0: unlimited), among the domain ports with frames
 * waiting for it:
 *   weight  1..NET_QOS_WEIGHT_MAX (default 1): deficit round robin, each turn a port
 *           may send NET_QOS_QUANTUM x weight / (the smallest weight among the waiting
 *           ports) bytes (the last frame may overrun; the overrun is taken from its next
 *           turn), so busy ports share what is left by weight;
 *   floor   KiB/s: a port that has sent less than its floor recently goes before the
 *           round robin until it has caught up, so it gets at least its floor whatever
 *           the others do (and more if its weight gives it more). The floors of all ports
 *           may add up to at most the capacity; a floor needs a capacity, and may not
 *           exceed the port's own outbound average.
 * The uplink itself is a token bucket at capacity (depth NET_QOS_UPLINK_DEPTH_NS), so
 * the domains together never send more than the capacity.
 *
 * Everything can be changed live; a changed limit keeps the bucket's current level
 * (clipped to the new depth), so changing a limit neither grants nor forgives a burst.
 *
 * Usage in the backend (times from clock_gettime(CLOCK_MONOTONIC) in ns):
 *
 *     struct net_qos *q;
 *     net_qos_create(NET_SWITCH_MAX_PORTS, 122070, now, &q);   // uplink: 1 Gbit/s
 *     struct net_qos_port_config c = {.weight = 2, .floor_kib = 10000,
 *                                     .outbound = {.average_kib = 50000, .burst_kib = 1024}};
 *     net_qos_port_set(q, web, &c, now);
 *
 *     // domain -> domain (or any frame that does not use the uplink):
 *     if (net_qos_may_send(q, src, NET_QOS_OUTBOUND, now) && net_qos_may_send(q, dst, NET_QOS_INBOUND, now)) {
 *         deliver(...);
 *         net_qos_charge(q, src, NET_QOS_OUTBOUND, len, now);
 *         net_qos_charge(q, dst, NET_QOS_INBOUND, len, now);
 *     } else {
 *         retry at max(net_qos_ready_at(q, src, OUTBOUND, now), net_qos_ready_at(q, dst, INBOUND, now));
 *     }
 *
 *     // domain -> uplink: mark who waits, let the scheduler pick.
 *     net_qos_uplink_pending(q, web, true);          // web's next TX frame is for the uplink
 *     uint64_t retry;
 *     int p;
 *     while ((p = net_qos_uplink_next(q, now, &retry)) >= 0) {
 *         len = send_head_frame_to_tap(p);
 *         net_qos_uplink_sent(q, p, len, now);       // charges p's outbound, its floor, DRR, the uplink
 *         if (!more_for_uplink(p)) net_qos_uplink_pending(q, p, false);
 *     }
 *     arm_timer(retry);                              // UINT64_MAX: nothing waits
 *
 *     // uplink -> domain: the tap cannot be paused per destination, so over the limit
 *     // the frame is dropped and counted (NET_DROP_QOS), as a shaping qdisc would.
 */
#ifndef XENO_NET_QOS_H
#define XENO_NET_QOS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define NET_QOS_KIB 1024ull
#define NET_QOS_WEIGHT_DEFAULT 1
#define NET_QOS_WEIGHT_MAX 1000
#define NET_QOS_QUANTUM 16384u               /* bytes per weight per round-robin turn */
#define NET_QOS_DEFAULT_BURST_NS 10000000ull /* 10 ms of average when burst is 0 */
#define NET_QOS_PEAK_DEPTH_NS 1000000ull     /* the peak bucket holds 1 ms of peak */
#define NET_QOS_UPLINK_DEPTH_NS 2000000ull   /* the uplink bucket holds 2 ms of capacity */
#define NET_QOS_FLOOR_DEPTH_NS 10000000ull   /* floor credit kept for at most 10 ms */
#define NET_QOS_MAX_FRAME 65536u             /* largest charge (a GSO frame): bounds debts */
#define NET_QOS_MAX_RATE_KIB (1ull << 32)    /* 4 TiB/s: keeps the arithmetic in 64 bits */
#define NET_QOS_MAX_BURST_KIB (4ull << 20)   /* 4 GiB */

enum net_qos_dir {
    NET_QOS_INBOUND = 0,  /* to the domain */
    NET_QOS_OUTBOUND = 1, /* from the domain */
};

struct net_qos_limit {
    uint64_t average_kib; /* KiB/s; 0: unlimited (peak and burst then ignored) */
    uint64_t peak_kib;    /* KiB/s; 0: none; else >= average */
    uint64_t burst_kib;   /* KiB; 0: NET_QOS_DEFAULT_BURST_NS of average */
};

struct net_qos_port_config {
    struct net_qos_limit inbound, outbound;
    uint32_t weight;    /* on the uplink; 0 means NET_QOS_WEIGHT_DEFAULT */
    uint64_t floor_kib; /* KiB/s guaranteed on the uplink under contention; 0: none */
};

struct net_qos;

/* Room for ports 0..max_ports-1 (the switch's port ids), uplink capacity in KiB/s (0:
 * unlimited). 0 and *out, or -EINVAL/-ENOMEM with a message. */
int net_qos_create(unsigned max_ports, uint64_t uplink_kib, uint64_t now_ns, struct net_qos **out);
void net_qos_destroy(struct net_qos *q);

/* Changes the uplink's capacity live. -ENOSPC if the floors set would exceed it, -EINVAL if
 * floors are set and the capacity would become unlimited; each with a message. */
int net_qos_set_uplink(struct net_qos *q, uint64_t uplink_kib, uint64_t now_ns);

/* Sets (first time: adds) port's limits live. -EINVAL for a bad value (peak below average,
 * weight too big, floor above the outbound average or without a capacity, out of range),
 * -ENOSPC if the floors would exceed the capacity; each with a message naming the value.
 * A new port starts with full buckets. */
int net_qos_port_set(struct net_qos *q, unsigned port, const struct net_qos_port_config *cfg, uint64_t now_ns);
/* The port's current settings. -ENOENT if unset. */
int net_qos_port_get(const struct net_qos *q, unsigned port, struct net_qos_port_config *out);
/* Forgets a port (and takes it out of the uplink's round robin). -ENOENT if unset. */
int net_qos_port_remove(struct net_qos *q, unsigned port);

/* May port send (dir OUTBOUND) / receive (INBOUND) a frame now? A port without limits
 * always may; an unknown port never may. */
bool net_qos_may_send(struct net_qos *q, unsigned port, enum net_qos_dir dir, uint64_t now_ns);
/* The earliest time (>= now_ns) at which net_qos_may_send will be true; UINT64_MAX for
 * an unknown port. */
uint64_t net_qos_ready_at(struct net_qos *q, unsigned port, enum net_qos_dir dir, uint64_t now_ns);
/* Takes bytes (up to NET_QOS_MAX_FRAME; more counts as that much) from port's buckets in
 * dir. Unknown ports are ignored. Not for uplink sends: use net_qos_uplink_sent. */
void net_qos_charge(struct net_qos *q, unsigned port, enum net_qos_dir dir, size_t bytes, uint64_t now_ns);

/* Whether port has a frame waiting for the uplink. Ports not set are ignored. */
void net_qos_uplink_pending(struct net_qos *q, unsigned port, bool pending);
/* The port whose frame goes next on the uplink (>= 0), or -EAGAIN when none may go now:
 * then *retry_at_ns is when to ask again (UINT64_MAX: no port is pending). Asking again
 * without sending returns the same port. */
int net_qos_uplink_next(struct net_qos *q, uint64_t now_ns, uint64_t *retry_at_ns);
/* Charges a frame of bytes that port sent on the uplink: its outbound limit, its floor,
 * its round-robin turn and the uplink's capacity. */
void net_qos_uplink_sent(struct net_qos *q, unsigned port, size_t bytes, uint64_t now_ns);

#endif
