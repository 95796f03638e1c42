/* xeno-vmm: the per-domain monitor. Standalone it boots one PVH kernel with its serial
 * console on stdin/stdout and exits with a status that says how the guest ended
 * (docs/machine.md). With --run-dir it is xenod's monitor for one domain: console socket
 * and log, control socket, stats page (docs/control-channel.md).
 *
 * This file wires the parts together and runs the event loop: one poll(2) over the VM's
 * eventfds, signals, the 100 ms stats tick, and the console and control sockets. The tick
 * runs only while the domain is not idle: a monitor whose vCPUs are halted sleeps until
 * something happens (an fd event, a vCPU exit or virtio kick, a reader's request for a fresh
 * stats page: docs/control-channel.md, "Stats page"). */
#include <errno.h>
#include <sched.h>
#include <fcntl.h>
#include <malloc.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include "lib/err.h"
#include "lib/file.h"
#include "lib/log.h"
#include "vmm/host/console.h"
#include "vmm/host/console_hub.h"
#include "vmm/host/control.h"
#include "vmm/host/cpu_report.h"
#include "vmm/host/start_cache.h"
#include "vmm/host/domain.h"
#include "vmm/state/migrate_recv.h"
#include "vmm/host/options.h"
#include "vmm/host/pollset.h"
#include "vmm/host/run_dir.h"
#include "vmm/host/sandbox.h"
#include "vmm/state/snapshot_vm.h"
#include "vmm/host/stats.h"

#define TICK_MS 100

struct monitor {
    struct options opt;
    struct file_map kernel, initrd;
    struct snap_file snap;      /* --restore */
    struct migrate_recv mig_in; /* --migrate-incoming */
    char *domain_xml;           /* --domain-xml, or the restored snapshot's */
    size_t domain_xml_len;
    struct domain dom;
    int sig_fd;
    /* standalone */
    struct console con;
    int stdout_fd;
    /* daemon (--run-dir) */
    int daemon, hub_open, ctl_open;
    struct run_dir rd;
    struct console_hub hub;
    struct control ctl;
    struct stats stats;
    int tick_fd;
    int ticking;           /* the tick timer is armed (else: asleep, refresh on read) */
    uint64_t sleep_cpu_ns; /* the vCPUs' CPU time when the tick stopped */
    uint64_t refreshes;    /* refreshes readers asked for */
};

/* CPU time the vCPUs may use while the monitor sleeps before a reader's request wakes the
 * tick to judge the state again: 10% of a tick, what the tick itself calls running. */
#define WAKE_CPU_NS (TICK_MS * 1000000ull / 10)

static uint64_t process_cpu_ns(void)
{
    struct timespec ts;
    if (clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts) < 0)
        return 0; /* readers then ask, as if something ran */
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void publish_stats(struct monitor *m)
{
    if (!m->stats.page)
        return;
    struct stats_page *p = stats_begin(&m->stats);
    domain_fill_stats(&m->dom, p);
    p->console_out_bytes = hub_out_bytes(&m->hub);
    p->console_in_bytes = m->hub.in_bytes;
    p->refresh_on_read = !m->ticking && !m->dom.finished; /* a last page is final: nobody asks */
    p->refreshes_on_read = m->refreshes;
    /* Last, as close to the sleep as this write gets: what readers compare the process's
     * CPU time with to know that nothing ran since (stats_page_current). */
    p->asleep_process_cpu_ns = p->refresh_on_read ? process_cpu_ns() : 0;
    stats_end(&m->stats);
}

/* The domain's events go to the control client; each may change what the page says. */
static void domain_event(void *opaque, const char *event)
{
    struct monitor *m = opaque;
    if (!m->daemon)
        return;
    control_event(&m->ctl, "%s", event);
    publish_stats(m);
}

/* A deferred control reply (migrate) goes to the client that asked, if still there. */
static void domain_reply(void *opaque, const char *line)
{
    struct monitor *m = opaque;
    if (m->daemon)
        control_reply(&m->ctl, line);
    publish_stats(m);
}

