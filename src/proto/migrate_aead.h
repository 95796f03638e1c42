/* The migration stream's session keys and AEAD (inside migrate_proto.c; docs/migration.md,
 * "Key schedule"). After the handshake each direction has its own AES-256-GCM key, derived
 * with HKDF-SHA256 from the shared key and the handshake transcript, and its own 64-bit
 * message counter that goes into the 12-byte nonce: a message is accepted only as the next
 * one of its direction on this connection. Not thread-safe: one sender and one receiver at
 * a time per connection (each direction's counter is touched by its own side only). */
#ifndef XENO_PROTO_MIGRATE_AEAD_H
#define XENO_PROTO_MIGRATE_AEAD_H

#include <stddef.h>
#include <stdint.h>

#include "proto/migrate_proto.h"

/* Derives both directions' keys from key and the transcript, and sets c->aead. `source`:
 * whether this end is the source (it sends with the source-to-destination key). 0 or -errno
 * with err_set(). */
int mig_aead_start(struct mig_conn *c, const uint8_t *key, size_t keylen, const uint8_t *transcript, size_t tlen,
                   int source);
/* Encrypts a then b (h as authenticated data) into the connection's buffer, tag after them;
 * *out: that buffer (alen + blen + MIG_TAG bytes). 0 or -errno with err_set(). */
int mig_aead_seal(struct mig_conn *c, const struct mig_hdr *h, const void *a, uint32_t alen, const void *b,
                  uint32_t blen, const uint8_t **out);
/* Decrypts buf (len bytes) in place and checks tag against h and the next counter of the
 * receiving direction. 0, or -EBADMSG with err_set(). */
int mig_aead_open(struct mig_conn *c, const struct mig_hdr *h, uint8_t *buf, uint32_t len, const uint8_t *tag);
void mig_aead_free(struct mig_aead *a);

#endif
