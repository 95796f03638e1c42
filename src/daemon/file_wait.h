/* Waiting for a process to publish a file (a monitor's RUN_DIR/pid once it is ready) without
 * polling: an inotify watch on the directory and the process's pidfd, in one poll(). */
#ifndef XENO_DAEMON_FILE_WAIT_H
#define XENO_DAEMON_FILE_WAIT_H

/* Waits until DIR/NAME exists (0), the process behind pidfd ends first (-ECHILD), cancelled
 * (may be NULL; asked every 100 ms when given) returns 1 (-ECANCELED), or timeout_ms passes
 * (-ETIMEDOUT). Where inotify is refused (fs.inotify.max_user_instances reached), falls back
 * to looking every 5 ms. Needs one descriptor for the watch while it waits; any thread. */
int file_wait(const char *dir, const char *name, int pidfd, int timeout_ms, int (*cancelled)(void *), void *ctx);

#endif
