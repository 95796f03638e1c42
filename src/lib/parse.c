#include "lib/parse.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/err.h"

static int parse_digits(const char *text, uint64_t *out, const char **end)
{
    if (!isdigit((unsigned char)text[0]))
        return err_set(EINVAL, "'%.64s' is not a number", text);
    errno = 0;
    char *e;
    unsigned long long v = strtoull(text, &e, 10);
    if (errno == ERANGE)
        return err_set(ERANGE, "'%.64s' is too large", text);
    *out = v;
    *end = e;
    return 0;
}

int parse_u64_range(const char *text, uint64_t min, uint64_t max, uint64_t *out)
{
    const char *end;
    uint64_t v;
    int r = parse_digits(text, &v, &end);
    if (r < 0)
        return r;
    if (*end != '\0')
        return err_set(EINVAL, "'%.64s' is not a whole number", text);
    if (v < min || v > max)
        return err_set(ERANGE, "%.64s is out of range (%llu to %llu)", text, (unsigned long long)min,
                       (unsigned long long)max);
    *out = v;
    return 0;
}

int parse_size(const char *text, uint64_t default_unit, uint64_t *out)
{
    const char *end;
    uint64_t v, unit;
    int r = parse_digits(text, &v, &end);
    if (r < 0)
        return r;
    switch (*end == 'p' ? 'p' : toupper((unsigned char)*end)) {
    case '\0': unit = default_unit; break;
    case 'p': /* pages, as in "10000p"; lowercase only, so it never reads as peta */ unit = 4096; break;
    case 'B': unit = 1; break;
    case 'K': unit = 1ULL << 10; break;
    case 'M': unit = 1ULL << 20; break;
    case 'G': unit = 1ULL << 30; break;
    case 'T': unit = 1ULL << 40; break;
    default: return err_set(EINVAL, "'%.64s': unknown size unit '%.64s' (use K, M, G, T or p)", text, end);
    }
    if (*end) {
        const char *rest = end + 1;
        if (strchr("KMGTkmgt", *end) && (strcmp(rest, "iB") == 0 || strcmp(rest, "B") == 0))
            rest = "";
        if (*rest)
            return err_set(EINVAL, "'%.64s': unknown size unit '%.64s' (use K, M, G, T or p)", text, end);
    }
    if (v != 0 && unit > UINT64_MAX / v)
        return err_set(ERANGE, "'%.64s' is too large", text);
    *out = v * unit;
    return 0;
}

int parse_duration_ms(const char *text, uint64_t max_ms, uint64_t *out)
{
    const char *end;
    uint64_t whole, frac = 0, frac_div = 1, unit_ms;
    int r = parse_digits(text, &whole, &end);
    if (r < 0)
        return r;
    if (*end == '.') {
        /* Up to three decimals: a millisecond is as fine as a deadline gets. */
        for (end++; isdigit((unsigned char)*end); end++)
            if (frac_div < 1000) {
                frac = frac * 10 + (uint64_t)(*end - '0');
                frac_div *= 10;
            }
    }
    if (*end == '\0' || strcmp(end, "s") == 0)
        unit_ms = 1000;
    else if (strcmp(end, "ms") == 0)
        unit_ms = 1;
    else if (strcmp(end, "m") == 0 || strcmp(end, "min") == 0)
        unit_ms = 60000;
    else
        return err_set(EINVAL, "'%.64s': unknown duration unit '%.64s' (use ms, s or m)", text, end);
    if (whole > max_ms / unit_ms)
        return err_set(ERANGE, "'%.64s' is longer than %llu ms", text, (unsigned long long)max_ms);
    uint64_t ms = whole * unit_ms + frac * unit_ms / frac_div;
    if (ms > max_ms)
        return err_set(ERANGE, "'%.64s' is longer than %llu ms", text, (unsigned long long)max_ms);
    *out = ms;
    return 0;
}

/* Digits, then up to `decimals` decimals after a '.', as an integer scaled by 10^decimals;
 * *end points after them. */
static int parse_fixed(const char *text, unsigned decimals, uint64_t *out, const char **end)
{
    uint64_t whole, frac = 0, scale = 1;
    int r = parse_digits(text, &whole, end);
    if (r < 0)
        return r;
    for (unsigned i = 0; i < decimals; i++)
        scale *= 10;
    if (**end == '.') {
        uint64_t div = 1;
        const char *p = *end + 1;
        if (!isdigit((unsigned char)*p))
            return err_set(EINVAL, "'%.64s' is not a number", text);
        for (; isdigit((unsigned char)*p); p++) {
            if (div >= scale)
                return err_set(EINVAL, "'%.64s' has more than %u decimals", text, decimals);
            frac = frac * 10 + (uint64_t)(*p - '0');
            div *= 10;
        }
        frac *= scale / div;
        *end = p;
    }
    if (whole > (UINT64_MAX - frac) / scale)
        return err_set(ERANGE, "'%.64s' is too large", text);
    *out = whole * scale + frac;
    return 0;
}

const char *format_percent_ppm(uint64_t ppm, char *buf, size_t size)
{
    uint64_t frac = ppm % 10000;
    int digits = 4;
    while (frac && frac % 10 == 0) {
        frac /= 10;
        digits--;
    }
    if (frac)
        snprintf(buf, size, "%llu.%0*llu%%", (unsigned long long)(ppm / 10000), digits, (unsigned long long)frac);
    else
        snprintf(buf, size, "%llu%%", (unsigned long long)(ppm / 10000));
    return buf;
}

int parse_percent_ppm(const char *text, uint64_t max_ppm, uint64_t *out)
{
    const char *end;
    uint64_t v; /* in 1/10000 of a percent = ppm */
    int r = parse_fixed(text, 4, &v, &end);
    if (r < 0)
        return r;
    if (*end == '%')
        end++;
    if (*end)
        return err_set(EINVAL, "'%.64s' is not a percentage (write e.g. 30%% or 12.5%%)", text);
    if (v > max_ppm)
        return err_set(ERANGE, "%.64s is more than %s", text, format_percent_ppm(max_ppm, (char[32]){0}, 32));
    *out = v;
    return 0;
}

int parse_duration_us(const char *text, uint64_t max_us, uint64_t *out)
{
    const char *end;
    uint64_t v, unit_us; /* v in thousandths of the unit */
    int r = parse_fixed(text, 3, &v, &end);
    if (r < 0)
        return r;
    if (*end == '\0' || strcmp(end, "us") == 0)
        unit_us = 1;
    else if (strcmp(end, "ms") == 0)
        unit_us = 1000;
    else if (strcmp(end, "s") == 0)
        unit_us = 1000000;
    else
        return err_set(EINVAL, "'%.64s': unknown duration unit '%.64s' (use us, ms or s)", text, end);
    if (v / 1000 > max_us / unit_us)
        return err_set(ERANGE, "'%.64s' is longer than %llu us", text, (unsigned long long)max_us);
    uint64_t us = v * unit_us / 1000;
    if (us > max_us)
        return err_set(ERANGE, "'%.64s' is longer than %llu us", text, (unsigned long long)max_us);
    if (v * unit_us % 1000)
        return err_set(EINVAL, "'%.64s' is not a whole number of microseconds", text);
    *out = us;
    return 0;
}
