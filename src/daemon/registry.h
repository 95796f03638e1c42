/* The registry: every domain xenod knows, defined or running, and the operations on them.
 * It is the one place that ties the store (what must survive), the monitors (what runs) and
 * the lifecycle policy together; the HTTP API is a thin layer over these functions.
 *
 * By responsibility: registry.c (the table, lookups, loading at start), lifecycle.c (define,
 * start, requests, destroy, undefine), save_restore.c (save, restore, migration both ways),
 * supervisor.c (the thread that watches the monitors; end_policy.c decides what an end
 * means), admission.c (CPU reservations), host_net.c (the network backend) and views.c (the
 * JSON the API shows, views.h: the only one of them that uses jansson).
 *
 * Threads: API requests run on libmicrohttpd's threads and call reg_* functions; one
 * supervisor thread watches every monitor (exit via pidfd, events on the control socket) and
 * applies on_poweroff/on_reboot/on_crash when a monitor ends. `lock` guards the domain list,
 * every domain's fields and the store; `op_lock` of a domain serialises start/stop/undefine
 * on it so two clients cannot start it twice; nobody sleeps while holding `lock`. */
#ifndef XENO_DAEMON_REGISTRY_H
#define XENO_DAEMON_REGISTRY_H

#include <limits.h>
#include <pthread.h>

#include "daemon/cpu_contract.h"
#include "daemon/memory_cgroup.h"
#include "daemon/monitor.h"
#include "daemon/backend_sup.h"
#include "daemon/netback_sup.h"
#include "daemon/store.h"
#include "lib/domain_config.h"
#include "sched/admit.h"

/* xenod's record of one domain (not the monitor's struct domain, src/vmm/host/domain.h). */
struct reg_domain {
    /* Immutable once defined, but for the disks' QoS and blkio_weight, which reg_disk_qos
     * changes under lock and op_lock: read them under either. */
    struct domain_config cfg;
    char *xml, *source;
    int persistent;
    int domid;         /* 0 when not running */
    double started_at; /* CLOCK_REALTIME seconds */
    char state[16];    /* recorded state while no monitor runs: shutdown or crashed */
    struct monitor *mon;
    int starting;              /* a monitor is being spawned */
    int disks_after_go;        /* incoming: its disks are not the backend's yet (readd_disks leaves them) */
    int destroying;            /* the operator asked for destroy: the exit is not a crash */
    int gone;                  /* removed from the registry; freed with the last reference */
    int lost_pid;              /* at load: its monitor ended while xenod was not running */
    int end_signal;            /* the signal that killed its monitor (seccomp: SIGSYS), 0: none */
    size_t bill_hint;          /* billing_due()'s memo of where the ledger keeps it; under r->lock */
    struct sched_params sched; /* CPU scheduling in force: the XML's, then live changes (kept in the store) */
    struct domain_bandwidth net_in, net_out; /* network QoS in force: the XML's, then `net-qos` */
    char migration[256];                     /* a live migration's last progress line while it runs, else "" */
    int refs;
    pthread_mutex_t op_lock;
    struct reg_domain *next;
};

struct registry {
    pthread_mutex_t lock;
    pthread_cond_t changed; /* a monitor started or ended */
    /* An event was stored (reg_events_added): event_seq counts them, event_added (on
     * CLOCK_MONOTONIC) wakes the live event streams (api_events.c). Both under lock. */
    pthread_cond_t event_added;
    uint64_t event_seq;
    struct store store;
    char state_dir[PATH_MAX];
    char vmm_path[PATH_MAX];
    struct reg_domain *domains;
    /* --max-domains: a define or restore beyond it is refused (reg_room_locked); 0: none.
     * Set by main() after reg_open, before the API starts. */
    unsigned max_domains;
    int wake_fd; /* eventfd: the supervisor should rebuild its poll set */
    /* The UUIDs whose ended monitor's disks and port are still coming off the backends
     * (reg_detach_begin_locked .. reg_detach_end_locked, the supervisor after an end): a start,
     * save or restore of such a UUID waits, be it the same entry (a persistent domain) or a new
     * one of the same UUID (a transient domain restored right after it stopped on its own),
     * whose disks and port have the same names. Under lock. */
    struct reg_detaching *detaching;
    double sample_interval_s;  /* how often running domains' counters go into the store */
    double next_sample;        /* reg_now_s() when the usage samples are due (period_tick's grid) */
    struct sched_host cpu;     /* admission control of CPU reservations (sched/admit.h) */
    struct memory_cgroups mcg; /* <memtune>'s controller, found at reg_open; read-only after */
    /* The host's network backend (netback_sup.h): started with the first domain that has
     * an interface (or found running at start); net_lock serialises starting it. */
    pthread_mutex_t net_lock;
    struct netback_sup *netback;
    char net_path[PATH_MAX], net_dir[PATH_MAX + 16], net_uplink[32];
    uint64_t net_capacity_kib;
    int net_audit; /* --net-audit and its options (docs/audit.md) */
    char net_audit_rules[PATH_MAX], net_audit_key[PATH_MAX], net_ipfix[128];
    uint32_t net_audit_flow_quota; /* 0: the backend's default */
    /* The host's disk backend (host_disk.c): started with the first domain that has a disk
     * (or found running at start); blk_lock serialises starting it. */
    pthread_mutex_t blk_lock;
    struct backend_sup *blkback;
    char blk_path[PATH_MAX], blk_dir[PATH_MAX + 16], blk_sock[PATH_MAX + 32];
    char migrate_key[PATH_MAX]; /* --migrate-key: authenticates migrations both ways ("": none) */
    char save_dir[PATH_MAX];    /* --save-dir: the only place monitors may save snapshots */
    /* Where domains' disk images are (--image-dir, else IMAGE_DIR_DEFAULT): a <disk>'s
     * <source file> is resolved against it at define. Set by main() before the API starts. */
    char image_dir[PATH_MAX];
    /* xeno-blkback's stats page, STATE_DIR/blkback/stats (blk_meter.h): read for `info`, the
     * usage samples and the ledger's disk meters. Made at first use; under lock. */
    struct blk_meter *blk_page;
    char cache_dir[PATH_MAX];         /* the monitors' --cache-dir (start_cache.h); "": none. Set at start */
    struct cpu_contract cpu_contract; /* set once by main() before the API starts; read-only after */
    /* Metering and the ledger (billing.h): set once by main() under lock after reg_open,
     * read under lock; NULL until then (nothing is posted). Outlives the supervisor. */
    struct billing *billing;
    int stopping;
    pthread_t supervisor;
};

