#include "vmm/host/start_cache.h"

#include <sys/stat.h>

#include "lib/err.h"
#include "lib/log.h"
#include "vmm/host/sandbox.h"
#include "vmm/machine/vm.h"

static void discard_console(void *opaque, uint8_t byte)
{
    (void)opaque, (void)byte;
}

/* A VM built exactly as vm_create builds a domain's (its table comes from the same code and
 * the same KVM answers), never started: only its probe matters. */
static int fill_cpuid(const struct options *o, unsigned nvcpus)
{
    static struct vm vm; /* large; one at a time */
    struct vm_config cfg = {.mem_size = 2u << 20,
                            .nvcpus = nvcpus,
                            .console_out = discard_console,
                            .cpu_off = o->have_cpu_off ? &o->cpu_off : NULL,
                            .cache_dir = o->cache_dir,
                            .cache_fill = 1};
    int r = vm_create(&vm, &cfg);
    vm_destroy(&vm);
    return r;
}

int start_cache_fill(const struct options *o)
{
    struct stat st;
    if (!o->cache_dir) {
        log_error("--fill-cache needs --cache-dir DIR");
        return 1;
    }
    if (stat(o->cache_dir, &st) < 0 || !S_ISDIR(st.st_mode) || (st.st_mode & 022)) {
        log_error("--cache-dir %s: not a directory writable only by its owner", o->cache_dir);
        return 1;
    }
    if (vmm_sandbox_fill_cache(o->cache_dir) < 0) {
        log_error("%s", err_msg());
        return 4;
    }
    for (unsigned n = 1; n <= o->nvcpus; n++)
        if (fill_cpuid(o, n) < 0) {
            log_error("%s", err_msg());
            return 4;
        }
    return 0;
}
