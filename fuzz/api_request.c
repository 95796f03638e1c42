/* The API's request line pieces (src/daemon/route.c with the real table from api.c, and the
 * query-string and body value parsers of src/lib/parse.c): the first line of the input is the
 * method, the second the path, the third a query value or a body value (a size, a duration,
 * a percentage, a number), each handed to the parsers the handlers use. */
#include <stdio.h>

#include "daemon/api.h"
#include "daemon/route.h"
#include "fuzz/fuzz.h"
#include "lib/parse.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = fuzz_cstr(data, size);
    char *save = NULL;
    char *method = strtok_r(text, "\n", &save);
    char *path = method ? strtok_r(NULL, "\n", &save) : NULL;
    char *value = path ? strtok_r(NULL, "\n", &save) : NULL;
    if (method && path) {
        size_t n;
        const struct route *table = api_routes(&n), *rt;
        struct route_params p;
        if (route_find(table, n, method, path, &rt, &p) == 0) {
            route_param(&p, "ref");
            route_param(&p, "nope");
        }
    }
    if (value) {
        uint64_t v;
        char buf[32];
        parse_size(value, 1u << 20, &v);
        parse_duration_ms(value, UINT64_MAX, &v);
        parse_duration_us(value, 10000000, &v);
        parse_u64_range(value, 1, 100000, &v);
        if (parse_percent_ppm(value, 64000000, &v) == 0)
            format_percent_ppm(v, buf, sizeof(buf));
    }
    free(text);
    return 0;
}
