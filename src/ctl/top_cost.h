/* `xenctl top`'s cost column (docs/xenctl.md): what a domain costs per hour at the rates of
 * the last interval, priced by the list in force (GET /v1/prices) with its rules, as a bill
 * prices the ledger (docs/billing.md): CPU max(used, reserved), memory max(resident,
 * allocated) unless a rule says otherwise; and its disks: the size and reservation of each
 * disk the block backend serves, with the rate of its requests and bytes between two frames.
 * No network: top shows no network rates. Pure (tests/unit/test_ctl_sched.c). */
#ifndef XENO_CTL_TOP_COST_H
#define XENO_CTL_TOP_COST_H

#include <jansson.h>

/* Money per hour (whole units of the operator's currency, not micro-units) of one domain of
 * GET /v1/domains, whose vCPUs used cpu_vcpus CPUs over the last interval; NAN when that rate
 * is unknown (the first frame) or the domain does not run. */
double ctl_top_cost_per_hour(const json_t *prices, const json_t *dom, double cpu_vcpus);
/* The same for its disks (disks[].stats of GET /v1/domains): disk_provisioned and
 * disk_reserved from each served disk's size and reservation, disk_ops and disk_bytes from
 * its counters' rate since the frame `old` (the same domain interval_s before; NULL, or a
 * disk added again since: no rate, those two not counted). 0 with no disk served. */
double ctl_top_disk_cost_per_hour(const json_t *prices, const json_t *dom, const json_t *old, double interval_s);

#endif
