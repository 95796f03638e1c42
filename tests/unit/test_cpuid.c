/* CPUID policy (src/vmm/core/cpuid.c). The filter is fed a synthetic table shaped like
 * KVM_GET_SUPPORTED_CPUID's output with every feature bit set, so each bit the guest must not
 * see is actually there to be removed. One test repeats the checks on this host's real KVM. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "vmm/core/cpuid.h"

#define ONES 0xffffffffU
#define BIT(n) (1U << (n))
#define SIG KVM_CPUID_FLAG_SIGNIFCANT_INDEX
#define TSC_KHZ 2611200U

static void add(struct cpuid_table *t, uint32_t fn, uint32_t idx, uint32_t flags, uint32_t eax, uint32_t ebx,
                uint32_t ecx, uint32_t edx)
{
    assert_true(t->hdr.nent < CPUID_MAX_ENTRIES);
    t->entries[t->hdr.nent++] = (struct kvm_cpuid_entry2){
        .function = fn, .index = idx, .flags = flags, .eax = eax, .ebx = ebx, .ecx = ecx, .edx = edx};
}

/* What KVM reports on a recent Intel host, with all feature words forced to all ones. */
static void fill_kvm_like(struct cpuid_table *t, int with_hv_leaves)
{
    memset(t, 0, sizeof(*t));
    add(t, 0, 0, 0, 0x1b, 0x756e6547, 0x6c65746e, 0x49656e69); /* GenuineIntel, max leaf 0x1b */
    add(t, 1, 0, 0, 0x000906ea, 0x00010800, ONES, ONES);
    for (uint32_t i = 0; i < 4; i++)
        add(t, 4, i, SIG, ONES, ONES, ONES, ONES);
    add(t, 6, 0, 0, ONES, ONES, ONES, ONES);
    add(t, 7, 0, SIG, 1, ONES, ONES, ONES);
    add(t, 7, 1, SIG, ONES, ONES, ONES, ONES);
    add(t, 0xa, 0, 0, ONES, ONES, ONES, ONES);
    add(t, 0xb, 0, SIG, 1, 2, 0x100, 7); /* host topology: must not leak through */
    add(t, 0xb, 1, SIG, 4, 16, 0x201, 7);
    for (uint32_t i = 0; i < 3; i++)
        add(t, 0xd, i, SIG, ONES, ONES, ONES, ONES);
    add(t, 0x12, 0, SIG, ONES, ONES, ONES, ONES);
    add(t, 0x14, 0, SIG, ONES, ONES, ONES, ONES);
    add(t, 0x1f, 0, SIG, ONES, ONES, ONES, ONES);
    add(t, 0x80000000, 0, 0, 0x80000008, 0, 0, 0);
    add(t, 0x80000001, 0, 0, 0, 0, ONES, ONES);
    add(t, 0x80000008, 0, 0, 0x3027, ONES, ONES, ONES);
    if (with_hv_leaves) {
        add(t, 0x40000000, 0, 0, 0x40000001, 0x4b4d564b, 0x564b4d56, 0x4d); /* "KVMKVMKVM\0\0\0" */
        add(t, 0x40000001, 0, 0, ONES, 0, 0, ONES);
    }
}

static struct cpuid_table *new_table(void)
{
    struct cpuid_table *t = calloc(1, sizeof(*t));
    assert_non_null(t);
    return t;
}

static unsigned count_function(const struct cpuid_table *t, uint32_t fn)
{
    unsigned n = 0;
    for (unsigned i = 0; i < t->hdr.nent; i++)
        n += t->entries[i].function == fn;
    return n;
}

static struct kvm_cpuid_entry2 *must_find(struct cpuid_table *t, uint32_t fn, uint32_t idx)
{
    struct kvm_cpuid_entry2 *e = cpuid_find(t, fn, idx);
    if (!e)
        fail_msg("CPUID leaf 0x%x.%u missing", fn, idx);
    return e;
}

