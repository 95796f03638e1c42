/* libvirt's cpuset syntax (lib/cpumask.h), as virBitmapParse reads it: white space around the
 * items is allowed, "^N" takes CPU N out of what the items before and after put in. */
#include "lib/cpumask.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

unsigned cpumask_count(const struct cpumask *m)
{
    unsigned n = 0;
    for (size_t i = 0; i < CPUMASK_MAX / 64; i++)
        n += (unsigned)__builtin_popcountll(m->bits[i]);
    return n;
}

static int number(const char **p, unsigned *out)
{
    unsigned long v = 0;
    if (!isdigit((unsigned char)**p))
        return -EINVAL;
    while (isdigit((unsigned char)**p)) {
        v = v * 10 + (unsigned long)(**p - '0');
        if (v >= CPUMASK_MAX)
            return -ERANGE;
        (*p)++;
    }
    *out = (unsigned)v;
    return 0;
}

static void skip_space(const char **p)
{
    while (**p == ' ' || **p == '\t')
        (*p)++;
}

int cpumask_parse(const char *text, struct cpumask *out, char *why, size_t size)
{
    struct cpumask excluded = {{0}};
    const char *p = text;
    memset(out, 0, sizeof(*out));
    for (;;) {
        unsigned lo, hi;
        skip_space(&p);
        int neg = *p == '^';
        p += neg;
        int r = number(&p, &lo);
        hi = lo;
        if (r == 0 && !neg && *p == '-') {
            p++;
            r = number(&p, &hi);
        }
        if (r == -ERANGE) {
            snprintf(why, size, "'%s': CPU numbers go up to %d", text, CPUMASK_MAX - 1);
            return -EINVAL;
        }
        if (r < 0 || hi < lo) {
            snprintf(why, size,
                     "'%s' is not a CPU list; write numbers and ranges joined by commas, '^' to take one "
                     "out, e.g. '0-3,^2'",
                     text);
            return -EINVAL;
        }
        for (unsigned c = lo; c <= hi; c++)
            cpumask_set(neg ? &excluded : out, c);
        skip_space(&p);
        if (*p == 0)
            break;
        if (*p++ != ',') {
            snprintf(why, size, "'%s' is not a CPU list; write numbers and ranges joined by commas, e.g. '0-3,^2'",
                     text);
            return -EINVAL;
        }
    }
    for (size_t i = 0; i < CPUMASK_MAX / 64; i++)
        out->bits[i] &= ~excluded.bits[i];
    if (cpumask_count(out) == 0) {
        snprintf(why, size, "'%s' names no CPU: a thread needs at least one to run on", text);
        return -EINVAL;
    }
    return 0;
}

void cpumask_format(const struct cpumask *m, char *out, size_t size)
{
    size_t n = 0;
    if (size)
        out[0] = 0;
    for (unsigned c = 0; c < CPUMASK_MAX && n < size; c++) {
        if (!cpumask_has(m, c))
            continue;
        unsigned e = c;
        while (e + 1 < CPUMASK_MAX && cpumask_has(m, e + 1))
            e++;
        int w = e == c ? snprintf(out + n, size - n, "%s%u", n ? "," : "", c)
                       : snprintf(out + n, size - n, "%s%u-%u", n ? "," : "", c, e);
        n = w < 0 ? size : n + (size_t)w;
        c = e;
    }
}

int cpumask_first_outside(const struct cpumask *m, const struct cpumask *of)
{
    for (unsigned c = 0; c < CPUMASK_MAX; c++)
        if (cpumask_has(m, c) && !cpumask_has(of, c))
            return (int)c;
    return -1;
}
