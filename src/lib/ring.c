#include "lib/ring.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

int ring_init(struct ring *r, size_t cap)
{
    r->head = r->len = 0;
    r->cap = cap;
    r->buf = malloc(cap ? cap : 1);
    return r->buf ? 0 : -ENOMEM;
}

void ring_free(struct ring *r)
{
    free(r->buf);
    r->buf = NULL;
    r->cap = r->head = r->len = 0;
}

size_t ring_push(struct ring *r, const void *data, size_t len)
{
    const uint8_t *p = data;
    size_t n = len < ring_space(r) ? len : ring_space(r), done = 0;
    while (done < n) {
        size_t tail = (r->head + r->len) % r->cap;
        size_t chunk = r->cap - tail;
        if (chunk > n - done)
            chunk = n - done;
        memcpy(r->buf + tail, p + done, chunk);
        r->len += chunk;
        done += chunk;
    }
    return n;
}

void ring_push_overwrite(struct ring *r, const void *data, size_t len)
{
    const uint8_t *p = data;
    if (!r->cap)
        return;
    if (len >= r->cap) { /* only the newest cap bytes survive */
        p += len - r->cap;
        len = r->cap;
        r->head = r->len = 0;
    }
    if (len > ring_space(r))
        ring_consume(r, len - ring_space(r));
    ring_push(r, p, len);
}

const uint8_t *ring_peek(const struct ring *r, size_t *len)
{
    size_t n = r->cap - r->head;
    *len = r->len < n ? r->len : n;
    return r->buf + r->head;
}

void ring_consume(struct ring *r, size_t len)
{
    if (len > r->len)
        len = r->len;
    r->len -= len;
    r->head = r->len ? (r->head + len) % r->cap : 0;
}

size_t ring_copy(const struct ring *r, size_t off, void *out, size_t len)
{
    uint8_t *o = out;
    if (off >= r->len)
        return 0;
    if (len > r->len - off)
        len = r->len - off;
    for (size_t done = 0; done < len;) {
        size_t pos = (r->head + off + done) % r->cap;
        size_t chunk = r->cap - pos;
        if (chunk > len - done)
            chunk = len - done;
        memcpy(o + done, r->buf + pos, chunk);
        done += chunk;
    }
    return len;
}

void ring_clear(struct ring *r)
{
    r->head = r->len = 0;
}
