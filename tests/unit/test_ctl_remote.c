/* xenctl's remote mode (src/ctl/remote.c): which server URLs and tokens are accepted, that a
 * token file others may read is refused, and that $XENO_TOKEN leaves the environment. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ctl/remote.h"
#include "lib/err.h"

static void server_urls(void **state)
{
    (void)state;
    char *u;
    assert_int_equal(ctl_server_parse("https://127.0.0.1:8443", &u), 0);
    assert_string_equal(u, "https://127.0.0.1:8443");
    free(u);
    assert_int_equal(ctl_server_parse("https://[::1]:8443/", &u), 0);
    assert_string_equal(u, "https://[::1]:8443");
    free(u);
    const char *bad[] = {"http://h:1",     "h:1",           "https://",     "https://u:p@h:1",
                         "https://h:1/v1", "https://h:1?x", "https://h :1", "https://h:1\r\nX: y",
                         "ftp://h",        "https://h:1#f"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_int_equal(ctl_server_parse(bad[i], &u), -EINVAL);
        assert_null(u);
    }
}

static void tokens(void **state)
{
    (void)state;
    char *t;
    assert_int_equal(ctl_token_parse("xeno_1_ab\n", 10, &t), 0);
    assert_string_equal(t, "xeno_1_ab");
    free(t);
    /* A token goes into a header line: no CR, LF, space or control character inside. */
    assert_int_equal(ctl_token_parse("a\r\nX-Evil: 1", 12, &t), -EINVAL);
    assert_int_equal(ctl_token_parse("a b", 3, &t), -EINVAL);
    assert_int_equal(ctl_token_parse("\n", 1, &t), -EINVAL);
    char big[CTL_TOKEN_MAX + 2];
    memset(big, 'a', sizeof(big));
    assert_int_equal(ctl_token_parse(big, sizeof(big), &t), -EINVAL);
    assert_int_equal(ctl_token_parse(big, CTL_TOKEN_MAX, &t), 0);
    free(t);
}

static void token_file_modes(void **state)
{
    (void)state;
    char path[] = "/tmp/test_ctl_remote.XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, "xeno_2_cd\n", 10), 10);
    close(fd);
    char *t;
    assert_int_equal(chmod(path, 0600), 0);
    assert_int_equal(ctl_token_read_file(path, &t), 0);
    assert_string_equal(t, "xeno_2_cd");
    free(t);
    const mode_t open_modes[] = {0644, 0640, 0604, 0620, 0602, 0610};
    for (size_t i = 0; i < sizeof(open_modes) / sizeof(open_modes[0]); i++) {
        assert_int_equal(chmod(path, open_modes[i]), 0);
        assert_int_equal(ctl_token_read_file(path, &t), -EACCES);
        assert_non_null(strstr(err_msg(), "too open"));
        assert_null(t);
    }
    unlink(path);
    assert_int_equal(ctl_token_read_file("/", &t), -EINVAL); /* a directory */
}

static void env_token_taken(void **state)
{
    (void)state;
    struct ctl_args a = {0};
    struct ctl_api_target t;
    setenv("XENO_TOKEN", "xeno_3_ef", 1);
    a.server = "https://h:1";
    assert_int_equal(ctl_target_setup(&a, &t), 0);
    assert_null(getenv("XENO_TOKEN")); /* no child inherits it */
    assert_string_equal(t.token, "xeno_3_ef");
    assert_string_equal(t.server, "https://h:1");
    ctl_target_free(&t);
    /* A server without a token is refused; a token without a server is not used. */
    assert_int_equal(ctl_target_setup(&a, &t), -EINVAL);
    a.server = NULL;
    setenv("XENO_TOKEN", "xeno_3_ef", 1);
    unsetenv("XENO_SERVER");
    assert_int_equal(ctl_target_setup(&a, &t), 0);
    assert_null(t.server);
    assert_null(t.token);
    assert_non_null(t.socket);
    ctl_target_free(&t);
    a.token_file = "/nonexistent";
    assert_int_equal(ctl_target_setup(&a, &t), -EINVAL); /* --token-file without --server */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(server_urls),
        cmocka_unit_test(tokens),
        cmocka_unit_test(token_file_modes),
        cmocka_unit_test(env_token_taken),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
