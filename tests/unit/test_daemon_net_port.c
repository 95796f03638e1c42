/* What xenod writes about a domain's interface (src/daemon/net_port.c): the socket path is
 * xenod's choice, not the XML's, and no value with a control character or a blank reaches a
 * line of the backend's protocol or the monitor's --net items. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "daemon/net_port.h"
#include "lib/err.h"
#include "proto/netback_ctl.h"

static struct domain_config config(const char *socket)
{
    struct domain_config c;
    memset(&c, 0, sizeof(c));
    strcpy(c.name, "web");
    strcpy(c.uuid, "6f1c0f8e-8d5a-4c1e-9b43-1b0c2d3e4f50");
    c.net.present = 1;
    memcpy(c.net.mac, (uint8_t[]){0x52, 0x54, 0, 0, 0, 1}, 6);
    snprintf(c.net.socket, sizeof(c.net.socket), "%s", socket);
    return c;
}

static void socket_path_is_xenods(void **state)
{
    (void)state;
    char out[256];
    struct domain_config c = config("");
    assert_int_equal(net_port_socket(&c, "/var/lib/xenod/run/U", out, sizeof(out)), 0);
    assert_string_equal(out, "/var/lib/xenod/run/U/net0.sock");
    /* The XML may name that very path (a round trip of what xenod shows). */
    c = config("/var/lib/xenod/run/U/net0.sock");
    assert_int_equal(net_port_socket(&c, "/var/lib/xenod/run/U", out, sizeof(out)), 0);
    /* Anything else: xenod's own API socket, another domain's, a path beside it. */
    const char *bad[] = {"/run/xenod.sock", "/var/lib/xenod/run/V/net0.sock", "/var/lib/xenod/run/U/control.sock",
                         "/var/lib/xenod/run/U/../V/net0.sock", "/tmp/net0.sock"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        c = config(bad[i]);
        assert_int_equal(net_port_socket(&c, "/var/lib/xenod/run/U", out, sizeof(out)), -EPERM);
        assert_non_null(strstr(err_msg(), "remove the path attribute"));
        assert_non_null(strstr(err_msg(), bad[i]));
    }
}

static void lines_carry_no_control_characters(void **state)
{
    (void)state;
    char line[2048];
    struct domain_config c = config("");
    assert_int_equal(net_port_add_line(&c, "/r/net0.sock", line, sizeof(line)), 0);
    assert_string_equal(line, "port-add web socket=/r/net0.sock mac=52:54:00:00:00:01 domain=web sponsor=-");
    const char *bad[] = {
        "/r/n.sock\nport-del other", "/r/n\r.sock", "/r/n\t.sock", "/r/n .sock", "/r/n=.sock", "/r/n\x7f.sock"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        if (net_port_add_line(&c, bad[i], line, sizeof(line)) != -EINVAL)
            fail_msg("port-add line built with socket %zu: %s", i, line);
    /* The monitor's --net value: items split by ','. */
    assert_int_equal(net_port_monitor_arg(&c, "/r/net0.sock", line, sizeof(line)), 0);
    assert_int_equal(net_port_monitor_arg(&c, "/r/n.sock,mac=52:54:00:00:00:02", line, sizeof(line)), -EINVAL);
    assert_int_equal(net_port_monitor_arg(&c, "/r/n\n.sock", line, sizeof(line)), -EINVAL);
    /* Every request line xenod writes (backend and monitors) is checked once more. */
    assert_int_equal(request_line_check("port-del web"), 0);
    assert_int_equal(request_line_check("port-del web\nport-del other"), -EINVAL);
    assert_int_equal(request_line_check("save /x\r"), -EINVAL);
    assert_non_null(strstr(err_msg(), "control character (0x0d)"));
}

/* What xenod writes, the backend reads (one definition, src/proto/netback_ctl.c): a sponsor
 * the XML allows (UTF-8, a blank) reaches the backend as a label it takes, and every value
 * reads back. Before, xenod wrote the sponsor's bytes 0x80 and up as they were and the
 * backend refused the whole port-add: the domain could not start. */
static void line_reads_back_in_backend(void **state)
{
    (void)state;
    char line[2048], *words[72];
    struct domain_config c = config("");
    strcpy(c.sponsor, "acm\xc3\xa9 corp");
    c.net.has_ipv4 = 1;
    c.net.ipv4 = 0x0a000002;
    c.net.inbound = (struct domain_bandwidth){.given = 1, .average = 1024 * 1000, .burst = 64 * 1024};
    c.net.outbound = (struct domain_bandwidth){.given = 1, .average = 2048 * 1000, .floor = 100 * 1024, .weight = 5};
    assert_int_equal(net_port_add_line(&c, "/r/net0.sock", line, sizeof(line)), 0);
    assert_memory_equal(line, "port-add ", 9);
    int n = nb_line_words(line + 9, words, 72);
    struct nb_port p;
    if (n < 1 || nb_port_parse(&p, words, n) < 0)
        fail_msg("the backend refuses what xenod wrote: %s", err_msg());
    assert_string_equal(p.name, "web");
    assert_string_equal(p.socket, "/r/net0.sock");
    assert_string_equal(p.domain, "web");
    assert_string_equal(p.sponsor, "acm___corp");
    assert_true(p.has_ipv4 && p.ipv4 == 0x0a000002);
    assert_int_equal(p.qos.in_average, 1000);
    assert_int_equal(p.qos.in_burst, 64);
    assert_int_equal(p.qos.out_average, 2000);
    assert_int_equal(p.qos.floor, 100);
    assert_int_equal(p.qos.weight, 5);
    /* A rate beyond what the backend takes is refused here, not sent to be refused there. */
    c.net.inbound.average = (NB_QOS_MAX_RATE_KIB + 1) * 1024;
    assert_int_equal(net_port_add_line(&c, "/r/net0.sock", line, sizeof(line)), -EINVAL);
    assert_non_null(strstr(err_msg(), "in-average="));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(socket_path_is_xenods),
        cmocka_unit_test(lines_carry_no_control_characters),
        cmocka_unit_test(line_reads_back_in_backend),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
