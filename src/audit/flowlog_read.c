/* Reading the flow log. The file is untrusted: every length is checked against the file and
 * against what the header promised before it is used, and decoding stops at the first
 * inconsistency with a message that names the block and field. */
#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zstd.h>

#include "audit/flowlog.h"
#include "audit/varint.h"
#include "lib/err.h"

static int pread_all(int fd, uint8_t *p, size_t n, uint64_t off)
{
    while (n > 0) {
        ssize_t r = pread(fd, p, n, (off_t)off);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            return -errno;
        if (r == 0)
            return -ENODATA;
        p += r;
        n -= (size_t)r;
        off += (uint64_t)r;
    }
    return 0;
}

int flowlog_reader_open(const char *path, struct flowlog_reader *r)
{
    memset(r, 0, sizeof(*r));
    r->fd = open(path, O_RDONLY | O_CLOEXEC);
    if (r->fd < 0)
        return err_set(errno, "flow log %s: %s", path, strerror(errno));
    struct stat st;
    uint8_t hdr[FLOWLOG_FILE_HDR_LEN];
    int rc;
    if (fstat(r->fd, &st) < 0) {
        rc = err_set(errno, "flow log %s: %s", path, strerror(errno));
        goto fail;
    }
    r->file_size = (uint64_t)st.st_size;
    if (r->file_size < FLOWLOG_FILE_HDR_LEN || pread_all(r->fd, hdr, sizeof(hdr), 0) < 0) {
        rc = err_set(EBADMSG, "flow log %s: shorter than its %d-byte file header", path, FLOWLOG_FILE_HDR_LEN);
        goto fail;
    }
    if (memcmp(hdr, FLOWLOG_FILE_MAGIC, 8) != 0) {
        rc = err_set(EBADMSG, "flow log %s: not a flow log (bad magic)", path);
        goto fail;
    }
    if (hdr[8] != FLOWLOG_VERSION || hdr[12] != FLOWLOG_FILE_HDR_LEN) {
        rc = err_set(EBADMSG, "flow log %s: file version %u, this reader knows %u", path, hdr[8], FLOWLOG_VERSION);
        goto fail;
    }
    memcpy(r->file_id, hdr + 16, 16);
    for (int i = 7; i >= 0; i--)
        r->created_ns = r->created_ns << 8 | hdr[32 + i];
    EVP_Digest(hdr, sizeof(hdr), r->file_hash, NULL, EVP_sha256(), NULL);
    r->offset = FLOWLOG_FILE_HDR_LEN;
    return 0;
fail:
    close(r->fd);
    r->fd = -1;
    return rc;
}

void flowlog_reader_close(struct flowlog_reader *r)
{
    if (r->fd >= 0)
        close(r->fd);
    r->fd = -1;
}

int flowlog_reader_next(struct flowlog_reader *r, bool want_payload, struct flowlog_block *b)
{
    memset(b, 0, sizeof(*b));
    if (r->offset == r->file_size)
        return 0;
    b->offset = r->offset;
    uint64_t left = r->file_size - r->offset;
    if (left < FLOWLOG_BLOCK_HDR_LEN)
        return err_set(EBADMSG, "torn block at offset %llu: %llu bytes, less than a %d-byte header",
                       (unsigned long long)r->offset, (unsigned long long)left, FLOWLOG_BLOCK_HDR_LEN);
    int rc = pread_all(r->fd, b->hdr_raw, FLOWLOG_BLOCK_HDR_LEN, r->offset);
    if (rc < 0)
        return err_set(-rc, "block at offset %llu: read: %s", (unsigned long long)r->offset, strerror(-rc));
    if (flowlog_hdr_unpack(b->hdr_raw, &b->hdr) < 0)
        return err_wrap(EBADMSG, "block at offset %llu", (unsigned long long)r->offset);
    if (left - FLOWLOG_BLOCK_HDR_LEN < b->hdr.payload_len)
        return err_set(EBADMSG, "torn block %llu at offset %llu: payload of %u bytes, only %llu in the file",
                       (unsigned long long)b->hdr.seq, (unsigned long long)r->offset, b->hdr.payload_len,
                       (unsigned long long)(left - FLOWLOG_BLOCK_HDR_LEN));
    if (want_payload) {
        b->payload = malloc(b->hdr.payload_len);
        if (!b->payload)
            return err_set(ENOMEM, "block at offset %llu: out of memory", (unsigned long long)r->offset);
        rc = pread_all(r->fd, b->payload, b->hdr.payload_len, r->offset + FLOWLOG_BLOCK_HDR_LEN);
        if (rc < 0) {
            flowlog_block_release(b);
            return err_set(EIO, "block at offset %llu: read: %s", (unsigned long long)r->offset, strerror(-rc));
        }
        flowlog_block_hash(b->hdr_raw, b->payload, b->hdr.payload_len, b->hash);
    }
    r->offset += FLOWLOG_BLOCK_HDR_LEN + b->hdr.payload_len;
    return 1;
}

