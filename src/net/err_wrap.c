#include "net/err_wrap.h"

#include "lib/err.h"

#include <stdarg.h>
#include <stdio.h>

int nb_err_wrap(int errnum, const char *fmt, ...)
{
    char prefix[256], inner[768];
    snprintf(inner, sizeof(inner), "%s", err_msg());
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof(prefix), fmt, ap);
    va_end(ap);
    return err_set(errnum, "%s: %s", prefix, inner);
}
