/* The domain's life inside this monitor process: boots the VM, applies the lifecycle
 * actions when it stops (destroy, restart, preserve), carries out control requests
 * (pause, power requests, reset, destroy), keeps the state (running, blocked, paused,
 * shutdown, crashed) and the counters that go on the stats page.
 *
 * It runs on the main loop. It tells the rest of the monitor what happens through one
 * callback that receives event lines: "state STATE", "stopped OUTCOME REASON",
 * "restarted BOOTS" (docs/control-channel.md). When the domain is over, `finished` is set
 * and `exit_status` and `outcome` say how. */
#ifndef XENO_VMM_HOST_DOMAIN_H
#define XENO_VMM_HOST_DOMAIN_H

#include <stddef.h>
#include <stdint.h>

#include "lib/stats_page.h"
#include "vmm/host/control.h"
#include "vmm/host/mem_target.h"
#include "vmm/state/migrate_recv.h"
#include "vmm/state/migrate_send.h"
#include "vmm/host/options.h"
#include "vmm/state/snapshot_vm.h"
#include "vmm/machine/vcpu_sched.h"
#include "vmm/virtio/virtio_balloon.h"
#include "vmm/machine/vm.h"

/* A vCPU that used at least this share of an interval (percent) makes the domain
 * "running"; below it on every vCPU the domain is "blocked" (idle, waiting for interrupts:
 * timer ticks still cost a little CPU time). */
#define DOMAIN_BUSY_PERCENT 10

struct domain {
    /* Set by the caller before domain_boot(). */
    const struct options *opt;
    const uint8_t *kernel, *initrd;
    size_t kernel_len, initrd_len;
    console_out_fn console_out;
    console_write_fn console_write; /* optional: virtio-console output in runs */
    void *console_opaque;
    void (*notify)(void *opaque, const char *event);
    void *notify_opaque;
    const struct snap_file *snap;  /* --restore: the first boot resumes this instead of the kernel */
    struct migrate_recv *incoming; /* --migrate-incoming: the first boot receives the domain instead */
    /* Where a deferred control reply goes (migrate; control_reply), with notify_opaque. */
    void (*reply)(void *opaque, const char *line);
    const void *domain_xml; /* --domain-xml (or the restored snapshot's): saved with the domain */
    size_t domain_xml_len;

    struct vm vm;
    int have_vm;    /* vm holds a created machine (to destroy) */
    int vm_running; /* its vCPU threads are started and not yet joined */
    unsigned boots;
    enum dom_state state;

    /* A live migration out (migrate_send.h) while mig is set; migrated once it committed:
     * the domain stops here for good, outcome "migrated DEST". */
    struct migrate_send *mig;
    int migrated;
    /* The hand-over instants for billing (stats_page.h): CLOCK_REALTIME GO arrived (in) and
     * left (out, committed); 0 until then. Main thread only. */
    uint64_t held_from_ns, held_until_ns;
    char migrated_to[600];

    int destroy_requested;
    int save_requested;  /* `save PATH`: stop once saved, outcome "saved PATH" */
    int restore_refused; /* the snapshot's state does not fit (a changed disk image): bad-input */
    char saved_path[CONTROL_LINE_MAX];
    int signo;           /* the signal that stops the domain, or 0 */
    char stop_why[256];  /* why it was stopped from outside */
    char preserved[512]; /* "OUTCOME REASON" of the stop a preserved domain came from */

    int finished, exit_status;
    char outcome[1024]; /* "WORD REASON", one line, for the outcome file */

    /* CPU time and exits of the VMs before this one (restarts), and the last sample. */
    uint64_t base_ns[VM_MAX_VCPUS], last_ns[VM_MAX_VCPUS];
    uint64_t base_io, base_mmio, base_virtio_errors;
    uint64_t last_tick_ns;