void flowlog_block_release(struct flowlog_block *b)
{
    free(b->payload);
    free(b->entries);
    free(b->dict);
    b->payload = NULL;
    b->entries = NULL;
    b->dict = NULL;
    b->nentries = 0;
}

struct cursor {
    const uint8_t *p;
    size_t len, pos;
    const char *field; /* for the message */
};

static int get_varint(struct cursor *c, uint64_t *v)
{
    if (varint_get(c->p, c->len, &c->pos, v) < 0)
        return err_set(EBADMSG, "payload cut short or bad varint in %s at byte %zu", c->field, c->pos);
    return 0;
}

static int get_bytes(struct cursor *c, void *out, size_t n)
{
    if (c->len - c->pos < n)
        return err_set(EBADMSG, "payload cut short in %s at byte %zu", c->field, c->pos);
    memcpy(out, c->p + c->pos, n);
    c->pos += n;
    return 0;
}

static const uint8_t class_proto[2][4] = {{6, 17, 1, 0}, {6, 17, 58, 0}};

/* The dictionary of (domain, sponsor) names the owner column points into, copied into
 * b->dict NUL-terminated; dom[i] and spo[i] point at entry i's names. */
static int decode_dictionary(struct flowlog_block *b, struct cursor *c, uint64_t ndict, const char **dom,
                             const char **spo)
{
    const uint8_t *raw = c->p;
    size_t len = c->len, used = 0;
    for (uint64_t i = 0; i < ndict; i++) {
        for (int k = 0; k < 2; k++) {
            uint64_t sl;
            if (get_varint(c, &sl) < 0)
                return -EBADMSG;
            if (sl > 255 || sl > len - c->pos)
                return err_set(EBADMSG, "dictionary entry %llu: name of %llu bytes", (unsigned long long)i,
                               (unsigned long long)sl);
            memcpy(b->dict + used, raw + c->pos, sl);
            if (memchr(b->dict + used, 0, sl))
                return err_set(EBADMSG, "dictionary entry %llu: NUL inside a name", (unsigned long long)i);
            c->pos += sl;
            b->dict[used + sl] = 0;
            (k == 0 ? dom : spo)[i] = b->dict + used;
            used += sl + 1;
        }
    }
    return 0;
}

