/* Error messages (src/lib/err.c): err_wrap() puts context before the message a callee left,
 * err_append() after it, both although the old message lives in the buffer they write, and
 * both keep the front of the text when it is too long. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <string.h>

#include "lib/err.h"

static void wrap_puts_context_first(void **state)
{
    (void)state;
    err_set(EINVAL, "bad MAC");
    assert_int_equal(err_wrap(EBADMSG, "port %s", "web"), -EBADMSG);
    assert_string_equal(err_msg(), "port web: bad MAC");
    assert_int_equal(err_wrap(EIO, "audit"), -EIO);
    assert_string_equal(err_msg(), "audit: port web: bad MAC");
}

static void append_adds_after(void **state)
{
    (void)state;
    err_set(EINVAL, "hash mismatch");
    err_wrap(EBADMSG, "%s", "log.flows");
    assert_int_equal(err_append(EBADMSG, " (after %d good blocks)", 3), -EBADMSG);
    assert_string_equal(err_msg(), "log.flows: hash mismatch (after 3 good blocks)");
    err_set(ENOSPC, "writing a block: %s", "No space left on device");
    err_append(ENOSPC, "; and cutting the partial block off failed: %s", "Input/output error");
    assert_string_equal(err_msg(),
                        "writing a block: No space left on device; and cutting the partial block off failed: "
                        "Input/output error");
}

static void long_messages_keep_the_front(void **state)
{
    (void)state;
    char big[ERR_MSG_MAX + 1000];
    memset(big, 'x', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    err_set(EINVAL, "%s", big);
    err_append(EINVAL, " tail");
    size_t n = strlen(err_msg());
    assert_int_equal(n, ERR_MSG_MAX - 1);
    assert_null(strstr(err_msg(), "tail"));
    err_set(EINVAL, "cause");
    err_wrap(EINVAL, "%s", big);
    assert_int_equal(strlen(err_msg()), n);
    assert_int_equal(err_msg()[0], 'x');
    /* A peer's refusal of 3000 bytes (a migration's identity check naming several disks)
     * survives whole behind its context. */
    big[3000] = '\0';
    err_set(EINVAL, "%s;end", big);
    err_wrap(EINVAL, "migration to 10.0.0.2:7000 failed");
    assert_non_null(strstr(err_msg(), ";end"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(wrap_puts_context_first),
        cmocka_unit_test(append_adds_after),
        cmocka_unit_test(long_messages_keep_the_front),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
