/* The lazy restore's memory fill (src/vmm/core/mem_populate.c) on a real memfd and a real
 * userfaultfd, without KVM: a snapshot image is written from one RAM, a second, empty RAM
 * is filled from it while threads of this test read it (their faults are answered), and it
 * must end equal to the first; a page the balloon discards during the fill stays a hole;
 * a damaged run is reported and never reaches RAM. Skipped (counted as such) where this
 * kernel gives no userfaultfd. */
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
#include <unistd.h>

#include "lib/err.h"
#include "vmm/core/mem_populate.h"
#include "proto/snapshot.h"

#define RAM (32ULL << 20)
#define PG SNAP_PAGE

static uint8_t *src_ram;
static int img_fd = -1;
static struct snap_image img;
static uint8_t *img_map;
static size_t img_len;

/* Source RAM: most pages hold a pattern, every 7th is zero (not saved). */
static uint64_t word(uint64_t pg, unsigned k)
{
    return (pg * 1315423911u + k) | 1;
}

static int setup(void **state)
{
    (void)state;
    src_ram = calloc(1, RAM);
    for (uint64_t pg = 0; pg < RAM / PG; pg++)
        if (pg % 7)
            for (unsigned k = 0; k < PG / 8; k += 61)
                memcpy(src_ram + pg * PG + k * 8, &(uint64_t){word(pg, k)}, 8);
    img_fd = memfd_create("snap-image", MFD_CLOEXEC);
    struct snap_writer w;
    struct snap_header h = {0};
    snap_host_cpu(h.cpu_vendor, &h.cpu_signature);
    h.ram_size = RAM;
    h.nranges = 1;
    h.ranges[0].size = RAM;
    struct snap_config c = {.mem_size = RAM, .nvcpus = 1};
    if (snap_writer_open(&w, img_fd, &h) < 0 || snap_write_section(&w, SNAP_SEC_CONFIG, &c, sizeof(c)) < 0 ||
        snap_write_memory(&w, src_ram, RAM, -1) < 0 || snap_writer_finish(&w) < 0)
        return -1;
    img_len = (size_t)w.bytes;
    img_map = mmap(NULL, img_len, PROT_READ, MAP_SHARED, img_fd, 0);
    if (img_map == MAP_FAILED)
        return -1;
    return snap_parse(img_map, img_len, NULL, SNAP_PARSE_NO_RUN_CRC, &img) < 0 ? -1 : 0;
}

static int teardown(void **state)
{
    (void)state;
    snap_image_free(&img);
    munmap(img_map, img_len);
    close(img_fd);
    free(src_ram);
    return 0;
}

struct ram {
    int fd;
    uint8_t *host;
};

static void ram_open(struct ram *r)
{
    r->fd = memfd_create("guest-ram", MFD_CLOEXEC);
    assert_true(r->fd >= 0);
    assert_int_equal(ftruncate(r->fd, RAM), 0);
    r->host = mmap(NULL, RAM, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_NORESERVE, r->fd, 0);
    assert_true(r->host != MAP_FAILED);
}

static void ram_close(struct ram *r)
{
    munmap(r->host, RAM);
    close(r->fd);
}

static struct mem_populate *start(struct ram *r, const char **why)
{
    struct mem_populate *p;
    int e = mem_populate_start(&p, r->host, RAM, r->fd, img_fd, &img, NULL, NULL);
    if (e < 0) {
        *why = err_msg();
        return NULL;
    }
    return p;
}

/* Reads every page from the top down while the fill goes up: most first touches are
 * faults the fault thread answers. */
static void *reader(void *arg)
{
    const uint8_t *host = arg;
    uint64_t sum = 0;
    for (uint64_t pg = RAM / PG; pg-- > 0;)
        sum += host[pg * PG + 8];
    return (void *)(uintptr_t)sum;
}

static void fills_under_faults(void **state)
{
    (void)state;
    struct ram r;
    ram_open(&r);
    const char *why = "";
    struct mem_populate *p = start(&r, &why);
    if (!p) {
        ram_close(&r);
        skip(); /* no userfaultfd on this kernel or for this user */
    }
    pthread_t t[2];
    for (int i = 0; i < 2; i++)
        assert_int_equal(pthread_create(&t[i], NULL, reader, r.host), 0);
    for (int i = 0; i < 2; i++)
        pthread_join(t[i], NULL);
    assert_int_equal(mem_populate_wait(p, 30000), 0);
    assert_true(mem_populate_done(p));
    struct mem_populate_stats st;
    mem_populate_get_stats(p, &st);
    assert_true(st.copied_pages > 0);
    assert_true(st.populate_ns > 0);
    assert_memory_equal(r.host, src_ram, RAM);
    mem_populate_stop(p);
    ram_close(&r);
}

