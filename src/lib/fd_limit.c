#include "lib/fd_limit.h"

#include <errno.h>
#include <string.h>
#include <sys/resource.h>

#include "lib/err.h"

int fd_limit_raise(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
        return err_set(errno, "the descriptor limit: %s", strerror(errno));
    if (rl.rlim_cur >= rl.rlim_max)
        return 0;
    rl.rlim_cur = rl.rlim_max;
    if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
        return err_set(errno, "cannot raise the descriptor limit to %llu: %s", (unsigned long long)rl.rlim_max,
                       strerror(errno));
    return 0;
}