static void assert_clear(uint32_t word, unsigned bit, const char *what)
{
    if (word & BIT(bit))
        fail_msg("%s (bit %u) is visible to the guest", what, bit);
}

static void assert_set(uint32_t word, unsigned bit, const char *what)
{
    if (!(word & BIT(bit)))
        fail_msg("%s (bit %u) is hidden from the guest", what, bit);
}

/* The invariants docs/machine.md promises, whatever the host offered. `real` relaxes the
 * checks that depend on the host offering a feature in the first place. */
static void check_policy(struct cpuid_table *t, unsigned nvcpus, uint32_t tsc_khz, int real)
{
    struct kvm_cpuid_entry2 *e;

    e = must_find(t, 0, 0);
    assert_true(e->eax >= 0xb); /* topology leaf reachable */

    e = must_find(t, 1, 0);
    assert_clear(e->ecx, 3, "MONITOR/MWAIT");
    assert_clear(e->ecx, 5, "VMX");
    assert_clear(e->ecx, 12, "FMA");
    assert_clear(e->ecx, 13, "CMPXCHG16B");
    assert_clear(e->ecx, 15, "PDCM");
    assert_clear(e->ecx, 26, "XSAVE");
    assert_clear(e->ecx, 27, "OSXSAVE");
    assert_clear(e->ecx, 28, "AVX");
    assert_clear(e->ecx, 29, "F16C");
    assert_set(e->ecx, 31, "hypervisor");
    assert_int_equal((e->ebx >> 16) & 0xff, nvcpus);
    if (nvcpus > 1)
        assert_set(e->edx, 28, "HTT");
    else
        assert_clear(e->edx, 28, "HTT");
    if (!real) {
        assert_set(e->ecx, 0, "SSE3");
        assert_set(e->edx, 25, "SSE");
        assert_set(e->edx, 26, "SSE2");
        assert_int_equal((e->ebx >> 8) & 0xff, 8); /* CLFLUSH line size kept */
        assert_set(e->edx, 19, "CLFLUSH");         /* ... and the instruction it sizes */
        assert_clear(e->edx, 18, "PSN");
        assert_clear(e->edx, 10, "reserved bit 10");
        assert_clear(e->edx, 20, "reserved bit 20");
    }

    /* Leaves that go entirely: caches (4), perfmon (0xa), XSAVE (0xd), SGX, PT, v2 topology. */
    static const uint32_t gone[] = {0x4, 0xa, 0xd, 0x12, 0x14, 0x1f};
    for (unsigned i = 0; i < sizeof(gone) / sizeof(gone[0]); i++) {
        if (count_function(t, gone[i]))
            fail_msg("leaf 0x%x still present", gone[i]);
        for (uint32_t idx = 0; idx < 4; idx++)
            assert_null(cpuid_find(t, gone[i], idx));
    }

    if ((e = cpuid_find(t, 7, 0))) {
        assert_clear(e->ebx, 5, "AVX2");
        assert_clear(e->ebx, 16, "AVX512F");
        assert_clear(e->ebx, 17, "AVX512DQ");
        assert_clear(e->ebx, 4, "HLE");
        assert_clear(e->ebx, 11, "RTM");
        assert_clear(e->ebx, 10, "INVPCID");
        assert_clear(e->ebx, 14, "MPX");
        assert_clear(e->ebx, 25, "PT");
        assert_clear(e->ebx, 30, "AVX512BW");
        assert_clear(e->ebx, 31, "AVX512VL");
        assert_clear(e->ecx, 3, "PKU");
        assert_clear(e->ecx, 9, "VAES");
        assert_clear(e->ecx, 10, "VPCLMULQDQ");
        assert_clear(e->edx, 29, "ARCH_CAPABILITIES");
        assert_int_equal(e->eax, 0); /* no subleaf 1 features */
        if (!real) {
            assert_set(e->ebx, 0, "FSGSBASE");
            assert_set(e->ebx, 3, "BMI1");
        }
    }
    for (unsigned i = 0; i < t->hdr.nent; i++) {
        e = &t->entries[i];
        if (e->function == 7 && e->index != 0 && (e->eax | e->ebx | e->ecx | e->edx))
            fail_msg("leaf 7.%u not zeroed", e->index);
    }

    if ((e = cpuid_find(t, 0x80000001, 0))) {
        assert_clear(e->ecx, 11, "XOP");
        assert_clear(e->ecx, 16, "FMA4");
        assert_clear(e->ecx, 2, "SVM");
        assert_clear(e->ecx, 22, "TOPOEXT");
        if (!real) {
            assert_set(e->edx, 29, "long mode");
            assert_set(e->edx, 20, "NX");
        }
    }
    if ((e = cpuid_find(t, 0x80000008, 0)))
        assert_int_equal(e->ecx & 0xff, nvcpus - 1);

    /* Topology: SMT level with one thread, core level with nvcpus, then the terminator. */
    assert_int_equal(count_function(t, 0xb), 3);
    unsigned shift = 0;
    while ((1U << shift) < nvcpus)
        shift++;
    for (uint32_t idx = 0; idx < 3; idx++) {
        e = must_find(t, 0xb, idx);
        assert_int_equal(e->index, idx);
        assert_true(e->flags & SIG);
        assert_int_equal(e->ecx & 0xff, idx); /* level number echoes the subleaf */
    }
    e = must_find(t, 0xb, 0);
    assert_int_equal(e->ebx & 0xffff, 1);
    assert_int_equal((e->ecx >> 8) & 0xff, 1); /* SMT */
    assert_int_equal(e->eax & 0x1f, 0);
    e = must_find(t, 0xb, 1);
    assert_int_equal(e->ebx & 0xffff, nvcpus);
    assert_int_equal((e->ecx >> 8) & 0xff, 2); /* core */
    assert_int_equal(e->eax & 0x1f, shift);
    e = must_find(t, 0xb, 2);
    assert_int_equal((e->ecx >> 8) & 0xff, 0); /* invalid: end of the list */
    assert_int_equal(e->ebx & 0xffff, 0);
    assert_null(cpuid_find(t, 0xb, 3));

    /* Hypervisor leaves. */
    assert_int_equal(count_function(t, 0x40000000), 1);
    e = must_find(t, 0x40000000, 0);
    assert_int_equal(e->eax, CPUID_HV_TIMING_LEAF);
    char sig[13] = {0};
    memcpy(sig, &e->ebx, 4);
    memcpy(sig + 4, &e->ecx, 4);
    memcpy(sig + 8, &e->edx, 4);
    assert_memory_equal(sig, "KVMKVMKVM\0\0\0", 12);
    assert_int_equal(count_function(t, CPUID_HV_TIMING_LEAF), 1);
    e = must_find(t, CPUID_HV_TIMING_LEAF, 0);
    assert_int_equal(e->eax, tsc_khz);
    assert_int_equal(e->ebx, 1000000);
}

