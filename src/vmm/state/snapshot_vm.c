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
#include "lib/log.h"
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

static void save_uart(struct uart *u, struct snap_uart *s)
{
    memset(s, 0, sizeof(*s));
    pthread_mutex_lock(&u->lock);
    s->ier = u->ier, s->lcr = u->lcr, s->mcr = u->mcr, s->scr = u->scr;
    s->dll = u->dll, s->dlm = u->dlm, s->fcr = u->fcr;
    memcpy(s->rx, u->rx, sizeof(s->rx));
    s->rx_head = u->rx_head, s->rx_count = u->rx_count;
    s->thre_pending = u->thre_pending, s->rx_open = u->rx_open, s->irq_level = u->irq_level;
    pthread_mutex_unlock(&u->lock);
}

/* Every payload is zeroed before it is filled, padding included: the bytes are CRC'd and
 * stored or sent, so they must not depend on what the stack held. */
int vm_snapshot_write_state(struct vm *vm, const uint32_t *balloon_target, snap_put_fn put, void *opaque)
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
    if (!r) {
        struct snap_uart u;
        save_uart(&vm->com1, &u);
        r = put(opaque, SNAP_SEC_UART, &u, sizeof(u));
    }
    if (!r) {
        struct snap_i8042 k;
        memset(&k, 0, sizeof(k));
        pthread_mutex_lock(&vm->i8042.lock);
        k.ctr = vm->i8042.ctr, k.out = vm->i8042.out, k.pending = vm->i8042.pending, k.out_full = vm->i8042.out_full;
        pthread_mutex_unlock(&vm->i8042.lock);
        r = put(opaque, SNAP_SEC_I8042, &k, sizeof(k));
    }
    if (!r) {
        struct snap_power_req p;
        memset(&p, 0, sizeof(p));
        pthread_mutex_lock(&vm->power_req.lock);
        p.pending = vm->power_req.pending;
        pthread_mutex_unlock(&vm->power_req.lock);
        r = put(opaque, SNAP_SEC_POWER_REQ, &p, sizeof(p));
    }
    for (unsigned i = 0; !r && i < vm->virtio.ndevs; i++) {
        struct virtio_dev *vd = vm->virtio.devs[i];
        struct snap_virtio s;
        memset(&s, 0, sizeof(s));
        s.index = i;
        s.device_id = vd->info.device_id;
        virtio_dev_save(vd, &s.t);
        if (vm->vballoon && vm->vballoon->dev == vd) {
            virtio_dev_lock(vd);
            s.balloon_num_pages = balloon_target ? *balloon_target : vm->vballoon->st.num_pages;
            s.balloon_actual = vm->vballoon->st.actual;
            virtio_dev_unlock(vd);
        }
        r = put(opaque, SNAP_SEC_VIRTIO, &s, sizeof(s));
    }
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
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0)
        return err_set(errno, "%s: %s", tmp, strerror(errno));
    struct snap_writer w;
    int r = snap_writer_open(&w, fd, &h);
    if (!r)
        r = snap_write_section(&w, SNAP_SEC_CONFIG, cfg, sizeof(*cfg));
    if (!r)
        r = vm_snapshot_write_state(vm, ds->balloon_target_set ? &ds->balloon_target : NULL, put_file, &w);
    if (!r && ds->domain_xml)
        r = snap_write_section(&w, SNAP_SEC_DOMAIN_XML, ds->domain_xml, ds->domain_xml_len);
    if (!r && ds->mem_target)
        r = snap_write_section(&w, SNAP_SEC_MEM_TARGET, ds->mem_target, sizeof(*ds->mem_target));
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
    *bytes = w.bytes;
    *pages = w.pages;
    return 0;
}

/* ---- checking state sections ------------------------------------------------------- */

size_t snap_state_size(uint32_t type)
{
    switch (type) {
    case SNAP_SEC_VCPU: return sizeof(struct snap_vcpu);
    case SNAP_SEC_IRQCHIP: return sizeof(struct snap_irqchip);
    case SNAP_SEC_PIT: return sizeof(struct kvm_pit_state2);
    case SNAP_SEC_CLOCK: return sizeof(struct kvm_clock_data);
    case SNAP_SEC_UART: return sizeof(struct snap_uart);
    case SNAP_SEC_I8042: return sizeof(struct snap_i8042);
    case SNAP_SEC_POWER_REQ: return sizeof(struct snap_power_req);
    case SNAP_SEC_VIRTIO: return sizeof(struct snap_virtio);
    default: return 0;
    }
}

