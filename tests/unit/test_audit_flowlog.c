/* The flow log (src/audit/flowlog_*.c): records come back exactly, blocks chain and seal,
 * every single-byte alteration, a deleted or reordered block and a torn tail are detected,
 * the index lets a query skip blocks, and a damaged file is refused for appending. */
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
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <zstd.h>
#include <unistd.h>

#include "audit/flowlog.h"
#include "lib/err.h"

static const uint8_t KEY[32] = "0123456789abcdef0123456789abcdef";
static const uint8_t OTHER_KEY[32] = "fedcba9876543210fedcba9876543210";
#define T0 1764144000000000000ull /* 2025-11-26T08:00:00Z in ns */

struct fixture {
    char dir[64];
    char path[96];
};

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    snprintf(f->dir, sizeof(f->dir), "/tmp/test_audit_flowlog.XXXXXX");
    if (!mkdtemp(f->dir))
        return -1;
    snprintf(f->path, sizeof(f->path), "%s/flows.log", f->dir);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    unlink(f->path);
    rmdir(f->dir);
    free(f);
    return 0;
}

static const char *const DOMAINS[] = {"web1", "web2", "mail", "db"};
static const char *const SPONSORS[] = {"alice", "alice", "bob", "carol"};

/* Record i of a deterministic mix: IPv4 and IPv6, TCP, UDP, ICMP and GRE. */
static void make_record(unsigned i, struct flow_record *r, const char **dom, const char **spo)
{
    memset(r, 0, sizeof(*r));
    unsigned o = i % 4;
    *dom = DOMAINS[o];
    *spo = SPONSORS[o];
    static const uint8_t protos[] = {6, 6, 17, 1, 47, 58};
    r->key.proto = protos[i % 6];
    r->key.family = (r->key.proto == 58 || i % 7 == 3) ? 6 : 4;
    if (r->key.family == 4) {
        uint8_t l[4] = {10, 0, 0, (uint8_t)(2 + o)}, rm[4] = {192, 0, 2, (uint8_t)(i % 250)};
        memcpy(r->key.local, l, 4);
        memcpy(r->key.remote, rm, 4);
    } else {
        r->key.local[0] = 0x20, r->key.local[1] = 0x01, r->key.local[15] = (uint8_t)o;
        r->key.remote[0] = 0x20, r->key.remote[1] = 0x01, r->key.remote[14] = (uint8_t)(i >> 8),
        r->key.remote[15] = (uint8_t)i;
    }
    if (r->key.proto == 6 || r->key.proto == 17) {
        r->key.lport = (uint16_t)(32768 + i * 3);
        r->key.rport = i % 3 ? 443 : 25;
    } else if (r->key.proto == 1 || r->key.proto == 58)
        r->key.rport = 8 << 8;
    r->key.port = (uint16_t)o;
    r->dir = i % 5 == 0;
    r->end_reason = (uint8_t)(i % FLOW_END__COUNT);
    r->flags = (uint8_t)(i % 4);
    if (r->key.proto == 6) {
        r->tcp_flags[0] = 0x1b;
        r->tcp_flags[1] = 0x12;
    }
    r->owner = o;
    r->packets[0] = i % 11 + 1;
    r->packets[1] = i % 13;
    r->bytes[0] = (uint64_t)r->packets[0] * 1400 + i;
    r->bytes[1] = i == 7 ? (1ull << 40) : (uint64_t)r->packets[1] * 60;
    /* Not in end order: records are written when flows end, not when they start. */
    r->start_ns = T0 + (uint64_t)i * 13000000 + (i % 3) * 1000000000ull;
    r->end_ns = r->start_ns + (uint64_t)(i % 17) * 250000000;
}

