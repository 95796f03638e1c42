/* Guest activity the main loop cannot see: a vCPU exit handled in userspace or a virtio
 * queue kick, which happen on their own threads. While the main loop sleeps with its timed
 * refresh stopped (every vCPU was halted), it sets `watch`; the first thread to see
 * activity clears it and writes `efd` once, so the loop wakes and samples the vCPUs again.
 * While the loop ticks, `watch` is 0 and noting activity is one relaxed load.
 *
 * Threads: watch is written by the main loop and cleared by any thread (atomics); efd is
 * created and closed by the main thread while no other thread of the VM runs. */
#ifndef XENO_VMM_CORE_ACTIVITY_H
#define XENO_VMM_CORE_ACTIVITY_H

#include <stdint.h>
#include <unistd.h>

struct activity {
    int watch;
    int efd; /* eventfd, -1 when none */
};

static inline void activity_note(struct activity *a)
{
    if (!a || !__atomic_load_n(&a->watch, __ATOMIC_RELAXED))
        return;
    if (__atomic_exchange_n(&a->watch, 0, __ATOMIC_ACQ_REL) && a->efd >= 0) {
        uint64_t one = 1;
        ssize_t r = write(a->efd, &one, sizeof(one)); /* full counter: already woken */
        (void)r;
    }
}

#endif
