/* sched-bench: the measuring side of bench/sched/run.sh (see bench/README.md).
 *
 *   sched-bench hog
 *       spins forever: the host CPU hog (run it under taskset).
 *   sched-bench measure SECONDS LABEL=PID[:THREAD]...
 *       samples the CPU time of each thread every 10 ms for SECONDS (THREAD: its name in
 *       /proc/PID/task/TID/comm, e.g. vcpu0 or xeno-sched; none: the whole process) and
 *       prints one line per label: "LABEL mean MEAN min MIN max MAX cpu_ms MS", shares in
 *       percent of one CPU, min and max over every 1 s window (sliding by 10 ms).
 *   sched-bench latency PID THREAD PERIOD_US OLD_PCT NEW_PCT SOCKET PATH BODY
 *       samples THREAD every 1 ms; after 300 ms sends POST PATH with the JSON BODY to xenod's
 *       API on SOCKET (a live change of the limit from OLD_PCT to NEW_PCT; HTTP/1.1 written
 *       here, so no client start-up is counted) and prints "request_ms R visible_ms V": how
 *       long the request took to its answer, and after how long (from sending it) the new
 *       limit showed in the thread's CPU time. A limited thread uses at most 2 budgets in any period-long stretch; a
 * raise is visible once a stretch holds more than 2 x the old budget + 1 ms, a cut once no stretch ending later holds
 * more than 2 x the new budget + 1 ms.
 *
 * CPU time is the first field of /proc/PID/task/TID/schedstat (nanoseconds, exact). */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define MAX_SERIES 16
#define MAX_SAMPLES 20000

struct series {
    char label[64];
    char path[512];
    unsigned long long t[MAX_SAMPLES], cpu[MAX_SAMPLES];
    int n;
};

static unsigned long long mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (unsigned long long)ts.tv_sec * 1000000000ULL + (unsigned long long)ts.tv_nsec;
}

static int read_first(const char *path, unsigned long long *out)
{
    char buf[256];
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    int ok = fgets(buf, sizeof(buf), f) != NULL;
    fclose(f);
    if (!ok)
        return -1;
    *out = strtoull(buf, NULL, 10);
    return 0;
}

/* path of the schedstat of thread `name` of pid (NULL or "": the process). */
static int find_thread(long pid, const char *name, char *path, size_t size)
{
    char dir[64], comm_path[512], comm[64];
    if (!name || !*name) {
        snprintf(path, size, "/proc/%ld/schedstat", pid);
        return access(path, R_OK);
    }
    snprintf(dir, sizeof(dir), "/proc/%ld/task", pid);
    DIR *d = opendir(dir);
    if (!d)
        return -1;
    struct dirent *e;
    int found = -1;
    while (found < 0 && (e = readdir(d))) {
        if (e->d_name[0] == '.')
            continue;
        snprintf(comm_path, sizeof(comm_path), "%s/%s/comm", dir, e->d_name);
        FILE *f = fopen(comm_path, "r");
        if (!f)
            continue;
        if (fgets(comm, sizeof(comm), f)) {
            comm[strcspn(comm, "\n")] = 0;
            if (strcmp(comm, name) == 0) {
                snprintf(path, size, "%s/%s/schedstat", dir, e->d_name);
                found = 0;
            }
        }
        fclose(f);
    }
    closedir(d);
    return found;
}

static void sleep_until(unsigned long long t)
{
    struct timespec ts = {(time_t)(t / 1000000000ULL), (long)(t % 1000000000ULL)};
    while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR)
        ;
}

static void sample(struct series *s, int ns, unsigned long long interval, unsigned long long duration)
{
    unsigned long long start = mono_ns(), next = start;
    while (next - start <= duration) {
        for (int i = 0; i < ns; i++) {
            if (s[i].n < MAX_SAMPLES && read_first(s[i].path, &s[i].cpu[s[i].n]) == 0)
                s[i].t[s[i].n++] = mono_ns();
        }
        next += interval;
        sleep_until(next);
    }
}

static int hog(void)
{
    volatile unsigned long long x = 0;
    for (;;)
        x++;
    return 0;
}

static int measure(int argc, char **argv)
{
    static struct series s[MAX_SERIES];
    int ns = 0;
    double secs = atof(argv[0]);
    if (secs < 1.5) {
        fprintf(stderr, "sched-bench: measure for at least 1.5 s\n");
        return 1;
    }
    for (int i = 1; i < argc && ns < MAX_SERIES; i++, ns++) {
        char *eq = strchr(argv[i], '='), *colon;
        if (!eq) {
            fprintf(stderr, "sched-bench: '%s' is not LABEL=PID[:THREAD]\n", argv[i]);
            return 1;
        }
        snprintf(s[ns].label, sizeof(s[ns].label), "%.*s", (int)(eq - argv[i]), argv[i]);
        colon = strchr(eq + 1, ':');
        if (find_thread(atol(eq + 1), colon ? colon + 1 : NULL, s[ns].path, sizeof(s[ns].path)) < 0) {
            fprintf(stderr, "sched-bench: %s: no such process or thread\n", argv[i]);
            return 1;
        }
    }
    sample(s, ns, 10000000ULL, (unsigned long long)(secs * 1e9));
    for (int i = 0; i < ns; i++) {
        struct series *x = &s[i];
        double lo = 1e9, hi = -1;
        int j = 0;
        for (int k = 0; k < x->n; k++) {
            while (j < x->n && x->t[j] - x->t[k] < 1000000000ULL)
                j++;
            if (j >= x->n)
                break;
            double share = (double)(x->cpu[j] - x->cpu[k]) * 100.0 / (double)(x->t[j] - x->t[k]);
            lo = share < lo ? share : lo;
            hi = share > hi ? share : hi;
        }
        double mean =
            x->n > 1 ? (double)(x->cpu[x->n - 1] - x->cpu[0]) * 100.0 / (double)(x->t[x->n - 1] - x->t[0]) : 0;
        printf("%s mean %.2f min %.2f max %.2f cpu_ms %.3f\n", x->label, mean, lo, hi,
               x->n > 1 ? (double)(x->cpu[x->n - 1] - x->cpu[0]) / 1e6 : 0.0);
    }
    return 0;
}

