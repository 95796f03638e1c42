#include "daemon/monitor.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "lib/deadline.h"
#include "lib/err.h"
#include "lib/file.h"
#include "daemon/file_wait.h"
#include "daemon/net_port.h"
#include "daemon/spawn.h"
#include "lib/log.h"
#include "lib/unix_socket.h"

#define SPAWN_READY_TIMEOUT_MS 10000

static int pidfd_open_(int pid)
{
    return (int)syscall(SYS_pidfd_open, pid, 0);
}

static struct monitor *monitor_new(int pid, const char *run_dir)
{
    struct monitor *m = calloc(1, sizeof(*m));
    if (!m)
        return NULL;
    m->pid = pid;
    m->pidfd = m->ctl_fd = m->stats_fd = -1;
    snprintf(m->run_dir, sizeof(m->run_dir), "%s", run_dir);
    pthread_mutex_init(&m->lock, NULL);
    pthread_cond_init(&m->cond, NULL);
    return m;
}

/* Opened, not mapped: the file is the monitor's, and a monitor (taken over by its guest, or
 * buggy) may truncate it at any time; a mapping would then kill xenod, which serves every
 * domain, with SIGBUS. Each read is a pread into private memory (stats_page_read_fd). */
static void open_stats(struct monitor *m)
{
    char path[PATH_MAX + 16];
    snprintf(path, sizeof(path), "%s/stats", m->run_dir);
    m->stats_fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
    struct stat st;
    if (m->stats_fd >= 0 && (fstat(m->stats_fd, &st) < 0 || !S_ISREG(st.st_mode))) {
        close(m->stats_fd);
        m->stats_fd = -1;
    }
}

/* Connects the control socket and opens the pidfd; the monitor must already listen. */
static int finish_attach(struct monitor *m)
{
    char path[PATH_MAX + 16];
    snprintf(path, sizeof(path), "%s/control.sock", m->run_dir);
    m->ctl_fd = unix_connect(path, 0);
    if (m->ctl_fd < 0)
        return err_set(-m->ctl_fd, "monitor %d: control socket %s: %s", m->pid, path, strerror(-m->ctl_fd));
    fcntl(m->ctl_fd, F_SETFL, O_NONBLOCK);
    if (m->pidfd < 0 && (m->pidfd = pidfd_open_(m->pid)) < 0)
        return err_set(errno, "monitor %d: pidfd_open: %s", m->pid, strerror(errno));
    open_stats(m);
    return 0;
}

static void add_arg(char **argv, int *argc, const char *s)
{
    argv[(*argc)++] = (char *)s;
}

/* --vcpu-pin N:LIST for each vCPU with a set and --emulator-pin LIST (docs/domain-xml.md).
 * Affinity is the host's, not the snapshot's: given at every start, restores included. The
 * strings are in the returned buffer (free it after the spawn); NULL: out of memory. */
enum { PIN_LEN = 16 + CPUMASK_MAX * 5 };
static char *add_pins(char **argv, int *argc, const struct domain_config *c)
{
    char *pins = malloc((DOMAIN_VCPUS_MAX + 1) * PIN_LEN);
    for (unsigned i = 0; pins && i <= c->vcpus && i <= DOMAIN_VCPUS_MAX; i++) {
        const struct cpumask *m = i < c->vcpus ? domain_vcpu_mask(&c->affinity, i) : domain_emulator_mask(&c->affinity);
        char *p = pins + i * PIN_LEN;
        if (!m)
            continue;
        int n = i < c->vcpus ? snprintf(p, PIN_LEN, "%u:", i) : 0;
        cpumask_format(m, p + n, PIN_LEN - (size_t)n);
        add_arg(argv, argc, i < c->vcpus ? "--vcpu-pin" : "--emulator-pin");
        add_arg(argv, argc, p);
    }
    return pins;
}

/* The devices whose backends xenod gave the domain: --net, one --disk per disk. */
static void add_device_args(char **argv, int *argc, const struct monitor_spawn_args *a)
{
    if (a->net) {
        add_arg(argv, argc, "--net");
        add_arg(argv, argc, a->net);
    }
    for (unsigned i = 0; i < a->ndisks; i++) {
        add_arg(argv, argc, "--disk");
        add_arg(argv, argc, a->disks[i]);
    }
}

