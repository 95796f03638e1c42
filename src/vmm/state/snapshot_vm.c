#include "vmm/state/snapshot_vm.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/err.h"
#include "lib/file.h"
#include "lib/log.h"
#include "proto/cpu_features.h"
#include "vmm/core/mem_populate.h"
#include "vmm/virtio/virtio_balloon.h"

/* ---- saving ------------------------------------------------------------------------ */

/* The MSRs KVM lists that this vCPU answers for, with their values. */
static int get_msrs(struct vm *vm, struct vcpu *v, struct snap_vcpu *s)
{
    struct kvm_msr_list probe = {.nmsrs = 0};
    if (ioctl(vm->kvm_fd, KVM_GET_MSR_INDEX_LIST, &probe) < 0 && errno != E2BIG)
        return err_set(errno, "KVM_GET_MSR_INDEX_LIST: %s", strerror(errno));
    struct kvm_msr_list *list = calloc(1, sizeof(*list) + probe.nmsrs * sizeof(uint32_t));
    if (!list)
        return err_set(ENOMEM, "out of memory");
    list->nmsrs = probe.nmsrs;
    if (ioctl(vm->kvm_fd, KVM_GET_MSR_INDEX_LIST, list) < 0) {
        free(list);
        return err_set(errno, "KVM_GET_MSR_INDEX_LIST: %s", strerror(errno));
    }
    struct {
        struct kvm_msrs hdr;
        struct kvm_msr_entry e;
    } one;
    s->nmsrs = 0;
    for (uint32_t i = 0; i < list->nmsrs && s->nmsrs < SNAP_MAX_MSRS; i++) {
        memset(&one, 0, sizeof(one));
        one.hdr.nmsrs = 1;
        one.e.index = list->indices[i];
        if (ioctl(v->fd, KVM_GET_MSRS, &one) == 1)
            s->msrs[s->nmsrs++] = one.e;
    }
    free(list);
    return 0;
}

