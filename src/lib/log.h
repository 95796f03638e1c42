/* Diagnostics on stderr, systemd style: one line per event, prefixed with the program name. */
#ifndef XENO_LIB_LOG_H
#define XENO_LIB_LOG_H

enum log_level { LOG_ERROR, LOG_WARN, LOG_INFO, LOG_DEBUG };

void log_init(const char *progname, enum log_level max_level);
/* Also hands every emitted line (without newline) to `hook`, e.g. xenod's ring for `xenctl dmesg`.
 * The hook may be called from any thread. */
void log_set_hook(void (*hook)(const char *line));
void log_msg(enum log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define log_error(...) log_msg(LOG_ERROR, __VA_ARGS__)
#define log_warn(...) log_msg(LOG_WARN, __VA_ARGS__)
#define log_info(...) log_msg(LOG_INFO, __VA_ARGS__)
#define log_debug(...) log_msg(LOG_DEBUG, __VA_ARGS__)

#endif
