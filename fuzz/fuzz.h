/* Shared by the libFuzzer harnesses (fuzz/README.md): each harness is one
 * LLVMFuzzerTestOneInput that hands the fuzzer's bytes to one real parser of outside data. */
#ifndef XENO_FUZZ_FUZZ_H
#define XENO_FUZZ_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* data as a malloc'd NUL-terminated string (a NUL inside ends it early, as it would for
 * the C string the real caller passes on). The caller frees it. */
static inline char *fuzz_cstr(const uint8_t *data, size_t size)
{
    char *s = malloc(size + 1);
    if (!s)
        abort();
    memcpy(s, data, size);
    s[size] = '\0';
    return s;
}

#endif
