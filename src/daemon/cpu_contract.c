#include "daemon/cpu_contract.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "lib/err.h"
#include "lib/parse.h"

#define REPORT_MAX (64 << 10)
#define REPORT_DEADLINE_MS 10000

extern char **environ;

/* "NAME,NAME" or "-" (none) into out; feature names are [a-z0-9_] (cpuf_bits), and a bit the
 * table does not name is spelt by its word and number, "7.0.ebx.6" (cpuf_format). */
static int take_list(const char *val, size_t n, char *out, const char *what)
{
    if (n == 1 && val[0] == '-') {
        out[0] = 0;
        return 0;
    }
    if (n == 0 || n >= CPU_CONTRACT_LIST_MAX)
        return err_set(EINVAL, "cpu report: '%s' list of %zu bytes", what, n);
    for (size_t i = 0; i < n; i++)
        if (!((val[i] >= 'a' && val[i] <= 'z') || (val[i] >= '0' && val[i] <= '9') || val[i] == '_' || val[i] == '.' ||
              val[i] == ','))
            return err_set(EINVAL, "cpu report: '%s' list holds byte 0x%02x", what, (unsigned char)val[i]);
    memcpy(out, val, n);
    out[n] = 0;
    return 0;
}

int cpu_contract_parse(const char *text, size_t len, struct cpu_contract *out)
{
    int have = 0;
    memset(out, 0, sizeof(*out));
    for (size_t i = 0; i < len;) {
        const char *nl = memchr(text + i, '\n', len - i);
        size_t n = nl ? (size_t)(nl - (text + i)) : len - i;
        const char *l = text + i;
        int rc = 0;
        if (n > 6 && !memcmp(l, "extra ", 6)) {
            rc = take_list(l + 6, n - 6, out->extra, "extra");
            have |= 1;
        } else if (n > 8 && !memcmp(l, "missing ", 8)) {
            rc = take_list(l + 8, n - 8, out->missing, "missing");
            have |= 2;
        } else if (n > 9 && n < 30 && !memcmp(l, "probe-us ", 9)) {
            char num[32];
            memcpy(num, l + 9, n - 9);
            num[n - 9] = 0;
            rc = parse_u64_range(num, 0, UINT64_MAX, &out->probe_us);
        }
        if (rc < 0)
            return rc;
        i += n + 1;
    }
    if (have != 3)
        return err_set(EINVAL, "cpu report: no %s line", have & 1 ? "missing" : "extra");
    out->known = 1;
    return 0;
}

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Reads the child's stdout until EOF, REPORT_MAX bytes or the deadline. */
static ssize_t read_all(int fd, char *buf, size_t cap)
{
    size_t len = 0;
    int64_t end = now_ms() + REPORT_DEADLINE_MS;
    while (len < cap) {
        int64_t left = end - now_ms();
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (left <= 0 || poll(&p, 1, (int)left) == 0)
            return err_set(ETIMEDOUT, "no report within %d ms", REPORT_DEADLINE_MS);
        ssize_t n = read(fd, buf + len, cap - len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return err_set(errno, "reading the report: %s", strerror(errno));
        if (n == 0)
            break;
        len += (size_t)n;
    }
    return (ssize_t)len;
}

int cpu_contract_probe(const char *vmm_path, struct cpu_contract *out)
{
    static char buf[REPORT_MAX];
    int p[2];
    memset(out, 0, sizeof(*out));
    if (pipe2(p, O_CLOEXEC) < 0)
        return err_set(errno, "pipe: %s", strerror(errno));
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, p[1], STDOUT_FILENO);
    char *const argv[] = {(char *)vmm_path, "--cpu-report", NULL};
    pid_t pid;
    int e = posix_spawn(&pid, vmm_path, &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    close(p[1]);
    if (e) {
        close(p[0]);
        return err_set(e, "%s --cpu-report: %s", vmm_path, strerror(e));
    }
    ssize_t n = read_all(p[0], buf, sizeof(buf));
    close(p[0]);
    if (n < 0)
        kill(pid, SIGKILL);
    int status;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    if (n < 0)
        return err_wrap(-(int)n, "%s --cpu-report", vmm_path);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        return err_set(EIO, "%s --cpu-report ended with status 0x%x", vmm_path, (unsigned)status);
    return cpu_contract_parse(buf, (size_t)n, out) < 0 ? err_wrap(EINVAL, "%s --cpu-report", vmm_path) : 0;
}
