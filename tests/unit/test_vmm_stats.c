/* The stats page: the sequence lock (src/lib/stats_page.c) under a writer thread that
 * never stops, the page file the monitor creates (src/vmm/host/stats.c), state names. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "lib/stats_page.h"
#include "vmm/host/stats.h"

static void state_names(void **state)
{
    (void)state;
    assert_string_equal(dom_state_name(DOM_STATE_RUNNING), "running");
    assert_string_equal(dom_state_name(DOM_STATE_BLOCKED), "blocked");
    assert_string_equal(dom_state_name(DOM_STATE_PAUSED), "paused");
    assert_string_equal(dom_state_name(DOM_STATE_SHUTDOWN), "shutdown");
    assert_string_equal(dom_state_name(DOM_STATE_CRASHED), "crashed");
    assert_string_equal(dom_state_name(DOM_STATE_NONE), "none");
    assert_string_equal(dom_state_name((enum dom_state)77), "none");
}

static void read_rejects_foreign_page(void **state)
{
    (void)state;
    static struct stats_page page, out;
    memset(&page, 0, sizeof(page));
    assert_int_equal(stats_page_read(&page, &out), -EPROTO); /* all zero: not made yet */
    page.magic = STATS_PAGE_MAGIC;
    page.version = STATS_PAGE_VERSION + 1;
    assert_int_equal(stats_page_read(&page, &out), -EPROTO);
    page.version = STATS_PAGE_VERSION;
    assert_int_equal(stats_page_read(&page, &out), 0);
}

static void read_gives_up_on_a_stuck_writer(void **state)
{
    (void)state;
    static struct stats_page page, out;
    memset(&page, 0, sizeof(page));
    page.magic = STATS_PAGE_MAGIC;
    page.version = STATS_PAGE_VERSION;
    stats_page_write_begin(&page); /* a writer that died mid-update */
    assert_int_equal(page.seq & 1, 1);
    assert_int_equal(stats_page_read(&page, &out), -EAGAIN);
    stats_page_write_end(&page);
    assert_int_equal(page.seq, 2);
    assert_int_equal(stats_page_read(&page, &out), 0);
    assert_int_equal(out.seq, 2);
}

/* The writer keeps every counter equal to one value; a torn read would show two. */
struct race {
    struct stats_page *page;
    volatile int stop;
};

static void *writer(void *opaque)
{
    struct race *r = opaque;
    for (uint64_t v = 1; !r->stop; v++) {
        stats_page_write_begin(r->page);
        r->page->cpu_ns = v;
        for (int i = 0; i < STATS_PAGE_MAX_VCPUS; i++)
            r->page->vcpu_ns[i] = v;
        r->page->exits_io = r->page->exits_mmio = v;
        r->page->boots = v;
        stats_page_write_end(r->page);
    }
    return NULL;
}

static void reader_never_sees_a_torn_page(void **state)
{
    (void)state;
    static struct stats_page page, out;
    struct race r = {.page = &page};
    pthread_t t;
    memset(&page, 0, sizeof(page));
    page.magic = STATS_PAGE_MAGIC;
    page.version = STATS_PAGE_VERSION;
    assert_int_equal(pthread_create(&t, NULL, writer, &r), 0);
    uint64_t last = 0;
    int ok = 0;
    for (int i = 0; i < 200000; i++) {
        if (stats_page_read(&page, &out) != 0)
            continue;
        ok++;
        assert_int_equal(out.seq & 1, 0);
        for (int k = 0; k < STATS_PAGE_MAX_VCPUS; k++)
            assert_int_equal(out.vcpu_ns[k], out.cpu_ns);
        assert_int_equal(out.exits_io, out.cpu_ns);
        assert_int_equal(out.boots, out.cpu_ns);
        assert_true(out.cpu_ns >= last); /* never goes back */
        last = out.cpu_ns;
    }
    r.stop = 1;
    pthread_join(t, NULL);
    assert_true(ok > 0);
}

static void page_file_created_in_place(void **state)
{
    (void)state;
    char path[64];
    struct stats s;
    static struct stats_page out;
    snprintf(path, sizeof(path), "/tmp/xeno-stats-test.XXXXXX");
    assert_non_null(mkdtemp(path));
    int dir = open(path, O_RDONLY | O_DIRECTORY);
    assert_true(dir >= 0);

    /* An earlier monitor's page, still mapped by a reader. */
    assert_int_equal(stats_create(&s, dir, 1, 1), 0);
    int fd = openat(dir, STATS_FILE_NAME, O_RDONLY);
    const struct stats_page *old = mmap(NULL, STATS_PAGE_SIZE, PROT_READ, MAP_SHARED, fd, 0);
    close(fd);
    assert_true(old != MAP_FAILED);
    stats_close(&s);

    assert_int_equal(stats_create(&s, dir, 2, 64 << 20), 0);
    struct stat st;
    assert_int_equal(fstatat(dir, STATS_FILE_NAME, &st, 0), 0);
    assert_int_equal(st.st_size, STATS_PAGE_SIZE);
    assert_int_equal(st.st_mode & 0777, 0600);
    assert_int_equal(fstatat(dir, STATS_FILE_NAME ".new", &st, 0), -1);
    fd = openat(dir, STATS_FILE_NAME, O_RDONLY);
    const struct stats_page *p = mmap(NULL, STATS_PAGE_SIZE, PROT_READ, MAP_SHARED, fd, 0);
    close(fd);
    assert_true(p != MAP_FAILED);
    assert_int_equal(stats_page_read(p, &out), 0);
    assert_int_equal(out.nvcpus, 2);
    assert_int_equal(out.memory_bytes, 64 << 20);
    assert_int_equal(out.pid, getpid());
    assert_int_equal(out.state, DOM_STATE_NONE);
    assert_true(out.started_ns > 0 && out.updated_ns >= out.started_ns);

    struct stats_page *w = stats_begin(&s);
    w->state = DOM_STATE_RUNNING;
    w->cpu_ns = 12345;
    w->boots = 1;
    stats_end(&s);
    assert_int_equal(stats_page_read(p, &out), 0);
    assert_int_equal(out.state, DOM_STATE_RUNNING);
    assert_int_equal(out.cpu_ns, 12345);
    assert_int_equal(out.seq, 4);

    /* The old reader still has its own (stale but valid) page: no SIGBUS, no change. */
    assert_int_equal(stats_page_read(old, &out), 0);
    assert_int_equal(out.nvcpus, 1);

    munmap((void *)old, STATS_PAGE_SIZE);
    munmap((void *)p, STATS_PAGE_SIZE);
    stats_close(&s);
    unlinkat(dir, STATS_FILE_NAME, 0);
    close(dir);
    rmdir(path);
}

