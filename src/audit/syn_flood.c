#include "audit/syn_flood.h"

void synflood_defaults(struct synflood_params *p)
{
    p->high = 64;
    p->low = 16;
    p->interval_ns = 100000000ull;
}

bool synflood_admit(struct synflood_state *s, const struct synflood_params *p, uint64_t now_ns, uint64_t *retry_ns)
{
    if (!s->flooding)
        return true;
    if (now_ns >= s->next_ns) {
        s->next_ns = now_ns + p->interval_ns;
        return true;
    }
    *retry_ns = s->next_ns;
    return false;
}

enum synflood_change synflood_opened(struct synflood_state *s, const struct synflood_params *p)
{
    s->half_open++;
    if (s->half_open > s->peak)
        s->peak = s->half_open;
    if (!s->flooding && s->half_open > p->high) {
        s->flooding = true;
        return SYNFLOOD_STARTED;
    }
    return SYNFLOOD_NO_CHANGE;
}

enum synflood_change synflood_closed(struct synflood_state *s, const struct synflood_params *p)
{
    if (s->half_open)
        s->half_open--;
    if (s->flooding && s->half_open <= p->low) {
        s->flooding = false;
        s->peak = s->half_open;
        return SYNFLOOD_ENDED;
    }
    if (!s->flooding)
        s->peak = s->half_open;
    return SYNFLOOD_NO_CHANGE;
}
