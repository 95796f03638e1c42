/* Between sandbox.c and sandbox_seccomp.c only. */
#ifndef XENO_VMM_HOST_SANDBOX_PRIV_H
#define XENO_VMM_HOST_SANDBOX_PRIV_H

#include "vmm/core/thread_kind.h"

#include <linux/filter.h>
#include <stddef.h>
#include <stdint.h>

/* Takes every thread kind's filter from cache_dir (when it holds this binary's: lib/
 * blob_cache.h; NULL: no cache) or compiles them with libseccomp (and caches them), loads
 * the base one on the calling (main) thread and sets the thread_kind hook that stacks a
 * kind's filter on each new thread. 0 or -errno. */
int sandbox_seccomp_load(const char *cache_dir);
/* Compiles them and writes them into cache_dir (vmm_sandbox_fill_cache). 0 or -errno. */
int sandbox_seccomp_fill(const char *cache_dir);

/* For the cache and its test: progs[0] the base, progs[1 + k] thread kind k. compile: fresh
 * from libseccomp (malloc'ed filters); pack: the cache's value (0: does not fit in cap);
 * unpack: checked lengths, malloc'ed filters (the caller frees them, also after a failure). */
int sandbox_seccomp_compile(struct sock_fprog *progs);
size_t sandbox_seccomp_pack(const struct sock_fprog *progs, uint8_t *out, size_t cap);
int sandbox_seccomp_unpack(const uint8_t *in, size_t len, struct sock_fprog *progs);

#endif
