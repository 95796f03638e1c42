/* xenod's descriptor budget (src/daemon/fd_budget.c): the need grows with --max-domains, a
 * limit below it is refused with the number and how to raise it, and API connections get
 * what the domains leave. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "daemon/fd_budget.h"
#include "lib/err.h"

static void need_grows_per_domain(void **state)
{
    (void)state;
    assert_int_equal(fd_budget_need(0), FD_RESERVE + FD_CONNECTIONS_MIN);
    assert_int_equal(fd_budget_need(1000) - fd_budget_need(999), FD_PER_DOMAIN);
    assert_int_equal(fd_budget_need(XENOD_MAX_DOMAINS_DEFAULT), 320 + 4 * 1024);
}

static void check_at_the_edge(void **state)
{
    (void)state;
    uint64_t need = fd_budget_need(100);
    assert_int_equal(fd_budget_check(need, 100), 0);
    assert_int_equal(fd_budget_check(need + 1000, 100), 0);
    assert_int_equal(fd_budget_check(need - 1, 100), -EMFILE);
}

/* The refusal says the limit, the number needed, how to raise it, and the maximum that fits. */
static void refusal_says_what_to_do(void **state)
{
    (void)state;
    assert_int_equal(fd_budget_check(400, 100), -EMFILE);
    assert_non_null(strstr(err_msg(), "is 400"));
    assert_non_null(strstr(err_msg(), "--max-domains 100 needs 720"));
    assert_non_null(strstr(err_msg(), "ulimit -n 720"));
    assert_non_null(strstr(err_msg(), "--max-domains 20 or fewer"));
    /* Below the reserve itself: no smaller maximum to offer. */
    assert_int_equal(fd_budget_check(64, 100), -EMFILE);
    assert_null(strstr(err_msg(), "or fewer"));
}

/* Without --max-domains: the default where the limit holds it, fewer where it does not (a
 * host whose hard limit is 4096 still starts xenod), none below the reserve. */
static void default_follows_the_limit(void **state)
{
    (void)state;
    assert_int_equal(fd_budget_default_max(1048576), XENOD_MAX_DOMAINS_DEFAULT);
    assert_int_equal(fd_budget_default_max(fd_budget_need(XENOD_MAX_DOMAINS_DEFAULT)), XENOD_MAX_DOMAINS_DEFAULT);
    assert_int_equal(fd_budget_default_max(4096), (4096 - fd_budget_need(0)) / FD_PER_DOMAIN);
    assert_int_equal(fd_budget_check(4096, fd_budget_default_max(4096)), 0);
    assert_int_equal(fd_budget_default_max(64), 0);
}

static void connections_get_the_rest(void **state)
{
    (void)state;
    fd_budget_set_max_domains(1000);
    assert_int_equal(fd_budget_max_domains(), 1000);
    assert_int_equal(fd_budget_connections(20000), 20000 - FD_RESERVE - 4000);
    assert_int_equal(fd_budget_connections(100), 16); /* never below 16 */
    fd_budget_set_max_domains(0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(need_grows_per_domain),     cmocka_unit_test(check_at_the_edge),
        cmocka_unit_test(default_follows_the_limit), cmocka_unit_test(refusal_says_what_to_do),
        cmocka_unit_test(connections_get_the_rest),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
