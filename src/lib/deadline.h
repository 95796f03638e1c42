/* Absolute CLOCK_REALTIME deadlines for pthread_cond_timedwait(), which takes no relative time. */
#ifndef XENO_LIB_DEADLINE_H
#define XENO_LIB_DEADLINE_H

#include <time.h>

static inline struct timespec deadline_after_ms(long ms)
{
    struct timespec t;
    clock_gettime(CLOCK_REALTIME, &t);
    t.tv_sec += ms / 1000;
    t.tv_nsec += (ms % 1000) * 1000000L;
    if (t.tv_nsec >= 1000000000L) {
        t.tv_sec++;
        t.tv_nsec -= 1000000000L;
    }
    return t;
}

#endif
