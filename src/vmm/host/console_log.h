/* The guest's console output kept on disk, bounded: `console.log` in a directory grows to
 * `limit` bytes, then becomes `console.log.1` (replacing the previous one) and a new
 * `console.log` starts. At most twice the limit is ever kept. A monitor started again in
 * the same directory appends to what is there. */
#ifndef XENO_VMM_HOST_CONSOLE_LOG_H
#define XENO_VMM_HOST_CONSOLE_LOG_H

#include <stddef.h>
#include <stdint.h>

#define CONSOLE_LOG_NAME "console.log"
#define CONSOLE_LOG_OLD_NAME "console.log.1"
#define CONSOLE_LOG_MIN 1024

struct console_log {
    int dir_fd; /* borrowed */
    int fd;
    uint64_t size, limit;
    int failed; /* a write failed: reported once, then writes are skipped until rotation */
};

/* Opens (creates, mode 0600) console.log in dir_fd. 0 or -errno with err_msg(). */
int console_log_open(struct console_log *l, int dir_fd, uint64_t limit);
/* Appends, rotating whenever the file reaches the limit. Failures are logged, not returned:
 * a full disk must not stop the guest. */
void console_log_write(struct console_log *l, const void *data, size_t len);
void console_log_close(struct console_log *l);

#endif