int monitor_spawn(struct monitor **out, const struct monitor_spawn_args *a)
{
    const struct domain_config *c = a->cfg;
    char mem[32], vcpus[16], log_path[PATH_MAX + 16], xml_path[PATH_MAX + 16];
    char cpu_res[24], cpu_limit[24], cpu_weight[16], cpu_period[24];
    const struct sched_params *sp = a->sched ? a->sched : &c->sched;
    char *argv[48 + 2 * (DOMAIN_VCPUS_MAX + 1) + 2 * DOMAIN_DISKS_MAX];
    int argc = 0;

    *out = NULL;
    if (mkdir(a->run_dir, 0700) < 0 && errno != EEXIST)
        return err_set(errno, "run directory %s: %s", a->run_dir, strerror(errno));
    monitor_clean_run_dir(a->run_dir);
    snprintf(mem, sizeof(mem), "%lluB", (unsigned long long)c->memory_bytes);
    snprintf(vcpus, sizeof(vcpus), "%u", c->vcpus);
    snprintf(log_path, sizeof(log_path), "%s/vmm.log", a->run_dir);
    add_arg(argv, &argc, a->vmm_path);
    add_arg(argv, &argc, "--run-dir");
    add_arg(argv, &argc, a->run_dir);
    add_arg(argv, &argc, "--name");
    add_arg(argv, &argc, c->name);
    if (a->domain_xml) {
        /* Read at start and kept in every snapshot (restorable by a xenod that never saw the
         * domain). Not synced: nothing reads it after a host crash, each start rewrites it. */
        snprintf(xml_path, sizeof(xml_path), "%s/domain.xml", a->run_dir);
        int r = file_replace(xml_path, a->domain_xml, strlen(a->domain_xml), 0600);
        if (r < 0)
            return r;
        add_arg(argv, &argc, "--domain-xml");
        add_arg(argv, &argc, xml_path);
    }
    if (a->restore_file || a->migrate_incoming) {
        /* Memory, vCPUs, kernel and lifecycle actions come from the snapshot itself, or
         * from the source of the migration. */
        add_arg(argv, &argc, a->restore_file ? "--restore" : "--migrate-incoming");
        add_arg(argv, &argc, a->restore_file ? a->restore_file : a->migrate_incoming);
        if (a->migrate_incoming) {
            add_arg(argv, &argc, "--migrate-key");
            add_arg(argv, &argc, a->migrate_key);
        }
    } else {
        add_arg(argv, &argc, "--kernel");
        add_arg(argv, &argc, c->kernel);
        if (c->initrd) {
            add_arg(argv, &argc, "--initrd");
            add_arg(argv, &argc, c->initrd);
        }
        if (c->cmdline) {
            add_arg(argv, &argc, "--cmdline");
            add_arg(argv, &argc, c->cmdline);
        }
        add_arg(argv, &argc, "--memory");
        add_arg(argv, &argc, mem);
        add_arg(argv, &argc, "--vcpus");
        add_arg(argv, &argc, vcpus);
        add_arg(argv, &argc, "--on-poweroff");
        add_arg(argv, &argc, lifecycle_action_name(c->on_poweroff));
        add_arg(argv, &argc, "--on-reboot");
        add_arg(argv, &argc, lifecycle_action_name(c->on_reboot));
        add_arg(argv, &argc, "--on-crash");
        add_arg(argv, &argc, lifecycle_action_name(c->on_crash));
        add_arg(argv, &argc, "--memory-enforcement");
        add_arg(argv, &argc, memory_enforcement_name(c->memory_enforcement));
    }
    /* CPU scheduling (docs/scheduling.md), exact: ppm of a CPU as a percentage with 4 decimals. */
    snprintf(cpu_res, sizeof(cpu_res), "%u.%04u%%", sp->reservation_ppm / 10000, sp->reservation_ppm % 10000);
    snprintf(cpu_limit, sizeof(cpu_limit), "%u.%04u%%", sp->limit_ppm / 10000, sp->limit_ppm % 10000);
    snprintf(cpu_weight, sizeof(cpu_weight), "%u", sp->weight);
    snprintf(cpu_period, sizeof(cpu_period), "%uus", sp->period_us);
    add_arg(argv, &argc, "--cpu-reservation");
    add_arg(argv, &argc, cpu_res);
    add_arg(argv, &argc, "--cpu-limit");
    add_arg(argv, &argc, cpu_limit);
    add_arg(argv, &argc, "--cpu-weight");
    add_arg(argv, &argc, cpu_weight);
    add_arg(argv, &argc, "--cpu-period");
    add_arg(argv, &argc, cpu_period);
    add_device_args(argv, &argc, a);
    if (a->paused)
        add_arg(argv, &argc, "--paused");
    if (a->save_dir) {
        add_arg(argv, &argc, "--save-dir");
        add_arg(argv, &argc, a->save_dir);
    }
    if (a->cache_dir) {
        add_arg(argv, &argc, "--cache-dir");
        add_arg(argv, &argc, a->cache_dir);
    }
    if (a->out_key && !a->migrate_incoming) { /* the sandbox lets the monitor read it */
        add_arg(argv, &argc, "--migrate-key");
        add_arg(argv, &argc, a->out_key);
    }
    char *pins = add_pins(argv, &argc, c);
    if (!pins)
        return err_set(ENOMEM, "out of memory");
    argv[argc] = NULL;

    pid_t pid = spawn_detached(a->vmm_path, argv, log_path, 0, a->cgroup_procs ? *a->cgroup_procs : -1);
    free(pins);
    if (pid < 0)
        return (int)pid;

    struct monitor *m = monitor_new(pid, a->run_dir);
    if (!m) {
        kill(pid, SIGKILL);
        waitpid(pid, NULL, 0);
        return err_set(ENOMEM, "out of memory");
    }
    m->pidfd = pidfd_open_(pid);
    if (a->no_wait) {
        *out = m;
        return 0;
    }
    int r = monitor_wait_ready(m, SPAWN_READY_TIMEOUT_MS);
    *out = r == 0 ? m : NULL;
    return r;
}

