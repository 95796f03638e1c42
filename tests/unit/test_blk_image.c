/* Disk images (src/blk/image*, overlay*): names confined to the image directory, raw and
 * overlay images against a flat model of the disk under random reads, writes, discards,
 * flushes and reopens, one base shared by two overlays, a changed base refused, commit, the
 * locks, a crash (a child killed between flushes) and crafted headers and tables refused. On
 * real files in a temporary directory. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "blk/image.h"
#include "blk/image_dir.h"
#include "blk/overlay_format.h"
#include "lib/err.h"

static char dir[] = "/tmp/test_blk_image.XXXXXX";
static int dirfd_;

static uint64_t rng = 88172645463325252ull;
static uint64_t next_rand(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

static int setup(void **state)
{
    (void)state;
    if (!mkdtemp(dir))
        return -1;
    dirfd_ = image_dir_open(dir);
    return dirfd_ < 0 ? -1 : 0;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    close(dirfd_);
    return system(cmd) == 0 ? 0 : -1;
}

static void write_file(const char *name, const void *data, size_t len)
{
    int fd = openat(dirfd_, name, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    assert_true(fd >= 0);
    assert_int_equal(pwrite(fd, data, len, 0), (ssize_t)len);
    close(fd);
}

static void fill_random(uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        p[i] = (uint8_t)next_rand();
}

/* --- names and the directory --- */

static void names_refused(void **state)
{
    (void)state;
    char longname[IMAGE_NAME_MAX + 2];
    memset(longname, 'a', sizeof(longname) - 1);
    longname[sizeof(longname) - 1] = '\0';
    const char *bad[] = {"",  "/etc/passwd", "..",   "../x",      "a/../b", "a//b",     "a/",
                         ".", "./a",         "a\nb", "a\x1b[31m", "a\\b",   "\xc3\xa9", longname};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_int_equal(image_name_check(bad[i]), -EINVAL);
    assert_int_equal(image_name_check("debian.raw"), 0);
    assert_int_equal(image_name_check("alice/web-1.ovl"), 0);
    longname[IMAGE_NAME_MAX] = '\0';
    assert_int_equal(image_name_check(longname), 0);
}

static void escapes_refused(void **state)
{
    (void)state;
    write_file("inside.raw", "x", 1);
    assert_int_equal(symlinkat("/etc/passwd", dirfd_, "link.raw"), 0);
    assert_int_equal(symlinkat(".", dirfd_, "loop"), 0);
    assert_int_equal(mkdirat(dirfd_, "sub", 0700), 0);
    assert_int_equal(mkfifoat(dirfd_, "fifo.raw", 0600), 0);
    int (*const openers[])(int, const char *, const char *, int, mode_t) = {image_dir_openat,
                                                                            image_dir_openat_components};
    for (int i = 0; i < 2; i++) {
        int (*op)(int, const char *, const char *, int, mode_t) = openers[i];
        int fd = op(dirfd_, dir, "inside.raw", O_RDONLY, 0);
        assert_true(fd >= 0);
        close(fd);
        assert_int_equal(op(dirfd_, dir, "link.raw", O_RDONLY, 0), -ELOOP);
        assert_true(op(dirfd_, dir, "loop/inside.raw", O_RDONLY, 0) < 0);
        assert_int_equal(op(dirfd_, dir, "sub", O_RDONLY, 0), -EINVAL);
        assert_int_equal(op(dirfd_, dir, "fifo.raw", O_RDONLY, 0), -EINVAL);
        assert_int_equal(op(dirfd_, dir, "../etc/passwd", O_RDONLY, 0), -EINVAL);
        assert_int_equal(op(dirfd_, dir, "link.raw", O_RDWR | O_CREAT, 0600), -ELOOP);
    }
    int fd = image_dir_openat_components(dirfd_, dir, "sub/new.raw", O_RDWR | O_CREAT | O_EXCL, 0600);
    assert_true(fd >= 0);
    close(fd);
    assert_int_equal(image_dir_openat(dirfd_, dir, "link.raw", O_RDONLY, 0), -ELOOP);
    assert_non_null(strstr(err_msg(), "link.raw"));
    assert_non_null(strstr(err_msg(), dir));
    assert_true(image_dir_openat(dirfd_, dir, "loop/inside.raw", O_RDONLY, 0) < 0);
    assert_int_equal(image_dir_openat(dirfd_, dir, "sub", O_RDONLY, 0), -EINVAL);
    assert_non_null(strstr(err_msg(), "not a regular file"));
    assert_int_equal(image_dir_openat(dirfd_, dir, "fifo.raw", O_RDONLY, 0), -EINVAL);
    assert_int_equal(image_dir_openat(dirfd_, dir, "../etc/passwd", O_RDONLY, 0), -EINVAL);
    assert_int_equal(image_dir_openat(dirfd_, dir, "/etc/passwd", O_RDONLY, 0), -EINVAL);
    assert_int_equal(image_dir_openat(dirfd_, dir, "nothere.raw", O_RDONLY, 0), -ENOENT);
    struct image *img;
    assert_int_equal(image_open(dirfd_, dir, "link.raw", true, &img), -ELOOP);
}

