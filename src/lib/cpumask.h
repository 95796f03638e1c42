/* A set of host CPU numbers, as libvirt's cpuset attributes write it ("0-3,^2,6": numbers and
 * ranges joined by commas, '^' taking one out). Plain data: no locks, copy freely. */
#ifndef XENO_LIB_CPUMASK_H
#define XENO_LIB_CPUMASK_H

#include <stddef.h>
#include <stdint.h>

#define CPUMASK_MAX 1024 /* CPU numbers 0..1023, glibc's CPU_SETSIZE */

struct cpumask {
    uint64_t bits[CPUMASK_MAX / 64];
};

static inline int cpumask_has(const struct cpumask *m, unsigned cpu)
{
    return cpu < CPUMASK_MAX && (m->bits[cpu / 64] >> (cpu % 64)) & 1;
}
static inline void cpumask_set(struct cpumask *m, unsigned cpu)
{
    if (cpu < CPUMASK_MAX)
        m->bits[cpu / 64] |= 1ULL << (cpu % 64);
}
unsigned cpumask_count(const struct cpumask *m);
/* Parses libvirt's syntax into *out. 0, or -EINVAL (a message in why: what is wrong) for
 * bad syntax, a number at or over CPUMASK_MAX, or a set that ends up empty. */
int cpumask_parse(const char *text, struct cpumask *out, char *why, size_t size);
/* The canonical list ("0-1,4"); "" for the empty set. Truncated to size. */
void cpumask_format(const struct cpumask *m, char *out, size_t size);
/* The lowest CPU of `m` that `of` lacks, or -1 when m is a subset of `of`. */
int cpumask_first_outside(const struct cpumask *m, const struct cpumask *of);

#endif
