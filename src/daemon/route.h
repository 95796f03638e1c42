/* The API's routing: a table of method + path pattern -> handler, matched segment by segment.
 * A pattern is literal segments and "{name}" segments, each of which matches one non-empty
 * segment of the path (the value is kept for route_param). Pure: no HTTP library here. */
#ifndef XENO_DAEMON_ROUTE_H
#define XENO_DAEMON_ROUTE_H

#include <stddef.h>

#define ROUTE_MAX_PARAMS 4
#define ROUTE_PARAM_SIZE 256 /* a longer segment matches no {name} */

struct route {
    const char *method;         /* "GET", "POST", "DELETE" */
    const char *pattern;        /* e.g. "/v1/domains/{ref}/start" */
    void (*handler)(void *ctx); /* the caller's: called with whatever context it keeps */
};

struct route_params {
    int n;
    const char *names[ROUTE_MAX_PARAMS]; /* point into the pattern: "{ref}" -> "ref" (with the brace) */
    size_t name_len[ROUTE_MAX_PARAMS];
    char values[ROUTE_MAX_PARAMS][ROUTE_PARAM_SIZE];
};

/* The first route of `table` whose pattern matches `path` and whose method is `method`.
 * 0 with *out set; -ENOENT when no pattern matches the path (404); -EOPNOTSUPP when some do,
 * but none with this method (405). err_set() says which. */
int route_find(const struct route *table, size_t n, const char *method, const char *path, const struct route **out,
               struct route_params *params);
/* The value of {name} in the matched path, or NULL if the pattern has no such segment. */
const char *route_param(const struct route_params *p, const char *name);

#endif
