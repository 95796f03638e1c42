#include "fleet/host_client.h"

#include <curl/curl.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "fleet/fleet_model.h"
#include "fleet/http_reply.h"
#include "lib/err.h"

#define HOST_REPLY_MAX (4u << 20)

int fleet_host_post(const char *advertise, const char *token, const char *cacert, const char *path, const json_t *body,
                    long timeout_s, long *status, json_t **answer)
{
    char url[FLEET_URL_MAX + 256], auth[320];
    int unix_socket = strncmp(advertise, "unix:", 5) == 0;
    if (!fleet_url_valid(advertise))
        return err_set(EINVAL, "host advertise URL '%.100s': https://HOST:PORT or unix:/PATH", advertise);
    if (!unix_socket && (!token || strlen(token) > 256))
        return err_set(EACCES, "host %s is reached over HTTPS: a token is needed", advertise);
    snprintf(url, sizeof(url), "%s%s", unix_socket ? "http://xenod" : advertise, path);
    char *text = json_dumps(body, JSON_COMPACT);
    CURL *h = curl_easy_init();
    struct curl_slist *hdr = curl_slist_append(NULL, "Content-Type: application/json");
    if (token && !unix_socket) {
        snprintf(auth, sizeof(auth), "Authorization: Bearer %s", token);
        hdr = curl_slist_append(hdr, auth);
        memset(auth, 0, sizeof(auth));
    }
    if (!text || !h || !hdr) {
        free(text);
        curl_easy_cleanup(h);
        curl_slist_free_all(hdr);
        return err_set(ENOMEM, "out of memory");
    }
    struct http_reply r = {.max = HOST_REPLY_MAX};
    curl_easy_setopt(h, CURLOPT_URL, url);
    if (unix_socket)
        curl_easy_setopt(h, CURLOPT_UNIX_SOCKET_PATH, advertise + 5);
    else
        curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "https");
    if (cacert && *cacert)
        curl_easy_setopt(h, CURLOPT_CAINFO, cacert);
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, text);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdr);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, http_reply_write);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &r);
    curl_easy_setopt(h, CURLOPT_TIMEOUT, timeout_s);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_NOPROXY, "*");
    curl_easy_setopt(h, CURLOPT_SSLVERSION, (long)CURL_SSLVERSION_TLSv1_2);
    CURLcode cc = curl_easy_perform(h);
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, status);
    curl_easy_cleanup(h);
    curl_slist_free_all(hdr);
    free(text);
    int rc = 0;
    if (cc == CURLE_OPERATION_TIMEDOUT)
        rc = err_set(ETIMEDOUT, "host %s: no answer in %ld s", advertise, timeout_s);
    else if (cc != CURLE_OK)
        rc = err_set(ECONNREFUSED, "host %s: %s", advertise, curl_easy_strerror(cc));
    else
        *answer = r.buf ? json_loadb(r.buf, r.len, 0, NULL) : NULL;
    free(r.buf);
    return rc;
}
