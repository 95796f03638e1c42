/* The snapshot format (src/proto/snapshot.c): a writer/reader round trip through a memfd, and
 * every damage the reader must refuse: truncation at many points, a flipped byte in the
 * header, in each section and in the memory, a wrong version, a foreign CPU vendor; the
 * config checks the monitor and xenod share, and snapshot_inspect() on real files. */
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
#include <sys/mman.h>
#include <unistd.h>

#include "lib/err.h"
#include "proto/snapshot.h"
#include "vmm/core/device.h"

#define RAM (64 * SNAP_PAGE)

static uint8_t *ram;
static uint8_t *img_buf;
static size_t img_len;
static uint64_t pages_written;
static struct snap_config cfg;
static const uint8_t vcpu_state[100] = {0, 0, 0, 0, 1, 2, 3}; /* begins with the id, 0 */
static const char xml[] = "<domain><name>snap</name></domain>";

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
    memset(&cfg, 0, sizeof(cfg));
    cfg.mem_size = RAM;
    cfg.nvcpus = 1;
    snprintf(cfg.kernel, sizeof(cfg.kernel), "counter.elf");
    assert_int_equal(snap_writer_open(&w, fd, &h), 0);
    assert_int_equal(snap_write_section(&w, SNAP_SEC_CONFIG, &cfg, sizeof(cfg)), 0);
    assert_int_equal(snap_write_section(&w, SNAP_SEC_VCPU, vcpu_state, sizeof(vcpu_state)), 0);
    assert_int_equal(snap_write_section(&w, SNAP_SEC_DOMAIN_XML, xml, sizeof(xml) - 1), 0);
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

/* -1 with the reader's message in err, or 0. */
static int parse(const uint8_t *b, size_t len, char *err, size_t errsz)
{
    struct snap_image img;
    int r = snap_parse(b, len, vendor, 0, &img);
    /* Then what every reader does next with the state sections: its device list (empty here:
     * the image holds no device) refuses a device section it does not know, which is where a
     * damaged section type that lands in the device range is caught. */
    static const struct dev_list no_devices;
    if (r == 0)
        r = dev_list_check(&no_devices, img.sec, img.nsections, EINVAL);
    snprintf(err, errsz, "%s", r < 0 ? err_msg() : "");
    snap_image_free(&img);
    assert_true(r == 0 || r == -EINVAL);
    return r < 0 ? -1 : 0;
}

