/* A supervised host backend (backend_sup.h): xeno-netback's and xeno-blkback's keeper. */
#include "daemon/backend_sup.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "daemon/net_port.h" /* request_line_check */
#include "daemon/spawn.h"
#include "lib/err.h"
#include "lib/log.h"
#include "lib/parse.h"
#include "lib/unix_socket.h"

#define READY_TIMEOUT_MS 10000
#define WATCHDOG_DEFAULT_MS 3000
/* A backend that ran this long before dying is not crash-looping: restart it at once. */
#define STABLE_RUN_MS 2000
#define BACKOFF_MAX_MS 2000

struct backend_sup {
    struct backend_sup_opts o;
    char name[16], path[PATH_MAX], dir[PATH_MAX];
    pthread_mutex_t lock; /* guards pid, pidfd, page_fd, child, restarts */
    int pid, pidfd, child;
    int page_fd; /* STATE/stats, read with pread (never mapped: the backend may truncate it), or -1 */
    uint64_t restarts;
    unsigned quick_deaths;
    int stop_fd; /* a pipe: the thread ends when it becomes readable */
    int stop_w;
    pthread_t thread;
};

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static void emit(struct backend_sup *s, const char *what, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void emit(struct backend_sup *s, const char *what, const char *fmt, ...)
{
    char detail[512], kind[48];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(detail, sizeof(detail), fmt, ap);
    va_end(ap);
    snprintf(kind, sizeof(kind), "%s-%s", s->name, what);
    log_info("%s: %s: %s", s->name, what, detail);
    if (s->o.on_event)
        s->o.on_event(s->o.ctx, kind, detail);
}

static void unmap_page(struct backend_sup *s)
{
    if (s->page_fd >= 0)
        close(s->page_fd);
    s->page_fd = -1;
}

/* The backend may create its stats file anew at start: open whatever is there now. Not
 * mapped: the backend (shared by every domain, fed by guests) could truncate the file after
 * any size check, and a read of a mapping past the end would kill xenod with SIGBUS; each
 * read is a pread into private memory whose length is checked (read_page). */
static void map_page(struct backend_sup *s)
{
    char p[PATH_MAX + 16];
    unmap_page(s);
    snprintf(p, sizeof(p), "%s/stats", s->dir);
    int fd = open(p, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
    if (fd < 0)
        return;
    struct stat st;
    if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && (size_t)st.st_size >= s->o.page_size)
        s->page_fd = fd;
    else
        close(fd);
}

/* len bytes of the stats page at off into buf: 0, or -1 when the file is shorter now. */
static int read_page(const struct backend_sup *s, void *buf, size_t len, size_t off)
{
    ssize_t n;
    do
        n = s->page_fd >= 0 ? pread(s->page_fd, buf, len, (off_t)off) : -1;
    while (n < 0 && errno == EINTR);
    return n == (ssize_t)len ? 0 : -1;
}

/* The pid the backend published: its pid file, or the pid on its stats page; 0: none. */
static int published_pid(struct backend_sup *s)
{
    char p[PATH_MAX + 16], buf[32] = "";
    uint64_t pid = 0;
    if (s->o.pid_off >= 0) {
        uint32_t v = 0;
        if (s->page_fd < 0)
            map_page(s);
        return read_page(s, &v, sizeof(v), (size_t)s->o.pid_off) == 0 && v <= INT_MAX ? (int)v : 0;
    }
    snprintf(p, sizeof(p), "%s/pid", s->dir);
    FILE *f = fopen(p, "re");
    if (!f)
        return 0;
    if (fgets(buf, sizeof(buf), f)) {
        buf[strcspn(buf, "\n")] = '\0';
        if (parse_u64_range(buf, 1, INT_MAX, &pid) < 0)
            pid = 0; /* not a pid file we wrote: nobody to re-attach to */
    }
    fclose(f);
    return (int)pid;
}

/* Is pid our program serving our state directory (not a reused pid)? */
static int is_our_backend(const struct backend_sup *s, int pid)
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

/* Starts a backend and waits until it serves (it published its pid). Caller holds s->lock. */
static int spawn(struct backend_sup *s)
{
    char pid_path[PATH_MAX + 16], log_path[PATH_MAX + 32];
    char *argv[BACKEND_ARGS_MAX + 4];
    int argc = 0;
    snprintf(pid_path, sizeof(pid_path), "%s/pid", s->dir);
    snprintf(log_path, sizeof(log_path), "%s/%s.log", s->dir, s->name);
    if (s->o.pid_off < 0)
        unlink(pid_path); /* a dead backend's: readiness is the new one writing it */
    argv[argc++] = s->path;
    argv[argc++] = "--state-dir";
    argv[argc++] = s->dir;
    if (s->o.args)
        argc += s->o.args(s->o.ctx, argv + argc);
    argv[argc] = NULL;

    pid_t pid = spawn_detached(s->path, argv, log_path, s->o.nice, -1);
    if (pid < 0)
        return (int)pid;
    int pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
    for (uint64_t t0 = now_ms();;) {
        if (published_pid(s) == pid) {
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
            return err_set(EIO, "%s %s did not start (%s): see %s", s->name, s->path,
                           WIFEXITED(status) ? "it exited" : "timed out or killed", log_path);
        }
    }
}

/* The one that runs already (xenod restarted): 1; else a new one: 0; or -errno. Caller
 * holds s->lock. */
static int attach_or_spawn(struct backend_sup *s)
{
    int pid = published_pid(s);
    if (pid && is_our_backend(s, pid)) {
        int fd = (int)syscall(SYS_pidfd_open, pid, 0);
        if (fd >= 0) {
            s->pid = pid;
            s->pidfd = fd;
            s->child = 0;
            map_page(s);
            log_info("%s: attached to the running backend, pid %d", s->name, pid);
            return 1;
        }
    }
    return spawn(s);
}

static uint64_t heartbeat(const struct backend_sup *s)
{
    uint64_t b;
    return read_page(s, &b, sizeof(b), s->o.heartbeat_off) == 0 ? b : 0;
}

/* The process ended (or was killed by the watchdog): why, for the event. Caller holds lock. */
static void reap(struct backend_sup *s, char *why, size_t size)
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

/* One turn while it runs: ask for the page, check the heartbeat. 1 when it was killed as
 * hung (lock released then), else 0 with the lock still held. */
static int watch(struct backend_sup *s, unsigned watchdog, uint64_t *asked_at, uint64_t *beat_at, uint64_t *last_beat)
{
    /* An idle backend may write its page (and move the heartbeat) only when its counters
     * change or when asked: ask three times per watchdog period, so a live one always
     * answers in time and a hung one cannot. */
    if (s->o.ask_signal && now_ms() - *asked_at >= watchdog / 3) {
        syscall(SYS_pidfd_send_signal, s->pidfd, s->o.ask_signal, NULL, 0);
        *asked_at = now_ms();
    }
    if (s->page_fd < 0)
        map_page(s);
    uint64_t b = heartbeat(s), t = now_ms();
    if (b != *last_beat) {
        *last_beat = b;
        *beat_at = t;
        return 0;
    }
    if (t - *beat_at <= watchdog)
        return 0;
    int pid = s->pid;
    kill(pid, SIGKILL); /* the pidfd then reports the death: restart as for a crash */
    *beat_at = t;
    pthread_mutex_unlock(&s->lock);
    emit(s, "hung", "pid %d: no heartbeat for %u ms; killed", pid, watchdog);
    return 1;
}

static void *supervise(void *opaque)
{
    struct backend_sup *s = opaque;
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

        if (s->o.on_tick)
            s->o.on_tick(s->o.ctx);
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
            emit(s, "died", "%s after %" PRIu64 " ms; restarting", why, ran);
            continue;
        }
        if (s->pid) {
            if (watch(s, watchdog, &asked_at, &beat_at, &last_beat))
                continue;
        } else if (now_ms() >= retry_at) {
            int rc = spawn(s);
            if (rc == 0) {
                s->restarts++;
                started = beat_at = now_ms();
                last_beat = heartbeat(s);
                int pid = s->pid;
                pthread_mutex_unlock(&s->lock);
                emit(s, "started", "pid %d (restart %" PRIu64 ")", pid, s->restarts);
                if (s->o.on_started)
                    s->o.on_started(s->o.ctx, 1);
                continue;
            }
            retry_at = now_ms() + BACKOFF_MAX_MS;
            char msg[512];
            snprintf(msg, sizeof(msg), "%s", err_msg());
            pthread_mutex_unlock(&s->lock);
            emit(s, "restart-failed", "%s; retrying in %d ms", msg, BACKOFF_MAX_MS);
            continue;
        }
        pthread_mutex_unlock(&s->lock);
    }
}

