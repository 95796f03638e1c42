#include "ctl/api_client.h"

#include <curl/curl.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "lib/err.h"

/* Console logs are at most 2 MiB (docs/control-channel.md); anything far beyond that is
 * not xenod, and must not exhaust memory. */
#define REPLY_MAX (256u << 20)
/* Connecting to a local socket is immediate or never. */
#define CONNECT_TIMEOUT_S 5

struct buf {
    char *data;
    size_t len, cap;
    int too_big;
};

static size_t on_data(char *ptr, size_t size, size_t nmemb, void *userdata)
{
    struct buf *b = userdata;
    size_t n = size * nmemb;
    if (b->len + n + 1 > REPLY_MAX) {
        b->too_big = 1;
        return 0; /* makes curl fail with CURLE_WRITE_ERROR */
    }
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        while (cap < b->len + n + 1)
            cap *= 2;
        char *grown = realloc(b->data, cap);
        if (!grown)
            return 0;
        b->data = grown;
        b->cap = cap;
    }
    memcpy(b->data + b->len, ptr, n);
    b->len += n;
    b->data[b->len] = '\0';
    return n;
}

static int is_json_type(const char *content_type)
{
    return content_type && strncmp(content_type, "application/json", 16) == 0;
}

/* The unix socket, or HTTPS to a remote xenod. */
static void set_transport(CURL *curl, const struct ctl_api_target *t)
{
    if (t->server) {
        /* HTTPS only (ctl_server_parse), the peer and its name verified (libcurl's default,
         * said again), TLS 1.2 or later as xenod serves; redirects never followed: the token
         * must go nowhere else. */
        curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "https");
        curl_easy_setopt(curl, CURLOPT_SSL_VERIFYPEER, 1L);
        curl_easy_setopt(curl, CURLOPT_SSL_VERIFYHOST, 2L);
        curl_easy_setopt(curl, CURLOPT_SSLVERSION, (long)CURL_SSLVERSION_TLSv1_2);
        curl_easy_setopt(curl, CURLOPT_FOLLOWLOCATION, 0L);
        if (t->cacert)
            curl_easy_setopt(curl, CURLOPT_CAINFO, t->cacert);
    } else {
        curl_easy_setopt(curl, CURLOPT_UNIX_SOCKET_PATH, t->socket);
    }
}

/* One request's handle: URL from the target and path, the bearer token (remote mode) added to
 * `headers` (taken over: freed here on failure), transport, path kept as escaped. NULL with
 * err_set() when libcurl cannot set up. */
static CURL *request_open(const struct ctl_api_target *t, const char *path, struct curl_slist **headers)
{
    char url[4096], auth[CTL_TOKEN_MAX + 32];
    /* The host part is ignored on a unix socket; "localhost" keeps the Host header sane. */
    snprintf(url, sizeof(url), "%s%s", t->server ? t->server : "http://localhost", path);
    if (t->server && t->token) {
        /* In a header only: never in the URL, so never in a proxy's or xenod's log line. */
        snprintf(auth, sizeof(auth), "Authorization: Bearer %s", t->token);
        *headers = curl_slist_append(*headers, auth);
        memset(auth, 0, sizeof(auth));
    }
    CURL *curl = curl_easy_init();
    if (!curl || !*headers) {
        curl_slist_free_all(*headers);
        *headers = NULL;
        if (curl)
            curl_easy_cleanup(curl);
        err_set(ENOMEM, "cannot set up an HTTP request (libcurl)");
        return NULL;
    }
    set_transport(curl, t);
    curl_easy_setopt(curl, CURLOPT_URL, url);
    /* Keep "/v1/domains/%2E%2E" and friends exactly as escaped: never squash dot segments. */
    curl_easy_setopt(curl, CURLOPT_PATH_AS_IS, 1L);
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, *headers);
    return curl;
}