/* --- the model --- */

enum { VSIZE = 2 << 20, BASE_SIZE = (1 << 20) + 4608, OPS = 3000 };

/* Random operations on img, mirrored on model; a read compares. Reopens now and then (the
 * close flushes): what was written must still be there. */
static void random_ops(struct image **img, const char *name, uint8_t *model, uint64_t size)
{
    static uint8_t buf[200000], got[200000];
    for (int op = 0; op < OPS; op++) {
        uint64_t r = next_rand(), len = next_rand() % (r % 4 == 0 ? sizeof(buf) : 9000) + 1;
        uint64_t off = next_rand() % size;
        if (r % 3 == 0) /* sector-aligned, as a guest's requests are */
            off &= ~511ull, len = (len + 511) & ~511ull;
        if (len > size - off)
            len = size - off;
        switch (r % 10) {
        case 0:
        case 1:
        case 2:
        case 3:
            fill_random(buf, len);
            assert_int_equal(image_pwrite(*img, buf, len, off), 0);
            memcpy(model + off, buf, len);
            break;
        case 4:
        case 5:
        case 6:
            assert_int_equal(image_pread(*img, got, len, off), 0);
            assert_memory_equal(got, model + off, len);
            break;
        case 7:
            assert_int_equal((r & 16) ? image_discard(*img, off, len) : image_write_zeroes(*img, off, len), 0);
            memset(model + off, 0, len);
            break;
        case 8: assert_int_equal(image_flush(*img), 0); break;
        default:
            if (r % 7 == 0) {
                assert_int_equal(image_close(*img), 0);
                assert_int_equal(image_open(dirfd_, dir, name, false, img), 0);
            }
        }
    }
    /* Past the end: refused, nothing done. */
    assert_int_equal(image_pwrite(*img, buf, 1024, size - 512), -EINVAL);
    assert_int_equal(image_pread(*img, got, 1, size), -EINVAL);
    uint8_t *all = malloc(size);
    assert_int_equal(image_pread(*img, all, size, 0), 0);
    assert_memory_equal(all, model, size);
    free(all);
}

static void raw_matches_model(void **state)
{
    (void)state;
    assert_int_equal(image_create_raw(dirfd_, dir, "flat.raw", VSIZE), 0);
    assert_int_equal(image_create_raw(dirfd_, dir, "flat.raw", VSIZE), -EEXIST);
    struct image *img;
    assert_int_equal(image_open(dirfd_, dir, "flat.raw", false, &img), 0);
    assert_int_equal(image_size(img), VSIZE);
    uint8_t *model = calloc(1, VSIZE);
    random_ops(&img, "flat.raw", model, VSIZE);
    assert_int_equal(image_close(img), 0);
    free(model);
}

static uint8_t base_data[BASE_SIZE];

static void make_base(const char *name)
{
    fill_random(base_data, BASE_SIZE);
    write_file(name, base_data, BASE_SIZE);
}

static void overlay_matches_model(void **state)
{
    (void)state;
    make_base("base1.raw");
    assert_int_equal(image_create_overlay(dirfd_, dir, "o1.ovl", VSIZE, "base1.raw", 12), 0);
    struct image *img;
    assert_int_equal(image_open(dirfd_, dir, "o1.ovl", false, &img), 0);
    assert_int_equal(image_format(img), IMAGE_OVERLAY);
    assert_int_equal(image_size(img), VSIZE);
    uint8_t *model = calloc(1, VSIZE);
    memcpy(model, base_data, BASE_SIZE);
    random_ops(&img, "o1.ovl", model, VSIZE);
    assert_int_equal(image_close(img), 0);
    /* The base was never written. */
    uint8_t *b = malloc(BASE_SIZE);
    int fd = openat(dirfd_, "base1.raw", O_RDONLY);
    assert_int_equal(pread(fd, b, BASE_SIZE, 0), BASE_SIZE);
    close(fd);
    assert_memory_equal(b, base_data, BASE_SIZE);
    free(b);
    free(model);
}