/* The columns that make a flow's key and owner: meta byte, protocol, owner, port. */
static int decode_key_columns(struct flowlog_entry *e, uint64_t n, struct cursor *c, uint64_t ndict, const char **dom,
                              const char **spo)
{
    uint64_t v;
    c->field = "meta";
    for (uint64_t i = 0; i < n; i++) {
        uint8_t m = 0;
        if (get_bytes(c, &m, 1) < 0)
            return -EBADMSG;
        if (m >> 7 || ((m >> 4) & 7) >= FLOW_END__COUNT)
            return err_set(EBADMSG, "record %llu: bad meta byte 0x%02x", (unsigned long long)i, m);
        e[i].rec.key.family = (m & 4) ? 6 : 4;
        e[i].rec.key.proto = class_proto[(m >> 2) & 1][m & 3];
        e[i].rec.dir = (m >> 3) & 1;
        e[i].rec.end_reason = (m >> 4) & 7;
        e[i].rec.flags = m & 3; /* the class, until the protocol column replaces it */
    }
    c->field = "protocol";
    for (uint64_t i = 0; i < n; i++) {
        if (e[i].rec.flags == 3 && get_bytes(c, &e[i].rec.key.proto, 1) < 0)
            return -EBADMSG;
        e[i].rec.flags = 0;
    }
    c->field = "owner";
    for (uint64_t i = 0; i < n; i++) {
        if (get_varint(c, &v) < 0)
            return -EBADMSG;
        if (v >= ndict)
            return err_set(EBADMSG, "record %llu: owner %llu beyond the dictionary", (unsigned long long)i,
                           (unsigned long long)v);
        e[i].rec.owner = (uint32_t)v;
        e[i].domain = dom[v];
        e[i].sponsor = spo[v];
    }
    c->field = "port";
    for (uint64_t i = 0; i < n; i++) {
        if (get_varint(c, &v) < 0)
            return -EBADMSG;
        if (v > UINT16_MAX)
            return err_set(EBADMSG, "record %llu: port %llu", (unsigned long long)i, (unsigned long long)v);
        e[i].rec.key.port = (uint16_t)v;
    }
    return 0;
}

/* Start (delta from the previous record) and duration, in ms, inside the header's time range. */
static int decode_time_columns(const struct flowlog_block *b, struct flowlog_entry *e, uint64_t n, struct cursor *c)
{
    uint64_t v;
    c->field = "start";
    uint64_t prev = b->hdr.t_min_ms;
    for (uint64_t i = 0; i < n; i++) {
        if (get_varint(c, &v) < 0)
            return -EBADMSG;
        prev += (uint64_t)zigzag_decode(v);
        if (prev < b->hdr.t_min_ms || prev > b->hdr.t_max_ms)
            return err_set(EBADMSG, "record %llu: start outside the header's time range", (unsigned long long)i);
        e[i].rec.start_ns = prev * 1000000;
    }
    c->field = "duration";
    for (uint64_t i = 0; i < n; i++) {
        if (get_varint(c, &v) < 0)
            return -EBADMSG;
        uint64_t s = e[i].rec.start_ns / 1000000;
        if (v > b->hdr.t_max_ms - s)
            return err_set(EBADMSG, "record %llu: end outside the header's time range", (unsigned long long)i);
        e[i].rec.end_ns = (s + v) * 1000000;
    }
    return 0;
}

/* Ports, addresses, the counters of both directions and the flags. */
static int decode_counter_columns(struct flowlog_entry *e, uint64_t n, struct cursor *c)
{
    uint64_t v;
    c->field = "local port";
    int64_t pp = 0;
    for (uint64_t i = 0; i < n; i++) {
        if (get_varint(c, &v) < 0)
            return -EBADMSG;
        pp += zigzag_decode(v);
        if (pp < 0 || pp > UINT16_MAX)
            return err_set(EBADMSG, "record %llu: local port out of range", (unsigned long long)i);
        e[i].rec.key.lport = (uint16_t)pp;
    }
    c->field = "remote port";
    for (uint64_t i = 0; i < n; i++) {
        uint8_t two[2];
        if (get_bytes(c, two, 2) < 0)
            return -EBADMSG;
        e[i].rec.key.rport = (uint16_t)(two[0] << 8 | two[1]);
    }
    c->field = "addresses";
    for (int side = 0; side < 2; side++)
        for (uint64_t i = 0; i < n; i++)
            if (get_bytes(c, side ? e[i].rec.key.remote : e[i].rec.key.local, e[i].rec.key.family == 6 ? 16 : 4) < 0)
                return -EBADMSG;
    c->field = "packets";
    for (int d = 0; d < 2; d++)
        for (uint64_t i = 0; i < n; i++)
            if (get_varint(c, &e[i].rec.packets[d]) < 0)
                return -EBADMSG;
    c->field = "bytes";
    for (int d = 0; d < 2; d++)
        for (uint64_t i = 0; i < n; i++)
            if (get_varint(c, &e[i].rec.bytes[d]) < 0)
                return -EBADMSG;
    c->field = "tcp flags";
    for (int d = 0; d < 2; d++)
        for (uint64_t i = 0; i < n; i++)
            if (e[i].rec.key.proto == 6 && get_bytes(c, &e[i].rec.tcp_flags[d], 1) < 0)
                return -EBADMSG;
    c->field = "flags";
    for (uint64_t i = 0; i < n; i++) {
        if (get_bytes(c, &e[i].rec.flags, 1) < 0)
            return -EBADMSG;
        if (e[i].rec.flags & ~(FLOW_F_DROPPED | FLOW_F_THROTTLED))
            return err_set(EBADMSG, "record %llu: unknown flags 0x%02x", (unsigned long long)i, e[i].rec.flags);
    }
    return 0;
}

