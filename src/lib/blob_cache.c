#include "lib/blob_cache.h"

#include <cpuid.h>
#include <elf.h>
#include <errno.h>
#include <link.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "lib/err.h"

#define MAGIC "XBLOBC1"

struct header {
    char magic[8];
    uint32_t key_len, val_len;
};

/* FNV-1a, 64 bits: names the file only; the whole key inside decides a hit. */
static uint64_t fnv1a(const void *p, size_t n)
{
    const uint8_t *b = p;
    uint64_t h = 0xcbf29ce484222325ull;
    for (size_t i = 0; i < n; i++)
        h = (h ^ b[i]) * 0x100000001b3ull;
    return h;
}

/* DIR/NAME-HASH; name is the caller's constant ("cpuid", "seccomp"), never outside input. */
static int entry_path(char *out, size_t cap, const char *dir, const char *name, const void *key, size_t key_len)
{
    int n = snprintf(out, cap, "%s/%s-%016llx", dir, name, (unsigned long long)fnv1a(key, key_len));
    return n > 0 && (size_t)n < cap ? 0 : -ENAMETOOLONG;
}

struct build_id {
    const uint8_t *p;
    size_t len;
};

/* The first object dl_iterate_phdr reports is the program itself. */
static int find_build_id(struct dl_phdr_info *info, size_t size, void *data)
{
    (void)size;
    struct build_id *id = data;
    for (int i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        if (ph->p_type != PT_NOTE)
            continue;
        const uint8_t *p = (const uint8_t *)(info->dlpi_addr + ph->p_vaddr), *end = p + ph->p_memsz;
        while (p + sizeof(ElfW(Nhdr)) <= end) {
            const ElfW(Nhdr) *n = (const ElfW(Nhdr) *)p;
            const uint8_t *name = p + sizeof(*n), *desc = name + ((n->n_namesz + 3) & ~3u);
            if (desc + n->n_descsz > end)
                break;
            if (n->n_type == NT_GNU_BUILD_ID && n->n_namesz == 4 && memcmp(name, "GNU", 4) == 0) {
                id->p = desc, id->len = n->n_descsz;
                return 1;
            }
            p = desc + ((n->n_descsz + 3) & ~3u);
        }
    }
    return 1;
}

static long host_key(char *key, size_t cap)
{
    struct build_id id = {0};
    dl_iterate_phdr(find_build_id, &id);
    if (!id.p || id.len == 0 || id.len > 64)
        return -ENOENT;
    struct utsname u;
    if (uname(&u) < 0)
        return -ENOENT;
    unsigned regs[4 + 12] = {0}; /* vendor (EBX, EDX, ECX), then the brand string */
    __get_cpuid(0, &regs[0], &regs[1], &regs[3], &regs[2]);
    unsigned sig = 0, b, c, d;
    __get_cpuid(1, &sig, &b, &c, &d);
    for (unsigned l = 0; l < 3; l++)
        __get_cpuid(0x80000002u + l, &regs[4 + 4 * l], &regs[5 + 4 * l], &regs[6 + 4 * l], &regs[7 + 4 * l]);
    char hex[129];
    for (size_t i = 0; i < id.len; i++)
        snprintf(hex + 2 * i, 3, "%02x", id.p[i]);
    int n = snprintf(key, cap, "build %s\nkernel %s %s %s\ncpu %.12s %08x %.48s\n", hex, u.release, u.version,
                     u.machine, (const char *)&regs[1], sig, (const char *)&regs[4]);
    return n > 0 && (size_t)n < cap ? n : -ENOENT;
}

/* Computed once (uname and the euid are system calls a sandbox may refuse later): the
 * first call must come before it, on the main thread (blob_cache.h). */
static char host_key_memo[512];
static long host_key_len = -1;
static uid_t euid;

long blob_cache_host_key(void *key, size_t cap)
{
    if (host_key_len == -1) {
        host_key_len = host_key(host_key_memo, sizeof(host_key_memo));
        euid = geteuid();
    }
    if (host_key_len < 0 || (size_t)host_key_len > cap)
        return -ENOENT;
    memcpy(key, host_key_memo, (size_t)host_key_len);
    return host_key_len;
}

static int read_all(int fd, uint8_t *buf, size_t len)
{
    size_t got = 0;
    while (got < len) {
        ssize_t r = read(fd, buf + got, len - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return -EIO;
        got += (size_t)r;
    }
    return 0;
}

long blob_cache_get(const char *dir, const char *name, const void *key, size_t key_len, void *val, size_t val_cap)
{
    char path[4096];
    if (!dir || key_len > BLOB_CACHE_MAX || entry_path(path, sizeof(path), dir, name, key, key_len) < 0)
        return -ENOENT;
    int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0)
        return -ENOENT;
    struct stat st;
    uint8_t *buf = NULL;
    long r = -ENOENT;
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || host_key_len < 0 || st.st_uid != euid || (st.st_mode & 022) ||
        st.st_size < (off_t)sizeof(struct header) || st.st_size > (off_t)(sizeof(struct header) + BLOB_CACHE_MAX))
        goto out;
    buf = malloc((size_t)st.st_size);
    if (!buf || read_all(fd, buf, (size_t)st.st_size) < 0)
        goto out;
    struct header h;
    memcpy(&h, buf, sizeof(h));
    if (memcmp(h.magic, MAGIC, sizeof(h.magic)) != 0 || h.key_len != key_len || h.val_len > val_cap ||
        (uint64_t)sizeof(h) + h.key_len + h.val_len != (uint64_t)st.st_size ||
        memcmp(buf + sizeof(h), key, key_len) != 0)
        goto out;
    memcpy(val, buf + sizeof(h) + key_len, h.val_len);
    r = (long)h.val_len;
out:
    free(buf);
    close(fd);
    return r;
}

static int write_all(int fd, const void *p, size_t n)
{
    const uint8_t *b = p;
    while (n > 0) {
        ssize_t w = write(fd, b, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0)
            return -errno;
        b += w, n -= (size_t)w;
    }
    return 0;
}

int blob_cache_put(const char *dir, const char *name, const void *key, size_t key_len, const void *val, size_t val_len)
{
    char path[4096], tmp[4096 + 32];
    if (key_len + val_len > BLOB_CACHE_MAX)
        return err_set(EFBIG, "cache entry of %zu bytes: too large", key_len + val_len);
    if (entry_path(path, sizeof(path), dir, name, key, key_len) < 0)
        return err_set(ENAMETOOLONG, "cache directory %s: name too long", dir);
    snprintf(tmp, sizeof(tmp), "%s.tmp.%ld", path, (long)getpid());
    int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0)
        return err_set(errno, "cache %s: %s", tmp, strerror(errno));
    struct header h = {.key_len = (uint32_t)key_len, .val_len = (uint32_t)val_len};
    memcpy(h.magic, MAGIC, sizeof(h.magic));
    int r = write_all(fd, &h, sizeof(h));
    if (r == 0)
        r = write_all(fd, key, key_len);
    if (r == 0)
        r = write_all(fd, val, val_len);
    if (close(fd) < 0 && r == 0)
        r = -errno;
    if (r == 0 && rename(tmp, path) < 0)
        r = -errno;
    if (r < 0) {
        unlink(tmp);
        return err_set(-r, "cache %s: %s", path, strerror(-r));
    }
    return 0;
}
