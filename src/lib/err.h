/* Error reporting for library code: functions return 0 or a negative errno and leave a
 * message naming what failed and where. The caller that decides (usually main) prints it.
 * One message per thread, so vCPU threads do not overwrite each other's context. */
#ifndef XENO_LIB_ERR_H
#define XENO_LIB_ERR_H

/* The longest message kept, with its NUL: room for a peer's refusal that names several disks
 * and images (a migration's identity check) after the context each caller adds. Callers that
 * copy err_msg() aside use a buffer of this size. */
#define ERR_MSG_MAX 4096

/* Stores the formatted message and returns -errnum (errnum is a positive errno). */
int err_set(int errnum, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* The last message set on this thread, or "" if none. */
const char *err_msg(void);
/* Adds context in front of the message a callee left: err_wrap(e, "port %s", n) turns "bad
 * MAC" into "port web: bad MAC". Safe although the old message lives in the buffer it writes
 * (it is copied first). Returns -errnum. */
int err_wrap(int errnum, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* The same at the other end, for context that reads after the cause: err_append(e, " (after
 * %u blocks)", n) turns "bad hash" into "bad hash (after 3 blocks)". No separator is added.
 * Returns -errnum. */
int err_append(int errnum, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
