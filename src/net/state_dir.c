#include "net/state_dir.h"

#include "lib/err.h"
#include "lib/log.h"
#include "net/netback.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

int state_dir_open(const char *path)
{
    if (mkdir(path, 0700) < 0 && errno != EEXIST)
        return err_set(errno, "state directory %s: %s", path, strerror(errno));
    int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return err_set(errno, "state directory %s: %s", path, strerror(errno));
    return fd;
}

int state_dir_load_ports(int dirfd, struct netback *nb)
{
    int fd = openat(dirfd, "ports", O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        if (errno == ENOENT)
            return 0;
        return err_set(errno, "ports file: %s", strerror(errno));
    }
    FILE *f = fdopen(fd, "r");
    if (!f) {
        close(fd);
        return err_set(errno, "ports file: %s", strerror(errno));
    }
    char line[2048];
    unsigned lineno = 0;
    while (fgets(line, sizeof(line), f)) {
        lineno++;
        char *words[64];
        int n = port_words(line, words, 64);
        if (n == 0)
            continue;
        if (n > 0 && !strcmp(words[0], "next-id")) {
            if (n == 2) {
                uint64_t v = strtoull(words[1], NULL, 10);
                if (v > nb->next_id)
                    nb->next_id = v;
            }
            continue;
        }
        struct port_config pc;
        int rc = n < 0 ? n : port_config_parse(&pc, words, n);
        if (rc == 0)
            rc = netback_port_add(nb, &pc);
        if (rc < 0)
            log_error("ports file line %u: %s (skipped)", lineno, err_msg());
    }
    fclose(f);
    nb->ports_dirty = false;
    return 0;
}

int state_dir_save_ports(int dirfd, struct netback *nb)
{
    int fd = openat(dirfd, "ports.tmp", O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0)
        return err_set(errno, "ports.tmp: %s", strerror(errno));
    FILE *f = fdopen(fd, "w");
    if (!f) {
        close(fd);
        return err_set(errno, "ports.tmp: %s", strerror(errno));
    }
    fprintf(f, "next-id %llu\n", (unsigned long long)nb->next_id);
    netback_write_ports(nb, f);
    int rc = 0;
    if (fflush(f) != 0 || fsync(fd) < 0)
        rc = err_set(errno, "ports.tmp: %s", strerror(errno));
    fclose(f);
    if (rc == 0 && renameat(dirfd, "ports.tmp", dirfd, "ports") < 0)
        rc = err_set(errno, "ports: rename: %s", strerror(errno));
    if (rc == 0 && fsync(dirfd) < 0) /* the rename durable: a power loss must not lose the ports */
        rc = err_set(errno, "ports: fsync of the state directory: %s", strerror(errno));
    if (rc == 0)
        nb->ports_dirty = false;
    return rc;
}

int state_dir_write_pid(int dirfd)
{
    int fd = openat(dirfd, "pid.tmp", O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0)
        return err_set(errno, "pid.tmp: %s", strerror(errno));
    char buf[32];
    int n = snprintf(buf, sizeof(buf), "%d\n", (int)getpid());
    int rc = write(fd, buf, (size_t)n) == n ? 0 : err_set(EIO, "pid.tmp: short write");
    close(fd);
    if (rc == 0 && renameat(dirfd, "pid.tmp", dirfd, "pid") < 0)
        rc = err_set(errno, "pid: rename: %s", strerror(errno));
    return rc;
}

static uint64_t realtime_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

int state_dir_map_stats(int dirfd, struct nb_stats_page **out)
{
    size_t len = (sizeof(struct nb_stats_page) + 4095) & ~(size_t)4095;
    int fd = openat(dirfd, "stats", O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0)
        return err_set(errno, "stats: %s", strerror(errno));
    if (ftruncate(fd, (off_t)len) < 0) {
        int e = errno;
        close(fd);
        return err_set(e, "stats: ftruncate: %s", strerror(e));
    }
    void *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    close(fd);
    if (p == MAP_FAILED)
        return err_set(errno, "stats: mmap: %s", strerror(errno));
    struct nb_stats_page *pg = p;
    pg->seq = 0;
    memset((char *)pg + sizeof(uint32_t) * 3, 0, sizeof(*pg) - sizeof(uint32_t) * 3);
    pg->pid = (uint32_t)getpid();
    pg->started_ns = realtime_ns();
    __atomic_store_n(&pg->version, NB_STATS_VERSION, __ATOMIC_RELAXED);
    __atomic_store_n(&pg->magic, NB_STATS_MAGIC, __ATOMIC_RELEASE);
    *out = pg;
    return 0;
}

void state_dir_update_stats(struct nb_stats_page *pg, struct netback *nb)
{
    uint32_t s = __atomic_load_n(&pg->seq, __ATOMIC_RELAXED);
    __atomic_store_n(&pg->seq, s + 1, __ATOMIC_RELAXED);
    __atomic_thread_fence(__ATOMIC_RELEASE);
    unsigned n = 0;
    for (unsigned i = 0; i < NET_SWITCH_MAX_PORTS && n < NB_STATS_MAX_PORTS; i++) {
        struct nb_port *p = nb->by_sw[i];
        if (!p)
            continue;
        struct nb_stats_port *o = &pg->ports[n++];
        struct net_port_stats st;
        memset(o, 0, sizeof(*o));
        snprintf(o->name, sizeof(o->name), "%s", p->cfg.name);
        snprintf(o->domain, sizeof(o->domain), "%s", p->cfg.domain);
        snprintf(o->sponsor, sizeof(o->sponsor), "%s", p->cfg.sponsor);
        o->id = p->cfg.id;
        o->connected = p->sock >= 0;
        o->connects = p->connects;
        if (net_switch_port_stats(nb->sw, p->sw, &st) == 0) {
            memcpy(o->packets, st.packets, sizeof(o->packets));
            memcpy(o->bytes, st.bytes, sizeof(o->bytes));
            memcpy(o->drops, st.drops, sizeof(o->drops));
        }
        o->ring_errors = p->dev.vq[0].errors + p->dev.vq[1].errors;
        o->recovered_resent = p->recovered_resent;
        o->recovered_skipped = p->recovered_skipped;
        o->recovery_timeouts = p->recovery_timeouts;
    }
    pg->nports = n;
    pg->uplink_tx_frames = nb->tap_tx_frames;
    pg->uplink_rx_frames = nb->tap_rx_frames;
    pg->uplink_errors = nb->tap_errors;
    pg->heartbeat++;
    pg->updated_ns = realtime_ns();
    __atomic_store_n(&pg->seq, s + 2, __ATOMIC_RELEASE);
}