/* Signals arrive on a descriptor in the main loop; vCPU threads inherit the mask. */
static int open_signals(void)
{
    sigset_t sigs;
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGINT);
    sigaddset(&sigs, SIGTERM);
    sigaddset(&sigs, SIGHUP);
    sigaddset(&sigs, STATS_PAGE_ASK_SIGNAL); /* a reader asks for a fresh stats page */
    sigaddset(&sigs, SIGUSR1);
    pthread_sigmask(SIG_BLOCK, &sigs, NULL);
    sigdelset(&sigs, SIGUSR1);
    signal(SIGPIPE, SIG_IGN);
    return signalfd(-1, &sigs, SFD_CLOEXEC | SFD_NONBLOCK);
}

static int setup_daemon(struct monitor *m)
{
    int fd, r;
    m->daemon = 1;
    if ((r = run_dir_open(&m->rd, m->opt.run_dir)) < 0)
        return r;
    if ((fd = run_dir_listen(&m->rd, RUN_DIR_CONSOLE)) < 0)
        return fd;
    m->hub_open = 1;
    if ((r = hub_open(&m->hub, fd, m->rd.fd, m->opt.console_log_size)) < 0)
        return r;
    if ((fd = run_dir_listen(&m->rd, RUN_DIR_CONTROL)) < 0)
        return fd;
    m->ctl_open = 1;
    if ((r = control_open(&m->ctl, fd, domain_control, &m->dom)) < 0)
        return r;
    if ((r = stats_create(&m->stats, m->rd.fd, m->opt.nvcpus, m->opt.mem_size)) < 0)
        return r;
    struct itimerspec its = {.it_interval = {0, TICK_MS * 1000000L}, .it_value = {0, TICK_MS * 1000000L}};
    m->tick_fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
    if (m->tick_fd < 0 || timerfd_settime(m->tick_fd, 0, &its, NULL) < 0)
        return err_set(errno, "timerfd: %s", strerror(errno));
    m->ticking = 1;
    m->dom.console_out = hub_guest_output;
    m->dom.console_write = hub_guest_write;
    m->dom.console_opaque = &m->hub;
    return 0;
}

static void read_counter(int fd)
{
    uint64_t v;
    if (read(fd, &v, sizeof(v)) < 0 && errno != EAGAIN)
        log_warn("reading an event counter: %s", strerror(errno));
}

static void reader_request(struct monitor *m);
static void set_ticking(struct monitor *m, int on);

/* Every pending signal: a reader's request for a fresh page, or one that ends the domain. */
static void handle_signal(struct monitor *m)
{
    struct signalfd_siginfo si;
    char why[128];
    while (read(m->sig_fd, &si, sizeof(si)) == sizeof(si)) {
        if (si.ssi_signo == STATS_PAGE_ASK_SIGNAL) {
            reader_request(m);
            continue;
        }
        if (m->daemon && !m->ticking)
            set_ticking(m, 1); /* the end is near: the page follows it */
        snprintf(why, sizeof(why), "stopped by signal %s", strsignal((int)si.ssi_signo));
        domain_signal(&m->dom, (int)si.ssi_signo, why);
    }
}

/* Arms or stops the 100 ms tick; the page says which (refresh_on_read). */
static void set_ticking(struct monitor *m, int on)
{
    struct itimerspec its = {{0, 0}, {0, 0}};
    if (on == m->ticking)
        return;
    if (on) {
        its.it_interval.tv_nsec = its.it_value.tv_nsec = TICK_MS * 1000000L;
        domain_wake(&m->dom);
    }
    if (timerfd_settime(m->tick_fd, 0, &its, NULL) < 0) {
        log_warn("tick timer: %s", strerror(errno));
        return;
    }
    m->ticking = on;
    if (!on)
        m->sleep_cpu_ns = domain_cpu_ns(&m->dom);
    publish_stats(m);
}

