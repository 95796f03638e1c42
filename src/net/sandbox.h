/* What xeno-netback gives up once set up (tap opened, state directory open, control socket
 * bound, ports loaded): see sandbox.c for each step and docs/netback.md for why it keeps
 * what it keeps. */
#ifndef XENO_NET_SANDBOX_H
#define XENO_NET_SANDBOX_H

#include <stdbool.h>

/* Landlock (file system: the state directory only; no TCP), all capabilities (effective,
 * permitted, inheritable, ambient, bounding set), no_new_privs, then the seccomp allow-list
 * (anything else kills the process). `state_dirfd` is the only directory left usable, and
 * `read_dirfd` (or -1), an O_PATH fd of the audit rules file's directory, is left readable.
 * Files and sockets opened before (the flow log, the IPFIX UDP socket, the tap) stay usable:
 * write, fdatasync and send are on the allow-list. 0 or -errno with a message; on failure the
 * process must not serve. */
int netback_sandbox_enter(int state_dirfd, int read_dirfd);

#endif
