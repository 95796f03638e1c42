/* The WebSocket codec (src/lib/websocket.c): the RFC 6455 handshake example, header encodings
 * both ways, masking, fragmentation, control frames between fragments, and every malformed
 * frame a hostile client may send answered with the right close code (1002, 1007, 1009). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <string.h>

#include "lib/websocket.h"

#define MAX 1024

static const uint8_t mask[4] = {0x37, 0xfa, 0x21, 0x3d};

/* Appends a masked client frame to buf; returns the new length. */
static size_t frame(uint8_t *buf, size_t at, int fin, unsigned op, const void *payload, size_t len)
{
    at += ws_build_header(buf + at, fin, op, len, mask);
    memcpy(buf + at, payload, len);
    ws_mask(buf + at, len, mask, 0);
    return at + len;
}

static void feed(struct ws_reader *r, const uint8_t *buf, size_t len)
{
    size_t room;
    uint8_t *p = ws_reader_space(r, &room);
    assert_true(room >= len);
    memcpy(p, buf, len);
    ws_reader_fill(r, len);
}

/* The code the reader answers a single raw frame with. */
static int verdict(const uint8_t *buf, size_t len)
{
    struct ws_reader r;
    struct ws_event ev;
    assert_int_equal(ws_reader_init(&r, 1, MAX), 0);
    feed(&r, buf, len);
    int rc = ws_reader_next(&r, &ev);
    ws_reader_free(&r);
    return rc;
}

