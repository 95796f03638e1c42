#include "daemon/start_cache.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <spawn.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "lib/err.h"

extern char **environ;

static int prepare_dir(const char *dir)
{
    struct stat st;
    if (mkdir(dir, 0700) < 0 && errno != EEXIST)
        return err_set(errno, "%s: %s", dir, strerror(errno));
    if (lstat(dir, &st) < 0)
        return err_set(errno, "%s: %s", dir, strerror(errno));
    if (!S_ISDIR(st.st_mode) || st.st_uid != geteuid() || (st.st_mode & 022))
        return err_set(EPERM, "%s: not a directory of xenod's writable only by it", dir);
    /* Entries of earlier builds would only take room: the fill writes this build's. */
    DIR *d = opendir(dir);
    if (!d)
        return err_set(errno, "%s: %s", dir, strerror(errno));
    struct dirent *e;
    while ((e = readdir(d)))
        if (strncmp(e->d_name, "cpuid-", 6) == 0 || strncmp(e->d_name, "seccomp-", 8) == 0)
            unlinkat(dirfd(d), e->d_name, 0);
    closedir(d);
    return 0;
}

int start_cache_fill(const char *vmm_path, const char *state_dir, char *out, size_t cap)
{
    char dir[4096], vcpus[16];
    int n = snprintf(dir, sizeof(dir), "%s/cache", state_dir);
    if (n < 0 || (size_t)n >= sizeof(dir) || (size_t)n >= cap)
        return err_set(ENAMETOOLONG, "%s/cache: path too long", state_dir);
    int r = prepare_dir(dir);
    if (r < 0)
        return r;
    snprintf(vcpus, sizeof(vcpus), "%d", START_CACHE_VCPUS);
    char *const argv[] = {(char *)vmm_path, "--fill-cache", "--cache-dir", dir, "--vcpus", vcpus, NULL};
    pid_t pid;
    int e = posix_spawn(&pid, vmm_path, NULL, NULL, argv, environ);
    if (e)
        return err_set(e, "%s --fill-cache: %s", vmm_path, strerror(e));
    int status;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        return err_set(EIO, "%s --fill-cache ended with status 0x%x (its messages are in xenod's log)", vmm_path,
                       (unsigned)status);
    snprintf(out, cap, "%s", dir);
    return 0;
}