/* A timed tick. */
static void tick(struct monitor *m)
{
    int may_sleep = m->stats.page != NULL;
    read_counter(m->tick_fd);
    if (may_sleep)
        domain_watch_activity(&m->dom, 1); /* first: activity after the sample below is not lost */
    domain_tick(&m->dom);
    if (may_sleep && domain_idle(&m->dom))
        set_ticking(m, 0);
    else
        domain_watch_activity(&m->dom, 0);
    publish_stats(m);
}

/* A reader asked (STATS_PAGE_ASK_SIGNAL; several pending are one): a fresh page now; if the vCPUs used CPU
 * time meanwhile (a guest woken by its own in-kernel timer makes no exit we could see),
 * the tick starts again to judge their state. */
static void reader_request(struct monitor *m)
{
    if (!m->daemon || m->ticking)
        return;
    m->refreshes++;
    domain_measure(&m->dom);
    if (domain_cpu_ns(&m->dom) - m->sleep_cpu_ns >= WAKE_CPU_NS)
        set_ticking(m, 1);
    publish_stats(m);
}

/* Whether anything but a signal (a reader's request, handled on its own) woke the loop. */
static int woken_by_other(const struct pollset *ps, int i_sig)
{
    for (unsigned i = 0; i < ps->n; i++)
        if ((int)i != i_sig && ps->fds[i].revents)
            return 1;
    return 0;
}

/* Runs until the domain is over. */
static void event_loop(struct monitor *m)
{
    struct pollset ps;
    while (!m->dom.finished) {
        pollset_reset(&ps);
        int i_stop = pollset_add(&ps, domain_stop_fd(&m->dom), POLLIN);
        int i_rx = pollset_add(&ps, domain_rx_space_fd(&m->dom), POLLIN);
        int i_sig = pollset_add(&ps, m->sig_fd, POLLIN);
        int i_tick = pollset_add(&ps, m->tick_fd, POLLIN);
        int i_mem = pollset_add(&ps, domain_mem_timer_fd(&m->dom), POLLIN);
        int i_mig = pollset_add(&ps, domain_migrate_fd(&m->dom), POLLIN);
        int i_act = pollset_add(&ps, domain_activity_fd(&m->dom), POLLIN);
        int i_in = -1;
        if (m->daemon) {
            hub_prepare(&m->hub, &ps);
            control_prepare(&m->ctl, &ps);
        } else if (console_wants_input(&m->con)) {
            i_in = pollset_add(&ps, m->con.in_fd, POLLIN);
        }
        if (poll(ps.fds, ps.n, -1) < 0) {
            if (errno == EINTR)
                continue;
            log_error("poll: %s", strerror(errno));
            domain_signal(&m->dom, SIGTERM, "the monitor's event loop failed");
            continue;
        }
        if (pollset_revents(&ps, i_act))
            read_counter(m->dom.vm.activity.efd);
        if (m->daemon && !m->ticking && woken_by_other(&ps, i_sig))
            set_ticking(m, 1); /* something happened: judge the state again */
        if (pollset_revents(&ps, i_rx))
            read_counter(m->dom.vm.rx_space_efd);
        if (pollset_revents(&ps, i_sig))
            handle_signal(m);
        if (pollset_revents(&ps, i_mig))
            domain_migrate_event(&m->dom); /* before a stop: the end of a migration may cause one */
        if (pollset_revents(&ps, i_stop))
            domain_stopped(&m->dom);
        if (pollset_revents(&ps, i_mem)) {
            domain_mem_timer(&m->dom); /* a memory deadline: verdict and enforcement now */
            publish_stats(m);
        }
        if (pollset_revents(&ps, i_tick))
            tick(m);
        if (pollset_revents(&ps, i_in)) {
            console_read(&m->con);
            if (m->con.escaped)
                domain_signal(&m->dom, SIGINT, "stopped from the console (Ctrl-])");
        }
        if (m->daemon) {
            hub_dispatch(&m->hub, &ps);
            control_dispatch(&m->ctl, &ps);
        }
        /* Input goes to COM1 or virtio-console, whichever the guest listens on. */
        if (m->dom.vm_running && m->daemon)
            hub_feed_to(&m->hub, domain_console_input, &m->dom);
        else if (m->dom.vm_running)
            console_feed_to(&m->con, domain_console_input, &m->dom);
    }
}

