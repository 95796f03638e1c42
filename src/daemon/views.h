/* The JSON views of the registry (docs/api.md): what the API shows of domains, events,
 * usage samples, CPU scheduling and the host. Each takes the registry lock itself; the
 * caller owns the returned reference. The one part of the registry that uses jansson. */
#ifndef XENO_DAEMON_VIEWS_H
#define XENO_DAEMON_VIEWS_H

#include <jansson.h>

#include "daemon/list_query.h"
#include "daemon/registry.h"

json_t *reg_domain_json(struct registry *r, struct reg_domain *d);
/* {"domains": [...], "next": null}: every domain, in definition order. */
json_t *reg_list_json(struct registry *r);
/* {"domains": [...], "next": NAME or null}: the domains `sees` (NULL: all) lets the caller
 * see that pass q's filters, with q's members; a paged query (limit or after) in name order
 * from after `q->after`, at most q->limit, "next" the cursor of the following page (null:
 * this was the last). Unpaged: definition order. NULL when out of memory. */
json_t *reg_list_page_json(struct registry *r, const struct list_query *q,
                           int (*sees)(const void *ctx, const char *sponsor), const void *ctx);
/* The last `limit` events, of one domain (d) or all (NULL). */
json_t *reg_events_json(struct registry *r, struct reg_domain *d, int limit);
json_t *reg_host_json(struct registry *r);
/* {"samples": [...]}: the last `limit` usage samples of a domain, oldest first. */
json_t *reg_usage_json(struct registry *r, struct reg_domain *d, int limit);
/* {"name", "sched": {...}, "cpu": {...} or null, "host": {...}}: GET .../sched. */
json_t *reg_sched_json(struct registry *r, struct reg_domain *d);
/* A port's counters on the network backend (the "net" object of a domain). */
json_t *net_port_json(const char *name, const struct nb_stats_port *p);
/* A disk's counters on xeno-blkback (docs/api.md, "disks[].stats"): ops, bytes, errors,
 * latency percentiles from the histogram, throttled time, size and space used
 * (reg_disk_meter.c). */
struct bb_stats_disk;
json_t *disk_stats_json(const struct bb_stats_disk *k);

#endif
