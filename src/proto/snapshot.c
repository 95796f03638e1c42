#include "proto/snapshot.h"

#include <cpuid.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stddef.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/err.h"
#include "proto/cpu_features.h"

/* Slicing-by-8 tables: eight bytes per step, about 2 GB/s, since every saved page is
 * checksummed on save and on restore. */
static uint32_t crc_table[8][256];

static void crc_init(void)
{
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++)
            c = c & 1 ? 0xedb88320u ^ (c >> 1) : c >> 1;
        crc_table[0][i] = c;
    }
    for (uint32_t i = 0; i < 256; i++)
        for (int t = 1; t < 8; t++)
            crc_table[t][i] = (crc_table[t - 1][i] >> 8) ^ crc_table[0][crc_table[t - 1][i] & 0xff];
}

uint32_t snap_crc32(uint32_t crc, const void *buf, size_t len)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, crc_init);
    const uint8_t *p = buf;
    crc = ~crc;
    while (len >= 8) { /* little-endian hosts only (docs/snapshot-format.md) */
        uint32_t lo, hi;
        memcpy(&lo, p, 4);
        memcpy(&hi, p + 4, 4);
        lo ^= crc;
        crc = crc_table[7][lo & 0xff] ^ crc_table[6][(lo >> 8) & 0xff] ^ crc_table[5][(lo >> 16) & 0xff] ^
              crc_table[4][lo >> 24] ^ crc_table[3][hi & 0xff] ^ crc_table[2][(hi >> 8) & 0xff] ^
              crc_table[1][(hi >> 16) & 0xff] ^ crc_table[0][hi >> 24];
        p += 8;
        len -= 8;
    }
    while (len--)
        crc = crc_table[0][(crc ^ *p++) & 0xff] ^ (crc >> 8);
    return ~crc;
}

const char *snap_section_name(uint32_t type)
{
    static const char *names[SNAP_SEC_MAX] = {"end",    "config",     "vcpu",       "irqchip",       "pit",
                                              "clock",  "uart",       "i8042",      "power-request", "virtio",
                                              "memory", "domain-xml", "mem-target", "cpu-features"};
    if (type < SNAP_SEC_MAX)
        return names[type];
    if (type == SNAP_SEC_DISK)
        return "disk";
    if (type >= SNAP_SEC_DEVICE_FIRST && type <= SNAP_SEC_DEVICE_LAST) {
        static _Thread_local char dev[16];
        snprintf(dev, sizeof(dev), "device-%u", type);
        return dev;
    }
    return "unknown";
}

void snap_host_cpu(char vendor[12], uint32_t *signature)
{
    unsigned a, b, c, d;
    __cpuid(0, a, b, c, d);
    memcpy(vendor, &b, 4);
    memcpy(vendor + 4, &d, 4);
    memcpy(vendor + 8, &c, 4);
    __cpuid(1, a, b, c, d);
    *signature = a;
}

static int put(struct snap_writer *w, const void *buf, size_t len)
{
    const uint8_t *p = buf;
    while (len) {
        ssize_t n = pwrite(w->fd, p, len, (off_t)w->off);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return err_set(errno, "writing snapshot at offset %llu: %s", (unsigned long long)w->off, strerror(errno));
        }
        p += n;
        len -= (size_t)n;
        w->off += (uint64_t)n;
    }
    if (w->off > w->bytes)
        w->bytes = w->off;
    return 0;
}

static int pad_to(struct snap_writer *w, uint64_t align)
{
    static const uint8_t zero[SNAP_PAGE];
    uint64_t n = (align - w->off % align) % align;
    return n ? put(w, zero, (size_t)n) : 0;
}

int snap_writer_open(struct snap_writer *w, int fd, struct snap_header *h)
{
    *w = (struct snap_writer){.fd = fd};
    memcpy(h->magic, SNAP_MAGIC, 8);
    h->version = SNAP_VERSION;
    h->header_size = SNAP_HEADER_SIZE;
    h->page_size = SNAP_PAGE;
    h->crc = snap_crc32(0, h, offsetof(struct snap_header, crc));
    return put(w, h, sizeof(*h));
}

