/* The device's measurement (calibrate.h). Runs before (and without) the sandbox: an
 * operator's command, not the serving backend. */
#include "blk/calibrate.h"

#include "blk/image_dir.h"
#include "lib/err.h"
#include "lib/file.h"

#include <errno.h>
#include <fcntl.h>
#include <liburing.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define SMALL_DEPTH 32u
#define LARGE_DEPTH 4u

static uint64_t mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* xorshift64: offsets spread over the file, no need for quality. */
static uint64_t next_rand(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

/* Keeps depth reads of bsize in flight on fd for ms, random or sequential offsets within
 * size; completed reads per second. 0 means the file system failed them (message set). */
static int measure(int fd, uint64_t size, uint32_t bsize, unsigned depth, bool random, unsigned ms, uint64_t *per_sec)
{
    struct io_uring ring;
    int rc = io_uring_queue_init(depth * 2, &ring, 0);
    if (rc < 0)
        return err_set(-rc, "calibrate: io_uring: %s", strerror(-rc));
    uint8_t *buf = NULL;
    if (posix_memalign((void **)&buf, 4096, (size_t)bsize * depth)) {
        io_uring_queue_exit(&ring);
        return err_set(ENOMEM, "calibrate: no memory for %u buffers of %u bytes", depth, bsize);
    }
    uint64_t blocks = size / bsize, seq = 0, rnd = 0x9e3779b97f4a7c15ull, done = 0;
    uint64_t start = mono_ns(), end = start + (uint64_t)ms * 1000000ull, now = start;
    unsigned inflight = 0;
    int err = 0;
    while (!err && (now < end || inflight)) {
        while (now < end && inflight < depth) {
            struct io_uring_sqe *e = io_uring_get_sqe(&ring);
            uint64_t blk = random ? next_rand(&rnd) % blocks : seq++ % blocks;
            io_uring_prep_read(e, fd, buf + (size_t)bsize * inflight, bsize, blk * bsize);
            inflight++;
        }
        io_uring_submit_and_wait(&ring, 1);
        struct io_uring_cqe *cqe;
        while (io_uring_peek_cqe(&ring, &cqe) == 0) {
            if (cqe->res != (int)bsize)
                err = cqe->res < 0 ? -cqe->res : EIO;
            io_uring_cqe_seen(&ring, cqe);
            inflight--;
            done++;
        }
        now = mono_ns();
    }
    free(buf);
    io_uring_queue_exit(&ring);
    if (err)
        return err_set(err, "calibrate: a %u-byte read failed: %s", bsize, strerror(err));
    uint64_t took = now - start;
    *per_sec = took ? done * 1000000000ull / took : 0;
    return 0;
}

/* A scratch file of real data (a hole would read as zeros without the device). */
static int make_scratch(int dirfd, const char *dir)
{
    int fd = image_dir_openat(dirfd, dir, BLK_CALIBRATE_SCRATCH, O_RDWR | O_CREAT | O_EXCL, 0600);
    if (fd < 0)
        return err_wrap(-fd, "calibrate (a calibration running, or one left %s: remove it)", BLK_CALIBRATE_SCRATCH);
    enum { CHUNK = 1 << 20 };
    uint8_t *chunk = malloc(CHUNK);
    int rc = chunk ? 0 : err_set(ENOMEM, "calibrate: no memory");
    for (uint64_t off = 0; rc == 0 && off < BLK_CALIBRATE_SCRATCH_BYTES; off += CHUNK) {
        for (unsigned i = 0; i < CHUNK; i += 8)
            memcpy(chunk + i, &off, 8);
        if (pwrite(fd, chunk, CHUNK, (off_t)off) != CHUNK)
            rc = err_set(errno ? errno : EIO, "calibrate: writing the scratch file: %s", strerror(errno));
    }
    free(chunk);
    if (rc == 0 && fsync(fd) < 0)
        rc = err_set(errno, "calibrate: fsync: %s", strerror(errno));
    if (rc) {
        close(fd);
        unlinkat(dirfd, BLK_CALIBRATE_SCRATCH, 0);
        return rc;
    }
    return fd;
}

int blk_calibrate(int dirfd, const char *dir, const char *file, unsigned ms_each, struct blk_capacity *out)
{
    int fd = file ? image_dir_openat(dirfd, dir, file, O_RDONLY, 0) : make_scratch(dirfd, dir);
    if (fd < 0)
        return fd;
    /* The same file again with O_DIRECT where the file system allows it: reads from the
     * device, not the page cache. */
    char self[40];
    snprintf(self, sizeof(self), "/proc/self/fd/%d", fd);
    int dfd = open(self, O_RDONLY | O_DIRECT | O_CLOEXEC);
    int rfd = dfd >= 0 ? dfd : fd;
    struct stat st;
    int rc = fstat(fd, &st) < 0 ? err_set(errno, "calibrate: fstat: %s", strerror(errno)) : 0;
    if (rc == 0 && (uint64_t)st.st_size < 2ull * BLK_CALIBRATE_LARGE_BYTES)
        rc = err_set(EINVAL, "calibrate: %s is smaller than 2 MiB", file ? file : BLK_CALIBRATE_SCRATCH);
    uint64_t iops = 0, large = 0;
    if (rc == 0)
        rc = measure(rfd, (uint64_t)st.st_size, BLK_CALIBRATE_SMALL_BYTES, SMALL_DEPTH, true, ms_each, &iops);
    if (rc == 0)
        rc = measure(rfd, (uint64_t)st.st_size, BLK_CALIBRATE_LARGE_BYTES, LARGE_DEPTH, false, ms_each, &large);
    if (dfd >= 0)
        close(dfd);
    close(fd);
    if (!file)
        unlinkat(dirfd, BLK_CALIBRATE_SCRATCH, 0);
    if (rc == 0)
        rc = blk_capacity_derive(iops, large * BLK_CALIBRATE_LARGE_BYTES, BLK_HEADROOM_DEFAULT_PPM, out);
    return rc;
}

int blk_capacity_store(const char *state_dir, const struct blk_capacity *c)
{
    char line[BLK_CAPACITY_LINE_MAX], path[4096];
    int n = blk_capacity_format(c, line, sizeof(line));
    if (n < 0)
        return err_set(ENOSPC, "capacity record too long");
    if (snprintf(path, sizeof(path), "%s/%s", state_dir, BLK_CALIBRATE_FILE) >= (int)sizeof(path))
        return err_set(ENAMETOOLONG, "--state-dir %.60s...: too long", state_dir);
    return file_write_atomic(path, line, (size_t)n, 0644);
}

int blk_capacity_load(int state_dirfd, struct blk_capacity *out)
{
    int fd = openat(state_dirfd, BLK_CALIBRATE_FILE, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0)
        return errno == ENOENT ? -ENOENT
                               : err_set(errno, "%s in the state directory: %s", BLK_CALIBRATE_FILE, strerror(errno));
    char line[BLK_CAPACITY_LINE_MAX + 1];
    ssize_t n = read(fd, line, sizeof(line));
    close(fd);
    if (n < 0 || n > BLK_CAPACITY_LINE_MAX)
        return err_set(EINVAL, "%s in the state directory: unreadable or longer than %d bytes", BLK_CALIBRATE_FILE,
                       BLK_CAPACITY_LINE_MAX);
    line[n] = 0;
    return blk_capacity_parse(line, out);
}
