#include "vmm/core/cpuid.h"

#include <errno.h>
#include <string.h>
#include <sys/ioctl.h>

#include "lib/err.h"
#include "proto/cpu_features.h"

#define BIT(n) (1U << (n))

/* The allow-lists come from the one policy table, proto/cpu_features.c. */
static uint32_t offered(enum cpuf_word w)
{
    struct cpu_features p;
    cpuf_policy(&p);
    return p.w[w];
}

struct kvm_cpuid_entry2 *cpuid_find(struct cpuid_table *t, uint32_t function, uint32_t index)
{
    for (unsigned i = 0; i < t->hdr.nent; i++) {
        struct kvm_cpuid_entry2 *e = &t->entries[i];
        if (e->function == function && (!(e->flags & KVM_CPUID_FLAG_SIGNIFCANT_INDEX) || e->index == index))
            return e;
    }
    return NULL;
}

static void remove_function(struct cpuid_table *t, uint32_t function)
{
    unsigned j = 0;
    for (unsigned i = 0; i < t->hdr.nent; i++)
        if (t->entries[i].function != function)
            t->entries[j++] = t->entries[i];
    t->hdr.nent = j;
}

static int add_entry(struct cpuid_table *t, uint32_t function, uint32_t index, uint32_t flags, uint32_t eax,
                     uint32_t ebx, uint32_t ecx, uint32_t edx)
{
    if (t->hdr.nent == CPUID_MAX_ENTRIES)
        return err_set(ENOSPC, "CPUID table full");
    t->entries[t->hdr.nent++] = (struct kvm_cpuid_entry2){
        .function = function, .index = index, .flags = flags, .eax = eax, .ebx = ebx, .ecx = ecx, .edx = edx};
    return 0;
}

static unsigned order_of(unsigned n)
{
    unsigned s = 0;
    while ((1U << s) < n)
        s++;
    return s;
}

int cpuid_filter(struct cpuid_table *t, unsigned nvcpus, uint32_t tsc_khz)
{
    struct kvm_cpuid_entry2 *e;
    unsigned shift = order_of(nvcpus);
    int r;

    /* Leaves we do not offer at all: cache/topology (resynthesised below), XSAVE state,
     * performance monitoring, SGX, processor trace, AMD extended topology and SEV. */
    static const uint32_t drop[] = {0x4, 0xa, 0xb, 0xd, 0x12, 0x14, 0x1f, 0x8000001d, 0x8000001e, 0x8000001f};
    for (unsigned i = 0; i < sizeof(drop) / sizeof(drop[0]); i++)
        remove_function(t, drop[i]);

    if ((e = cpuid_find(t, 0, 0)) && e->eax < 0xb)
        e->eax = 0xb;
    if ((e = cpuid_find(t, 1, 0))) {
        e->ecx = (e->ecx & offered(CPUF_1_ECX)) | BIT(31); /* hypervisor present */
        e->edx &= offered(CPUF_1_EDX);
        e->ebx = (e->ebx & 0xffff) | (nvcpus << 16); /* APIC ID patched per vCPU */
        if (nvcpus > 1)
            e->edx |= BIT(28); /* HTT: EBX[23:16] is meaningful */
        else
            e->edx &= ~BIT(28);
    }
    if ((e = cpuid_find(t, 6, 0)))
        e->ecx &= ~BIT(0); /* no APERF/MPERF: host counters, not migratable */
    for (unsigned i = 0; i < t->hdr.nent; i++) {
        e = &t->entries[i];
        if (e->function == 7 && e->index == 0) {
            e->ebx &= offered(CPUF_7_EBX);
            e->ecx &= offered(CPUF_7_ECX);
            e->edx &= offered(CPUF_7_EDX);
        } else if (e->function == 7) {
            e->eax = e->ebx = e->ecx = e->edx = 0;
        }
    }
    if ((e = cpuid_find(t, 7, 0)))
        e->eax = 0; /* no subleaf 1 features */
    if ((e = cpuid_find(t, 0x80000001, 0))) {
        e->ecx &= offered(CPUF_X1_ECX);
        e->edx &= offered(CPUF_X1_EDX);
    }
    if ((e = cpuid_find(t, 0x80000008, 0)))
        e->ecx = (shift << 12) | (nvcpus - 1); /* AMD: cores per package */

    /* Topology: one thread per core, nvcpus cores in one package. */
    if ((r = add_entry(t, 0xb, 0, KVM_CPUID_FLAG_SIGNIFCANT_INDEX, 0, 1, 0x100, 0)) < 0 ||
        (r = add_entry(t, 0xb, 1, KVM_CPUID_FLAG_SIGNIFCANT_INDEX, shift, nvcpus, 0x201, 0)) < 0 ||
        (r = add_entry(t, 0xb, 2, KVM_CPUID_FLAG_SIGNIFCANT_INDEX, 0, 0, 2, 0)) < 0)
        return r;

    /* Hypervisor leaves: KVM's signature (so stock Linux uses kvmclock and PV features) and
     * the timing leaf, so guests need not calibrate TSC or LAPIC timer against the PIT. */
    remove_function(t, CPUID_HV_TIMING_LEAF);
    if ((e = cpuid_find(t, 0x40000000, 0)))
        e->eax = CPUID_HV_TIMING_LEAF;
    else if ((r = add_entry(t, 0x40000000, 0, 0, CPUID_HV_TIMING_LEAF, 0x4b4d564b, 0x564b4d56, 0x4d)) < 0)
        return r;
    return add_entry(t, CPUID_HV_TIMING_LEAF, 0, 0, tsc_khz, LAPIC_TIMER_KHZ, 0, 0);
}

