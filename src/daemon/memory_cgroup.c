#include "daemon/memory_cgroup.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/err.h"
#include "lib/log.h"

/* Whether comma-separated `list` has `word`. */
static int has_word(const char *list, const char *word)
{
    size_t n = strlen(word);
    for (const char *p = list; p && *p; p = strchr(p, ',') ? strchr(p, ',') + 1 : NULL)
        if (strncmp(p, word, n) == 0 && (p[n] == ',' || p[n] == 0 || p[n] == '\n'))
            return 1;
    return 0;
}

/* Our cgroup's path in the hierarchy that has `controller` (v1), or the v2 one (NULL). */
static int own_path(const char *controller, char *out, size_t size)
{
    FILE *f = fopen("/proc/self/cgroup", "re");
    char line[PATH_MAX + 64];
    int found = -ENOENT;
    while (f && found < 0 && fgets(line, sizeof(line), f)) {
        char *c = strchr(line, ':'), *p = c ? strchr(c + 1, ':') : NULL;
        if (!p)
            continue;
        *p++ = 0;
        p[strcspn(p, "\n")] = 0;
        if (controller ? has_word(c + 1, controller) : (strcmp(line, "0") == 0 && c[1] == 0)) {
            snprintf(out, size, "%s", p);
            found = 0;
        }
    }
    if (f)
        fclose(f);
    return found;
}

/* The directory, under a mount of `fstype` (with `option` among its super options when not
 * NULL), that holds cgroup path `path`. */
static int mounted_dir(const char *fstype, const char *option, const char *path, char *out, size_t size)
{
    FILE *f = fopen("/proc/self/mountinfo", "re");
    char line[2 * PATH_MAX];
    int found = -ENOENT;
    while (f && found < 0 && fgets(line, sizeof(line), f)) {
        char root[PATH_MAX], point[PATH_MAX], type[64], opts[512];
        char *dash = strstr(line, " - ");
        if (!dash || sscanf(line, "%*s %*s %*s %4095s %4095s", root, point) != 2 ||
            sscanf(dash + 3, "%63s %*s %511s", type, opts) != 2 || strcmp(type, fstype) != 0 ||
            (option && !has_word(opts, option)))
            continue;
        size_t rl = strcmp(root, "/") == 0 ? 0 : strlen(root);
        if (strncmp(path, root, rl) != 0 || (path[rl] != '/' && path[rl] != 0))
            continue;
        if ((size_t)snprintf(out, size, "%s%s", point, path + rl) < size)
            found = 0;
    }
    if (f)
        fclose(f);
    return found;
}