static void filter_synthetic_4_vcpus(void **state)
{
    (void)state;
    struct cpuid_table *t = new_table();
    fill_kvm_like(t, 1);
    assert_int_equal(cpuid_filter(t, 4, TSC_KHZ), 0);
    check_policy(t, 4, TSC_KHZ, 0);
    /* KVM's paravirt leaf is kept as KVM reported it. */
    struct kvm_cpuid_entry2 *e = must_find(t, 0x40000001, 0);
    assert_int_equal(e->eax, ONES);
    assert_int_equal(must_find(t, 0x80000008, 0)->ecx, (2U << 12) | 3);
    free(t);
}

static void filter_synthetic_1_vcpu_no_htt(void **state)
{
    (void)state;
    struct cpuid_table *t = new_table();
    fill_kvm_like(t, 1);
    assert_int_equal(cpuid_filter(t, 1, 1000), 0);
    check_policy(t, 1, 1000, 0);
    free(t);
}

static void filter_vcpu_counts(void **state)
{
    (void)state;
    static const unsigned counts[] = {2, 3, 5, 8, 17, 32};
    struct cpuid_table *t = new_table();
    for (unsigned i = 0; i < sizeof(counts) / sizeof(counts[0]); i++) {
        fill_kvm_like(t, 1);
        assert_int_equal(cpuid_filter(t, counts[i], TSC_KHZ), 0);
        check_policy(t, counts[i], TSC_KHZ, 0);
    }
    free(t);
}

