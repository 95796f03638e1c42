/* Writing the flow log: records are gathered in memory (no allocation after open) and each
 * block is encoded column by column (one column per field: similar values side by side
 * compress far better), compressed with zstd and appended with one write(). */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>
#include <openssl/evp.h>
#include <time.h>
#include <zstd.h>

#include "audit/flowlog.h"
#include "audit/varint.h"
#include "lib/err.h"

#define DEFAULT_BLOCK_RECORDS 4096
#define DEFAULT_ZSTD_LEVEL 6
#define NAME_MAX_LEN 255
/* Worst case of one encoded record (every varint at its longest, IPv6 addresses). */
#define RECORD_MAX_RAW 128

struct dict_slot {
    uint64_t hash; /* 0: empty */
    uint32_t index;
};

struct flowlog_writer {
    int fd;
    struct flowlog_options opt;
    uint8_t key[FLOWLOG_KEY_MAX];
    uint8_t file_id[16];
    uint8_t prev_hash[32];
    uint64_t next_seq;
    uint64_t size;
    unsigned unsealed; /* blocks written since the last seal */

    struct flow_record *pending;
    uint32_t npending;

    /* The block's dictionary of (domain, sponsor) pairs. */
    char *dict_buf;
    size_t dict_used, dict_cap;
    uint32_t *dict_off; /* per entry: offset of "domain\0sponsor\0" in dict_buf */
    uint32_t ndict;
    struct dict_slot *dict_slots;
    uint32_t dict_mask;

    uint8_t *raw;
    size_t raw_cap;
    uint8_t *out; /* header + compressed payload */
    size_t out_cap;
    ZSTD_CCtx *zc;
};

int flowlog_key_load(const char *path, uint8_t *key, size_t *len)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return err_set(errno, "key file %s: %s", path, strerror(errno));
    uint8_t buf[FLOWLOG_KEY_MAX + 1];
    size_t n = 0;
    for (;;) {
        ssize_t r = read(fd, buf + n, sizeof(buf) - n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            int e = errno;
            close(fd);
            return err_set(e, "key file %s: %s", path, strerror(e));
        }
        if (r == 0 || (n += (size_t)r) == sizeof(buf))
            break;
    }
    close(fd);
    if (n < FLOWLOG_KEY_MIN || n > FLOWLOG_KEY_MAX)
        return err_set(EINVAL, "key file %s: %zu bytes, a key has %d to %d", path, n, FLOWLOG_KEY_MIN, FLOWLOG_KEY_MAX);
    memcpy(key, buf, n);
    *len = n;
    return 0;
}

static int write_all(int fd, const uint8_t *p, size_t n, const char *what)
{
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0)
            return err_set(errno, "flow log: writing %s: %s", what, strerror(errno));
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

/* Continues an existing file: its chain must be whole, or we would extend a broken log. */
static int resume(struct flowlog_writer *w, const char *path)
{
    struct flowlog_reader r;
    int rc = flowlog_reader_open(path, &r);
    if (rc < 0)
        return rc;
    memcpy(w->file_id, r.file_id, 16);
    memcpy(w->prev_hash, r.file_hash, 32);
    w->next_seq = 0;
    struct flowlog_block b;
    while ((rc = flowlog_reader_next(&r, true, &b)) == 1) {
        bool ok = b.hdr.seq == w->next_seq && memcmp(b.hdr.prev_hash, w->prev_hash, 32) == 0;
        memcpy(w->prev_hash, b.hash, 32);
        flowlog_block_release(&b);
        if (!ok) {
            flowlog_reader_close(&r);
            return err_set(EBADMSG, "flow log %s: block %llu at offset %llu breaks the hash chain; not appending", path,
                           (unsigned long long)w->next_seq, (unsigned long long)b.offset);
        }
        w->next_seq++;
    }
    w->size = r.offset;
    flowlog_reader_close(&r);
    if (rc < 0) {
        err_wrap(EBADMSG, "flow log %s", path);
        return err_append(EBADMSG, "; not appending (verify it and start a new file)");
    }
    return 0;
}

