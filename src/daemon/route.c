#include "daemon/route.h"

#include <errno.h>
#include <string.h>

#include "lib/err.h"

/* Does path match pattern? Fills p with the {name} segments' values. */
static int match_path(const char *pattern, const char *path, struct route_params *p)
{
    p->n = 0;
    for (;;) {
        if (*pattern != '/' || *path != '/')
            return *pattern == 0 && *path == 0;
        pattern++, path++;
        size_t plen = strcspn(pattern, "/"), len = strcspn(path, "/");
        if (plen >= 2 && pattern[0] == '{' && pattern[plen - 1] == '}') {
            if (len == 0 || len >= ROUTE_PARAM_SIZE || p->n == ROUTE_MAX_PARAMS)
                return 0;
            p->names[p->n] = pattern + 1;
            p->name_len[p->n] = plen - 2;
            memcpy(p->values[p->n], path, len);
            p->values[p->n][len] = 0;
            p->n++;
        } else if (plen != len || memcmp(pattern, path, len) != 0) {
            return 0;
        }
        pattern += plen, path += len;
    }
}

int route_find(const struct route *table, size_t n, const char *method, const char *path, const struct route **out,
               struct route_params *params)
{
    int path_known = 0;
    *out = NULL;
    for (size_t i = 0; i < n; i++) {
        if (!match_path(table[i].pattern, path, params))
            continue;
        path_known = 1;
        if (strcmp(table[i].method, method) == 0) {
            *out = &table[i];
            return 0;
        }
    }
    params->n = 0;
    if (path_known)
        return err_set(EOPNOTSUPP, "method %s is not allowed on %s (see docs/api.md)", method, path);
    return err_set(ENOENT, "no such resource or method (see docs/api.md)");
}

const char *route_param(const struct route_params *p, const char *name)
{
    size_t len = strlen(name);
    for (int i = 0; i < p->n; i++)
        if (p->name_len[i] == len && memcmp(p->names[i], name, len) == 0)
            return p->values[i];
    return NULL;
}
