#include "vmm/core/thread_kind.h"

#include <stddef.h>
#include <sys/prctl.h>

/* Written once before any other thread exists (thread creation orders it before their reads). */
static thread_kind_hook the_hook;

void thread_kind_set_hook(thread_kind_hook hook)
{
    the_hook = hook;
}

void thread_kind_enter(enum thread_kind kind, const char *name)
{
    /* PR_SET_NAME names the calling thread without opening /proc/self/task/TID/comm, which
     * the sandbox's Landlock ruleset would refuse. */
    if (name)
        prctl(PR_SET_NAME, name, 0, 0, 0);
    if (the_hook)
        the_hook(kind);
}

const char *thread_kind_name(enum thread_kind kind)
{
    static const char *const names[THREAD_KIND_COUNT] = {
        [THREAD_VCPU] = "vcpu",
        [THREAD_SCHED] = "sched",
        [THREAD_VIRTIO_IO] = "virtio-io",
        [THREAD_VHOST_FRONT] = "vhost-front",
        [THREAD_MIGRATE_SEND] = "migrate-send",
        [THREAD_UFFD_HANDLER] = "uffd-handler",
        [THREAD_UFFD_FILLER] = "uffd-filler",
    };
    return kind < THREAD_KIND_COUNT && names[kind] ? names[kind] : "?";
}