/* Without KVM's 0x40000000 (older kernels, or a table from elsewhere) the filter adds it. */
static void filter_adds_hypervisor_leaf(void **state)
{
    (void)state;
    struct cpuid_table *t = new_table();
    fill_kvm_like(t, 0);
    assert_int_equal(cpuid_filter(t, 2, TSC_KHZ), 0);
    check_policy(t, 2, TSC_KHZ, 0);
    free(t);
}

/* A leaf 0 reporting fewer leaves than 0xb is raised so the guest can reach the topology;
 * one reporting more is left alone. */
static void filter_leaf0_max(void **state)
{
    (void)state;
    struct cpuid_table *t = new_table();
    fill_kvm_like(t, 1);
    must_find(t, 0, 0)->eax = 7;
    assert_int_equal(cpuid_filter(t, 2, TSC_KHZ), 0);
    assert_int_equal(must_find(t, 0, 0)->eax, 0xb);
    fill_kvm_like(t, 1);
    assert_int_equal(cpuid_filter(t, 2, TSC_KHZ), 0);
    assert_int_equal(must_find(t, 0, 0)->eax, 0x1b);
    free(t);
}

/* Filtering an already filtered table (a reboot reusing it) must not duplicate leaves. */
static void filter_twice_is_stable(void **state)
{
    (void)state;
    struct cpuid_table *t = new_table();
    fill_kvm_like(t, 1);
    assert_int_equal(cpuid_filter(t, 4, TSC_KHZ), 0);
    unsigned n = t->hdr.nent;
    assert_int_equal(cpuid_filter(t, 4, TSC_KHZ), 0);
    assert_int_equal(t->hdr.nent, n);
    check_policy(t, 4, TSC_KHZ, 0);
    free(t);
}

/* A table with no room for the synthesised leaves fails cleanly instead of writing past it. */
static void filter_full_table(void **state)
{
    (void)state;
    struct cpuid_table *t = new_table();
    fill_kvm_like(t, 1);
    while (t->hdr.nent < CPUID_MAX_ENTRIES)
        add(t, 0x80000002 + t->hdr.nent % 4, t->hdr.nent, SIG, 0, 0, 0, 0);
    int r = cpuid_filter(t, 4, TSC_KHZ);
    /* Dropping leaves 4/0xa/0xb/0xd/... made room; the result must still be consistent. */
    assert_true(t->hdr.nent <= CPUID_MAX_ENTRIES);
    if (r == 0)
        check_policy(t, 4, TSC_KHZ, 0);

    /* No droppable leaves at all: really no room. */
    memset(t, 0, sizeof(*t));
    add(t, 1, 0, 0, 0, 0, ONES, ONES);
    while (t->hdr.nent < CPUID_MAX_ENTRIES)
        add(t, 0x80000002 + t->hdr.nent % 4, t->hdr.nent, SIG, 0, 0, 0, 0);
    assert_int_equal(cpuid_filter(t, 4, TSC_KHZ), -ENOSPC);
    assert_int_equal(t->hdr.nent, CPUID_MAX_ENTRIES);
    free(t);
}

