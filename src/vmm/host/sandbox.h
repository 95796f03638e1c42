/* What a monitor gives up before its guest runs, as Firecracker's jailer does (docs/security.md,
 * "Monitor sandbox"): resource limits, Landlock (file system: the run directory, the save
 * directories, /dev/kvm and /dev/userfaultfd, the migration key), every capability,
 * no_new_privs, and a seccomp allow-list per thread kind (anything else kills the process).
 *
 * Threads: main thread only, before any other thread exists (the base filter is inherited by
 * every thread created after; each narrows it to its kind through thread_kind_enter). */
#ifndef XENO_VMM_HOST_SANDBOX_H
#define XENO_VMM_HOST_SANDBOX_H

#include "vmm/host/options.h"

/* Enters the sandbox for the monitor configured by `o`. 0 or -errno with a message; on
 * failure the monitor must not run the guest. */
int vmm_sandbox_enter(const struct options *o);

/* Compiles the seccomp programs and writes them into cache_dir for later monitors of this
 * binary (--fill-cache; never from a sandboxed monitor). 0 or -errno with a message. */
int vmm_sandbox_fill_cache(const char *cache_dir);

/* 0 if the sandbox lets `save` write `path` (or there is no sandbox), else -EACCES with a
 * message naming the directories it allows. */
int vmm_sandbox_check_save(const char *path);

#endif