static void write_log(const char *path, unsigned n, uint32_t block, const uint8_t *key, unsigned seal_every)
{
    struct flowlog_options o = {.block_records = block, .key = key, .key_len = key ? 32 : 0, .seal_every = seal_every};
    struct flowlog_writer *w;
    assert_int_equal(flowlog_open(path, &o, &w), 0);
    for (unsigned i = 0; i < n; i++) {
        struct flow_record r;
        const char *d, *s;
        make_record(i, &r, &d, &s);
        assert_int_equal(flowlog_append(w, &r, d, s), 0);
    }
    assert_int_equal(flowlog_close(w), 0);
}

struct collect {
    unsigned n;
    struct flowlog_entry got[64];
    char names[64][2][16];
};

static int collect_fn(void *opaque, const struct flowlog_entry *e)
{
    struct collect *c = opaque;
    if (c->n < 64) {
        c->got[c->n] = *e;
        snprintf(c->names[c->n][0], 16, "%s", e->domain);
        snprintf(c->names[c->n][1], 16, "%s", e->sponsor);
    }
    c->n++;
    return 0;
}

static void test_roundtrip_exact(void **state)
{
    struct fixture *f = *state;
    write_log(f->path, 100, 16, KEY, 0);
    struct flowlog_reader r;
    assert_int_equal(flowlog_reader_open(f->path, &r), 0);
    struct flowlog_block b;
    unsigned i = 0, blocks = 0;
    int rc;
    while ((rc = flowlog_reader_next(&r, true, &b)) == 1) {
        assert_int_equal(b.hdr.seq, blocks);
        assert_int_equal(flowlog_block_decode(&b), 0);
        for (uint32_t k = 0; k < b.nentries; k++, i++) {
            struct flow_record want;
            const char *d, *s;
            make_record(i, &want, &d, &s);
            const struct flow_record *got = &b.entries[k].rec;
            assert_memory_equal(&got->key, &want.key, sizeof(want.key));
            assert_int_equal(got->dir, want.dir);
            assert_int_equal(got->end_reason, want.end_reason);
            assert_int_equal(got->flags, want.flags);
            assert_memory_equal(got->tcp_flags, want.tcp_flags, 2);
            assert_int_equal(got->packets[0], want.packets[0]);
            assert_int_equal(got->packets[1], want.packets[1]);
            assert_int_equal(got->bytes[0], want.bytes[0]);
            assert_int_equal(got->bytes[1], want.bytes[1]);
            /* Millisecond resolution on disk. */
            assert_int_equal(got->start_ns, want.start_ns / 1000000 * 1000000);
            assert_int_equal(got->end_ns, want.end_ns / 1000000 * 1000000);
            assert_string_equal(b.entries[k].domain, d);
            assert_string_equal(b.entries[k].sponsor, s);
        }
        flowlog_block_release(&b);
        blocks++;
    }
    assert_int_equal(rc, 0);
    assert_int_equal(i, 100);
    assert_int_equal(blocks, 7); /* 6 x 16 + 4 */
    flowlog_reader_close(&r);
}

static void test_verify_good_and_seals(void **state)
{
    struct fixture *f = *state;
    write_log(f->path, 100, 16, KEY, 3);
    struct flowlog_verify_report rep;
    assert_int_equal(flowlog_verify(f->path, KEY, 32, &rep), 0);
    assert_int_equal(rep.blocks, 7);
    assert_int_equal(rep.records, 100);
    /* Blocks 2 and 5 by the period, and the last one because the writer closed. */
    assert_int_equal(rep.sealed, 3);
    assert_int_equal(rep.seals_checked, 3);
    assert_int_equal(rep.unsealed_tail, 0);
    assert_int_equal(flowlog_verify(f->path, NULL, 0, &rep), 0);
    assert_int_equal(rep.seals_checked, 0);
    assert_int_equal(flowlog_verify(f->path, OTHER_KEY, 32, &rep), -EBADMSG);
    assert_non_null(strstr(err_msg(), "seal does not match"));
}