/* The last words in the run directory: sockets and pid go, the outcome comes. */
static void close_daemon(struct monitor *m)
{
    char line[sizeof(m->dom.outcome) + 2];
    publish_stats(m);
    if (m->hub_open)
        hub_close(&m->hub);
    if (m->ctl_open)
        control_close(&m->ctl);
    run_dir_remove(&m->rd, RUN_DIR_CONTROL);
    run_dir_remove(&m->rd, RUN_DIR_CONSOLE);
    run_dir_remove(&m->rd, RUN_DIR_PID);
    snprintf(line, sizeof(line), "%s\n", m->dom.outcome);
    if (run_dir_write(&m->rd, RUN_DIR_OUTCOME, line) < 0)
        log_error("%s", err_msg());
    stats_close(&m->stats);
    if (m->tick_fd >= 0)
        close(m->tick_fd);
    run_dir_close(&m->rd);
}

/* A closed stdin/stdout/stderr would hand its number to /dev/kvm or the guest RAM memfd,
 * and console traffic would go there; park /dev/null on them instead. */
static void reserve_std_fds(void)
{
    for (int fd = 0; fd < 3; fd++) {
        if (fcntl(fd, F_GETFD) < 0 && errno == EBADF) {
            int n = open("/dev/null", O_RDWR);
            if (n >= 0 && n != fd) {
                dup2(n, fd);
                close(n);
            }
        }
    }
}

/* --domain-xml FILE: the bytes, kept for snapshots. 0, or -1 with err_set(). */
static int read_domain_xml(const char *path, char **out, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return err_set(errno, "--domain-xml %s: %s", path, strerror(errno));
    char *buf = malloc(SNAP_DOMAIN_XML_MAX + 1);
    size_t n = buf ? fread(buf, 1, SNAP_DOMAIN_XML_MAX + 1, f) : 0;
    int bad = !buf || ferror(f) || n > SNAP_DOMAIN_XML_MAX;
    int e = !buf ? ENOMEM : ferror(f) ? EIO : EFBIG;
    fclose(f);
    if (bad) {
        free(buf);
        return err_set(e, "--domain-xml %s: %s", path,
                       e == EFBIG ? "larger than 1 MiB"
                       : e == EIO ? "read error"
                                  : "out of memory");
    }
    *out = buf;
    *len = n;
    return 0;
}

static int run(struct monitor *m)
{
    char pid[32];
    m->sig_fd = open_signals();
    if (m->sig_fd < 0) {
        log_error("signalfd: %s", strerror(errno));
        return EXIT_HOST_ERROR;
    }
    if (m->opt.run_dir) {
        if (setup_daemon(m) < 0) {
            log_error("%s", err_msg());
            if (m->rd.fd < 0)
                return EXIT_BAD_INPUT; /* no run directory of ours to write an outcome in */
            snprintf(m->dom.outcome, sizeof(m->dom.outcome), "host-error %s", err_msg());
            return EXIT_HOST_ERROR;
        }
    } else {
        if (console_open(&m->con, STDIN_FILENO) < 0) {
            log_error("%s", err_msg());
            return EXIT_HOST_ERROR;
        }
        m->dom.console_out = console_out;
        m->dom.console_write = console_write_buf;
        m->dom.console_opaque = &m->stdout_fd;
    }
    /* Set-up is done (run directory, sockets bound, kernel mapped, snapshot or migration
     * accepted): the sandbox goes up before the first VM and its threads exist. */
    if (!m->opt.no_sandbox && vmm_sandbox_enter(&m->opt) < 0) {
        log_error("%s", err_msg());
        snprintf(m->dom.outcome, sizeof(m->dom.outcome), "host-error %s", err_msg());
        return EXIT_HOST_ERROR;
    }
    int booted = domain_boot(&m->dom);
    if (m->dom.snap) { /* restored: a lazy fill maps the file on its own */
        m->dom.snap = NULL;
        snap_file_close(&m->snap);
    }
    /* Set-up's garbage (option parsing, the seccomp filters libseccomp built, the ELF loader's
     * buffers) is free but still dirty in the heap: give it back, since an idle monitor keeps
     * that memory for its whole life (bench/README.md, "Host memory per domain"). */
    malloc_trim(0);
    if (booted == 0 && m->daemon) {
        publish_stats(m);
        snprintf(pid, sizeof(pid), "%d\n", (int)getpid());
        if (run_dir_write(&m->rd, RUN_DIR_PID, pid) < 0) {
            log_error("%s", err_msg());
            domain_signal(&m->dom, SIGTERM, "cannot write the pid file");
        }
    }
    event_loop(m);
    domain_cleanup(&m->dom);
    return m->dom.exit_status;
}

