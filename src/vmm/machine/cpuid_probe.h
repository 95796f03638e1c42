/* What a guest really sees in CPUID on this host (docs/machine.md, "CPUID"): KVM may overlay
 * host bits on what KVM_SET_CPUID2 asked for. Probed in a throw-away VM, so the domain's own
 * VM is untouched. Main thread, at VM creation (before any sandbox: it needs KVM_CREATE_VM,
 * KVM_CREATE_VCPU, KVM_SET_CPUID2, KVM_RUN and an anonymous mapping). */
#ifndef XENO_VMM_MACHINE_CPUID_PROBE_H
#define XENO_VMM_MACHINE_CPUID_PROBE_H

#include <stdint.h>

#include "vmm/core/cpuid.h" /* struct cpu_features (proto/cpu_features.h) */

/* Runs CPUID for every feature register in a one-vCPU scratch VM configured with `t`, in real
 * mode, and returns what the guest got in *seen; *us: the probe's wall time in microseconds.
 * 0, or a negative errno with err_set(). */
int cpuid_probe(int kvm_fd, const struct cpuid_table *t, struct cpu_features *seen, uint64_t *us);

/* The same, through a cache directory (lib/blob_cache.h; NULL: probe): a hit returns the
 * result of the probe `xeno-vmm --fill-cache` ran with the same binary, kernel, host CPU, KVM
 * API and table. With `fill` it always probes and writes the result (only an unsandboxed
 * monitor run by xenod at its start does: a sandboxed monitor, whose guest may own it, only
 * reads). 1 for a hit (*us: the time to read it), 0 after probing, or a negative errno as
 * cpuid_probe(). A failure to cache is only logged. */
int cpuid_probe_cached(int kvm_fd, const struct cpuid_table *t, struct cpu_features *seen, uint64_t *us,
                       const char *cache_dir, int fill);

#endif
