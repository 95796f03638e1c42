/* The live-migration wire protocol between two monitors (docs/migration.md): framed
 * messages over one TCP connection, and the shared-key handshake that both sides must pass
 * before anything of the domain crosses.
 *
 * Every message is a 16-byte header (magic, type, payload length, CRC32) and a payload of at
 * most MIG_MAX_PAYLOAD bytes. Until the handshake passes, the CRC covers the first 12 header
 * bytes and the payload and nothing is secret. The handshake binds both hosts' identities
 * and both nonces, and derives one AES-256-GCM key per direction from the shared key and
 * that transcript (HKDF-SHA256); from then on every message's payload is encrypted, its
 * header is authenticated data, a 16-byte tag follows the payload, the nonce carries a
 * per-direction message counter, and the CRC field is 0 (the tag supersedes it). A flipped,
 * dropped, reordered or replayed message, or a stream replayed from another connection,
 * fails with -EBADMSG. All I/O is blocking with a timeout per call (poll) and, where set,
 * one absolute deadline over all calls (the handshake always has one), so a dead or
 * dribbling peer or a cut link ends in an error naming what was being waited for, never in a
 * hang. Everything received is untrusted: lengths are bounded before anything is read, the
 * tag (before the handshake, the CRC) is checked before the payload is used, and each
 * message's contents are checked again by whoever interprets them. */
#ifndef XENO_PROTO_MIGRATE_PROTO_H
#define XENO_PROTO_MIGRATE_PROTO_H

#include <stddef.h>
#include <stdint.h>

#define MIG_MAGIC 0x47494d58u /* "XMIG" little-endian */
#define MIG_VERSION 2         /* 2: identities in the handshake, AEAD after it */
#define MIG_PAGE 4096u
#define MIG_BATCH_PAGES 64u /* pages in one MIG_PAGES message at most */
#define MIG_MAX_PAYLOAD (2u << 20)
#define MIG_NONCE 32
#define MIG_MAC 32     /* HMAC-SHA256 */
#define MIG_KEY_MIN 16 /* bytes in a key file at least */
#define MIG_KEY_MAX 4096
#define MIG_ID_MAX 128     /* a host identity on the wire: NUL-padded */
#define MIG_TAG 16         /* AES-256-GCM tag after each payload once the handshake passed */
#define MIG_ZERO_PAGE 1ull /* in a page entry: the page is all zero, no data follows */

enum mig_msg_type {
    MIG_HELLO = 1, /* source -> destination: version, source nonce, both identities */
    MIG_CHALLENGE, /* destination -> source: version, destination nonce, its MAC over the transcript */
    MIG_AUTH,      /* source -> destination: the source's MAC over the transcript */
    MIG_AUTH_OK,   /* destination -> source: the source is accepted; AEAD from the next message */
    MIG_CONFIG,    /* struct snap_config: what the domain was started with */
    MIG_PAGES,     /* struct mig_pages_hdr, entries, data of the non-zero pages */
    MIG_ROUND,     /* struct mig_round: a pre-copy round ended; answered by MIG_ROUND_ACK */
    MIG_STATE,     /* device and vCPU state: snapshot sections (migrate_state.h) */
    MIG_READY,     /* destination -> source: everything loaded, vCPUs held */
    MIG_GO,        /* source -> destination: the source has stopped for good; run */
    MIG_STARTED,   /* destination -> source: vCPUs released */
    MIG_ERROR,     /* either way: a NUL-free reason, then the connection closes */
    MIG_ROUND_ACK, /* destination -> source: everything up to that round is in its RAM */
    /* Between two xenods (src/daemon/migrate_host.c), before the monitors' own connection: */
    MIG_HOST_OFFER,  /* source xenod -> destination xenod: JSON, the domain to take */
    MIG_HOST_ACCEPT, /* destination xenod -> source xenod: JSON, where its monitor listens */
    MIG_TYPE_MAX
};

struct mig_hdr {
    uint32_t magic, type, len, crc;
};

struct mig_hello {
    uint32_t version, reserved;
    uint8_t nonce[MIG_NONCE];
    char source[MIG_ID_MAX]; /* who sends: its address on this connection */
    char dest[MIG_ID_MAX];   /* whom the source means to reach (mig_conn.dest_id) */
};

struct mig_challenge {
    uint32_t version, reserved;
    uint8_t nonce[MIG_NONCE];
    uint8_t mac[MIG_MAC];
};

struct mig_pages_hdr {
    uint32_t count, reserved;
    /* then count x uint64_t: RAM offset (page aligned) | MIG_ZERO_PAGE; then the data of
     * every entry without MIG_ZERO_PAGE, MIG_PAGE bytes each, in entry order */
};

struct mig_round {
    uint32_t round, reserved;
    uint64_t pages;
};

struct mig_aead; /* per-direction keys and counters, once the handshake passed */

/* One connection. Used by one thread at a time (the counters in aead are per message);
 * mig_close frees what the handshake allocated. */