static void overlay_without_base(void **state)
{
    (void)state;
    assert_int_equal(image_create_overlay(dirfd_, dir, "nobase.ovl", VSIZE, NULL, 16), 0);
    struct image *img;
    assert_int_equal(image_open(dirfd_, dir, "nobase.ovl", false, &img), 0);
    uint8_t *model = calloc(1, VSIZE);
    random_ops(&img, "nobase.ovl", model, VSIZE);
    assert_int_equal(image_close(img), 0);
    free(model);
}

static void shared_base_and_commit(void **state)
{
    (void)state;
    make_base("shared.raw");
    assert_int_equal(image_create_overlay(dirfd_, dir, "a.ovl", 0, "shared.raw", 16), 0);
    assert_int_equal(image_create_overlay(dirfd_, dir, "b.ovl", 0, "shared.raw", 16), 0);
    struct image *a, *b;
    assert_int_equal(image_open(dirfd_, dir, "a.ovl", false, &a), 0);
    assert_int_equal(image_open(dirfd_, dir, "b.ovl", false, &b), 0);
    assert_int_equal(image_size(a), (BASE_SIZE + 511) & ~511);
    /* One writer per image. */
    struct image *again;
    assert_int_equal(image_open(dirfd_, dir, "a.ovl", false, &again), -EBUSY);
    uint8_t pat[70000], got[70000];
    memset(pat, 0xab, sizeof(pat));
    assert_int_equal(image_pwrite(a, pat, sizeof(pat), 1000), 0);
    assert_int_equal(image_pread(b, got, sizeof(got), 1000), 0);
    assert_memory_equal(got, base_data + 1000, sizeof(got));
    assert_int_equal(image_discard(b, 0, 65536), 0);
    assert_int_equal(image_pread(a, got, 1000, 0), 0);
    assert_memory_equal(got, base_data, 1000);
    /* Commit needs the base exclusively: refused while overlays hold it. */
    uint64_t merged;
    assert_int_equal(image_close(b), 0);
    assert_int_equal(image_commit(dirfd_, dir, "a.ovl", &merged), -EBUSY);
    assert_int_equal(image_close(a), 0);
    assert_int_equal(image_commit(dirfd_, dir, "a.ovl", &merged), 0);
    assert_int_equal(merged, 2); /* 1000..71000: clusters 0 and 1 */
    uint8_t *model = malloc(BASE_SIZE);
    memcpy(model, base_data, BASE_SIZE);
    memcpy(model + 1000, pat, sizeof(pat));
    int fd = openat(dirfd_, "shared.raw", O_RDONLY);
    uint8_t *file = malloc(BASE_SIZE);
    assert_int_equal(pread(fd, file, BASE_SIZE, 0), BASE_SIZE);
    close(fd);
    assert_memory_equal(file, model, BASE_SIZE);
    /* The committed overlay goes on, empty, on the new base; the other is refused. */
    struct image_info info;
    assert_int_equal(image_info(dirfd_, dir, "a.ovl", &info), 0);
    assert_int_equal(info.allocated, 0);
    assert_int_equal(info.base_ok, 1);
    assert_int_equal(image_open(dirfd_, dir, "a.ovl", true, &a), 0);
    assert_int_equal(image_pread(a, file, BASE_SIZE, 0), 0);
    assert_memory_equal(file, model, BASE_SIZE);
    assert_int_equal(image_close(a), 0);
    assert_int_equal(image_open(dirfd_, dir, "b.ovl", false, &b), -ESTALE);
    assert_non_null(strstr(err_msg(), "shared.raw"));
    assert_int_equal(image_info(dirfd_, dir, "b.ovl", &info), 0);
    assert_int_equal(info.base_ok, 0);
    assert_int_equal(info.zero, 1);
    free(model);
    free(file);
}

static void read_only(void **state)
{
    (void)state;
    make_base("ro.raw");
    assert_int_equal(image_create_overlay(dirfd_, dir, "ro.ovl", 0, "ro.raw", 16), 0);
    struct image *img, *img2;
    assert_int_equal(image_open(dirfd_, dir, "ro.ovl", true, &img), 0);
    assert_int_equal(image_open(dirfd_, dir, "ro.ovl", true, &img2), 0); /* readers share */
    uint8_t b[512] = {0};
    assert_int_equal(image_pwrite(img, b, sizeof(b), 0), -EROFS);
    assert_int_equal(image_discard(img, 0, 512), -EROFS);
    image_close(img);
    image_close(img2);
    /* Names pick the format: a raw file is never read as an overlay, whatever it holds. */
    assert_int_equal(image_create_overlay(dirfd_, dir, "x.raw", 0, "ro.raw", 16), -EINVAL);
    assert_int_equal(image_create_raw(dirfd_, dir, "x.ovl", 4096), -EINVAL);
    assert_int_equal(image_create_overlay(dirfd_, dir, "y.ovl", 0, "ro.ovl", 16), -EINVAL);
    assert_int_equal(image_create_overlay(dirfd_, dir, "z.ovl", 4096, "ro.raw", 16), -EINVAL); /* smaller */
}

