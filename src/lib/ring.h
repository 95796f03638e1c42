/* A byte ring buffer of fixed capacity: the console's scrollback, each console client's
 * pending output and the hand-off of guest output from vCPU threads to the main loop. Not
 * thread-safe: whoever shares one locks around it. */
#ifndef XENO_LIB_RING_H
#define XENO_LIB_RING_H

#include <stddef.h>
#include <stdint.h>

struct ring {
    uint8_t *buf;
    size_t cap, head, len; /* bytes live at [head, head + len) modulo cap */
};

/* 0, or -ENOMEM. */
int ring_init(struct ring *r, size_t cap);
void ring_free(struct ring *r);
static inline size_t ring_len(const struct ring *r)
{
    return r->len;
}
static inline size_t ring_space(const struct ring *r)
{
    return r->cap - r->len;
}
/* Appends as much as fits; returns how many bytes were taken. */
size_t ring_push(struct ring *r, const void *data, size_t len);
/* Appends everything; when it does not fit, the oldest bytes make room (a scrollback). */
void ring_push_overwrite(struct ring *r, const void *data, size_t len);
/* The oldest contiguous run of bytes: *len is at most ring_len() (less where it wraps). */
const uint8_t *ring_peek(const struct ring *r, size_t *len);
/* Drops the `len` oldest bytes (at most ring_len()). */
void ring_consume(struct ring *r, size_t len);
/* Copies up to `len` oldest bytes starting `off` bytes in, without consuming; returns the count. */
size_t ring_copy(const struct ring *r, size_t off, void *out, size_t len);
void ring_clear(struct ring *r);

#endif
