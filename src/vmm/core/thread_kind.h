/* The kinds of thread a monitor runs, and the one call each makes first thing in its start
 * routine: it names the thread (for ps, top and the sandbox test) and, when the monitor is
 * sandboxed (vmm/host/sandbox.h), narrows that thread's seccomp allow-list to its kind.
 *
 * Threads: the hook is set once by the main thread before it creates any other thread and
 * never changes after; thread_kind_enter runs on the calling thread only. */
#ifndef XENO_VMM_CORE_THREAD_KIND_H
#define XENO_VMM_CORE_THREAD_KIND_H

enum thread_kind {
    THREAD_VCPU,         /* KVM_RUN and the device exits it emulates (vmm/machine/vcpu.c) */
    THREAD_SCHED,        /* the vCPU scheduler (vmm/machine/vcpu_sched.c) */
    THREAD_VIRTIO_IO,    /* a virtio-mmio device's queue thread (vmm/virtio/virtio_mmio.c) */
    THREAD_VHOST_FRONT,  /* the vhost-user front end's socket thread (vmm/virtio/vhost_user_front.c) */
    THREAD_MIGRATE_SEND, /* a live migration's sender (vmm/state/migrate_send.c) */
    THREAD_UFFD_HANDLER, /* lazy restore: userfaultfd fault handler (vmm/core/mem_populate.c) */
    THREAD_UFFD_FILLER,  /* lazy restore: background filler (vmm/core/mem_populate.c) */
    THREAD_KIND_COUNT
};

/* Called by each thread as its first action. `name` (at most 15 characters) becomes the
 * thread's name, or NULL to keep the name it has. */
void thread_kind_enter(enum thread_kind kind, const char *name);

/* The sandbox's hook: called by thread_kind_enter on the new thread. NULL: none. */
typedef void (*thread_kind_hook)(enum thread_kind kind);
void thread_kind_set_hook(thread_kind_hook hook);

const char *thread_kind_name(enum thread_kind kind);

#endif
