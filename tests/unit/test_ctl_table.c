/* xenctl's text output (src/ctl/table.c, src/ctl/render.c): the exact `list` layout scripts
 * and eyes rely on, `info` lines, events, and that text from domain XML (sponsor names) can
 * neither break the columns nor send escape sequences to the terminal. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ctl/render.h"
#include "ctl/table.h"

/* Runs `fn` with a memory FILE and returns what it wrote (caller frees). */
#define CAPTURE(out, stmt)                                                                                             \
    do {                                                                                                               \
        size_t len_;                                                                                                   \
        FILE *f = open_memstream(&(out), &len_);                                                                       \
        assert_non_null(f);                                                                                            \
        stmt;                                                                                                          \
        fclose(f);                                                                                                     \
    } while (0)

static void expect_text(const char *got, const char *want)
{
    if (strcmp(got, want) != 0)
        fail_msg("got:\n%s\nwanted:\n%s", got, want);
}

static json_t *load(const char *text)
{
    json_error_t e;
    json_t *j = json_loads(text, 0, &e);
    if (!j)
        fail_msg("test JSON: %s", e.text);
    return j;
}

static void table_layout(void **state)
{
    (void)state;
    static const char *const headers[] = {"Name", "N", "Last"};
    static const enum ctl_align align[] = {CTL_ALIGN_LEFT, CTL_ALIGN_RIGHT, CTL_ALIGN_LEFT};
    struct ctl_table t;
    char *out;
    ctl_table_init(&t, 3, headers, align);
    assert_int_equal(ctl_table_add(&t, (const char *const[]){"a", "1", "x"}), 0);
    assert_int_equal(ctl_table_add(&t, (const char *const[]){"longer-name", "12345", NULL}), 0);
    CAPTURE(out, ctl_table_print(&t, f));
    /* Two spaces between columns, numbers right-aligned, no trailing blanks. */
    expect_text(out, "Name             N  Last\n"
                     "a                1  x\n"
                     "longer-name  12345  \n");
    free(out);
    ctl_table_free(&t);
}

static void table_empty_and_many_rows(void **state)
{
    (void)state;
    static const char *const headers[] = {"A", "B"};
    struct ctl_table t;
    char *out;
    ctl_table_init(&t, 2, headers, NULL);
    CAPTURE(out, ctl_table_print(&t, f));
    expect_text(out, "A  B\n");
    free(out);
    for (int i = 0; i < 1000; i++) {
        char n[16];
        snprintf(n, sizeof(n), "%d", i);
        assert_int_equal(ctl_table_add(&t, (const char *const[]){n, "b"}), 0);
    }
    assert_int_equal(t.nrows, 1000);
    CAPTURE(out, ctl_table_print(&t, f));
    assert_non_null(strstr(out, "\n999  b\n"));
    assert_non_null(strstr(out, "\n0    b\n"));
    free(out);
    ctl_table_free(&t);
}

static void sanitize_and_width(void **state)
{
    (void)state;
    char *s = ctl_sanitize("evil\x1b]0;pwn\x07\ncorp\x7f");
    assert_string_equal(s, "evil?]0;pwn??corp?");
    free(s);
    s = ctl_sanitize("a\xc2\x9b[31mb"); /* U+009B, CSI */
    assert_string_equal(s, "a?[31mb");
    free(s);
    s = ctl_sanitize("caf\xc3\xa9 \xc2\xa0ok"); /* é and a no-break space stay */
    assert_string_equal(s, "caf\xc3\xa9 \xc2\xa0ok");
    free(s);
    s = ctl_sanitize(NULL);
    assert_string_equal(s, "");
    free(s);
    assert_int_equal(ctl_text_width("caf\xc3\xa9"), 4);
    assert_int_equal(ctl_text_width(""), 0);
    assert_int_equal(ctl_text_width("\xe6\x97\xa5\xe6\x9c\xac"), 2);
}

static void utf8_columns_align(void **state)
{
    (void)state;
    static const char *const headers[] = {"Sponsor", "X"};
    struct ctl_table t;
    char *out;
    ctl_table_init(&t, 2, headers, NULL);
    assert_int_equal(ctl_table_add(&t, (const char *const[]){"caf\xc3\xa9", "1"}), 0);
    CAPTURE(out, ctl_table_print(&t, f));
    expect_text(out, "Sponsor  X\n"
                     "caf\xc3\xa9     1\n");
    free(out);
    ctl_table_free(&t);
}

