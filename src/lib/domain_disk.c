/* A domain's disks after the parse (lib/domain_disk.h): the image directory resolved, and the
 * spec xeno-blkback is given for each. */
#include "lib/domain_disk.h"

#include <errno.h>
#include <stdbool.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "lib/domain_config.h"
#include "lib/err.h"
#include "lib/image_name.h"

const char *const domain_iotune_names[IOTUNE_KEYS] = {
    "total_bytes_sec",
    "read_bytes_sec",
    "write_bytes_sec",
    "total_iops_sec",
    "read_iops_sec",
    "write_iops_sec",
    "total_bytes_sec_max",
    "read_bytes_sec_max",
    "write_bytes_sec_max",
    "total_iops_sec_max",
    "read_iops_sec_max",
    "write_iops_sec_max",
    "size_iops_sec",
    "total_bytes_sec_max_length",
    "read_bytes_sec_max_length",
    "write_bytes_sec_max_length",
    "total_iops_sec_max_length",
    "read_iops_sec_max_length",
    "write_iops_sec_max_length",
};

/* The file of one disk made relative to `dir`: lexically (the backend opens it beneath the
 * directory with RESOLVE_BENEATH and no links, so a name that climbs out is refused there
 * again whatever this concluded). */
static int resolve_one(struct domain_disk *d, const char *dir, const char *source)
{
    if (d->file[0] != '/')
        return 0;
    size_t n = strlen(dir);
    while (n > 1 && dir[n - 1] == '/')
        n--;
    const char *rest = strncmp(d->file, dir, n) == 0 && d->file[n] == '/' ? d->file + n + 1 : NULL;
    while (rest && *rest == '/')
        rest++;
    if (!rest || image_name_check(rest) < 0)
        return err_set(EINVAL,
                       "%s:%ld: <source>: file '%.200s' is not inside this host's image directory %.*s; name the "
                       "image relative to it (e.g. file=\"web.raw\")",
                       source, d->source_line, d->file, (int)n, dir);
    size_t len = strlen(rest);
    memmove(d->file, rest, len + 1);
    memset(d->file + len, 0, sizeof(d->file) - len); /* configurations are compared whole */
    return 0;
}

int domain_disks_resolve(struct domain_config *c, const char *image_dir, const char *source)
{
    for (unsigned i = 0; i < c->ndisks; i++) {
        int r = resolve_one(&c->disks[i], image_dir, source && source[0] ? source : "<api>");
        if (r < 0)
            return r;
    }
    return 0;
}

/* Appends to out at *len; -ENAMETOOLONG when it does not fit. */
static int add(char *out, size_t size, size_t *len, const char *fmt, ...) __attribute__((format(printf, 4, 5)));
static int add(char *out, size_t size, size_t *len, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(out + *len, size - *len, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= size - *len)
        return -ENAMETOOLONG;
    *len += (size_t)n;
    return 0;
}

int domain_disk_group_key(const char *prefix, const char *name, char out[DOMAIN_DISK_KEY_SIZE])
{
    static const char ok[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-";
    size_t pl = strlen(prefix), nl = strlen(name);
    if (pl + 1 + 16 > DOMAIN_DISK_KEY_SIZE - 1)
        return -ENAMETOOLONG;
    if (nl > 0 && pl + nl <= DOMAIN_DISK_KEY_SIZE - 2 && strspn(name, ok) == nl) {
        memcpy(out, prefix, pl);
        memcpy(out + pl, name, nl + 1);
        return 0;
    }
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned mdlen = 0;
    if (!EVP_Digest(name, nl, md, &mdlen, EVP_sha256(), NULL))
        return -EIO;
    size_t n = (size_t)snprintf(out, DOMAIN_DISK_KEY_SIZE, "%sh", prefix);
    for (unsigned k = 0; n < DOMAIN_DISK_KEY_SIZE - 1; k++, n++)
        out[n] = "0123456789abcdef"[k & 1 ? md[k / 2] & 15 : md[k / 2] >> 4];
    out[n] = 0;
    return 0;
}

/* A value of the spec: no comma (the spec's separator), no blank or control character (the
 * control socket's words and lines). The XML parser refuses such values already; the spec is
 * checked again where it is made, whatever filled the configuration. */
static bool spec_value_ok(const char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s <= ' ' || *s == 0x7f || *s == ',')
            return false;
    return true;
}

