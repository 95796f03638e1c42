/* The CPUID a domain sees, built deliberately rather than passed through.
 *
 * We start from what KVM can virtualise (KVM_GET_SUPPORTED_CPUID) and keep only features on
 * an allow-list (the policy table in proto/cpu_features.c): ones guests can use on these hosts
 * and whose state a snapshot can carry.
 * Everything resting on XSAVE is hidden (this KVM cannot execute xsave/xrstor), as are
 * CMPXCHG16B, MONITOR/MWAIT, performance counters, PT, SGX and nested virtualisation.
 * Topology leaves are synthesised from the vCPU count; APIC ID = vCPU index. */
#ifndef XENO_VMM_CORE_CPUID_H
#define XENO_VMM_CORE_CPUID_H

#include <linux/kvm.h>
#include <stdint.h>

#include "proto/cpu_features.h"

#define CPUID_MAX_ENTRIES 256
#define CPUID_HV_TIMING_LEAF 0x40000010
#define LAPIC_TIMER_KHZ 1000000 /* KVM's LAPIC timer counts at 1 GHz before its divider */

struct cpuid_table {
    struct kvm_cpuid2 hdr;
    struct kvm_cpuid_entry2 entries[CPUID_MAX_ENTRIES];
};

/* Applies the allow-list and topology to `t` (which holds KVM's supported CPUID). */
int cpuid_filter(struct cpuid_table *t, unsigned nvcpus, uint32_t tsc_khz);

/* Fills `t` from KVM and filters it. */
int cpuid_build(int kvm_fd, unsigned nvcpus, uint32_t tsc_khz, struct cpuid_table *t);

/* Writes `apic_id` into the leaves that report it (1, 0xb). */
void cpuid_set_apic_id(struct cpuid_table *t, uint32_t apic_id);

/* Clears the bits of `off` (an operator's --cpu-features-off) in the feature registers. */
void cpuid_narrow(struct cpuid_table *t, const struct cpu_features *off);
/* The feature registers as the table sets them (what the guest should see). */
void cpuid_features(struct cpuid_table *t, struct cpu_features *out);

/* The entry for (function, index), or NULL. */
struct kvm_cpuid_entry2 *cpuid_find(struct cpuid_table *t, uint32_t function, uint32_t index);

#endif
