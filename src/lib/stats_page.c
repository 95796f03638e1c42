#include "lib/stats_page.h"

#include <errno.h>
#include <sched.h>
#include <string.h>

const char *dom_state_name(enum dom_state s)
{
    switch (s) {
    case DOM_STATE_RUNNING: return "running";
    case DOM_STATE_BLOCKED: return "blocked";
    case DOM_STATE_PAUSED: return "paused";
    case DOM_STATE_SHUTDOWN: return "shutdown";
    case DOM_STATE_CRASHED: return "crashed";
    case DOM_STATE_NONE:
    default: return "none";
    }
}

/* seq odd = an update is in progress. The fences order the payload stores (writer) and
 * loads (reader) against the seq accesses, across processes sharing the page. */
void stats_page_write_begin(struct stats_page *p)
{
    uint32_t s = __atomic_load_n(&p->seq, __ATOMIC_RELAXED);
    __atomic_store_n(&p->seq, s + 1, __ATOMIC_RELAXED);
    __atomic_thread_fence(__ATOMIC_RELEASE);
}

void stats_page_write_end(struct stats_page *p)
{
    uint32_t s = __atomic_load_n(&p->seq, __ATOMIC_RELAXED);
    __atomic_store_n(&p->seq, s + 1, __ATOMIC_RELEASE);
}

#define READ_TRIES 10000

int stats_page_read(const struct stats_page *shared, struct stats_page *out)
{
    for (int i = 0; i < READ_TRIES; i++) {
        uint32_t s1 = __atomic_load_n(&shared->seq, __ATOMIC_ACQUIRE);
        if (s1 & 1) {
            if (i % 64 == 63)
                sched_yield();
            continue;
        }
        memcpy(out, (const void *)shared, sizeof(*out));
        __atomic_thread_fence(__ATOMIC_ACQUIRE);
        if (__atomic_load_n(&shared->seq, __ATOMIC_RELAXED) != s1)
            continue;
        out->seq = s1;
        if (out->magic != STATS_PAGE_MAGIC || out->version != STATS_PAGE_VERSION)
            return -EPROTO;
        return 0;
    }
    return -EAGAIN;
}
