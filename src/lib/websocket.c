#include "lib/websocket.h"

#include <errno.h>
#include <openssl/evp.h>
#include <openssl/sha.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

static const char ws_guid[] = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

int ws_accept_key(const char *key, char *out)
{
    unsigned char raw[WS_KEY_LEN];
    if (!key || strlen(key) != WS_KEY_LEN || EVP_DecodeBlock(raw, (const unsigned char *)key, WS_KEY_LEN) != 18 ||
        key[WS_KEY_LEN - 1] != '=' || key[WS_KEY_LEN - 2] != '=')
        return -EINVAL; /* 16 bytes encode to 22 characters and "==" */
    char joined[WS_KEY_LEN + sizeof(ws_guid)];
    memcpy(joined, key, WS_KEY_LEN);
    memcpy(joined + WS_KEY_LEN, ws_guid, sizeof(ws_guid));
    unsigned char sha[SHA_DIGEST_LENGTH];
    SHA1((const unsigned char *)joined, strlen(joined), sha);
    EVP_EncodeBlock((unsigned char *)out, sha, SHA_DIGEST_LENGTH);
    return 0;
}

int ws_client_key(char *out)
{
    unsigned char raw[16];
    if (getrandom(raw, sizeof(raw), 0) != (ssize_t)sizeof(raw))
        return -EIO;
    EVP_EncodeBlock((unsigned char *)out, raw, sizeof(raw));
    return 0;
}

static int is_control(unsigned op)
{
    return op >= 0x8;
}

static int known_opcode(unsigned op)
{
    return op <= WS_OP_BINARY || (op >= WS_OP_CLOSE && op <= WS_OP_PONG);
}

int ws_parse_header(const uint8_t *buf, size_t avail, int from_client, uint64_t max_payload, struct ws_header *h)
{
    if (avail < 2)
        return 0;
    h->fin = buf[0] >> 7;
    h->opcode = buf[0] & 0x0f;
    h->masked = buf[1] >> 7;
    if ((buf[0] & 0x70) || !known_opcode(h->opcode) || h->masked != from_client)
        return -WS_CLOSE_PROTOCOL; /* no extension was negotiated: RSV1-3 must be 0 */
    uint64_t len = buf[1] & 0x7f;
    size_t n = 2;
    if (len == 126) {
        if (avail < 4)
            return 0;
        len = (uint64_t)buf[2] << 8 | buf[3];
        n = 4;
        if (len < 126)
            return -WS_CLOSE_PROTOCOL; /* the minimal encoding is required */
    } else if (len == 127) {
        if (avail < 10)
            return 0;
        len = 0;
        for (int i = 0; i < 8; i++)
            len = len << 8 | buf[2 + i];
        n = 10;
        if (len >> 63 || len <= 0xffff)
            return -WS_CLOSE_PROTOCOL;
    }
    if (is_control(h->opcode) && (!h->fin || len > WS_CONTROL_MAX))
        return -WS_CLOSE_PROTOCOL;
    if (!is_control(h->opcode) && len > max_payload)
        return -WS_CLOSE_TOO_BIG;
    if (h->masked) {
        if (avail < n + 4)
            return 0;
        memcpy(h->mask, buf + n, 4);
        n += 4;
    }
    h->len = len;
    h->header_len = n;
    return (int)n;
}

size_t ws_build_header(uint8_t *out, int fin, unsigned opcode, uint64_t len, const uint8_t *mask)
{
    size_t n = 2;
    out[0] = (uint8_t)((fin ? 0x80 : 0) | (opcode & 0x0f));
    uint8_t m = mask ? 0x80 : 0;
    if (len < 126) {
        out[1] = (uint8_t)(m | len);
    } else if (len <= 0xffff) {
        out[1] = m | 126;
        out[2] = (uint8_t)(len >> 8), out[3] = (uint8_t)len;
        n = 4;
    } else {
        out[1] = m | 127;
        for (int i = 0; i < 8; i++)
            out[2 + i] = (uint8_t)(len >> (56 - 8 * i));
        n = 10;
    }
    if (mask) {
        memcpy(out + n, mask, 4);
        n += 4;
    }
    return n;
}

void ws_mask(uint8_t *data, size_t len, const uint8_t mask[4], uint64_t offset)
{
    for (size_t i = 0; i < len; i++)
        data[i] ^= mask[(offset + i) & 3];
}