/* POST path with a JSON body over the unix socket; returns the HTTP status or -1. */
static int post(const char *sock, const char *path, const char *body)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    char req[2048], resp[4096];
    snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", sock);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
        if (fd >= 0)
            close(fd);
        return -1;
    }
    int n = snprintf(req, sizeof(req),
                     "POST %s HTTP/1.1\r\nHost: xenod\r\nContent-Type: application/json\r\n"
                     "Content-Length: %zu\r\nConnection: close\r\n\r\n%s",
                     path, strlen(body), body);
    if (write(fd, req, (size_t)n) != n) {
        close(fd);
        return -1;
    }
    size_t got = 0;
    ssize_t r;
    while (got < sizeof(resp) - 1 && (r = read(fd, resp + got, sizeof(resp) - 1 - got)) > 0)
        got += (size_t)r;
    resp[got] = 0;
    close(fd);
    int status = -1;
    sscanf(resp, "HTTP/1.%*d %d", &status);
    return status;
}

static int latency(int argc, char **argv)
{
    static struct series s;
    if (argc != 8) {
        fprintf(stderr, "usage: sched-bench latency PID THREAD PERIOD_US OLD_PCT NEW_PCT SOCKET PATH BODY\n");
        return 1;
    }
    unsigned long long period = strtoull(argv[2], NULL, 10) * 1000ULL;
    double old_b = atof(argv[3]) / 100.0 * (double)period, new_b = atof(argv[4]) / 100.0 * (double)period;
    if (find_thread(atol(argv[0]), argv[1], s.path, sizeof(s.path)) < 0) {
        fprintf(stderr, "sched-bench: %s: no thread %s\n", argv[0], argv[1]);
        return 1;
    }
    /* The request goes out from a second thread of ours would be more precise still; one
     * thread that samples, sends (blocking for the answer, a millisecond or two) and goes on
     * sampling is enough: the samples around the request are the ones that matter least. */
    unsigned long long start = mono_ns(), t0 = start + 300000000ULL, t1 = 0, next = start;
    int sent = 0, status = 0;
    while (next - start <= 900000000ULL && s.n < MAX_SAMPLES) {
        if (read_first(s.path, &s.cpu[s.n]) == 0)
            s.t[s.n++] = mono_ns();
        if (!sent && mono_ns() >= t0) {
            t0 = mono_ns();
            status = post(argv[5], argv[6], argv[7]);
            t1 = mono_ns();
            sent = 1;
        }
        next += 1000000ULL;
        if (next < mono_ns())
            next = mono_ns();
        sleep_until(next);
    }
    if (status != 200) {
        fprintf(stderr, "sched-bench: POST %s answered %d\n", argv[6], status);
        return 1;
    }
    /* Trailing period-long consumption at each sample. */
    double visible = -1;
    int j = 0, raise = new_b > old_b;
    double last_high = -1;
    for (int i = 0; i < s.n; i++) {
        while (j < i && s.t[j + 1] <= s.t[i] - period)
            j++;
        if (s.t[j] > s.t[i] - period || s.t[i] < t0)
            continue;
        double used = (double)(s.cpu[i] - s.cpu[j]);
        if (raise && visible < 0 && used > 2 * old_b + 1e6)
            visible = (double)(s.t[i] - t0) / 1e6;
        if (!raise && used > 2 * new_b + 1e6)
            last_high = (double)(s.t[i] - t0) / 1e6; /* the old limit showed until here */
    }
    if (!raise)
        visible = last_high < 0 ? 0 : last_high;
    printf("request_ms %.2f visible_ms %.2f\n", (double)(t1 - t0) / 1e6, visible);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc >= 2 && strcmp(argv[1], "hog") == 0)
        return hog();
    if (argc >= 4 && strcmp(argv[1], "measure") == 0)
        return measure(argc - 2, argv + 2);
    if (argc >= 2 && strcmp(argv[1], "latency") == 0)
        return latency(argc - 2, argv + 2);
    fprintf(stderr, "usage: sched-bench hog | measure SECONDS LABEL=PID[:THREAD]... |\n"
                    "       latency PID THREAD PERIOD_US OLD_PCT NEW_PCT -- COMMAND...\n");
    return 1;
}