/* A writer killed between flushes: what was flushed is there, each cluster written since
 * holds its old or its new contents. */
static void crash_between_flushes(void **state)
{
    (void)state;
    assert_int_equal(image_create_overlay(dirfd_, dir, "crash.ovl", 1 << 20, NULL, 12), 0);
    uint8_t one[4096], two[4096], got[4096];
    memset(one, 1, sizeof(one));
    memset(two, 2, sizeof(two));
    pid_t pid = fork();
    if (pid == 0) {
        struct image *img;
        if (image_open(dirfd_, dir, "crash.ovl", false, &img) < 0)
            _exit(1);
        for (int i = 0; i < 64; i++)
            image_pwrite(img, one, sizeof(one), (uint64_t)i * 4096);
        if (image_flush(img) < 0)
            _exit(1);
        for (int i = 32; i < 128; i++)
            image_pwrite(img, two, sizeof(two), (uint64_t)i * 4096);
        image_discard(img, 0, 8 * 4096);
        _exit(0); /* no close: no flush */
    }
    int st;
    assert_int_equal(waitpid(pid, &st, 0), pid);
    assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    struct image *img;
    assert_int_equal(image_open(dirfd_, dir, "crash.ovl", false, &img), 0);
    static const uint8_t zero[4096];
    for (int i = 0; i < 256; i++) {
        assert_int_equal(image_pread(img, got, sizeof(got), (uint64_t)i * 4096), 0);
        if (i < 8)
            assert_true(!memcmp(got, one, 4096) || !memcmp(got, zero, 4096));
        else if (i < 32)
            assert_memory_equal(got, one, 4096);
        else if (i < 64)
            assert_true(!memcmp(got, one, 4096) || !memcmp(got, two, 4096));
        else if (i < 128)
            assert_true(!memcmp(got, zero, 4096) || !memcmp(got, two, 4096));
        else
            assert_memory_equal(got, zero, 4096);
    }
    image_close(img);
}

/* Discard and rewrite without flushes: freed slots wait for a flush, the 1025th forces one,
 * and the file never grows past N + 1024 slots. */
static void discard_rewrite_bounded(void **state)
{
    (void)state;
    enum { SIZE = 8 << 20, C = 4096 };
    assert_int_equal(image_create_overlay(dirfd_, dir, "churn.ovl", SIZE, NULL, 12), 0);
    struct image *img;
    assert_int_equal(image_open(dirfd_, dir, "churn.ovl", false, &img), 0);
    uint8_t *data = malloc(SIZE), *got = malloc(SIZE);
    for (int round = 0; round < 4; round++) {
        fill_random(data, SIZE);
        assert_int_equal(image_pwrite(img, data, SIZE, 0), 0);
        if (round < 3)
            assert_int_equal(image_discard(img, 0, SIZE), 0);
    }
    assert_int_equal(image_pread(img, got, SIZE, 0), 0);
    assert_memory_equal(got, data, SIZE);
    assert_int_equal(image_close(img), 0);
    struct stat st;
    assert_int_equal(fstatat(dirfd_, "churn.ovl", &st, 0), 0);
    uint64_t n = SIZE / C, data_offset = (4096 + n * 8 + C - 1) / C * C;
    assert_true((uint64_t)st.st_size <= data_offset + (n + OVL_SPARE_SLOTS) * C);
    assert_int_equal(image_open(dirfd_, dir, "churn.ovl", true, &img), 0);
    assert_int_equal(image_pread(img, got, SIZE, 0), 0);
    assert_memory_equal(got, data, SIZE);
    image_close(img);
    free(data);
    free(got);
}

/* --- hostile headers and tables --- */

static void patch(const char *name, uint64_t off, const void *bytes, size_t n)
{
    int fd = openat(dirfd_, name, O_WRONLY);
    assert_int_equal(pwrite(fd, bytes, n, (off_t)off), (ssize_t)n);
    close(fd);
}

