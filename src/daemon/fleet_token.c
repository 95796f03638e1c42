#include "daemon/fleet_token.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/err.h"

int fleet_token_read(const char *path, char *out, size_t size)
{
    int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || (st.st_mode & 077) || st.st_uid != geteuid()) {
        if (fd >= 0)
            close(fd);
        return err_set(EACCES, "--fleet-token %s: a regular file of this user with mode 0600", path);
    }
    ssize_t n = read(fd, out, size - 1);
    close(fd);
    while (n > 0 && (out[n - 1] == '\n' || out[n - 1] == ' ' || out[n - 1] == '\r'))
        n--;
    if (n <= 0)
        return err_set(EINVAL, "--fleet-token %s: empty", path);
    out[n] = 0;
    for (ssize_t i = 0; i < n; i++)
        if (out[i] <= ' ' || out[i] > '~')
            return err_set(EINVAL, "--fleet-token %s: one line of printable characters", path);
    return 0;
}