static void round_trip(void **state)
{
    (void)state;
    struct snap_image img;
    char err[256] = "";
    uint32_t sig;
    snap_host_cpu(vendor, &sig);
    assert_int_equal(parse(img_buf, img_len, err, sizeof(err)), 0);
    assert_int_equal(snap_parse(img_buf, img_len, vendor, 0, &img), 0);
    assert_int_equal(pages_written, 3);
    assert_true(img_len < 8 * SNAP_PAGE); /* sparse: 3 pages of data, not 64 */
    const struct snap_section *s = snap_find(&img, SNAP_SEC_CONFIG, 0);
    assert_non_null(s);
    assert_int_equal(s->length, sizeof(cfg));
    assert_memory_equal(s->data, &cfg, sizeof(cfg));
    struct snap_config back_cfg;
    assert_int_equal(snap_check_config(&img, &back_cfg), 0);
    assert_int_equal(back_cfg.nvcpus, 1);
    s = snap_find(&img, SNAP_SEC_DOMAIN_XML, 0);
    assert_non_null(s);
    assert_int_equal(s->length, sizeof(xml) - 1);
    assert_memory_equal(s->data, xml, sizeof(xml) - 1);
    s = snap_find(&img, SNAP_SEC_VCPU, 0);
    assert_non_null(s);
    assert_memory_equal(s->data, vcpu_state, sizeof(vcpu_state));
    assert_non_null(snap_find(&img, SNAP_SEC_CLOCK, 0));
    assert_null(snap_find(&img, SNAP_SEC_VCPU, 1));
    assert_int_equal(img.nruns, 2);
    for (uint64_t i = 0; i < img.nruns; i++)
        assert_int_equal(img.runs[i].file_offset % SNAP_PAGE, 0);
    uint8_t *back = calloc(1, RAM);
    assert_int_equal(snap_load_memory(&img, back), 0);
    assert_memory_equal(back, ram, RAM);
    free(back);
    snap_image_free(&img);
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
    assert_int_equal(snap_parse(img_buf, img_len, vendor, 0, &img), 0);
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
            int in_payload = 0;
            for (unsigned k = 0; k < img.nsections; k++)
                if (i >= img.sec[k].offset &&
                    i < img.sec[k].offset + sizeof(struct snap_section_hdr) + img.sec[k].length)
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
    snap_image_free(&img);
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

/* An image with the given config, vcpu sections (ids 0..nvcpu_secs-1, or `bad_id` for the
 * last), domain-xml sections and memory target; *len its size. */
static uint8_t *make_image(const struct snap_config *c, unsigned nvcpu_secs, int bad_id, unsigned nxml,
                           const struct snap_mem_target *mt, size_t *len)
{
    uint8_t *page = calloc(1, RAM);
    page[5] = 1;
    int fd = memfd_create("snap", 0);
    assert_true(fd >= 0);
    struct snap_writer w;
    struct snap_header h = {0};
    snap_host_cpu(h.cpu_vendor, &h.cpu_signature);
    h.ram_size = RAM;
    h.nranges = 1;
    h.ranges[0].size = RAM;
    assert_int_equal(snap_writer_open(&w, fd, &h), 0);
    assert_int_equal(snap_write_section(&w, SNAP_SEC_CONFIG, c, sizeof(*c)), 0);
    for (unsigned i = 0; i < nvcpu_secs; i++) {
        uint32_t id = bad_id >= 0 && i == nvcpu_secs - 1 ? (uint32_t)bad_id : i;
        assert_int_equal(snap_write_section(&w, SNAP_SEC_VCPU, &id, sizeof(id)), 0);
    }
    for (unsigned i = 0; i < nxml; i++)
        assert_int_equal(snap_write_section(&w, SNAP_SEC_DOMAIN_XML, xml, sizeof(xml) - 1), 0);
    if (mt)
        assert_int_equal(snap_write_section(&w, SNAP_SEC_MEM_TARGET, mt, sizeof(*mt)), 0);
    assert_int_equal(snap_write_memory(&w, page, RAM, -1), 0);
    assert_int_equal(snap_writer_finish(&w), 0);
    *len = (size_t)w.bytes;
    uint8_t *buf = malloc(*len);
    assert_int_equal(pread(fd, buf, *len, 0), (ssize_t)*len);
    close(fd);
    free(page);
    return buf;
}

/* snap_check_config on an image: 0, or -1 with the message in err. */
static int check_config(const uint8_t *buf, size_t len, char *err, size_t errsz)
{
    struct snap_image img;
    struct snap_config c;
    assert_int_equal(snap_parse(buf, len, vendor, 0, &img), 0);
    int r = snap_check_config(&img, &c);
    snprintf(err, errsz, "%s", r < 0 ? err_msg() : "");
    snap_image_free(&img);
    return r < 0 ? -1 : 0;
}

static void config_checks(void **state)
{
    (void)state;
    uint32_t sig;
    snap_host_cpu(vendor, &sig);
    char err[1024];
    size_t len;
    struct snap_config c = {.mem_size = RAM, .nvcpus = 2};
    struct snap_mem_target mt = {.target_bytes = RAM / 2, .deadline_ms = 500};
    uint8_t *b = make_image(&c, 2, -1, 1, &mt, &len);
    assert_int_equal(check_config(b, len, err, sizeof(err)), 0);
    free(b);

    struct {
        struct snap_config c;
        unsigned nvcpu_secs;
        int bad_id;
        unsigned nxml;
        struct snap_mem_target mt;
        const char *expect;
    } bad[] = {
        {{.mem_size = RAM, .nvcpus = 2}, 1, -1, 0, {0}, "no vcpu section for vCPU 1"},
        {{.mem_size = RAM, .nvcpus = 1}, 2, -1, 0, {0}, "more vcpu sections"},
        {{.mem_size = RAM, .nvcpus = 2}, 2, 0, 0, {0}, "not vCPU 1"},
        {{.mem_size = RAM, .nvcpus = 0}, 0, -1, 0, {0}, "config section at offset 104 is inconsistent"},
        {{.mem_size = RAM, .nvcpus = SNAP_MAX_VCPUS + 1}, 1, -1, 0, {0}, "vCPUs 65"},
        {{.mem_size = 2 * RAM, .nvcpus = 1}, 1, -1, 0, {0}, "memory 524288 bytes, RAM 262144"},
        {{.mem_size = RAM, .nvcpus = 1}, 1, -1, 2, {0}, "domain-xml section at offset"},
        {{.mem_size = RAM, .nvcpus = 1}, 1, -1, 0, {.target_bytes = 2 * RAM}, "mem-target section at offset"},
        {{.mem_size = RAM, .nvcpus = 1}, 1, -1, 0, {.target_bytes = 100}, "mem-target section at offset"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        memset(bad[i].c.kernel, 0, sizeof(bad[i].c.kernel));
        b = make_image(&bad[i].c, bad[i].nvcpu_secs, bad[i].bad_id, bad[i].nxml,
                       bad[i].mt.target_bytes ? &bad[i].mt : NULL, &len);
        assert_int_equal(check_config(b, len, err, sizeof(err)), -1);
        if (!strstr(err, bad[i].expect))
            fail_msg("case %zu: '%s' does not say '%s'", i, err, bad[i].expect);
        free(b);
    }
    /* A kernel path without its NUL. */
    c = (struct snap_config){.mem_size = RAM, .nvcpus = 1};
    memset(c.kernel, 'k', sizeof(c.kernel));
    b = make_image(&c, 1, -1, 0, NULL, &len);
    assert_int_equal(check_config(b, len, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "strings terminated: no"));
    free(b);
}

static char tmp_path[64];

static void write_tmp(const uint8_t *buf, size_t len)
{
    snprintf(tmp_path, sizeof(tmp_path), "/tmp/test_snapshot.XXXXXX");
    int fd = mkstemp(tmp_path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, buf, len), (ssize_t)len);
    close(fd);
}

static void inspect(void **state)
{
    (void)state;
    struct snap_info info;
    char *x = (char *)1;
    size_t xl = 99;
    write_tmp(img_buf, img_len);
    assert_int_equal(snapshot_inspect(tmp_path, &info, &x, &xl), 0);
    assert_int_equal(info.mem_bytes, RAM);
    assert_int_equal(info.nvcpus, 1);
    assert_int_equal(info.pages, 3);
    assert_int_equal(info.file_size, img_len);
    assert_non_null(x);
    assert_int_equal(xl, sizeof(xml) - 1);
    assert_string_equal(x, xml);
    free(x);
    assert_int_equal(snapshot_inspect(tmp_path, &info, NULL, NULL), 0); /* the XML is optional to ask for */

    /* A flipped byte in the memory: the error names the file, the run and its offset. */
    struct snap_image img;
    assert_int_equal(snap_parse(img_buf, img_len, NULL, 0, &img), 0);
    uint64_t run_off = img.runs[0].file_offset;
    snap_image_free(&img);
    uint8_t *copy = malloc(img_len);
    memcpy(copy, img_buf, img_len);
    copy[run_off + 100] ^= 1;
    unlink(tmp_path);
    write_tmp(copy, img_len);
    x = (char *)1;
    assert_int_equal(snapshot_inspect(tmp_path, &info, &x, &xl), -EINVAL);
    assert_null(x);
    assert_int_equal(xl, 0);
    char want[200];
    snprintf(want, sizeof(want), "snapshot %s: memory section: run 0 at file offset %llu: checksum mismatch", tmp_path,
             (unsigned long long)run_off);
    if (!strstr(err_msg(), want))
        fail_msg("'%s' does not say '%s'", err_msg(), want);

    /* The same damage passes a parse that leaves run CRCs to later (the lazy restore), and
     * snap_run_check then catches it. */
    assert_int_equal(snap_parse(copy, img_len, vendor, SNAP_PARSE_NO_RUN_CRC, &img), 0);
    assert_int_equal(snap_run_check(&img, 0), -EINVAL);
    assert_non_null(strstr(err_msg(), "run 0 at file offset"));
    assert_int_equal(snap_run_check(&img, 1), 0);
    snap_image_free(&img);

    /* Truncated to less than a header; then a file that is not there. */
    unlink(tmp_path);
    write_tmp(img_buf, 50);
    assert_int_equal(snapshot_inspect(tmp_path, &info, &x, &xl), -EINVAL);
    snprintf(want, sizeof(want), "snapshot %s: truncated header: 50 bytes", tmp_path);
    if (!strstr(err_msg(), want))
        fail_msg("'%s' does not say '%s'", err_msg(), want);
    unlink(tmp_path);
    assert_int_equal(snapshot_inspect(tmp_path, &info, &x, &xl), -ENOENT);
    assert_non_null(strstr(err_msg(), tmp_path));
    free(copy);

    /* A file without a domain-xml section: NULL and 0. */
    struct snap_config c = {.mem_size = RAM, .nvcpus = 1};
    size_t len;
    uint8_t *b = make_image(&c, 1, -1, 0, NULL, &len);
    write_tmp(b, len);
    x = (char *)1;
    xl = 99;
    assert_int_equal(snapshot_inspect(tmp_path, &info, &x, &xl), 0);
    assert_null(x);
    assert_int_equal(xl, 0);
    assert_int_equal(info.pages, 1);
    unlink(tmp_path);
    free(b);
}

/* The reader keeps what it checked: a file truncated after it was validated makes a later
 * read of page data fail with an error (a mapping would have been a SIGBUS killing xenod or
 * the monitor), and a run table rewritten in the file after validation is never used. */
static void file_changed_after_load(void **state)
{
    (void)state;
    uint32_t sig;
    snap_host_cpu(vendor, &sig);
    write_tmp(img_buf, img_len);
    struct snap_file *f = malloc(sizeof(*f));
    assert_int_equal(snap_file_load(f, tmp_path, SNAP_PARSE_NO_RUN_CRC), 0);
    const struct snap_section *mem = snap_find(&f->img, SNAP_SEC_MEMORY, 0);
    assert_non_null(mem);
    uint64_t table = mem->offset + sizeof(struct snap_section_hdr) + 8; /* run 0 */
    struct snap_mem_run run0 = f->img.runs[0];

    /* Run 0 now claims RAM far outside the guest's, and its data elsewhere: used, it would
     * write out of bounds. The copy checked at load is what counts. */
    int fd = open(tmp_path, O_WRONLY);
    assert_true(fd >= 0);
    struct snap_mem_run evil = {.ram_offset = 1ull << 40, .npages = 1ull << 20, .file_offset = 0};
    assert_int_equal(pwrite(fd, &evil, sizeof(evil), (off_t)table), (ssize_t)sizeof(evil));
    uint8_t *back = calloc(1, RAM);
    assert_int_equal(snap_load_memory(&f->img, back), 0);
    assert_memory_equal(back, ram, RAM);
    assert_memory_equal(&f->img.runs[0], &run0, sizeof(run0));

    /* Truncated to the header: every later read fails cleanly and says why. */
    assert_int_equal(ftruncate(fd, SNAP_HEADER_SIZE), 0);
    close(fd);
    memset(back, 0, RAM);
    assert_int_equal(snap_load_memory(&f->img, back), -EINVAL);
    if (!strstr(err_msg(), "run 0") || !strstr(err_msg(), "shrank"))
        fail_msg("'%s' does not name the run and the shrunk file", err_msg());
    assert_int_equal(snap_run_check(&f->img, 1), -EINVAL);
    /* The sections were copied at load: still there, still what was checked. */
    const struct snap_section *s = snap_find(&f->img, SNAP_SEC_DOMAIN_XML, 0);
    assert_non_null(s);
    assert_memory_equal(s->data, xml, sizeof(xml) - 1);
    snap_file_close(f);
    free(f);
    free(back);
    unlink(tmp_path);
}

/* RAM in a memfd: holes (never touched, or punched by the balloon) are skipped extent by
 * extent; data pages that are all zero are left out too. */
static void memfd_holes(void **state)
{
    (void)state;
    const uint64_t size = 256ULL << 20;
    int mfd = memfd_create("ram", 0);
    assert_true(mfd >= 0);
    assert_int_equal(ftruncate(mfd, (off_t)size), 0);
    uint8_t *m = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, mfd, 0);
    assert_true(m != MAP_FAILED);
    uint64_t data_pages[] = {0, 5, 6, 7, 60000, 65535};
    for (size_t i = 0; i < sizeof(data_pages) / sizeof(data_pages[0]); i++)
        m[data_pages[i] * SNAP_PAGE + 9] = (uint8_t)(i + 1);
    m[1000 * SNAP_PAGE] = 0; /* touched, stays zero: data in the memfd, left out as zero */
    m[7 * SNAP_PAGE + 9] = 0;
    m[6 * SNAP_PAGE + 10] = 1;
    assert_int_equal(fallocate(mfd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 6 * SNAP_PAGE, SNAP_PAGE), 0);
    int fd = memfd_create("snap", 0);
    struct snap_writer w;
    struct snap_header h = {0};
    h.ram_size = size;
    h.nranges = 1;
    h.ranges[0].size = size;
    struct snap_config c = {.mem_size = size, .nvcpus = 1};
    assert_int_equal(snap_writer_open(&w, fd, &h), 0);
    assert_int_equal(snap_write_section(&w, SNAP_SEC_CONFIG, &c, sizeof(c)), 0);
    assert_int_equal(snap_write_memory(&w, m, size, mfd), 0);
    assert_int_equal(snap_writer_finish(&w), 0);
    assert_int_equal(w.pages, 4); /* 0, 5, 60000, 65535: 6 punched, 7 and 1000 zero */
    uint8_t *buf = malloc(w.bytes);
    assert_int_equal(pread(fd, buf, w.bytes, 0), (ssize_t)w.bytes);
    struct snap_image img;
    assert_int_equal(snap_parse(buf, w.bytes, NULL, 0, &img), 0);
    uint8_t *back = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    assert_int_equal(snap_load_memory(&img, back), 0);
    assert_memory_equal(back, m, size);
    snap_image_free(&img);
    munmap(back, size);
    free(buf);
    close(fd);
    munmap(m, size);
    close(mfd);
}