static int save_vcpu(struct vm *vm, struct vcpu *v, struct snap_vcpu *s)
{
    memset(s, 0, sizeof(*s));
    s->id = v->id;
#define GET(req, p)                                                                                                    \
    if (ioctl(v->fd, req, p) < 0)                                                                                      \
        return err_set(errno, "vCPU %u: " #req ": %s", v->id, strerror(errno));
    GET(KVM_GET_REGS, &s->regs);
    GET(KVM_GET_SREGS, &s->sregs);
    GET(KVM_GET_FPU, &s->fpu);
    GET(KVM_GET_LAPIC, &s->lapic);
    GET(KVM_GET_VCPU_EVENTS, &s->events);
    GET(KVM_GET_MP_STATE, &s->mp_state);
#undef GET
    return get_msrs(vm, v, s);
}

/* Every payload is zeroed before it is filled, padding included: the bytes are CRC'd and
 * stored or sent, so they must not depend on what the stack held. */
int vm_snapshot_write_state(struct vm *vm, snap_put_fn put, void *opaque)
{
    int r = 0;
    struct snap_vcpu *sv = malloc(sizeof(*sv));
    if (!sv)
        return err_set(ENOMEM, "out of memory");
    for (unsigned i = 0; !r && i < vm->nvcpus; i++) {
        r = save_vcpu(vm, &vm->vcpus[i], sv);
        if (!r)
            r = put(opaque, SNAP_SEC_VCPU, sv, sizeof(*sv));
    }
    free(sv);
    if (!r) {
        struct snap_irqchip ic;
        memset(&ic, 0, sizeof(ic));
        for (unsigned c = 0; c < 3 && !r; c++) {
            ic.chip[c].chip_id = c;
            if (ioctl(vm->vm_fd, KVM_GET_IRQCHIP, &ic.chip[c]) < 0)
                r = err_set(errno, "KVM_GET_IRQCHIP %u: %s", c, strerror(errno));
        }
        if (!r)
            r = put(opaque, SNAP_SEC_IRQCHIP, &ic, sizeof(ic));
    }
    if (!r) {
        struct kvm_pit_state2 pit;
        memset(&pit, 0, sizeof(pit));
        if (ioctl(vm->vm_fd, KVM_GET_PIT2, &pit) < 0)
            r = err_set(errno, "KVM_GET_PIT2: %s", strerror(errno));
        else
            r = put(opaque, SNAP_SEC_PIT, &pit, sizeof(pit));
    }
    if (!r) {
        struct kvm_clock_data clk;
        memset(&clk, 0, sizeof(clk));
        if (ioctl(vm->vm_fd, KVM_GET_CLOCK, &clk) < 0)
            r = err_set(errno, "KVM_GET_CLOCK: %s", strerror(errno));
        else
            r = put(opaque, SNAP_SEC_CLOCK, &clk, sizeof(clk));
    }
    /* Then every device, each writing its own section (core/device.h). */
    if (!r)
        r = dev_list_save(&vm->devices, put, opaque);
    return r;
}

static int put_file(void *w, uint32_t type, const void *data, size_t len)
{
    int r = snap_write_section(w, type, data, len);
    return r < 0 ? r : 0;
}

int vm_snapshot_save(struct vm *vm, const struct snap_domain_state *ds, const char *path, uint64_t *bytes,
                     uint64_t *pages)
{
    const struct snap_config *cfg = ds->cfg;
    char tmp[4200];
    if (snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= (int)sizeof(tmp))
        return err_set(ENAMETOOLONG, "snapshot path too long");
    struct snap_header h = {0};
    snap_host_cpu(h.cpu_vendor, &h.cpu_signature);
    h.ram_size = vm->mem.size;
    h.nranges = vm->mem.nranges;
    for (unsigned i = 0; i < vm->mem.nranges && i < SNAP_MAX_RANGES; i++) {
        h.ranges[i].gpa = vm->mem.ranges[i].gpa;
        h.ranges[i].size = vm->mem.ranges[i].size;
        h.ranges[i].offset = vm->mem.ranges[i].offset;
    }
    /* As root, into a directory others may write: never through a link planted at PATH.tmp
     * (it would truncate and overwrite whatever it points to), never into a file that is
     * not ours (file_create_new). */
    int fd = file_create_new(tmp, 0600);
    if (fd < 0)
        return -1;
    struct snap_writer w;
    int r = snap_writer_open(&w, fd, &h);
    if (!r)
        r = snap_write_section(&w, SNAP_SEC_CONFIG, cfg, sizeof(*cfg));
    if (!r)
        r = vm_snapshot_write_state(vm, put_file, &w);
    if (!r && ds->domain_xml)
        r = snap_write_section(&w, SNAP_SEC_DOMAIN_XML, ds->domain_xml, ds->domain_xml_len);
    if (!r && ds->mem_target)
        r = snap_write_section(&w, SNAP_SEC_MEM_TARGET, ds->mem_target, sizeof(*ds->mem_target));
    if (!r && ds->cpu)
        r = snap_write_section(&w, SNAP_SEC_CPU_FEATURES, ds->cpu, sizeof(*ds->cpu));
    /* Pages a lazy restore has not filled yet are holes that the write would skip: their
     * content is still only in the old file. The vCPUs are paused; the fill goes on. */
    if (!r && vm->mem.populate) {
        if (!mem_populate_done(vm->mem.populate))
            log_info("save: waiting for the lazy restore to bring in the rest of guest RAM");
        int w8 = guest_mem_wait_populated(&vm->mem, SNAP_POPULATE_WAIT_MS);
        if (w8 < 0)
            r = err_set(-w8, "guest RAM is not fully restored from the last snapshot yet (%s)",
                        w8 == -ETIMEDOUT ? "timed out" : "that snapshot is damaged");
    }
    if (!r)
        r = snap_write_memory(&w, vm->mem.host, vm->mem.size, vm->mem.fd);
    if (!r)
        r = snap_writer_finish(&w);
    if (!r && fsync(fd) < 0)
        r = err_set(errno, "fsync %s: %s", tmp, strerror(errno));
    if (close(fd) < 0 && !r)
        r = err_set(errno, "close %s: %s", tmp, strerror(errno));
    if (!r && rename(tmp, path) < 0)
        r = err_set(errno, "rename %s to %s: %s", tmp, path, strerror(errno));
    if (r) {
        unlink(tmp);
        return -1;
    }
    /* Without it a power loss can undo the rename: after a save that stops the domain, the
     * file may be its only copy. */
    if (file_fsync_dir(path) < 0)
        return -1;
    *bytes = w.bytes;
    *pages = w.pages;
    return 0;
}

/* ---- checking state sections ------------------------------------------------------- */

/* The KVM state of the machine itself; the devices' sections are the device list's. */
static size_t machine_section_size(uint32_t type)
{
    switch (type) {
    case SNAP_SEC_VCPU: return sizeof(struct snap_vcpu);
    case SNAP_SEC_IRQCHIP: return sizeof(struct snap_irqchip);
    case SNAP_SEC_PIT: return sizeof(struct kvm_pit_state2);
    case SNAP_SEC_CLOCK: return sizeof(struct kvm_clock_data);
    default: return 0;
    }
}

size_t vm_state_section_size(const struct vm *vm, uint32_t type)
{
    size_t n = machine_section_size(type);
    return n ? n : dev_list_section_size(&vm->devices, type);
}

/* The state sections of a set, by role, once check_sections() passed. */
struct state_index {
    unsigned nvcpus;
    const struct snap_section *vcpu[VM_MAX_VCPUS];
    const struct snap_section *one[SNAP_SEC_MAX]; /* irqchip, pit, clock */
    unsigned count[SNAP_SEC_MAX];
};

/* What a set of sections must hold whatever VM it goes into: the machine's own sections of
 * exactly their size, vcpu sections with ids 0, 1, ... in order (at most VM_MAX_VCPUS) and a
 * bounded MSR count, exactly one irqchip, pit and clock section. Device sections depend on
 * the VM's devices (check_vm). Sections of other types are left to the caller (a file's config, memory, domain-xml and
 * mem-target are checked by snap_parse and snap_check_config). 0, or -bad with err_set() naming the section and offset.
 */
static int check_sections(const struct snap_section *sec, unsigned n, int bad, struct state_index *ix)
{
    memset(ix, 0, sizeof(*ix));
    for (unsigned i = 0; i < n; i++) {
        const struct snap_section *s = &sec[i];
        size_t want = machine_section_size(s->type);
        if (!want)
            continue;
        if (s->length != want)
            return err_set(bad, "%s section at offset %llu holds %llu bytes, this monitor expects %zu",
                           snap_section_name(s->type), (unsigned long long)s->offset, (unsigned long long)s->length,
                           want);
        if (s->type == SNAP_SEC_VCPU) {
            struct snap_vcpu v;
            memcpy(&v, s->data, offsetof(struct snap_vcpu, regs));
            if (ix->nvcpus == VM_MAX_VCPUS || v.id != ix->nvcpus || v.nmsrs > SNAP_MAX_MSRS)
                return err_set(bad,
                               "vcpu section at offset %llu: vCPU %u with %u MSRs, expected vCPU %u (at most %d) "
                               "with at most %d",
                               (unsigned long long)s->offset, v.id, v.nmsrs, ix->nvcpus, VM_MAX_VCPUS, SNAP_MAX_MSRS);
            ix->vcpu[ix->nvcpus++] = s;
        } else {
            ix->one[s->type] = s;
        }
        ix->count[s->type]++;
    }
    static const uint32_t once[] = {SNAP_SEC_IRQCHIP, SNAP_SEC_PIT, SNAP_SEC_CLOCK};
    for (unsigned i = 0; i < sizeof(once) / sizeof(once[0]); i++)
        if (ix->count[once[i]] != 1)
            return err_set(bad, "%u %s sections, expected 1", ix->count[once[i]], snap_section_name(once[i]));
    return 0;
}

/* What the sections must match in this VM: one vcpu section per vCPU, and the devices'
 * sections those of this machine's devices. */
static int check_vm(const struct vm *vm, const struct state_index *ix, const struct snap_section *sec, unsigned n,
                    int bad)
{
    if (ix->nvcpus != vm->nvcpus)
        return err_set(bad, "%u vcpu sections for %u vCPUs", ix->nvcpus, vm->nvcpus);
    return dev_list_check(&vm->devices, sec, n, bad);
}

/* ---- opening ----------------------------------------------------------------------- */

_Static_assert(VM_MAX_VCPUS <= SNAP_MAX_VCPUS, "the format must hold every vCPU the monitor runs");

int snap_file_open(struct snap_file *f, const char *path, unsigned parse_flags)
{
    if (snap_file_load(f, path, parse_flags) < 0)
        return -1;
    struct state_index ix;
    const struct snap_section *s = snap_find(&f->img, SNAP_SEC_CONFIG, 0);
    if (f->cfg.nvcpus > VM_MAX_VCPUS) {
        err_set(EINVAL, "config section at offset %llu: %u vCPUs, this monitor runs at most %d",
                (unsigned long long)s->offset, f->cfg.nvcpus, VM_MAX_VCPUS);
        goto bad;
    }
    /* The state sections as far as they can be checked before the VM exists (the rest when
     * vm_snapshot_restore applies them): a bad file is refused before anything starts. */
    if (check_sections(f->img.sec, f->img.nsections, EINVAL, &ix) < 0)
        goto bad;
    /* The RAM layout must be the one a VM of this size gets (guest-physical addresses are
     * kept: the guest's page tables hold them). */
    struct guest_mem probe;
    if (guest_mem_create(&probe, f->cfg.mem_size) < 0)
        goto bad;
    int same = probe.nranges == f->img.hdr.nranges;
    for (unsigned i = 0; same && i < probe.nranges; i++)
        same = probe.ranges[i].gpa == f->img.hdr.ranges[i].gpa && probe.ranges[i].size == f->img.hdr.ranges[i].size &&
               probe.ranges[i].offset == f->img.hdr.ranges[i].offset;
    guest_mem_destroy(&probe);
    if (!same) {
        err_set(EINVAL, "header at offset 0: the RAM layout differs from this monitor's for %llu bytes",
                (unsigned long long)f->cfg.mem_size);
        goto bad;
    }
    return 0;
bad:
    snap_file_close(f);
    err_wrap(EINVAL, "snapshot %s", path);
    return -1;
}

/* ---- applying ---------------------------------------------------------------------- */

static int set_msrs(struct vcpu *v, const struct snap_vcpu *s)
{
    struct kvm_msrs *m = calloc(1, sizeof(*m) + s->nmsrs * sizeof(struct kvm_msr_entry));
    if (!m)
        return err_set(ENOMEM, "out of memory");
    m->nmsrs = s->nmsrs;
    memcpy(m->entries, s->msrs, s->nmsrs * sizeof(struct kvm_msr_entry));
    int n = ioctl(v->fd, KVM_SET_MSRS, m);
    if (n != (int)s->nmsrs) {
        /* One at a time: some listed MSRs cannot be written back; skip those. */
        struct {
            struct kvm_msrs hdr;
            struct kvm_msr_entry e;
        } one;
        for (uint32_t i = 0; i < s->nmsrs; i++) {
            memset(&one, 0, sizeof(one));
            one.hdr.nmsrs = 1;
            one.e = s->msrs[i];
            if (ioctl(v->fd, KVM_SET_MSRS, &one) != 1)
                log_debug("vCPU %u: MSR 0x%x not restored", v->id, s->msrs[i].index);
        }
    }
    free(m);
    return 0;
}

static int restore_vcpu(struct vcpu *v, const struct snap_vcpu *s)
{
#define SET(req, p)                                                                                                    \
    if (ioctl(v->fd, req, p) < 0)                                                                                      \
        return err_set(errno, "vCPU %u: " #req ": %s", v->id, strerror(errno));
    SET(KVM_SET_REGS, &s->regs);
    SET(KVM_SET_FPU, &s->fpu);
    SET(KVM_SET_SREGS, &s->sregs);
    int r = set_msrs(v, s);
    if (r < 0)
        return r;
    SET(KVM_SET_MP_STATE, &s->mp_state);
    SET(KVM_SET_LAPIC, &s->lapic);
    struct kvm_vcpu_events ev = s->events;
    if (ioctl(v->fd, KVM_SET_VCPU_EVENTS, &ev) < 0) {
        ev.flags &= KVM_VCPUEVENT_VALID_NMI_PENDING | KVM_VCPUEVENT_VALID_SIPI_VECTOR | KVM_VCPUEVENT_VALID_SHADOW;
        SET(KVM_SET_VCPU_EVENTS, &ev);
    }
#undef SET
    return 0;
}

/* Loads checked sections (check_sections passed): the machine's, then every device's. */
static int apply_sections(struct vm *vm, const struct state_index *ix, const struct snap_section *sec, unsigned n,
                          enum dev_state_source src)
{
    struct snap_irqchip ic;
    memcpy(&ic, ix->one[SNAP_SEC_IRQCHIP]->data, sizeof(ic));
    for (unsigned c = 0; c < 3; c++) {
        ic.chip[c].chip_id = c; /* the file's or peer's ids are not trusted: chip c is what it is */
        if (ioctl(vm->vm_fd, KVM_SET_IRQCHIP, &ic.chip[c]) < 0)
            return err_set(errno, "KVM_SET_IRQCHIP %u: %s", c, strerror(errno));
    }
    struct kvm_pit_state2 pit;
    memcpy(&pit, ix->one[SNAP_SEC_PIT]->data, sizeof(pit));
    if (ioctl(vm->vm_fd, KVM_SET_PIT2, &pit) < 0)
        return err_set(errno, "KVM_SET_PIT2: %s", strerror(errno));

    struct snap_vcpu *sv = malloc(sizeof(*sv));
    if (!sv)
        return err_set(ENOMEM, "out of memory");
    int r = 0;
    for (unsigned i = 0; i < vm->nvcpus && !r; i++) {
        memcpy(sv, ix->vcpu[i]->data, sizeof(*sv));
        r = restore_vcpu(&vm->vcpus[i], sv);
    }
    free(sv);
    if (r < 0)
        return r;

    struct kvm_clock_data clk;
    memcpy(&clk, ix->one[SNAP_SEC_CLOCK]->data, sizeof(clk));
    struct kvm_clock_data set = {.clock = clk.clock};
    if (ioctl(vm->vm_fd, KVM_SET_CLOCK, &set) < 0)
        return err_set(errno, "KVM_SET_CLOCK: %s", strerror(errno));
    return dev_list_restore(&vm->devices, sec, n, src);
}

int vm_snapshot_apply_state(struct vm *vm, const struct snap_section *sec, unsigned n, enum dev_state_source src)
{
    const char *what = src == DEV_STATE_FILE ? "snapshot" : "migration state";
    int bad = src == DEV_STATE_FILE ? EINVAL : EPROTO;
    struct state_index ix;
    /* Everything is checked before anything is loaded. */
    int r = check_sections(sec, n, bad, &ix);
    if (!r)
        r = check_vm(vm, &ix, sec, n, bad);
    if (!r)
        r = apply_sections(vm, &ix, sec, n, src);
    return r < 0 ? err_wrap(-r, "%s", what) : 0;
}

/* ---- restoring --------------------------------------------------------------------- */

static void lazy_failed(void *opaque, const char *msg)
{
    vm_request_stop(opaque, VM_HOST_ERROR, "lazy restore: %s", msg);
}

/* Guest RAM from the file: lazily through userfaultfd (mem_populate.h), or copied now. */
static int restore_memory(struct vm *vm, const struct snap_file *f, int lazy)
{
    const struct snap_image *img = &f->img;
    if (lazy && vm->mem.fd >= 0) {
        /* Every page a hole, so that each first touch comes to the fault thread (the fresh
         * VM may have written tables into RAM; the file has the guest's own). Only the
         * extents that hold data: a punch over all of RAM costs KVM a walk of every slot. */
        off_t d = 0, h;
        while ((d = lseek(vm->mem.fd, d, SEEK_DATA)) >= 0 && (uint64_t)d < vm->mem.size) {
            h = lseek(vm->mem.fd, d, SEEK_HOLE);
            if (h < 0 || (uint64_t)h > vm->mem.size)
                h = (off_t)vm->mem.size;
            if (fallocate(vm->mem.fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, d, h - d) < 0)
                return err_set(errno, "lazy restore: emptying guest RAM: %s", strerror(errno));
            d = h;
        }
        if (mem_populate_start(&vm->mem.populate, vm->mem.host, vm->mem.size, vm->mem.fd, f->fd, img, lazy_failed,
                               vm) == 0)
            return 0;
        log_warn("%s; copying memory up front instead", err_msg());
    }
    /* Eager: each run read into guest RAM and its CRC checked there, on the bytes the guest
     * gets (not on an earlier read of a file that may have changed since). The vCPUs have
     * not run yet: a damaged run fails the restore before anything sees it. */
    return snap_load_memory(img, vm->mem.host) < 0 ? -1 : 0;
}

int vm_snapshot_adopt_cpu(struct vm *vm, const struct snap_file *f)
{
    const struct snap_image *img = &f->img;
    const struct snap_section *cs = snap_find(img, SNAP_SEC_CPU_FEATURES, 0);
    if (cs) {
        struct snap_cpu_features wire;
        struct cpu_features want;
        unsigned unknown;
        memcpy(&wire, cs->data, sizeof(wire)); /* snap_check_config checked the size */
        if (cpuf_from_wire(&wire, &want, &unknown) < 0)
            return err_wrap(EINVAL, "snapshot: cpu-features section at offset %llu", (unsigned long long)cs->offset);
        if (vm_cpu_adopt(vm, &want, unknown) < 0)
            return err_wrap(EOPNOTSUPP, "snapshot: refused");
    } else {
        log_warn("snapshot: the file predates the CPU feature record; the guest's features are not checked");
    }
    return 0;
}

int vm_snapshot_restore(struct vm *vm, const struct snap_file *f, int lazy)
{
    const struct snap_image *img = &f->img;
    if (vm->mem.size != img->hdr.ram_size)
        return err_set(EINVAL, "snapshot: RAM size differs from the VM's");
    if (restore_memory(vm, f, lazy) < 0)
        return -1;
    return vm_snapshot_apply_state(vm, img->sec, img->nsections, DEV_STATE_FILE);
}