/* xenod reads a monitor's page from the file with pread (stats_page_read_fd), never through
 * a mapping: a file that is short, or that its writer truncates later, is an error for the
 * reader, not a SIGBUS that would end xenod and every domain's supervision with it. */
static void read_fd_survives_a_short_file(void **state)
{
    (void)state;
    int fd = memfd_create("stats", MFD_CLOEXEC);
    assert_true(fd >= 0);
    struct stats_page out;
    assert_int_equal(stats_page_read_fd(fd, &out), -ENODATA); /* empty */
    assert_int_equal(ftruncate(fd, 100), 0);
    assert_int_equal(stats_page_read_fd(fd, &out), -ENODATA); /* shorter than the struct */
    assert_int_equal(ftruncate(fd, STATS_PAGE_SIZE), 0);
    struct stats_page *pg = mmap(NULL, STATS_PAGE_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    assert_true(pg != MAP_FAILED);
    stats_page_write_begin(pg);
    pg->magic = STATS_PAGE_MAGIC;
    pg->version = STATS_PAGE_VERSION;
    pg->cpu_ns = 1234;
    stats_page_write_end(pg);
    assert_int_equal(stats_page_read_fd(fd, &out), 0);
    assert_int_equal(out.cpu_ns, 1234);
    assert_int_equal(out.seq, 2);
    stats_page_write_begin(pg); /* mid-update: retried, then given up */
    assert_int_equal(stats_page_read_fd(fd, &out), -EAGAIN);
    stats_page_write_end(pg);
    munmap(pg, STATS_PAGE_SIZE);
    assert_int_equal(ftruncate(fd, 8), 0); /* the writer shrinks it after the reader opened it */
    assert_int_equal(stats_page_read_fd(fd, &out), -ENODATA);
    close(fd);
}

static uint64_t own_cpu_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* A sleeping page is current when the writer's process has not run since it wrote it (its
 * CPU clock, read by the reader), and then reads as of now; else the reader must ask. This
 * process plays the monitor: its own pid and CPU time. */
static void sleeping_page_current_only_while_quiet(void **state)
{
    (void)state;
    struct stats_page p;
    memset(&p, 0, sizeof(p));
    p.updated_ns = 1;
    assert_int_equal(stats_page_current(&p, getpid()), 1); /* ticking: at most a tick old */
    assert_int_equal(p.updated_ns, 1);                     /* ... and left as written */
    p.refresh_on_read = 1;
    p.asleep_process_cpu_ns = own_cpu_ns();
    assert_int_equal(stats_page_current(&p, getpid()), 1);
    assert_true(p.updated_ns > 1000000000ull * 1000000000ull); /* now (CLOCK_REALTIME), not 1 */
    /* The process ran 1 ms or more since: ask. */
    p.asleep_process_cpu_ns = own_cpu_ns() > STATS_PAGE_QUIET_CPU_NS ? own_cpu_ns() - STATS_PAGE_QUIET_CPU_NS : 0;
    if (p.asleep_process_cpu_ns)
        assert_int_equal(stats_page_current(&p, getpid()), 0);
    /* A page that never said when it slept, a later CPU time than the clock's, no process. */
    p.asleep_process_cpu_ns = 0;
    assert_int_equal(stats_page_current(&p, getpid()), 0);
    p.asleep_process_cpu_ns = own_cpu_ns() + 1000000000ull;
    assert_int_equal(stats_page_current(&p, getpid()), 0);
    p.asleep_process_cpu_ns = own_cpu_ns();
    assert_int_equal(stats_page_current(&p, 0), 0);
    pid_t gone = fork(); /* a process that ended and was reaped: its pid names nothing */
    if (gone == 0)
        _exit(0);
    assert_true(gone > 0);
    assert_int_equal(waitpid(gone, NULL, 0), gone);
    assert_int_equal(stats_page_current(&p, gone), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(state_names),
        cmocka_unit_test(sleeping_page_current_only_while_quiet),
        cmocka_unit_test(read_rejects_foreign_page),
        cmocka_unit_test(read_gives_up_on_a_stuck_writer),
        cmocka_unit_test(read_fd_survives_a_short_file),
        cmocka_unit_test(reader_never_sees_a_torn_page),
        cmocka_unit_test(page_file_created_in_place),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
