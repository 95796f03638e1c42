/* The flow log (docs/flowlog-format.md): an append-only file of zstd-compressed blocks of flow
 * records, each block chained to the one before by SHA-256 and sealed with HMAC-SHA256 when a
 * key is given, each block header carrying an index (time range, owner and address blooms) so
 * that a query reads headers and decompresses only the blocks that may match.
 *
 * The writer collects records in memory and writes one whole block with one write(); the
 * reader treats the file as untrusted: every length is checked and a block cut short at the
 * end of the file is reported as torn, never taken. */
#ifndef XENO_AUDIT_FLOWLOG_H
#define XENO_AUDIT_FLOWLOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "audit/flow_record.h"

#define FLOWLOG_FILE_MAGIC "XFLOWLOG"
#define FLOWLOG_BLOCK_MAGIC "XFLB"
#define FLOWLOG_VERSION 1
#define FLOWLOG_FILE_HDR_LEN 64
#define FLOWLOG_BLOCK_HDR_LEN 432
#define FLOWLOG_OWNER_BLOOM_BYTES 64
#define FLOWLOG_ADDR_BLOOM_BYTES 256
#define FLOWLOG_MAX_BLOCK_RECORDS 65536
#define FLOWLOG_MAX_RAW_LEN (64u << 20)
#define FLOWLOG_KEY_MIN 16
#define FLOWLOG_KEY_MAX 1024
#define FLOWLOG_BLOCK_SEALED 0x0001

/* A block header as decoded (offsets in docs/flowlog-format.md). */
struct flowlog_block_hdr {
    uint16_t version, flags;
    uint64_t seq;
    uint32_t nrecords, payload_len, raw_len;
    uint64_t t_min_ms, t_max_ms;
    uint8_t prev_hash[32];
    uint8_t seal[32];
    uint8_t owner_bloom[FLOWLOG_OWNER_BLOOM_BYTES];
    uint8_t addr_bloom[FLOWLOG_ADDR_BLOOM_BYTES];
};

/* ---- writing */

struct flowlog_options {
    uint32_t block_records; /* records per block, 1..FLOWLOG_MAX_BLOCK_RECORDS (0: 4096) */
    int zstd_level;         /* 0: 6 */
    unsigned seal_every;    /* with a key: seal every Nth block (0: every block); the last
                               block written before close is always sealed */
    const uint8_t *key;     /* HMAC key, or NULL: blocks are hash-chained but not sealed */
    size_t key_len;
    bool sync; /* fdatasync after each block */
};

struct flowlog_writer;

/* Opens path for appending: creates it (with a new file id) or, when it exists, checks its
 * hash chain and continues it. A torn or broken existing file is refused (-EBADMSG) rather
 * than extended: run `xenctl audit verify` on it and start a new file. */
int flowlog_open(const char *path, const struct flowlog_options *o, struct flowlog_writer **out);
/* Adds one record; writes a block when block_records are pending. domain and sponsor are
 * copied into the block's dictionary. */
int flowlog_append(struct flowlog_writer *w, const struct flow_record *r, const char *domain, const char *sponsor);
/* Writes the pending records (if any) as a block, sealed when a key is set. */
int flowlog_flush(struct flowlog_writer *w);
uint32_t flowlog_pending(const struct flowlog_writer *w);
/* Bytes in the file so far. */
uint64_t flowlog_size(const struct flowlog_writer *w);
/* Flushes (sealing the last block) and closes; frees w even on error. */
int flowlog_close(struct flowlog_writer *w);

/* Reads a key file: its whole content (FLOWLOG_KEY_MIN..FLOWLOG_KEY_MAX bytes) is the key. */
int flowlog_key_load(const char *path, uint8_t *key, size_t *len);

/* ---- reading */

struct flowlog_reader {
    int fd;
    uint64_t file_size;
    uint64_t offset; /* of the next block header */
    uint8_t file_id[16];
    uint64_t created_ns;
    uint8_t file_hash[32]; /* SHA-256 of the file header: the first block's prev_hash */
};

/* One decoded record: domain and sponsor point into the block's dictionary. */
struct flowlog_entry {
    struct flow_record rec;
    const char *domain, *sponsor;
};

