#include "lib/file.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/err.h"

/* Non-empty mapping for zero-length files, so callers never see a NULL data pointer. */
static const uint8_t empty_file[1];

int file_map_open(struct file_map *fm, const char *path, const char *what)
{
    struct stat st;
    fm->data = NULL;
    fm->len = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return err_set(errno, "%s '%s': %s", what, path, strerror(errno));
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
        int e = errno ? errno : EINVAL;
        close(fd);
        return err_set(e, "%s '%s': not a regular file", what, path);
    }
    if (st.st_size == 0) {
        close(fd);
        fm->data = empty_file;
        return 0;
    }
    void *p = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
    int e = errno;
    close(fd);
    if (p == MAP_FAILED)
        return err_set(e, "%s '%s': cannot map: %s", what, path, strerror(e));
    fm->data = p;
    fm->len = (size_t)st.st_size;
    return 0;
}

void file_map_close(struct file_map *fm)
{
    if (fm->len)
        munmap((void *)fm->data, fm->len);
    fm->data = NULL;
    fm->len = 0;
}