static uint8_t *slurp(const char *path, size_t *len)
{
    FILE *fp = fopen(path, "rb");
    assert_non_null(fp);
    fseek(fp, 0, SEEK_END);
    *len = (size_t)ftell(fp);
    rewind(fp);
    uint8_t *buf = malloc(*len);
    assert_int_equal(fread(buf, 1, *len, fp), *len);
    fclose(fp);
    return buf;
}

static void spit(const char *path, const uint8_t *buf, size_t len)
{
    FILE *fp = fopen(path, "wb");
    assert_non_null(fp);
    assert_int_equal(fwrite(buf, 1, len, fp), len);
    fclose(fp);
}

/* Every byte of a sealed log, altered in turn, is detected with the key: file header,
 * sequence numbers, links, index, payload, seals. Without the key everything before the last
 * block is still detected through the hash chain, except the seals themselves; the last
 * block has nothing after it, so there only what changes its decoded content (zstd's
 * checksum) or breaks its format is seen: the seal is what protects it. */
static void test_every_byte_altered_is_detected(void **state)
{
    struct fixture *f = *state;
    write_log(f->path, 12, 4, KEY, 0);
    size_t len;
    uint8_t *orig = slurp(f->path, &len);
    uint8_t *buf = malloc(len);
    struct flowlog_reader r;
    struct flowlog_block b;
    uint64_t off[3];
    assert_int_equal(flowlog_reader_open(f->path, &r), 0);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(flowlog_reader_next(&r, false, &b), 1);
        off[i] = b.offset;
    }
    flowlog_reader_close(&r);
    struct flowlog_verify_report rep;
    unsigned missed_with_key = 0, missed_without = 0;
    for (size_t i = 0; i < len; i++) {
        memcpy(buf, orig, len);
        buf[i] ^= 0x01;
        spit(f->path, buf, len);
        if (flowlog_verify(f->path, KEY, 32, &rep) == 0) {
            missed_with_key++;
            print_message("undetected with the key: byte %zu\n", i);
        }
        bool seal = false;
        for (int k = 0; k < 3; k++)
            seal |= i >= off[k] + 80 && i < off[k] + 112;
        bool last_payload = i >= off[2] + FLOWLOG_BLOCK_HDR_LEN;
        if (!seal && !last_payload && flowlog_verify(f->path, NULL, 0, &rep) == 0) {
            missed_without++;
            print_message("undetected without the key: byte %zu\n", i);
        }
    }
    assert_int_equal(missed_with_key, 0);
    assert_int_equal(missed_without, 0);
    free(buf);
    free(orig);
}

static void test_deleted_reordered_torn(void **state)
{
    struct fixture *f = *state;
    write_log(f->path, 12, 4, KEY, 0);
    size_t len;
    uint8_t *orig = slurp(f->path, &len);
    struct flowlog_reader r;
    struct flowlog_block b;
    uint64_t off[4];
    assert_int_equal(flowlog_reader_open(f->path, &r), 0);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(flowlog_reader_next(&r, false, &b), 1);
        off[i] = b.offset;
    }
    off[3] = len;
    flowlog_reader_close(&r);
    struct flowlog_verify_report rep;
    uint8_t *buf = malloc(len);

    /* The middle block deleted. */
    memcpy(buf, orig, off[1]);
    memcpy(buf + off[1], orig + off[2], len - off[2]);
    spit(f->path, buf, off[1] + len - off[2]);
    assert_int_equal(flowlog_verify(f->path, KEY, 32, &rep), -EBADMSG);
    assert_non_null(strstr(err_msg(), "block 1 at offset"));
    assert_non_null(strstr(err_msg(), "sequence number 2 where 1 was due"));

    /* The last two blocks swapped. */
    size_t n = off[1];
    memcpy(buf, orig, n);
    memcpy(buf + n, orig + off[2], off[3] - off[2]);
    n += off[3] - off[2];
    memcpy(buf + n, orig + off[1], off[2] - off[1]);
    n += off[2] - off[1];
    spit(f->path, buf, n);
    assert_int_equal(flowlog_verify(f->path, KEY, 32, &rep), -EBADMSG);

    /* Torn: the file ends inside the last block's payload, then inside its header. */
    spit(f->path, orig, len - 5);
    assert_int_equal(flowlog_verify(f->path, NULL, 0, &rep), -EBADMSG);
    assert_non_null(strstr(err_msg(), "torn block 2"));
    assert_int_equal(rep.blocks, 2);
    spit(f->path, orig, off[2] + 100);
    assert_int_equal(flowlog_verify(f->path, NULL, 0, &rep), -EBADMSG);
    assert_non_null(strstr(err_msg(), "torn block at offset"));

    /* A torn file is not appended to. */
    struct flowlog_writer *w;
    struct flowlog_options o = {0};
    assert_int_equal(flowlog_open(f->path, &o, &w), -EBADMSG);
    assert_non_null(strstr(err_msg(), "not appending"));

    /* Not a flow log at all. */
    spit(f->path, (const uint8_t *)"hello, world, this is not a log file at all, not even close to one....", 70);
    assert_int_equal(flowlog_verify(f->path, NULL, 0, &rep), -EBADMSG);
    assert_non_null(strstr(err_msg(), "bad magic"));
    free(buf);
    free(orig);
}

