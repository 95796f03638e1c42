/* The monitor's control channel (src/proto/control_proto.c): one request line as xenod or a
 * local client sends it, parsed by control_parse_args with and without an argument struct. */
#include "fuzz/fuzz.h"
#include "proto/control_proto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *line = fuzz_cstr(data, size);
    enum control_req req;
    struct control_args args;
    char why[256];
    if (control_parse_args(line, &req, &args, why, sizeof(why)) == 0)
        control_req_name(req);
    control_parse(line, &req, why, sizeof(why));
    free(line);
    return 0;
}
