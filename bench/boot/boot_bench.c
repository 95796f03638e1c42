/*
 * boot-bench: time and memory of a virtual machine monitor booting a test kernel.
 *
 *   boot-bench [-n RUNS] [-w WARMUP] [-i USEC] [-t SEC] [--json FILE]
 *              [-s STATUS|any] [-e TEXT] LABEL -- COMMAND [ARG...]
 *              [::: [-s STATUS|any] [-e TEXT] LABEL -- COMMAND [ARG...]] ...
 *
 * Each COMMAND runs RUNS times (after WARMUP runs that are not counted); when several
 * commands are given the runs are interleaved (A B A B ...) so that drift in the host's
 * state is spread evenly.  A run's stdin is /dev/null and its stdout and stderr are pipes.
 * Per run it records:
 *   - wall time from just before execve() (stamped by the child) to the first byte on
 *     stdout, and to the process's exit (pidfd readable);
 *   - the process's CPU time (user+sys, all threads, from its CPU-time clock) at the
 *     moment the first byte was read, and user and sys time at exit from wait4()'s rusage;
 *   - ru_maxrss, and, by sampling /proc/PID/status every USEC microseconds, the peaks of
 *     RssAnon, RssFile, RssShmem and of RssAnon+RssFile (the monitor's own memory, as
 *     opposed to guest RAM, which both monitors back with a shared memfd mapping).
 * A run passes when its stdout contains TEXT (default "Test result: PASS") and its exit
 * status is STATUS (default 0; "any" accepts any normal exit, not death by a signal).
 * Any failed run stops the benchmark with a message and exit status 1.
 * The table shows median [min .. max] of each metric.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434
#endif

#define OUT_KEEP (256 * 1024) /* bytes of a run's stdout/stderr kept for messages */

enum metric {
    M_WALL_FIRST,
    M_WALL_EXIT,
    M_CPU_FIRST,
    M_USER,
    M_SYS,
    M_CPU,
    M_MAXRSS,
    M_OWN,
    M_ANON,
    M_FILE,
    M_SHMEM,
    M_SAMPLES,
    M_COUNT
};

static const struct {
    const char *key;   /* JSON name */
    const char *title; /* table row */
    const char *unit;
    int kib; /* value is in KiB: the table shows MiB */
} metric_info[M_COUNT] = {
    [M_WALL_FIRST] = {"wall_first_byte_ms", "wall: exec -> first console byte", "ms", 0},
    [M_WALL_EXIT] = {"wall_exit_ms", "wall: exec -> exit (power off)", "ms", 0},
    [M_CPU_FIRST] = {"cpu_first_byte_ms", "cpu: user+sys at first byte", "ms", 0},
    [M_USER] = {"user_ms", "cpu: user at exit", "ms", 0},
    [M_SYS] = {"sys_ms", "cpu: sys at exit", "ms", 0},
    [M_CPU] = {"cpu_ms", "cpu: user+sys at exit", "ms", 0},
    [M_MAXRSS] = {"maxrss_kib", "mem: ru_maxrss (all resident)", "MiB", 1},
    [M_OWN] = {"own_kib", "mem: peak RssAnon+RssFile (own)", "MiB", 1},
    [M_ANON] = {"rss_anon_kib", "mem: peak RssAnon", "MiB", 1},
    [M_FILE] = {"rss_file_kib", "mem: peak RssFile", "MiB", 1},
    [M_SHMEM] = {"rss_shmem_kib", "mem: peak RssShmem (guest RAM)", "MiB", 1},
    [M_SAMPLES] = {"samples", "/proc samples per run", "", 0},
};

struct bench {
    const char *label;
    char **argv;
    int argc;
    const char *expect;
    int status; /* expected exit status, -1 = any */
    double *v[M_COUNT];
    int *exit_status;
    int done;
};

static struct {
    int runs, warmup, interval_us, timeout_s;
    const char *json;
    bool quiet;
} opt = {20, 1, 1000, 30, NULL, false};

static volatile uint64_t *exec_stamp; /* shared with the child: ns just before execve */

static void die(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("boot-bench: ", stderr);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    exit(1);
}

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static double tv_ms(struct timeval tv)
{
    return tv.tv_sec * 1e3 + tv.tv_usec / 1e3;
}

/* The last 2*OUT_KEEP bytes of a stream, and whether the expected text went by. */
struct outbuf {
    char *data;
    size_t len;
    size_t total;
    bool found;
};