int monitor_wait_ready(struct monitor *m, int timeout_ms)
{
    return monitor_wait_ready_or(m, timeout_ms, NULL, NULL);
}

/* The monitor failed to start: killed, closed, and the reason from its log and outcome. */
static int start_failed(struct monitor *m)
{
    char log_path[PATH_MAX + 16], run_dir[PATH_MAX];
    char why[512] = "", tail[512] = "";
    snprintf(log_path, sizeof(log_path), "%s/vmm.log", m->run_dir);
    snprintf(run_dir, sizeof(run_dir), "%s", m->run_dir);
    FILE *f = fopen(log_path, "re");
    if (f) {
        /* The monitor's own error line says what was wrong (bad kernel, no KVM...). */
        while (fgets(why, sizeof(why), f))
            if (strstr(why, "error"))
                snprintf(tail, sizeof(tail), "%s", why);
        fclose(f);
    }
    tail[strcspn(tail, "\n")] = 0;
    kill(m->pid, SIGKILL);
    monitor_close(m);
    /* The monitor says whether the definition was at fault (a kernel that is not a PVH ELF,
     * say) or the host (no KVM, no memory). */
    char outcome[64] = "";
    int bad_input =
        monitor_read_outcome(run_dir, outcome, sizeof(outcome)) == 0 && strncmp(outcome, "bad-input", 9) == 0;
    return err_set(bad_input ? EINVAL : EIO, "the monitor failed to start%s%s", tail[0] ? ": " : "", tail);
}

int monitor_wait_ready_or(struct monitor *m, int timeout_ms, int (*cancelled)(void *), void *ctx)
{
    /* Ready once it wrote its pid file (after its sockets listen and the VM runs); a
     * monitor that exits first failed to start. Woken by the file's rename or the monitor's
     * end (file_wait: inotify and the pidfd), not by looking every few milliseconds. */
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (;;) {
        struct timespec now;
        clock_gettime(CLOCK_MONOTONIC, &now);
        int spent = (int)((now.tv_sec - t0.tv_sec) * 1000 + (now.tv_nsec - t0.tv_nsec) / 1000000);
        int rc = file_wait(m->run_dir, "pid", m->pidfd, spent < timeout_ms ? timeout_ms - spent : 0, cancelled, ctx);
        if (rc == -ECANCELED) {
            kill(m->pid, SIGKILL);
            monitor_close(m);
            return err_set(ECANCELED, "xenod is stopping");
        }
        if (rc < 0)
            return start_failed(m);
        if (finish_attach(m) == 0)
            return 0;
        /* The pid file is written after the sockets listen, so this is a monitor that is
         * ending (or a run directory someone else touched): look again until it ends. */
        struct pollfd p = {m->pidfd, POLLIN, 0};
        if (poll(&p, 1, 5) > 0 || spent >= timeout_ms)
            return start_failed(m);
    }
}

