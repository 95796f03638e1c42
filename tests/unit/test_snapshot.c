/* The snapshot format (src/vmm/snapshot.c): a writer/reader round trip through a memfd, and
 * every damage the reader must refuse: truncation at many points, a flipped byte in the
 * header, in each section and in the memory, a wrong version, a foreign CPU vendor. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "vmm/snapshot.h"

#define RAM (64 * SNAP_PAGE)

static uint8_t *ram;
static uint8_t *img_buf;
static size_t img_len;
static uint64_t pages_written;
static const char cfg[] = "config payload";
static const uint8_t vcpu_state[100] = {1, 2, 3};

static void build_image(void)
{
    ram = calloc(1, RAM);
    /* Pages 3, 4 and 40 have data; the rest are zero and must not be written. */
    memset(ram + 3 * SNAP_PAGE, 0xab, 2 * SNAP_PAGE);
    ram[40 * SNAP_PAGE + 17] = 5;
    int fd = memfd_create("snap", 0);
    assert_true(fd >= 0);
    struct snap_writer w;
    struct snap_header h = {0};
    snap_host_cpu(h.cpu_vendor, &h.cpu_signature);
    h.ram_size = RAM;
    h.nranges = 1;
    h.ranges[0].size = RAM;
    assert_int_equal(snap_writer_open(&w, fd, &h), 0);
    assert_int_equal(snap_write_section(&w, SNAP_SEC_CONFIG, cfg, sizeof(cfg)), 0);
    assert_int_equal(snap_write_section(&w, SNAP_SEC_VCPU, vcpu_state, sizeof(vcpu_state)), 0);
    assert_int_equal(snap_write_memory(&w, ram, RAM, -1), 0);
    assert_int_equal(snap_write_section(&w, SNAP_SEC_CLOCK, "clk", 3), 0);
    assert_int_equal(snap_writer_finish(&w), 0);
    pages_written = w.pages;
    img_len = (size_t)w.bytes;
    img_buf = malloc(img_len);
    assert_int_equal(pread(fd, img_buf, img_len, 0), (ssize_t)img_len);
    close(fd);
}

static int setup(void **state)
{
    (void)state;
    build_image();
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    free(ram);
    free(img_buf);
    return 0;
}

static char vendor[12];

static int parse(const uint8_t *b, size_t len, char *err, size_t errsz)
{
    struct snap_image img;
    return snap_parse(b, len, vendor, &img, err, errsz);
}

static void round_trip(void **state)
{
    (void)state;
    struct snap_image img;
    char err[256] = "";
    uint32_t sig;
    snap_host_cpu(vendor, &sig);
    assert_int_equal(snap_parse(img_buf, img_len, vendor, &img, err, sizeof(err)), 0);
    assert_int_equal(pages_written, 3);
    assert_true(img_len < 8 * SNAP_PAGE); /* sparse: 3 pages of data, not 64 */
    const struct snap_section *s = snap_find(&img, SNAP_SEC_CONFIG, 0);
    assert_non_null(s);
    assert_int_equal(s->length, sizeof(cfg));
    assert_memory_equal(s->data, cfg, sizeof(cfg));
    s = snap_find(&img, SNAP_SEC_VCPU, 0);
    assert_non_null(s);
    assert_memory_equal(s->data, vcpu_state, sizeof(vcpu_state));
    assert_non_null(snap_find(&img, SNAP_SEC_CLOCK, 0));
    assert_null(snap_find(&img, SNAP_SEC_VCPU, 1));
    assert_int_equal(img.nruns, 2);
    for (uint64_t i = 0; i < img.nruns; i++)
        assert_int_equal(img.runs[i].file_offset % SNAP_PAGE, 0);
    uint8_t *back = calloc(1, RAM);
    snap_load_memory(&img, back);
    assert_memory_equal(back, ram, RAM);
    free(back);
}