int flowlog_open(const char *path, const struct flowlog_options *o, struct flowlog_writer **out)
{
    *out = NULL;
    struct flowlog_writer *w = calloc(1, sizeof(*w));
    if (!w)
        return err_set(ENOMEM, "flow log %s: out of memory", path);
    w->fd = -1;
    w->opt = *o;
    if (!w->opt.block_records)
        w->opt.block_records = DEFAULT_BLOCK_RECORDS;
    if (!w->opt.zstd_level)
        w->opt.zstd_level = DEFAULT_ZSTD_LEVEL;
    int rc = 0;
    if (w->opt.block_records > FLOWLOG_MAX_BLOCK_RECORDS) {
        rc = err_set(EINVAL, "flow log: %u records per block, at most %u", w->opt.block_records,
                     FLOWLOG_MAX_BLOCK_RECORDS);
        goto fail;
    }
    if (o->key) {
        if (o->key_len < FLOWLOG_KEY_MIN || o->key_len > FLOWLOG_KEY_MAX) {
            rc = err_set(EINVAL, "flow log: key of %zu bytes, a key has %d to %d", o->key_len, FLOWLOG_KEY_MIN,
                         FLOWLOG_KEY_MAX);
            goto fail;
        }
        memcpy(w->key, o->key, o->key_len);
        w->opt.key = w->key;
    }
    uint32_t n = w->opt.block_records;
    w->pending = calloc(n, sizeof(*w->pending));
    w->dict_cap = (size_t)n * 2 * (NAME_MAX_LEN + 1);
    w->dict_buf = malloc(w->dict_cap);
    w->dict_off = calloc(n, sizeof(*w->dict_off));
    uint32_t slots = 16;
    while (slots < 2 * n)
        slots <<= 1;
    w->dict_slots = calloc(slots, sizeof(*w->dict_slots));
    w->dict_mask = slots - 1;
    w->raw_cap = (size_t)n * RECORD_MAX_RAW + w->dict_cap + 32;
    w->raw = malloc(w->raw_cap);
    w->out_cap = FLOWLOG_BLOCK_HDR_LEN + ZSTD_compressBound(w->raw_cap);
    w->out = malloc(w->out_cap);
    w->zc = ZSTD_createCCtx();
    if (!w->pending || !w->dict_buf || !w->dict_off || !w->dict_slots || !w->raw || !w->out || !w->zc) {
        rc = err_set(ENOMEM, "flow log %s: out of memory for blocks of %u records", path, n);
        goto fail;
    }
    ZSTD_CCtx_setParameter(w->zc, ZSTD_c_compressionLevel, w->opt.zstd_level);
    /* zstd's own checksum catches a damaged payload even in a block nothing seals yet. */
    ZSTD_CCtx_setParameter(w->zc, ZSTD_c_checksumFlag, 1);

    w->fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    if (w->fd < 0) {
        rc = err_set(errno, "flow log %s: %s", path, strerror(errno));
        goto fail;
    }
    struct stat st;
    if (fstat(w->fd, &st) < 0) {
        rc = err_set(errno, "flow log %s: %s", path, strerror(errno));
        goto fail;
    }
    if (st.st_size > 0) {
        rc = resume(w, path);
        if (rc < 0)
            goto fail;
    } else {
        uint8_t hdr[FLOWLOG_FILE_HDR_LEN] = {0};
        if (getrandom(w->file_id, 16, 0) != 16) {
            rc = err_set(EIO, "flow log %s: no random file id", path);
            goto fail;
        }
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        uint64_t now = (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
        memcpy(hdr, FLOWLOG_FILE_MAGIC, 8);
        hdr[8] = FLOWLOG_VERSION;
        hdr[12] = FLOWLOG_FILE_HDR_LEN;
        memcpy(hdr + 16, w->file_id, 16);
        for (int i = 0; i < 8; i++)
            hdr[32 + i] = (uint8_t)(now >> (8 * i));
        rc = write_all(w->fd, hdr, sizeof(hdr), "the file header");
        if (rc < 0)
            goto fail;
        EVP_Digest(hdr, sizeof(hdr), w->prev_hash, NULL, EVP_sha256(), NULL);
        w->size = sizeof(hdr);
    }
    *out = w;
    return 0;
fail:
    if (w->fd >= 0)
        close(w->fd);
    free(w->pending);
    free(w->dict_buf);
    free(w->dict_off);
    free(w->dict_slots);
    free(w->raw);
    free(w->out);
    ZSTD_freeCCtx(w->zc);
    free(w);
    return rc;
}

static uint64_t name_hash(const char *d, const char *s)
{
    uint64_t h = 0xcbf29ce484222325ull;
    for (const char *p = d; *p; p++)
        h = (h ^ (uint8_t)*p) * 0x100000001b3ull;
    h = (h ^ 0xff) * 0x100000001b3ull;
    for (const char *p = s; *p; p++)
        h = (h ^ (uint8_t)*p) * 0x100000001b3ull;
    return h | 1;
}

static uint32_t dict_index(struct flowlog_writer *w, const char *domain, const char *sponsor)
{
    uint64_t h = name_hash(domain, sponsor);
    size_t dl = strlen(domain), sl = strlen(sponsor);
    uint32_t i = (uint32_t)h & w->dict_mask;
    for (;; i = (i + 1) & w->dict_mask) {
        struct dict_slot *s = &w->dict_slots[i];
        if (s->hash == 0)
            break;
        const char *e = w->dict_buf + w->dict_off[s->index];
        if (s->hash == h && strcmp(e, domain) == 0 && strcmp(e + dl + 1, sponsor) == 0)
            return s->index;
    }
    uint32_t idx = w->ndict++;
    w->dict_off[idx] = (uint32_t)w->dict_used;
    memcpy(w->dict_buf + w->dict_used, domain, dl + 1);
    memcpy(w->dict_buf + w->dict_used + dl + 1, sponsor, sl + 1);
    w->dict_used += dl + sl + 2;
    w->dict_slots[i].hash = h;
    w->dict_slots[i].index = idx;
    return idx;
}

int flowlog_append(struct flowlog_writer *w, const struct flow_record *r, const char *domain, const char *sponsor)
{
    if (strlen(domain) > NAME_MAX_LEN || strlen(sponsor) > NAME_MAX_LEN)
        return err_set(EINVAL, "flow log: domain or sponsor name longer than %d bytes", NAME_MAX_LEN);
    if (r->key.family != 4 && r->key.family != 6)
        return err_set(EINVAL, "flow log: address family %u", r->key.family);
    /* A block whose write failed is still pending: try it again before taking more. */
    if (w->npending == w->opt.block_records) {
        int rc = flowlog_flush(w);
        if (rc < 0)
            return rc;
    }
    struct flow_record *p = &w->pending[w->npending++];
    *p = *r;
    p->owner = dict_index(w, domain, sponsor);
    if (w->npending == w->opt.block_records)
        return flowlog_flush(w);
    return 0;
}

uint32_t flowlog_pending(const struct flowlog_writer *w)
{
    return w->npending;
}

uint64_t flowlog_size(const struct flowlog_writer *w)
{
    return w->size;
}

/* ICMP has its own class only in its own family (ICMP over IPv4, ICMPv6 over IPv6): the
 * reader derives the number from the family. Anything else is spelt out. */
static uint8_t proto_class(uint8_t proto, uint8_t family)
{
    if (proto == 6)
        return 0;
    if (proto == 17)
        return 1;
    if ((proto == 1 && family == 4) || (proto == 58 && family == 6))
        return 2;
    return 3;
}

/* The payload before compression; layout in docs/flowlog-format.md. */
static size_t encode(struct flowlog_writer *w, struct flowlog_block_hdr *h)
{
    uint8_t *p = w->raw;
    size_t n = 0;
    const struct flow_record *rs = w->pending;
    uint32_t cnt = w->npending;

    n += varint_put(p + n, w->ndict);
    for (uint32_t i = 0; i < w->ndict; i++) {
        const char *d = w->dict_buf + w->dict_off[i];
        const char *s = d + strlen(d) + 1;
        size_t dl = strlen(d), sl = strlen(s);
        n += varint_put(p + n, dl);
        memcpy(p + n, d, dl);
        n += dl;
        n += varint_put(p + n, sl);
        memcpy(p + n, s, sl);
        n += sl;
        flowlog_bloom_add_owner(h->owner_bloom, 'd', d);
        flowlog_bloom_add_owner(h->owner_bloom, 's', s);
    }
    n += varint_put(p + n, cnt);

    uint64_t tmin = UINT64_MAX, tmax = 0;
    for (uint32_t i = 0; i < cnt; i++) {
        uint64_t s = rs[i].start_ns / 1000000, e = rs[i].end_ns / 1000000;
        tmin = s < tmin ? s : tmin;
        tmax = e > tmax ? e : tmax;
    }
    h->t_min_ms = tmin;
    h->t_max_ms = tmax;

    for (uint32_t i = 0; i < cnt; i++)
        p[n++] = (uint8_t)(proto_class(rs[i].key.proto, rs[i].key.family) | (rs[i].key.family == 6) << 2 |
                           (rs[i].dir & 1) << 3 | (rs[i].end_reason & 7) << 4);
    for (uint32_t i = 0; i < cnt; i++)
        if (proto_class(rs[i].key.proto, rs[i].key.family) == 3)
            p[n++] = rs[i].key.proto;
    for (uint32_t i = 0; i < cnt; i++)
        n += varint_put(p + n, rs[i].owner);
    for (uint32_t i = 0; i < cnt; i++)
        n += varint_put(p + n, rs[i].key.port);
    uint64_t prev = tmin;
    for (uint32_t i = 0; i < cnt; i++) {
        uint64_t s = rs[i].start_ns / 1000000;
        n += varint_put(p + n, zigzag_encode((int64_t)(s - prev)));
        prev = s;
    }
    for (uint32_t i = 0; i < cnt; i++)
        n += varint_put(p + n, rs[i].end_ns / 1000000 - rs[i].start_ns / 1000000);
    int64_t prev_port = 0;
    for (uint32_t i = 0; i < cnt; i++) {
        n += varint_put(p + n, zigzag_encode((int64_t)rs[i].key.lport - prev_port));
        prev_port = rs[i].key.lport;
    }
    for (uint32_t i = 0; i < cnt; i++) {
        p[n++] = (uint8_t)(rs[i].key.rport >> 8);
        p[n++] = (uint8_t)rs[i].key.rport;
    }
    for (int side = 0; side < 2; side++)
        for (uint32_t i = 0; i < cnt; i++) {
            size_t al = rs[i].key.family == 6 ? 16 : 4;
            const uint8_t *a = side == 0 ? rs[i].key.local : rs[i].key.remote;
            memcpy(p + n, a, al);
            n += al;
            flowlog_bloom_add_addr(h->addr_bloom, rs[i].key.family, a);
        }
    for (int d = 0; d < 2; d++)
        for (uint32_t i = 0; i < cnt; i++)
            n += varint_put(p + n, rs[i].packets[d]);
    for (int d = 0; d < 2; d++)
        for (uint32_t i = 0; i < cnt; i++)
            n += varint_put(p + n, rs[i].bytes[d]);
    for (int d = 0; d < 2; d++)
        for (uint32_t i = 0; i < cnt; i++)
            if (rs[i].key.proto == 6)
                p[n++] = rs[i].tcp_flags[d];
    for (uint32_t i = 0; i < cnt; i++)
        p[n++] = rs[i].flags;
    return n;
}

int flowlog_flush(struct flowlog_writer *w)
{
    if (w->npending == 0)
        return 0;
    struct flowlog_block_hdr h = {0};
    h.version = FLOWLOG_VERSION;
    h.seq = w->next_seq;
    h.nrecords = w->npending;
    memcpy(h.prev_hash, w->prev_hash, 32);
    size_t raw_len = encode(w, &h);
    h.raw_len = (uint32_t)raw_len;
    size_t clen =
        ZSTD_compress2(w->zc, w->out + FLOWLOG_BLOCK_HDR_LEN, w->out_cap - FLOWLOG_BLOCK_HDR_LEN, w->raw, raw_len);
    if (ZSTD_isError(clen))
        return err_set(EIO, "flow log: zstd: %s", ZSTD_getErrorName(clen));
    h.payload_len = (uint32_t)clen;
    bool seal = w->opt.key && (w->opt.seal_every <= 1 || w->unsealed + 1 >= w->opt.seal_every);
    if (seal)
        h.flags |= FLOWLOG_BLOCK_SEALED;
    uint8_t hash[32];
    flowlog_hdr_pack(&h, w->out);
    flowlog_block_hash(w->out, w->out + FLOWLOG_BLOCK_HDR_LEN, clen, hash);
    if (seal) {
        flowlog_seal(w->opt.key, w->opt.key_len, w->file_id, hash, h.seal);
        flowlog_hdr_pack(&h, w->out);
    }
    int rc = write_all(w->fd, w->out, FLOWLOG_BLOCK_HDR_LEN + clen, "a block");
    if (rc < 0) {
        /* Take back a partial block (a full disk), so the next try appends to a whole file
         * rather than after a torn block in the middle. The records stay pending. */
        if (ftruncate(w->fd, (off_t)w->size) < 0)
            return err_append(-rc, "; and cutting the partial block off failed: %s", strerror(errno));
        return rc;
    }
    if (w->opt.sync && fdatasync(w->fd) < 0)
        return err_set(errno, "flow log: fdatasync: %s", strerror(errno));
    w->size += FLOWLOG_BLOCK_HDR_LEN + clen;
    memcpy(w->prev_hash, hash, 32);
    w->next_seq++;
    w->unsealed = seal ? 0 : w->unsealed + 1;
    w->npending = 0;
    w->ndict = 0;
    w->dict_used = 0;
    memset(w->dict_slots, 0, (size_t)(w->dict_mask + 1) * sizeof(*w->dict_slots));
    return 0;
}

int flowlog_close(struct flowlog_writer *w)
{
    if (!w)
        return 0;
    /* The last block is sealed whatever seal_every says, so the tail is covered too. */
    if (w->opt.key && w->npending)
        w->unsealed = w->opt.seal_every;
    int rc = flowlog_flush(w);
    if (close(w->fd) < 0 && rc == 0)
        rc = err_set(errno, "flow log: close: %s", strerror(errno));
    free(w->pending);
    free(w->dict_buf);
    free(w->dict_off);
    free(w->dict_slots);
    free(w->raw);
    free(w->out);
    ZSTD_freeCCtx(w->zc);
    free(w);
    return rc;
}