int monitor_attach(struct monitor **out, int pid, const char *run_dir)
{
    char path[64], cmdline[8192], want[PATH_MAX + 16];
    *out = NULL;
    /* Guard against pid reuse: the process must be a monitor for this run directory. */
    snprintf(path, sizeof(path), "/proc/%d/cmdline", pid);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return err_set(ESRCH, "monitor %d is gone", pid);
    ssize_t n = read(fd, cmdline, sizeof(cmdline) - 1);
    close(fd);
    if (n <= 0)
        return err_set(ESRCH, "monitor %d is gone", pid);
    int len = snprintf(want, sizeof(want), "--run-dir%c%s%c", 0, run_dir, 0);
    if (!memmem(cmdline, (size_t)n, want, (size_t)len))
        return err_set(ESRCH, "pid %d is no longer the monitor of %s", pid, run_dir);
    struct monitor *m = monitor_new(pid, run_dir);
    if (!m)
        return err_set(ENOMEM, "out of memory");
    int r = finish_attach(m);
    if (r < 0) {
        monitor_close(m);
        return r;
    }
    *out = m;
    return 0;
}

static int write_all(int fd, const char *buf, size_t len)
{
    while (len) {
        ssize_t n = send(fd, buf, len, MSG_NOSIGNAL);
        if (n < 0 && errno == EAGAIN) {
            struct pollfd p = {fd, POLLOUT, 0};
            poll(&p, 1, 100);
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -EPIPE;
        buf += n;
        len -= (size_t)n;
    }
    return 0;
}

int monitor_request(struct monitor *m, const char *request, char *reply, size_t size, int timeout_ms)
{
    char line[600];
    struct timespec deadline = deadline_after_ms(timeout_ms);
    int r = request_line_check(request); /* one request, one line */
    if (r < 0)
        return err_wrap(-r, "monitor %d", m->pid);
    if ((size_t)snprintf(line, sizeof(line), "%s\n", request) >= sizeof(line))
        return err_set(E2BIG, "monitor %d: request of %zu bytes is too long", m->pid, strlen(request));

    pthread_mutex_lock(&m->lock);
    while (m->busy && !m->dead)
        if (pthread_cond_timedwait(&m->cond, &m->lock, &deadline) == ETIMEDOUT)
            break;
    if (m->dead || m->busy) {
        r = err_set(m->dead ? EPIPE : ETIMEDOUT, "monitor %d is %s", m->pid, m->dead ? "gone" : "busy");
        goto out;
    }
    m->busy = 1;
    m->reply_ready = 0;
    if (write_all(m->ctl_fd, line, strlen(line)) < 0) {
        r = err_set(EPIPE, "monitor %d: control socket closed", m->pid);
    } else {
        while (!m->reply_ready && !m->dead)
            if (pthread_cond_timedwait(&m->cond, &m->lock, &deadline) == ETIMEDOUT)
                break;
        if (!m->reply_ready)
            r = err_set(m->dead ? EPIPE : ETIMEDOUT, "monitor %d did not answer '%s'", m->pid, request);
        else if (strncmp(m->reply, "ok", 2) == 0)
            snprintf(reply, size, "%s", m->reply);
        else
            r = err_set(EIO, "monitor: %s", strncmp(m->reply, "err ", 4) == 0 ? m->reply + 4 : m->reply);
    }
    m->busy = 0;
    pthread_cond_broadcast(&m->cond);
out:
    pthread_mutex_unlock(&m->lock);
    return r;
}

int monitor_read(struct monitor *m, void (*on_event)(void *ctx, const char *line), void *ctx)
{
    pthread_mutex_lock(&m->lock);
    for (;;) {
        ssize_t n = recv(m->ctl_fd, m->inbuf + m->inlen, sizeof(m->inbuf) - 1 - m->inlen, 0);
        if (n < 0 && (errno == EAGAIN || errno == EINTR))
            break;
        if (n <= 0) {
            m->dead = 1;
            pthread_cond_broadcast(&m->cond);
            pthread_mutex_unlock(&m->lock);
            return -EPIPE;
        }
        m->inlen += (size_t)n;
        char *nl;
        while ((nl = memchr(m->inbuf, '\n', m->inlen))) {
            *nl = 0;
            if (strncmp(m->inbuf, "event ", 6) == 0) {
                /* Events are handled without our lock: the callback may take the registry's. */
                char ev[sizeof(m->inbuf)];
                snprintf(ev, sizeof(ev), "%s", m->inbuf + 6);
                pthread_mutex_unlock(&m->lock);
                on_event(ctx, ev);
                pthread_mutex_lock(&m->lock);
            } else if (m->busy) {
                snprintf(m->reply, sizeof(m->reply), "%.*s", (int)sizeof(m->reply) - 1, m->inbuf);
                m->reply_ready = 1;
                pthread_cond_broadcast(&m->cond);
            }
            size_t used = (size_t)(nl - m->inbuf) + 1;
            memmove(m->inbuf, nl + 1, m->inlen - used);
            m->inlen -= used;
        }
        if (m->inlen == sizeof(m->inbuf) - 1)
            m->inlen = 0; /* a line too long to be ours: drop it */
    }
    pthread_mutex_unlock(&m->lock);
    return 0;
}

static uint64_t realtime_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* A sleeping monitor whose process has not run since it wrote its page is not asked at all:
 * the page is exact as it is (stats_page_current). Only the others are woken. */
int monitor_read_stats(const struct monitor *m, struct stats_page *out)
{
    if (m->stats_fd < 0)
        return -ENODATA;
    int r = stats_page_read_fd_nowait(m->stats_fd, out);
    if (r == 0 && stats_page_current(out, m->pid))
        return 0;
    /* An ask older than a second says nothing of how fresh the page is now. */
    uint64_t since = m->stats_asked_ns && realtime_ns() - m->stats_asked_ns < 1000000000u ? m->stats_asked_ns : 0;
    return stats_page_read_fd_since(m->stats_fd, m->pidfd, out, since);
}

int monitor_peek_stats(const struct monitor *m, struct stats_page *out)
{
    if (m->stats_fd < 0)
        return -ENODATA;
    int r = stats_page_read_fd_nowait(m->stats_fd, out);
    if (r == 0 && !stats_page_current(out, m->pid))
        stats_page_ask(m->pidfd, m->pid); /* not waited for: the next view is fresh */
    return r;
}

void monitor_ask_stats(struct monitor *m)
{
    struct stats_page st;
    if (m->stats_fd < 0)
        return;
    if (stats_page_read_fd_nowait(m->stats_fd, &st) == 0 && stats_page_current(&st, m->pid)) {
        m->stats_asked_ns = 0;
        return; /* nothing to ask: monitor_read_stats takes the page as it is */
    }
    m->stats_asked_ns = realtime_ns();
    stats_page_ask(m->pidfd, m->pid);
}

void monitor_close(struct monitor *m)
{
    if (!m)
        return;
    /* Reap it if it is our child (after a restart of xenod it is not, and init reaps it). */
    waitpid(m->pid, NULL, WNOHANG);
    if (m->stats_fd >= 0)
        close(m->stats_fd);
    if (m->ctl_fd >= 0)
        close(m->ctl_fd);
    if (m->pidfd >= 0)
        close(m->pidfd);
    pthread_mutex_destroy(&m->lock);
    pthread_cond_destroy(&m->cond);
    free(m);
}

int monitor_read_outcome(const char *run_dir, char *out, size_t size)
{
    char path[PATH_MAX + 16];
    snprintf(path, sizeof(path), "%s/outcome", run_dir);
    FILE *f = fopen(path, "r");
    if (!f)
        return -ENOENT;
    if (!fgets(out, (int)size, f))
        out[0] = 0;
    fclose(f);
    out[strcspn(out, "\n")] = 0;
    return out[0] ? 0 : -ENOENT;
}

void monitor_clean_run_dir(const char *run_dir)
{
    static const char *const files[] = {"control.sock", "console.sock", "stats", "pid", "outcome"};
    char path[PATH_MAX + 16];
    for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
        snprintf(path, sizeof(path), "%s/%s", run_dir, files[i]);
        unlink(path);
    }
}
