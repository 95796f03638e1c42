#include "proto/migrate_aead.h"

#include <errno.h>
#include <nettle/gcm.h>
#include <nettle/hkdf.h>
#include <nettle/hmac.h>
#include <nettle/memops.h>
#include <stdlib.h>
#include <string.h>

#include "lib/err.h"

/* Nettle rather than OpenSSL: every monitor links this file, and loading libcrypto costs each
 * process about 400 KiB of private dirty memory (its relocated read-only data) even when it
 * never migrates; libnettle's is under 8 KiB (bench/README.md, "Host memory per domain"). */
struct mig_aead {
    struct gcm_aes256_ctx tx, rx; /* keyed once; each message sets only its nonce */
    uint64_t tx_seq, rx_seq;      /* the next message's number in each direction */
    uint8_t *buf;                 /* ciphertext of the message being sent, then its tag */
};

#define KEY_LEN 32
#define IV_LEN 12

/* HKDF-SHA256(salt = the transcript, IKM = the shared key, info = label): a fresh key per
 * direction and per connection, since both nonces are in the transcript. */
static void derive(const uint8_t *key, size_t keylen, const uint8_t *transcript, size_t tlen, const char *label,
                   uint8_t out[KEY_LEN])
{
    struct hmac_sha256_ctx h;
    uint8_t prk[SHA256_DIGEST_SIZE];
    hmac_sha256_set_key(&h, tlen, transcript);
    hkdf_extract(&h, (nettle_hash_update_func *)hmac_sha256_update, (nettle_hash_digest_func *)hmac_sha256_digest,
                 SHA256_DIGEST_SIZE, keylen, key, prk);
    hmac_sha256_set_key(&h, sizeof(prk), prk);
    hkdf_expand(&h, (nettle_hash_update_func *)hmac_sha256_update, (nettle_hash_digest_func *)hmac_sha256_digest,
                SHA256_DIGEST_SIZE, strlen(label), (const uint8_t *)label, KEY_LEN, out);
    explicit_bzero(&h, sizeof(h));
    explicit_bzero(prk, sizeof(prk));
}

void mig_aead_free(struct mig_aead *a)
{
    if (!a)
        return;
    uint8_t *buf = a->buf;
    explicit_bzero(a, sizeof(*a)); /* the key schedules */
    free(buf);
    free(a);
}

int mig_aead_start(struct mig_conn *c, const uint8_t *key, size_t keylen, const uint8_t *transcript, size_t tlen,
                   int source)
{
    uint8_t s2d[KEY_LEN], d2s[KEY_LEN];
    struct mig_aead *a = calloc(1, sizeof(*a));
    if (!a || !(a->buf = malloc(MIG_MAX_PAYLOAD + MIG_TAG))) {
        mig_aead_free(a);
        return err_set(ENOMEM, "out of memory");
    }
    derive(key, keylen, transcript, tlen, "xeno-mig v2 source to destination", s2d);
    derive(key, keylen, transcript, tlen, "xeno-mig v2 destination to source", d2s);
    gcm_aes256_set_key(&a->tx, source ? s2d : d2s);
    gcm_aes256_set_key(&a->rx, source ? d2s : s2d);
    explicit_bzero(s2d, sizeof(s2d));
    explicit_bzero(d2s, sizeof(d2s));
    mig_aead_free(c->aead);
    c->aead = a;
    return 0;
}

/* The nonce: 4 zero bytes and the message's number, big-endian. The keys differ per
 * direction and per connection, so a number is never used twice under one key. */
static void nonce_of(uint64_t seq, uint8_t iv[IV_LEN])
{
    memset(iv, 0, 4);
    for (int i = 0; i < 8; i++)
        iv[4 + i] = (uint8_t)(seq >> (56 - 8 * i));
}

int mig_aead_seal(struct mig_conn *c, const struct mig_hdr *h, const void *a, uint32_t alen, const void *b,
                  uint32_t blen, const uint8_t **out)
{
    struct mig_aead *s = c->aead;
    uint8_t iv[IV_LEN];
    if (s->tx_seq == UINT64_MAX)
        return err_set(EOVERFLOW, "%s: migration message counter exhausted", c->peer);
    nonce_of(s->tx_seq, iv);
    /* Nettle encrypts only whole blocks but in its last call, and a's length is free: a and b
     * are gathered first and encrypted in place in one call. */
    if (alen)
        memcpy(s->buf, a, alen);
    if (blen)
        memcpy(s->buf + alen, b, blen);
    gcm_aes256_set_iv(&s->tx, IV_LEN, iv);
    gcm_aes256_update(&s->tx, sizeof(*h), (const uint8_t *)h);
    gcm_aes256_encrypt(&s->tx, (size_t)alen + blen, s->buf, s->buf);
    gcm_aes256_digest(&s->tx, MIG_TAG, s->buf + alen + blen);
    s->tx_seq++;
    *out = s->buf;
    return 0;
}

int mig_aead_open(struct mig_conn *c, const struct mig_hdr *h, uint8_t *buf, uint32_t len, const uint8_t *tag)
{
    struct mig_aead *s = c->aead;
    uint8_t iv[IV_LEN], t[MIG_TAG];
    if (s->rx_seq == UINT64_MAX)
        return err_set(EBADMSG, "%s: the migration stream already failed authentication", c->peer);
    nonce_of(s->rx_seq, iv);
    gcm_aes256_set_iv(&s->rx, IV_LEN, iv);
    gcm_aes256_update(&s->rx, sizeof(*h), (const uint8_t *)h);
    gcm_aes256_decrypt(&s->rx, len, buf, buf);
    gcm_aes256_digest(&s->rx, MIG_TAG, t);
    if (!memeql_sec(t, tag, MIG_TAG)) {
        explicit_bzero(buf, len); /* unauthenticated plaintext: nothing to use */
        uint64_t seq = s->rx_seq;
        s->rx_seq = UINT64_MAX; /* nothing after a forgery is accepted either */
        return err_set(EBADMSG,
                       "%s: migration message %llu (%s, %u bytes) failed authentication: altered, replayed, "
                       "reordered or dropped on the way",
                       c->peer, (unsigned long long)seq, mig_type_name(h->type), len);
    }
    s->rx_seq++;
    return 0;
}
