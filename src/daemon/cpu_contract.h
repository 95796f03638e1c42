/* The machine contract as this host keeps it (docs/machine.md, "CPUID"): which CPU features a
 * guest here sees beyond XenoServer's policy (KVM overlays some host bits whatever the table
 * says) and which of the policy's it lacks. xenod asks the monitor binary once at start
 * (`xeno-vmm --cpu-report`, the same probe every monitor runs when it creates a VM) and shows
 * it in host info (GET /v1/host, `xenctl host`). Called from main() before any thread; the
 * result is read-only after. */
#ifndef XENO_DAEMON_CPU_CONTRACT_H
#define XENO_DAEMON_CPU_CONTRACT_H

#include <stddef.h>
#include <stdint.h>

#define CPU_CONTRACT_LIST_MAX 1024

struct cpu_contract {
    int known;                           /* 0: the probe failed (host info says null) */
    char extra[CPU_CONTRACT_LIST_MAX];   /* comma-separated feature names; "" if none */
    char missing[CPU_CONTRACT_LIST_MAX]; /* the same */
    uint64_t probe_us;
};

/* Runs `vmm_path --cpu-report` (at most 10 s) and reads its extra/missing/probe-us lines.
 * 0 and *out->known = 1, or a negative errno with err_set() (out->known = 0). */
int cpu_contract_probe(const char *vmm_path, struct cpu_contract *out);

/* Reads the report's text (len bytes, any content): 0, or -EINVAL with err_set() when a line
 * it needs is missing or holds anything but feature names. Pure; tested without a monitor. */
int cpu_contract_parse(const char *text, size_t len, struct cpu_contract *out);

#endif
