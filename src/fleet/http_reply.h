/* A bounded buffer for an HTTP answer read by libcurl (CURLOPT_WRITEFUNCTION), shared by the
 * etcd client and the host client: a peer that sends more than `max` bytes fails the
 * transfer instead of growing our memory. */
#ifndef XENO_FLEET_HTTP_REPLY_H
#define XENO_FLEET_HTTP_REPLY_H

#include <stddef.h>

struct http_reply {
    char *buf; /* NUL-terminated; the caller frees it */
    size_t len;
    size_t max; /* set by the caller before the transfer */
    int too_big;
};

/* libcurl's write callback; ctx is a struct http_reply. */
size_t http_reply_write(char *data, size_t size, size_t nmemb, void *ctx);

#endif
