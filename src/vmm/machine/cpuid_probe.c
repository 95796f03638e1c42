#include "vmm/machine/cpuid_probe.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "lib/blob_cache.h"
#include "lib/err.h"
#include "lib/log.h"

#define PROBE_MEM 0x10000u
#define PROBE_CODE 0x1000u
#define PROBE_OUT 0x2000u
#define PROBE_TSS 0xfffbd000u /* KVM's real-mode TSS on Intel hosts, outside the 64 KiB of RAM */

/* Real-mode code: for each register, mov eax, leaf; mov ecx, subleaf; cpuid; store the
 * register at PROBE_OUT + 4 * word; then hlt (which exits to us: the VM has no irqchip). */
static size_t emit_code(uint8_t *p)
{
    static const uint8_t store[4][3] = {{0x66, 0xa3, 0}, {0x66, 0x89, 0x1e}, {0x66, 0x89, 0x0e}, {0x66, 0x89, 0x16}};
    size_t n = 0;
    for (unsigned w = 0; w < CPUF_WORDS; w++) {
        const struct cpuf_word_id *id = &cpuf_word_ids[w];
        uint16_t dst = (uint16_t)(PROBE_OUT + 4 * w);
        p[n++] = 0x66, p[n++] = 0xb8, memcpy(p + n, &id->leaf, 4), n += 4;
        p[n++] = 0x66, p[n++] = 0xb9, memcpy(p + n, &id->subleaf, 4), n += 4;
        p[n++] = 0x0f, p[n++] = 0xa2;
        p[n++] = store[id->reg][0], p[n++] = store[id->reg][1];
        if (id->reg != CPUF_EAX)
            p[n++] = store[id->reg][2];
        memcpy(p + n, &dst, 2), n += 2;
    }
    p[n++] = 0xf4;
    return n;
}

static int run_probe(int vm_fd, int kvm_fd, uint8_t *mem, const struct cpuid_table *t, struct cpu_features *seen)
{
    struct kvm_userspace_memory_region region = {
        .slot = 0, .guest_phys_addr = 0, .memory_size = PROBE_MEM, .userspace_addr = (uint64_t)(uintptr_t)mem};
    if (ioctl(vm_fd, KVM_SET_TSS_ADDR, PROBE_TSS) < 0 || ioctl(vm_fd, KVM_SET_USER_MEMORY_REGION, &region) < 0)
        return err_set(errno, "CPUID probe: setting up the scratch VM: %s", strerror(errno));
    emit_code(mem + PROBE_CODE);
    int fd = ioctl(vm_fd, KVM_CREATE_VCPU, 0);
    if (fd < 0)
        return err_set(errno, "CPUID probe: KVM_CREATE_VCPU: %s", strerror(errno));
    int r = 0;
    int sz = ioctl(kvm_fd, KVM_GET_VCPU_MMAP_SIZE, 0);
    struct kvm_run *run = sz > 0 ? mmap(NULL, (size_t)sz, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0) : MAP_FAILED;
    struct kvm_sregs sregs;
    struct kvm_regs regs = {.rip = PROBE_CODE, .rflags = 0x2};
    if (run == MAP_FAILED) {
        r = err_set(errno ? errno : EINVAL, "CPUID probe: mapping the run area: %s", strerror(errno));
        goto out;
    }
    if (ioctl(fd, KVM_SET_CPUID2, &t->hdr) < 0 || ioctl(fd, KVM_GET_SREGS, &sregs) < 0) {
        r = err_set(errno, "CPUID probe: configuring the vCPU: %s", strerror(errno));
        goto out;
    }
    sregs.cs.base = 0, sregs.cs.selector = 0;
    sregs.ds.base = 0, sregs.ds.selector = 0;
    if (ioctl(fd, KVM_SET_SREGS, &sregs) < 0 || ioctl(fd, KVM_SET_REGS, &regs) < 0) {
        r = err_set(errno, "CPUID probe: setting registers: %s", strerror(errno));
        goto out;
    }
    for (int tries = 0;; tries++) {
        if (ioctl(fd, KVM_RUN, 0) < 0) {
            if ((errno == EINTR || errno == EAGAIN) && tries < 100)
                continue;
            r = err_set(errno, "CPUID probe: KVM_RUN: %s", strerror(errno));
            goto out;
        }
        if (run->exit_reason == KVM_EXIT_HLT)
            break;
        r = err_set(EIO, "CPUID probe: the scratch vCPU stopped with exit reason %u, not at its hlt", run->exit_reason);
        goto out;
    }
    memcpy(seen->w, mem + PROBE_OUT, sizeof(seen->w));
out:
    if (run != MAP_FAILED)
        munmap(run, (size_t)sz);
    close(fd);
    return r;
}

