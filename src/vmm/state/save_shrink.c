#include "vmm/state/save_shrink.h"

#include <stdio.h>
#include <time.h>

#include "lib/log.h"

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static void nap(void)
{
    struct timespec ts = {0, 10 * 1000000L};
    nanosleep(&ts, NULL);
}

void save_shrink_begin(struct virtio_balloon *b, uint64_t mem_size, struct save_shrink *s)
{
    *s = (struct save_shrink){0};
    if (!b) {
        snprintf(s->why_not, sizeof(s->why_not), "no balloon device");
        return;
    }
    struct virtio_balloon_state st;
    virtio_balloon_get(b, &st);
    if (!st.driver_ok) {
        snprintf(s->why_not, sizeof(s->why_not), "the guest runs no balloon driver");
        return;
    }
    /* A fresh report if the guest gives one in time; else the last one it gave. */
    uint64_t updates = st.stats_updates, t0 = now_ms();
    virtio_balloon_request_stats(b);
    while (now_ms() - t0 < SAVE_SHRINK_STATS_MS) {
        virtio_balloon_get(b, &st);
        if (st.stats_updates != updates)
            break;
        nap();
    }
    uint64_t free_bytes = st.stats[VIRTIO_BALLOON_S_MEMFREE];
    if (free_bytes == VIRTIO_BALLOON_STAT_NONE) {
        snprintf(s->why_not, sizeof(s->why_not), "the guest reports no free memory statistic");
        return;
    }
    /* Guest-reported, so untrusted: never more than its RAM minus what the balloon holds. */
    uint64_t held = (uint64_t)st.actual * VIRTIO_BALLOON_PAGE_SIZE;
    if (free_bytes > mem_size - (held < mem_size ? held : mem_size))
        free_bytes = mem_size - (held < mem_size ? held : mem_size);
    s->free_bytes = free_bytes;
    uint64_t margin = mem_size / SAVE_SHRINK_MARGIN_DIV;
    if (margin < SAVE_SHRINK_MARGIN_MIN)
        margin = SAVE_SHRINK_MARGIN_MIN;
    if (free_bytes <= margin) {
        snprintf(s->why_not, sizeof(s->why_not), "the guest reports %llu bytes free, within the %llu-byte margin",
                 (unsigned long long)free_bytes, (unsigned long long)margin);
        return;
    }
    uint64_t more = (free_bytes - margin) / VIRTIO_BALLOON_PAGE_SIZE;
    uint64_t target = (uint64_t)st.actual + more;
    if (target > UINT32_MAX)
        target = UINT32_MAX;
    s->old_target = st.num_pages;
    s->new_target = (uint32_t)target;
    s->asked = true;
    virtio_balloon_set_target(b, s->new_target);
    uint32_t start = st.actual, last = st.actual;
    uint64_t last_move = now_ms();
    t0 = last_move;
    while (now_ms() - t0 < SAVE_SHRINK_WAIT_MS) {
        nap();
        virtio_balloon_get(b, &st);
        if (st.actual >= s->new_target)
            break;
        if (st.actual != last) {
            last = st.actual;
            last_move = now_ms();
        } else if (now_ms() - last_move >= SAVE_SHRINK_STALL_MS) {
            break;
        }
    }
    s->given_bytes = st.actual > start ? (uint64_t)(st.actual - start) * VIRTIO_BALLOON_PAGE_SIZE : 0;
    log_info("save shrink: the guest reported %llu bytes free; balloon target %u -> %u pages; it gave %llu bytes "
             "in %llu ms",
             (unsigned long long)free_bytes, s->old_target, s->new_target, (unsigned long long)s->given_bytes,
             (unsigned long long)(now_ms() - t0));
}

void save_shrink_end(struct virtio_balloon *b, const struct save_shrink *s)
{
    if (b && s->asked)
        virtio_balloon_set_target(b, s->old_target);
}