static void test_append_continues_chain(void **state)
{
    struct fixture *f = *state;
    write_log(f->path, 10, 4, KEY, 0); /* 3 blocks */
    struct flowlog_options o = {.block_records = 4, .key = KEY, .key_len = 32};
    struct flowlog_writer *w;
    assert_int_equal(flowlog_open(f->path, &o, &w), 0);
    for (unsigned i = 10; i < 15; i++) {
        struct flow_record r;
        const char *d, *s;
        make_record(i, &r, &d, &s);
        assert_int_equal(flowlog_append(w, &r, d, s), 0);
    }
    assert_int_equal(flowlog_close(w), 0);
    struct flowlog_verify_report rep;
    assert_int_equal(flowlog_verify(f->path, KEY, 32, &rep), 0);
    assert_int_equal(rep.blocks, 5);
    assert_int_equal(rep.records, 15);
}

static void test_query_index_skips_blocks(void **state)
{
    struct fixture *f = *state;
    /* 64 blocks, each holding one domain's flows to one /24 at one time: a query for one of
     * them must decode a handful of blocks, not all. */
    struct flowlog_options o = {.block_records = 8};
    struct flowlog_writer *w;
    assert_int_equal(flowlog_open(f->path, &o, &w), 0);
    char dom[32], spo[32];
    for (unsigned b = 0; b < 64; b++) {
        snprintf(dom, sizeof(dom), "dom%u", b);
        snprintf(spo, sizeof(spo), "sponsor%u", b % 16);
        for (unsigned i = 0; i < 8; i++) {
            struct flow_record r = {0};
            r.key.family = 4;
            r.key.proto = 6;
            uint8_t l[4] = {10, 1, 0, (uint8_t)b}, rm[4] = {198, 51, (uint8_t)b, (uint8_t)i};
            memcpy(r.key.local, l, 4);
            memcpy(r.key.remote, rm, 4);
            r.key.lport = (uint16_t)(40000 + i);
            r.key.rport = 80;
            r.packets[0] = 3;
            r.bytes[0] = 180;
            r.start_ns = T0 + (uint64_t)b * 60000000000ull + i * 1000000ull;
            r.end_ns = r.start_ns + 5000000;
            assert_int_equal(flowlog_append(w, &r, dom, spo), 0);
        }
    }
    assert_int_equal(flowlog_close(w), 0);

    struct collect c = {0};
    struct flowlog_query_stats st;
    struct flowlog_query q = {.sponsor = "sponsor5", .since_ns = T0};
    assert_int_equal(flowlog_query_run(f->path, &q, collect_fn, &c, &st), 0);
    assert_int_equal(c.n, 4 * 8); /* blocks 5, 21, 37, 53 */
    assert_int_equal(st.blocks, 64);
    assert_true(st.blocks_decoded < 12);
    for (unsigned i = 0; i < c.n; i++)
        assert_string_equal(c.names[i][1], "sponsor5");

    /* Time window: only block 37's minute, and a destination in it. */
    memset(&c, 0, sizeof(c));
    q.since_ns = T0 + 37 * 60000000000ull;
    q.until_ns = T0 + 37 * 60000000000ull + 30000000000ull;
    q.has_dst = true;
    q.dst_family = 4;
    uint8_t want[4] = {198, 51, 37, 6};
    memcpy(q.dst, want, 4);
    assert_int_equal(flowlog_query_run(f->path, &q, collect_fn, &c, &st), 0);
    assert_int_equal(c.n, 1);
    assert_memory_equal(c.got[0].rec.key.remote, want, 4);
    assert_int_equal(c.got[0].rec.key.lport, 40006);
    assert_int_equal(st.blocks_decoded, 1);

    /* Nobody. */
    memset(&c, 0, sizeof(c));
    struct flowlog_query none = {.domain = "nosuch", .since_ns = 1};
    assert_int_equal(flowlog_query_run(f->path, &none, collect_fn, &c, &st), 0);
    assert_int_equal(c.n, 0);
}

