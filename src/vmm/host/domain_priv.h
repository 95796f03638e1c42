/* What domain.c (boot, stop, control, ticks, memory targets) and domain_transfer.c (save and
 * live migration out) share of a domain's internals. Not for other files: they use domain.h.
 * Everything here runs on the monitor's main loop. */
#ifndef XENO_VMM_HOST_DOMAIN_PRIV_H
#define XENO_VMM_HOST_DOMAIN_PRIV_H

#include "vmm/host/domain.h"

/* domain.c */
/* Tells the embedding program (xenod's event stream through the control socket). */
void domain__notify(struct domain *d, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void domain__set_state(struct domain *d, enum dom_state s);
/* The domain ends for good: exit status, outcome word and reason (its first line). */
void domain__finish(struct domain *d, int status, const char *word, const char *reason);
/* The vCPUs run again after a pause: CPU-time samples start from now (a paused interval is
 * not busy time). */
void domain__restart_sampling(struct domain *d);

/* domain_transfer.c */
/* `save PATH [keep-running] [shrink]`: the reply is ready on return. */
void domain__save_request(struct domain *d, const struct control_args *args, char *reply, size_t size);
/* `migrate ...`: starts the sender; CONTROL_REPLY_LATER, or 0 with an error reply. */
int domain__migrate_request(struct domain *d, const struct control_args *args, char *reply, size_t size);
/* The sender's thread ended (domain_migrate_event): commit the move or carry on here. */
void domain__migration_ended(struct domain *d);
/* At the first boot of a restored or incoming domain, its threads started and parked: the
 * snapshot's (or, after the source's GO, the source's) memory and state loaded, its disks'
 * and network's rings given back to their backends, then it runs (unless paused). -1 when
 * refused or failed (the stop is requested; no pid file may be written). */
int domain__arrive(struct domain *d, int paused);

#endif