/* The length of the UTF-8 sequence at s (at most left bytes), or 0 when it is malformed. */
static size_t utf8_seq(const uint8_t *s, size_t left)
{
    uint8_t c = s[0];
    size_t n;
    uint32_t cp, min;
    if (c < 0x80)
        return 1;
    if ((c & 0xe0) == 0xc0)
        n = 2, cp = c & 0x1f, min = 0x80;
    else if ((c & 0xf0) == 0xe0)
        n = 3, cp = c & 0x0f, min = 0x800;
    else if ((c & 0xf8) == 0xf0)
        n = 4, cp = c & 0x07, min = 0x10000;
    else
        return 0;
    if (n > left)
        return 0;
    for (size_t i = 1; i < n; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        cp = cp << 6 | (s[i] & 0x3f);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
        return 0;
    return n;
}

int ws_utf8_valid(const uint8_t *s, size_t len)
{
    for (size_t i = 0; i < len;) {
        size_t n = utf8_seq(s + i, len - i);
        if (!n)
            return 0;
        i += n;
    }
    return 1;
}

int ws_reader_init(struct ws_reader *r, int from_client, size_t max_message)
{
    *r = (struct ws_reader){.from_client = from_client, .max_message = max_message};
    r->in_cap = WS_HEADER_MAX + max_message;
    r->in = malloc(r->in_cap);
    return r->in ? 0 : -ENOMEM;
}

void ws_reader_free(struct ws_reader *r)
{
    free(r->in);
    free(r->msg);
    *r = (struct ws_reader){0};
}

/* Forgets what the last event pointed at. */
static void settle(struct ws_reader *r)
{
    if (r->drop) {
        memmove(r->in, r->in + r->drop, r->in_len - r->drop);
        r->in_len -= r->drop;
        r->drop = 0;
    }
    if (r->msg_done) {
        r->msg_len = 0;
        r->msg_done = 0;
    }
}

uint8_t *ws_reader_space(struct ws_reader *r, size_t *room)
{
    settle(r);
    *room = r->failed ? 0 : r->in_cap - r->in_len;
    return r->in + r->in_len;
}

void ws_reader_fill(struct ws_reader *r, size_t n)
{
    r->in_len += n;
}

static int fail(struct ws_reader *r, int code)
{
    r->failed = 1;
    return -code;
}

/* A close frame's payload: nothing, or a valid code and a UTF-8 reason. */
static int close_event(struct ws_reader *r, const uint8_t *p, size_t len, struct ws_event *ev)
{
    ev->kind = WS_EV_CLOSE;
    ev->close_code = 1005; /* "no status received" (never sent on the wire) */
    if (len == 1)
        return fail(r, WS_CLOSE_PROTOCOL);
    if (len >= 2) {
        unsigned code = (unsigned)p[0] << 8 | p[1];
        int valid = (code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1011) || (code >= 3000 && code <= 4999);
        if (!valid || !ws_utf8_valid(p + 2, len - 2))
            return fail(r, WS_CLOSE_PROTOCOL);
        ev->close_code = code;
    }
    return 1;
}

/* A complete message (text checked for UTF-8) as the event. */
static int message_event(struct ws_reader *r, unsigned op, const uint8_t *p, size_t len, struct ws_event *ev)
{
    if (op == WS_OP_TEXT && !ws_utf8_valid(p, len))
        return fail(r, WS_CLOSE_BAD_DATA);
    *ev = (struct ws_event){.kind = WS_EV_MESSAGE, .opcode = op, .data = p, .len = len};
    return 1;
}

/* A data frame's payload: a whole message, the start of one, or a continuation. 1 with an
 * event, 0 when the frame only added to the message being assembled, or -code. */
static int data_frame(struct ws_reader *r, const struct ws_header *h, uint8_t *p, struct ws_event *ev)
{
    size_t len = (size_t)h->len;
    if (h->opcode != WS_OP_CONT && r->msg_opcode)
        return fail(r, WS_CLOSE_PROTOCOL); /* a new message inside a fragmented one */
    if (h->opcode == WS_OP_CONT && !r->msg_opcode)
        return fail(r, WS_CLOSE_PROTOCOL); /* a continuation of nothing */
    if (h->opcode != WS_OP_CONT && h->fin)
        return message_event(r, h->opcode, p, len, ev);
    if (!r->msg && !(r->msg = malloc(r->max_message ? r->max_message : 1)))
        return fail(r, WS_CLOSE_INTERNAL);
    if (h->opcode != WS_OP_CONT)
        r->msg_opcode = h->opcode;
    memcpy(r->msg + r->msg_len, p, len); /* parse() bounded len by what is left */
    r->msg_len += len;
    if (!h->fin)
        return 0;
    unsigned op = r->msg_opcode;
    r->msg_opcode = 0;
    r->msg_done = 1;
    return message_event(r, op, r->msg, r->msg_len, ev);
}

int ws_reader_next(struct ws_reader *r, struct ws_event *ev)
{
    if (r->failed)
        return -WS_CLOSE_PROTOCOL;
    for (;;) {
        settle(r);
        struct ws_header h;
        uint64_t max = r->max_message - (r->msg_opcode ? r->msg_len : 0);
        int n = ws_parse_header(r->in, r->in_len, r->from_client, max, &h);
        if (n < 0)
            return fail(r, -n);
        if (n == 0 || r->in_len - (size_t)n < h.len)
            return 0;
        uint8_t *p = r->in + n;
        if (h.masked)
            ws_mask(p, (size_t)h.len, h.mask, 0);
        r->drop = (size_t)n + (size_t)h.len;
        *ev = (struct ws_event){.data = p, .len = (size_t)h.len};
        switch (h.opcode) {
        case WS_OP_PING: ev->kind = WS_EV_PING; return 1;
        case WS_OP_PONG: ev->kind = WS_EV_PONG; return 1;
        case WS_OP_CLOSE: return close_event(r, p, (size_t)h.len, ev);
        default: break;
        }
        int rc = data_frame(r, &h, p, ev);
        if (rc != 0)
            return rc;
    }
}
