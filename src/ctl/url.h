/* Percent-encoding of the pieces xenctl puts into request URLs: a domain reference typed by
 * the user goes into a path segment or a query value unchanged in meaning, whatever it holds. */
#ifndef XENO_CTL_URL_H
#define XENO_CTL_URL_H

#include <stddef.h>

/* Writes `text` percent-encoded (everything but RFC 3986 unreserved characters) into out,
 * NUL-terminated. "." and ".." are encoded whole, so they stay one segment instead of
 * meaning "this" or "the parent". Returns the length, or -ENAMETOOLONG if out is too small. */
int ctl_url_escape(const char *text, char *out, size_t out_size);

#endif
