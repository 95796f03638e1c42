#include "fleet/http_reply.h"

#include <stdlib.h>
#include <string.h>

size_t http_reply_write(char *data, size_t size, size_t nmemb, void *ctx)
{
    struct http_reply *r = ctx;
    size_t n = size * nmemb;
    if (n > r->max || r->len > r->max - n) {
        r->too_big = 1;
        return 0;
    }
    char *p = realloc(r->buf, r->len + n + 1);
    if (!p)
        return 0;
    memcpy(p + r->len, data, n);
    r->buf = p;
    r->len += n;
    r->buf[r->len] = 0;
    return n;
}