int cpuid_probe(int kvm_fd, const struct cpuid_table *t, struct cpu_features *seen, uint64_t *us)
{
    struct timespec a, b;
    clock_gettime(CLOCK_MONOTONIC, &a);
    int vm_fd = ioctl(kvm_fd, KVM_CREATE_VM, 0);
    if (vm_fd < 0)
        return err_set(errno, "CPUID probe: KVM_CREATE_VM: %s", strerror(errno));
    uint8_t *mem = mmap(NULL, PROBE_MEM, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    int r;
    if (mem == MAP_FAILED) {
        r = err_set(errno, "CPUID probe: %s", strerror(errno));
    } else {
        r = run_probe(vm_fd, kvm_fd, mem, t, seen);
        munmap(mem, PROBE_MEM);
    }
    close(vm_fd);
    clock_gettime(CLOCK_MONOTONIC, &b);
    *us = (uint64_t)(b.tv_sec - a.tv_sec) * 1000000u + (uint64_t)(b.tv_nsec - a.tv_nsec) / 1000u;
    return r;
}

/* The key: this binary on this host (blob_cache_host_key), KVM's API version and the whole
 * table the probe's vCPU is given; the probe's result is a function of these alone. */
static long probe_key(int kvm_fd, const struct cpuid_table *t, uint8_t *key, size_t cap)
{
    long n = blob_cache_host_key(key, cap);
    size_t tl = sizeof(t->entries[0]) * t->hdr.nent;
    if (n < 0 || t->hdr.nent > CPUID_MAX_ENTRIES || (size_t)n + 16 + tl > cap)
        return -ENOENT;
    int api = ioctl(kvm_fd, KVM_GET_API_VERSION, 0);
    uint32_t head[2] = {(uint32_t)api, t->hdr.nent};
    memcpy(key + n, head, sizeof(head));
    memcpy(key + n + sizeof(head), t->entries, tl);
    return n + (long)sizeof(head) + (long)tl;
}

int cpuid_probe_cached(int kvm_fd, const struct cpuid_table *t, struct cpu_features *seen, uint64_t *us,
                       const char *cache_dir, int fill)
{
    size_t cap = 1024 + sizeof(struct kvm_cpuid_entry2) * CPUID_MAX_ENTRIES;
    uint8_t *key = cache_dir ? malloc(cap) : NULL;
    long kl = key ? probe_key(kvm_fd, t, key, cap) : -ENOENT;
    struct timespec a, b;
    clock_gettime(CLOCK_MONOTONIC, &a);
    if (kl > 0 && !fill &&
        blob_cache_get(cache_dir, "cpuid", key, (size_t)kl, seen->w, sizeof(seen->w)) == (long)sizeof(seen->w)) {
        clock_gettime(CLOCK_MONOTONIC, &b);
        *us = (uint64_t)(b.tv_sec - a.tv_sec) * 1000000u + (uint64_t)(b.tv_nsec - a.tv_nsec) / 1000u;
        free(key);
        return 1;
    }
    int r = cpuid_probe(kvm_fd, t, seen, us);
    if (r == 0 && fill && kl > 0 && blob_cache_put(cache_dir, "cpuid", key, (size_t)kl, seen->w, sizeof(seen->w)) < 0)
        log_warn("CPUID probe: not cached: %s", err_msg());
    free(key);
    return r;
}
