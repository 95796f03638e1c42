/* The main loop's poll(2) set, rebuilt on every turn: each part of the monitor adds the
 * descriptors it wants watched and keeps the index it got back, then reads its revents.
 * Rebuilding costs nothing at this size and means nobody ever watches a closed fd. */
#ifndef XENO_VMM_HOST_POLLSET_H
#define XENO_VMM_HOST_POLLSET_H

#include <poll.h>

#define POLLSET_MAX 64

struct pollset {
    struct pollfd fds[POLLSET_MAX];
    unsigned n;
};

static inline void pollset_reset(struct pollset *ps)
{
    ps->n = 0;
}

/* Returns the index to look the result up with, or -1 (fd < 0, or the set is full). */
static inline int pollset_add(struct pollset *ps, int fd, short events)
{
    if (fd < 0 || ps->n == POLLSET_MAX)
        return -1;
    ps->fds[ps->n] = (struct pollfd){.fd = fd, .events = events, .revents = 0};
    return (int)ps->n++;
}

static inline short pollset_revents(const struct pollset *ps, int idx)
{
    return idx < 0 ? 0 : ps->fds[idx].revents;
}

#endif