static int decode(struct flowlog_block *b, const uint8_t *raw, size_t len)
{
    struct cursor c = {raw, len, 0, "dictionary"};
    uint64_t ndict, n;
    if (get_varint(&c, &ndict) < 0)
        return -EBADMSG;
    if (ndict == 0 || ndict > b->hdr.nrecords)
        return err_set(EBADMSG, "dictionary of %llu entries for %u records", (unsigned long long)ndict,
                       b->hdr.nrecords);
    /* The dictionary strings, NUL-terminated, fit in the raw payload's size. */
    b->dict = malloc(len + 2 * ndict);
    const char **dom = calloc(ndict, sizeof(*dom)), **spo = calloc(ndict, sizeof(*spo));
    b->entries = calloc(b->hdr.nrecords, sizeof(*b->entries));
    int rc = -ENOMEM;
    if (!b->dict || !dom || !spo || !b->entries) {
        err_set(ENOMEM, "out of memory decoding a block");
        goto out;
    }
    rc = -EBADMSG;
    if (decode_dictionary(b, &c, ndict, dom, spo) < 0)
        goto out;
    if (get_varint(&c, &n) < 0)
        goto out;
    if (n != b->hdr.nrecords) {
        err_set(EBADMSG, "payload holds %llu records, header says %u", (unsigned long long)n, b->hdr.nrecords);
        goto out;
    }
    struct flowlog_entry *e = b->entries;
    if (decode_key_columns(e, n, &c, ndict, dom, spo) < 0 || decode_time_columns(b, e, n, &c) < 0 ||
        decode_counter_columns(e, n, &c) < 0)
        goto out;
    if (c.pos != len) {
        err_set(EBADMSG, "%zu bytes left over after the last column", len - c.pos);
        goto out;
    }
    b->nentries = (uint32_t)n;
    rc = 0;
out:
    free(dom);
    free(spo);
    if (rc < 0) {
        free(b->entries);
        free(b->dict);
        b->entries = NULL;
        b->dict = NULL;
    }
    return rc;
}

int flowlog_block_decode(struct flowlog_block *b)
{
    if (!b->payload)
        return err_set(EINVAL, "block %llu: payload not read", (unsigned long long)b->hdr.seq);
    unsigned long long want = ZSTD_getFrameContentSize(b->payload, b->hdr.payload_len);
    if (want != b->hdr.raw_len)
        return err_set(EBADMSG, "block %llu at offset %llu: compressed payload does not hold %u bytes",
                       (unsigned long long)b->hdr.seq, (unsigned long long)b->offset, b->hdr.raw_len);
    uint8_t *raw = malloc(b->hdr.raw_len);
    if (!raw)
        return err_set(ENOMEM, "block %llu: out of memory", (unsigned long long)b->hdr.seq);
    size_t got = ZSTD_decompress(raw, b->hdr.raw_len, b->payload, b->hdr.payload_len);
    int rc;
    if (ZSTD_isError(got) || got != b->hdr.raw_len)
        rc = err_set(EBADMSG, "block %llu at offset %llu: zstd: %s", (unsigned long long)b->hdr.seq,
                     (unsigned long long)b->offset, ZSTD_isError(got) ? ZSTD_getErrorName(got) : "short output");
    else {
        rc = decode(b, raw, got);
        if (rc < 0)
            rc = err_wrap(EBADMSG, "block %llu at offset %llu", (unsigned long long)b->hdr.seq,
                          (unsigned long long)b->offset);
    }
    free(raw);
    return rc;
}
