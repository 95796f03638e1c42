/* What the operator allows each sponsor beyond its own domains' lifecycle (docs/api.md,
 * "Scoping"): changing their CPU scheduling within limits, and saving and restoring
 * snapshots by name in a directory of its own under xenod's --save-dir
 * (SAVE_DIR/sponsors/SPONSOR/NAME), never at a path it chooses; and the limit over all its
 * disks on this host (host_disk.c gives it to xeno-blkback). Kept in the state store
 * (table sponsor_policies, struct sponsor_policy in store.h); no policy: neither.
 * Thread-safe: each call takes the registry lock for what it reads or writes. */
#ifndef XENO_DAEMON_SPONSOR_POLICY_H
#define XENO_DAEMON_SPONSOR_POLICY_H

#include <jansson.h>
#include <stddef.h>

#include "daemon/registry.h"
#include "daemon/store.h"

/* A snapshot name: [A-Za-z0-9._-], not starting with '.', at most this long. */
#define SPONSOR_SNAPSHOT_NAME_MAX 64

/* -ENOENT when the operator set none for this sponsor. */
int sponsor_policy_get(struct registry *r, const char *sponsor, struct sponsor_policy *out);
/* -EINVAL when save is allowed to a sponsor whose name cannot be a directory name. */
int sponsor_policy_set(struct registry *r, const char *sponsor, const struct sponsor_policy *p);
/* {"sponsor", "sched": {"max_reservation_percent", "max_limit_percent"} or null, "save",
 * "disk": {"total_iops_sec", "total_bytes_sec"} or null}. */
json_t *sponsor_policy_json(const char *sponsor, const struct sponsor_policy *p);
/* The PUT body (the same shape, "sched" absent or null: no sched); -EINVAL naming the field. */
int sponsor_policy_parse(json_t *body, struct sponsor_policy *out);

/* Whether `sponsor` may give its domain d the settings `want`: 0, or -EACCES naming the
 * limit (no policy, reservation over the total, limit over the cap, weight above the
 * default). Caller serialises a sponsor's sched changes (the total is read here). */
int sponsor_policy_check_sched(struct registry *r, const char *sponsor, const struct reg_domain *d,
                               const struct sched_params *want);

/* The path of `sponsor`'s snapshot `name` into out: -EACCES when its policy does not allow
 * saving, -EINVAL (400) when the name is not a plain name. make_dir: create
 * SAVE_DIR/sponsors/SPONSOR (0700, never through a link) for a save. */
int sponsor_snapshot_path(struct registry *r, const char *sponsor, const char *name, int make_dir, char *out,
                          size_t size);

#endif
