/* The seccomp allow-list every vhost-user backend needs (xeno-netback, xeno-blkback): the
 * event loop, vhost-user messages with fds, reconnecting to the monitors' unix sockets, guest
 * memory, time, signals, exiting, and in sanitizer builds what the ASan/UBSan runtime needs.
 * Each backend adds its own calls and loads the filter (src/net/sandbox.c, src/blk/sandbox.c). */
#ifndef XENO_VHOST_SECCOMP_BASE_H
#define XENO_VHOST_SECCOMP_BASE_H

#include <seccomp.h>

/* Adds the shared rules to ctx (created with SCMP_ACT_KILL_PROCESS). 0 or a libseccomp -errno. */
int vhost_seccomp_base(scmp_filter_ctx ctx);

#endif