static void set_apic_id(void **state)
{
    (void)state;
    struct cpuid_table *t = new_table();
    fill_kvm_like(t, 1);
    assert_int_equal(cpuid_filter(t, 4, TSC_KHZ), 0);
    uint32_t ebx_before = must_find(t, 1, 0)->ebx;
    for (uint32_t id = 0; id < 4; id++) {
        cpuid_set_apic_id(t, id);
        uint32_t ebx = must_find(t, 1, 0)->ebx;
        assert_int_equal(ebx >> 24, id);
        assert_int_equal(ebx & 0x00ffffff, ebx_before & 0x00ffffff); /* count, CLFLUSH kept */
        for (uint32_t idx = 0; idx < 3; idx++)
            assert_int_equal(must_find(t, 0xb, idx)->edx, id);
    }
    /* Going back down clears the old ID's bits rather than OR-ing. */
    cpuid_set_apic_id(t, 0xff);
    cpuid_set_apic_id(t, 1);
    assert_int_equal(must_find(t, 1, 0)->ebx >> 24, 1);
    /* Nothing but leaves 1 and 0xb changes. */
    struct cpuid_table *copy = new_table();
    memcpy(copy, t, sizeof(*t));
    cpuid_set_apic_id(t, 2);
    for (unsigned i = 0; i < t->hdr.nent; i++) {
        uint32_t fn = t->entries[i].function;
        if (fn != 1 && fn != 0xb)
            assert_memory_equal(&t->entries[i], &copy->entries[i], sizeof(t->entries[i]));
    }
    free(copy);
    free(t);
}

static void set_apic_id_on_empty_table(void **state)
{
    (void)state;
    struct cpuid_table *t = new_table();
    cpuid_set_apic_id(t, 3); /* nothing to patch: must not crash or add anything */
    assert_int_equal(t->hdr.nent, 0);
    free(t);
}

static void find_respects_index_flag(void **state)
{
    (void)state;
    struct cpuid_table *t = new_table();
    fill_kvm_like(t, 1);
    /* Leaf 1 has no significant index: any index finds it. */
    struct kvm_cpuid_entry2 *e = cpuid_find(t, 1, 0);
    assert_non_null(e);
    assert_ptr_equal(cpuid_find(t, 1, 7), e);
    /* Leaf 4 has: each subleaf is its own entry, and a missing one is missing. */
    for (uint32_t i = 0; i < 4; i++) {
        e = cpuid_find(t, 4, i);
        assert_non_null(e);
        assert_int_equal(e->index, i);
    }
    assert_null(cpuid_find(t, 4, 4));
    assert_null(cpuid_find(t, 0x12345678, 0));
    assert_null(cpuid_find(t, 0x80000007, 0));
    t->hdr.nent = 0;
    assert_null(cpuid_find(t, 0, 0));
    free(t);
}

/* The same policy on what this host's KVM really offers. */
static void build_from_real_kvm(void **state)
{
    (void)state;
    int fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
    if (fd < 0) {
        print_message("/dev/kvm not usable (%s): skipping\n", strerror(errno));
        skip();
    }
    struct cpuid_table *t = new_table();
    static const unsigned counts[] = {1, 2, 4, 32};
    for (unsigned i = 0; i < sizeof(counts) / sizeof(counts[0]); i++) {
        int r = cpuid_build(fd, counts[i], TSC_KHZ, t);
        assert_int_equal(r, 0);
        assert_true(t->hdr.nent > 0 && t->hdr.nent <= CPUID_MAX_ENTRIES);
        check_policy(t, counts[i], TSC_KHZ, 1);
        cpuid_set_apic_id(t, counts[i] - 1);
        assert_int_equal(must_find(t, 1, 0)->ebx >> 24, counts[i] - 1);
        assert_int_equal(must_find(t, 0xb, 1)->edx, counts[i] - 1);
    }
    free(t);
    close(fd);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(filter_synthetic_4_vcpus),   cmocka_unit_test(filter_synthetic_1_vcpu_no_htt),
        cmocka_unit_test(filter_vcpu_counts),         cmocka_unit_test(filter_adds_hypervisor_leaf),
        cmocka_unit_test(filter_leaf0_max),           cmocka_unit_test(filter_twice_is_stable),
        cmocka_unit_test(filter_full_table),          cmocka_unit_test(set_apic_id),
        cmocka_unit_test(set_apic_id_on_empty_table), cmocka_unit_test(find_respects_index_flag),
        cmocka_unit_test(build_from_real_kvm),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