/* Names the disks of the domains loaded at reg_open relative to r->image_dir (set after
 * reg_open): their stored XML holds <source file> as written at define. main() calls it once,
 * before the API starts. */
void reg_resolve_disks(struct registry *r);

/* cpu: the CPUs and headroom admission control counts with (NULL: the CPUs xenod may run
 * on, SCHED_HEADROOM_DEFAULT_PPM). */
int reg_open(struct registry *r, const char *state_dir, const char *vmm_path, double sample_interval_s,
             const struct sched_host *cpu);
/* Stops the supervisor and frees everything; running monitors keep running. */
void reg_close(struct registry *r);
/* At a clean stop, after reg_close and before billing_close (main): xenod's own overhead up to
 * now, posted at once. The next xenod is a new process (a new instance of the meter) that
 * counts from its own start, so without this the time since the last posting would be lost
 * (docs/billing.md, "The host's bill"). */
void reg_billing_stop(struct billing *b);

/* Lookup by name, UUID or numeric domain ID; the result holds a reference (reg_put). */
int reg_lookup(struct registry *r, const char *ref, struct reg_domain **out);
void reg_put(struct registry *r, struct reg_domain *d);

/* Defines a domain from XML (source: file path for messages and relative paths, or NULL)
 * and optionally starts it. Nothing is left behind on failure. *rep (zeroed by the caller,
 * domain_xml_report_free after; NULL: not wanted) gets every refusal and warning the parser
 * found, on success (warnings only) as on failure. */
int reg_define(struct registry *r, const char *xml, size_t len, const char *source, int persistent, int start,
               int paused, struct reg_domain **out, struct domain_xml_report *rep);
/* Replaces the definition of d, a persistent domain that is shut off, with `xml` (`xenctl
 * edit`, PUT /v1/domains/{ref}/xml): the same checks as reg_define, every problem into *rep,
 * and the UUID must stay d's (the name may change, if free). On success *out is the new
 * record (a reference; d is unlinked: its events and run directory go on under the UUID);
 * on any failure the stored definition is unchanged. -EBUSY while it runs. */
int reg_redefine(struct registry *r, struct reg_domain *d, const char *xml, size_t len, const char *source,
                 struct reg_domain **out, struct domain_xml_report *rep);
int reg_start(struct registry *r, struct reg_domain *d, int paused);
struct reg_migrate_opts {
    int live;                 /* pre-copy rounds while it runs (else one pass, then stop and copy) */
    unsigned bandwidth_mbps;  /* MB/s for the pre-copy rounds, 0: no limit */
    unsigned max_downtime_ms; /* 0: the monitor's default */
};
/* Moves a running domain to the xenod at hostport (its --migrate-listen), authenticated with
 * r->migrate_key. On success the domain has stopped here (outcome `migrated`; a transient one
 * is forgotten) and result holds the monitor's figures; on failure it runs on here. */
int reg_migrate(struct registry *r, struct reg_domain *d, const char *hostport, const struct reg_migrate_opts *o,
                char *result, size_t size);
/* Destination: takes the domain an authenticated peer offers (migrate_host.c). Defines it
 * (as restore does), starts a monitor listening on `listen` (ADDR:0), calls on_listening
 * with its port, and waits until the domain runs here or the migration failed, or until
 * cancelled(ctx) says 1 (xenod stops: the monitor is killed before the commit, the source
 * keeps the domain; polled every few ms). */
