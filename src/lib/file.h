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
/* Writes `path` whole or not at all (PATH.tmp created new by file_create_new, fsync, rename,
 * fsync of the directory): a reader never sees half, and a power loss after it returns
 * keeps the new file. */
int file_write_atomic(const char *path, const void *data, size_t len, mode_t mode);
/* The same without the two fsyncs: a reader never sees half, but after a power loss the
 * file may hold the old contents, nothing, or be missing. For files that only hand data to
 * a process starting now and that nothing reads after a host crash (each start rewrites
 * them), where the syncs would cost every start ~0.5-0.8 ms of waiting on the disk. */
int file_replace(const char *path, const void *data, size_t len, mode_t mode);
/* Creates path for writing, never through a link and never an existing file: O_CREAT |
 * O_EXCL | O_NOFOLLOW, so a symlink (or a file) planted at path by someone else is not
 * followed or truncated (for root writing into a directory others can write). An existing
 * plain file of ours with one link (left by a crash) is removed and created anew, once. The
 * descriptor, or a negative errno with err_set(). */
int file_create_new(const char *path, mode_t mode);
/* fsyncs the directory holding path, so that a rename into it survives a power loss. 0, or a
 * negative errno with err_set(). */
int file_fsync_dir(const char *path);

#endif