static int write_text(const char *dir, const char *name, const char *text)
{
    char path[PATH_MAX + 128];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    int fd = open(path, O_WRONLY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    ssize_t n = write(fd, text, strlen(text));
    int e = n < 0 ? -errno : 0;
    close(fd);
    return e;
}

static int read_text(const char *dir, const char *name, char *buf, size_t size)
{
    char path[PATH_MAX + 128];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    ssize_t n = read(fd, buf, size - 1);
    int e = n < 0 ? -errno : 0;
    close(fd);
    buf[n > 0 ? n : 0] = 0;
    return e;
}

static int exists(const char *dir, const char *name)
{
    char path[PATH_MAX + 128];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    return access(path, F_OK) == 0;
}

void mcg_detect(struct memory_cgroups *m)
{
    char path[PATH_MAX], buf[512];
    memset(m, 0, sizeof(*m));
    /* v2: our cgroup has the memory controller and can give it to its children. */
    if (own_path(NULL, path, sizeof(path)) == 0 && mounted_dir("cgroup2", NULL, path, m->base, sizeof(m->base)) == 0 &&
        read_text(m->base, "cgroup.controllers", buf, sizeof(buf)) == 0 && strstr(buf, "memory") &&
        (read_text(m->base, "cgroup.subtree_control", buf, sizeof(buf)) == 0 && strstr(buf, "memory")
             ? 0
             : write_text(m->base, "cgroup.subtree_control", "+memory")) == 0) {
        m->version = MCG_V2;
        m->has_swap = exists(m->base, "memory.swap.max");
        return;
    }
    /* v1: a memory hierarchy where our cgroup may have children with limits. */
    if (own_path("memory", path, sizeof(path)) == 0 &&
        mounted_dir("cgroup", "memory", path, m->base, sizeof(m->base)) == 0 &&
        exists(m->base, "memory.limit_in_bytes") && access(m->base, W_OK) == 0) {
        m->version = MCG_V1;
        m->has_swap = exists(m->base, "memory.memsw.limit_in_bytes");
        return;
    }
    m->base[0] = 0;
    snprintf(m->why, sizeof(m->why),
             "this host gives xenod no memory cgroup controller to limit monitors with (neither cgroup v2 with the "
             "memory controller delegated to xenod's cgroup nor a writable cgroup v1 memory hierarchy)");
}

int mcg_check(const struct memory_cgroups *m, const struct domain_memtune *t, char *why, size_t size)
{
    why[0] = 0;
    if (!domain_memtune_given(t))
        return 0;
    if (m->version == MCG_NONE)
        snprintf(why, size, "%s; the limits cannot be enforced, so the domain is not defined", m->why);
    else if (t->swap_hard_limit && !m->has_swap)
        snprintf(why, size,
                 "this host's memory cgroup controller does not account swap (no %s): <swap_hard_limit> cannot be "
                 "enforced; leave it out",
                 m->version == MCG_V2 ? "memory.swap.max" : "memory.memsw.limit_in_bytes");
    else if (t->swap_hard_limit && !t->hard_limit && m->version == MCG_V2)
        snprintf(why, size, "under cgroup v2 <swap_hard_limit> needs a <hard_limit> (swap is limited apart)");
    return why[0] ? -EINVAL : 0;
}

void mcg_path(const struct memory_cgroups *m, const char *uuid, char *out, size_t size)
{
    if (m->version == MCG_NONE || strlen(uuid) != DOMAIN_UUID_LEN || strspn(uuid, "0123456789abcdef-") != 36)
        snprintf(out, size, "%s", "");
    else
        snprintf(out, size, "%s/xeno-%s", m->base, uuid);
}

/* A limit as the controller writes it: bytes, or "none" in its words. */
static const char *limit_text(const struct memory_cgroups *m, uint64_t bytes, char *buf, size_t size)
{
    if (!bytes)
        return m->version == MCG_V2 ? "max" : "-1";
    snprintf(buf, size, "%" PRIu64, bytes);
    return buf;
}

static int write_limits(const struct memory_cgroups *m, const char *dir, const struct domain_memtune *t)
{
    char a[32], b[32], c[32];
    int r;
    if (m->version == MCG_V2) {
        if ((r = write_text(dir, "memory.max", limit_text(m, t->hard_limit, a, sizeof(a)))) < 0)
            return err_set(-r, "%s/memory.max: %s", dir, strerror(-r));
        if ((r = write_text(dir, "memory.high", limit_text(m, t->soft_limit, b, sizeof(b)))) < 0)
            return err_set(-r, "%s/memory.high: %s", dir, strerror(-r));
        uint64_t swap = t->swap_hard_limit ? t->swap_hard_limit - t->hard_limit : 0;
        if (m->has_swap && (r = write_text(dir, "memory.swap.max",
                                           t->swap_hard_limit && !swap ? "0" : limit_text(m, swap, c, sizeof(c)))) < 0)
            return err_set(-r, "%s/memory.swap.max: %s", dir, strerror(-r));
        return 0;
    }
    /* v1 keeps memsw >= limit at every step: lift memsw, set the limit, then memsw. */
    if (m->has_swap && (r = write_text(dir, "memory.memsw.limit_in_bytes", "-1")) < 0)
        return err_set(-r, "%s/memory.memsw.limit_in_bytes: %s", dir, strerror(-r));
    if ((r = write_text(dir, "memory.limit_in_bytes", limit_text(m, t->hard_limit, a, sizeof(a)))) < 0)
        return err_set(-r, "%s/memory.limit_in_bytes: %s", dir, strerror(-r));
    if ((r = write_text(dir, "memory.soft_limit_in_bytes", limit_text(m, t->soft_limit, b, sizeof(b)))) < 0)
        return err_set(-r, "%s/memory.soft_limit_in_bytes: %s", dir, strerror(-r));
    if (m->has_swap && t->swap_hard_limit &&
        (r = write_text(dir, "memory.memsw.limit_in_bytes", limit_text(m, t->swap_hard_limit, c, sizeof(c)))) < 0)
        return err_set(-r, "%s/memory.memsw.limit_in_bytes: %s", dir, strerror(-r));
    return 0;
}

int mcg_prepare(const struct memory_cgroups *m, const char *uuid, const struct domain_memtune *t)
{
    char dir[PATH_MAX + 64], why[512];
    int r;
    if ((r = mcg_check(m, t, why, sizeof(why))) < 0)
        return err_set(-r, "%s", why);
    mcg_path(m, uuid, dir, sizeof(dir));
    if (!dir[0])
        return err_set(EINVAL, "no memory cgroup for UUID '%s'", uuid);
    /* A cgroup left by an xenod that did not see its monitor end is reused once empty. */
    if (mkdir(dir, 0755) < 0 && (errno != EEXIST || (rmdir(dir) == 0 && mkdir(dir, 0755) < 0)))
        return err_set(errno, "memory cgroup %s: %s", dir, strerror(errno));
    if ((r = write_limits(m, dir, t)) < 0) {
        rmdir(dir);
        return r;
    }
    char procs[PATH_MAX + 96];
    snprintf(procs, sizeof(procs), "%s/cgroup.procs", dir);
    int fd = open(procs, O_WRONLY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) {
        r = err_set(errno, "%s: %s", procs, strerror(errno));
        rmdir(dir);
        return r;
    }
    return fd;
}

int mcg_read_limit(const struct memory_cgroups *m, const char *uuid, uint64_t *bytes)
{
    char dir[PATH_MAX + 64], buf[64];
    mcg_path(m, uuid, dir, sizeof(dir));
    int r = dir[0] ? read_text(dir, m->version == MCG_V2 ? "memory.max" : "memory.limit_in_bytes", buf, sizeof(buf))
                   : -ENOENT;
    if (r < 0)
        return r;
    uint64_t v = strtoull(buf, NULL, 10);
    *bytes = strncmp(buf, "max", 3) == 0 || v >= (1ULL << 62) ? UINT64_MAX : v; /* v1 "none" is near 2^63 */
    return 0;
}

uint64_t mcg_oom_kills(const struct memory_cgroups *m, const char *uuid)
{
    char dir[PATH_MAX + 64], buf[1024];
    mcg_path(m, uuid, dir, sizeof(dir));
    if (!dir[0] || read_text(dir, m->version == MCG_V2 ? "memory.events" : "memory.oom_control", buf, sizeof(buf)) < 0)
        return 0;
    const char *p = strstr(buf, "oom_kill ");
    return p ? strtoull(p + 9, NULL, 10) : 0;
}

void mcg_remove(const struct memory_cgroups *m, const char *uuid)
{
    char dir[PATH_MAX + 64];
    mcg_path(m, uuid, dir, sizeof(dir));
    if (dir[0] && rmdir(dir) < 0 && errno != ENOENT)
        log_warn("memory cgroup %s: cannot remove it: %s", dir, strerror(errno));
}
