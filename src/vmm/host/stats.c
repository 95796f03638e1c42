#include "vmm/host/stats.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "lib/err.h"

#define TMP_NAME STATS_FILE_NAME ".new"

static uint64_t realtime_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

int stats_create(struct stats *s, int dir_fd, unsigned nvcpus, uint64_t memory_bytes)
{
    s->page = NULL;
    unlinkat(dir_fd, TMP_NAME, 0);
    int fd = openat(dir_fd, TMP_NAME, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0)
        return err_set(errno, "%s: %s", TMP_NAME, strerror(errno));
    if (ftruncate(fd, STATS_PAGE_SIZE) < 0) {
        int e = errno;
        close(fd);
        return err_set(e, "%s: %s", TMP_NAME, strerror(e));
    }
    void *p = mmap(NULL, STATS_PAGE_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    int e = errno;
    close(fd);
    if (p == MAP_FAILED)
        return err_set(e, "mapping %s: %s", TMP_NAME, strerror(e));
    s->page = p;
    /* Magic and version last, inside a write section: a reader never takes a half-made
     * page for a real one. */
    struct stats_page *pg = stats_begin(s);
    pg->nvcpus = nvcpus;
    pg->pid = (uint32_t)getpid();
    pg->started_ns = pg->updated_ns = realtime_ns();
    pg->memory_bytes = memory_bytes;
    pg->state = DOM_STATE_NONE;
    pg->version = STATS_PAGE_VERSION;
    pg->magic = STATS_PAGE_MAGIC;
    stats_end(s);
    if (renameat(dir_fd, TMP_NAME, dir_fd, STATS_FILE_NAME) < 0) {
        e = errno;
        stats_close(s);
        return err_set(e, "renaming %s to %s: %s", TMP_NAME, STATS_FILE_NAME, strerror(e));
    }
    return 0;
}

struct stats_page *stats_begin(struct stats *s)
{
    stats_page_write_begin(s->page);
    return s->page;
}

void stats_end(struct stats *s)
{
    s->page->updated_ns = realtime_ns();
    stats_page_write_end(s->page);
}

void stats_close(struct stats *s)
{
    if (s->page)
        munmap(s->page, STATS_PAGE_SIZE);
    s->page = NULL;
}
