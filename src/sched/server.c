#include "sched/server.h"

#include <string.h>

static uint64_t share_of(uint64_t period_ns, uint32_t ppm)
{
    return period_ns / 1000 * ppm / 1000; /* period_ns <= 1e9: no overflow */
}

/* The budgets of a period that begins with `debt` to pay. */
static void refill(struct sched_server *s)
{
    s->res_budget = share_of(s->period_ns, s->p.reservation_ppm);
    if (!s->p.limit_ppm) {
        s->lim_budget = SCHED_NEVER;
        s->debt = 0;
    } else {
        uint64_t lim = share_of(s->period_ns, s->p.limit_ppm);
        s->lim_budget = s->debt < lim ? lim - s->debt : 0;
    }
}

void sched_server_init(struct sched_server *s, const struct sched_params *p, unsigned nvcpus, uint64_t now,
                       const uint64_t *cpu_ns)
{
    memset(s, 0, sizeof(*s));
    s->p = *p;
    s->nvcpus = nvcpus < 1 ? 1 : nvcpus > SCHED_MAX_VCPUS ? SCHED_MAX_VCPUS : nvcpus;
    s->period_ns = (uint64_t)p->period_us * 1000;
    s->period_start = now;
    s->period_end = now + s->period_ns;
    s->last_step = now;
    for (unsigned i = 0; i < s->nvcpus; i++)
        s->last_cpu[i] = cpu_ns ? cpu_ns[i] : 0;
    s->c.periods = 1;
    refill(s);
    s->band = s->res_budget ? SCHED_BAND_RESERVED : SCHED_BAND_SLACK;
}

void sched_server_set(struct sched_server *s, const struct sched_params *p, uint64_t now)
{
    (void)now;
    int limit_changed = p->limit_ppm != s->p.limit_ppm;
    s->p = *p;
    s->period_ns = (uint64_t)p->period_us * 1000;
    s->period_end = s->period_start + s->period_ns;
    if (limit_changed)
        s->debt = 0; /* the debt was owed to the old limit */
    refill(s);
}

/* Charges `delta` of CPU time used while in the current band. */
static void charge(struct sched_server *s, uint64_t delta)
{
    if (s->band == SCHED_BAND_RESERVED) {
        uint64_t left = s->used < s->res_budget ? s->res_budget - s->used : 0;
        uint64_t in_res = delta < left ? delta : left;
        s->c.reserved_ns += in_res;
        s->c.slack_ns += delta - in_res;
    } else {
        s->c.slack_ns += delta;
    }
    s->used += delta;
}

/* Ends the period(s) that are over at `now`. */
static void roll(struct sched_server *s, uint64_t now)
{
    uint64_t k = (now - s->period_start) / s->period_ns;
    uint64_t lim = share_of(s->period_ns, s->p.limit_ppm);
    if (s->p.limit_ppm) {
        /* Allowed in the k periods: this one's budget, then a full limit for each period the
         * server slept through (a late step). Anything above is owed, at most one period's
         * limit, so a long stall never locks the domain out for long. */
        uint64_t allowed = s->lim_budget + (k - 1) * lim;
        uint64_t over = s->used > allowed ? s->used - allowed : 0;
        s->c.overrun_ns += over;
        s->debt = over < lim ? over : lim;
    }
    s->period_start += k * s->period_ns;
    s->period_end = s->period_start + s->period_ns;
    s->c.periods += k;
    s->used = 0;
    refill(s);
}

uint64_t sched_server_step(struct sched_server *s, uint64_t now, const uint64_t *cpu_ns)
{
    uint64_t delta = 0;
    for (unsigned i = 0; i < s->nvcpus; i++) {
        uint64_t v = cpu_ns ? cpu_ns[i] : s->last_cpu[i];
        /* A clock that went backwards (a vCPU thread replaced) charges nothing. */
        if (v > s->last_cpu[i])
            delta += v - s->last_cpu[i];
        s->last_cpu[i] = v;
    }
    if (now < s->last_step)
        now = s->last_step;
    if (s->band == SCHED_BAND_THROTTLED)
        s->c.throttled_ns += now - s->last_step;
    s->last_step = now;
    charge(s, delta);
    if (now >= s->period_end)
        roll(s, now);

    enum sched_band old = s->band;
    uint64_t next = SCHED_NEVER, nv = s->nvcpus;
    if (s->lim_budget != SCHED_NEVER && s->used + SCHED_MIN_STEP_NS >= s->lim_budget) {
        s->band = SCHED_BAND_THROTTLED;
        next = s->period_end;
    } else {
        s->band = s->used + SCHED_MIN_STEP_NS < s->res_budget ? SCHED_BAND_RESERVED : SCHED_BAND_SLACK;
        /* The earliest a budget can run out: every vCPU running from now on. */
        if (s->band == SCHED_BAND_RESERVED)
            next = now + (s->res_budget - s->used) / nv;
        if (s->lim_budget != SCHED_NEVER) {
            uint64_t t = now + (s->lim_budget - s->used) / nv;
            next = t < next ? t : next;
        }
        /* A new period refills the reservation (or the limit): be there. */
        if ((s->res_budget || s->lim_budget != SCHED_NEVER) && s->period_end < next)
            next = s->period_end;
    }
    if (s->band == SCHED_BAND_THROTTLED && old != SCHED_BAND_THROTTLED)
        s->c.throttles++;
    if (next != SCHED_NEVER && next < now + SCHED_MIN_STEP_NS)
        next = now + SCHED_MIN_STEP_NS;
    return next;
}

const char *sched_band_name(enum sched_band b)
{
    switch (b) {
    case SCHED_BAND_RESERVED: return "reserved";
    case SCHED_BAND_THROTTLED: return "throttled";
    case SCHED_BAND_SLACK:
    default: return "slack";
    }
}

/* kernel/sched/core.c: sched_prio_to_weight[], nice -20 .. 19 (each step ~1.25x). */
static const uint32_t nice_weight[40] = {
    88761, 71755, 56483, 46273, 36291, 29154, 23254, 18705, 14949, 11916, 9548, 7620, 6100, 4904,
    3906,  3121,  2501,  1991,  1586,  1277,  1024,  820,   655,   526,   423,  335,  272,  215,
    172,   137,   110,   87,    70,    56,    45,    36,    29,    23,    18,   15,
};

uint32_t sched_nice_to_weight(int nice)
{
    if (nice < -20)
        nice = -20;
    if (nice > 19)
        nice = 19;
    return nice_weight[nice + 20];
}

int sched_weight_to_nice(uint32_t weight, unsigned nvcpus)
{
    double w = (double)weight / (nvcpus ? nvcpus : 1), best = 1e300;
    int nice = 0;
    if (w < 1)
        w = 1;
    for (int i = 0; i < 40; i++) {
        double d = w > nice_weight[i] ? w / nice_weight[i] : nice_weight[i] / w; /* ratio, >= 1 */
        if (d < best) {
            best = d;
            nice = i - 20;
        }
    }
    return nice;
}
