#include "vmm/state/migrate_apply.h"

#include <errno.h>
#include <string.h>

#include "lib/domain_config.h"
#include "lib/err.h"
#include "proto/migrate_proto.h"
#include "vmm/machine/vm.h"

int migrate_apply_config(struct snap_config *cfg, struct cpu_features *cpu, int *have_cpu, unsigned *cpu_unknown,
                         const uint8_t *buf, uint32_t len, const char *peer)
{
    if (len != sizeof(*cfg) && len != sizeof(*cfg) + sizeof(struct snap_cpu_features))
        return err_set(EPROTO, "%s: config of %u bytes, this monitor expects %zu or %zu (another version?)", peer, len,
                       sizeof(*cfg), sizeof(*cfg) + sizeof(struct snap_cpu_features));
    memcpy(cfg, buf, sizeof(*cfg));
    *have_cpu = len > sizeof(*cfg);
    *cpu_unknown = 0;
    if (*have_cpu) {
        struct snap_cpu_features wire;
        memcpy(&wire, buf + sizeof(*cfg), sizeof(wire));
        if (cpuf_from_wire(&wire, cpu, cpu_unknown) < 0)
            return err_wrap(EPROTO, "%s: config", peer);
    }
    const struct snap_config *c = cfg;
    if (!memchr(c->kernel, 0, sizeof(c->kernel)) || !memchr(c->cmdline, 0, sizeof(c->cmdline)))
        return err_set(EPROTO, "%s: config: kernel path or command line not terminated", peer);
    if (c->nvcpus < 1 || c->nvcpus > VM_MAX_VCPUS)
        return err_set(EPROTO, "%s: config: %u vCPUs (1 to %d here)", peer, c->nvcpus, VM_MAX_VCPUS);
    if (c->mem_size % MIG_PAGE || c->mem_size < VM_MIN_MEMORY || c->mem_size > MIGRATE_MAX_MEMORY)
        return err_set(EPROTO, "%s: config: memory %llu bytes (a multiple of 4096 from %llu to %llu here)", peer,
                       (unsigned long long)c->mem_size, (unsigned long long)VM_MIN_MEMORY,
                       (unsigned long long)MIGRATE_MAX_MEMORY);
    if (c->on_poweroff > ACTION_PRESERVE || c->on_reboot > ACTION_PRESERVE || c->on_crash > ACTION_PRESERVE ||
        c->memory_enforcement > MEMORY_ENFORCE_DESTROY)
        return err_set(EPROTO, "%s: config: unknown lifecycle action or memory enforcement", peer);
    return 0;
}

int migrate_apply_pages(uint8_t *ram, uint64_t ram_size, const uint8_t *buf, uint32_t len, const char *peer,
                        uint64_t *pages)
{
    struct mig_pages_hdr h;
    if (len < sizeof(h))
        return err_set(EPROTO, "%s: pages message of %u bytes", peer, len);
    memcpy(&h, buf, sizeof(h));
    if (h.count == 0 || h.count > MIG_BATCH_PAGES || len < sizeof(h) + 8ull * h.count)
        return err_set(EPROTO, "%s: pages message with %u entries in %u bytes", peer, h.count, len);
    const uint8_t *ent = buf + sizeof(h), *data = ent + 8ull * h.count;
    uint64_t ndata = 0;
    for (uint32_t i = 0; i < h.count; i++) {
        uint64_t e;
        memcpy(&e, ent + 8ull * i, 8);
        uint64_t off = e & ~(uint64_t)(MIG_PAGE - 1);
        /* off < ram_size and page aligned: with RAM a whole number of pages the page fits. */
        if ((e & (MIG_PAGE - 1) & ~MIG_ZERO_PAGE) || off >= ram_size || ram_size - off < MIG_PAGE)
            return err_set(EPROTO, "%s: page entry 0x%llx is not a page of the %llu bytes of RAM", peer,
                           (unsigned long long)e, (unsigned long long)ram_size);
        ndata += !(e & MIG_ZERO_PAGE);
    }
    if (len != sizeof(h) + 8ull * h.count + ndata * MIG_PAGE)
        return err_set(EPROTO, "%s: pages message of %u bytes for %u entries with %llu pages of data", peer, len,
                       h.count, (unsigned long long)ndata);
    for (uint32_t i = 0; i < h.count; i++) {
        uint64_t e;
        memcpy(&e, ent + 8ull * i, 8);
        uint8_t *dst = ram + (e & ~(uint64_t)(MIG_PAGE - 1));
        if (e & MIG_ZERO_PAGE) {
            memset(dst, 0, MIG_PAGE);
        } else {
            memcpy(dst, data, MIG_PAGE);
            data += MIG_PAGE;
        }
    }
    *pages += h.count;
    return 0;
}
