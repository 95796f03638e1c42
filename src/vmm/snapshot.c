#include "vmm/snapshot.h"

#include <cpuid.h>
#include <errno.h>
#include <pthread.h>
#include <stddef.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lib/err.h"

static uint32_t crc_table[256];

static void crc_init(void)
{
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++)
            c = c & 1 ? 0xedb88320u ^ (c >> 1) : c >> 1;
        crc_table[i] = c;
    }
}

uint32_t snap_crc32(uint32_t crc, const void *buf, size_t len)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, crc_init);
    const uint8_t *p = buf;
    crc = ~crc;
    while (len--)
        crc = crc_table[(crc ^ *p++) & 0xff] ^ (crc >> 8);
    return ~crc;
}

const char *snap_section_name(uint32_t type)
{
    static const char *names[SNAP_SEC_MAX] = {"end", "config", "vcpu", "irqchip", "pit", "clock",
                                              "uart", "i8042", "power-request", "virtio", "memory"};
    return type < SNAP_SEC_MAX ? names[type] : "unknown";
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

/* Whether page `pg` of the memfd may hold data (not a hole). */
static int memfd_data(int memfd, uint64_t off, uint64_t *next_data, uint64_t *next_hole, uint64_t size)
{
    if (memfd < 0)
        return 1;
    if (off >= *next_hole || off < *next_data) {
        off_t d = lseek(memfd, (off_t)off, SEEK_DATA);
        if (d < 0) { /* ENXIO: no data from here on */
            *next_data = size;
            *next_hole = size;
            return 0;
        }
        off_t h = lseek(memfd, d, SEEK_HOLE);
        *next_data = (uint64_t)d;
        *next_hole = h < 0 ? size : (uint64_t)h;
    }
    return off >= *next_data && off < *next_hole;
}

int snap_write_memory(struct snap_writer *w, const uint8_t *ram, uint64_t ram_size, int memfd)
{
    uint64_t npages = ram_size / SNAP_PAGE, nruns = 0, cap = 64;
    struct snap_mem_run *runs = malloc(cap * sizeof(*runs));
    uint64_t nd = 1, nh = 0; /* forces the first lseek */
    if (!runs)
        return err_set(ENOMEM, "snapshot: out of memory");
    for (uint64_t p = 0; p < npages; p++) {
        uint64_t off = p * SNAP_PAGE;
        if (!memfd_data(memfd, off, &nd, &nh, ram_size) || page_zero(ram + off))
            continue;
        if (nruns && runs[nruns - 1].ram_offset + runs[nruns - 1].npages * SNAP_PAGE == off) {
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
    uint64_t data_off = (w->off + sizeof(struct snap_section_hdr) + table_len + SNAP_PAGE - 1) & ~(uint64_t)(SNAP_PAGE - 1);
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
    struct snap_section_hdr s = {.type = SNAP_SEC_MEMORY, .crc = snap_crc32(0, table, table_len), .length = table_len,
                                 .next = o};
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

static int fail(char *err, size_t errsz, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int fail(char *err, size_t errsz, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errsz, fmt, ap);
    va_end(ap);
    return -1;
}

int snap_parse(const uint8_t *buf, uint64_t size, const char *expect_vendor, struct snap_image *img, char *err,
               size_t errsz)
{
    memset(img, 0, sizeof(*img));
    img->base = buf;
    img->size = size;
    struct snap_header *h = &img->hdr;
    if (size < 8 || memcmp(buf, SNAP_MAGIC, 8) != 0)
        return fail(err, errsz, "not a snapshot: bad magic at offset 0 (expected %s)", SNAP_MAGIC);
    if (size < SNAP_HEADER_SIZE)
        return fail(err, errsz, "truncated header: %llu bytes, the header needs %u", (unsigned long long)size,
                    SNAP_HEADER_SIZE);
    memcpy(h, buf, sizeof(*h));
    if (h->version != SNAP_VERSION)
        return fail(err, errsz, "header at offset 8: snapshot version %u, this monitor reads version %u", h->version,
                    SNAP_VERSION);
    if (h->crc != snap_crc32(0, h, offsetof(struct snap_header, crc)))
        return fail(err, errsz, "header at offset 0: checksum mismatch (corrupted)");
    if (h->header_size != SNAP_HEADER_SIZE || h->page_size != SNAP_PAGE)
        return fail(err, errsz, "header at offset 0: header size %u / page size %u, expected %u / %u", h->header_size,
                    h->page_size, SNAP_HEADER_SIZE, SNAP_PAGE);
    if (expect_vendor && memcmp(h->cpu_vendor, expect_vendor, 12) != 0)
        return fail(err, errsz, "header at offset 0: saved on a %.12s CPU, this host is %.12s", h->cpu_vendor,
                    expect_vendor);
    if (h->nranges < 1 || h->nranges > SNAP_MAX_RANGES || !h->ram_size || h->ram_size % SNAP_PAGE)
        return fail(err, errsz, "header at offset 0: bad RAM layout (%u ranges, %llu bytes)", h->nranges,
                    (unsigned long long)h->ram_size);
    uint64_t total = 0;
    for (unsigned i = 0; i < h->nranges; i++) {
        if (h->ranges[i].offset != total || h->ranges[i].size % SNAP_PAGE)
            return fail(err, errsz, "header at offset 0: RAM range %u is inconsistent", i);
        total += h->ranges[i].size;
    }
    if (total != h->ram_size)
        return fail(err, errsz, "header at offset 0: RAM ranges add up to %llu bytes, not %llu",
                    (unsigned long long)total, (unsigned long long)h->ram_size);

    uint64_t off = SNAP_HEADER_SIZE;
    for (;;) {
        struct snap_section_hdr s;
        if (off + sizeof(s) > size || off + sizeof(s) < off)
            return fail(err, errsz, "truncated: section header at offset %llu is past the end of the file (%llu bytes)",
                        (unsigned long long)off, (unsigned long long)size);
        memcpy(&s, buf + off, sizeof(s));
        const char *name = snap_section_name(s.type);
        if (s.type >= SNAP_SEC_MAX)
            return fail(err, errsz, "section at offset %llu: unknown type %u (corrupted)", (unsigned long long)off,
                        s.type);
        uint64_t pay = off + sizeof(s);
        if (s.length > size - pay)
            return fail(err, errsz, "truncated: %s section at offset %llu holds %llu bytes, the file ends %llu bytes on",
                        name, (unsigned long long)off, (unsigned long long)s.length,
                        (unsigned long long)(size - pay));
        if (s.crc != snap_crc32(0, buf + pay, s.length))
            return fail(err, errsz, "%s section at offset %llu: checksum mismatch (corrupted)", name,
                        (unsigned long long)off);
        if (s.next < pay + s.length || s.next % 8 || (s.next > size && s.type != SNAP_SEC_END))
            return fail(err, errsz, "%s section at offset %llu: bad next offset %llu%s", name, (unsigned long long)off,
                        (unsigned long long)s.next, s.next > size ? " (truncated)" : "");
        if (s.type == SNAP_SEC_END)
            break;
        if (img->nsections == SNAP_MAX_SECTIONS)
            return fail(err, errsz, "section at offset %llu: too many sections", (unsigned long long)off);
        img->sec[img->nsections++] = (struct snap_section){s.type, off, buf + pay, s.length};
        if (s.type == SNAP_SEC_MEMORY) {
            uint64_t n;
            if (img->runs)
                return fail(err, errsz, "memory section at offset %llu: a second one", (unsigned long long)off);
            if (s.length < 8 || (memcpy(&n, buf + pay, 8), s.length != 8 + n * sizeof(struct snap_mem_run)) ||
                n > h->ram_size / SNAP_PAGE)
                return fail(err, errsz, "memory section at offset %llu: table size does not match",
                            (unsigned long long)off);
            img->runs = (const struct snap_mem_run *)(const void *)(buf + pay + 8);
            img->nruns = n;
            uint64_t prev_end = 0;
            for (uint64_t i = 0; i < n; i++) {
                struct snap_mem_run r;
                memcpy(&r, &img->runs[i], sizeof(r));
                uint64_t len = r.npages * SNAP_PAGE;
                if (r.ram_offset % SNAP_PAGE || r.file_offset % SNAP_PAGE || !r.npages ||
                    r.npages > h->ram_size / SNAP_PAGE || r.ram_offset < prev_end || r.ram_offset > h->ram_size - len ||
                    r.file_offset < pay + s.length || r.file_offset > s.next || len > s.next - r.file_offset)
                    return fail(err, errsz, "memory section at offset %llu: run %llu is out of bounds",
                                (unsigned long long)off, (unsigned long long)i);
                if (r.file_offset + len > size)
                    return fail(err, errsz,
                                "truncated: memory run %llu (file offset %llu, %llu bytes) is past the end of the "
                                "file (%llu bytes)",
                                (unsigned long long)i, (unsigned long long)r.file_offset, (unsigned long long)len,
                                (unsigned long long)size);
                if (r.crc != snap_crc32(0, buf + r.file_offset, len))
                    return fail(err, errsz, "memory section: run %llu at file offset %llu: checksum mismatch (corrupted)",
                                (unsigned long long)i, (unsigned long long)r.file_offset);
                prev_end = r.ram_offset + len;
            }
        }
        off = s.next;
    }
    if (!img->runs)
        return fail(err, errsz, "no memory section");
    if (!snap_find(img, SNAP_SEC_CONFIG, 0))
        return fail(err, errsz, "no config section");
    return 0;
}

const struct snap_section *snap_find(const struct snap_image *img, uint32_t type, unsigned index)
{
    for (unsigned i = 0; i < img->nsections; i++)
        if (img->sec[i].type == type && index-- == 0)
            return &img->sec[i];
    return NULL;
}

void snap_load_memory(const struct snap_image *img, uint8_t *ram)
{
    for (uint64_t i = 0; i < img->nruns; i++) {
        struct snap_mem_run r;
        memcpy(&r, &img->runs[i], sizeof(r));
        memcpy(ram + r.ram_offset, img->base + r.file_offset, r.npages * SNAP_PAGE);
    }
}