int snap_write_section(struct snap_writer *w, uint32_t type, const void *data, size_t len)
{
    struct snap_section_hdr s = {.type = type, .crc = snap_crc32(0, data, len), .length = len};
    s.next = w->off + sizeof(s) + ((len + 7) & ~(uint64_t)7);
    if (put(w, &s, sizeof(s)) < 0 || put(w, data, len) < 0)
        return -1;
    return pad_to(w, 8);
}

static int page_zero(const uint8_t *p)
{
    const uint64_t *q = (const uint64_t *)(const void *)p;
    for (size_t i = 0; i < SNAP_PAGE / 8; i++)
        if (q[i])
            return 0;
    return 1;
}

/* The next extent of the memfd at or after `off` that may hold data: [*data, *hole), both
 * `size` when there is none. Holes are skipped whole, so a 1 GiB guest that touched 100 MiB
 * costs a few lseeks per extent, not one per page. */
static void memfd_next_data(int memfd, uint64_t off, uint64_t size, uint64_t *data, uint64_t *hole)
{
    if (memfd < 0) {
        *data = off;
        *hole = size;
        return;
    }
    off_t d = lseek(memfd, (off_t)off, SEEK_DATA);
    if (d < 0 || (uint64_t)d >= size) { /* ENXIO: no data from here on */
        *data = *hole = size;
        return;
    }
    off_t h = lseek(memfd, d, SEEK_HOLE);
    *data = (uint64_t)d & ~(uint64_t)(SNAP_PAGE - 1);
    *hole = h < 0 || (uint64_t)h > size ? size : (uint64_t)h;
}

int snap_write_memory(struct snap_writer *w, const uint8_t *ram, uint64_t ram_size, int memfd)
{
    uint64_t npages = ram_size / SNAP_PAGE, nruns = 0, cap = 64;
    struct snap_mem_run *runs = malloc(cap * sizeof(*runs));
    uint64_t nd = 0, nh = 0; /* the current data extent: empty, so the first page looks it up */
    if (!runs)
        return err_set(ENOMEM, "snapshot: out of memory");
    for (uint64_t p = 0; p < npages; p++) {
        uint64_t off = p * SNAP_PAGE;
        if (off >= nh) {
            memfd_next_data(memfd, off, ram_size, &nd, &nh);
            if (nd >= ram_size)
                break;
            if (nd > off) {
                p = nd / SNAP_PAGE - 1; /* the loop's p++ lands on the extent */
                continue;
            }
        }
        if (page_zero(ram + off))
            continue;
        if (nruns && runs[nruns - 1].ram_offset + runs[nruns - 1].npages * SNAP_PAGE == off &&
            runs[nruns - 1].npages < SNAP_RUN_MAX_PAGES) {
            runs[nruns - 1].npages++;
            continue;
        }
        if (nruns == cap) {
            struct snap_mem_run *n = realloc(runs, 2 * cap * sizeof(*runs));
            if (!n) {
                free(runs);
                return err_set(ENOMEM, "snapshot: out of memory");
            }
            runs = n;
            cap *= 2;
        }
        runs[nruns++] = (struct snap_mem_run){.ram_offset = off, .npages = 1};
    }
    /* The table: a count, then the runs; the data from the next page boundary. */
    uint64_t table_len = 8 + nruns * sizeof(*runs);
    uint64_t data_off =
        (w->off + sizeof(struct snap_section_hdr) + table_len + SNAP_PAGE - 1) & ~(uint64_t)(SNAP_PAGE - 1);
    uint64_t o = data_off;
    for (uint64_t i = 0; i < nruns; i++) {
        runs[i].file_offset = o;
        runs[i].crc = snap_crc32(0, ram + runs[i].ram_offset, runs[i].npages * SNAP_PAGE);
        o += runs[i].npages * SNAP_PAGE;
        w->pages += runs[i].npages;
    }
    uint8_t *table = malloc(table_len);
    if (!table) {
        free(runs);
        return err_set(ENOMEM, "snapshot: out of memory");
    }
    memcpy(table, &nruns, 8);
    memcpy(table + 8, runs, nruns * sizeof(*runs));
    struct snap_section_hdr s = {
        .type = SNAP_SEC_MEMORY, .crc = snap_crc32(0, table, table_len), .length = table_len, .next = o};
    int r = put(w, &s, sizeof(s));
    if (!r)
        r = put(w, table, table_len);
    if (!r)
        r = pad_to(w, SNAP_PAGE);
    for (uint64_t i = 0; !r && i < nruns; i++)
        r = put(w, ram + runs[i].ram_offset, runs[i].npages * SNAP_PAGE);
    free(table);
    free(runs);
    return r;
}