static void truncated(void **state)
{
    (void)state;
    char err[256];
    uint32_t sig;
    snap_host_cpu(vendor, &sig);
    for (size_t len = 0; len < img_len; len += (len < 256 ? 1 : 97)) {
        uint8_t *copy = malloc(len ? len : 1); /* exactly len bytes: ASan catches reads past */
        memcpy(copy, img_buf, len);
        err[0] = 0;
        assert_int_equal(parse(copy, len, err, sizeof(err)), -1);
        assert_true(err[0] != 0);
        free(copy);
    }
}

static void flipped_bytes(void **state)
{
    (void)state;
    char err[256];
    uint32_t sig;
    snap_host_cpu(vendor, &sig);
    struct snap_image img;
    assert_int_equal(snap_parse(img_buf, img_len, vendor, &img, err, sizeof(err)), 0);
    /* Every byte up to the memory data (header, all section headers and payloads), then
     * bytes in each memory run. */
    uint64_t stop = img.runs[0].file_offset;
    uint8_t *copy = malloc(img_len);
    for (uint64_t i = 0; i < img_len; i += (i < stop ? 1 : 509)) {
        memcpy(copy, img_buf, img_len);
        copy[i] ^= 0x40;
        err[0] = 0;
        int r = parse(copy, img_len, err, sizeof(err));
        /* Bytes that change nothing: padding and the zero padding before the page data. */
        if (r == 0) {
            struct snap_image j;
            snap_parse(copy, img_len, vendor, &j, err, sizeof(err));
            int in_payload = 0;
            for (unsigned k = 0; k < img.nsections; k++)
                if (i >= img.sec[k].offset && i < img.sec[k].offset + sizeof(struct snap_section_hdr) + img.sec[k].length)
                    in_payload = 1;
            for (uint64_t k = 0; k < img.nruns; k++)
                if (i >= img.runs[k].file_offset && i < img.runs[k].file_offset + img.runs[k].npages * SNAP_PAGE)
                    in_payload = 1;
            if (i < SNAP_HEADER_SIZE && i != offsetof(struct snap_header, reserved) &&
                !(i >= offsetof(struct snap_header, reserved) && i < offsetof(struct snap_header, crc)))
                in_payload = 1;
            if (in_payload)
                fail_msg("flipped byte at offset %llu went unnoticed", (unsigned long long)i);
        } else {
            assert_true(err[0] != 0);
        }
    }
    free(copy);
}

static void wrong_version_and_vendor(void **state)
{
    (void)state;
    char err[256];
    uint32_t sig;
    snap_host_cpu(vendor, &sig);
    uint8_t *copy = malloc(img_len);
    memcpy(copy, img_buf, img_len);
    struct snap_header h;
    memcpy(&h, copy, sizeof(h));
    h.version = 99;
    h.crc = snap_crc32(0, &h, offsetof(struct snap_header, crc));
    memcpy(copy, &h, sizeof(h));
    assert_int_equal(parse(copy, img_len, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "version 99"));

    memcpy(&h, img_buf, sizeof(h));
    memcpy(h.cpu_vendor, memcmp(vendor, "GenuineIntel", 12) ? "GenuineIntel" : "AuthenticAMD", 12);
    h.crc = snap_crc32(0, &h, offsetof(struct snap_header, crc));
    memcpy(copy, &h, sizeof(h));
    assert_int_equal(parse(copy, img_len, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "CPU"));

    memcpy(copy, img_buf, img_len);
    copy[0] = 'Y';
    assert_int_equal(parse(copy, img_len, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "magic"));
    free(copy);
}

static void crc_known_value(void **state)
{
    (void)state;
    assert_int_equal(snap_crc32(0, "123456789", 9), 0xcbf43926u);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(crc_known_value),
        cmocka_unit_test_setup_teardown(round_trip, setup, teardown),
        cmocka_unit_test_setup_teardown(truncated, setup, teardown),
        cmocka_unit_test_setup_teardown(flipped_bytes, setup, teardown),
        cmocka_unit_test_setup_teardown(wrong_version_and_vendor, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
