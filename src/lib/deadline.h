/* Absolute CLOCK_REALTIME deadlines for pthread_cond_timedwait(), which takes no relative time;
 * the due time of a periodic task (period_tick, period_wait_ms). */
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

/* Whether a periodic task due at *due (seconds, on the clock `now` is read from) runs now. If it
 * does, *due moves one period along a fixed grid, so the pace is the period and not the period
 * plus the time each pass takes; a task more than a period behind (a long pass, a stopped
 * process) starts its grid again from now instead of running in a burst to catch up. A due time
 * more than a period ahead means the clock went back: the grid starts again, nothing runs. */
static inline int period_tick(double *due, double period, double now)
{
    if (now < *due) {
        if (*due - now > period)
            *due = now + period;
        return 0;
    }
    *due += period;
    if (*due <= now)
        *due = now + period;
    return 1;
}

/* Milliseconds from `now` to `due` for poll(), rounded up (a wait never ends just before the
 * due time and spins), within 0..cap_ms. */
static inline int period_wait_ms(double due, double now, int cap_ms)
{
    double ms = (due - now) * 1000.0;
    if (ms <= 0)
        return 0;
    if (ms >= cap_ms)
        return cap_ms;
    int whole = (int)ms;
    return whole < ms ? whole + 1 : whole;
}

#endif
