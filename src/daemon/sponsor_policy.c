/* Sponsors' allowances: the operator's policy, the sched check and the snapshot directory
 * (sponsor_policy.h). */
#include "daemon/sponsor_policy.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/err.h"

int sponsor_policy_get(struct registry *r, const char *sponsor, struct sponsor_policy *out)
{
    memset(out, 0, sizeof(*out));
    pthread_mutex_lock(&r->lock);
    int rc = store_get_sponsor_policy(&r->store, sponsor, out);
    pthread_mutex_unlock(&r->lock);
    if (rc == -ENOENT)
        err_set(ENOENT, "the operator set no policy for sponsor '%s'", sponsor);
    return rc;
}

/* A name that is safe as one path component: [A-Za-z0-9._-], not starting with '.'. */
static int plain_name(const char *s, size_t max)
{
    size_t n = strlen(s);
    if (n == 0 || n > max || s[0] == '.')
        return 0;
    return strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-") == n;
}

int sponsor_policy_set(struct registry *r, const char *sponsor, const struct sponsor_policy *p)
{
    if (p->save && !plain_name(sponsor, DOMAIN_SPONSOR_MAX))
        return err_set(EINVAL,
                       "sponsor '%s' cannot save: its snapshot directory is named after it, so the name must be "
                       "letters, digits, '.', '_' and '-' (not starting with '.')",
                       sponsor);
    pthread_mutex_lock(&r->lock);
    int rc = store_set_sponsor_policy(&r->store, sponsor, p);
    pthread_mutex_unlock(&r->lock);
    return rc;
}

json_t *sponsor_policy_json(const char *sponsor, const struct sponsor_policy *p)
{
    json_t *sched = p->sched ? json_pack("{s:f, s:f}", "max_reservation_percent", p->max_reservation_ppm / 10000.0,
                                         "max_limit_percent", p->max_limit_ppm / 10000.0)
                             : json_null();
    json_t *disk = p->disk_total_iops_sec || p->disk_total_bytes_sec
                       ? json_pack("{s:I, s:I}", "total_iops_sec", (json_int_t)p->disk_total_iops_sec,
                                   "total_bytes_sec", (json_int_t)p->disk_total_bytes_sec)
                       : json_null();
    return json_pack("{s:s, s:o, s:b, s:o}", "sponsor", sponsor, "sched", sched, "save", p->save, "disk", disk);
}

static int percent_field(json_t *o, const char *key, uint32_t *ppm)
{
    json_t *v = json_object_get(o, key);
    double x = json_number_value(v);
    *ppm = 0;
    if (!v || json_is_null(v))
        return 0;
    if (!json_is_number(v) || !(x >= 0) || x > 100.0 * SCHED_MAX_VCPUS)
        return err_set(EINVAL, "\"sched\".\"%s\" must be a number of percent of one CPU, 0 to %d", key,
                       100 * SCHED_MAX_VCPUS);
    *ppm = (uint32_t)(x * 10000.0 + 0.5);
    return 0;
}

/* "disk": {"total_iops_sec", "total_bytes_sec"} (each optional, 0: none) or null. */
static int disk_field(json_t *disk, struct sponsor_policy *out)
{
    const char *key;
    json_t *v;
    if (!disk || json_is_null(disk))
        return 0;
    if (!json_is_object(disk))
        return err_set(EINVAL,
                       "\"disk\" must be an object {\"total_iops_sec\", \"total_bytes_sec\"} or null (no limit)");
    json_object_foreach(disk, key, v)
    {
        uint64_t *dst = !strcmp(key, "total_iops_sec")    ? &out->disk_total_iops_sec
                        : !strcmp(key, "total_bytes_sec") ? &out->disk_total_bytes_sec
                                                          : NULL;
        if (!dst)
            return err_set(EINVAL, "unknown field \"disk\".\"%.64s\"; give total_iops_sec, total_bytes_sec", key);
        if (!json_is_integer(v) || json_integer_value(v) < 0 ||
            (uint64_t)json_integer_value(v) > DOMAIN_DISK_SPONSOR_RATE_MAX)
            return err_set(EINVAL, "\"disk\".\"%s\" must be a whole number from 0 (no limit) to %llu", key,
                           (unsigned long long)DOMAIN_DISK_SPONSOR_RATE_MAX);
        *dst = (uint64_t)json_integer_value(v);
    }
    return 0;
}

int sponsor_policy_parse(json_t *body, struct sponsor_policy *out)
{
    memset(out, 0, sizeof(*out));
    const char *key;
    json_t *v;
    json_object_foreach(body, key, v)
    {
        if (strcmp(key, "sched") != 0 && strcmp(key, "save") != 0 && strcmp(key, "disk") != 0)
            return err_set(EINVAL, "unknown field \"%.64s\"; give \"sched\", \"save\" and \"disk\" (see docs/api.md)",
                           key);
    }
    if (disk_field(json_object_get(body, "disk"), out) < 0)
        return -EINVAL;
    json_t *sched = json_object_get(body, "sched"), *save = json_object_get(body, "save");
    if (save && !json_is_boolean(save))
        return err_set(EINVAL, "\"save\" must be true or false");
    out->save = json_is_true(save);
    if (!sched || json_is_null(sched))
        return 0;
    if (!json_is_object(sched))
        return err_set(EINVAL, "\"sched\" must be an object {\"max_reservation_percent\", \"max_limit_percent\"} "
                               "or null (no sched)");
    json_object_foreach(sched, key, v)
    {
        if (strcmp(key, "max_reservation_percent") != 0 && strcmp(key, "max_limit_percent") != 0)
            return err_set(EINVAL, "unknown field \"sched\".\"%.64s\"; give max_reservation_percent, max_limit_percent",
                           key);
    }
    out->sched = 1;
    if (percent_field(sched, "max_reservation_percent", &out->max_reservation_ppm) < 0 ||
        percent_field(sched, "max_limit_percent", &out->max_limit_ppm) < 0)
        return -EINVAL;
    return 0;
}