static void out_add(struct outbuf *o, const char *p, size_t n, const char *expect)
{
    const size_t cap = 2 * OUT_KEEP;
    size_t elen = expect ? strlen(expect) : 0;
    o->total += n;
    /* Text that straddles the old and new bytes is matched too: search from here. */
    size_t from = o->len > elen ? o->len - elen : 0;
    if (n >= cap) {
        p += n - cap;
        n = cap;
        o->len = from = 0;
    } else if (o->len + n > cap) {
        size_t drop = o->len + n - cap;
        memmove(o->data, o->data + drop, o->len - drop);
        o->len -= drop;
        from = from > drop ? from - drop : 0;
    }
    memcpy(o->data + o->len, p, n);
    o->len += n;
    o->data[o->len] = '\0';
    if (expect && !o->found && memmem(o->data + from, o->len - from, expect, elen))
        o->found = true;
}

static void out_init(struct outbuf *o)
{
    o->data = malloc(2 * OUT_KEEP + 1);
    if (!o->data)
        die("out of memory");
    o->len = o->total = 0;
    o->found = false;
    o->data[0] = '\0';
}

static void out_dump(const char *name, const struct outbuf *o)
{
    size_t show = o->len > 4096 ? 4096 : o->len;
    fprintf(stderr, "---- %s (%zu bytes%s) ----\n", name, o->total, show < o->len ? ", last 4096 shown" : "");
    fwrite(o->data + o->len - show, 1, show, stderr);
    if (show && o->data[o->len - 1] != '\n')
        fputc('\n', stderr);
}

static void fail_run(const struct bench *b, int run_no, bool counted, const char *why, const struct outbuf *out,
                     const struct outbuf *err)
{
    fprintf(stderr, "\nboot-bench: FAIL %s %s %d: %s\n", b->label, counted ? "run" : "warm-up run", run_no, why);
    fprintf(stderr, "command:");
    for (int i = 0; i < b->argc; i++)
        fprintf(stderr, " %s", b->argv[i]);
    fputc('\n', stderr);
    out_dump("stdout", out);
    out_dump("stderr", err);
    exit(1);
}

struct memsample {
    long anon, file, shmem, own;
};

/* Reads RssAnon/RssFile/RssShmem (KiB) of a live process; false once it is gone. */
static bool sample_mem(int fd, struct memsample *peak)
{
    char buf[4096];
    ssize_t n = pread(fd, buf, sizeof buf - 1, 0);
    if (n <= 0)
        return false;
    buf[n] = '\0';
    long anon = -1, file = -1, shmem = -1;
    for (char *l = buf; l && *l; l = strchr(l, '\n'), l = l ? l + 1 : NULL) {
        if (!strncmp(l, "RssAnon:", 8))
            anon = strtol(l + 8, NULL, 10);
        else if (!strncmp(l, "RssFile:", 8))
            file = strtol(l + 8, NULL, 10);
        else if (!strncmp(l, "RssShmem:", 9))
            shmem = strtol(l + 9, NULL, 10);
    }
    if (anon < 0 || file < 0 || shmem < 0)
        return false; /* a zombie has no memory lines */
    if (anon > peak->anon)
        peak->anon = anon;
    if (file > peak->file)
        peak->file = file;
    if (shmem > peak->shmem)
        peak->shmem = shmem;
    if (anon + file > peak->own)
        peak->own = anon + file;
    return true;
}

static void set_cloexec_nonblock(int fd)
{
    fcntl(fd, F_SETFD, FD_CLOEXEC);
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
}