int snap_writer_finish(struct snap_writer *w)
{
    struct snap_section_hdr s = {.type = SNAP_SEC_END, .crc = snap_crc32(0, NULL, 0), .next = w->off + sizeof(s)};
    return put(w, &s, sizeof(s));
}

/* Reads len bytes at off of the image into dst (private memory). Everything the reader
 * uses comes through here, once: the file may change under us, so a value is read, checked
 * and used from the same copy. */
static int src_read(const struct snap_src *src, uint64_t off, void *dst, uint64_t len)
{
    if (off > src->size || len > src->size - off)
        return err_set(EINVAL, "truncated: %llu bytes at offset %llu are past the end of the file (%llu bytes)",
                       (unsigned long long)len, (unsigned long long)off, (unsigned long long)src->size);
    if (src->base) {
        memcpy(dst, src->base + off, len);
        return 0;
    }
    uint8_t *p = dst;
    while (len) {
        ssize_t n = pread(src->fd, p, len, (off_t)off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return err_set(errno, "reading at offset %llu: %s", (unsigned long long)off, strerror(errno));
        if (n == 0) /* truncated since it was checked: an error, where a mapping would SIGBUS */
            return err_set(EINVAL, "the file shrank since it was checked: nothing at offset %llu (it had %llu bytes)",
                           (unsigned long long)off, (unsigned long long)src->size);
        p += n;
        len -= (uint64_t)n;
        off += (uint64_t)n;
    }
    return 0;
}

static int parse_header(const struct snap_src *src, const char *expect_vendor, struct snap_header *h)
{
    char magic[8];
    if (src->size < 8 || src_read(src, 0, magic, 8) < 0 || memcmp(magic, SNAP_MAGIC, 8) != 0)
        return err_set(EINVAL, "not a snapshot: bad magic at offset 0 (expected %s)", SNAP_MAGIC);
    if (src->size < SNAP_HEADER_SIZE)
        return err_set(EINVAL, "truncated header: %llu bytes, the header needs %u", (unsigned long long)src->size,
                       SNAP_HEADER_SIZE);
    if (src_read(src, 0, h, sizeof(*h)) < 0)
        return -EINVAL;
    if (h->version < SNAP_VERSION_MIN || h->version > SNAP_VERSION)
        return err_set(EINVAL, "header at offset 8: snapshot version %u, this monitor reads versions %u to %u",
                       h->version, SNAP_VERSION_MIN, SNAP_VERSION);
    if (h->crc != snap_crc32(0, h, offsetof(struct snap_header, crc)))
        return err_set(EINVAL, "header at offset 0: checksum mismatch (corrupted)");
    if (h->header_size != SNAP_HEADER_SIZE || h->page_size != SNAP_PAGE)
        return err_set(EINVAL, "header at offset 0: header size %u / page size %u, expected %u / %u", h->header_size,
                       h->page_size, SNAP_HEADER_SIZE, SNAP_PAGE);
    if (expect_vendor && memcmp(h->cpu_vendor, expect_vendor, 12) != 0)
        return err_set(EINVAL, "header at offset 0: saved on a %.12s CPU, this host is %.12s", h->cpu_vendor,
                       expect_vendor);
    if (h->nranges < 1 || h->nranges > SNAP_MAX_RANGES || !h->ram_size || h->ram_size % SNAP_PAGE)
        return err_set(EINVAL, "header at offset 0: bad RAM layout (%u ranges, %llu bytes)", h->nranges,
                       (unsigned long long)h->ram_size);
    uint64_t total = 0;
    for (unsigned i = 0; i < h->nranges; i++) {
        if (h->ranges[i].offset != total || h->ranges[i].size % SNAP_PAGE)
            return err_set(EINVAL, "header at offset 0: RAM range %u is inconsistent", i);
        total += h->ranges[i].size;
    }
    if (total != h->ram_size)
        return err_set(EINVAL, "header at offset 0: RAM ranges add up to %llu bytes, not %llu",
                       (unsigned long long)total, (unsigned long long)h->ram_size);
    return 0;
}

/* The memory section's table, in its private copy (s: the section header, pay: where the
 * payload starts, want: where the page data starts). */
static int parse_runs(struct snap_image *img, const struct snap_section_hdr *s, uint64_t off, uint64_t want,
                      unsigned flags)
{
    const struct snap_section *sec = &img->sec[img->nsections - 1];
    uint64_t n;
    if (img->runs)
        return err_set(EINVAL, "memory section at offset %llu: a second one", (unsigned long long)off);
    if (s->length < 8 || (memcpy(&n, sec->data, 8), n > img->hdr.ram_size / SNAP_PAGE) ||
        s->length != 8 + n * sizeof(struct snap_mem_run))
        return err_set(EINVAL, "memory section at offset %llu: table size does not match", (unsigned long long)off);
    img->runs = (const struct snap_mem_run *)(const void *)(sec->data + 8); /* malloc'd: aligned */
    img->nruns = n;
    uint64_t prev_end = 0, data = want, ram = img->hdr.ram_size; /* the runs' data back to back from `want` */
    for (uint64_t i = 0; i < n; i++) {
        const struct snap_mem_run *r = &img->runs[i];
        uint64_t len = r->npages * SNAP_PAGE;
        if (r->ram_offset % SNAP_PAGE || r->file_offset % SNAP_PAGE || !r->npages || r->npages > ram / SNAP_PAGE ||
            r->ram_offset < prev_end || r->ram_offset > ram - len || r->file_offset != data ||
            r->file_offset > s->next || len > s->next - r->file_offset)
            return err_set(EINVAL, "memory section at offset %llu: run %llu is out of bounds", (unsigned long long)off,
                           (unsigned long long)i);
        if (r->file_offset + len > img->src.size)
            return err_set(EINVAL,
                           "truncated: memory run %llu (file offset %llu, %llu bytes) is past the end of the file "
                           "(%llu bytes)",
                           (unsigned long long)i, (unsigned long long)r->file_offset, (unsigned long long)len,
                           (unsigned long long)img->src.size);
        if (!(flags & SNAP_PARSE_NO_RUN_CRC) && snap_run_check(img, i) < 0)
            return -EINVAL;
        prev_end = r->ram_offset + len;
        data += len;
    }
    if (data != s->next)
        return err_set(EINVAL, "memory section at offset %llu: next offset %llu is not the end of the page data (%llu)",
                       (unsigned long long)off, (unsigned long long)s->next, (unsigned long long)data);
    return 0;
}

/* One section at off: its header and payload copied, checked, added to img. *next: where
 * the next one starts; *end: this was the end marker. */
static int parse_section(struct snap_image *img, uint64_t off, unsigned flags, uint64_t *next, int *end)
{
    uint64_t size = img->src.size;
    struct snap_section_hdr s;
    if (off + sizeof(s) > size || off + sizeof(s) < off)
        return err_set(EINVAL, "truncated: section header at offset %llu is past the end of the file (%llu bytes)",
                       (unsigned long long)off, (unsigned long long)size);
    if (src_read(&img->src, off, &s, sizeof(s)) < 0)
        return -EINVAL;
    const char *name = snap_section_name(s.type);
    if (s.type >= SNAP_SEC_MAX && (s.type < SNAP_SEC_DEVICE_FIRST || s.type > SNAP_SEC_DEVICE_LAST))
        return err_set(EINVAL, "section at offset %llu: unknown type %u (corrupted)", (unsigned long long)off, s.type);
    uint64_t pay = off + sizeof(s);
    if (s.length > size - pay)
        return err_set(EINVAL, "truncated: %s section at offset %llu holds %llu bytes, the file ends %llu bytes on",
                       name, (unsigned long long)off, (unsigned long long)s.length, (unsigned long long)(size - pay));
    /* Section headers carry no CRC of their own, so `next` must be exactly where the writer
     * puts it: a damaged one could otherwise skip a section unnoticed. */
    uint64_t want = pay + ((s.length + 7) & ~(uint64_t)7);
    if (s.type == SNAP_SEC_MEMORY)
        want = (pay + s.length + SNAP_PAGE - 1) & ~(uint64_t)(SNAP_PAGE - 1); /* the page data from here */
    if (s.type == SNAP_SEC_MEMORY ? s.next < want : s.next != want)
        return err_set(EINVAL, "%s section at offset %llu: bad next offset %llu%s", name, (unsigned long long)off,
                       (unsigned long long)s.next, s.next > size ? " (truncated)" : "");
    if (s.next > size && s.type != SNAP_SEC_END)
        return err_set(EINVAL,
                       "truncated: %s section at offset %llu ends at %llu, past the end of the file (%llu bytes)", name,
                       (unsigned long long)off, (unsigned long long)s.next, (unsigned long long)size);
    if (s.type == SNAP_SEC_END) {
        *end = 1;
        return 0;
    }
    if (img->nsections == SNAP_MAX_SECTIONS)
        return err_set(EINVAL, "section at offset %llu: too many sections", (unsigned long long)off);
    if (s.type != SNAP_SEC_MEMORY && s.length > SNAP_SECTION_MAX)
        return err_set(EINVAL, "%s section at offset %llu holds %llu bytes, at most %u", name, (unsigned long long)off,
                       (unsigned long long)s.length, SNAP_SECTION_MAX);
    uint8_t *data = malloc(s.length ? s.length : 1);
    if (!data)
        return err_set(ENOMEM, "%s section at offset %llu: out of memory for %llu bytes", name, (unsigned long long)off,
                       (unsigned long long)s.length);
    img->sec[img->nsections++] = (struct snap_section){s.type, off, data, s.length};
    if (src_read(&img->src, pay, data, s.length) < 0)
        return -EINVAL;
    if (s.crc != snap_crc32(0, data, s.length)) /* on the private copy: the one used from now on */
        return err_set(EINVAL, "%s section at offset %llu: checksum mismatch (corrupted)", name,
                       (unsigned long long)off);
    if (s.type == SNAP_SEC_MEMORY && parse_runs(img, &s, off, want, flags) < 0)
        return -EINVAL;
    *next = s.next;
    return 0;
}

static int parse_src(struct snap_image *img, const char *expect_vendor, unsigned flags)
{
    int r = parse_header(&img->src, expect_vendor, &img->hdr);
    for (uint64_t off = SNAP_HEADER_SIZE; r == 0;) {
        int end = 0;
        r = parse_section(img, off, flags, &off, &end);
        if (end)
            break;
    }
    if (r < 0)
        return r == -ENOMEM ? r : -EINVAL;
    if (!img->runs)
        return err_set(EINVAL, "no memory section");
    if (!snap_find(img, SNAP_SEC_CONFIG, 0))
        return err_set(EINVAL, "no config section");
    return 0;
}

int snap_parse(const uint8_t *buf, uint64_t size, const char *expect_vendor, unsigned flags, struct snap_image *img)
{
    memset(img, 0, sizeof(*img));
    img->src = (struct snap_src){.base = buf, .fd = -1, .size = size};
    int r = parse_src(img, expect_vendor, flags);
    if (r < 0)
        snap_image_free(img); /* what was copied before the failure (found by fuzz/snapshot) */
    return r;
}

int snap_parse_fd(int fd, uint64_t size, const char *expect_vendor, unsigned flags, struct snap_image *img)
{
    memset(img, 0, sizeof(*img));
    img->src = (struct snap_src){.fd = fd, .size = size};
    int r = parse_src(img, expect_vendor, flags);
    if (r < 0)
        snap_image_free(img);
    return r;
}

void snap_image_free(struct snap_image *img)
{
    for (unsigned i = 0; i < img->nsections; i++)
        free((void *)img->sec[i].data);
    img->nsections = 0;
    img->runs = NULL;
    img->nruns = 0;
}

const struct snap_section *snap_find(const struct snap_image *img, uint32_t type, unsigned index)
{
    for (unsigned i = 0; i < img->nsections; i++)
        if (img->sec[i].type == type && index-- == 0)
            return &img->sec[i];
    return NULL;
}

/* The CRC of len bytes at off, read in chunks into private memory. */
static int src_crc(const struct snap_src *src, uint64_t off, uint64_t len, uint32_t *crc)
{
    if (src->base) {
        if (off > src->size || len > src->size - off)
            return src_read(src, off, NULL, len); /* the message; never copies */
        *crc = snap_crc32(0, src->base + off, len);
        return 0;
    }
    enum { CHUNK = 1u << 20 };
    uint8_t *buf = malloc(CHUNK);
    if (!buf)
        return err_set(ENOMEM, "out of memory");
    uint32_t c = 0;
    int r = 0;
    for (uint64_t done = 0; done < len && !r; done += CHUNK) {
        uint64_t n = len - done < CHUNK ? len - done : CHUNK;
        r = src_read(src, off + done, buf, n);
        c = snap_crc32(c, buf, n);
    }
    free(buf);
    *crc = c;
    return r;
}

int snap_run_check(const struct snap_image *img, uint64_t i)
{
    const struct snap_mem_run *r = &img->runs[i];
    uint32_t crc = 0;
    int e = src_crc(&img->src, r->file_offset, r->npages * SNAP_PAGE, &crc);
    if (e < 0)
        return err_wrap(-e, "memory section: run %llu at file offset %llu", (unsigned long long)i,
                        (unsigned long long)r->file_offset);
    if (r->crc != crc)
        return err_set(EINVAL, "memory section: run %llu at file offset %llu: checksum mismatch (corrupted)",
                       (unsigned long long)i, (unsigned long long)r->file_offset);
    return 0;
}

int snap_read_run(const struct snap_src *src, const struct snap_mem_run *r, uint64_t index, uint8_t *dst)
{
    uint64_t len = r->npages * SNAP_PAGE;
    int e = src_read(src, r->file_offset, dst, len);
    if (e < 0)
        return err_wrap(-e, "memory section: run %llu at file offset %llu", (unsigned long long)index,
                        (unsigned long long)r->file_offset);
    if (r->crc != snap_crc32(0, dst, len)) /* on the copy that is used */
        return err_set(EINVAL, "memory section: run %llu at file offset %llu: checksum mismatch (corrupted)",
                       (unsigned long long)index, (unsigned long long)r->file_offset);
    return 0;
}

int snap_load_memory(const struct snap_image *img, uint8_t *ram)
{
    for (uint64_t i = 0; i < img->nruns; i++) {
        const struct snap_mem_run *r = &img->runs[i];
        if (r->ram_offset > img->hdr.ram_size || r->npages > (img->hdr.ram_size - r->ram_offset) / SNAP_PAGE)
            return err_set(EINVAL, "memory section: run %llu is out of bounds", (unsigned long long)i);
        int e = snap_read_run(&img->src, r, i, ram + r->ram_offset);
        if (e < 0)
            return e;
    }
    return 0;
}

/* At most one section of `type`, of exactly `size` bytes (0: any size up to max). */
static int check_single(const struct snap_image *img, uint32_t type, uint64_t size, uint64_t max)
{
    const struct snap_section *s = snap_find(img, type, 0), *again = snap_find(img, type, 1);
    if (again)
        return err_set(EINVAL, "%s section at offset %llu: a second one", snap_section_name(type),
                       (unsigned long long)again->offset);
    if (s && ((size && s->length != size) || (!size && s->length > max)))
        return err_set(EINVAL, "%s section at offset %llu holds %llu bytes, %s %llu", snap_section_name(type),
                       (unsigned long long)s->offset, (unsigned long long)s->length, size ? "expected" : "at most",
                       (unsigned long long)(size ? size : max));
    return 0;
}

int snap_disk_check(const struct snap_disk *d)
{
    if (d->version != SNAP_DISK_VERSION || (d->flags & ~SNAP_DISK_F_READONLY) || !memchr(d->image, 0, sizeof(d->image)))
        return err_set(EINVAL, "version %u, flags 0x%x or image name not understood (corrupted)", d->version, d->flags);
    if (!d->image[0])
        return err_set(EINVAL, "no image name (corrupted)");
    for (const char *p = d->image; *p; p++)
        if ((unsigned char)*p < 0x20 || (unsigned char)*p > 0x7e)
            return err_set(EINVAL, "the image name holds a control character (corrupted)");
    return 0;
}

/* The disk sections: each of its exact size and sane, at most SNAP_MAX_DISKS, none in a
 * version-1 file (it had no such section). */
static int check_disks(const struct snap_image *img)
{
    for (unsigned i = 0;; i++) {
        const struct snap_section *s = snap_find(img, SNAP_SEC_DISK, i);
        if (!s)
            return 0;
        struct snap_disk d;
        if (i >= SNAP_MAX_DISKS || img->hdr.version < 2 || s->length != sizeof(d))
            return err_set(EINVAL, "disk section at offset %llu: %s", (unsigned long long)s->offset,
                           i >= SNAP_MAX_DISKS    ? "more disks than a domain may have"
                           : img->hdr.version < 2 ? "not in a version-1 file"
                                                  : "not the size of a disk record");
        memcpy(&d, s->data, sizeof(d));
        if (snap_disk_check(&d) < 0)
            return err_wrap(EINVAL, "disk section at offset %llu", (unsigned long long)s->offset);
    }
}

int snap_check_config(const struct snap_image *img, struct snap_config *cfg)
{
    const struct snap_section *s = snap_find(img, SNAP_SEC_CONFIG, 0);
    if (!s)
        return err_set(EINVAL, "no config section");
    if (check_single(img, SNAP_SEC_CONFIG, sizeof(*cfg), 0) < 0)
        return -EINVAL;
    memcpy(cfg, s->data, sizeof(*cfg));
    if (!memchr(cfg->kernel, 0, sizeof(cfg->kernel)) || !memchr(cfg->cmdline, 0, sizeof(cfg->cmdline)) ||
        cfg->nvcpus < 1 || cfg->nvcpus > SNAP_MAX_VCPUS || cfg->mem_size != img->hdr.ram_size)
        return err_set(EINVAL,
                       "config section at offset %llu is inconsistent (vCPUs %u, memory %llu bytes, RAM %llu, "
                       "strings terminated: %s)",
                       (unsigned long long)s->offset, cfg->nvcpus, (unsigned long long)cfg->mem_size,
                       (unsigned long long)img->hdr.ram_size,
                       memchr(cfg->kernel, 0, sizeof(cfg->kernel)) && memchr(cfg->cmdline, 0, sizeof(cfg->cmdline))
                           ? "yes"
                           : "no");
    for (unsigned i = 0; i < cfg->nvcpus; i++) {
        const struct snap_section *v = snap_find(img, SNAP_SEC_VCPU, i);
        uint32_t id;
        if (!v)
            return err_set(EINVAL, "no vcpu section for vCPU %u (the config has %u)", i, cfg->nvcpus);
        if (v->length < sizeof(id) || (memcpy(&id, v->data, sizeof(id)), id != i))
            return err_set(EINVAL, "vcpu section at offset %llu: not vCPU %u", (unsigned long long)v->offset, i);
    }
    s = snap_find(img, SNAP_SEC_VCPU, cfg->nvcpus);
    if (s)
        return err_set(EINVAL, "vcpu section at offset %llu: more vcpu sections than the %u vCPUs configured",
                       (unsigned long long)s->offset, cfg->nvcpus);
    if (check_single(img, SNAP_SEC_DOMAIN_XML, 0, SNAP_DOMAIN_XML_MAX) < 0 ||
        check_single(img, SNAP_SEC_MEM_TARGET, sizeof(struct snap_mem_target), 0) < 0 ||
        check_single(img, SNAP_SEC_CPU_FEATURES, sizeof(struct snap_cpu_features), 0) < 0 || check_disks(img) < 0)
        return -EINVAL;
    s = snap_find(img, SNAP_SEC_MEM_TARGET, 0);
    if (s) {
        struct snap_mem_target t;
        memcpy(&t, s->data, sizeof(t));
        if (t.target_bytes % SNAP_PAGE || !t.target_bytes || t.target_bytes > cfg->mem_size)
            return err_set(EINVAL, "mem-target section at offset %llu: target %llu bytes for %llu bytes of RAM",
                           (unsigned long long)s->offset, (unsigned long long)t.target_bytes,
                           (unsigned long long)cfg->mem_size);
    }
    return 0;
}

/* Adds "snapshot PATH: " before the message err_set left. */
static int with_path(int r, const char *path)
{
    return err_wrap(-r, "snapshot %s", path);
}

void snap_file_close(struct snap_file *f)
{
    if (f->open) { /* a zeroed, never-opened struct has no descriptor of its own */
        snap_image_free(&f->img);
        close(f->fd);
    }
    f->open = 0;
    f->fd = -1;
}

int snap_file_load(struct snap_file *f, const char *path, unsigned parse_flags)
{
    memset(f, 0, sizeof(*f));
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return err_set(errno, "snapshot %s: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return err_set(EINVAL, "snapshot %s: not a regular file", path);
    }
    /* The size now is the one every later read is held to: a file that shrinks after this
     * makes a read fail, one that grows is read no further. */
    f->len = (size_t)st.st_size;
    f->fd = fd;
    f->open = 1;
    char vendor[12];
    uint32_t sig;
    snap_host_cpu(vendor, &sig);
    int r = snap_parse_fd(fd, f->len, vendor, parse_flags, &f->img);
    if (r == 0)
        r = snap_check_config(&f->img, &f->cfg);
    if (r < 0) {
        snap_file_close(f);
        return with_path(r, path);
    }
    return 0;
}

int snapshot_inspect(const char *path, struct snap_info *info, char **domain_xml, size_t *xml_len)
{
    struct snap_file *f = malloc(sizeof(*f)); /* a snap_image is 8 KiB: off xenod's thread stacks */
    if (!f)
        return err_set(ENOMEM, "snapshot %s: out of memory", path);
    if (domain_xml)
        *domain_xml = NULL;
    if (xml_len)
        *xml_len = 0;
    int r = snap_file_load(f, path, 0); /* every run's CRC, read through private memory */
    if (r < 0) {
        free(f);
        return r;
    }
    *info = (struct snap_info){.mem_bytes = f->cfg.mem_size, .nvcpus = f->cfg.nvcpus, .file_size = f->len};
    for (uint64_t i = 0; i < f->img.nruns; i++)
        info->pages += f->img.runs[i].npages;
    while (snap_find(&f->img, SNAP_SEC_DISK, info->ndisks))
        info->ndisks++;
    const struct snap_section *x = snap_find(&f->img, SNAP_SEC_DOMAIN_XML, 0);
    if (x && domain_xml) {
        char *copy = malloc(x->length + 1);
        if (!copy) {
            snap_file_close(f);
            free(f);
            return err_set(ENOMEM, "snapshot %s: out of memory for the domain-xml section", path);
        }
        memcpy(copy, x->data, x->length);
        copy[x->length] = 0;
        *domain_xml = copy;
        if (xml_len)
            *xml_len = x->length;
    }
    snap_file_close(f);
    free(f);
    return 0;
}
