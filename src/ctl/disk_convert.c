#include "ctl/disk_convert.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "blk/image.h"
#include "lib/err.h"

#define INFO_MAX (1 << 20) /* qemu-img info's JSON for one file is a few KiB */

/* Runs argv (argv[0] found on PATH) with stdin from /dev/null; with `out`, its stdout goes
 * into out[0..cap) (more is an error). Returns 0 when it exits 0, else -errno with a
 * message. */
static int run(char *const argv[], char *out, size_t cap)
{
    int pfd[2] = {-1, -1};
    if (out && pipe2(pfd, O_CLOEXEC) < 0)
        return err_set(errno, "pipe: %s", strerror(errno));
    pid_t pid = fork();
    if (pid < 0)
        return err_set(errno, "fork: %s", strerror(errno));
    if (pid == 0) {
        int null = open("/dev/null", O_RDONLY);
        if (null < 0 || dup2(null, 0) < 0 || (out && dup2(pfd[1], 1) < 0))
            _exit(126);
        execvp(argv[0], argv);
        _exit(127);
    }
    size_t got = 0;
    int rc = 0;
    if (out) {
        close(pfd[1]);
        for (;;) {
            ssize_t n = read(pfd[0], out + got, cap - 1 - got);
            if (n < 0 && errno == EINTR)
                continue;
            if (n <= 0)
                break;
            got += (size_t)n;
            if (got == cap - 1) {
                rc = err_set(E2BIG, "%s %s: more output than expected", argv[0], argv[1]);
                break;
            }
        }
        out[got] = '\0';
        close(pfd[0]);
    }
    int st;
    while (waitpid(pid, &st, 0) < 0)
        if (errno != EINTR)
            return err_set(errno, "waitpid: %s", strerror(errno));
    if (rc < 0)
        return rc;
    if (WIFEXITED(st) && WEXITSTATUS(st) == 127)
        return err_set(ENOENT, "%s not found (install qemu-utils)", argv[0]);
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
        return err_set(EIO, "%s %s failed (status %d)", argv[0], argv[1], WIFEXITED(st) ? WEXITSTATUS(st) : -1);
    return 0;
}

/* The virtual size of a qcow2 file qemu-img describes, if it is safe to import. */
static int check_source(const char *src, const char *arg, uint64_t *size)
{
    char *out = malloc(INFO_MAX);
    if (!out)
        return err_set(ENOMEM, "out of memory");
    char *argv[] = {"qemu-img", "info", "--output=json", "-f", "qcow2", (char *)arg, NULL};
    int rc = run(argv, out, INFO_MAX);
    json_t *j = rc == 0 ? json_loads(out, 0, NULL) : NULL;
    free(out);
    if (rc < 0)
        return err_wrap(-rc, "%s", src);
    json_t *vs = json_object_get(j, "virtual-size");
    json_t *data = json_object_get(json_object_get(j, "format-specific"), "data");
    if (!json_is_object(j) || !json_is_string(json_object_get(j, "format")) ||
        strcmp(json_string_value(json_object_get(j, "format")), "qcow2") != 0 || !json_is_integer(vs))
        rc = err_set(EINVAL, "%s: not a qcow2 file (qemu-img info)", src);
    else if (json_object_get(j, "backing-filename") || json_object_get(j, "full-backing-filename"))
        rc = err_set(EINVAL, "%s: has a backing file (convert it with its backing into one file first)", src);
    else if (json_object_get(data, "data-file"))
        rc = err_set(EINVAL, "%s: has an external data file", src);
    else if (json_integer_value(vs) <= 0 || (uint64_t)json_integer_value(vs) > OVL_MAX_VIRTUAL_SIZE)
        rc = err_set(EINVAL, "%s: virtual size %lld outside 1 B..1 TiB", src, (long long)json_integer_value(vs));
    else
        *size = ((uint64_t)json_integer_value(vs) + 511) & ~511ull;
    json_decref(j);
    return rc;
}

int ctl_disk_convert(int dirfd, const char *dir, const char *src, const char *name)
{
    if (image_format_of_name(name) != IMAGE_RAW)
        return err_set(EINVAL, "image '%s': convert makes raw images (a name not ending in %s)", name,
                       IMAGE_OVERLAY_SUFFIX);
    size_t n = strnlen(src, PATH_MAX);
    if (n == 0 || n >= PATH_MAX - 2)
        return err_set(EINVAL, "source file name is empty or too long");
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)src[i] < 0x20 || src[i] == 0x7f)
            return err_set(EINVAL, "source file name has a control character");
    /* "./" in front of a relative name: qemu-img never reads it as an option or as a
     * protocol ("json:", "nbd:" before the first '/'). */
    char arg[PATH_MAX + 2];
    snprintf(arg, sizeof(arg), "%s%s", src[0] == '/' ? "" : "./", src);
    uint64_t size = 0;
    int rc = check_source(src, arg, &size);
    if (rc < 0)
        return rc;
    int fd = image_dir_openat(dirfd, dir, name, O_RDWR | O_CREAT | O_EXCL, 0600);
    if (fd < 0)
        return fd;
    /* qemu-img writes the file we created beneath the directory, through a descriptor it
     * inherits: it never resolves NAME itself. -n: the target exists (sized, sparse). */
    int child_fd = ftruncate(fd, (off_t)size) < 0 ? -1 : fcntl(fd, F_DUPFD, 3);
    if (child_fd < 0) {
        rc = err_set(errno, "image '%s' in %s: %s", name, dir, strerror(errno));
    } else {
        char target[32];
        snprintf(target, sizeof(target), "/dev/fd/%d", child_fd);
        char *argv[] = {"qemu-img", "convert", "-n", "-f", "qcow2", "-O", "raw", arg, target, NULL};
        rc = run(argv, NULL, 0);
        close(child_fd);
        if (rc < 0)
            err_wrap(-rc, "converting %s", src);
        else if (fsync(fd) < 0)
            rc = err_set(errno, "image '%s': fsync: %s", name, strerror(errno));
    }
    close(fd);
    if (rc < 0)
        unlinkat(dirfd, name, 0);
    return rc;
}
