#include "proto/migrate_aead.h"

#include <errno.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/params.h>
#include <stdlib.h>
#include <string.h>

#include "lib/err.h"

struct mig_aead {
    EVP_CIPHER_CTX *tx, *rx; /* keyed once; each message sets only its nonce */
    uint64_t tx_seq, rx_seq; /* the next message's number in each direction */
    uint8_t *buf;            /* ciphertext of the message being sent, then its tag */
};

#define KEY_LEN 32
#define IV_LEN 12

/* HKDF-SHA256(salt = the transcript, IKM = the shared key, info = label): a fresh key per
 * direction and per connection, since both nonces are in the transcript. */
static int derive(const uint8_t *key, size_t keylen, const uint8_t *transcript, size_t tlen, const char *label,
                  uint8_t out[KEY_LEN])
{
    EVP_KDF *kdf = EVP_KDF_fetch(NULL, "HKDF", NULL);
    EVP_KDF_CTX *kctx = kdf ? EVP_KDF_CTX_new(kdf) : NULL;
    OSSL_PARAM p[] = {
        OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, (char *)"SHA256", 0),
        OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, (void *)key, keylen),
        OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT, (void *)transcript, tlen),
        OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, (void *)label, strlen(label)),
        OSSL_PARAM_construct_end(),
    };
    int ok = kctx && EVP_KDF_derive(kctx, out, KEY_LEN, p) == 1;
    EVP_KDF_CTX_free(kctx);
    EVP_KDF_free(kdf);
    return ok ? 0 : err_set(EIO, "migration: deriving the session keys failed (OpenSSL HKDF)");
}

static EVP_CIPHER_CTX *keyed(const uint8_t k[KEY_LEN], int enc)
{
    EVP_CIPHER_CTX *x = EVP_CIPHER_CTX_new();
    if (x && EVP_CipherInit_ex(x, EVP_aes_256_gcm(), NULL, k, NULL, enc) == 1)
        return x;
    EVP_CIPHER_CTX_free(x);
    return NULL;
}

void mig_aead_free(struct mig_aead *a)
{
    if (!a)
        return;
    EVP_CIPHER_CTX_free(a->tx); /* wipes the key schedule */
    EVP_CIPHER_CTX_free(a->rx);
    free(a->buf);
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
    int r = derive(key, keylen, transcript, tlen, "xeno-mig v2 source to destination", s2d);
    if (!r)
        r = derive(key, keylen, transcript, tlen, "xeno-mig v2 destination to source", d2s);
    if (!r) {
        a->tx = keyed(source ? s2d : d2s, 1);
        a->rx = keyed(source ? d2s : s2d, 0);
        if (!a->tx || !a->rx)
            r = err_set(EIO, "migration: setting up AES-256-GCM failed (OpenSSL)");
    }
    OPENSSL_cleanse(s2d, sizeof(s2d));
    OPENSSL_cleanse(d2s, sizeof(d2s));
    if (r) {
        mig_aead_free(a);
        return r;
    }
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
    int n, ok;
    if (s->tx_seq == UINT64_MAX)
        return err_set(EOVERFLOW, "%s: migration message counter exhausted", c->peer);
    nonce_of(s->tx_seq, iv);
    ok = EVP_EncryptInit_ex(s->tx, NULL, NULL, NULL, iv) == 1 &&
         EVP_EncryptUpdate(s->tx, NULL, &n, (const uint8_t *)h, sizeof(*h)) == 1;
    if (ok && alen)
        ok = EVP_EncryptUpdate(s->tx, s->buf, &n, a, (int)alen) == 1;
    if (ok && blen)
        ok = EVP_EncryptUpdate(s->tx, s->buf + alen, &n, b, (int)blen) == 1;
    ok = ok && EVP_EncryptFinal_ex(s->tx, s->buf + alen + blen, &n) == 1 &&
         EVP_CIPHER_CTX_ctrl(s->tx, EVP_CTRL_GCM_GET_TAG, MIG_TAG, s->buf + alen + blen) == 1;
    if (!ok)
        return err_set(EIO, "%s: encrypting a migration message failed (OpenSSL)", c->peer);
    s->tx_seq++;
    *out = s->buf;
    return 0;
}

int mig_aead_open(struct mig_conn *c, const struct mig_hdr *h, uint8_t *buf, uint32_t len, const uint8_t *tag)
{
    struct mig_aead *s = c->aead;
    uint8_t iv[IV_LEN], t[MIG_TAG];
    int n;
    if (s->rx_seq == UINT64_MAX)
        return err_set(EBADMSG, "%s: the migration stream already failed authentication", c->peer);
    memcpy(t, tag, MIG_TAG);
    nonce_of(s->rx_seq, iv);
    int ok = EVP_DecryptInit_ex(s->rx, NULL, NULL, NULL, iv) == 1 &&
             EVP_DecryptUpdate(s->rx, NULL, &n, (const uint8_t *)h, sizeof(*h)) == 1 &&
             (!len || EVP_DecryptUpdate(s->rx, buf, &n, buf, (int)len) == 1) &&
             EVP_CIPHER_CTX_ctrl(s->rx, EVP_CTRL_GCM_SET_TAG, MIG_TAG, t) == 1 &&
             EVP_DecryptFinal_ex(s->rx, buf + len, &n) == 1;
    if (!ok) {
        OPENSSL_cleanse(buf, len); /* unauthenticated plaintext: nothing to use */
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
