/* Domain XML (src/lib/domain_xml*.c) as it arrives from the API, from a snapshot file's
 * domain-xml section or from a migration offer: domain_xml_parse over the bytes; what it
 * accepts goes through domain_xml_canonical (what a snapshot stores) and must parse again.
 * The parser wants the kernel and initrd to exist: the seeds name k.elf and i.img, which this
 * harness creates in a private directory it gives as the base directory. */
#include <stdio.h>
#include <unistd.h>

#include "fuzz/fuzz.h"
#include "lib/domain_config.h"

static char base[64];
static char kernel[96], initrd[96];

static void cleanup(void)
{
    unlink(kernel);
    unlink(initrd);
    rmdir(base);
}

static void setup(void)
{
    snprintf(base, sizeof(base), "/tmp/xeno-fuzz-xml.XXXXXX");
    if (!mkdtemp(base))
        abort();
    snprintf(kernel, sizeof(kernel), "%s/k.elf", base);
    snprintf(initrd, sizeof(initrd), "%s/i.img", base);
    FILE *k = fopen(kernel, "w"), *i = fopen(initrd, "w");
    if (!k || !i)
        abort();
    fclose(k);
    fclose(i);
    atexit(cleanup);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!base[0])
        setup();
    struct domain_config c;
    if (domain_xml_parse((const char *)data, size, "fuzz.xml", base, &c) < 0)
        return 0;
    char *canon = NULL;
    size_t canon_len = 0;
    if (domain_xml_canonical((const char *)data, size, &c, &canon, &canon_len) == 0) {
        struct domain_config again;
        /* What a snapshot stores must restore: a canonical form that does not parse is a bug. */
        if (domain_xml_parse(canon, canon_len, "fuzz.xml", base, &again) < 0) {
            fprintf(stderr, "canonical form does not parse again\n");
            abort();
        }
        domain_config_free(&again);
        free(canon);
    }
    domain_config_free(&c);
    return 0;
}