static void test_accept_key(void **state)
{
    (void)state;
    char out[WS_ACCEPT_LEN + 1];
    assert_int_equal(ws_accept_key("dGhlIHNhbXBsZSBub25jZQ==", out), 0); /* RFC 6455 section 1.3 */
    assert_string_equal(out, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
    assert_int_equal(ws_accept_key("dGhlIHNhbXBsZSBub25jZQ=", out), -EINVAL);
    assert_int_equal(ws_accept_key("not base64 at all!!!!!==", out), -EINVAL);
    assert_int_equal(ws_accept_key("", out), -EINVAL);
    char key[WS_KEY_LEN + 1], key2[WS_KEY_LEN + 1];
    assert_int_equal(ws_client_key(key), 0);
    assert_int_equal(ws_client_key(key2), 0);
    assert_int_equal(strlen(key), WS_KEY_LEN);
    assert_string_not_equal(key, key2);
    assert_int_equal(ws_accept_key(key, out), 0);
}

static void test_header_lengths(void **state)
{
    (void)state;
    uint64_t lens[] = {0, 125, 126, 65535, 65536, (1ull << 40)};
    for (size_t i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
        uint8_t buf[WS_HEADER_MAX];
        struct ws_header h;
        size_t n = ws_build_header(buf, 1, WS_OP_BINARY, lens[i], mask);
        assert_int_equal(n, (lens[i] < 126 ? 2 : lens[i] < 65536 ? 4 : 10) + 4);
        for (size_t k = 0; k < n; k++) /* a partial header asks for more */
            assert_int_equal(ws_parse_header(buf, k, 1, UINT64_MAX >> 1, &h), 0);
        assert_int_equal(ws_parse_header(buf, n, 1, UINT64_MAX >> 1, &h), (int)n);
        assert_int_equal(h.len, lens[i]);
        assert_memory_equal(h.mask, mask, 4);
        n = ws_build_header(buf, 1, WS_OP_BINARY, lens[i], NULL); /* a server's: no mask */
        assert_int_equal(ws_parse_header(buf, n, 0, UINT64_MAX >> 1, &h), (int)n);
        assert_int_equal(h.len, lens[i]);
    }
}

static void test_masking(void **state)
{
    (void)state;
    uint8_t data[] = "Hello";
    ws_mask(data, 5, mask, 0);
    assert_memory_not_equal(data, "Hello", 5);
    ws_mask(data, 2, mask, 0);
    ws_mask(data + 2, 3, mask, 2); /* in two pieces, at the right offset */
    assert_memory_equal(data, "Hello", 5);
}

static void test_message_and_fragments(void **state)
{
    (void)state;
    struct ws_reader r;
    struct ws_event ev;
    uint8_t buf[4096];
    size_t n = frame(buf, 0, 1, WS_OP_TEXT, "ls\r", 3);
    n = frame(buf, n, 0, WS_OP_BINARY, "he", 2);
    n = frame(buf, n, 0, WS_OP_CONT, "ll", 2);
    n = frame(buf, n, 1, WS_OP_PING, "p", 1); /* control frames may come between fragments */
    n = frame(buf, n, 1, WS_OP_CONT, "o", 1);
    n = frame(buf, n, 1, WS_OP_CLOSE, "\x03\xe8", 2);
    assert_int_equal(ws_reader_init(&r, 1, MAX), 0);
    feed(&r, buf, n);
    assert_int_equal(ws_reader_next(&r, &ev), 1);
    assert_int_equal(ev.kind, WS_EV_MESSAGE);
    assert_int_equal(ev.opcode, WS_OP_TEXT);
    assert_int_equal(ev.len, 3);
    assert_memory_equal(ev.data, "ls\r", 3);
    assert_int_equal(ws_reader_next(&r, &ev), 1);
    assert_int_equal(ev.kind, WS_EV_PING);
    assert_memory_equal(ev.data, "p", 1);
    assert_int_equal(ws_reader_next(&r, &ev), 1);
    assert_int_equal(ev.kind, WS_EV_MESSAGE);
    assert_int_equal(ev.opcode, WS_OP_BINARY);
    assert_int_equal(ev.len, 5);
    assert_memory_equal(ev.data, "hello", 5);
    assert_int_equal(ws_reader_next(&r, &ev), 1);
    assert_int_equal(ev.kind, WS_EV_CLOSE);
    assert_int_equal(ev.close_code, 1000);
    assert_int_equal(ws_reader_next(&r, &ev), 0);
    ws_reader_free(&r);
}

static void test_byte_by_byte(void **state)
{
    (void)state;
    struct ws_reader r;
    struct ws_event ev;
    uint8_t buf[512], payload[300];
    memset(payload, 'x', sizeof(payload));
    size_t n = frame(buf, 0, 1, WS_OP_BINARY, payload, sizeof(payload));
    assert_int_equal(ws_reader_init(&r, 1, MAX), 0);
    for (size_t i = 0; i + 1 < n; i++) {
        feed(&r, buf + i, 1);
        assert_int_equal(ws_reader_next(&r, &ev), 0);
    }
    feed(&r, buf + n - 1, 1);
    assert_int_equal(ws_reader_next(&r, &ev), 1);
    assert_int_equal(ev.len, sizeof(payload));
    assert_memory_equal(ev.data, payload, sizeof(payload));
    ws_reader_free(&r);
}

static void test_malformed(void **state)
{
    (void)state;
    uint8_t buf[256];
    size_t n;
    /* unmasked client frame */
    n = ws_build_header(buf, 1, WS_OP_TEXT, 1, NULL);
    buf[n++] = 'a';
    assert_int_equal(verdict(buf, n), -WS_CLOSE_PROTOCOL);
    /* reserved bits */
    n = frame(buf, 0, 1, WS_OP_TEXT, "a", 1);
    buf[0] |= 0x40;
    assert_int_equal(verdict(buf, n), -WS_CLOSE_PROTOCOL);
    /* unknown opcodes */
    for (unsigned op = 3; op <= 0xf; op++) {
        if (op >= 8 && op <= 0xa)
            continue;
        n = frame(buf, 0, 1, op, "a", 1);
        assert_int_equal(verdict(buf, n), -WS_CLOSE_PROTOCOL);
    }
    /* a control frame over 125 bytes, and a fragmented one */
    uint8_t big[126] = {0};
    n = frame(buf, 0, 1, WS_OP_PING, big, 126);
    assert_int_equal(verdict(buf, n), -WS_CLOSE_PROTOCOL);
    n = frame(buf, 0, 0, WS_OP_PING, "a", 1);
    assert_int_equal(verdict(buf, n), -WS_CLOSE_PROTOCOL);
    /* non-minimal lengths: 16-bit for 5 bytes, 64-bit for 200 */
    uint8_t nm16[] = {0x82, 0x80 | 126, 0, 5, 1, 2, 3, 4};
    assert_int_equal(verdict(nm16, sizeof(nm16)), -WS_CLOSE_PROTOCOL);
    uint8_t nm64[] = {0x82, 0x80 | 127, 0, 0, 0, 0, 0, 0, 0, 200, 1, 2, 3, 4};
    assert_int_equal(verdict(nm64, sizeof(nm64)), -WS_CLOSE_PROTOCOL);
    /* 64-bit length with the top bit set */
    uint8_t top[] = {0x82, 0x80 | 127, 0x80, 0, 0, 0, 0, 0, 0, 1, 1, 2, 3, 4};
    assert_int_equal(verdict(top, sizeof(top)), -WS_CLOSE_PROTOCOL);
    /* over the limit: told by the header alone, before any payload arrives */
    uint8_t huge[] = {0x82, 0x80 | 127, 0, 0, 0, 1, 0, 0, 0, 0, 1, 2, 3, 4};
    assert_int_equal(verdict(huge, sizeof(huge)), -WS_CLOSE_TOO_BIG);
    n = ws_build_header(buf, 1, WS_OP_BINARY, MAX + 1, mask);
    assert_int_equal(verdict(buf, n), -WS_CLOSE_TOO_BIG);
    /* a continuation of nothing; a new message inside a fragmented one */
    n = frame(buf, 0, 1, WS_OP_CONT, "a", 1);
    assert_int_equal(verdict(buf, n), -WS_CLOSE_PROTOCOL);
    n = frame(buf, 0, 0, WS_OP_TEXT, "a", 1);
    n = frame(buf, n, 1, WS_OP_TEXT, "b", 1);
    assert_int_equal(verdict(buf, n), -WS_CLOSE_PROTOCOL);
    /* close: one byte, a reserved code, a reason that is not UTF-8 */
    n = frame(buf, 0, 1, WS_OP_CLOSE, "\x03", 1);
    assert_int_equal(verdict(buf, n), -WS_CLOSE_PROTOCOL);
    n = frame(buf, 0, 1, WS_OP_CLOSE, "\x03\xed", 2); /* 1005 is never sent */
    assert_int_equal(verdict(buf, n), -WS_CLOSE_PROTOCOL);
    n = frame(buf, 0, 1, WS_OP_CLOSE, "\x03\xe8\xff", 3);
    assert_int_equal(verdict(buf, n), -WS_CLOSE_PROTOCOL);
    /* text that is not UTF-8 */
    n = frame(buf, 0, 1, WS_OP_TEXT, "\xc0\xaf", 2);
    assert_int_equal(verdict(buf, n), -WS_CLOSE_BAD_DATA);
}

static void test_fragments_over_limit(void **state)
{
    (void)state;
    struct ws_reader r;
    struct ws_event ev;
    static uint8_t buf[4 * MAX], part[MAX / 2 + 1];
    memset(part, 'y', sizeof(part));
    size_t n = frame(buf, 0, 0, WS_OP_BINARY, part, sizeof(part));
    n = frame(buf, n, 1, WS_OP_CONT, part, sizeof(part)); /* together one byte over MAX */
    assert_int_equal(ws_reader_init(&r, 1, MAX), 0);
    size_t done = 0;
    int rc = 0;
    while (done < n && rc == 0) {
        size_t room;
        uint8_t *p = ws_reader_space(&r, &room);
        size_t k = n - done < room ? n - done : room;
        memcpy(p, buf + done, k);
        ws_reader_fill(&r, k);
        done += k;
        rc = ws_reader_next(&r, &ev);
    }
    assert_int_equal(rc, -WS_CLOSE_TOO_BIG);
    assert_int_equal(ws_reader_next(&r, &ev), -WS_CLOSE_PROTOCOL); /* spent */
    ws_reader_free(&r);
}

static void test_server_frames(void **state)
{
    (void)state;
    struct ws_reader r;
    struct ws_event ev;
    uint8_t buf[64];
    size_t n = ws_build_header(buf, 1, WS_OP_BINARY, 3, NULL);
    memcpy(buf + n, "out", 3);
    assert_int_equal(ws_reader_init(&r, 0, MAX), 0);
    feed(&r, buf, n + 3);
    assert_int_equal(ws_reader_next(&r, &ev), 1);
    assert_memory_equal(ev.data, "out", 3);
    ws_reader_free(&r);
    n = frame(buf, 0, 1, WS_OP_BINARY, "out", 3); /* a masked server frame is an error */
    assert_int_equal(ws_reader_init(&r, 0, MAX), 0);
    feed(&r, buf, n);
    assert_int_equal(ws_reader_next(&r, &ev), -WS_CLOSE_PROTOCOL);
    ws_reader_free(&r);
}

static void test_utf8(void **state)
{
    (void)state;
    assert_true(ws_utf8_valid((const uint8_t *)"h\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80", 10));
    assert_false(ws_utf8_valid((const uint8_t *)"\xed\xa0\x80", 3));     /* a surrogate */
    assert_false(ws_utf8_valid((const uint8_t *)"\xf4\x90\x80\x80", 4)); /* over U+10FFFF */
    assert_false(ws_utf8_valid((const uint8_t *)"\xe2\x82", 2));         /* cut short */
    assert_false(ws_utf8_valid((const uint8_t *)"\xff", 1));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_accept_key),
        cmocka_unit_test(test_header_lengths),
        cmocka_unit_test(test_masking),
        cmocka_unit_test(test_message_and_fragments),
        cmocka_unit_test(test_byte_by_byte),
        cmocka_unit_test(test_malformed),
        cmocka_unit_test(test_fragments_over_limit),
        cmocka_unit_test(test_server_frames),
        cmocka_unit_test(test_utf8),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
