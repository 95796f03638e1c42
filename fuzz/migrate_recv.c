/* The migration receiver after the handshake (src/vmm/state/migrate_apply.c): what a source
 * that holds the key sends before the state, the domain's config (MIG_CONFIG) and the memory
 * (MIG_PAGES), checked and written into guest RAM. The input: one byte for the size of the
 * fake guest RAM (1 to 64 pages, allocated to the exact byte so that ASan catches any write
 * past it), then messages, each a type byte (odd: CONFIG, even: PAGES), a little-endian
 * 32-bit length (cut to what is left) and the payload, each handed over in a buffer of its
 * exact length, as the receiver does once a message is read. Oracle: a page message that is
 * accepted has written exactly what it announced (each page zero or the data that followed,
 * the last entry for a page winning). */
#include <stdio.h>

#include "fuzz/fuzz.h"
#include "lib/err.h"
#include "proto/migrate_proto.h"
#include "vmm/state/migrate_apply.h"

/* After an accepted message: every entry's page holds what the message put there last. */
static void check_pages(const uint8_t *ram, const uint8_t *buf)
{
    struct mig_pages_hdr h;
    memcpy(&h, buf, sizeof(h));
    const uint8_t *ent = buf + sizeof(h), *data = ent + 8ull * h.count;
    const uint8_t *want[MIG_BATCH_PAGES];
    for (uint32_t i = 0; i < h.count; i++) {
        uint64_t e;
        memcpy(&e, ent + 8ull * i, 8);
        want[i] = e & MIG_ZERO_PAGE ? NULL : data;
        data += e & MIG_ZERO_PAGE ? 0 : MIG_PAGE;
    }
    static const uint8_t zero[MIG_PAGE];
    for (uint32_t i = 0; i < h.count; i++) {
        uint64_t e, later;
        memcpy(&e, ent + 8ull * i, 8);
        uint64_t off = e & ~(uint64_t)(MIG_PAGE - 1);
        int overwritten = 0;
        for (uint32_t j = i + 1; j < h.count && !overwritten; j++) {
            memcpy(&later, ent + 8ull * j, 8);
            overwritten = (later & ~(uint64_t)(MIG_PAGE - 1)) == off;
        }
        if (!overwritten && memcmp(ram + off, want[i] ? want[i] : zero, MIG_PAGE)) {
            fprintf(stderr, "page at 0x%llx does not hold what the message sent\n", (unsigned long long)off);
            abort();
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    uint64_t ram_size = (uint64_t)(1 + data[0] % 64) * MIG_PAGE, pages = 0;
    uint8_t *ram = malloc(ram_size);
    if (!ram)
        abort();
    memset(ram, 0xa5, ram_size);
    size_t at = 1;
    while (size - at >= 5) {
        uint8_t type = data[at];
        uint32_t len;
        memcpy(&len, data + at + 1, 4);
        at += 5;
        if (len > size - at)
            len = (uint32_t)(size - at);
        uint8_t *msg = malloc(len ? len : 1);
        if (!msg)
            abort();
        memcpy(msg, data + at, len);
        at += len;
        if (type & 1) {
            struct snap_config cfg;
            struct cpu_features cpu;
            int have_cpu;
            unsigned unknown;
            migrate_apply_config(&cfg, &cpu, &have_cpu, &unknown, msg, len, "fuzz");
        } else if (migrate_apply_pages(ram, ram_size, msg, len, "fuzz", &pages) == 0) {
            check_pages(ram, msg);
        }
        free(msg);
    }
    free(ram);
    return 0;
}