/* --emulator-pin: the main thread's CPUs, set before it starts any thread, so that every
 * thread but the vCPUs' (which get their own at creation) inherits them. */
static int pin_self(const struct cpumask *m)
{
    cpu_set_t set;
    char list[256];
    CPU_ZERO(&set);
    for (unsigned c = 0; c < CPU_SETSIZE && c < CPUMASK_MAX; c++)
        if (cpumask_has(m, c))
            CPU_SET(c, &set);
    if (sched_setaffinity(0, sizeof(set), &set) < 0) {
        cpumask_format(m, list, sizeof(list));
        return err_set(errno, "--emulator-pin %s: %s", list, strerror(errno));
    }
    return 0;
}

int main(int argc, char **argv)
{
    static struct monitor m; /* large (buffers); static keeps it off the stack */
    char progname[96];
    int status, r;

    reserve_std_fds();
    log_init("xeno-vmm", LOG_INFO);
    if ((r = options_parse(argc, argv, &m.opt)) != 0)
        return r > 0 ? 0 : EXIT_BAD_INPUT;
    if (m.opt.name)
        snprintf(progname, sizeof(progname), "xeno-vmm[%.64s]", m.opt.name);
    else
        snprintf(progname, sizeof(progname), "xeno-vmm");
    log_init(progname, m.opt.verbose ? LOG_DEBUG : LOG_INFO);
    if (m.opt.has_emulator_pin && pin_self(&m.opt.emulator_pin) < 0) {
        log_error("%s", err_msg());
        return EXIT_BAD_INPUT;
    }
    if (m.opt.domain_xml && read_domain_xml(m.opt.domain_xml, &m.domain_xml, &m.domain_xml_len) < 0) {
        log_error("%s", err_msg());
        return EXIT_BAD_INPUT;
    }
    if (m.opt.cpu_report || m.opt.fill_cache) /* tools that run no domain */
        return m.opt.cpu_report ? cpu_report_print(&m.opt, stdout) : start_cache_fill(&m.opt);
    if (m.opt.dump_acpi) {
        m.dom.opt = &m.opt;
        return domain_dump_acpi(&m.dom, m.opt.dump_acpi);
    }
    if (m.opt.restore) {
        /* Everything is checked before any VM exists: a bad file is refused whole. */
        /* A lazy restore checks each memory run's CRC before its first page reaches the
         * guest, not here: resuming must not wait for the whole file to be read. */
        if (snap_file_open(&m.snap, m.opt.restore, m.opt.restore_eager ? 0 : SNAP_PARSE_NO_RUN_CRC) < 0) {
            log_error("%s", err_msg());
            free(m.domain_xml);
            return EXIT_BAD_INPUT;
        }
        const struct snap_section *x = snap_find(&m.snap.img, SNAP_SEC_DOMAIN_XML, 0);
        if (x && !m.domain_xml) { /* copied: the file may be unmapped before the domain ends */
            m.domain_xml = malloc(x->length ? x->length : 1);
            if (!m.domain_xml) {
                log_error("snapshot %s: out of memory for the domain-xml section", m.opt.restore);
                snap_file_close(&m.snap);
                return EXIT_HOST_ERROR;
            }
            memcpy(m.domain_xml, x->data, x->length);
            m.domain_xml_len = x->length;
        }
        const struct snap_config *c = &m.snap.cfg;
        m.opt.mem_size = c->mem_size;
        m.opt.nvcpus = c->nvcpus;
        m.opt.on_poweroff = (enum lifecycle_action)c->on_poweroff;
        m.opt.on_reboot = (enum lifecycle_action)c->on_reboot;
        m.opt.on_crash = (enum lifecycle_action)c->on_crash;
        m.opt.memory_enforcement = (enum memory_enforcement)c->memory_enforcement;
        m.opt.kernel = c->kernel;
        m.opt.cmdline = c->cmdline[0] ? c->cmdline : NULL;
        m.opt.initrd = NULL;
        /* The kernel is only needed again for a restart (reboot with --on-reboot restart). */
        if (file_map_open(&m.kernel, m.opt.kernel, "kernel") < 0)
            log_warn("%s; a restart of the restored domain will fail", err_msg());
        m.dom.snap = &m.snap;
    } else if (m.opt.migrate_incoming) {
        /* The source must prove it holds the key, and its config must pass, before any VM
         * exists here: a refused migration leaves nothing behind. */
        if (migrate_recv_accept(&m.mig_in, m.opt.migrate_incoming, m.opt.migrate_key, m.opt.run_dir) < 0) {
            log_error("incoming migration: %s", err_msg());
            migrate_recv_abort(&m.mig_in, err_msg());
            free(m.domain_xml);
            return EXIT_BAD_INPUT;
        }
        const struct snap_config *c = &m.mig_in.cfg;
        m.opt.mem_size = c->mem_size;
        m.opt.nvcpus = c->nvcpus;
        m.opt.on_poweroff = (enum lifecycle_action)c->on_poweroff;
        m.opt.on_reboot = (enum lifecycle_action)c->on_reboot;
        m.opt.on_crash = (enum lifecycle_action)c->on_crash;
        m.opt.memory_enforcement = (enum memory_enforcement)c->memory_enforcement;
        m.opt.kernel = c->kernel;
        m.opt.cmdline = c->cmdline[0] ? c->cmdline : NULL;
        m.opt.initrd = NULL;
        if (file_map_open(&m.kernel, m.opt.kernel, "kernel") < 0)
            log_warn("%s; a restart of the migrated domain will fail", err_msg());
        log_info("incoming migration from %s: %llu MiB, %u vCPUs", m.mig_in.c.peer,
                 (unsigned long long)(c->mem_size >> 20), c->nvcpus);
        m.dom.incoming = &m.mig_in;
    } else if (file_map_open(&m.kernel, m.opt.kernel, "kernel") < 0 ||
               (m.opt.initrd && file_map_open(&m.initrd, m.opt.initrd, "initrd") < 0)) {
        log_error("%s", err_msg());
        file_map_close(&m.kernel);
        return EXIT_BAD_INPUT;
    }
    m.stdout_fd = STDOUT_FILENO;
    m.tick_fd = m.sig_fd = -1;
    m.rd.fd = -1;
    m.dom.opt = &m.opt;
    m.dom.kernel = m.kernel.data;
    m.dom.kernel_len = m.kernel.len;
    m.dom.initrd = m.initrd.data;
    m.dom.initrd_len = m.initrd.len;
    m.dom.domain_xml = m.domain_xml;
    m.dom.domain_xml_len = m.domain_xml_len;
    m.dom.notify = domain_event;
    m.dom.reply = domain_reply;
    m.dom.notify_opaque = &m;

    status = run(&m);
    if (m.daemon && m.rd.fd >= 0)
        close_daemon(&m);
    console_close(&m.con);
    if (m.sig_fd >= 0)
        close(m.sig_fd);
    file_map_close(&m.kernel);
    file_map_close(&m.initrd);
    snap_file_close(&m.snap);
    migrate_recv_close(&m.mig_in);
    free(m.domain_xml);
    return status;
}
