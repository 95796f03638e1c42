/* err_set formats into the buffer err_msg() returns, so a message that wraps the previous one
 * ("block 3: <what went wrong>") must copy it first. */
#ifndef XENO_AUDIT_ERR_WRAP_H
#define XENO_AUDIT_ERR_WRAP_H

#include <stdio.h>

#include "lib/err.h"

/* A copy of the current message, valid until the next call on this thread. */
static inline const char *inner_msg(void)
{
    static _Thread_local char copy[1024];
    snprintf(copy, sizeof(copy), "%s", err_msg());
    return copy;
}

#endif
