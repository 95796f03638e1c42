/* The snapshot reader (src/proto/snapshot.c) over a file's bytes, as xenod's restore and
 * xeno-vmm's load see them: snap_parse with and without the memory runs' CRCs, the config
 * checks, each run's CRC (what the lazy restore checks page by page), and loading the saved
 * RAM into a guest-sized buffer (ASan guards its edges).
 * A fuzzer cannot guess CRC32s, so each input is parsed twice: as it is, and with every CRC
 * the framing reaches (header, sections, memory runs) recomputed first, so mutations get
 * past the checksums to the checks behind them. */
#include <stddef.h>

#include "fuzz/fuzz.h"
#include "proto/snapshot.h"

#define RAM_MAX (16u << 20) /* larger RAM sizes are parsed but not loaded */

static void fix_runs(uint8_t *buf, size_t size, uint64_t pay, uint64_t len)
{
    uint64_t n;
    if (len < 8)
        return;
    memcpy(&n, buf + pay, 8);
    for (uint64_t i = 0; i < n && 8 + (i + 1) * sizeof(struct snap_mem_run) <= len; i++) {
        struct snap_mem_run r;
        uint8_t *at = buf + pay + 8 + i * sizeof(r);
        memcpy(&r, at, sizeof(r));
        if (r.npages > size / SNAP_PAGE || r.file_offset > size || r.npages * SNAP_PAGE > size - r.file_offset)
            continue;
        r.crc = snap_crc32(0, buf + r.file_offset, r.npages * SNAP_PAGE);
        memcpy(at, &r, sizeof(r));
    }
}

static void fix_crcs(uint8_t *buf, size_t size)
{
    if (size < SNAP_HEADER_SIZE)
        return;
    uint64_t off = SNAP_HEADER_SIZE;
    for (unsigned k = 0; k < 4 * SNAP_MAX_SECTIONS; k++) {
        struct snap_section_hdr s;
        if (off > size || size - off < sizeof(s))
            break;
        memcpy(&s, buf + off, sizeof(s));
        uint64_t pay = off + sizeof(s);
        if (s.length > size - pay)
            break;
        if (s.type == SNAP_SEC_MEMORY)
            fix_runs(buf, size, pay, s.length); /* the table first: its CRC covers the runs' */
        s.crc = snap_crc32(0, buf + pay, s.length);
        memcpy(buf + off, &s, sizeof(s));
        if (s.type == SNAP_SEC_END || s.next <= off)
            break;
        off = s.next;
    }
    struct snap_header h;
    memcpy(&h, buf, sizeof(h));
    h.crc = snap_crc32(0, &h, offsetof(struct snap_header, crc));
    memcpy(buf, &h, sizeof(h));
}

static void parse(const uint8_t *buf, size_t size)
{
    struct snap_image img;
    if (snap_parse(buf, size, NULL, SNAP_PARSE_NO_RUN_CRC, &img) == 0) {
        for (uint64_t i = 0; i < img.nruns && i < 64; i++)
            snap_run_check(&img, i);
        snap_image_free(&img); /* the image owns private copies of what it validated */
    }
    if (snap_parse(buf, size, NULL, 0, &img) < 0)
        return;
    struct snap_config cfg;
    if (snap_check_config(&img, &cfg) == 0 && img.hdr.ram_size <= RAM_MAX) {
        uint8_t *ram = calloc(1, img.hdr.ram_size);
        if (!ram)
            abort();
        snap_load_memory(&img, ram);
        free(ram);
    }
    snap_image_free(&img);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* A private copy of exactly `size` bytes: ASan then sees any read past the file's end. */
    uint8_t *buf = malloc(size ? size : 1);
    if (!buf)
        abort();
    memcpy(buf, data, size);
    parse(buf, size);
    fix_crcs(buf, size);
    parse(buf, size);
    free(buf);
    return 0;
}