int cpuid_build(int kvm_fd, unsigned nvcpus, uint32_t tsc_khz, struct cpuid_table *t)
{
    memset(t, 0, sizeof(*t));
    t->hdr.nent = CPUID_MAX_ENTRIES;
    if (ioctl(kvm_fd, KVM_GET_SUPPORTED_CPUID, &t->hdr) < 0)
        return err_set(errno, "KVM_GET_SUPPORTED_CPUID: %s", strerror(errno));
    /* Leave room for the entries cpuid_filter adds. */
    if (t->hdr.nent > CPUID_MAX_ENTRIES - 8)
        return err_set(ENOSPC, "KVM reports %u CPUID entries; too many", t->hdr.nent);
    return cpuid_filter(t, nvcpus, tsc_khz);
}

void cpuid_set_apic_id(struct cpuid_table *t, uint32_t apic_id)
{
    struct kvm_cpuid_entry2 *e;
    if ((e = cpuid_find(t, 1, 0)))
        e->ebx = (e->ebx & 0x00ffffff) | (apic_id << 24);
    for (unsigned i = 0; i < t->hdr.nent; i++)
        if (t->entries[i].function == 0xb)
            t->entries[i].edx = apic_id;
}

static uint32_t *reg_of(struct kvm_cpuid_entry2 *e, uint32_t reg)
{
    switch (reg) {
    case CPUF_EAX: return &e->eax;
    case CPUF_EBX: return &e->ebx;
    case CPUF_ECX: return &e->ecx;
    default: return &e->edx;
    }
}

void cpuid_narrow(struct cpuid_table *t, const struct cpu_features *off)
{
    for (unsigned w = 0; w < CPUF_WORDS; w++) {
        struct kvm_cpuid_entry2 *e = cpuid_find(t, cpuf_word_ids[w].leaf, cpuf_word_ids[w].subleaf);
        if (e)
            *reg_of(e, cpuf_word_ids[w].reg) &= ~off->w[w];
    }
}

void cpuid_features(struct cpuid_table *t, struct cpu_features *out)
{
    for (unsigned w = 0; w < CPUF_WORDS; w++) {
        struct kvm_cpuid_entry2 *e = cpuid_find(t, cpuf_word_ids[w].leaf, cpuf_word_ids[w].subleaf);
        out->w[w] = e ? *reg_of(e, cpuf_word_ids[w].reg) : 0;
    }
}
