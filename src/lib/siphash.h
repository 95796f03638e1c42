/* SipHash (Aumasson and Bernstein, 2012): a keyed pseudo-random function for hash tables
 * whose keys come from outside. Without the 16-byte key, nobody can choose inputs that land in
 * one bucket. SipHash-2-4 is the original; SipHash-1-3 (one compression round, three
 * finalisation rounds) is the faster variant Python and Rust use for their hash tables.
 * Pure functions, any thread. */
#ifndef XENO_LIB_SIPHASH_H
#define XENO_LIB_SIPHASH_H

#include <stddef.h>
#include <stdint.h>

#define SIPHASH_KEY_LEN 16

uint64_t siphash24(const uint8_t key[SIPHASH_KEY_LEN], const void *data, size_t len);
uint64_t siphash13(const uint8_t key[SIPHASH_KEY_LEN], const void *data, size_t len);

/* Fills key from getrandom(2). 0 or -errno with a message. */
int siphash_random_key(uint8_t key[SIPHASH_KEY_LEN]);

#endif
