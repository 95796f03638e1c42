/* The flow log's fixed-layout pieces shared by writer and reader: block header encoding,
 * the block hash and seal, and the index blooms. Little-endian throughout. */
#include <errno.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <string.h>

#include "audit/flowlog.h"
#include "lib/err.h"

#define OFF_MAGIC 0
#define OFF_VERSION 4
#define OFF_FLAGS 6
#define OFF_SEQ 8
#define OFF_NRECORDS 16
#define OFF_PAYLOAD_LEN 20
#define OFF_RAW_LEN 24
#define OFF_RESERVED 28
#define OFF_TMIN 32
#define OFF_TMAX 40
#define OFF_PREV 48
#define OFF_SEAL 80
#define OFF_OWNER_BLOOM 112
#define OFF_ADDR_BLOOM (OFF_OWNER_BLOOM + FLOWLOG_OWNER_BLOOM_BYTES)
_Static_assert(OFF_ADDR_BLOOM + FLOWLOG_ADDR_BLOOM_BYTES == FLOWLOG_BLOCK_HDR_LEN, "block header layout");

static void put16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}
static void put32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}
static void put64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}
static uint16_t get16(const uint8_t *p)
{
    return (uint16_t)(p[0] | p[1] << 8);
}
static uint32_t get32(const uint8_t *p)
{
    uint32_t v = 0;
    for (int i = 3; i >= 0; i--)
        v = v << 8 | p[i];
    return v;
}
static uint64_t get64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = v << 8 | p[i];
    return v;
}

void flowlog_hdr_pack(const struct flowlog_block_hdr *h, uint8_t out[FLOWLOG_BLOCK_HDR_LEN])
{
    memset(out, 0, FLOWLOG_BLOCK_HDR_LEN);
    memcpy(out + OFF_MAGIC, FLOWLOG_BLOCK_MAGIC, 4);
    put16(out + OFF_VERSION, h->version);
    put16(out + OFF_FLAGS, h->flags);
    put64(out + OFF_SEQ, h->seq);
    put32(out + OFF_NRECORDS, h->nrecords);
    put32(out + OFF_PAYLOAD_LEN, h->payload_len);
    put32(out + OFF_RAW_LEN, h->raw_len);
    put64(out + OFF_TMIN, h->t_min_ms);
    put64(out + OFF_TMAX, h->t_max_ms);
    memcpy(out + OFF_PREV, h->prev_hash, 32);
    memcpy(out + OFF_SEAL, h->seal, 32);
    memcpy(out + OFF_OWNER_BLOOM, h->owner_bloom, FLOWLOG_OWNER_BLOOM_BYTES);
    memcpy(out + OFF_ADDR_BLOOM, h->addr_bloom, FLOWLOG_ADDR_BLOOM_BYTES);
}

int flowlog_hdr_unpack(const uint8_t in[FLOWLOG_BLOCK_HDR_LEN], struct flowlog_block_hdr *h)
{
    if (memcmp(in + OFF_MAGIC, FLOWLOG_BLOCK_MAGIC, 4) != 0)
        return err_set(EBADMSG, "not a block header (bad magic)");
    h->version = get16(in + OFF_VERSION);
    h->flags = get16(in + OFF_FLAGS);
    if (h->version != FLOWLOG_VERSION)
        return err_set(EBADMSG, "block version %u, this reader knows %u", h->version, FLOWLOG_VERSION);
    if (h->flags & ~FLOWLOG_BLOCK_SEALED)
        return err_set(EBADMSG, "unknown block flags 0x%x", h->flags);
    if (get32(in + OFF_RESERVED) != 0)
        return err_set(EBADMSG, "reserved header field is not zero");
    h->seq = get64(in + OFF_SEQ);
    h->nrecords = get32(in + OFF_NRECORDS);
    h->payload_len = get32(in + OFF_PAYLOAD_LEN);
    h->raw_len = get32(in + OFF_RAW_LEN);
    h->t_min_ms = get64(in + OFF_TMIN);
    h->t_max_ms = get64(in + OFF_TMAX);
    if (h->nrecords == 0 || h->nrecords > FLOWLOG_MAX_BLOCK_RECORDS)
        return err_set(EBADMSG, "record count %u out of range 1..%u", h->nrecords, FLOWLOG_MAX_BLOCK_RECORDS);
    if (h->raw_len == 0 || h->raw_len > FLOWLOG_MAX_RAW_LEN || h->payload_len == 0 ||
        h->payload_len > FLOWLOG_MAX_RAW_LEN)
        return err_set(EBADMSG, "payload lengths %u/%u out of range", h->payload_len, h->raw_len);
    if (h->t_min_ms > h->t_max_ms)
        return err_set(EBADMSG, "time range inverted");
    memcpy(h->prev_hash, in + OFF_PREV, 32);
    memcpy(h->seal, in + OFF_SEAL, 32);
    static const uint8_t zero[32];
    /* An unsealed block carries zeros there, so clearing the flag alone cannot hide a seal. */
    if (!(h->flags & FLOWLOG_BLOCK_SEALED) && memcmp(h->seal, zero, 32) != 0)
        return err_set(EBADMSG, "block not marked sealed but carries a seal");
    memcpy(h->owner_bloom, in + OFF_OWNER_BLOOM, FLOWLOG_OWNER_BLOOM_BYTES);
    memcpy(h->addr_bloom, in + OFF_ADDR_BLOOM, FLOWLOG_ADDR_BLOOM_BYTES);
    return 0;
}

