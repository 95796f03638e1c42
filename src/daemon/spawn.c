#include "daemon/spawn.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "lib/err.h"

extern char **environ;

/* The memory-cgroup case: the child writes "0" to cgroup.procs between fork and exec, which
 * posix_spawn cannot do (glibc 2.36 has no posix_spawnattr_setcgroup_np, and cgroup v1 has no
 * CLONE_INTO_CGROUP at all). Only domains with <memtune> take this path. */
static pid_t spawn_forked(const char *path, char *const argv[], const char *log_path, int nice_level, int cgroup_procs)
{
    pid_t pid = fork();
    if (pid < 0)
        return err_set(errno, "fork: %s", strerror(errno));
    if (pid > 0)
        return pid;
    /* The child: only async-signal-safe calls from here to exec. */
    setsid();
    int null = open("/dev/null", O_RDONLY);
    int log = open(log_path, O_WRONLY | O_CREAT | O_APPEND, 0600);
    if (null < 0 || log < 0)
        _exit(127);
    dup2(null, 0);
    dup2(log, 1);
    dup2(log, 2);
    /* "0": the writing process itself (cgroup v1 and v2). Never run outside the limits. */
    if (write(cgroup_procs, "0", 1) != 1) {
        dprintf(2, "xenod: joining the domain's memory cgroup: %s\n", strerror(errno));
        _exit(126);
    }
    syscall(SYS_close_range, 3, ~0U, 0);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    signal(SIGPIPE, SIG_DFL);
    if (nice_level && setpriority(PRIO_PROCESS, 0, nice_level) < 0)
        dprintf(2, "xenod: setpriority(%d) for %s: %s\n", nice_level, path, strerror(errno));
    execv(path, argv);
    dprintf(2, "xenod: exec %s: %s\n", path, strerror(errno));
    _exit(127);
}

/* Every other start: glibc's posix_spawn clones with CLONE_VM | CLONE_VFORK on a stack of its
 * own, so xenod's page tables are not copied (a fork of xenod with hundreds of domains costs
 * ~0.6 ms of CPU in copy_page_range alone, bench/README.md "No waits in a create"), and the
 * caller sleeps only until the child has exec'd. The child gets what spawn.h promises: its own
 * session, /dev/null and the log on 0-2, nothing else open, no blocked signal, SIGPIPE default. */
static pid_t spawn_vforked(const char *path, char *const argv[], const char *log_path, int nice_level)
{
    posix_spawn_file_actions_t fa;
    posix_spawnattr_t at;
    sigset_t none, dfl;
    sigemptyset(&none);
    sigemptyset(&dfl);
    sigaddset(&dfl, SIGPIPE);
    int e = posix_spawn_file_actions_init(&fa);
    if (e)
        return err_set(e, "posix_spawn_file_actions_init: %s", strerror(e));
    if ((e = posix_spawnattr_init(&at))) {
        posix_spawn_file_actions_destroy(&fa);
        return err_set(e, "posix_spawnattr_init: %s", strerror(e));
    }
    if (!(e = posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0)) &&
        !(e = posix_spawn_file_actions_addopen(&fa, 1, log_path, O_WRONLY | O_CREAT | O_APPEND, 0600)) &&
        !(e = posix_spawn_file_actions_adddup2(&fa, 1, 2)) && !(e = posix_spawn_file_actions_addclosefrom_np(&fa, 3)) &&
        !(e = posix_spawnattr_setflags(&at, POSIX_SPAWN_SETSID | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF)) &&
        !(e = posix_spawnattr_setsigmask(&at, &none)))
        e = posix_spawnattr_setsigdefault(&at, &dfl);
    pid_t pid = -1;
    if (!e)
        e = posix_spawn(&pid, path, &fa, &at, argv, environ);
    posix_spawnattr_destroy(&at);
    posix_spawn_file_actions_destroy(&fa);
    if (e)
        return err_set(e, "starting %s (log %s): %s", path, log_path, strerror(e));
    /* After exec: the child may run a few instructions at xenod's priority first, harmless. */
    if (nice_level && setpriority(PRIO_PROCESS, pid, nice_level) < 0)
        fprintf(stderr, "xenod: setpriority(%d) for %s: %s\n", nice_level, path, strerror(errno));
    return pid;
}

pid_t spawn_detached(const char *path, char *const argv[], const char *log_path, int nice_level, int cgroup_procs)
{
    if (cgroup_procs >= 0)
        return spawn_forked(path, argv, log_path, nice_level, cgroup_procs);
    return spawn_vforked(path, argv, log_path, nice_level);
}
