/* Between sandbox.c and sandbox_seccomp.c only. */
#ifndef XENO_VMM_HOST_SANDBOX_PRIV_H
#define XENO_VMM_HOST_SANDBOX_PRIV_H

#include "vmm/core/thread_kind.h"

/* Compiles every thread kind's filter, loads the base one on the calling (main) thread and
 * sets the thread_kind hook that stacks a kind's filter on each new thread. 0 or -errno. */
int sandbox_seccomp_load(void);

#endif