/* A block read from the file. */
struct flowlog_block {
    uint64_t offset;
    struct flowlog_block_hdr hdr;
    uint8_t hdr_raw[FLOWLOG_BLOCK_HDR_LEN];
    uint8_t *payload; /* compressed, payload_len bytes (NULL when skipped) */
    uint8_t hash[32]; /* of this block (valid when the payload was read) */
    /* after flowlog_block_decode: */
    struct flowlog_entry *entries;
    uint32_t nentries;
    char *dict; /* strings the entries point into */
};

int flowlog_reader_open(const char *path, struct flowlog_reader *r);
void flowlog_reader_close(struct flowlog_reader *r);
/* Reads the next block's header and, with want_payload, its payload (computing its hash).
 * Returns 1 with a block, 0 at the clean end of the file, -EBADMSG for a torn or malformed
 * block (the message names the offset and what is wrong). */
int flowlog_reader_next(struct flowlog_reader *r, bool want_payload, struct flowlog_block *b);
/* Decompresses and decodes b's payload into b->entries. */
int flowlog_block_decode(struct flowlog_block *b);
void flowlog_block_release(struct flowlog_block *b);

/* Index checks a query uses to skip blocks (false: no record in this block can match). */
bool flowlog_block_may_have_owner(const struct flowlog_block_hdr *h, char kind /* 'd' or 's' */, const char *name);
bool flowlog_block_may_have_addr(const struct flowlog_block_hdr *h, uint8_t family, const uint8_t *addr);

/* The HMAC-SHA256 seal of a block: over the file id, and the block's hash (which covers its
 * sequence number, previous hash, header and payload). */
void flowlog_seal(const uint8_t *key, size_t key_len, const uint8_t file_id[16], const uint8_t hash[32],
                  uint8_t out[32]);

/* ---- shared by writer and reader (flowlog_codec.c) */
void flowlog_hdr_pack(const struct flowlog_block_hdr *h, uint8_t out[FLOWLOG_BLOCK_HDR_LEN]);
int flowlog_hdr_unpack(const uint8_t in[FLOWLOG_BLOCK_HDR_LEN], struct flowlog_block_hdr *h);
/* SHA-256 over the header without its seal field, then the payload. */
void flowlog_block_hash(const uint8_t hdr_raw[FLOWLOG_BLOCK_HDR_LEN], const uint8_t *payload, size_t len,
                        uint8_t out[32]);
void flowlog_bloom_add_owner(uint8_t *bloom, char kind, const char *name);
void flowlog_bloom_add_addr(uint8_t *bloom, uint8_t family, const uint8_t *addr);

/* ---- checking and querying a whole file (flowlog_verify.c, flowlog_query.c): what
 * `xenctl audit verify` and `xenctl audit query` run, on the file alone, without a daemon. */

struct flowlog_verify_report {
    uint64_t blocks, records, bytes;
    uint64_t sealed;        /* blocks carrying a seal */
    uint64_t seals_checked; /* of those, checked against the key (0 without a key) */
    bool any_sealed;
    uint64_t last_sealed_seq;
    uint64_t unsealed_tail; /* blocks after the last seal: covered by the hash chain only */
    uint64_t t_min_ms, t_max_ms;
};

/* Checks everything: file header, each block's sequence number and link to the one before,
 * its payload (decompressed and decoded), its index (recomputed and compared), and, with a
 * key, every seal. 0 when the file is whole, else -EBADMSG and a message naming the first
 * bad block, its offset and what is wrong (a torn last block included). */
int flowlog_verify(const char *path, const uint8_t *key, size_t key_len, struct flowlog_verify_report *rep);

struct flowlog_query {
    const char *sponsor, *domain; /* NULL: any */
    uint64_t since_ns, until_ns;  /* flows overlapping [since, until]; 0: unbounded */
    bool has_dst;                 /* the flow's destination (the side that was contacted) */
    uint8_t dst_family;
    uint8_t dst[16];
};

struct flowlog_query_stats {
    uint64_t blocks, blocks_decoded, records_scanned, matched;
};

/* Calls fn for each matching record, in file order; blocks whose index rules them out are
 * skipped without being read. fn returning nonzero stops the query (its value is returned).
 * A torn or malformed block ends the query with -EBADMSG after the records before it. */
int flowlog_query_run(const char *path, const struct flowlog_query *q,
                      int (*fn)(void *opaque, const struct flowlog_entry *e), void *opaque,
                      struct flowlog_query_stats *st);

#endif