int reg_migrate_in(struct registry *r, const char *offer, size_t len, const char *console, size_t console_len,
                   const char *peer, const char *listen, const char *key_path, int (*on_listening)(void *, int),
                   int (*cancelled)(void *), void *ctx);
/* The network backend's program, uplink tap (NULL: none) and uplink capacity in KiB/s (0:
 * unlimited). Attaches to a backend left running by an earlier xenod. Call before serving. */
int reg_set_network(struct registry *r, const char *netback_path, const char *uplink, uint64_t capacity_kib);
/* The disk backend's program (docs/blkback.md): started with the first domain that has a
 * disk; one left running by an earlier xenod is attached to now and given the running
 * domains' disks again. Call after r->image_dir is set, before serving. */
int reg_set_disks(struct registry *r, const char *blkback_path);
/* Changes the QoS of d's disk `target` (`xenctl disk-qos`): in force at once on the backend
 * while d runs (refused there: nothing changes), kept for its next start. *now and *weight:
 * the disk's QoS and the domain's <blkiotune> weight after it (q->given 0: as they are).
 * -ENOENT without such a disk, -EINVAL for values libvirt's rules or the backend refuse.
 * The stored definition gets it too (its canonical XML: dumpxml, the next xenod). */
/* After `sponsor`'s policy changed: every disk of its running domains is given the backend
 * again with the policy's disk limit (joining, changing or, with no limit, leaving the
 * sponsor's group there). 0, or the number of disks the backend refused, each named with
 * its reason in `why` ("; " between; they keep what they had, and take the policy at their
 * next start, where a refusal fails the start). */
int reg_disks_sponsor_policy(struct registry *r, const char *sponsor, char *why, size_t size);
int reg_disk_qos(struct registry *r, struct reg_domain *d, const char *target, const struct domain_disk_qos *q,
                 struct domain_disk *now, uint32_t *weight);
/* New network QoS for the domain's interface, in force at once while it runs (`xenctl
 * net-qos`); bytes/s and bytes as in struct domain_bandwidth. -ENODEV without an interface. */
int reg_net_qos(struct registry *r, struct reg_domain *d, const struct domain_bandwidth *in,
                const struct domain_bandwidth *out);
/* Resumes a snapshot file (absolute path) in a new monitor (docs/snapshot-format.md). The
 * domain is the one the snapshot's definition names: restored into it if it is defined here
 * and stopped, else defined anew as transient. new_name (may be NULL) makes a copy with that
 * name and a new UUID. The file is checked whole before anything is defined. */
/* sponsor non-NULL (a sponsor's restore): the snapshot's definition must be that sponsor's,
 * else -EACCES with nothing defined. admit (may be NULL): asked about the domain once it is
 * known here, before its monitor starts; its error is the restore's, with nothing left
 * defined that the restore defined (the sponsor's sched policy, api_sponsor.c). */
int reg_restore(struct registry *r, const char *path, const char *new_name, int paused, const char *sponsor,
                int (*admit)(void *ctx, const struct reg_domain *d), void *admit_ctx, struct reg_domain **out);
/* pause, unpause, shutdown, reboot: one request to the monitor, recorded as an event. */
int reg_request(struct registry *r, struct reg_domain *d, const char *verb);
/* Gives the domain a memory target and a deadline (docs/control-interface.md): the monitor
 * sets its balloon and enforces the deadline; the outcome comes back as an event. */
int reg_mem_set(struct registry *r, struct reg_domain *d, uint64_t target_bytes, uint64_t deadline_ms);
/* New CPU scheduling settings (docs/scheduling.md), checked, admitted (a reservation must fit
 * the host beside the running domains': -ENOSPC, or -EINVAL if it never can), kept, and
 * applied live when the domain runs. */
int reg_sched(struct registry *r, struct reg_domain *d, const struct sched_params *p);
/* Suspends the domain to `path` (absolute) on the monitor's host (docs/snapshot-format.md);
 * the domain stops unless keep_running. Restore is `xeno-vmm --restore` for now. */
int reg_save(struct registry *r, struct reg_domain *d, const char *path, int keep_running, int shrink);
/* Waits until the domain no longer runs; -ETIMEDOUT after timeout_ms. */
int reg_wait_stopped(struct registry *r, struct reg_domain *d, int timeout_ms);
/* Waits until a stopped domain's disks and port are off the backends (the supervisor takes
 * them off after the stop is seen); -EBUSY after timeout_ms. */
#define REG_DETACH_WAIT_MS 60000 /* a backend answers a request within 10 s */
int reg_wait_detached(struct registry *r, struct reg_domain *d, int timeout_ms);
int reg_destroy(struct registry *r, struct reg_domain *d);
int reg_undefine(struct registry *r, struct reg_domain *d);

/* The path of a domain's console log (rotated part first if `rotated`). */
void reg_console_log_path(struct registry *r, struct reg_domain *d, int rotated, char *out, size_t size);

#endif