    /* The memory target (mem-set, mem_target.h) and its enforcement; measured every tick
     * and at the deadlines (a timerfd at mem_target_due()). */
    struct mem_target mt;
    int mt_timer_fd, mt_timer_open;
    uint64_t mt_reached, mt_missed, mt_enforced;
    uint64_t resident_bytes, rss_bytes;                      /* the last measurements */
    struct virtio_balloon_state balloon;                     /* the balloon's last state (this boot) */
    uint64_t base_exits_other, base_released, base_reported; /* counters of earlier boots */
    unsigned ticks;
    char destroy_why[600]; /* the outcome's reason for a destroy; "" = over the control channel */

    /* The CPU scheduler (vcpu_sched.h): started with the options' settings, changed live by
     * `sched` requests, attached to each VM while its vCPU threads run. */
    struct vcpu_sched sched;
    uint64_t sched_last_throttled_ns; /* at the last tick: a throttled domain is busy, not blocked */
};

/* First boot (paused with opt->paused). On failure sets finished (status and outcome) and
 * returns -1; also -1 for an incoming migration that failed once the VM's threads ran: its
 * stop is then under way (the event loop ends it), and no pid file may say it booted. */
int domain_boot(struct domain *d);
/* --dump-acpi: creates the VM the options describe (no kernel, no vCPU runs), writes its
 * ACPI tables into dir, prints its devices on stdout and destroys it. The exit status. */
int domain_dump_acpi(struct domain *d, const char *dir);
/* The VM's stop eventfd and input-space eventfd while it runs, else -1. */
int domain_stop_fd(const struct domain *d);
int domain_rx_space_fd(const struct domain *d);
/* The UART that takes console input, or NULL while there is no running VM. */
struct uart *domain_uart(struct domain *d);
/* A console input sink (console_feed_to, hub_feed_to): vm_console_input of the running
 * VM (COM1 or virtio-console); takes nothing while no VM runs. */
size_t domain_console_input(void *domain, const uint8_t *buf, size_t len);
/* Call when domain_stop_fd() is readable: joins the vCPUs and applies the lifecycle action. */
void domain_stopped(struct domain *d);
/* Stops the domain for good because of a signal (or the console's escape key). */
void domain_signal(struct domain *d, int signo, const char *why);
/* A control_handler_fn. */
int domain_control(void *domain, enum control_req req, const struct control_args *args, char *reply, size_t size);
/* Every 100 ms: samples vCPU CPU time and updates running/blocked; measures memory against
 * the target; asks the balloon for guest statistics every second. */
void domain_tick(struct domain *d);
/* Sleeping while idle (docs/control-channel.md, "Stats page"). Idle: no vCPU ran in the
 * last tick (blocked, paused or preserved stopped), no memory deadline is pending and no
 * migration runs; nothing on the page changes then until the guest or someone outside
 * acts. The activity descriptor is readable once a vCPU exit or virtio kick happened
 * after domain_watch_activity(d, 1); domain_measure() refreshes the host's measurements
 * (what a reader's request gets) without asking the guest for anything. */
int domain_idle(const struct domain *d);
int domain_activity_fd(const struct domain *d);
void domain_watch_activity(struct domain *d, int on);
void domain_measure(struct domain *d);
uint64_t domain_cpu_ns(struct domain *d); /* all vCPUs, all boots */
/* The timed refresh starts again: sampling restarts from now, so that the first tick
 * judges the time since the wake-up, not the whole sleep. */
void domain_wake(struct domain *d);
/* The memory target's timerfd (readable when a deadline is due), or -1. */
int domain_mem_timer_fd(const struct domain *d);
/* Call when domain_mem_timer_fd() is readable: measures and applies the verdict. */
void domain_mem_timer(struct domain *d);
/* Fills the domain's fields of the stats page (not the console counters). */
void domain_fill_stats(struct domain *d, struct stats_page *p);
/* The running migration's eventfd, or -1. */
int domain_migrate_fd(const struct domain *d);
/* Call when domain_migrate_fd() is readable: progress events, and at the end the reply
 * and what follows (stop for good, or run on here). */
void domain_migrate_event(struct domain *d);
/* Frees the VM. */
void domain_cleanup(struct domain *d);

#endif
