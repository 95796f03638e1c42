#include "vmm/host/cpu_report.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <string.h>
#include <unistd.h>

#include "lib/err.h"
#include "lib/log.h"
#include "vmm/machine/cpuid_probe.h"

int cpu_report_print(const struct options *o, FILE *f)
{
    static struct cpuid_table t; /* 10 KiB */
    struct cpu_features intended, seen, extra, missing, vol, policy;
    uint64_t us;
    int kvm_fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
    if (kvm_fd < 0) {
        log_error("/dev/kvm: %s", strerror(errno));
        return 4;
    }
    int r = cpuid_build(kvm_fd, 1, 0, &t);
    if (r == 0) {
        if (o->have_cpu_off)
            cpuid_narrow(&t, &o->cpu_off);
        cpuid_features(&t, &intended);
        r = cpuid_probe(kvm_fd, &t, &seen, &us);
    }
    close(kvm_fd);
    if (r < 0) {
        log_error("%s", err_msg());
        return 4;
    }
    cpuf_policy(&policy);
    cpuf_volatile(&vol);
    for (size_t i = 0; i < cpuf_nbits; i++)
        fprintf(f, "policy %s %s %u %s\n", cpuf_bits[i].name, cpuf_word_ids[cpuf_bits[i].word].name, cpuf_bits[i].bit,
                cpuf_bits[i].offered ? "offered" : "hidden");
    cpuf_missing(&seen, &intended, &extra);
    cpuf_missing(&intended, &seen, &missing);
    for (unsigned w = 0; w < CPUF_WORDS; w++)
        fprintf(f, "word %s intended=0x%08x seen=0x%08x volatile=0x%08x extra=0x%08x missing=0x%08x\n",
                cpuf_word_ids[w].name, intended.w[w], seen.w[w], vol.w[w], extra.w[w], missing.w[w]);
    char buf[2048];
    cpuf_format(&extra, buf, sizeof(buf));
    fprintf(f, "extra %s\n", *buf ? buf : "-");
    cpuf_format(&missing, buf, sizeof(buf));
    fprintf(f, "missing %s\n", *buf ? buf : "-");
    fprintf(f, "probe-us %" PRIu64 "\n", us);
    return 0;
}

size_t cpu_report_info(const struct vm *vm, char *buf, size_t size)
{
    struct cpu_features extra, missing, vol, seen = vm->cpu_seen;
    char e[1024], m[1024], s[2048];
    vm_cpu_deviation(vm, &extra, &missing);
    cpuf_volatile(&vol);
    for (unsigned w = 0; w < CPUF_WORDS; w++)
        seen.w[w] &= ~vol.w[w];
    cpuf_format(&extra, e, sizeof(e));
    cpuf_format(&missing, m, sizeof(m));
    cpuf_format(&seen, s, sizeof(s));
    return (size_t)snprintf(buf, size, "cpu_probe_us=%" PRIu64 " cpu_extra=%s cpu_missing=%s cpu_features=%s",
                            vm->cpu_probe_us, *e ? e : "-", *m ? m : "-", *s ? s : "-");
}