int ctl_api_request(const struct ctl_api_target *t, const char *method, const char *path, const json_t *body,
                    long timeout_s, struct ctl_reply *reply, int *errno_out)
{
    char errbuf[CURL_ERROR_SIZE] = "";
    struct buf b = {0};
    char *payload = NULL;
    struct curl_slist *headers = NULL;
    int result = CTL_API_OK;
    long os_errno = 0;

    memset(reply, 0, sizeof(*reply));
    if (errno_out)
        *errno_out = 0;
    if (body) {
        payload = json_dumps(body, JSON_COMPACT);
        if (!payload) {
            err_set(ENOMEM, "out of memory encoding the request");
            return CTL_API_BROKEN;
        }
        headers = curl_slist_append(headers, "Content-Type: application/json");
    }
    headers = curl_slist_append(headers, "Accept: application/json, text/plain");
    /* curl sends "Expect: 100-continue" for larger bodies and waits for it; xenod need not. */
    headers = curl_slist_append(headers, "Expect:");
    CURL *curl = request_open(t, path, &headers);
    if (!curl) {
        free(payload);
        return CTL_API_BROKEN;
    }
    curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
    if (payload) {
        curl_easy_setopt(curl, CURLOPT_POSTFIELDS, payload);
        curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE, (long)strlen(payload));
    } else if (strcmp(method, "POST") == 0) {
        /* A POST without a body still says so (Content-Length: 0) rather than hanging. */
        curl_easy_setopt(curl, CURLOPT_POSTFIELDS, "");
        curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE, 0L);
    }
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, &b);
    curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, errbuf);
    curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT, (long)CONNECT_TIMEOUT_S);
    curl_easy_setopt(curl, CURLOPT_TIMEOUT, timeout_s);
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(curl, CURLOPT_USERAGENT, "xenctl");
    /* Proxies from the environment make no sense for a local socket, and a remote xenod is
     * reached directly too: the bearer token is for it alone. */
    curl_easy_setopt(curl, CURLOPT_PROXY, "");

    CURLcode rc = curl_easy_perform(curl);
    curl_easy_getinfo(curl, CURLINFO_OS_ERRNO, &os_errno);
    if (errno_out)
        *errno_out = (int)os_errno;
    if (rc == CURLE_OK) {
        char *ctype = NULL;
        curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &reply->status);
        curl_easy_getinfo(curl, CURLINFO_CONTENT_TYPE, &ctype);
        reply->body = b.data ? b.data : strdup("");
        reply->len = b.len;
        b.data = NULL;
        if (!reply->body) {
            result = CTL_API_BROKEN;
            err_set(ENOMEM, "out of memory reading xenod's answer");
        } else if (is_json_type(ctype) || (!ctype && reply->len && reply->body[0] == '{')) {
            /* A JSON answer that does not parse is left NULL: callers report it. */
            reply->json = json_loadb(reply->body, reply->len, 0, NULL);
        }
    } else if (rc == CURLE_COULDNT_CONNECT || rc == CURLE_COULDNT_RESOLVE_HOST) {
        result = CTL_API_UNREACHABLE;
        err_set(ECONNREFUSED, "%s", os_errno ? strerror((int)os_errno) : (*errbuf ? errbuf : curl_easy_strerror(rc)));
    } else if (rc == CURLE_OPERATION_TIMEDOUT) {
        result = CTL_API_TIMEOUT;
        err_set(ETIMEDOUT, "no answer within %ld s", timeout_s);
    } else if (rc == CURLE_WRITE_ERROR && b.too_big) {
        result = CTL_API_BROKEN;
        err_set(EFBIG, "the answer is larger than %u MiB", REPLY_MAX >> 20);
    } else {
        result = CTL_API_BROKEN;
        err_set(EPROTO, "%s", *errbuf ? errbuf : curl_easy_strerror(rc));
    }
    curl_easy_cleanup(curl);
    curl_slist_free_all(headers);
    free(payload);
    free(b.data);
    if (result != CTL_API_OK)
        ctl_reply_free(reply);
    return result;
}

