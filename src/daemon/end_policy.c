#include "daemon/end_policy.h"

#include <string.h>

/* The outcomes a monitor writes when it ended on purpose (docs/control-channel.md). */
static int clean_outcome(const char *outcome)
{
    static const char *const clean[] = {"poweroff", "reboot", "destroyed", "signal", "saved", "migrated"};
    for (size_t i = 0; i < sizeof(clean) / sizeof(clean[0]); i++)
        if (strcmp(outcome, clean[i]) == 0)
            return 1;
    return 0;
}

struct end_decision end_policy_decide(const char *outcome, int destroying, int persistent,
                                      enum lifecycle_action on_crash)
{
    struct end_decision e = {0};
    if (destroying)
        e.kind = END_DESTROYED;
    else if (!outcome)
        e.kind = END_MONITOR_DIED;
    else if (clean_outcome(outcome))
        e.kind = END_STOPPED;
    else
        e.kind = END_CRASH;
    e.crashed = e.kind == END_MONITOR_DIED || e.kind == END_CRASH;
    e.restart = e.crashed && on_crash == ACTION_RESTART;
    e.keep = persistent || e.restart || (e.crashed && on_crash == ACTION_PRESERVE);
    return e;
}
