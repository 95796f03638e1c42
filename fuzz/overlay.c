/* A copy-on-write overlay file (docs/overlay-format.md) as xeno-blkback opens and serves it:
 * ovl_header_decode and the table's checks in ovl_open (src/blk/overlay_format.c,
 * overlay.c), then reads, writes, write-zeroes and flushes through ovl_pread, ovl_pwrite,
 * ovl_zero, ovl_flush, and the file opened again. Byte 0's top bit chooses the file: the
 * input's bytes as they are (a crafted header), or a header the product's own encoder makes
 * from the input's size and cluster size followed by the input's bytes as the table (so the
 * fuzzer spends its time on tables, not on the magic). The base is a 256 KiB memfd of a known
 * pattern, given when the header's base size matches it (the caller's identity check).
 * Oracle: the overlay behaves as a disk. The first 256 KiB (or the virtual size) is read once
 * into a shadow; every write and zeroing goes to both; every read must match the shadow;
 * after ovl_close (which flushes) the file is opened again and must read the same. Files
 * are memfds: nothing touches the disk. */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <sys/mman.h>
#include <unistd.h>

#include "blk/overlay.h"
#include "fuzz/fuzz.h"

#define BASE_BYTES (256u << 10)
#define WINDOW (256u << 10) /* the part of the disk the operations touch */
#define OP_BYTES 8u
#define MAX_OPS 24u

static int memfd_with(const void *buf, size_t len)
{
    int fd = memfd_create("fuzz-ovl", MFD_CLOEXEC);
    if (fd < 0)
        abort();
    if (len && pwrite(fd, buf, len, 0) != (ssize_t)len)
        abort();
    return fd;
}

static int base_file(void)
{
    static uint8_t *pattern;
    if (!pattern) {
        if (!(pattern = malloc(BASE_BYTES)))
            abort();
        for (size_t i = 0; i < BASE_BYTES; i++)
            pattern[i] = (uint8_t)(i * 7 + (i >> 9));
    }
    return memfd_with(pattern, BASE_BYTES);
}

/* The overlay's file: the input's bytes, or a laid-out header and the input as its table. */
static int overlay_file(const uint8_t *data, size_t size, bool made, bool with_base)
{
    if (!made)
        return memfd_with(data, size);
    if (size < 3)
        return -1;
    struct ovl_header h = {.virtual_size = ((uint64_t)data[0] + 1) << (data[1] % 12) << 9, /* up to 256 MiB */
                           .cluster_bits = OVL_CLUSTER_BITS_MIN + data[2] % 10};
    if (with_base) {
        snprintf(h.base_name, sizeof(h.base_name), "base.raw");
        h.base_size = BASE_BYTES;
    }
    if (ovl_header_layout(&h) < 0)
        return -1;
    uint8_t *file = calloc(1, OVL_HEADER_SIZE + h.entries * 8);
    if (!file)
        abort();
    ovl_header_encode(&h, file);
    size_t table = size - 3 < h.entries * 8 ? size - 3 : h.entries * 8;
    memcpy(file + OVL_HEADER_SIZE, data + 3, table);
    int fd = memfd_with(file, OVL_HEADER_SIZE + h.entries * 8);
    free(file);
    return fd;
}

static struct ovl *open_again(int fd, bool base, bool ro)
{
    struct ovl *o = NULL;
    int f = fcntl(fd, F_DUPFD_CLOEXEC, 0);
    int b = base ? base_file() : -1;
    if (f < 0 || ovl_open(f, b, ro, "fuzz.ovl", &o) < 0)
        return NULL;
    return o;
}

static void compare(struct ovl *o, const uint8_t *shadow, uint64_t off, uint64_t len, const char *when)
{
    uint8_t *buf = malloc(len ? len : 1);
    if (!buf)
        abort();
    if (ovl_pread(o, buf, len, off) < 0 || memcmp(buf, shadow + off, len)) {
        fprintf(stderr, "%s: %llu bytes at %llu read back other than written\n", when, (unsigned long long)len,
                (unsigned long long)off);
        abort();
    }
    free(buf);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2)
        return 0;
    bool made = data[0] & 0x80, ro = data[0] & 1, want_base = data[0] & 2;
    unsigned nops = (data[0] >> 2) % MAX_OPS;
    size_t ops_len = nops * OP_BYTES;
    if (size - 1 < ops_len)
        nops = (unsigned)((size - 1) / OP_BYTES), ops_len = nops * OP_BYTES;
    const uint8_t *ops = data + 1, *file = data + 1 + ops_len;
    size_t file_len = size - 1 - ops_len;

    int fd = overlay_file(file, file_len, made, want_base);
    if (fd < 0)
        return 0;
    /* The caller's identity check: the base is given only when the header names one of its size. */
    uint8_t hdr[OVL_HEADER_SIZE];
    struct ovl_header h;
    bool base = pread(fd, hdr, sizeof(hdr), 0) == (ssize_t)sizeof(hdr) && ovl_header_decode(hdr, &h) == 0 &&
                h.base_name[0] && h.base_size == BASE_BYTES;
    struct ovl *o = open_again(fd, base, ro);
    if (!o) {
        close(fd);
        return 0;
    }
    uint64_t vsize = ovl_header(o)->virtual_size, window = vsize < WINDOW ? vsize : WINDOW;
    uint8_t *shadow = malloc(window);
    if (!shadow || ovl_pread(o, shadow, window, 0) < 0)
        abort();
    for (unsigned i = 0; i < nops; i++) {
        const uint8_t *op = ops + i * OP_BYTES;
        uint64_t off = ((uint64_t)op[1] | (uint64_t)op[2] << 8 | (uint64_t)op[3] << 16) % window;
        uint64_t len = ((uint64_t)op[4] | (uint64_t)op[5] << 8) % (window - off + 1);
        switch (op[0] % 4) {
        case 0: compare(o, shadow, off, len, "read"); break;
        case 1: {
            uint8_t *buf = malloc(len ? len : 1);
            if (!buf)
                abort();
            for (uint64_t k = 0; k < len; k++)
                buf[k] = (uint8_t)(op[6] + k * 13);
            int rc = ovl_pwrite(o, buf, len, off);
            if (rc == 0)
                memcpy(shadow + off, buf, len);
            else if (!ro && rc != -ENOSPC) {
                fprintf(stderr, "write of %llu bytes at %llu failed: %d\n", (unsigned long long)len,
                        (unsigned long long)off, rc);
                abort();
            }
            free(buf);
            compare(o, shadow, off, len, "write");
            break;
        }
        case 2:
            if (ovl_zero(o, off, len) == 0)
                memset(shadow + off, 0, len);
            compare(o, shadow, off, len, "zero");
            break;
        default: (void)ovl_flush(o);
        }
    }
    bool flushed = ovl_close(o) == 0;
    if (flushed && (o = open_again(fd, base, true))) {
        compare(o, shadow, 0, window, "opened again");
        ovl_close(o);
    } else if (flushed) {
        fprintf(stderr, "the overlay does not open again after a good flush\n");
        abort();
    }
    free(shadow);
    close(fd);
    return 0;
}
