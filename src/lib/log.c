#include "lib/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

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
