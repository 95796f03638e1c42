/* xenod's reading of the monitor's CPU report (src/daemon/cpu_contract.c): the lines it needs,
 * and nothing but feature names taken from them. The probe itself is tested with KVM in
 * tests/integration/cpuid.sh (cpuid-host-info-*). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <string.h>

#include "daemon/cpu_contract.h"

static int parse(const char *text, struct cpu_contract *c)
{
    return cpu_contract_parse(text, strlen(text), c);
}

static void reads_extra_missing_and_probe_time(void **state)
{
    (void)state;
    struct cpu_contract c;
    assert_int_equal(parse("policy pni 1.ecx 0 offered\nword 1.ecx intended=0x1 seen=0x3\n"
                           "extra avx2,smap\nmissing -\nprobe-us 5500\n",
                           &c),
                     0);
    assert_true(c.known);
    assert_string_equal(c.extra, "avx2,smap");
    assert_string_equal(c.missing, "");
    assert_int_equal(c.probe_us, 5500);
    assert_int_equal(parse("extra -\nmissing x2apic", &c), 0); /* no final newline */
    assert_string_equal(c.extra, "");
    assert_string_equal(c.missing, "x2apic");
    /* A bit the feature table does not name is reported by word and number (cpuf_format): a
     * host CPU with bits newer than the table (seen on an AVX-512 FP16 host) has some. */
    assert_int_equal(parse("extra avx2,7.0.ebx.6,7.0.edx.16\nmissing -\n", &c), 0);
    assert_string_equal(c.extra, "avx2,7.0.ebx.6,7.0.edx.16");
}

static void refuses_what_is_not_a_report(void **state)
{
    (void)state;
    struct cpu_contract c;
    assert_int_equal(parse("extra avx2\n", &c), -EINVAL); /* no missing line */
    assert_false(c.known);
    assert_int_equal(parse("missing -\n", &c), -EINVAL);
    assert_int_equal(parse("", &c), -EINVAL);
    /* Only names reach host info: no blanks, quotes, escapes or line breaks. */
    assert_int_equal(parse("extra avx2 \"x\"\nmissing -\n", &c), -EINVAL);
    assert_int_equal(parse("extra \x1b[2Javx\nmissing -\n", &c), -EINVAL);
    assert_int_equal(parse("extra \nmissing -\n", &c), -EINVAL);
    assert_int_equal(parse("extra -\nmissing -\nprobe-us lots\n", &c), -EINVAL);
    char big[3000] = "extra ";
    memset(big + 6, 'a', sizeof(big) - 20);
    strcpy(big + sizeof(big) - 14, "\nmissing -\n");
    assert_int_equal(parse(big, &c), -EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(reads_extra_missing_and_probe_time),
        cmocka_unit_test(refuses_what_is_not_a_report),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
