/* What xenod does when a domain's monitor has ended: the lifecycle policy as a pure function
 * of the monitor's outcome and the domain's definition, so it can be tested without monitors.
 *
 * The monitor applies on_poweroff and on_reboot itself (a restart is a fresh VM inside the
 * same process) and on_crash to guest crashes; it exits only when the action says so. What
 * is left to xenod: a monitor that died (killed, or crashed itself) could not apply on_crash,
 * and a transient domain that stopped for good is forgotten. */
#ifndef XENO_DAEMON_END_POLICY_H
#define XENO_DAEMON_END_POLICY_H

#include "lib/domain_config.h"

enum end_kind {
    END_DESTROYED,    /* the operator asked for destroy: never a crash, whatever the outcome */
    END_MONITOR_DIED, /* no outcome: killed outright (SIGKILL, OOM) or the monitor crashed */
    END_STOPPED,      /* a clean end: poweroff, reboot, destroyed, signal, saved, migrated */
    END_CRASH,        /* any other outcome: the guest or the monitor failed */
};

struct end_decision {
    enum end_kind kind;
    int crashed; /* the domain's state becomes "crashed" (else "shutdown") and on_crash applies */
    int restart; /* on_crash is restart: start it again */
    int keep;    /* the domain stays defined (else a transient domain is forgotten) */
};

/* outcome: the first word of the monitor's outcome file, or NULL when it left none. */
struct end_decision end_policy_decide(const char *outcome, int destroying, int persistent,
                                      enum lifecycle_action on_crash);

#endif