static void list_exact(void **state)
{
    (void)state;
    json_t *doms = load("["
                        "{\"name\":\"demo\",\"id\":3,\"sponsor\":\"acme\",\"state\":\"running\","
                        "\"memory_bytes\":134217728,\"current_memory_bytes\":67108864,\"vcpus\":2,\"cpu_time_s\":1.26},"
                        "{\"name\":\"web.1\",\"id\":null,\"sponsor\":\"\",\"state\":\"shutdown\","
                        "\"memory_bytes\":1073741824,\"vcpus\":12,\"cpu_time_s\":0},"
                        "{\"name\":\"bare\"}"
                        "]");
    char *out;
    CAPTURE(out, assert_int_equal(ctl_render_list(doms, f), 0));
    expect_text(out, "Name   ID  Sponsor   Mem  VCPUs  State     Time(s)\n"
                     "demo    3  acme       64      2  running       1.3\n"
                     "web.1   -  -        1024     12  shutdown      0.0\n"
                     "bare    -  -           -      -  -               -\n");
    free(out);
    json_decref(doms);

    json_t *none = json_array();
    CAPTURE(out, assert_int_equal(ctl_render_list(none, f), 0));
    expect_text(out, "Name  ID  Sponsor  Mem  VCPUs  State  Time(s)\n");
    free(out);
    json_decref(none);
}

static void list_row_cells(void **state)
{
    (void)state;
    char cells[CTL_LIST_COLS][CTL_CELL_MAX];
    json_t *d = load("{\"name\":\"x\",\"id\":17,\"memory_bytes\":4294967296,\"vcpus\":1,\"state\":\"paused\","
                     "\"cpu_time_s\":12345.678}");
    ctl_render_list_row(d, cells);
    assert_string_equal(cells[1], "17");
    assert_string_equal(cells[3], "4096"); /* no currentMemory: the maximum */
    assert_string_equal(cells[6], "12345.7");
    json_decref(d);
}

static void info_lines(void **state)
{
    (void)state;
    json_t *d = load("{\"name\":\"demo\",\"uuid\":\"u-1\",\"id\":null,\"sponsor\":\"acme\",\"state\":\"shutdown\","
                     "\"persistent\":true,\"memory_bytes\":67108864,\"current_memory_bytes\":33558528,\"vcpus\":2,"
                     "\"cpu_time_s\":0.25,\"boots\":1,\"pid\":null,\"started_at\":86400.5,\"console_socket\":null,"
                     "\"kernel\":\"/k\",\"initrd\":null,\"cmdline\":\"console=ttyS0\",\"on_poweroff\":\"destroy\","
                     "\"on_reboot\":\"restart\",\"on_crash\":\"preserve\",\"zz_new\":[1,2],\"evil\":\"a\\u001bb\"}");
    char *out;
    CAPTURE(out, ctl_render_info(d, f));
    expect_text(out, "Name:           demo\n"
                     "UUID:           u-1\n"
                     "ID:             -\n"
                     "Sponsor:        acme\n"
                     "State:          shutdown\n"
                     "Persistent:     yes\n"
                     "Memory:         64 MiB\n"
                     "Current memory: 32772 KiB\n"
                     "VCPUs:          2\n"
                     "CPU time:       0.2 s\n"
                     "Boots:          1\n"
                     "PID:            -\n"
                     "Started:        1970-01-02 00:00:00 +0000\n"
                     "Console:        -\n"
                     "Kernel:         /k\n"
                     "Initrd:         -\n"
                     "Cmdline:        console=ttyS0\n"
                     "On poweroff:    destroy\n"
                     "On reboot:      restart\n"
                     "On crash:       preserve\n"
                     "zz_new:         [1,2]\n"
                     "evil:           a?b\n");
    free(out);
    json_decref(d);

    /* The accounting feed and the CPU settings of a running domain, readable. */
    json_t *run = load("{\"name\":\"b\",\"memory_enforcement\":\"pause\",\"usage\":{\"memory_target_bytes\":16777216,"
                       "\"memory_target_state\":\"met\",\"balloon_bytes\":50331648,\"guest_resident_bytes\":4194304,"
                       "\"monitor_rss_bytes\":6291456,\"guest_free_bytes\":null,\"guest_available_bytes\":1048576,"
                       "\"exits\":{\"io\":7,\"mmio\":8,\"other\":9}},\"sched\":{\"reservation_percent\":12.5,"
                       "\"limit_percent\":null,\"weight\":512,\"period_us\":10000}}");
    CAPTURE(out, ctl_render_info(run, f));
    expect_text(out, "Name:           b\n"
                     "Enforcement:    pause\n"
                     "Mem target:     16 MiB (met), balloon 48 MiB\n"
                     "Resident:       4 MiB of guest RAM; monitor RSS 6 MiB\n"
                     "Guest memory:   free -, available 1 MiB (guest's report)\n"
                     "Exits:          io 7, mmio 8, other 9\n"
                     "CPU sched:      reservation 12.5%, limit none, weight 512, period 10 ms\n");
    free(out);
    json_decref(run);

    /* A disk the backend serves: its counters under its definition (one not served: none). */
    json_t *dk = load("{\"name\":\"d\",\"disks\":[{\"target\":\"vda\",\"file\":\"d.raw\",\"format\":\"raw\","
                      "\"readonly\":false,\"serial\":null,\"stats\":{\"connected\":true,\"ops\":{\"read\":10,"
                      "\"write\":5,\"flush\":1,\"discard\":2,\"write_zeroes\":3},\"bytes_read\":40960,"
                      "\"bytes_written\":2097152,\"throttled_ns\":1500000000,\"size_bytes\":4194304,"
                      "\"allocated_bytes\":1048576,\"latency_base_ns\":16000,\"latency_ns\":{\"p50\":16000,"
                      "\"p90\":2048000,\"p99\":null,\"max\":null}}},{\"target\":\"vdb\",\"file\":\"e.raw\","
                      "\"format\":\"raw\",\"readonly\":true,\"serial\":\"S1\",\"stats\":null}]}");
    CAPTURE(out, ctl_render_info(dk, f));
    expect_text(out, "Name:           d\n"
                     "Disk vda:       d.raw (raw)\n"
                     "  vda ops:      read 10, write 5, flush 1, discard 2, write-zeroes 3\n"
                     "  vda bytes:    read 40 KiB, written 2 MiB; throttled 1.500 s\n"
                     "  vda latency:  p50 < 16 us, p90 < 2.048 ms, p99 >= 262 ms, max >= 262 ms\n"
                     "  vda space:    size 4 MiB, allocated 1 MiB\n"
                     "Disk vdb:       e.raw (raw, read-only, serial S1)\n");
    free(out);
    json_decref(dk);

    /* Fields an older xenod does not send are left out, but the name is always there. */
    json_t *min = load("{\"state\":\"running\"}");
    CAPTURE(out, ctl_render_info(min, f));
    expect_text(out, "Name:           -\n"
                     "State:          running\n");
    free(out);
    json_decref(min);
}

