/* etcd_open's checks of the endpoints and the TLS files (src/fleet/etcd_client.c): what goes
 * to etcd in clear text and what over TLS is decided here, before any request. Talks to no
 * etcd: a URL list that is accepted only builds the client (tests/integration/fleet.sh runs a
 * real cluster over TLS). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>
#include <curl/curl.h>

#include "fleet/etcd_client.h"
#include "lib/err.h"

static int open_rc(const char *urls, const struct etcd_tls *tls)
{
    struct etcd_client *c = NULL;
    int rc = etcd_open(&c, urls, tls, 1000);
    if (rc == 0) {
        assert_non_null(c);
        etcd_close(c);
    }
    return rc;
}

static void test_plain_and_tls_endpoints(void **state)
{
    (void)state;
    struct etcd_tls full = {"/etc/ca.pem", "/etc/c.pem", "/etc/c.key"}, ca_only = {"/etc/ca.pem", NULL, NULL};
    assert_int_equal(open_rc("http://127.0.0.1:2379", NULL), 0);
    assert_int_equal(open_rc("http://a:1,http://b:2,http://c:3", NULL), 0);
    assert_int_equal(open_rc("https://10.0.0.1:2379,https://10.0.0.2:2379", &full), 0);
    assert_int_equal(open_rc("https://10.0.0.1:2379", &ca_only), 0);
    assert_int_equal(open_rc("https://10.0.0.1:2379", NULL), 0); /* the system's CAs */
}

static void test_refused(void **state)
{
    (void)state;
    struct etcd_tls ca = {"/etc/ca.pem", NULL, NULL}, cert_only = {NULL, "/etc/c.pem", NULL},
                    key_only = {NULL, NULL, "/etc/c.key"}, empty = {"", NULL, NULL};
    /* TLS files with clear-text endpoints: a typo must not send the records unencrypted */
    assert_int_equal(open_rc("http://127.0.0.1:2379", &ca), -EINVAL);
    assert_non_null(strstr(err_msg(), "https:// endpoints only"));
    /* one scheme for all endpoints */
    assert_int_equal(open_rc("https://a:1,http://b:2", NULL), -EINVAL);
    assert_non_null(strstr(err_msg(), "all http:// or all https://"));
    assert_int_equal(open_rc("http://a:1,https://b:2", NULL), -EINVAL);
    /* a certificate without its key, or the other way round */
    assert_int_equal(open_rc("https://a:1", &cert_only), -EINVAL);
    assert_int_equal(open_rc("https://a:1", &key_only), -EINVAL);
    assert_int_equal(open_rc("https://a:1", &empty), -EINVAL);
    /* not http(s), a path, credentials, control characters, nothing after the scheme */
    assert_int_equal(open_rc("ftp://a:1", NULL), -EINVAL);
    assert_int_equal(open_rc("https://a:1/v3", NULL), -EINVAL);
    assert_int_equal(open_rc("https://u@a:1", NULL), -EINVAL);
    assert_int_equal(open_rc("https://a\n:1", NULL), -EINVAL);
    assert_int_equal(open_rc("https://", NULL), -EINVAL);
    assert_int_equal(open_rc("", NULL), -EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_plain_and_tls_endpoints),
        cmocka_unit_test(test_refused),
    };
    curl_global_init(CURL_GLOBAL_DEFAULT);
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    curl_global_cleanup();
    return rc;
}