int domain_disk_spec(const struct domain_config *c, unsigned i, const char *tag, const char *socket, char *out,
                     size_t size)
{
    size_t len = 0;
    if (size)
        out[0] = '\0';
    if (i >= c->ndisks)
        return -EINVAL;
    const struct domain_disk *d = &c->disks[i];
    if (!spec_value_ok(tag) || !spec_value_ok(socket) || !spec_value_ok(d->file) || !spec_value_ok(d->target) ||
        !spec_value_ok(d->serial))
        return -EINVAL;
    int r = add(out, size, &len, "name=%s-%s,socket=%s,file=%s", tag, d->target, socket, d->file);
    if (r == 0 && d->readonly)
        r = add(out, size, &len, ",readonly");
    if (r == 0 && d->queues > 1)
        r = add(out, size, &len, ",queues=%u", d->queues);
    if (r == 0 && d->serial[0])
        r = add(out, size, &len, ",serial=%s", d->serial);
    for (int k = 0; r == 0 && k < IOTUNE_KEYS; k++)
        if (d->iotune[k])
            r = add(out, size, &len, ",%s=%llu", domain_iotune_names[k], (unsigned long long)d->iotune[k]);
    if (r == 0 && d->group[0]) {
        char prefix[DOMAIN_DISK_KEY_SIZE], key[DOMAIN_DISK_KEY_SIZE];
        if ((size_t)snprintf(prefix, sizeof(prefix), "%s-", tag) >= sizeof(prefix) ||
            domain_disk_group_key(prefix, d->group, key) < 0)
            return -ENAMETOOLONG;
        r = add(out, size, &len, ",group=%s", key);
    }
    if (r == 0 && c->blkio_weight)
        r = add(out, size, &len, ",weight=%u", c->blkio_weight);
    if (r == 0 && d->reservation)
        r = add(out, size, &len, ",reservation=%llu", (unsigned long long)d->reservation);
    return r;
}

int domain_iotune_check(const uint64_t *v)
{
    const char *const *name = domain_iotune_names;
    for (int k = 0; k < 2; k++) { /* bytes, iops */
        int t = k ? IOTUNE_TOTAL_IOPS : IOTUNE_TOTAL_BYTES;
        for (int m = 0; m < 2; m++) { /* average, _max */
            int o = m ? IOTUNE_TOTAL_BYTES_MAX - IOTUNE_TOTAL_BYTES : 0;
            if (v[t + o] && (v[t + o + 1] || v[t + o + 2]))
                return err_set(EINVAL, "<%s> cannot be combined with <%s> or <%s> (libvirt's rule)", name[t + o],
                               name[t + o + 1], name[t + o + 2]);
        }
    }
    for (int i = 0; i < 6; i++) {
        int max = IOTUNE_TOTAL_BYTES_MAX + i, len = IOTUNE_TOTAL_BYTES_MAX_LENGTH + i;
        if (v[max] && !v[i])
            return err_set(EINVAL, "<%s> is a burst above <%s>: give <%s> too", name[max], name[i], name[i]);
        if (v[max] && v[max] < v[i])
            return err_set(EINVAL, "<%s> %llu is below <%s> %llu; the burst is the higher rate", name[max],
                           (unsigned long long)v[max], name[i], (unsigned long long)v[i]);
        if (v[len] && !v[max])
            return err_set(EINVAL, "<%s> is how long <%s> may last: give <%s> too", name[len], name[max], name[max]);
    }
    return 0;
}

/* <iotune>: libvirt's limits (0 or absent: none) and <group_name>. */

int domain_disk_qos_merge(const struct domain_disk_qos *q, struct domain_disk *disk, uint32_t *weight)
{
    uint64_t v[IOTUNE_KEYS];
    for (int i = 0; i < IOTUNE_KEYS; i++)
        v[i] = q->given & (1u << i) ? q->iotune[i] : disk->iotune[i];
    if (domain_iotune_check(v) < 0)
        return -EINVAL;
    memcpy(disk->iotune, v, sizeof(v));
    if (q->given & (1u << DISK_QOS_WEIGHT))
        *weight = q->weight;
    if (q->given & (1u << DISK_QOS_RESERVATION))
        disk->reservation = q->reservation;
    disk->qos_changed |= q->given != 0;
    return 0;
}