void flowlog_block_hash(const uint8_t hdr_raw[FLOWLOG_BLOCK_HDR_LEN], const uint8_t *payload, size_t len,
                        uint8_t out[32])
{
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    unsigned n = 32;
    /* The seal is left out: it is computed over this hash. Allocation failure of a tiny
     * context leaves a zero hash, which never matches and so is reported, not trusted. */
    memset(out, 0, 32);
    if (!ctx)
        return;
    if (EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) == 1 && EVP_DigestUpdate(ctx, hdr_raw, OFF_SEAL) == 1 &&
        EVP_DigestUpdate(ctx, hdr_raw + OFF_OWNER_BLOOM, FLOWLOG_BLOCK_HDR_LEN - OFF_OWNER_BLOOM) == 1 &&
        EVP_DigestUpdate(ctx, payload, len) == 1)
        EVP_DigestFinal_ex(ctx, out, &n);
    EVP_MD_CTX_free(ctx);
}

void flowlog_seal(const uint8_t *key, size_t key_len, const uint8_t file_id[16], const uint8_t hash[32],
                  uint8_t out[32])
{
    uint8_t msg[48];
    unsigned n = 32;
    memcpy(msg, file_id, 16);
    memcpy(msg + 16, hash, 32);
    memset(out, 0, 32);
    HMAC(EVP_sha256(), key, (int)key_len, msg, sizeof(msg), out, &n);
}

/* FNV-1a, then three probe positions from one 64-bit value (Kirsch-Mitzenmacher). */
static uint64_t fnv(uint64_t h, const void *data, size_t len)
{
    const uint8_t *p = data;
    for (size_t i = 0; i < len; i++) {
        h ^= p[i];
        h *= 0x100000001b3ull;
    }
    return h;
}

static void bloom_set(uint8_t *bloom, size_t bits, uint64_t h)
{
    uint32_t a = (uint32_t)h, b = (uint32_t)(h >> 32) | 1;
    for (uint32_t i = 0; i < 3; i++) {
        uint32_t bit = (a + i * b) % bits;
        bloom[bit / 8] |= (uint8_t)(1u << (bit % 8));
    }
}

static bool bloom_test(const uint8_t *bloom, size_t bits, uint64_t h)
{
    uint32_t a = (uint32_t)h, b = (uint32_t)(h >> 32) | 1;
    for (uint32_t i = 0; i < 3; i++) {
        uint32_t bit = (a + i * b) % bits;
        if (!(bloom[bit / 8] & (1u << (bit % 8))))
            return false;
    }
    return true;
}

static uint64_t owner_hash(char kind, const char *name)
{
    return fnv(fnv(0xcbf29ce484222325ull, &kind, 1), name, strlen(name));
}

static uint64_t addr_hash(uint8_t family, const uint8_t *addr)
{
    return fnv(fnv(0xcbf29ce484222325ull, &family, 1), addr, family == 6 ? 16 : 4);
}

void flowlog_bloom_add_owner(uint8_t *bloom, char kind, const char *name)
{
    bloom_set(bloom, FLOWLOG_OWNER_BLOOM_BYTES * 8, owner_hash(kind, name));
}

void flowlog_bloom_add_addr(uint8_t *bloom, uint8_t family, const uint8_t *addr)
{
    bloom_set(bloom, FLOWLOG_ADDR_BLOOM_BYTES * 8, addr_hash(family, addr));
}

bool flowlog_block_may_have_owner(const struct flowlog_block_hdr *h, char kind, const char *name)
{
    return bloom_test(h->owner_bloom, FLOWLOG_OWNER_BLOOM_BYTES * 8, owner_hash(kind, name));
}

bool flowlog_block_may_have_addr(const struct flowlog_block_hdr *h, uint8_t family, const uint8_t *addr)
{
    return bloom_test(h->addr_bloom, FLOWLOG_ADDR_BLOOM_BYTES * 8, addr_hash(family, addr));
}
