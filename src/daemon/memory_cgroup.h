/* Memory cgroups for monitors (docs/domain-xml.md, "Memory limits"): a domain with <memtune>
 * runs its monitor in a cgroup of its own, "xeno-UUID" under xenod's own cgroup in the memory
 * hierarchy, holding the limits: cgroup v2 (memory.max, memory.high, memory.swap.max) where
 * xenod's cgroup can give its children the memory controller, else cgroup v1
 * (memory.limit_in_bytes, memory.soft_limit_in_bytes, memory.memsw.limit_in_bytes). Names
 * come from the UUID, never from the sponsor's name; nothing is written outside xenod's own
 * cgroup directory. Plain data after mcg_detect(): read it from any thread. */
#ifndef XENO_DAEMON_MEMORY_CGROUP_H
#define XENO_DAEMON_MEMORY_CGROUP_H

#include <limits.h>
#include <stdint.h>

#include "lib/domain_config.h"

enum mcg_version { MCG_NONE, MCG_V1, MCG_V2 };

struct memory_cgroups {
    enum mcg_version version;
    char base[PATH_MAX]; /* xenod's own cgroup directory in the memory hierarchy */
    int has_swap;        /* the controller limits swap too (memsw / memory.swap.max) */
    char why[400];       /* MCG_NONE: why there is no controller to use */
};

/* Finds the memory controller xenod can use (v2 first). Never fails: MCG_NONE with why. */
void mcg_detect(struct memory_cgroups *m);
/* Why `t` cannot be honoured on this host ("" when it can): no controller, or a swap limit
 * without swap accounting. Into why (one line, no prefix). */
int mcg_check(const struct memory_cgroups *m, const struct domain_memtune *t, char *why, size_t size);
/* Makes (or finds, after a xenod restart) the cgroup of domain `uuid`, writes t's limits (an
 * absent one: none) and returns a descriptor open for writing on its cgroup.procs, which the
 * monitor's process writes "0" to before exec (spawn_detached), or a negative errno. */
int mcg_prepare(const struct memory_cgroups *m, const char *uuid, const struct domain_memtune *t);
/* The hard limit the cgroup of `uuid` holds now, in bytes (UINT64_MAX: none); -ENOENT if it
 * has no cgroup. */
int mcg_read_limit(const struct memory_cgroups *m, const char *uuid, uint64_t *bytes);
/* How often the kernel's OOM killer killed in the cgroup of `uuid` (0 when unknown). */
uint64_t mcg_oom_kills(const struct memory_cgroups *m, const char *uuid);
/* Removes the cgroup of `uuid` once its monitor has ended (logged on failure). */
void mcg_remove(const struct memory_cgroups *m, const char *uuid);
/* The cgroup's directory (for `xenctl info`), "" without a controller. */
void mcg_path(const struct memory_cgroups *m, const char *uuid, char *out, size_t size);

#endif