static void test_key_file(void **state)
{
    struct fixture *f = *state;
    uint8_t key[FLOWLOG_KEY_MAX];
    size_t len;
    spit(f->path, (const uint8_t *)"short", 5);
    assert_int_equal(flowlog_key_load(f->path, key, &len), -EINVAL);
    assert_non_null(strstr(err_msg(), "5 bytes"));
    spit(f->path, KEY, 32);
    assert_int_equal(flowlog_key_load(f->path, key, &len), 0);
    assert_int_equal(len, 32);
    assert_memory_equal(key, KEY, 32);
    unlink(f->path);
    assert_int_equal(flowlog_key_load(f->path, key, &len), -ENOENT);
}

static void test_bad_names_refused(void **state)
{
    struct fixture *f = *state;
    struct flowlog_options o = {0};
    struct flowlog_writer *w;
    assert_int_equal(flowlog_open(f->path, &o, &w), 0);
    struct flow_record r;
    const char *d, *s;
    make_record(1, &r, &d, &s);
    char longname[300];
    memset(longname, 'x', sizeof(longname) - 1);
    longname[299] = 0;
    assert_int_equal(flowlog_append(w, &r, longname, s), -EINVAL);
    r.key.family = 5;
    assert_int_equal(flowlog_append(w, &r, d, s), -EINVAL);
    assert_int_equal(flowlog_close(w), 0);
    struct flowlog_verify_report rep;
    assert_int_equal(flowlog_verify(f->path, NULL, 0, &rep), 0);
    assert_int_equal(rep.blocks, 0);
}

/* A write that fails halfway (the file size limit stands in for a full disk) leaves no partial
 * block behind; once there is room again the pending records go out and the log is whole. */
static void test_failed_write_leaves_no_torn_block(void **state)
{
    struct fixture *f = *state;
    struct flowlog_options o = {.block_records = 4, .key = KEY, .key_len = 32};
    struct flowlog_writer *w;
    assert_int_equal(flowlog_open(f->path, &o, &w), 0);
    struct flow_record r;
    const char *d, *s;
    for (unsigned i = 0; i < 4; i++) {
        make_record(i, &r, &d, &s);
        assert_int_equal(flowlog_append(w, &r, d, s), 0);
    }
    uint64_t good = flowlog_size(w);
    struct rlimit old, lim;
    assert_int_equal(getrlimit(RLIMIT_FSIZE, &old), 0);
    lim = old;
    lim.rlim_cur = good + 100; /* room for part of the next block's header only */
    signal(SIGXFSZ, SIG_IGN);
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &lim), 0);
    for (unsigned i = 4; i < 7; i++) {
        make_record(i, &r, &d, &s);
        assert_int_equal(flowlog_append(w, &r, d, s), 0);
    }
    make_record(7, &r, &d, &s);
    assert_true(flowlog_append(w, &r, d, s) < 0); /* the block of 4..7 cannot be written */
    struct stat st;
    assert_int_equal(stat(f->path, &st), 0);
    assert_int_equal((uint64_t)st.st_size, good);
    make_record(8, &r, &d, &s);
    assert_true(flowlog_append(w, &r, d, s) < 0); /* still full: refused, not overrun */
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &old), 0);
    signal(SIGXFSZ, SIG_DFL);
    assert_int_equal(flowlog_append(w, &r, d, s), 0);
    assert_int_equal(flowlog_close(w), 0);
    struct flowlog_verify_report rep;
    assert_int_equal(flowlog_verify(f->path, KEY, 32, &rep), 0);
    assert_int_equal(rep.records, 9);
}

