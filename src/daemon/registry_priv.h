/* What the registry's modules (registry.c, lifecycle.c, save_restore.c, supervisor.c,
 * admission.c, host_net.c, views.c) share and nobody else calls. Locks as in registry.h:
 * "caller holds r->lock" means the registry lock; nothing here sleeps while holding it. */
#ifndef XENO_DAEMON_REGISTRY_PRIV_H
#define XENO_DAEMON_REGISTRY_PRIV_H

#include "daemon/registry.h"

#define REQUEST_TIMEOUT_MS 5000

/* ---- registry.c: the table ---- */

double reg_now_s(void); /* CLOCK_REALTIME seconds */
/* STATE_DIR/run/UUID: the monitor's run directory (console logs, sockets, outcome). */
void reg_run_dir(struct registry *r, const struct reg_domain *d, char *out, size_t size);
/* The supervisor should rebuild its poll set (a monitor started, or xenod stops). */
void reg_wake_supervisor(struct registry *r);
/* Records an event in the store and the log. Caller holds r->lock. */
void reg_event(struct registry *r, struct reg_domain *d, const char *kind, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* Wakes the live event streams after an event was stored. Caller holds r->lock. */
void reg_events_added(struct registry *r);
/* Stores what runs (domain ID, monitor pid, state) for a restarted xenod. Caller holds r->lock. */
void reg_persist_runtime(struct registry *r, struct reg_domain *d);
/* A new record appended to the table (definition order), or NULL. Caller holds r->lock. */
struct reg_domain *reg_add_domain(struct registry *r, const struct domain_config *cfg, const char *xml,
                                  const char *source, int persistent);
/* 0 when one more domain may be defined; else -ENOSPC saying the maximum (--max-domains) is
 * reached and what to do. Caller holds r->lock. */
int reg_room_locked(struct registry *r);
/* Takes d out of the table; freed with its last reference. Caller holds r->lock. */
void reg_unlink_domain(struct registry *r, struct reg_domain *d);
/* Removes a domain's run directory, console logs included. Caller holds r->lock. */
void reg_remove_run_dir(struct registry *r, struct reg_domain *d);
/* UUID `uuid`'s disks and port are coming off the backends (the supervisor, between a
 * monitor's end and the backends' answers): 0, or -ENOMEM (logged; nothing waits for it).
 * Each begin is ended once. Caller holds r->lock; end broadcasts r->changed. */
int reg_detach_begin_locked(struct registry *r, const char *uuid);
void reg_detach_end_locked(struct registry *r, const char *uuid);
/* Whether a detach of that UUID is under way. Caller holds r->lock. */
int reg_detaching_locked(const struct registry *r, const char *uuid);
/* A monitor handle for a request, safe against the supervisor detaching it meanwhile
 * (NULL: not running); give it back with reg_release_monitor. Take without r->lock. */
struct monitor *reg_grab_monitor(struct registry *r, struct reg_domain *d);
void reg_release_monitor(struct registry *r, struct monitor *m);

/* ---- views.c ---- */

/* The state a domain shows (running, blocked, paused, shutdown, crashed), reading its
 * monitor's stats page into *st (*have_stats: 1 when it could). Caller holds r->lock. */
/* peek: take a sleeping monitor's page as it is (views of many domains: an idle domain's last
 * page is what it still is), else wait for its refresh (one domain's view). */
const char *reg_live_state(struct reg_domain *d, struct stats_page *st, int *have_stats, int peek);
/* Asks every running monitor for a fresh stats page (monitor_ask_stats) before a pass that
 * reads them all. Caller holds r->lock. */
void reg_ask_stats_locked(struct registry *r);

/* ---- lifecycle.c ---- */

/* How a monitor starts: a boot of the domain's kernel (all zero), a resume of a snapshot, or
 * the destination of a live migration. */
struct reg_start_how {
    int paused;
    const char *restore_file;
    const char *migrate_listen; /* ADDR:0: the monitor listens there for the source monitor */
    const char *migrate_key;
    /* Incoming: called once the monitor listens, with its port (the source may go ahead);
     * a negative return abandons the start. */
    int (*on_listening)(void *ctx, int port);
    int (*cancelled)(void *ctx); /* incoming, may be NULL: 1 when the wait must end */
    void *ctx;
    const char *peer; /* incoming: the source host, for the event */
    /* Incoming: each disk's size in bytes as the source serves it (the monitor's --disk
     * size=). The disks go to this host's backend only once the domain runs here: until GO the
     * source's backend holds the images (flock), and may go on serving them if it fails. */
    const uint64_t *disk_bytes;
};

/* Starts d's monitor as `how` says. Admission control first; the event says which. Takes
 * d->op_lock and r->lock itself. */
int reg_start_monitor(struct registry *r, struct reg_domain *d, const struct reg_start_how *how);

/* ---- supervisor.c ---- */

/* The monitor of `d` has ended (or was found dead at start-up). Records what happened and
 * applies the lifecycle policy (end_policy.h). Caller holds r->lock; returns 1 if d must be
 * restarted (d may have been unlinked when it returns 0). */
int reg_monitor_ended(struct registry *r, struct reg_domain *d, int pid);
/* The supervisor thread's body (arg: the registry); ends when r->stopping is set. */
void *reg_supervisor_main(void *arg);

/* ---- lifecycle.c ---- */

/* Define-time MAC clash check, to be atomic with the insert: caller holds r->lock until the
 * domain is in the table. A generated MAC some defined domain has (other than `self`, the
 * record a redefinition replaces) is drawn again; a given one is -EEXIST with a message
 * "SOURCE: <mac>: ..." naming the domain that has it. */
int reg_claim_mac_locked(struct registry *r, struct domain_config *c, const struct reg_domain *self,
                         const char *source);

/* ---- reg_billing.c: metering into the ledger (billing.h) ---- */

struct billing_reading;
/* What the ledger needs of d now: its monitor's page st (NULL: none) and its port's
 * counters on the backend. Caller holds r->lock. */
void reg_billing_reading(struct registry *r, struct reg_domain *d, const struct stats_page *st,
                         struct billing_reading *out);
/* Every running domain's usage to the ledger when due, and the backlog retried. Supervisor
 * thread, without r->lock. */
void reg_billing_tick(struct registry *r);

/* ---- reg_disk_meter.c: the domains' disks on xeno-blkback (blk_meter.h) ---- */

struct bb_stats_disk;
/* The backend's counters of d's disk i as of now (the page read again if it moved), or NULL
 * while the backend does not serve it (not running, no backend, no page). Valid until the
 * lock is let go. Caller holds r->lock. */
const struct bb_stats_disk *reg_disk_stats_locked(struct registry *r, const struct reg_domain *d, unsigned i);
/* Every served disk of d into out->disk[] (billing_reading). Caller holds r->lock. */
void reg_disk_readings_locked(struct registry *r, const struct reg_domain *d, struct billing_reading *out);
/* A usage sample of each served disk of d into the store. Caller holds r->lock. */
void reg_disk_samples_locked(struct registry *r, const struct reg_domain *d);
/* Frees the page reader (reg_close). */
void reg_disks_close(struct registry *r);

/* ---- admission.c ---- */

/* What the domains that run (or start) other than `except` have reserved, with "name 30%, ..."
 * in holders. Caller holds r->lock. */
uint64_t adm_reservations_held(struct registry *r, const struct reg_domain *except, char *holders, size_t size);
/* May d hold a reservation of `want` now? 0, or -ENOSPC / -EINVAL with the reason and what
 * would fit. Caller holds r->lock. */
int adm_admit_locked(struct registry *r, struct reg_domain *d, uint32_t want);
/* A definition's CPU affinity on this host (docs/domain-xml.md, "CPU affinity"): every CPU
 * a cpuset names is one xenod may run on, and a reservation fits the CPUs its vCPUs are
 * pinned to. file: the XML's name for "FILE:LINE:" messages (at define), NULL for
 * "domain 'NAME': line N of its XML" (at start). 0, or -EINVAL with the message. */
int adm_check_affinity(const struct registry *r, const struct domain_config *c, uint32_t reservation_ppm,
                       const char *file);

/* ---- host_net.c ---- */

/* Define-time check of c's interface (define, restore, migration offer): an XML <source
 * path> other than the one xenod chooses (RUN_DIR/net0.sock, net_port_socket) is refused
 * with -EBADMSG and a message starting with `source`. Reads only r->state_dir: any lock. */
int reg_net_check_source(struct registry *r, const struct domain_config *c, const char *source);

/* Gives the backend the domain's port (again: a stale one of the same name goes first),
 * starting the backend if none runs. Without r->lock. */
int reg_net_attach(struct registry *r, const struct domain_config *c, const char *dir);
/* Takes the port off the backend (logged on failure). Without r->lock. */
void reg_net_detach(struct registry *r, const char *port);
/* A backend supervisor's event (backend_sup.h on_event), stored as the host's. */
void reg_on_backend_event(void *ctx, const char *kind, const char *detail);

/* ---- host_disk.c ---- */

#define REG_DISK_TAG_SIZE 12   /* 'u', 10 hex digits of the UUID, NUL */
#define REG_DISK_ARG_SIZE 1536 /* the monitor's --disk value (its image dir and name included) */
/* The domain's tag in the backend's disk names: "TAG-vda". */
void reg_disk_tag(const struct domain_config *c, char out[REG_DISK_TAG_SIZE]);
/* Gives the backend every disk of c (served on DIR/disk-TARGET.sock), starting the backend if
 * none runs, and fills args[i] with the monitor's --disk for each. On failure (the backend's
 * refusal as the message) none of c's disks is left on the backend. Without r->lock. */
int reg_disks_attach(struct registry *r, const struct domain_config *c, const char *dir,
                     char args[][REG_DISK_ARG_SIZE]);
/* An incoming domain's --disk values, without the backend (reg_start_how.disk_bytes: the
 * sizes the source served). Without r->lock. */
int reg_disks_args(struct registry *r, const struct domain_config *c, const char *dir, const uint64_t *bytes,
                   char args[][REG_DISK_ARG_SIZE]);
/* An incoming domain that runs here now (after GO): gives the backend every disk of c, each
 * tried again while the image is "in use" (the source's backend lets go of it once the source
 * monitor has ended: its xenod's remove-disk) until timeout_ms. A size other than bytes[i] is
 * logged. The first failure's message on error; the disks given stay. Without r->lock. */
int reg_disks_attach_moved(struct registry *r, const struct domain_config *c, const char *dir, const uint64_t *bytes,
                           int timeout_ms);
/* Takes c's first n disks off the backend (logged on failure). Without r->lock. */
void reg_disks_detach(struct registry *r, const struct domain_config *c, unsigned n);

#endif
