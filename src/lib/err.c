#include "lib/err.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static _Thread_local char err_buf[ERR_MSG_MAX];

int err_set(int errnum, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err_buf, sizeof(err_buf), fmt, ap);
    va_end(ap);
    return -errnum;
}

const char *err_msg(void)
{
    return err_buf;
}

int err_wrap(int errnum, const char *fmt, ...)
{
    char inner[sizeof(err_buf)], prefix[sizeof(err_buf)];
    memcpy(inner, err_buf, sizeof(inner));
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof(prefix), fmt, ap);
    va_end(ap);
    /* Truncation keeps the front: the context the caller adds and the start of the cause. */
    size_t n = strnlen(prefix, sizeof(prefix) - 1);
    memcpy(err_buf, prefix, n);
    if (inner[0] != '\0' && n + 2 < sizeof(err_buf)) {
        memcpy(err_buf + n, ": ", 2);
        n += 2;
        size_t m = strnlen(inner, sizeof(inner) - 1);
        if (m > sizeof(err_buf) - 1 - n)
            m = sizeof(err_buf) - 1 - n;
        memcpy(err_buf + n, inner, m);
        n += m;
    }
    err_buf[n] = '\0';
    return -errnum;
}

int err_append(int errnum, const char *fmt, ...)
{
    /* The suffix is formatted after the message, into the buffer's free tail only. */
    size_t n = strnlen(err_buf, sizeof(err_buf) - 1);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err_buf + n, sizeof(err_buf) - n, fmt, ap);
    va_end(ap);
    return -errnum;
}
