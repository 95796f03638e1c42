/* The descriptor limit (RLIMIT_NOFILE) of a process that holds many: its soft limit raised to
 * the hard one at start (xenod: a descriptor per domain and per API client; xeno-blkback:
 * about 11 per disk), before any sandbox would forbid it. */
#ifndef XENO_LIB_FD_LIMIT_H
#define XENO_LIB_FD_LIMIT_H

/* 0 (raised, or already at the hard limit), or -errno with a message naming the limit; the
 * soft limit is as it was then. */
int fd_limit_raise(void);

#endif