static void expect_refused(const char *what, uint64_t off, const void *bytes, size_t n)
{
    unlinkat(dirfd_, "bad.ovl", 0);
    assert_int_equal(image_create_overlay(dirfd_, dir, "bad.ovl", VSIZE, "hb.raw", 12), 0);
    patch("bad.ovl", off, bytes, n);
    struct image *img;
    int rc = image_open(dirfd_, dir, "bad.ovl", false, &img);
    if (rc != -EINVAL)
        fail_msg("%s: open gave %d (%s)", what, rc, err_msg());
}

static void crafted_headers_refused(void **state)
{
    (void)state;
    make_base("hb.raw");
    uint32_t v32;
    uint64_t v64;
    expect_refused("magic", 0, "QFI\xfb", 4);
    v32 = 2, expect_refused("version", 8, &v32, 4);
    v32 = 40, expect_refused("cluster bits", 12, &v32, 4);
    v32 = 11, expect_refused("small clusters", 12, &v32, 4);
    v64 = 1000, expect_refused("odd size", 16, &v64, 8);
    v64 = 1ull << 50, expect_refused("huge size", 16, &v64, 8);
    v64 = 1ull << 39, expect_refused("size beyond the table", 16, &v64, 8);
    v64 = 0, expect_refused("table offset", 24, &v64, 8);
    v64 = 4096, expect_refused("data offset", 32, &v64, 8);
    expect_refused("base name escape", 66, "../etc/passwd", 13);
    expect_refused("base name control", 66, "h\n", 2);
    uint16_t len = 300;
    expect_refused("base name length", 64, &len, 2);
    expect_refused("reserved", 4000, "x", 1);
    /* Table entries: outside the data slots, misaligned, two clusters on one slot. */
    v64 = 1ull << 40, expect_refused("entry far away", 4096, &v64, 8);
    v64 = 8192 + 100, expect_refused("entry misaligned", 4096, &v64, 8);
    v64 = 4096, expect_refused("entry in the table", 4096, &v64, 8);
    uint64_t two[2] = {12288, 12288};
    expect_refused("shared slot", 4096, two, sizeof(two));
    /* A truncated table is refused before the table is allocated. */
    unlinkat(dirfd_, "bad.ovl", 0);
    assert_int_equal(image_create_overlay(dirfd_, dir, "bad.ovl", 1ull << 36, NULL, 12), 0);
    assert_int_equal(truncate(strcat(strcat(strcpy((char[128]){0}, dir), "/"), "bad.ovl"), 5000), 0);
    struct image *img;
    assert_int_equal(image_open(dirfd_, dir, "bad.ovl", false, &img), -EINVAL);
    assert_non_null(strstr(err_msg(), "truncated"));
}

/* Random bytes flipped in the header and table: refused or opened, and then every read
 * stays inside the files (ASan and the model of bounds say so) and a write works. */
static void flipped_bytes(void **state)
{
    (void)state;
    make_base("fb.raw");
    static uint8_t buf[1 << 20];
    for (int round = 0; round < 300; round++) {
        unlinkat(dirfd_, "flip.ovl", 0);
        assert_int_equal(image_create_overlay(dirfd_, dir, "flip.ovl", VSIZE, "fb.raw", 12), 0);
        struct image *img;
        assert_int_equal(image_open(dirfd_, dir, "flip.ovl", false, &img), 0);
        for (int i = 0; i < 20; i++) {
            fill_random(buf, 5000);
            image_pwrite(img, buf, 5000, next_rand() % ((1 << 20) - 5000));
        }
        assert_int_equal(image_close(img), 0);
        for (int i = 0; i < 4; i++) {
            uint64_t off = next_rand() % (round % 2 ? 4096 + 256 * 8 : 128);
            uint8_t byte = (uint8_t)next_rand();
            patch("flip.ovl", off, &byte, 1);
        }
        if (image_open(dirfd_, dir, "flip.ovl", false, &img) < 0)
            continue;
        uint64_t size = image_size(img);
        uint64_t n = size < sizeof(buf) ? size : sizeof(buf);
        assert_int_equal(image_pread(img, buf, n, size - n), 0);
        assert_int_equal(image_pwrite(img, buf, 4096 < n ? 4096 : n, 0), 0);
        image_close(img);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(names_refused),
        cmocka_unit_test(escapes_refused),
        cmocka_unit_test(raw_matches_model),
        cmocka_unit_test(overlay_matches_model),
        cmocka_unit_test(overlay_without_base),
        cmocka_unit_test(shared_base_and_commit),
        cmocka_unit_test(read_only),
        cmocka_unit_test(crash_between_flushes),
        cmocka_unit_test(discard_rewrite_bounded),
        cmocka_unit_test(crafted_headers_refused),
        cmocka_unit_test(flipped_bytes),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