static void discarded_page_stays_out(void **state)
{
    (void)state;
    struct ram r;
    ram_open(&r);
    const char *why = "";
    struct mem_populate *p = start(&r, &why);
    if (!p) {
        ram_close(&r);
        skip();
    }
    /* The balloon's order: mark, then punch. Near the top, the fill has not got there. */
    uint64_t off = RAM - 3 * PG;
    mem_populate_discard(p, off, PG);
    assert_int_equal(fallocate(r.fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, (off_t)off, PG), 0);
    assert_int_equal(mem_populate_wait(p, 30000), 0);
    off_t d = lseek(r.fd, (off_t)off, SEEK_DATA);
    assert_true(d < 0 || d > (off_t)off); /* still a hole: not filled from the file */
    assert_memory_equal(r.host, src_ram, off);
    mem_populate_stop(p);
    ram_close(&r);
}

static int errors;
static char error_msg[600];

static void on_error(void *opaque, const char *msg)
{
    (void)opaque;
    errors++;
    snprintf(error_msg, sizeof(error_msg), "%s", msg);
}

static void damaged_run_never_reaches_ram(void **state)
{
    (void)state;
    /* A copy of the image with one byte of run 3 flipped. */
    int fd = memfd_create("bad-image", MFD_CLOEXEC);
    assert_int_equal(write(fd, img_map, img_len), (ssize_t)img_len);
    struct snap_mem_run r3;
    memcpy(&r3, &img.runs[3], sizeof(r3));
    uint8_t b = img_map[r3.file_offset + 100] ^ 0x55;
    assert_int_equal(pwrite(fd, &b, 1, (off_t)(r3.file_offset + 100)), 1);
    uint8_t *bad_map = mmap(NULL, img_len, PROT_READ, MAP_SHARED, fd, 0);
    struct snap_image bad;
    assert_int_equal(snap_parse(bad_map, img_len, NULL, SNAP_PARSE_NO_RUN_CRC, &bad), 0);

    struct ram r;
    ram_open(&r);
    struct mem_populate *p;
    errors = 0;
    if (mem_populate_start(&p, r.host, RAM, r.fd, fd, &bad, on_error, NULL) < 0) {
        ram_close(&r);
        snap_image_free(&bad);
        munmap(bad_map, img_len);
        close(fd);
        skip();
    }
    assert_int_equal(mem_populate_wait(p, 30000), -EIO);
    assert_int_equal(errors, 1);
    char want[100];
    snprintf(want, sizeof(want), "run 3 at file offset %llu: checksum mismatch", (unsigned long long)r3.file_offset);
    if (!strstr(error_msg, want))
        fail_msg("'%s' does not say '%s'", error_msg, want);
    /* Every page of the damaged run reads as zero (ordinary faults now): no byte of it was
     * copied, since its CRC is checked before its first page goes in. */
    static const uint8_t zero[PG];
    for (uint64_t i = 0; i < r3.npages; i++)
        if (memcmp(r.host + r3.ram_offset + i * PG, zero, PG))
            fail_msg("page %llu of the damaged run reached RAM", (unsigned long long)i);
    mem_populate_stop(p);
    ram_close(&r);
    snap_image_free(&bad);
    munmap(bad_map, img_len);
    close(fd);
}

/* Runs of the writer's full 512 pages (RAM with no zero page): the fill copies each in
 * chunks from the one private copy it read and checked, every chunk from its own place. */
static void full_runs_fill_in_chunks(void **state)
{
    (void)state;
    uint8_t *full = malloc(RAM);
    for (uint64_t i = 0; i < RAM / 8; i++)
        memcpy(full + i * 8, &(uint64_t){word(i, 3)}, 8);
    int fd = memfd_create("full-image", MFD_CLOEXEC);
    struct snap_writer w;
    struct snap_header h = {.ram_size = RAM, .nranges = 1};
    h.ranges[0].size = RAM;
    snap_host_cpu(h.cpu_vendor, &h.cpu_signature);
    struct snap_config c = {.mem_size = RAM, .nvcpus = 1};
    assert_int_equal(snap_writer_open(&w, fd, &h), 0);
    assert_int_equal(snap_write_section(&w, SNAP_SEC_CONFIG, &c, sizeof(c)), 0);
    assert_int_equal(snap_write_memory(&w, full, RAM, -1), 0);
    assert_int_equal(snap_writer_finish(&w), 0);
    struct snap_image im;
    assert_int_equal(snap_parse_fd(fd, w.bytes, NULL, SNAP_PARSE_NO_RUN_CRC, &im), 0);
    assert_int_equal(im.runs[0].npages, SNAP_RUN_MAX_PAGES);
    struct ram r;
    ram_open(&r);
    struct mem_populate *p;
    if (mem_populate_start(&p, r.host, RAM, r.fd, fd, &im, NULL, NULL) < 0) {
        ram_close(&r);
        snap_image_free(&im);
        close(fd);
        free(full);
        skip();
    }
    snap_image_free(&im); /* mem_populate keeps its own copy of the table */
    assert_int_equal(mem_populate_wait(p, 30000), 0);
    assert_memory_equal(r.host, full, RAM);
    mem_populate_stop(p);
    ram_close(&r);
    close(fd);
    free(full);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(fills_under_faults),
        cmocka_unit_test(discarded_page_stays_out),
        cmocka_unit_test(damaged_run_never_reaches_ram),
        cmocka_unit_test(full_runs_fill_in_chunks),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
