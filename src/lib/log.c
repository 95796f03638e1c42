#include "lib/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

static const char *log_prog = "xeno";
static enum log_level log_max = LOG_INFO;
static void (*log_hook)(const char *line);

void log_set_hook(void (*hook)(const char *line))
{
    log_hook = hook;
}

void log_init(const char *progname, enum log_level max_level)
{
    log_prog = progname;
    log_max = max_level;
}

void log_msg(enum log_level level, const char *fmt, ...)
{
    static const char *const names[] = {"error", "warning", "info", "debug"};
    char line[2048];
    va_list ap;
    int n;

    if (level > log_max)
        return;
    n = snprintf(line, sizeof(line), "%s: %s: ", log_prog, names[level]);
    va_start(ap, fmt);
    vsnprintf(line + n, sizeof(line) - (size_t)n, fmt, ap);
    va_end(ap);
    /* One write per line keeps lines whole when several threads log at once. */
    size_t len = strnlen(line, sizeof(line) - 2);
    if (log_hook)
        log_hook(line);
    line[len++] = '\n';
    fwrite(line, 1, len, stderr);
}

int log_ratelimit_pass(struct log_ratelimit *rl, enum log_level level, unsigned per_sec)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    unsigned report = 0;
    int pass;
    while (__atomic_exchange_n(&rl->lock, 1, __ATOMIC_ACQUIRE))
        ;
    if (rl->window != (long)now.tv_sec) {
        rl->window = (long)now.tv_sec;
        rl->n = 0;
    }
    pass = rl->n < per_sec;
    if (pass) {
        rl->n++;
        report = rl->suppressed;
        rl->suppressed = 0;
    } else {
        rl->suppressed++;
    }
    __atomic_store_n(&rl->lock, 0, __ATOMIC_RELEASE);
    if (report)
        log_msg(level, "(%u more like the next line suppressed)", report);
    return pass;
}