void ctl_reply_free(struct ctl_reply *reply)
{
    json_decref(reply->json);
    free(reply->body);
    memset(reply, 0, sizeof(*reply));
}

/* Line assembly of a stream: at most one line (an event) of STREAM_LINE_MAX is kept. */
#define STREAM_LINE_MAX (1u << 20)

struct stream {
    struct buf line;
    int (*on_event)(void *, const char *);
    void *ctx;
    int stopped;
    CURL *curl;
};

static size_t on_stream(char *ptr, size_t size, size_t nmemb, void *userdata)
{
    struct stream *st = userdata;
    size_t n = size * nmemb;
    long status = 0;
    curl_easy_getinfo(st->curl, CURLINFO_RESPONSE_CODE, &status);
    if (status != 200) /* an error answer: kept whole for the message */
        return on_data(ptr, size, nmemb, &st->line);
    for (size_t i = 0; i < n; i++) {
        if (ptr[i] != '\n') {
            if (st->line.len + 2 > STREAM_LINE_MAX)
                return 0;
            if (on_data(ptr + i, 1, 1, &st->line) != 1)
                return 0;
            continue;
        }
        if (st->line.data && strncmp(st->line.data, "data:", 5) == 0) {
            const char *text = st->line.data + 5 + (st->line.data[5] == ' ');
            if (st->on_event(st->ctx, text)) {
                st->stopped = 1;
                return 0;
            }
        }
        st->line.len = 0;
        if (st->line.data)
            st->line.data[0] = '\0';
    }
    return n;
}

int ctl_api_stream(const struct ctl_api_target *t, const char *path, long idle_s, int (*on_event)(void *, const char *),
                   void *ctx, long *status, char **error_body, int *errno_out)
{
    char errbuf[CURL_ERROR_SIZE] = "";
    struct curl_slist *headers = curl_slist_append(NULL, "Accept: text/event-stream");
    struct stream st = {.on_event = on_event, .ctx = ctx};
    long os_errno = 0;
    int result = CTL_API_OK;
    *status = 0;
    *error_body = NULL;
    if (errno_out)
        *errno_out = 0;
    CURL *curl = st.curl = request_open(t, path, &headers);
    if (!curl)
        return CTL_API_BROKEN;
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, on_stream);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, &st);
    curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, errbuf);
    curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT, (long)CONNECT_TIMEOUT_S);
    /* No overall limit; a stream that went silent (xenod sends a heartbeat) is given up. */
    curl_easy_setopt(curl, CURLOPT_LOW_SPEED_LIMIT, 1L);
    curl_easy_setopt(curl, CURLOPT_LOW_SPEED_TIME, idle_s);
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(curl, CURLOPT_USERAGENT, "xenctl");
    curl_easy_setopt(curl, CURLOPT_PROXY, "");
    CURLcode rc = curl_easy_perform(curl);
    curl_easy_getinfo(curl, CURLINFO_OS_ERRNO, &os_errno);
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, status);
    if (errno_out)
        *errno_out = (int)os_errno;
    if (rc == CURLE_OK || (rc == CURLE_WRITE_ERROR && st.stopped)) {
        if (*status != 200) {
            *error_body = st.line.data;
            st.line.data = NULL;
        }
    } else if (rc == CURLE_COULDNT_CONNECT || rc == CURLE_COULDNT_RESOLVE_HOST) {
        result = CTL_API_UNREACHABLE;
        err_set(ECONNREFUSED, "%s", os_errno ? strerror((int)os_errno) : (*errbuf ? errbuf : curl_easy_strerror(rc)));
    } else if (rc == CURLE_OPERATION_TIMEDOUT) {
        result = CTL_API_TIMEOUT;
        err_set(ETIMEDOUT, "the event stream was silent for %ld s", idle_s);
    } else {
        result = CTL_API_BROKEN;
        err_set(EPROTO, "%s", *errbuf ? errbuf : curl_easy_strerror(rc));
    }
    curl_easy_cleanup(curl);
    curl_slist_free_all(headers);
    free(st.line.data);
    return result;
}