struct mig_conn {
    int fd;
    int timeout_ms;          /* per blocking call */
    int64_t deadline_ms;     /* CLOCK_MONOTONIC ms after which every wait fails; 0: none */
    uint64_t sent, received; /* bytes, headers and tags included */
    char peer[128];          /* "HOST:PORT" for messages */
    /* The source: the destination it means to reach, as the destination names itself (its
     * address on the connection, mig_sock_id). Empty: the address this connection reached,
     * so a keyless relay at another address is refused by the destination. */
    char dest_id[MIG_ID_MAX];
    char peer_id[MIG_ID_MAX]; /* after the handshake: the identity the peer gave */
    struct mig_aead *aead;    /* NULL until the handshake passed: clear, CRC-checked */
};

/* The key in a file: at least MIG_KEY_MIN bytes (trailing newline dropped), and not
 * readable by group or others. 0, or a negative errno with err_set(). */
int mig_key_load(const char *path, uint8_t *key, size_t *len);

/* Splits "HOST:PORT" ("[V6]:PORT" too). 0, or -EINVAL with err_set(). */
int mig_split_hostport(const char *s, char *host, size_t hsize, char *port, size_t psize);
/* Connects to HOST:PORT within timeout_ms. 0, or a negative errno with err_set(). */
int mig_connect(struct mig_conn *c, const char *hostport, int timeout_ms);
/* A listening socket on ADDR:PORT. The fd, or a negative errno with err_set(). */
int mig_listen(const char *addrport);
/* The same, PORT 0 meaning any free port; *bound_port: the port it got. */
int mig_listen_port(const char *addrport, int *bound_port);
/* Waits up to timeout_ms (-1: for ever) for one connection on lfd. */
int mig_accept(struct mig_conn *c, int lfd, int timeout_ms);
/* Closes the socket and frees the session keys (wiped). */
void mig_close(struct mig_conn *c);
/* This end's (peer = 0) or the other end's (peer = 1) address on fd as an identity:
 * "IP:PORT" ("[V6]:PORT"; IPv4-mapped as IPv4), "unix:PATH" for a unix socket. 0 or -errno. */
int mig_sock_id(int fd, int peer, char *out, size_t size);

/* After the handshake, payloads are encrypted into a per-connection buffer (never in place:
 * they may be guest memory); headers go as authenticated data. */
int mig_send(struct mig_conn *c, uint32_t type, const void *payload, uint32_t len);
/* The same, payload in two pieces (header + data without a copy). */
int mig_send2(struct mig_conn *c, uint32_t type, const void *a, uint32_t alen, const void *b, uint32_t blen);
/* Receives one message into buf (cap bytes at most; a longer one is an error). After the
 * handshake it is decrypted in place and its tag checked: -EBADMSG when it fails (buf then
 * holds nothing to use). A MIG_ERROR
 * from the peer becomes -ECONNABORTED with its reason. 0, or a negative errno with
 * err_set() naming `what` was awaited. */
int mig_recv(struct mig_conn *c, uint32_t *type, void *buf, uint32_t cap, uint32_t *len, const char *what);
/* Like mig_recv, but any type other than `want` is an error. */
int mig_expect(struct mig_conn *c, uint32_t want, void *buf, uint32_t cap, uint32_t *len, const char *what);
/* Tells the peer why we stop (best effort). */
void mig_send_error(struct mig_conn *c, const char *reason);

/* Sets c->deadline_ms to ms from now (ms <= 0: no deadline). A deadline bounds the sum of
 * all waits, so a peer that sends a byte just inside each per-call timeout is still cut. */
void mig_set_deadline(struct mig_conn *c, int ms);

/* The whole handshake (every message of it) must be over within these, counted from its
 * start, unless the caller set an earlier deadline. The destination's is short: until the
 * handshake passes, the peer is a stranger holding one of few slots. The source's is
 * longer: a destination monitor serves one handshake at a time, and the source may wait
 * in its backlog behind a stranger that holds the destination's deadline. */
#define MIG_AUTH_DEADLINE_MS 5000
#define MIG_AUTH_SOURCE_DEADLINE_MS 20000

/* The handshake. The source names itself and the destination it means to reach
 * (c->dest_id, default: the address it reached); the destination refuses a name that is not
 * its own address on the connection (-EACCES), so a host in the middle cannot pass on a
 * handshake meant for itself. Each side proves it holds the key by a MAC over the whole
 * transcript (version, both identities, both nonces) before the other sends a domain; both
 * then derive per-direction session keys from the key and the transcript, and every later
 * message on c is authenticated and encrypted. 0, or -EACCES (wrong key, wrong destination)
 * or another negative errno, with err_set(). */
int mig_auth_source(struct mig_conn *c, const uint8_t *key, size_t keylen);
int mig_auth_destination(struct mig_conn *c, const uint8_t *key, size_t keylen);

const char *mig_type_name(uint32_t type);

#endif