static void crc_known_value(void **state)
{
    (void)state;
    assert_int_equal(snap_crc32(0, "123456789", 9), 0xcbf43926u);
    /* Slicing-by-8 against the bytewise definition, at every alignment and tail length. */
    uint8_t buf[300];
    for (size_t i = 0; i < sizeof(buf); i++)
        buf[i] = (uint8_t)(i * 7 + 3);
    for (size_t start = 0; start < 9; start++)
        for (size_t len = 0; len < 40; len++) {
            uint32_t slow = 0xffffffffu;
            for (size_t k = 0; k < len; k++) {
                slow ^= buf[start + k];
                for (int b = 0; b < 8; b++)
                    slow = slow & 1 ? 0xedb88320u ^ (slow >> 1) : slow >> 1;
            }
            assert_int_equal(snap_crc32(0, buf + start, len), ~slow);
        }
    /* Chained: crc(a||b) = crc(crc(a), b). */
    assert_int_equal(snap_crc32(snap_crc32(0, buf, 13), buf + 13, 200), snap_crc32(0, buf, 213));
}

/* A file with n disk sections (each len bytes of *d), written as version `version`; its
 * config checked. 0, or -EINVAL with the message in err_msg(). */
static int disks_file(const struct snap_disk *d, unsigned n, size_t len, uint32_t version)
{
    int fd = memfd_create("snapdisk", 0);
    assert_true(fd >= 0);
    struct snap_writer w;
    struct snap_header h = {0};
    snap_host_cpu(h.cpu_vendor, &h.cpu_signature);
    h.ram_size = RAM;
    h.nranges = 1;
    h.ranges[0].size = RAM;
    struct snap_config c = {.mem_size = RAM, .nvcpus = 1};
    assert_int_equal(snap_writer_open(&w, fd, &h), 0);
    assert_int_equal(snap_write_section(&w, SNAP_SEC_CONFIG, &c, sizeof(c)), 0);
    assert_int_equal(snap_write_section(&w, SNAP_SEC_VCPU, vcpu_state, sizeof(vcpu_state)), 0);
    for (unsigned i = 0; i < n; i++)
        assert_int_equal(snap_write_section(&w, SNAP_SEC_DISK, d, len), 0);
    assert_int_equal(snap_write_memory(&w, ram, RAM, -1), 0);
    assert_int_equal(snap_writer_finish(&w), 0);
    size_t flen = (size_t)w.bytes;
    uint8_t *b = malloc(flen);
    assert_int_equal(pread(fd, b, flen, 0), (ssize_t)flen);
    close(fd);
    struct snap_header *fh = (struct snap_header *)b;
    assert_int_equal(fh->version, SNAP_VERSION);
    fh->version = version;
    fh->crc = snap_crc32(0, fh, offsetof(struct snap_header, crc));
    struct snap_image img;
    struct snap_config back;
    int r = snap_parse(b, flen, vendor, 0, &img);
    if (r == 0) {
        r = snap_check_config(&img, &back);
        snap_image_free(&img);
    }
    free(b);
    return r;
}

