#include "daemon/spawn.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "lib/err.h"

pid_t spawn_detached(const char *path, char *const argv[], const char *log_path, int nice_level, int cgroup_procs)
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
    if (cgroup_procs >= 0 && write(cgroup_procs, "0", 1) != 1) {
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