/* Runs a command once and fills vals[]; a run that fails ends the program. */
static void run_once(struct bench *b, int run_no, bool counted, double vals[M_COUNT])
{
    int outp[2], errp[2], execp[2];
    if (pipe(outp) || pipe(errp) || pipe2(execp, O_CLOEXEC))
        die("pipe: %s", strerror(errno));
    int devnull = open("/dev/null", O_RDONLY);
    if (devnull < 0)
        die("/dev/null: %s", strerror(errno));

    *exec_stamp = 0;
    pid_t pid = fork();
    if (pid < 0)
        die("fork: %s", strerror(errno));
    if (pid == 0) {
        dup2(devnull, 0);
        dup2(outp[1], 1);
        dup2(errp[1], 2);
        close(devnull);
        close(outp[0]);
        close(outp[1]);
        close(errp[0]);
        close(errp[1]);
        close(execp[0]);
        *exec_stamp = now_ns();
        execvp(b->argv[0], b->argv);
        int e = errno;
        if (write(execp[1], &e, sizeof e) < 0) {
        }
        _exit(127);
    }
    uint64_t t_fork = now_ns();
    close(devnull);
    close(outp[1]);
    close(errp[1]);
    close(execp[1]);
    set_cloexec_nonblock(outp[0]);
    set_cloexec_nonblock(errp[0]);

    int pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
    clockid_t cpuclock;
    bool have_cpuclock = clock_getcpuclockid(pid, &cpuclock) == 0;
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
    int statusfd = open(path, O_RDONLY | O_CLOEXEC);

    struct outbuf out, err;
    out_init(&out);
    out_init(&err);
    struct memsample peak = {0, 0, 0, 0};
    long samples = 0;
    uint64_t t_first = 0, t_exit = 0, cpu_first = 0;
    bool out_open = true, err_open = true, exited = false;
    bool execed = false; /* the exec pipe closed: sampling /proc now shows the new program */
    int exec_errno = 0;
    bool exec_failed = false;
    uint64_t deadline = t_fork + (uint64_t)opt.timeout_s * 1000000000u;
    uint64_t next_sample = t_fork;

    while (!exited || out_open || err_open) {
        uint64_t t = now_ns();
        if (!exited && execed && statusfd >= 0 && t >= next_sample) {
            if (sample_mem(statusfd, &peak))
                samples++;
            next_sample = t + (uint64_t)opt.interval_us * 1000u;
        }
        if (t > deadline) {
            kill(pid, SIGKILL);
            waitpid(pid, NULL, 0);
            char why[64];
            snprintf(why, sizeof why, "no exit within %d s (killed)", opt.timeout_s);
            fail_run(b, run_no, counted, why, &out, &err);
        }
        struct pollfd pf[4];
        int np = 0, iout = -1, ierr = -1, ipid = -1, iexec = -1;
        if (!execed && !exited) {
            pf[np] = (struct pollfd){.fd = execp[0], .events = POLLIN};
            iexec = np++;
        }
        if (out_open) {
            pf[np] = (struct pollfd){.fd = outp[0], .events = POLLIN};
            iout = np++;
        }
        if (err_open) {
            pf[np] = (struct pollfd){.fd = errp[0], .events = POLLIN};
            ierr = np++;
        }
        if (!exited && pidfd >= 0) {
            pf[np] = (struct pollfd){.fd = pidfd, .events = POLLIN};
            ipid = np++;
        }
        /* Wake for output, for the exit, or for the next sample; once the process is
         * gone, wait a little for pipes a leftover descendant may still hold. */
        uint64_t wait_ns = exited ? 100000000u : next_sample > t ? next_sample - t : 0;
        struct timespec ts = {(time_t)(wait_ns / 1000000000u), (long)(wait_ns % 1000000000u)};
        int r = ppoll(pf, np, &ts, NULL);
        if (r < 0 && errno != EINTR)
            die("poll: %s", strerror(errno));
        uint64_t tp = now_ns();
        if (iexec >= 0 && pf[iexec].revents) {
            execed = true; /* EOF: execve() succeeded; data: it failed */
            exec_failed = read(execp[0], &exec_errno, sizeof exec_errno) == sizeof exec_errno;
            next_sample = tp;
        }
        if (iout >= 0 && (pf[iout].revents & (POLLIN | POLLHUP | POLLERR))) {
            char buf[65536];
            for (;;) {
                ssize_t n = read(outp[0], buf, sizeof buf);
                if (n > 0) {
                    if (!t_first) {
                        t_first = tp;
                        struct timespec c;
                        if (have_cpuclock && clock_gettime(cpuclock, &c) == 0)
                            cpu_first = (uint64_t)c.tv_sec * 1000000000u + (uint64_t)c.tv_nsec;
                    }
                    out_add(&out, buf, (size_t)n, b->expect);
                    continue;
                }
                if (n == 0)
                    out_open = false;
                break;
            }
        }
        if (ierr >= 0 && (pf[ierr].revents & (POLLIN | POLLHUP | POLLERR))) {
            char buf[65536];
            for (;;) {
                ssize_t n = read(errp[0], buf, sizeof buf);
                if (n > 0) {
                    out_add(&err, buf, (size_t)n, NULL);
                    continue;
                }
                if (n == 0)
                    err_open = false;
                break;
            }
        }
        if (!exited) {
            bool gone = false;
            if (ipid >= 0)
                gone = pf[ipid].revents & POLLIN;
            else {
                siginfo_t si = {0};
                gone = waitid(P_PID, (id_t)pid, &si, WEXITED | WNOHANG | WNOWAIT) == 0 && si.si_pid == pid;
            }
            if (gone) {
                exited = true;
                t_exit = tp;
                deadline = tp + 2000000000u; /* give the pipes 2 s to close */
            }
        } else if (r == 0 || tp > deadline) {
            break; /* a descendant still holds a pipe: stop reading */
        }
    }

    int status;
    struct rusage ru;
    if (wait4(pid, &status, 0, &ru) != pid)
        die("wait4: %s", strerror(errno));
    if (pidfd >= 0)
        close(pidfd);
    if (statusfd >= 0)
        close(statusfd);
    close(outp[0]);
    close(errp[0]);
    if (!execed)
        exec_failed = read(execp[0], &exec_errno, sizeof exec_errno) == sizeof exec_errno;
    close(execp[0]);

    const char *why = NULL;
    char whybuf[256];
    if (exec_failed) {
        snprintf(whybuf, sizeof whybuf, "cannot run %s: %s", b->argv[0], strerror(exec_errno));
        why = whybuf;
    } else if (WIFSIGNALED(status)) {
        snprintf(whybuf, sizeof whybuf, "killed by signal %d", WTERMSIG(status));
        why = whybuf;
    } else if (b->status >= 0 && WEXITSTATUS(status) != b->status) {
        snprintf(whybuf, sizeof whybuf, "exit status %d, expected %d", WEXITSTATUS(status), b->status);
        why = whybuf;
    } else if (!out.found) {
        snprintf(whybuf, sizeof whybuf, "no \"%s\" on stdout (exit status %d)", b->expect, WEXITSTATUS(status));
        why = whybuf;
    }
    if (why)
        fail_run(b, run_no, counted, why, &out, &err);

    uint64_t t0 = *exec_stamp ? *exec_stamp : t_fork;
    vals[M_WALL_FIRST] = (t_first - t0) / 1e6;
    vals[M_WALL_EXIT] = (t_exit ? t_exit - t0 : now_ns() - t0) / 1e6;
    vals[M_USER] = tv_ms(ru.ru_utime);
    vals[M_SYS] = tv_ms(ru.ru_stime);
    vals[M_CPU] = vals[M_USER] + vals[M_SYS];
    /* A process that exits right after its first byte may be gone before its CPU clock
     * is read: its CPU time at exit is then the closest (upper) bound. */
    vals[M_CPU_FIRST] = have_cpuclock && cpu_first ? cpu_first / 1e6 : vals[M_CPU];
    vals[M_MAXRSS] = (double)ru.ru_maxrss;
    vals[M_OWN] = (double)peak.own;
    vals[M_ANON] = (double)peak.anon;
    vals[M_FILE] = (double)peak.file;
    vals[M_SHMEM] = (double)peak.shmem;
    vals[M_SAMPLES] = (double)samples;
    if (counted)
        b->exit_status[b->done] = WEXITSTATUS(status);
    free(out.data);
    free(err.data);
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

struct stats {
    double median, min, max;
};

static struct stats stats_of(const double *v, int n)
{
    double *s = malloc(sizeof *s * (size_t)n);
    if (!s)
        die("out of memory");
    memcpy(s, v, sizeof *s * (size_t)n);
    qsort(s, (size_t)n, sizeof *s, cmp_double);
    struct stats st = {n % 2 ? s[n / 2] : (s[n / 2 - 1] + s[n / 2]) / 2, s[0], s[n - 1]};
    free(s);
    return st;
}

static void json_str(FILE *f, const char *s)
{
    fputc('"', f);
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\')
            fprintf(f, "\\%c", c);
        else if (c < 0x20)
            fprintf(f, "\\u%04x", c);
        else
            fputc(c, f);
    }
    fputc('"', f);
}