/* Version 2's disk section: sane records pass (and version-1 files without one still do);
 * a record of the wrong size, a damaged one, one in a version-1 file, too many: refused. */
static void disk_sections(void **state)
{
    (void)state;
    uint32_t sig;
    snap_host_cpu(vendor, &sig);
    struct snap_disk d = {.version = SNAP_DISK_VERSION, .sectors = 2048, .size = 1 << 20, .ino = 12};
    snprintf(d.image, sizeof(d.image), "web/vda.img");
    assert_int_equal(sizeof(d), 256);
    assert_int_equal(disks_file(&d, 1, sizeof(d), 2), 0);
    assert_int_equal(disks_file(&d, 0, sizeof(d), 1), 0);
    assert_int_equal(disks_file(&d, SNAP_MAX_DISKS, sizeof(d), 2), 0);
    assert_int_equal(disks_file(&d, SNAP_MAX_DISKS + 1, sizeof(d), 2), -EINVAL);
    assert_non_null(strstr(err_msg(), "more disks than a domain may have"));
    assert_int_equal(disks_file(&d, 1, sizeof(d), 1), -EINVAL);
    assert_non_null(strstr(err_msg(), "disk section at offset"));
    assert_non_null(strstr(err_msg(), "not in a version-1 file"));
    assert_int_equal(disks_file(&d, 1, sizeof(d) - 8, 2), -EINVAL);
    assert_non_null(strstr(err_msg(), "not the size of a disk record"));
    struct snap_disk bad = d;
    bad.image[3] = '\x1b';
    assert_int_equal(disks_file(&bad, 1, sizeof(bad), 2), -EINVAL);
    assert_non_null(strstr(err_msg(), "control character"));
    bad = d;
    memset(bad.image, 'x', sizeof(bad.image));
    assert_int_equal(disks_file(&bad, 1, sizeof(bad), 2), -EINVAL);
    bad = d;
    bad.image[0] = 0;
    assert_int_equal(disks_file(&bad, 1, sizeof(bad), 2), -EINVAL);
    bad = d;
    bad.flags = 2;
    assert_int_equal(disks_file(&bad, 1, sizeof(bad), 2), -EINVAL);
    /* Versions past this monitor's are refused by the header. */
    assert_int_equal(disks_file(&d, 1, sizeof(d), SNAP_VERSION + 1), -EINVAL);
    assert_non_null(strstr(err_msg(), "this monitor reads versions 1 to 2"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(crc_known_value),
        cmocka_unit_test(config_checks),
        cmocka_unit_test(memfd_holes),
        cmocka_unit_test_setup_teardown(inspect, setup, teardown),
        cmocka_unit_test_setup_teardown(file_changed_after_load, setup, teardown),
        cmocka_unit_test_setup_teardown(round_trip, setup, teardown),
        cmocka_unit_test_setup_teardown(truncated, setup, teardown),
        cmocka_unit_test_setup_teardown(flipped_bytes, setup, teardown),
        cmocka_unit_test_setup_teardown(wrong_version_and_vendor, setup, teardown),
        cmocka_unit_test_setup_teardown(disk_sections, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