int backend_sup_open(struct backend_sup **out, const struct backend_sup_opts *o)
{
    *out = NULL;
    struct backend_sup *s = calloc(1, sizeof(*s));
    if (!s)
        return err_set(ENOMEM, "out of memory");
    s->o = *o;
    s->page_fd = -1;
    s->pidfd = -1;
    snprintf(s->name, sizeof(s->name), "%s", o->name);
    snprintf(s->path, sizeof(s->path), "%s", o->path);
    snprintf(s->dir, sizeof(s->dir), "%s", o->state_dir);
    pthread_mutex_init(&s->lock, NULL);
    int pipefd[2];
    if (mkdir(s->dir, 0700) < 0 && errno != EEXIST) {
        int e = errno;
        free(s);
        return err_set(e, "%s state directory %s: %s", o->name, o->state_dir, strerror(e));
    }
    if (pipe2(pipefd, O_CLOEXEC) < 0) {
        int e = errno;
        free(s);
        return err_set(e, "pipe: %s", strerror(e));
    }
    s->stop_fd = pipefd[0];
    s->stop_w = pipefd[1];
    pthread_mutex_lock(&s->lock);
    int rc = attach_or_spawn(s);
    pthread_mutex_unlock(&s->lock);
    if (rc >= 0) {
        int e = pthread_create(&s->thread, NULL, supervise, s);
        if (e) {
            rc = err_set(e, "%s supervisor thread: %s", o->name, strerror(e));
            if (s->child && s->pid)
                kill(s->pid, SIGKILL);
        }
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
    /* A backend found running (xenod restarted) and a new one alike get their state: a
     * running one's is refreshed, which is harmless, and may have been changed meanwhile. */
    if (o->on_started)
        o->on_started(o->ctx, 0);
    return 0;
}

void backend_sup_close(struct backend_sup *s)
{
    if (!s)
        return;
    if (write(s->stop_w, "x", 1) < 0)
        log_warn("%s: stopping the supervisor: %s", s->name, strerror(errno));
    pthread_join(s->thread, NULL);
    close(s->stop_fd);
    close(s->stop_w);
    if (s->pidfd >= 0)
        close(s->pidfd);
    unmap_page(s);
    free(s);
}

void backend_sup_status(struct backend_sup *s, int *pid, uint64_t *restarts)
{
    pthread_mutex_lock(&s->lock);
    *pid = s->pid;
    *restarts = s->restarts;
    pthread_mutex_unlock(&s->lock);
}

static int connect_control(const struct backend_sup *s)
{
    char path[PATH_MAX];
    if ((size_t)snprintf(path, sizeof(path), "%s/control.sock", s->dir) >= sizeof(path))
        return -ENAMETOOLONG;
    return unix_connect(path, 0);
}

/* The first line of the reply into buf (NUL-terminated, without its newline). */
static int read_reply_line(int fd, char *buf, size_t size, uint64_t deadline)
{
    size_t len = 0;
    buf[0] = 0;
    while (!memchr(buf, '\n', len)) {
        int64_t left = (int64_t)(deadline - now_ms());
        struct pollfd p = {fd, POLLIN, 0};
        if (left <= 0 || poll(&p, 1, (int)left) <= 0)
            return -ETIMEDOUT;
        ssize_t n = read(fd, buf + len, size - 1 - len);
        if (n <= 0)
            return n < 0 ? -errno : -EPIPE;
        len += (size_t)n;
        buf[len] = 0;
        if (len == size - 1)
            break;
    }
    buf[strcspn(buf, "\n")] = 0;
    return 0;
}

int backend_sup_request(struct backend_sup *s, const char *line, char *reply, size_t size, int timeout_ms)
{
    uint64_t deadline = now_ms() + (uint64_t)timeout_ms;
    int fd;
    /* One request, one line: a newline in it would be a second request to the backend. */
    int bad = request_line_check(line);
    if (bad < 0)
        return err_wrap(-bad, "%s", s->name);
    /* A backend being restarted has no control socket for a moment: keep trying. */
    while ((fd = connect_control(s)) < 0) {
        if (now_ms() >= deadline)
            return err_set(-fd, "%s control socket %s/control.sock: %s", s->name, s->dir, strerror(-fd));
        usleep(20000);
    }
    char buf[1024];
    int rc = dprintf(fd, "%s\n", line) < 0 ? -errno : 0;
    if (rc == 0)
        rc = read_reply_line(fd, buf, sizeof(buf), deadline);
    close(fd);
    if (rc < 0)
        return err_set(-rc, "%s: '%s': %s", s->name, line, strerror(-rc));
    if (strncmp(buf, "ok", 2) != 0)
        return err_set(EIO, "%s", strncmp(buf, "err ", 4) == 0 ? buf + 4 : buf);
    if (reply)
        snprintf(reply, size, "%s", buf);
    return 0;
}

int backend_sup_read_page(struct backend_sup *s, void *page, size_t size)
{
    int rc = -ENOENT;
    pthread_mutex_lock(&s->lock);
    for (int tries = 0; s->page_fd >= 0 && tries < 100; tries++) {
        uint32_t seq, again;
        if (read_page(s, &seq, sizeof(seq), s->o.seq_off) < 0 || read_page(s, page, size, 0) < 0 ||
            read_page(s, &again, sizeof(again), s->o.seq_off) < 0)
            break; /* shorter than a page now: no stats, no crash */
        if ((seq & 1) || again != seq)
            continue;
        rc = 0;
        break;
    }
    pthread_mutex_unlock(&s->lock);
    return rc;
}
