#include "daemon/netback_sup.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "daemon/net_port.h"
#include "daemon/spawn.h"
#include "lib/err.h"
#include "lib/log.h"
#include "lib/parse.h"
#include "lib/stats_page.h" /* STATS_PAGE_ASK_SIGNAL */

#define READY_TIMEOUT_MS 10000
#define WATCHDOG_DEFAULT_MS 3000
/* A backend that ran this long before dying is not crash-looping: restart it at once. */
#define STABLE_RUN_MS 2000
#define BACKOFF_MAX_MS 2000
#define NETBACK_NICE (-10)
/* Audit events the backend appends to STATE/audit-events (docs/netback.md): read each tick. */
#define AUDIT_LINE_MAX 2048

struct netback_sup {
    struct netback_sup_opts o;
    char path[PATH_MAX], dir[PATH_MAX], uplink[64];
    char audit_rules[PATH_MAX], audit_key[PATH_MAX], ipfix[128]; /* "" when not given */
    pthread_mutex_t lock;                                        /* guards pid, pidfd, page, child, restarts */
    int pid, pidfd, child;
    int page_fd; /* STATE/stats, read with pread (never mapped: the backend may truncate it), or -1 */
    uint64_t restarts;
    unsigned quick_deaths;
    off_t audit_off; /* how far STATE/audit-events was read */
    ino_t audit_ino; /* ... in this file (0: none seen yet) */
    int stop_fd;     /* eventfd-like pipe: the thread ends */
    int stop_w;
    pthread_t thread;
};

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static void emit(struct netback_sup *s, const char *kind, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void emit(struct netback_sup *s, const char *kind, const char *fmt, ...)
{
    char detail[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(detail, sizeof(detail), fmt, ap);
    va_end(ap);
    log_info("netback: %s: %s", kind, detail);
    if (s->o.on_event)
        s->o.on_event(s->o.ctx, kind, detail);
}

static void unmap_page(struct netback_sup *s)
{
    if (s->page_fd >= 0)
        close(s->page_fd);
    s->page_fd = -1;
}

/* The backend may create its stats file anew at start: open whatever is there now. Not
 * mapped: the backend (shared by every domain, fed by guests) could truncate the file after
 * any size check, and a read of a mapping past the end would kill xenod with SIGBUS; each
 * read is a pread into private memory whose length is checked (read_page). */
static void map_page(struct netback_sup *s)
{
    char p[PATH_MAX + 16];
    unmap_page(s);
    snprintf(p, sizeof(p), "%s/stats", s->dir);
    int fd = open(p, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
    if (fd < 0)
        return;
    struct stat st;
    if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && (size_t)st.st_size >= sizeof(struct nb_stats_page))
        s->page_fd = fd;
    else
        close(fd);
}

/* len bytes of the stats page at off into buf: 0, or -1 when the file is shorter now. */
static int read_page(const struct netback_sup *s, void *buf, size_t len, size_t off)
{
    ssize_t n;
    do
        n = s->page_fd >= 0 ? pread(s->page_fd, buf, len, (off_t)off) : -1;
    while (n < 0 && errno == EINTR);
    return n == (ssize_t)len ? 0 : -1;
}

static int read_pid_file(const char *dir)
{
    char p[PATH_MAX + 16], buf[32] = "";
    snprintf(p, sizeof(p), "%s/pid", dir);
    FILE *f = fopen(p, "re");
    if (!f)
        return 0;
    uint64_t pid = 0;
    if (fgets(buf, sizeof(buf), f)) {
        buf[strcspn(buf, "\n")] = '\0';
        if (parse_u64_range(buf, 1, INT_MAX, &pid) < 0)
            pid = 0; /* not a pid file we wrote: nobody to re-attach to */
    }
    fclose(f);
    return (int)pid;
}

/* Is pid a xeno-netback serving our state directory (not a reused pid)? */
static int is_our_backend(const struct netback_sup *s, int pid)
{
    char p[64], cmdline[8192], want[PATH_MAX + 16];
    snprintf(p, sizeof(p), "/proc/%d/cmdline", pid);
    int fd = open(p, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 0;
    ssize_t n = read(fd, cmdline, sizeof(cmdline));
    close(fd);
    int len = snprintf(want, sizeof(want), "--state-dir%c%s%c", 0, s->dir, 0);
    return n > 0 && memmem(cmdline, (size_t)n, want, (size_t)len) != NULL;
}

/* Starts a backend and waits until it serves (its pid file names it). Caller holds s->lock. */
static int spawn(struct netback_sup *s)
{
    char pid_path[PATH_MAX + 16], log_path[PATH_MAX + 32], cap[32], quota[16];
    char *argv[20];
    int argc = 0;
    snprintf(pid_path, sizeof(pid_path), "%s/pid", s->dir);
    snprintf(log_path, sizeof(log_path), "%s/netback.log", s->dir);
    unlink(pid_path); /* a dead backend's: readiness is the new one writing it */
    argv[argc++] = s->path;
    argv[argc++] = "--state-dir";
    argv[argc++] = s->dir;
    if (s->uplink[0]) {
        argv[argc++] = "--uplink-tap";
        argv[argc++] = s->uplink;
    }
    if (s->o.capacity_kib) {
        snprintf(cap, sizeof(cap), "%" PRIu64, s->o.capacity_kib);
        argv[argc++] = "--uplink-capacity";
        argv[argc++] = cap;
    }
    if (s->o.audit) {
        argv[argc++] = "--audit";
        const struct {
            const char *opt;
            char *val;
        } a[] = {{"--audit-rules", s->audit_rules}, {"--audit-key", s->audit_key}, {"--ipfix", s->ipfix}};
        for (size_t i = 0; i < sizeof(a) / sizeof(a[0]); i++)
            if (a[i].val[0]) {
                argv[argc++] = (char *)a[i].opt;
                argv[argc++] = a[i].val;
            }
        if (s->o.audit_flow_quota) {
            snprintf(quota, sizeof(quota), "%u", s->o.audit_flow_quota);
            argv[argc++] = "--audit-flow-quota";
            argv[argc++] = quota;
        }
    }
    argv[argc] = NULL;

    /* Every domain's frames wait on this one process: it runs ahead of the vCPUs (QoS
     * floors are missed at nice 0 on a loaded host, bench/README.md). */
    pid_t pid = spawn_detached(s->path, argv, log_path, NETBACK_NICE, -1);
    if (pid < 0)
        return (int)pid;
    int pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
    for (uint64_t t0 = now_ms();;) {
        if (read_pid_file(s->dir) == pid) {
            s->pid = pid;
            s->pidfd = pidfd;
            s->child = 1;
            map_page(s);
            return 0;
        }
        struct pollfd p = {pidfd, POLLIN, 0};
        if (now_ms() - t0 > READY_TIMEOUT_MS || poll(&p, 1, 5) > 0) {
            kill(pid, SIGKILL);
            int status = 0;
            waitpid(pid, &status, 0);
            close(pidfd);
            return err_set(EIO, "netback %s did not start (%s): see %s", s->path,
                           WIFEXITED(status) ? "it exited" : "timed out or killed", log_path);
        }
    }
}

/* The one that runs already (xenod restarted), or a new one. Caller holds s->lock. */
static int attach_or_spawn(struct netback_sup *s)
{
    int pid = read_pid_file(s->dir);
    if (pid && is_our_backend(s, pid)) {
        int fd = (int)syscall(SYS_pidfd_open, pid, 0);
        if (fd >= 0) {
            s->pid = pid;
            s->pidfd = fd;
            s->child = 0;
            map_page(s);
            log_info("netback: attached to the running backend, pid %d", pid);
            return 0;
        }
    }
    return spawn(s);
}

static uint64_t heartbeat(const struct netback_sup *s)
{
    uint64_t b;
    return read_page(s, &b, sizeof(b), offsetof(struct nb_stats_page, heartbeat)) == 0 ? b : 0;
}

/* The process ended (or was killed by the watchdog): why, for the event. Caller holds lock. */
static void reap(struct netback_sup *s, char *why, size_t size)
{
    snprintf(why, size, "pid %d ended", s->pid);
    if (s->child) {
        int status;
        if (waitpid(s->pid, &status, 0) == s->pid) {
            if (WIFSIGNALED(status))
                snprintf(why, size, "pid %d killed by signal %d (%s)", s->pid, WTERMSIG(status),
                         strsignal(WTERMSIG(status)));
            else if (WIFEXITED(status))
                snprintf(why, size, "pid %d exited with status %d", s->pid, WEXITSTATUS(status));
        }
    }
    close(s->pidfd);
    s->pidfd = -1;
    s->pid = 0;
    unmap_page(s);
}

/* Hands the new complete lines of one events file, from *off on, to on_audit. */
static void read_events_file(struct netback_sup *s, const char *path, off_t *off)
{
    char line[AUDIT_LINE_MAX];
    FILE *f = fopen(path, "re");
    if (!f)
        return;
    if (fseeko(f, *off, SEEK_SET) == 0) {
        for (int n = 0; n < 1000 && fgets(line, sizeof(line), f); n++) {
            size_t len = strlen(line);
            if (line[len - 1] != '\n') {
                if (len < sizeof(line) - 1)
                    break; /* the backend is still writing this one: next time */
                int ch;    /* longer than a line can be: skip to its end */
                while ((ch = fgetc(f)) != EOF && ch != '\n')
                    ;
                *off = ftello(f);
                continue;
            }
            line[len - 1] = 0;
            *off = ftello(f);
            s->o.on_audit(s->o.ctx, line);
        }
    }
    fclose(f);
}

/* STATE/audit-events, followed by its inode: when the backend rotated it (renamed to
 * audit-events.1 at 4 MiB), the rest of the old file is read there first, then the new one
 * from its start, so no event is lost or read twice. */
static void read_audit_events(struct netback_sup *s)
{
    char path[PATH_MAX + 32], old[PATH_MAX + 32];
    struct stat st, ost;
    if (!s->o.on_audit)
        return;
    snprintf(path, sizeof(path), "%s/audit-events", s->dir);
    snprintf(old, sizeof(old), "%s/audit-events.1", s->dir);
    if (stat(path, &st) < 0)
        return;
    if (s->audit_ino && st.st_ino != s->audit_ino) {
        if (stat(old, &ost) == 0 && ost.st_ino == s->audit_ino)
            read_events_file(s, old, &s->audit_off);
        s->audit_off = 0;
    }
    s->audit_ino = st.st_ino;
    read_events_file(s, path, &s->audit_off);
}

static void *supervise(void *opaque)
{
    struct netback_sup *s = opaque;
    unsigned watchdog = s->o.watchdog_ms ? s->o.watchdog_ms : WATCHDOG_DEFAULT_MS;
    uint64_t started = now_ms(), beat_at = now_ms(), last_beat = 0, retry_at = 0, asked_at = 0;
    for (;;) {
        pthread_mutex_lock(&s->lock);
        int pidfd = s->pidfd;
        pthread_mutex_unlock(&s->lock);
        struct pollfd p[2] = {{s->stop_fd, POLLIN, 0}, {pidfd, POLLIN, 0}};
        poll(p, 2, 100);
        if (p[0].revents)
            return NULL;

        read_audit_events(s);
        pthread_mutex_lock(&s->lock);
        char why[256];
        if (s->pid && p[1].revents) {
            reap(s, why, sizeof(why));
            uint64_t ran = now_ms() - started;
            s->quick_deaths = ran >= STABLE_RUN_MS ? 0 : s->quick_deaths + 1;
            /* A crash loop is slowed down, a single crash is not: the guests are waiting. */
            unsigned delay = s->quick_deaths <= 3 ? 0 : 100u << (s->quick_deaths - 4 > 4 ? 4 : s->quick_deaths - 4);
            retry_at = now_ms() + (delay > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : delay);
            pthread_mutex_unlock(&s->lock);
            emit(s, "netback-died", "%s after %" PRIu64 " ms; restarting", why, ran);
            continue;
        }
        if (s->pid) {
            /* An idle backend writes its page (and moves the heartbeat) only when its
             * counters change or when asked: ask three times per watchdog period, so a live
             * one always answers in time and a hung one cannot. */
            if (now_ms() - asked_at >= watchdog / 3) {
                syscall(SYS_pidfd_send_signal, pidfd, STATS_PAGE_ASK_SIGNAL, NULL, 0);
                asked_at = now_ms();
            }
            uint64_t b = heartbeat(s), t = now_ms();
            if (s->page_fd < 0)
                map_page(s);
            if (b != last_beat) {
                last_beat = b;
                beat_at = t;
            } else if (t - beat_at > watchdog) {
                int pid = s->pid;
                kill(pid, SIGKILL); /* the pidfd then reports the death: restart as for a crash */
                beat_at = t;
                pthread_mutex_unlock(&s->lock);
                emit(s, "netback-hung", "pid %d: no heartbeat for %u ms; killed", pid, watchdog);
                continue;
            }
        } else if (now_ms() >= retry_at) {
            int rc = spawn(s);
            if (rc == 0) {
                s->restarts++;
                started = beat_at = now_ms();
                last_beat = heartbeat(s);
                int pid = s->pid;
                pthread_mutex_unlock(&s->lock);
                emit(s, "netback-started", "pid %d (restart %" PRIu64 ")", pid, s->restarts);
                continue;
            }
            retry_at = now_ms() + BACKOFF_MAX_MS;
            char msg[512];
            snprintf(msg, sizeof(msg), "%s", err_msg());
            pthread_mutex_unlock(&s->lock);
            emit(s, "netback-restart-failed", "%s; retrying in %d ms", msg, BACKOFF_MAX_MS);
            continue;
        }
        pthread_mutex_unlock(&s->lock);
    }
}

int netback_sup_open(struct netback_sup **out, const struct netback_sup_opts *o)
{
    *out = NULL;
    struct netback_sup *s = calloc(1, sizeof(*s));
    if (!s)
        return err_set(ENOMEM, "out of memory");
    s->o = *o;
    s->page_fd = -1;
    snprintf(s->path, sizeof(s->path), "%s", o->path);
    snprintf(s->dir, sizeof(s->dir), "%s", o->state_dir);
    snprintf(s->uplink, sizeof(s->uplink), "%s", o->uplink ? o->uplink : "");
    snprintf(s->audit_rules, sizeof(s->audit_rules), "%s", o->audit_rules ? o->audit_rules : "");
    snprintf(s->audit_key, sizeof(s->audit_key), "%s", o->audit_key ? o->audit_key : "");
    snprintf(s->ipfix, sizeof(s->ipfix), "%s", o->ipfix ? o->ipfix : "");
    s->pidfd = -1;
    pthread_mutex_init(&s->lock, NULL);
    int pipefd[2];
    if (mkdir(s->dir, 0700) < 0 && errno != EEXIST) {
        int e = errno;
        free(s);
        return err_set(e, "netback state directory %s: %s", o->state_dir, strerror(e));
    }
    if (pipe2(pipefd, O_CLOEXEC) < 0) {
        int e = errno;
        free(s);
        return err_set(e, "pipe: %s", strerror(e));
    }
    s->stop_fd = pipefd[0];
    s->stop_w = pipefd[1];
    /* Events from before this xenod are in the store already (or were, before a crash of
     * xenod: then a few are lost rather than recorded twice). */
    char ev[PATH_MAX + 32];
    struct stat st;
    snprintf(ev, sizeof(ev), "%s/audit-events", s->dir);
    s->audit_off = stat(ev, &st) == 0 ? st.st_size : 0;
    s->audit_ino = s->audit_off ? st.st_ino : 0;
    pthread_mutex_lock(&s->lock);
    int rc = attach_or_spawn(s);
    pthread_mutex_unlock(&s->lock);
    if (rc == 0) {
        int e = pthread_create(&s->thread, NULL, supervise, s);
        if (e)
            rc = err_set(e, "netback supervisor thread: %s", strerror(e));
    }
    if (rc < 0) {
        close(pipefd[0]);
        close(pipefd[1]);
        unmap_page(s);
        if (s->pidfd >= 0)
            close(s->pidfd);
        free(s);
        return rc;
    }
    *out = s;
    return 0;
}

void netback_sup_close(struct netback_sup *s)
{
    if (!s)
        return;
    if (write(s->stop_w, "x", 1) < 0)
        log_warn("netback: stopping the supervisor: %s", strerror(errno));
    pthread_join(s->thread, NULL);
    close(s->stop_fd);
    close(s->stop_w);
    if (s->pidfd >= 0)
        close(s->pidfd);
    unmap_page(s);
    free(s);
}

void netback_sup_status(struct netback_sup *s, int *pid, uint64_t *restarts)
{
    pthread_mutex_lock(&s->lock);
    *pid = s->pid;
    *restarts = s->restarts;
    pthread_mutex_unlock(&s->lock);
}

static int connect_control(const struct netback_sup *s)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    if ((size_t)snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/control.sock", s->dir) >= sizeof(sa.sun_path))
        return -ENAMETOOLONG;
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
        int e = errno;
        close(fd);
        return -e;
    }
    return fd;
}

int netback_sup_request(struct netback_sup *s, const char *line, char *reply, size_t size, int timeout_ms)
{
    uint64_t deadline = now_ms() + (uint64_t)timeout_ms;
    int fd;
    /* One request, one line: a newline in it would be a second request to the backend. */
    int bad = request_line_check(line);
    if (bad < 0)
        return err_wrap(-bad, "netback");
    /* A backend being restarted has no control socket for a moment: keep trying. */
    while ((fd = connect_control(s)) < 0) {
        if (now_ms() >= deadline)
            return err_set(-fd, "netback control socket %s/control.sock: %s", s->dir, strerror(-fd));
        usleep(20000);
    }
    char buf[1024];
    size_t len = 0;
    int rc = dprintf(fd, "%s\n", line) < 0 ? -errno : 0;
    while (rc == 0 && !memchr(buf, '\n', len)) {
        int64_t left = (int64_t)(deadline - now_ms());
        struct pollfd p = {fd, POLLIN, 0};
        if (left <= 0 || poll(&p, 1, (int)left) <= 0) {
            rc = -ETIMEDOUT;
            break;
        }
        ssize_t n = read(fd, buf + len, sizeof(buf) - 1 - len);
        if (n <= 0) {
            rc = n < 0 ? -errno : -EPIPE;
            break;
        }
        len += (size_t)n;
        if (len == sizeof(buf) - 1)
            break;
    }
    close(fd);
    if (rc < 0)
        return err_set(-rc, "netback: '%s': %s", line, strerror(-rc));
    buf[len] = 0;
    buf[strcspn(buf, "\n")] = 0;
    if (strncmp(buf, "ok", 2) != 0)
        return err_set(EIO, "%s", strncmp(buf, "err ", 4) == 0 ? buf + 4 : buf);
    if (reply)
        snprintf(reply, size, "%s", buf);
    return 0;
}

int netback_sup_read_stats(struct netback_sup *s, struct nb_stats_page *pg)
{
    int rc = -ENOENT;
    pthread_mutex_lock(&s->lock);
    for (int tries = 0; s->page_fd >= 0 && tries < 100; tries++) {
        uint32_t seq, again;
        if (read_page(s, &seq, sizeof(seq), offsetof(struct nb_stats_page, seq)) < 0 ||
            read_page(s, pg, sizeof(*pg), 0) < 0 ||
            read_page(s, &again, sizeof(again), offsetof(struct nb_stats_page, seq)) < 0)
            break; /* shorter than a page now: no stats, no crash */
        if ((seq & 1) || again != seq)
            continue;
        if (pg->nports > NB_STATS_MAX_PORTS)
            pg->nports = NB_STATS_MAX_PORTS;
        rc = 0;
        break;
    }
    pthread_mutex_unlock(&s->lock);
    return rc;
}

int netback_sup_port_stats(struct netback_sup *s, const char *port, struct nb_stats_port *out)
{
    struct nb_stats_page *pg = malloc(sizeof(*pg)); /* a private copy: the file is the backend's */
    if (!pg)
        return -ENOMEM;
    int rc = netback_sup_read_stats(s, pg);
    if (rc == 0) {
        rc = -ENOENT;
        for (uint32_t i = 0; i < pg->nports; i++)
            if (strncmp(pg->ports[i].name, port, sizeof(pg->ports[i].name)) == 0) {
                memcpy(out, &pg->ports[i], sizeof(*out));
                rc = 0;
                break;
            }
    }
    free(pg);
    return rc;
}
