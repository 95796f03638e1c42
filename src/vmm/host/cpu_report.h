/* The machine contract as this host keeps it (docs/machine.md, "CPUID"): `xeno-vmm
 * --cpu-report` and the one-line summary the control channel's info gives. Main thread. */
#ifndef XENO_VMM_HOST_CPU_REPORT_H
#define XENO_VMM_HOST_CPU_REPORT_H

#include <stddef.h>
#include <stdio.h>

#include "vmm/host/options.h"
#include "vmm/machine/vm.h"

/* Builds the CPUID table the options ask for, probes it in a scratch VM and prints the
 * policy table, each feature register (intended, seen, volatile bits) and the extra and
 * missing features. Returns the exit status: 0, or 4 (host failure, logged). */
int cpu_report_print(const struct options *o, FILE *f);

/* "cpu_probe_us=N cpu_extra=LIST cpu_missing=LIST cpu_features=LIST" for vm (LISTs
 * comma-separated names, "-" for none; cpu_features: what the guest sees). */
size_t cpu_report_info(const struct vm *vm, char *buf, size_t size);

#endif
