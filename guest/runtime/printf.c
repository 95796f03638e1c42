/*
 * printf and friends: %d %i %u %x %X %o %c %s %p %%, with the l/ll/z length modifiers,
 * field width (also '*'), precision for strings, and the '-', '0', '#' flags ('#' always
 * prefixes 0x, even to zero, which reads better in register dumps). No floating point:
 * the runtime is built with -mgeneral-regs-only.
 */
#include "runtime.h"

struct fmt_spec {
    bool left, zero, alt;
    int width, precision;
};

static int emit_padded(void (*emit)(void *, char), void *ctx, const char *s, int len,
                       const struct fmt_spec *spec, bool numeric)
{
    int pad = spec->width > len ? spec->width - len : 0;
    int n = 0;

    if (!spec->left && !(spec->zero && numeric))
        for (; pad > 0; pad--, n++)
            emit(ctx, ' ');
    /* Zero padding goes after a sign or 0x prefix: "-0042", "0x00ff", not "00-42". */
    if (!spec->left && spec->zero && numeric) {
        int prefix = (len && *s == '-') ? 1 : (len > 1 && s[1] == 'x') ? 2 : 0;

        for (; prefix; prefix--, len--, n++)
            emit(ctx, *s++);
        for (; pad > 0; pad--, n++)
            emit(ctx, '0');
    }
    for (int i = 0; i < len; i++, n++)
        emit(ctx, s[i]);
    for (; pad > 0; pad--, n++)
        emit(ctx, ' ');
    return n;
}

/* Renders v in base into the end of buf[24]; returns the start. */
static char *utoa(char *end, unsigned long long v, unsigned base, bool upper)
{
    const char *digits = upper ? "0123456789ABCDEF" : "0123456789abcdef";
    char *p = end;

    do {
        *--p = digits[v % base];
        v /= base;
    } while (v);
    return p;
}

int vformat(void (*emit)(void *ctx, char c), void *ctx, const char *fmt, va_list ap)
{
    int n = 0;

    for (; *fmt; fmt++) {
        struct fmt_spec spec = {.precision = -1};
        char buf[24], *end = buf + sizeof(buf), *p;
        int lng = 0;
        bool is_signed = false;
        unsigned base = 10;
        unsigned long long v;

        if (*fmt != '%') {
            emit(ctx, *fmt);
            n++;
            continue;
        }
        fmt++;
        for (;; fmt++) {
            if (*fmt == '-')
                spec.left = true;
            else if (*fmt == '0')
                spec.zero = true;
            else if (*fmt == '#')
                spec.alt = true;
            else
                break;
        }
        if (*fmt == '*') {
            spec.width = va_arg(ap, int);
            fmt++;
        } else {
            while (*fmt >= '0' && *fmt <= '9')
                spec.width = spec.width * 10 + (*fmt++ - '0');
        }
        if (*fmt == '.') {
            fmt++;
            spec.precision = 0;
            if (*fmt == '*') {
                spec.precision = va_arg(ap, int);
                fmt++;
            } else {
                while (*fmt >= '0' && *fmt <= '9')
                    spec.precision = spec.precision * 10 + (*fmt++ - '0');
            }
        }
        while (*fmt == 'l') {
            lng++;
            fmt++;
        }
        if (*fmt == 'z') {
            lng = 1;
            fmt++;
        }

        switch (*fmt) {
        case 'c':
            buf[0] = (char)va_arg(ap, int);
            n += emit_padded(emit, ctx, buf, 1, &spec, false);
            continue;
        case 's': {
            const char *s = va_arg(ap, const char *);
            int len = 0;

            if (!s)
                s = "(null)";
            while (s[len] && (spec.precision < 0 || len < spec.precision))
                len++;
            n += emit_padded(emit, ctx, s, len, &spec, false);
            continue;
        }
        case 'p':
            v = (uintptr_t)va_arg(ap, void *);
            p = utoa(end, v, 16, false);
            *--p = 'x';
            *--p = '0';
            n += emit_padded(emit, ctx, p, end - p, &spec, false);
            continue;
        case 'd':
        case 'i':
            is_signed = true;
            break;
        case 'u':
            break;
        case 'x':
        case 'X':
            base = 16;
            break;
        case 'o':
            base = 8;
            break;
        case '%':
            emit(ctx, '%');
            n++;
            continue;
        default: /* unknown conversion: print it verbatim so the mistake is visible */
            emit(ctx, '%');
            n++;
            if (!*fmt)
                return n;
            emit(ctx, *fmt);
            n++;
            continue;
        }

        if (is_signed) {
            long long s = lng ? va_arg(ap, long long) : va_arg(ap, int);

            v = s < 0 ? -(unsigned long long)s : (unsigned long long)s;
            p = utoa(end, v, 10, false);
            if (s < 0)
                *--p = '-';
        } else {
            v = lng ? va_arg(ap, unsigned long long) : va_arg(ap, unsigned int);
            p = utoa(end, v, base, *fmt == 'X');
            if (spec.alt && base == 16) {
                *--p = 'x';
                *--p = '0';
            }
        }
        n += emit_padded(emit, ctx, p, end - p, &spec, true);
    }
    return n;
}

struct strbuf {
    char *buf;
    size_t size, len;
};

static void emit_str(void *ctx, char c)
{
    struct strbuf *sb = ctx;

    if (sb->len + 1 < sb->size)
        sb->buf[sb->len] = c;
    sb->len++;
}

int vsnprintf(char *buf, size_t size, const char *fmt, va_list ap)
{
    struct strbuf sb = {buf, size, 0};
    int n = vformat(emit_str, &sb, fmt, ap);

    if (size)
        buf[MIN(sb.len, size - 1)] = '\0';
    return n;
}

int snprintf(char *buf, size_t size, const char *fmt, ...)
{
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = vsnprintf(buf, size, fmt, ap);
    va_end(ap);
    return n;
}

/* The whole message is formatted first and written with one console_write, so that lines
 * printed by different vCPUs at once come out whole. Longer output is truncated. */
int vprintf(const char *fmt, va_list ap)
{
    char buf[512];
    int n = vsnprintf(buf, sizeof(buf), fmt, ap);

    console_write(buf, MIN((size_t)n, sizeof(buf) - 1));
    return n;
}

int printf(const char *fmt, ...)
{
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = vprintf(fmt, ap);
    va_end(ap);
    return n;
}
