/* Starting the processes xenod supervises (monitors, the network backend) so that they
 * outlive it: their own session, no terminal, stdin from /dev/null, stdout and stderr
 * appended to a log file, no inherited file descriptors, no blocked signals. */
#ifndef XENO_DAEMON_SPAWN_H
#define XENO_DAEMON_SPAWN_H

#include <sys/types.h>

/* Starts path with argv (NULL-terminated) at nice level `nice_level` (0: as xenod).
 * cgroup_procs: -1, or a descriptor open for writing on a cgroup's cgroup.procs that the
 * child joins before exec (so all it allocates is charged there; memory_cgroup.h).
 * Without a cgroup: posix_spawn (no copy of xenod's page tables); returns the child's pid, or
 * a negative errno with err_set() when the log cannot be opened or the exec fails.
 * With a cgroup: fork; returns the pid, or a negative errno (fork failed); a failed exec
 * shows as the child exiting with status 127, a failed cgroup join 126, the reason in the log.
 * Either way the environment is xenod's. Callable from any thread. */
pid_t spawn_detached(const char *path, char *const argv[], const char *log_path, int nice_level, int cgroup_procs);

#endif