/* The state sections of a set, by role, once check_sections() passed. */
struct state_index {
    unsigned nvcpus, nvirtio;
    const struct snap_section *vcpu[VM_MAX_VCPUS], *virtio[VIRTIO_MAX_DEVS];
    const struct snap_section *one[SNAP_SEC_MAX]; /* irqchip, pit, clock, uart, i8042, power-request */
    unsigned count[SNAP_SEC_MAX];
};

/* What a set of sections must hold whatever VM it goes into: every state section of exactly
 * its size, vcpu sections with ids 0, 1, ... in order (at most VM_MAX_VCPUS) and a bounded
 * MSR count, virtio sections with indexes 0, 1, ... in order (at most VIRTIO_MAX_DEVS), exactly
 * one of each other state section. Sections of other types are left to the caller (a file's
 * config, memory, domain-xml and mem-target are checked by snap_parse and snap_check_config).
 * 0, or -bad with err_set() naming the section and offset. */
static int check_sections(const struct snap_section *sec, unsigned n, int bad, struct state_index *ix)
{
    memset(ix, 0, sizeof(*ix));
    for (unsigned i = 0; i < n; i++) {
        const struct snap_section *s = &sec[i];
        size_t want = snap_state_size(s->type);
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
                return err_set(bad, "vcpu section at offset %llu: vCPU %u with %u MSRs, expected vCPU %u (at most %d) "
                               "with at most %d", (unsigned long long)s->offset, v.id, v.nmsrs, ix->nvcpus,
                               VM_MAX_VCPUS, SNAP_MAX_MSRS);
            ix->vcpu[ix->nvcpus++] = s;
        } else if (s->type == SNAP_SEC_VIRTIO) {
            struct snap_virtio v;
            memcpy(&v, s->data, sizeof(v));
            if (ix->nvirtio == VIRTIO_MAX_DEVS || v.index != ix->nvirtio)
                return err_set(bad, "virtio section at offset %llu: device %u, expected %u (at most %d)",
                               (unsigned long long)s->offset, v.index, ix->nvirtio, VIRTIO_MAX_DEVS);
            ix->virtio[ix->nvirtio++] = s;
        } else {
            ix->one[s->type] = s;
        }
        ix->count[s->type]++;
    }
    static const uint32_t once[] = {SNAP_SEC_IRQCHIP, SNAP_SEC_PIT,   SNAP_SEC_CLOCK,
                                    SNAP_SEC_UART,    SNAP_SEC_I8042, SNAP_SEC_POWER_REQ};
    for (unsigned i = 0; i < sizeof(once) / sizeof(once[0]); i++)
        if (ix->count[once[i]] != 1)
            return err_set(bad, "%u %s sections, expected 1", ix->count[once[i]], snap_section_name(once[i]));
    return 0;
}

/* What the sections must match in this VM: one vcpu section per vCPU, one virtio section
 * per device with the same device id. */
static int check_vm(const struct vm *vm, const struct state_index *ix, int bad)
{
    if (ix->nvcpus != vm->nvcpus)
        return err_set(bad, "%u vcpu sections for %u vCPUs", ix->nvcpus, vm->nvcpus);
    if (ix->nvirtio != vm->virtio.ndevs)
        return err_set(bad, "%u virtio sections for %u devices", ix->nvirtio, vm->virtio.ndevs);
    for (unsigned i = 0; i < ix->nvirtio; i++) {
        struct snap_virtio v;
        memcpy(&v, ix->virtio[i]->data, sizeof(v));
        if (v.device_id != vm->virtio.devs[i]->info.device_id)
            return err_set(bad, "virtio section at offset %llu: device %u with id %u, this machine's is id %u",
                           (unsigned long long)ix->virtio[i]->offset, i, v.device_id,
                           vm->virtio.devs[i]->info.device_id);
    }
    return 0;
}

/* ---- opening ----------------------------------------------------------------------- */

_Static_assert(VM_MAX_VCPUS <= SNAP_MAX_VCPUS, "the format must hold every vCPU the monitor runs");