static void write_json(const char *path, struct bench *bs, int nb)
{
    FILE *f = strcmp(path, "-") ? fopen(path, "w") : stdout;
    if (!f)
        die("%s: %s", path, strerror(errno));
    fprintf(f, "{\n  \"runs\": %d,\n  \"warmup\": %d,\n  \"sample_interval_us\": %d,\n", opt.runs, opt.warmup,
            opt.interval_us);
    fprintf(f, "  \"benchmarks\": [\n");
    for (int i = 0; i < nb; i++) {
        struct bench *b = &bs[i];
        fprintf(f, "    {\n      \"label\": ");
        json_str(f, b->label);
        fprintf(f, ",\n      \"command\": [");
        for (int a = 0; a < b->argc; a++) {
            if (a)
                fputs(", ", f);
            json_str(f, b->argv[a]);
        }
        fprintf(f, "],\n      \"exit_status\": [");
        for (int r = 0; r < opt.runs; r++)
            fprintf(f, "%s%d", r ? ", " : "", b->exit_status[r]);
        fprintf(f, "],\n");
        const char *kinds[3] = {"median", "min", "max"};
        for (int k = 0; k < 3; k++) {
            fprintf(f, "      \"%s\": {", kinds[k]);
            for (int m = 0; m < M_COUNT; m++) {
                struct stats st = stats_of(b->v[m], opt.runs);
                double x = k == 0 ? st.median : k == 1 ? st.min : st.max;
                fprintf(f, "%s\"%s\": %.3f", m ? ", " : "", metric_info[m].key, x);
            }
            fprintf(f, "},\n");
        }
        fprintf(f, "      \"per_run\": {");
        for (int m = 0; m < M_COUNT; m++) {
            fprintf(f, "%s\n        \"%s\": [", m ? "," : "", metric_info[m].key);
            for (int r = 0; r < opt.runs; r++)
                fprintf(f, "%s%.3f", r ? ", " : "", b->v[m][r]);
            fputc(']', f);
        }
        fprintf(f, "\n      }\n    }%s\n", i + 1 < nb ? "," : "");
    }
    fprintf(f, "  ]\n}\n");
    if (fflush(f) || ferror(f) || (f != stdout && fclose(f)))
        die("writing %s failed", path);
}

