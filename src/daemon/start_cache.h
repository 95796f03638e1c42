/* The monitors' start-up cache (xeno-vmm --cache-dir, lib/blob_cache.h): STATE/cache, filled
 * once at xenod's start by `xeno-vmm --fill-cache` (unsandboxed, before any domain runs) with
 * the seccomp programs and the CPUID probe's results for 1 to START_CACHE_VCPUS vCPUs, then
 * read (never written) by every monitor xenod starts: each skips libseccomp's compilation
 * and the probe's throw-away VM. Main thread, at start. */
#ifndef XENO_DAEMON_START_CACHE_H
#define XENO_DAEMON_START_CACHE_H

#include <stddef.h>

#define START_CACHE_VCPUS 4 /* domains with more vCPUs probe at every start */

/* Makes STATE/cache (0700; an existing one must be a directory of ours writable by no one
 * else), removes entries of earlier builds, and runs `vmm_path --fill-cache` into it. On
 * success writes its path into out and returns 0; else a negative errno (err_set()) and
 * monitors start without a cache (as fast as before, no less safe). */
int start_cache_fill(const char *vmm_path, const char *state_dir, char *out, size_t cap);

#endif
