/* How a domain's run ends. Devices report power events; the vCPU loop reports crashes. The
 * first outcome reported wins and stops every vCPU. Exit statuses are in docs/machine.md. */
#ifndef XENO_VMM_CORE_OUTCOME_H
#define XENO_VMM_CORE_OUTCOME_H

enum vm_outcome {
    VM_RUNNING = 0,
    VM_POWEROFF,   /* guest entered S5: exit 0 */
    VM_REBOOT,     /* guest reset the machine: restart or exit 2 */
    VM_CRASH,      /* triple fault, emulation error, unhandled exit: exit 3 */
    VM_HOST_ERROR, /* the monitor itself failed: exit 4 */
    VM_SIGNALLED,  /* operator stopped it: exit 128 + signal */
    VM_DESTROYED,  /* `destroy` over the control channel: exit 0 */
};

enum {
    EXIT_POWEROFF = 0,
    EXIT_BAD_INPUT = 1,
    EXIT_REBOOT = 2,
    EXIT_CRASH = 3,
    EXIT_HOST_ERROR = 4,
};

/* Callback devices use to report a power event (poweroff, reboot). */
typedef void (*power_event_fn)(void *opaque, enum vm_outcome outcome, const char *why);

#endif