int snap_file_open(struct snap_file *f, const char *path, unsigned parse_flags)
{
    if (snap_file_map(f, path, parse_flags) < 0)
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
    char msg[900];
    snprintf(msg, sizeof(msg), "%s", err_msg());
    err_set(EINVAL, "snapshot %s: %s", path, msg);
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

/* Loads checked sections (check_sections and check_vm passed). */
static int apply_sections(struct vm *vm, const struct state_index *ix, enum snap_state_source src, const char *what,
                          int bad)
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

    /* Indexes and counts are bounded, flags made 0 or 1: the device code relies on both. */
    struct snap_uart su;
    memcpy(&su, ix->one[SNAP_SEC_UART]->data, sizeof(su));
    struct uart *u = &vm->com1;
    pthread_mutex_lock(&u->lock);
    u->ier = su.ier, u->lcr = su.lcr, u->mcr = su.mcr, u->scr = su.scr;
    u->dll = su.dll, u->dlm = su.dlm, u->fcr = su.fcr;
    memcpy(u->rx, su.rx, sizeof(u->rx));
    u->rx_head = su.rx_head % UART_FIFO_SIZE;
    u->rx_count = su.rx_count <= UART_FIFO_SIZE ? su.rx_count : UART_FIFO_SIZE;
    u->thre_pending = su.thre_pending != 0, u->rx_open = su.rx_open != 0, u->irq_level = su.irq_level != 0;
    pthread_mutex_unlock(&u->lock);

    struct snap_i8042 k;
    memcpy(&k, ix->one[SNAP_SEC_I8042]->data, sizeof(k));
    pthread_mutex_lock(&vm->i8042.lock);
    vm->i8042.ctr = k.ctr, vm->i8042.out = k.out, vm->i8042.pending = k.pending, vm->i8042.out_full = k.out_full != 0;
    pthread_mutex_unlock(&vm->i8042.lock);

    for (unsigned i = 0; i < vm->virtio.ndevs; i++) {
        struct snap_virtio v;
        memcpy(&v, ix->virtio[i]->data, sizeof(v));
        struct virtio_dev *vd = vm->virtio.devs[i];
        int balloon = vm->vballoon && vm->vballoon->dev == vd;
        /* A file's target may not be the device's (save ... shrink records the one from
         * before the shrink): the device starts at what the guest reached and is asked for
         * the target below. A peer sends the device's registers as they were. */
        if (balloon) {
            virtio_dev_lock(vd);
            vm->vballoon->st.num_pages = src == SNAP_STATE_FILE ? v.balloon_actual : v.balloon_num_pages;
            vm->vballoon->st.actual = v.balloon_actual;
            virtio_dev_unlock(vd);
        }
        if (virtio_dev_restore(vd, &v.t) < 0) {
            char msg[900];
            snprintf(msg, sizeof(msg), "%s", err_msg());
            return err_set(bad, "%s: virtio device %u: %s", what, i, msg);
        }
        /* A target the guest had not reached (or the one from before a `save ... shrink`):
         * set with a configuration interrupt, so the guest acts on it after the resume. */
        if (src == SNAP_STATE_FILE && balloon && v.balloon_num_pages != v.balloon_actual)
            virtio_balloon_set_target(vm->vballoon, v.balloon_num_pages);
    }

    struct snap_power_req p;
    memcpy(&p, ix->one[SNAP_SEC_POWER_REQ]->data, sizeof(p));
    pthread_mutex_lock(&vm->power_req.lock);
    vm->power_req.pending = p.pending;
    pthread_mutex_unlock(&vm->power_req.lock);
    return 0;
}

int vm_snapshot_apply_state(struct vm *vm, const struct snap_section *sec, unsigned n, enum snap_state_source src)
{
    const char *what = src == SNAP_STATE_FILE ? "snapshot" : "migration state";
    int bad = src == SNAP_STATE_FILE ? EINVAL : EPROTO;
    struct state_index ix;
    /* Everything is checked before anything is loaded. */
    int r = check_sections(sec, n, bad, &ix);
    if (!r)
        r = check_vm(vm, &ix, bad);
    if (r < 0) {
        char msg[900];
        snprintf(msg, sizeof(msg), "%s", err_msg());
        return err_set(bad, "%s: %s", what, msg);
    }
    return apply_sections(vm, &ix, src, what, bad);
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
    /* Eager: every run's CRC first (a lazy parse left them), so nothing damaged gets in. */
    for (uint64_t i = 0; i < img->nruns; i++)
        if (snap_run_check(img, i) < 0)
            return -1;
    snap_load_memory(img, vm->mem.host);
    return 0;
}

int vm_snapshot_restore(struct vm *vm, const struct snap_file *f, int lazy)
{
    const struct snap_image *img = &f->img;
    if (vm->mem.size != img->hdr.ram_size)
        return err_set(EINVAL, "snapshot: RAM size differs from the VM's");
    if (restore_memory(vm, f, lazy) < 0)
        return -1;
    return vm_snapshot_apply_state(vm, img->sec, img->nsections, SNAP_STATE_FILE);
}
