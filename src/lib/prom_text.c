#include "lib/prom_text.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/err.h"

void prom_text_init(struct prom_text *w)
{
    memset(w, 0, sizeof(*w));
}

void prom_text_free(struct prom_text *w)
{
    free(w->buf);
    memset(w, 0, sizeof(*w));
}

int prom_text_error(const struct prom_text *w)
{
    return w->err;
}

static int fail(struct prom_text *w, int rc)
{
    if (!w->err)
        w->err = rc;
    return w->err;
}

/* Room for `more` bytes and the NUL after them. */
static int reserve(struct prom_text *w, size_t more)
{
    if (w->err)
        return w->err;
    if (w->len + more + 1 <= w->cap)
        return 0;
    size_t cap = w->cap ? w->cap : 4096;
    while (cap < w->len + more + 1) {
        if (cap > SIZE_MAX / 2)
            return fail(w, err_set(ENOMEM, "metrics text: too large"));
        cap *= 2;
    }
    char *b = realloc(w->buf, cap);
    if (!b)
        return fail(w, err_set(ENOMEM, "metrics text: out of memory"));
    w->buf = b;
    w->cap = cap;
    return 0;
}

static void put(struct prom_text *w, const char *s, size_t n)
{
    if (reserve(w, n) < 0)
        return;
    memcpy(w->buf + w->len, s, n);
    w->len += n;
    w->buf[w->len] = 0;
}

static void puts_(struct prom_text *w, const char *s)
{
    put(w, s, strlen(s));
}

static int name_chars(const char *name, const char *first, const char *rest)
{
    return name && name[0] && strchr(first, name[0]) && strspn(name + 1, rest) == strlen(name + 1);
}

#define LETTERS "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ_"
#define DIGITS "0123456789"

int prom_metric_name_valid(const char *name)
{
    return name_chars(name, LETTERS ":", LETTERS DIGITS ":");
}

int prom_label_name_valid(const char *name)
{
    return name_chars(name, LETTERS, LETTERS DIGITS) && strncmp(name, "__", 2) != 0;
}

/* The length of the valid UTF-8 sequence at s (1 to 4), or 0 if the bytes there are not one
 * (overlong forms, surrogates and code points past U+10FFFF included). */
static size_t utf8_len(const unsigned char *s)
{
    if (s[0] < 0x80)
        return 1;
    size_t n = s[0] >= 0xF0 ? 4 : s[0] >= 0xE0 ? 3 : s[0] >= 0xC2 ? 2 : 0;
    if (n == 0 || s[0] > 0xF4)
        return 0;
    for (size_t i = 1; i < n; i++)
        if ((s[i] & 0xC0) != 0x80)
            return 0; /* also stops at the NUL: 0x00 is not a continuation byte */
    if ((s[0] == 0xE0 && s[1] < 0xA0) || (s[0] == 0xED && s[1] >= 0xA0) || (s[0] == 0xF0 && s[1] < 0x90) ||
        (s[0] == 0xF4 && s[1] >= 0x90))
        return 0;
    return n;
}

/* Text escaped for a label value (quote too) or a HELP line (backslash and newline only). */
static void put_escaped(struct prom_text *w, const char *text, int quote)
{
    const unsigned char *s = (const unsigned char *)text;
    while (*s && !w->err) {
        size_t n = utf8_len(s);
        if (n == 0) {
            puts_(w, "\xEF\xBF\xBD"); /* U+FFFD, the replacement character */
            s++;
        } else if (*s == '\\') {
            puts_(w, "\\\\"), s++;
        } else if (*s == '\n') {
            puts_(w, "\\n"), s++;
        } else if (*s == '"' && quote) {
            puts_(w, "\\\""), s++;
        } else {
            put(w, (const char *)s, n);
            s += n;
        }
    }
}

int prom_text_family(struct prom_text *w, const char *name, enum prom_type type, const char *help)
{
    static const char *const types[] = {"counter", "gauge", "untyped"};
    if (w->err)
        return w->err;
    if (!prom_metric_name_valid(name) || (unsigned)type > PROM_UNTYPED)
        return fail(w, err_set(EINVAL, "metrics text: bad metric name or type for '%s'", name ? name : "(null)"));
    puts_(w, "# HELP ");
    puts_(w, name);
    puts_(w, " ");
    put_escaped(w, help ? help : "", 0);
    puts_(w, "\n# TYPE ");
    puts_(w, name);
    puts_(w, " ");
    puts_(w, types[type]);
    puts_(w, "\n");
    return w->err;
}

/* `name{a="x",b="y"} ` */
static int put_series(struct prom_text *w, const char *name, const struct prom_label *labels, size_t n)
{
    if (w->err)
        return w->err;
    if (!prom_metric_name_valid(name))
        return fail(w, err_set(EINVAL, "metrics text: bad metric name '%s'", name ? name : "(null)"));
    for (size_t i = 0; i < n; i++)
        if (!prom_label_name_valid(labels[i].name))
            return fail(w, err_set(EINVAL, "metrics text: bad label name '%s' of %s",
                                   labels[i].name ? labels[i].name : "(null)", name));
    puts_(w, name);
    for (size_t i = 0; i < n; i++) {
        puts_(w, i ? "," : "{");
        puts_(w, labels[i].name);
        puts_(w, "=\"");
        put_escaped(w, labels[i].value ? labels[i].value : "", 1);
        puts_(w, "\"");
    }
    puts_(w, n ? "} " : " ");
    return w->err;
}

int prom_text_sample_u64(struct prom_text *w, const char *name, const struct prom_label *labels, size_t n, uint64_t v)
{
    char num[32];
    if (put_series(w, name, labels, n) < 0)
        return w->err;
    snprintf(num, sizeof(num), "%" PRIu64 "\n", v);
    puts_(w, num);
    return w->err;
}

int prom_text_sample_ns_s(struct prom_text *w, const char *name, const struct prom_label *labels, size_t n, uint64_t ns)
{
    char num[48];
    if (put_series(w, name, labels, n) < 0)
        return w->err;
    snprintf(num, sizeof(num), "%" PRIu64 ".%09" PRIu64 "\n", ns / 1000000000u, ns % 1000000000u);
    puts_(w, num);
    return w->err;
}

int prom_text_sample_double(struct prom_text *w, const char *name, const struct prom_label *labels, size_t n, double v)
{
    char num[48];
    if (put_series(w, name, labels, n) < 0)
        return w->err;
    if (isnan(v))
        snprintf(num, sizeof(num), "NaN\n");
    else if (isinf(v))
        snprintf(num, sizeof(num), "%s\n", v > 0 ? "+Inf" : "-Inf");
    else if (snprintf(num, sizeof(num), "%.15g", v), strtod(num, NULL) == v)
        strcat(num, "\n"); /* the short form when it reads back exactly: 0.25, not 0.25000000000000000 */
    else
        snprintf(num, sizeof(num), "%.17g\n", v);
    puts_(w, num);
    return w->err;
}