static void events_table(void **state)
{
    (void)state;
    json_t *ev = load("[{\"id\":1,\"time\":0,\"domain\":\"demo\",\"uuid\":\"u\",\"kind\":\"started\",\"detail\":\"\"},"
                      "{\"id\":12,\"time\":90061.9,\"domain\":\"\",\"uuid\":\"u-2\",\"kind\":\"crash\","
                      "\"detail\":\"triple fault\"}]");
    char *out;
    CAPTURE(out, assert_int_equal(ctl_render_events(ev, f), 0));
    expect_text(out, "ID  Time                 Domain  Kind     Detail\n"
                     " 1  1970-01-01 00:00:00  demo    started  -\n"
                     "12  1970-01-02 01:01:01  u-2     crash    triple fault\n");
    free(out);
    json_decref(ev);
}

static void log_lines(void **state)
{
    (void)state;
    json_t *lines = load("[\"xenod: info: up\", \"\", \"bell\\u0007\", 7]");
    char *out;
    CAPTURE(out, ctl_render_lines(lines, f));
    expect_text(out, "xenod: info: up\n\nbell?\n7\n");
    free(out);
    json_decref(lines);
}

static void value_formats(void **state)
{
    (void)state;
    char buf[64];
    ctl_fmt_bytes(0, buf, sizeof(buf));
    assert_string_equal(buf, "0 B");
    ctl_fmt_bytes(7, buf, sizeof(buf));
    assert_string_equal(buf, "7 B");
    ctl_fmt_bytes(4096, buf, sizeof(buf));
    assert_string_equal(buf, "4 KiB");
    ctl_fmt_bytes(64ULL << 20, buf, sizeof(buf));
    assert_string_equal(buf, "64 MiB");
    ctl_fmt_bytes(3ULL << 30, buf, sizeof(buf));
    assert_string_equal(buf, "3 GiB");
    ctl_fmt_bytes(1ULL << 50, buf, sizeof(buf));
    assert_string_equal(buf, "1024 TiB");
    ctl_fmt_bytes((64ULL << 20) + 4096, buf, sizeof(buf));
    assert_string_equal(buf, "65540 KiB");

    json_t *v = json_true();
    ctl_fmt_value(v, buf, sizeof(buf));
    assert_string_equal(buf, "yes");
    ctl_fmt_value(NULL, buf, sizeof(buf));
    assert_string_equal(buf, "-");
    json_t *r = json_real(2.5);
    ctl_fmt_value(r, buf, sizeof(buf));
    assert_string_equal(buf, "2.5");
    json_decref(r);
    /* Truncated, never overflowed. */
    json_t *s = json_string("0123456789");
    ctl_fmt_value(s, buf, 5);
    assert_string_equal(buf, "0123");
    json_decref(s);
}

int main(void)
{
    /* Times print in local time: pin it. */
    setenv("TZ", "UTC", 1);
    tzset();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(table_layout),       cmocka_unit_test(table_empty_and_many_rows),
        cmocka_unit_test(sanitize_and_width), cmocka_unit_test(utf8_columns_align),
        cmocka_unit_test(list_exact),         cmocka_unit_test(list_row_cells),
        cmocka_unit_test(info_lines),         cmocka_unit_test(events_table),
        cmocka_unit_test(log_lines),          cmocka_unit_test(value_formats),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