static void fmt_val(char *buf, size_t n, double x, int kib)
{
    if (x < 0)
        snprintf(buf, n, "-");
    else if (kib)
        snprintf(buf, n, "%.2f", x / 1024.0);
    else if (x >= 100)
        snprintf(buf, n, "%.0f", x);
    else
        snprintf(buf, n, "%.1f", x);
}

static void print_table(struct bench *bs, int nb)
{
    const int col = 26;
    printf("boot-bench: %d runs each%s, %d warm-up, /proc sampled every %d us; "
           "median [min .. max]\n",
           opt.runs, nb > 1 ? " (interleaved)" : "", opt.warmup, opt.interval_us);
    printf("%-38s", "");
    for (int i = 0; i < nb; i++)
        printf(" %-*s", col, bs[i].label);
    if (nb == 2)
        printf(" %s/%s", bs[0].label, bs[1].label);
    putchar('\n');
    for (int m = 0; m < M_COUNT; m++) {
        char name[64];
        snprintf(name, sizeof name, "%s%s%s%s", metric_info[m].title, metric_info[m].unit[0] ? " (" : "",
                 metric_info[m].unit, metric_info[m].unit[0] ? ")" : "");
        printf("%-38s", name);
        double med[2] = {0, 0};
        for (int i = 0; i < nb; i++) {
            struct stats st = stats_of(bs[i].v[m], opt.runs);
            if (i < 2)
                med[i] = st.median;
            char a[32], lo[32], hi[32], cell[128];
            fmt_val(a, sizeof a, st.median, metric_info[m].kib);
            fmt_val(lo, sizeof lo, st.min, metric_info[m].kib);
            fmt_val(hi, sizeof hi, st.max, metric_info[m].kib);
            snprintf(cell, sizeof cell, "%7s [%s .. %s]", a, lo, hi);
            printf(" %-*s", col, cell);
        }
        if (nb == 2 && med[1] > 0 && med[0] >= 0 && m != M_SAMPLES)
            printf(" %.2f", med[0] / med[1]);
        putchar('\n');
    }
}

