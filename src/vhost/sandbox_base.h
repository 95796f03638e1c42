/* The sandbox every vhost-user backend enters (xeno-netback, xeno-blkback) once its files are
 * open: Landlock (the rules the backend added, plus /proc for sanitizer builds), no
 * capabilities, no_new_privs, and a seccomp allow-list: the calls every backend needs (the
 * event loop, vhost-user messages with fds, reconnecting to the monitors' unix sockets, guest
 * memory, time, signals, exiting, and in sanitizer builds what the ASan/UBSan runtime needs)
 * plus the backend's own. Everything else kills the process. */
#ifndef XENO_VHOST_SANDBOX_BASE_H
#define XENO_VHOST_SANDBOX_BASE_H

#include "lib/confine.h"

/* rs: opened by the backend (confine_landlock_open) with its rules added; rc: the result of
 * adding them (confine_landlock_enforce's convention). extra: n more syscall numbers
 * (SCMP_SYS). 0 or -errno with a message (the caller exits). */
int vhost_sandbox_enter(struct confine_ruleset *rs, int rc, const int *extra, unsigned n);

#endif