int sponsor_policy_check_sched(struct registry *r, const char *sponsor, const struct reg_domain *d,
                               const struct sched_params *want)
{
    struct sponsor_policy p;
    if (sponsor_policy_get(r, sponsor, &p) < 0 || !p.sched)
        return err_set(EACCES, "the operator allows sponsor '%s' no CPU scheduling changes (xenctl sponsor-policy)",
                       sponsor);
    if (p.max_limit_ppm && (!want->limit_ppm || want->limit_ppm > p.max_limit_ppm))
        return err_set(EACCES, "limit %s is over sponsor '%s''s max_limit_percent %s (give a limit up to it)",
                       want->limit_ppm ? SCHED_PCT(want->limit_ppm) : "none", sponsor, SCHED_PCT(p.max_limit_ppm));
    /* Weight shares the CPU nobody reserved among all sponsors: a sponsor may lower it, not
     * raise it above the default (or above what the operator gave the domain). */
    pthread_mutex_lock(&r->lock);
    uint32_t most_weight = d->sched.weight > SCHED_WEIGHT_DEFAULT ? d->sched.weight : SCHED_WEIGHT_DEFAULT;
    uint64_t total = want->reservation_ppm;
    for (const struct reg_domain *o = r->domains; o; o = o->next)
        if (o != d && !o->gone && (o->mon || o->starting) && strcmp(o->cfg.sponsor, sponsor) == 0)
            total += o->sched.reservation_ppm;
    pthread_mutex_unlock(&r->lock);
    if (want->weight > most_weight)
        return err_set(EACCES, "weight %u is over %u, the most a sponsor may give", want->weight, most_weight);
    if (total > p.max_reservation_ppm)
        return err_set(EACCES,
                       "reservation %s makes sponsor '%s''s running domains reserve %s, over its "
                       "max_reservation_percent %s",
                       SCHED_PCT(want->reservation_ppm), sponsor, SCHED_PCT(total > UINT32_MAX ? UINT32_MAX : total),
                       SCHED_PCT(p.max_reservation_ppm));
    return 0;
}

/* SAVE_DIR/sponsors/SPONSOR made (0700, xenod's), never through a link. */
static int make_dirs(const char *save_dir, const char *sponsor)
{
    int rc = 0, top = open(save_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC), mid = -1, own = -1;
    if (top < 0)
        return err_set(errno, "save directory %s: %s", save_dir, strerror(errno));
    struct stat st;
    if ((mkdirat(top, "sponsors", 0700) < 0 && errno != EEXIST) ||
        (mid = openat(top, "sponsors", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)) < 0 ||
        (mkdirat(mid, sponsor, 0700) < 0 && errno != EEXIST) ||
        (own = openat(mid, sponsor, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)) < 0 || fstat(own, &st) < 0)
        rc = err_set(errno, "%s/sponsors/%s: %s", save_dir, sponsor, strerror(errno));
    else if (st.st_uid != geteuid() || (st.st_mode & 077))
        rc = err_set(EACCES, "%s/sponsors/%s is not xenod's own 0700 directory", save_dir, sponsor);
    close(top);
    if (mid >= 0)
        close(mid);
    if (own >= 0)
        close(own);
    return rc;
}

int sponsor_snapshot_path(struct registry *r, const char *sponsor, const char *name, int make_dir, char *out,
                          size_t size)
{
    struct sponsor_policy p;
    if (sponsor_policy_get(r, sponsor, &p) < 0 || !p.save)
        return err_set(EACCES, "the operator allows sponsor '%s' no snapshots (xenctl sponsor-policy --save)", sponsor);
    if (!plain_name(name, SPONSOR_SNAPSHOT_NAME_MAX))
        return err_set(EINVAL,
                       "snapshot name '%.80s': a sponsor gives a name, not a path: letters, digits, '.', '_' and "
                       "'-', not starting with '.', at most %d",
                       name, SPONSOR_SNAPSHOT_NAME_MAX);
    if (!plain_name(sponsor, DOMAIN_SPONSOR_MAX))
        return err_set(EACCES, "sponsor '%s' cannot have a snapshot directory (its name is not a plain name)", sponsor);
    int rc = make_dir ? make_dirs(r->save_dir, sponsor) : 0;
    if (rc < 0)
        return rc;
    if (snprintf(out, size, "%s/sponsors/%s/%s", r->save_dir, sponsor, name) >= (int)size)
        return err_set(ENAMETOOLONG, "snapshot path too long");
    return 0;
}
