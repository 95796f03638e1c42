/* Diagnostics on stderr, systemd style: one line per event, prefixed with the program name. */
#ifndef XENO_LIB_LOG_H
#define XENO_LIB_LOG_H

enum log_level { LOG_ERROR, LOG_WARN, LOG_INFO, LOG_DEBUG };

void log_init(const char *progname, enum log_level max_level);
/* Also hands every emitted line (without newline) to `hook`, e.g. xenod's ring for `xenctl dmesg`.
 * The hook may be called from any thread. */
void log_set_hook(void (*hook)(const char *line));
void log_msg(enum log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Rate limiting for lines a peer can provoke at will (accept errors, refused connections):
 * at most `per_sec` lines per second from one call site; the rest are counted, and the next
 * line let through after them is preceded by "N more suppressed". Thread-safe; the state
 * lives in the static that log_limited() declares at its call site. */
struct log_ratelimit {
    long window;         /* CLOCK_MONOTONIC second of the current window */
    unsigned n;          /* lines let through in that window */
    unsigned suppressed; /* lines dropped since the last one let through */
    int lock;            /* a spin flag: the critical section is a few stores */
};
/* 1: log this line (after reporting what was suppressed, at `level`); 0: drop it. */
int log_ratelimit_pass(struct log_ratelimit *rl, enum log_level level, unsigned per_sec);
#define log_limited(level, per_sec, ...)                                                                               \
    do {                                                                                                               \
        static struct log_ratelimit log_rl_;                                                                           \
        if (log_ratelimit_pass(&log_rl_, (level), (per_sec)))                                                          \
            log_msg((level), __VA_ARGS__);                                                                             \
    } while (0)

#define log_error(...) log_msg(LOG_ERROR, __VA_ARGS__)
#define log_warn(...) log_msg(LOG_WARN, __VA_ARGS__)
#define log_info(...) log_msg(LOG_INFO, __VA_ARGS__)
#define log_debug(...) log_msg(LOG_DEBUG, __VA_ARGS__)

#endif
