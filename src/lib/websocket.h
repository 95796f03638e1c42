/* WebSocket (RFC 6455) framing, both ends, with no I/O of its own: the handshake's accept key,
 * frame headers (parse and build), masking, and a reader that turns received bytes into
 * messages and control frames, enforcing the protocol's rules and a size limit. Everything a
 * peer sends is hostile: a malformed frame is an error naming the close code to answer with.
 * Used by xenod (the console over WebSocket), xenctl (remote console) and the test client. */
#ifndef XENO_LIB_WEBSOCKET_H
#define XENO_LIB_WEBSOCKET_H

#include <stddef.h>
#include <stdint.h>

enum ws_opcode {
    WS_OP_CONT = 0x0,
    WS_OP_TEXT = 0x1,
    WS_OP_BINARY = 0x2,
    WS_OP_CLOSE = 0x8,
    WS_OP_PING = 0x9,
    WS_OP_PONG = 0xA,
};

/* Close status codes (RFC 6455 section 7.4.1). */
enum ws_close_code {
    WS_CLOSE_NORMAL = 1000,
    WS_CLOSE_GOING_AWAY = 1001,
    WS_CLOSE_PROTOCOL = 1002,
    WS_CLOSE_BAD_DATA = 1007, /* a text message that is not UTF-8 */
    WS_CLOSE_POLICY = 1008,
    WS_CLOSE_TOO_BIG = 1009,
    WS_CLOSE_INTERNAL = 1011,
};

#define WS_CONTROL_MAX 125 /* a control frame's payload, at most (RFC 6455 5.5) */
#define WS_HEADER_MAX 14   /* 2 + 8 (64-bit length) + 4 (mask) */
#define WS_KEY_LEN 24      /* base64 of 16 bytes */
#define WS_ACCEPT_LEN 28   /* base64 of a SHA-1 */

/* Sec-WebSocket-Accept for a client's Sec-WebSocket-Key: base64(SHA-1(key + GUID)) into out
 * (WS_ACCEPT_LEN + 1 bytes). -EINVAL when the key is not base64 of 16 bytes. */
int ws_accept_key(const char *key, char *out);

/* A fresh random Sec-WebSocket-Key (WS_KEY_LEN + 1 bytes), for clients. */
int ws_client_key(char *out);

struct ws_header {
    int fin;
    unsigned opcode;
    int masked;
    uint8_t mask[4];
    uint64_t len;      /* the payload's length */
    size_t header_len; /* bytes before the payload */
};

/* Parses a frame header from buf[0..avail). Returns 0 when more bytes are needed, the header
 * length when it is complete and valid, or -WS_CLOSE_PROTOCOL (reserved bits, unknown opcode,
 * non-minimal length, top bit of a 64-bit length, a fragmented or oversized control frame, a
 * client frame without a mask or a server frame with one) or -WS_CLOSE_TOO_BIG (payload over
 * max_payload). from_client: the frame comes from a client (it must be masked). */
int ws_parse_header(const uint8_t *buf, size_t avail, int from_client, uint64_t max_payload, struct ws_header *h);

/* Writes a frame header to out (WS_HEADER_MAX bytes of room) with the mask when mask is not
 * NULL (a client's frame). Returns its length. */
size_t ws_build_header(uint8_t *out, int fin, unsigned opcode, uint64_t len, const uint8_t *mask);

/* XORs data with the mask; offset: where in the payload data starts. */
void ws_mask(uint8_t *data, size_t len, const uint8_t mask[4], uint64_t offset);

/* 1 when s[0..len) is well-formed UTF-8 (no overlong forms, surrogates or code points over
 * U+10FFFF), else 0. */
int ws_utf8_valid(const uint8_t *s, size_t len);

/* What ws_reader_next() found. */
enum ws_event_kind { WS_EV_MESSAGE = 1, WS_EV_PING, WS_EV_PONG, WS_EV_CLOSE };

struct ws_event {
    enum ws_event_kind kind;
    unsigned opcode;     /* a message's: WS_OP_TEXT or WS_OP_BINARY */
    const uint8_t *data; /* unmasked payload; valid until the next call on the reader */
    size_t len;
    unsigned close_code; /* WS_EV_CLOSE: the peer's code, or 1005 when it gave none */
};

/* Turns a byte stream into events. Input is bounded: at most one frame (header plus
 * max_message) is ever buffered, and a fragmented message is assembled up to max_message. */
struct ws_reader {
    int from_client;
    size_t max_message;
    uint8_t *in; /* received bytes not yet consumed */
    size_t in_len, in_cap;
    uint8_t *msg; /* the fragmented message being assembled */
    size_t msg_len;
    unsigned msg_opcode; /* 0: none in progress */
    size_t drop;         /* bytes of `in` the last event still uses, dropped on the next call */
    int msg_done;        /* the last event was the assembled message: start a new one */
    int failed;          /* a protocol error was returned: nothing more is parsed */
};

int ws_reader_init(struct ws_reader *r, int from_client, size_t max_message);
void ws_reader_free(struct ws_reader *r);

/* Room to receive into: *room bytes at the returned pointer (never 0 while the reader is
 * usable: the buffer holds at most one frame, which next() consumes). Then ws_reader_fill(). */
uint8_t *ws_reader_space(struct ws_reader *r, size_t *room);
void ws_reader_fill(struct ws_reader *r, size_t n);

/* The next event: 1 (in *ev), 0 (more bytes needed), or -code (the close code to answer with:
 * WS_CLOSE_PROTOCOL, WS_CLOSE_TOO_BIG, WS_CLOSE_BAD_DATA); after an error the reader is spent. */
int ws_reader_next(struct ws_reader *r, struct ws_event *ev);

#endif
