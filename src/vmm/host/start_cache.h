/* `xeno-vmm --fill-cache --cache-dir DIR [--vcpus N]`: the start-up work every monitor of this
 * binary on this host would repeat, done once and written into DIR (lib/blob_cache.h) for the
 * monitors xenod starts with --cache-dir DIR: the seccomp programs, and the CPUID probe's
 * result for the tables of 1 to N vCPUs (the table also depends on --cpu-features-off, taken
 * as given here). xenod runs it at its start, unsandboxed, before any domain's monitor: a
 * sandboxed monitor only reads the cache. Main thread; returns the exit status. */
#ifndef XENO_VMM_HOST_START_CACHE_H
#define XENO_VMM_HOST_START_CACHE_H

#include "vmm/host/options.h"

int start_cache_fill(const struct options *o);

#endif