/* The decoder on payloads that pass zstd but lie: every prefix of a real block's raw payload,
 * and every single-byte change of it, recompressed under a header that matches. Each must be
 * refused with a message or decode to records, never read out of bounds (ASan watches). */
static void test_decoder_on_damaged_payloads(void **state)
{
    struct fixture *f = *state;
    write_log(f->path, 6, 6, NULL, 0);
    struct flowlog_reader r;
    struct flowlog_block b;
    assert_int_equal(flowlog_reader_open(f->path, &r), 0);
    assert_int_equal(flowlog_reader_next(&r, true, &b), 1);
    flowlog_reader_close(&r);
    size_t raw_len = b.hdr.raw_len;
    uint8_t *raw = malloc(raw_len), *bad = malloc(raw_len);
    assert_int_equal(ZSTD_decompress(raw, raw_len, b.payload, b.hdr.payload_len), raw_len);
    size_t cap = ZSTD_compressBound(raw_len);
    unsigned refused = 0, decoded = 0;
    for (size_t variant = 0; variant < 2 * raw_len; variant++) {
        size_t len = raw_len;
        memcpy(bad, raw, raw_len);
        if (variant < raw_len)
            len = variant; /* cut short */
        else
            bad[variant - raw_len] ^= 0x5a;
        struct flowlog_block t = {.hdr = b.hdr};
        t.payload = malloc(cap + 1);
        size_t c = ZSTD_compress(t.payload, cap + 1, bad, len ? len : 1, 1);
        assert_false(ZSTD_isError(c));
        t.hdr.payload_len = (uint32_t)c;
        t.hdr.raw_len = (uint32_t)(len ? len : 1);
        if (flowlog_block_decode(&t) == 0) {
            decoded++;
            for (uint32_t i = 0; i < t.nentries; i++)
                assert_true(strlen(t.entries[i].domain) <= 255 && strlen(t.entries[i].sponsor) <= 255);
        } else {
            refused++;
            assert_non_null(strstr(err_msg(), "block 0"));
        }
        flowlog_block_release(&t);
    }
    /* Every cut is refused; most flips are (some only change a value). */
    assert_true(refused >= raw_len);
    print_message("damaged payloads: %u refused, %u decoded to other values\n", refused, decoded);
    free(raw);
    free(bad);
    flowlog_block_release(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_roundtrip_exact, setup, teardown),
        cmocka_unit_test_setup_teardown(test_verify_good_and_seals, setup, teardown),
        cmocka_unit_test_setup_teardown(test_every_byte_altered_is_detected, setup, teardown),
        cmocka_unit_test_setup_teardown(test_deleted_reordered_torn, setup, teardown),
        cmocka_unit_test_setup_teardown(test_append_continues_chain, setup, teardown),
        cmocka_unit_test_setup_teardown(test_query_index_skips_blocks, setup, teardown),
        cmocka_unit_test_setup_teardown(test_key_file, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_names_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_failed_write_leaves_no_torn_block, setup, teardown),
        cmocka_unit_test_setup_teardown(test_decoder_on_damaged_payloads, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
