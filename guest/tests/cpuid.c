/*
 * cpuid: prints what CPUID gives this guest, in long mode and ring 0, for every register of
 * the machine contract (docs/machine.md, "CPUID"), one line each:
 *     cpuid: 1.ecx=0x........
 * tests/integration/cpuid.sh compares the lines with the policy `xeno-vmm --cpu-report`
 * prints and with what the monitor's start-up probe said the guest would see. The register
 * list is proto/cpu_features.c's (cpuf_word_ids), in the same order.
 * PASS once every line is printed (the comparison is the host's).
 */
#include "runtime.h"

const char test_title[] = "cpuid: the feature registers this guest sees";

static const struct {
    uint32_t leaf, subleaf, reg; /* 0 eax .. 3 edx */
    const char *name;
} words[] = {
    {1, 0, 2, "1.ecx"},
    {1, 0, 3, "1.edx"},
    {7, 0, 1, "7.0.ebx"},
    {7, 0, 2, "7.0.ecx"},
    {7, 0, 3, "7.0.edx"},
    {0xd, 0, 0, "d.0.eax"},
    {0xd, 1, 0, "d.1.eax"},
    {0x80000001, 0, 2, "80000001.ecx"},
    {0x80000001, 0, 3, "80000001.edx"},
};

void test_main(void)
{
    uint32_t max, maxext, r[4];
    cpuid(0, &max, &r[1], &r[2], &r[3]);
    cpuid(0x80000000, &maxext, &r[1], &r[2], &r[3]);
    for (unsigned i = 0; i < sizeof(words) / sizeof(words[0]); i++) {
        uint32_t top = words[i].leaf >= 0x80000000 ? maxext : max;
        if (words[i].leaf > top) /* a leaf beyond the maximum reads as the maximum's: say 0 */
            r[0] = r[1] = r[2] = r[3] = 0;
        else
            cpuid_count(words[i].leaf, words[i].subleaf, &r[0], &r[1], &r[2], &r[3]);
        printf("cpuid: %s=%#010x\n", words[i].name, r[words[i].reg]);
    }
    test_pass();
}
