/* The flow-log reader (src/audit/flowlog_read.c, flowlog_verify.c, flowlog_query.c) over a
 * file's bytes, as `xenctl audit verify` and `xenctl audit query` read a log that may have
 * been tampered with: block by block with payloads decoded, then the whole-file verifier with
 * a key, then a query. The bytes sit in a memfd reached through /proc/self/fd. */
#include <stdio.h>
#include <sys/mman.h>
#include <unistd.h>

#include "audit/flowlog.h"
#include "fuzz/fuzz.h"

static int count(void *opaque, const struct flowlog_entry *e)
{
    (void)e;
    ++*(unsigned *)opaque;
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int fd = -1;
    static char path[64];
    if (fd < 0) {
        fd = memfd_create("fuzz-flowlog", MFD_CLOEXEC);
        if (fd < 0)
            abort();
        snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
    }
    if (ftruncate(fd, 0) < 0 || pwrite(fd, data, size, 0) != (ssize_t)size)
        abort();

    struct flowlog_reader r;
    if (flowlog_reader_open(path, &r) == 0) {
        struct flowlog_block b;
        for (int i = 0; i < 64 && flowlog_reader_next(&r, true, &b) == 1; i++) {
            flowlog_block_decode(&b);
            flowlog_block_release(&b);
        }
        flowlog_reader_close(&r);
    }
    static const uint8_t key[32] = {1, 2, 3, 4};
    struct flowlog_verify_report rep;
    flowlog_verify(path, key, sizeof(key), &rep);
    struct flowlog_query q = {.domain = "demo"};
    unsigned n = 0;
    struct flowlog_query_stats st;
    flowlog_query_run(path, &q, count, &n, &st);
    return 0;
}
