/* Whole files: read-only views (kernels, initrds, snapshot images) and atomic writes. */
#ifndef XENO_LIB_FILE_H
#define XENO_LIB_FILE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct file_map {
    const uint8_t *data;
    size_t len;
};

/* Maps `path` read-only. `what` names the file's role in messages ("kernel", "initrd"). */
int file_map_open(struct file_map *fm, const char *path, const char *what);
void file_map_close(struct file_map *fm);
/* Writes `path` whole or not at all (PATH.tmp, then rename): a reader never sees half. */
int file_write_atomic(const char *path, const void *data, size_t len, mode_t mode);

#endif
