/* Read-only views of whole files (kernels, initrds, later snapshot images). */
#ifndef XENO_LIB_FILE_H
#define XENO_LIB_FILE_H

#include <stddef.h>
#include <stdint.h>

struct file_map {
    const uint8_t *data;
    size_t len;
};

/* Maps `path` read-only. `what` names the file's role in messages ("kernel", "initrd"). */
int file_map_open(struct file_map *fm, const char *path, const char *what);
void file_map_close(struct file_map *fm);

#endif
