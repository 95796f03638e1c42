/* The API's side of sponsors' allowances (sponsor_policy.h): GET/PUT
 * /v1/sponsors/{sponsor}/policy, a sponsor's sched within its limits, and the snapshot file
 * of a save or restore (docs/api.md, "Scoping"). */
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "daemon/api_access.h"
#include "daemon/api_priv.h"
#include "daemon/registry_priv.h"
#include "daemon/sponsor_policy.h"
#include "lib/err.h"

/* Serialises sponsors' sched changes, so that one's total is checked against what the
 * others' changes already made (the check and the change are one step). Taken before the
 * domain's op lock and the registry lock, never while holding either. */
static pthread_mutex_t sched_lock = PTHREAD_MUTEX_INITIALIZER;

static void forbidden(struct api_call *k)
{
    k->result = api_send_status(k->c, 403, "forbidden", err_msg());
}

/* GET: the operator, or the sponsor itself; any other sponsor gets 404 (no existence leak). */
void api_h_policy_get(void *ctx)
{
    struct api_call *k = ctx;
    const char *sponsor = route_param(&k->params, "sponsor");
    struct sponsor_policy p;
    if (!access_sees(k->pr, sponsor)) {
        err_set(ENOENT, "the operator set no policy for sponsor '%s'", sponsor);
        return api_call_error(k, -ENOENT);
    }
    int rc = sponsor_policy_get(k->reg, sponsor, &p);
    if (rc < 0)
        return api_call_error(k, rc);
    k->result = api_send_json(k->c, 200, sponsor_policy_json(sponsor, &p));
}

/* PUT (operator only, api_access.c): replaces the sponsor's policy whole; its running disks
 * take the disk limit at once ("disk_refused": the backend's refusals, else null). */
void api_h_policy_put(void *ctx)
{
    struct api_call *k = ctx;
    const char *sponsor = route_param(&k->params, "sponsor");
    struct sponsor_policy p;
    int rc = sponsor_policy_parse(k->body, &p);
    if (rc == 0 && (!sponsor[0] || strlen(sponsor) > DOMAIN_SPONSOR_MAX || strpbrk(sponsor, "\t\r\n")))
        rc = err_set(EINVAL, "sponsor '%.80s': not a sponsor name", sponsor);
    if (rc == 0)
        rc = sponsor_policy_set(k->reg, sponsor, &p);
    if (rc < 0)
        return api_call_error(k, rc);
    char why[ERR_MSG_MAX];
    int refused = reg_disks_sponsor_policy(k->reg, sponsor, why, sizeof(why));
    json_t *o = sponsor_policy_json(sponsor, &p);
    json_object_set_new(o, "disk_refused", refused ? json_string(why) : json_null());
    k->result = api_send_json(k->c, 200, o);
}

int api_snapshot_file(struct api_call *k, const char *path, const char *snapshot, int for_save, char *out, size_t size)
{
    int rc;
    if (k->pr->is_operator && !path)
        rc = err_set(EINVAL, "the operator gives \"path\": the snapshot file's absolute path");
    else if (k->pr->is_operator)
        rc = snprintf(out, size, "%s", path) < (int)size ? 0 : err_set(EINVAL, "snapshot path too long");
    else if (!snapshot)
        rc = err_set(EINVAL, "a sponsor gives \"snapshot\": a name in its own snapshot directory, never a host path");
    else
        rc = sponsor_snapshot_path(k->reg, k->pr->sponsor, snapshot, for_save, out, size);
    if (rc == 0 && !for_save && !k->pr->is_operator) {
        struct stat st; /* only a snapshot a monitor wrote there: a plain file, never a link */
        if (lstat(out, &st) < 0 || !S_ISREG(st.st_mode))
            rc = err_set(ENOENT, "sponsor '%s' has no snapshot '%s'", k->pr->sponsor, snapshot);
    }
    if (rc < 0) {
        api_call_error(k, rc);
        return -1;
    }
    return 0;
}

int api_sponsor_sched_begin(struct api_call *k, const struct sched_params *want)
{
    if (k->pr->is_operator)
        return 0;
    pthread_mutex_lock(&sched_lock);
    if (sponsor_policy_check_sched(k->reg, k->pr->sponsor, k->d, want) < 0) {
        pthread_mutex_unlock(&sched_lock);
        forbidden(k);
        return -1;
    }
    return 0;
}

int api_sponsor_start(struct api_call *k, struct reg_domain *d, int paused, int *refused)
{
    *refused = 0;
    pthread_mutex_lock(&k->reg->lock);
    struct sched_params want = d->sched;
    pthread_mutex_unlock(&k->reg->lock);
    if (k->pr->is_operator || !want.reservation_ppm)
        return reg_start(k->reg, d, paused);
    pthread_mutex_lock(&sched_lock);
    int rc = sponsor_policy_check_sched(k->reg, k->pr->sponsor, d, &want);
    if (rc < 0)
        *refused = 1;
    else
        rc = reg_start(k->reg, d, paused);
    pthread_mutex_unlock(&sched_lock);
    return rc;
}

/* reg_restore's admit for a sponsor: the restored domain's reservation within its policy. */
static int admit_restore(void *ctx, const struct reg_domain *d)
{
    struct api_call *k = ctx;
    pthread_mutex_lock(&k->reg->lock);
    struct sched_params want = d->sched;
    pthread_mutex_unlock(&k->reg->lock);
    return want.reservation_ppm ? sponsor_policy_check_sched(k->reg, k->pr->sponsor, d, &want) : 0;
}

int api_sponsor_restore(struct api_call *k, const char *file, const char *name, int paused, struct reg_domain **d)
{
    if (k->pr->is_operator)
        return reg_restore(k->reg, file, name, paused, NULL, NULL, NULL, d);
    pthread_mutex_lock(&sched_lock);
    int rc = reg_restore(k->reg, file, name, paused, k->pr->sponsor, admit_restore, k, d);
    pthread_mutex_unlock(&sched_lock);
    return rc;
}

void api_sponsor_sched_done(struct api_call *k)
{
    if (!k->pr->is_operator)
        pthread_mutex_unlock(&sched_lock);
}
