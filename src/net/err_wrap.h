/* Adds context in front of the message a callee left (src/lib/err.h): "port web: " + "...".
 * err_set() must not read err_msg()'s buffer while it writes it, so the message is copied
 * first; this does that. Returns -errnum. */
#ifndef XENO_NET_ERR_WRAP_H
#define XENO_NET_ERR_WRAP_H

int nb_err_wrap(int errnum, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
