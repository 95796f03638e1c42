/* SipHash, written from the algorithm's description in the paper ("SipHash: a fast
 * short-input PRF"): state v0..v3 from the key and four constants, each little-endian 8-byte
 * word of the input mixed in with c SipRounds, the last word carrying the length in its top
 * byte, then d SipRounds after v2 ^= 0xff. Checked against the paper's test vectors in
 * tests/unit/test_lib_siphash.c. */
#include "lib/siphash.h"

#include <errno.h>
#include <string.h>
#include <sys/random.h>

#include "lib/err.h"

static inline uint64_t rotl(uint64_t x, int b)
{
    return x << b | x >> (64 - b);
}

static inline uint64_t le64(const uint8_t *p)
{
    uint64_t v;
    memcpy(&v, p, 8);
#if __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
    v = __builtin_bswap64(v);
#endif
    return v;
}

#define SIPROUND(v0, v1, v2, v3)                                                                                       \
    do {                                                                                                               \
        v0 += v1;                                                                                                      \
        v1 = rotl(v1, 13) ^ v0;                                                                                        \
        v0 = rotl(v0, 32);                                                                                             \
        v2 += v3;                                                                                                      \
        v3 = rotl(v3, 16) ^ v2;                                                                                        \
        v0 += v3;                                                                                                      \
        v3 = rotl(v3, 21) ^ v0;                                                                                        \
        v2 += v1;                                                                                                      \
        v1 = rotl(v1, 17) ^ v2;                                                                                        \
        v2 = rotl(v2, 32);                                                                                             \
    } while (0)

/* c and d are constants at each call site: the compiler unrolls the loops. */
static inline uint64_t siphash(const uint8_t key[SIPHASH_KEY_LEN], const void *data, size_t len, int c, int d)
{
    const uint8_t *p = data;
    uint64_t k0 = le64(key), k1 = le64(key + 8);
    uint64_t v0 = k0 ^ 0x736f6d6570736575ull, v1 = k1 ^ 0x646f72616e646f6dull;
    uint64_t v2 = k0 ^ 0x6c7967656e657261ull, v3 = k1 ^ 0x7465646279746573ull;
    size_t whole = len & ~(size_t)7;
    for (size_t i = 0; i < whole; i += 8) {
        uint64_t m = le64(p + i);
        v3 ^= m;
        for (int r = 0; r < c; r++)
            SIPROUND(v0, v1, v2, v3);
        v0 ^= m;
    }
    uint8_t last[8] = {0};
    memcpy(last, p + whole, len - whole);
    uint64_t m = le64(last) | (uint64_t)(len & 0xff) << 56;
    v3 ^= m;
    for (int r = 0; r < c; r++)
        SIPROUND(v0, v1, v2, v3);
    v0 ^= m;
    v2 ^= 0xff;
    for (int r = 0; r < d; r++)
        SIPROUND(v0, v1, v2, v3);
    return v0 ^ v1 ^ v2 ^ v3;
}

uint64_t siphash24(const uint8_t key[SIPHASH_KEY_LEN], const void *data, size_t len)
{
    return siphash(key, data, len, 2, 4);
}

uint64_t siphash13(const uint8_t key[SIPHASH_KEY_LEN], const void *data, size_t len)
{
    return siphash(key, data, len, 1, 3);
}

int siphash_random_key(uint8_t key[SIPHASH_KEY_LEN])
{
    ssize_t n;
    do
        n = getrandom(key, SIPHASH_KEY_LEN, 0);
    while (n < 0 && errno == EINTR);
    if (n != SIPHASH_KEY_LEN)
        return err_set(n < 0 ? errno : EIO, "hash key: getrandom: %s", n < 0 ? strerror(errno) : "short read");
    return 0;
}
