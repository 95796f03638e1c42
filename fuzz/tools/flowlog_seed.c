/* Writes a small flow log with the product's writer (src/audit/flowlog_write.c) for the
 * `flowlog` harness's seeds: N records in blocks of 3, IPv4 and IPv6, two domains, sealed
 * with the harness's key (fuzz/flowlog.c) when KEYED is given.
 * Usage: flowlog_seed PATH N [keyed] */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "audit/flowlog.h"
#include "lib/err.h"

int main(int argc, char **argv)
{
    if (argc < 3)
        return 2;
    static const uint8_t key[32] = {1, 2, 3, 4}; /* the harness verifies with this one */
    bool keyed = argc > 3;
    struct flowlog_options o = {.block_records = 3, .key = keyed ? key : NULL, .key_len = keyed ? 32 : 0};
    struct flowlog_writer *w;
    unlink(argv[1]);
    if (flowlog_open(argv[1], &o, &w) < 0) {
        fprintf(stderr, "%s\n", err_msg());
        return 1;
    }
    unsigned n = (unsigned)atoi(argv[2]);
    for (unsigned i = 0; i < n; i++) {
        struct flow_record r;
        memset(&r, 0, sizeof(r));
        r.key.family = i % 2 ? 6 : 4;
        r.key.proto = i % 3 ? 6 : 17;
        r.key.local[0] = 10, r.key.local[3] = (uint8_t)i;
        r.key.remote[0] = 192, r.key.remote[1] = 0, r.key.remote[2] = 2, r.key.remote[3] = (uint8_t)(i * 7);
        r.key.lport = (uint16_t)(40000 + i), r.key.rport = i % 2 ? 443 : 53;
        r.key.port = (uint16_t)(i % 2);
        r.packets[0] = i + 1, r.packets[1] = i;
        r.bytes[0] = (i + 1) * 1400ull, r.bytes[1] = i * 60ull;
        r.start_ns = 1700000000000000000ull + i * 1000000000ull;
        r.end_ns = r.start_ns + 500000000ull;
        r.end_reason = (uint8_t)(i % FLOW_END__COUNT);
        if (flowlog_append(w, &r, i % 2 ? "demo" : "web", i % 2 ? "alice" : "bob") < 0) {
            fprintf(stderr, "%s\n", err_msg());
            return 1;
        }
    }
    if (flowlog_close(w) < 0) {
        fprintf(stderr, "%s\n", err_msg());
        return 1;
    }
    return 0;
}