static void usage(void)
{
    fputs("usage: boot-bench [-n RUNS] [-w WARMUP] [-i USEC] [-t SEC] [-q] [--json FILE|-]\n"
          "                  [-s STATUS|any] [-e TEXT] LABEL -- COMMAND [ARG...]\n"
          "                  [::: [-s STATUS|any] [-e TEXT] LABEL -- COMMAND [ARG...]]...\n"
          "  -n RUNS     counted runs of each command (default 20)\n"
          "  -w WARMUP   uncounted runs first (default 1)\n"
          "  -i USEC     /proc/PID/status sampling interval (default 1000)\n"
          "  -t SEC      a run that has not exited after SEC seconds fails (default 30)\n"
          "  -s STATUS   expected exit status of the next command, or 'any' (default 0)\n"
          "  -e TEXT     text its stdout must contain (default 'Test result: PASS')\n"
          "  --json FILE also write all results as JSON ('-' = stdout, after the table)\n",
          stderr);
    exit(2);
}

static int int_arg(const char *s, int min)
{
    char *end;
    long v = strtol(s, &end, 10);
    if (*s == '\0' || *end != '\0' || v < min || v > INT_MAX)
        usage();
    return (int)v;
}

int main(int argc, char **argv)
{
    struct bench *bs = calloc((size_t)argc, sizeof *bs);
    if (!bs)
        die("out of memory");
    int nb = 0;
    const char *expect = "Test result: PASS";
    int status = 0;

    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        bool more = i + 1 < argc;
        if (!strcmp(a, "-n") && more)
            opt.runs = int_arg(argv[++i], 1);
        else if (!strcmp(a, "-w") && more)
            opt.warmup = int_arg(argv[++i], 0);
        else if (!strcmp(a, "-i") && more)
            opt.interval_us = int_arg(argv[++i], 50);
        else if (!strcmp(a, "-t") && more)
            opt.timeout_s = int_arg(argv[++i], 1);
        else if (!strcmp(a, "-q"))
            opt.quiet = true;
        else if (!strcmp(a, "--json") && more)
            opt.json = argv[++i];
        else if (!strcmp(a, "-s") && more) {
            i++;
            status = strcmp(argv[i], "any") ? int_arg(argv[i], 0) : -1;
        } else if (!strcmp(a, "-e") && more)
            expect = argv[++i];
        else if (!strcmp(a, "-h") || !strcmp(a, "--help") || a[0] == '-' || !more || strcmp(argv[i + 1], "--"))
            usage();
        else {
            struct bench *b = &bs[nb++];
            b->label = a;
            b->expect = expect;
            b->status = status;
            i += 2;
            int start = i;
            while (i < argc && strcmp(argv[i], ":::"))
                i++;
            if (i == start)
                usage();
            b->argv = &argv[start];
            b->argc = i - start;
            argv[i] = NULL; /* ends this command (":::" or argv's own NULL) */
            expect = "Test result: PASS";
            status = 0;
        }
    }
    if (nb == 0)
        usage();

    exec_stamp = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (exec_stamp == MAP_FAILED)
        die("mmap: %s", strerror(errno));
    signal(SIGPIPE, SIG_IGN);
    for (int i = 0; i < nb; i++) {
        for (int m = 0; m < M_COUNT; m++) {
            bs[i].v[m] = calloc((size_t)opt.runs, sizeof(double));
            if (!bs[i].v[m])
                die("out of memory");
        }
        bs[i].exit_status = calloc((size_t)opt.runs, sizeof(int));
        if (!bs[i].exit_status)
            die("out of memory");
    }

    for (int r = 0; r < opt.warmup + opt.runs; r++) {
        bool counted = r >= opt.warmup;
        for (int i = 0; i < nb; i++) {
            double vals[M_COUNT];
            run_once(&bs[i], counted ? r - opt.warmup + 1 : r + 1, counted, vals);
            if (counted) {
                for (int m = 0; m < M_COUNT; m++)
                    bs[i].v[m][bs[i].done] = vals[m];
                bs[i].done++;
            }
        }
        if (!opt.quiet)
            fputc(counted ? '.' : 'w', stderr);
    }
    if (!opt.quiet)
        fputc('\n', stderr);

    print_table(bs, nb);
    if (opt.json) {
        fflush(stdout);
        write_json(opt.json, bs, nb);
    }
    for (int i = 0; i < nb; i++) {
        for (int m = 0; m < M_COUNT; m++)
            free(bs[i].v[m]);
        free(bs[i].exit_status);
    }
    free(bs);
    return 0;
}
