#include "audit/ack_symmetry.h"

#include "lib/eth.h"

void ack_sym_defaults(struct ack_sym_params *p)
{
    p->min_sample = 32;
    p->high = 2.5;
    p->low = 0.66;
    p->probe_ns = 100000000ull;
}

static void decay(struct ack_sym_state *s, const struct ack_sym_params *p)
{
    if (s->out + s->in >= 8 * p->min_sample) {
        s->out /= 2;
        s->in /= 2;
    }
}

static bool over(const struct ack_sym_state *s, const struct ack_sym_params *p)
{
    return (double)s->out > p->high * (double)s->in;
}

enum ack_sym_verdict ack_sym_out(struct ack_sym_state *s, const struct ack_sym_params *p, uint64_t now_ns,
                                 uint64_t *retry_ns)
{
    if (s->throttled) {
        if (!over(s, p)) {
            s->throttled = false;
            s->out++;
            decay(s, p);
            return ACK_SYM_RELEASED;
        }
        if (now_ns < s->next_probe_ns) {
            *retry_ns = s->next_probe_ns;
            return ACK_SYM_THROTTLE;
        }
        s->next_probe_ns = now_ns + p->probe_ns;
        s->out++;
        return ACK_SYM_PASS;
    }
    s->out++;
    if (s->out + s->in >= p->min_sample && over(s, p)) {
        s->throttled = true;
        s->next_probe_ns = now_ns + p->probe_ns;
        return ACK_SYM_STARTED;
    }
    decay(s, p);
    return ACK_SYM_PASS;
}

void ack_sym_in(struct ack_sym_state *s, const struct ack_sym_params *p, uint8_t tcp_flags)
{
    if (!(tcp_flags & NET_TCP_ACK))
        return;
    s->in++;
    if (!s->throttled)
        decay(s, p);
}
