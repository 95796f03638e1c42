#include "vmm/migrate_state.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>

#include "lib/err.h"
#include "lib/log.h"
#include "vmm/snapshot_vm.h"
#include "vmm/virtio_balloon.h"

/* ---- encoding ----------------------------------------------------------------------- */

struct blob {
    uint8_t *p;
    size_t len, cap;
};

static int put_section(struct blob *b, uint32_t type, const void *data, size_t len)
{
    size_t need = b->len + sizeof(struct snap_section_hdr) + ((len + 7) & ~(size_t)7);
    if (need > b->cap) {
        size_t cap = b->cap ? b->cap : 65536;
        while (cap < need)
            cap *= 2;
        uint8_t *n = realloc(b->p, cap);
        if (!n)
            return err_set(ENOMEM, "migration state: out of memory");
        b->p = n;
        b->cap = cap;
    }
    struct snap_section_hdr h = {.type = type, .crc = snap_crc32(0, data, len), .length = len, .next = need};
    memcpy(b->p + b->len, &h, sizeof(h));
    memcpy(b->p + b->len + sizeof(h), data, len);
    memset(b->p + b->len + sizeof(h) + len, 0, need - b->len - sizeof(h) - len);
    b->len = need;
    return 0;
}

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

int mig_state_encode(struct vm *vm, uint8_t **out, size_t *out_len)
{
    struct blob b = {0};
    int r = 0;
    struct snap_vcpu *sv = malloc(sizeof(*sv));
    if (!sv)
        return err_set(ENOMEM, "out of memory");
    for (unsigned i = 0; !r && i < vm->nvcpus; i++) {
        r = save_vcpu(vm, &vm->vcpus[i], sv);
        if (!r)
            r = put_section(&b, SNAP_SEC_VCPU, sv, sizeof(*sv));
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
            r = put_section(&b, SNAP_SEC_IRQCHIP, &ic, sizeof(ic));
    }
    if (!r) {
        struct kvm_pit_state2 pit;
        memset(&pit, 0, sizeof(pit));
        if (ioctl(vm->vm_fd, KVM_GET_PIT2, &pit) < 0)
            r = err_set(errno, "KVM_GET_PIT2: %s", strerror(errno));
        else
            r = put_section(&b, SNAP_SEC_PIT, &pit, sizeof(pit));
    }
    if (!r) {
        struct kvm_clock_data clk;
        memset(&clk, 0, sizeof(clk));
        if (ioctl(vm->vm_fd, KVM_GET_CLOCK, &clk) < 0)
            r = err_set(errno, "KVM_GET_CLOCK: %s", strerror(errno));
        else
            r = put_section(&b, SNAP_SEC_CLOCK, &clk, sizeof(clk));
    }
    if (!r) {
        struct snap_uart s;
        struct uart *u = &vm->com1;
        memset(&s, 0, sizeof(s));
        pthread_mutex_lock(&u->lock);
        s.ier = u->ier, s.lcr = u->lcr, s.mcr = u->mcr, s.scr = u->scr;
        s.dll = u->dll, s.dlm = u->dlm, s.fcr = u->fcr;
        memcpy(s.rx, u->rx, sizeof(s.rx));
        s.rx_head = u->rx_head, s.rx_count = u->rx_count;
        s.thre_pending = u->thre_pending, s.rx_open = u->rx_open, s.irq_level = u->irq_level;
        pthread_mutex_unlock(&u->lock);
        r = put_section(&b, SNAP_SEC_UART, &s, sizeof(s));
    }
    if (!r) {
        struct snap_i8042 k;
        memset(&k, 0, sizeof(k));
        pthread_mutex_lock(&vm->i8042.lock);
        k.ctr = vm->i8042.ctr, k.out = vm->i8042.out, k.pending = vm->i8042.pending, k.out_full = vm->i8042.out_full;
        pthread_mutex_unlock(&vm->i8042.lock);
        r = put_section(&b, SNAP_SEC_I8042, &k, sizeof(k));
    }
    if (!r) {
        struct snap_power_req p;
        memset(&p, 0, sizeof(p));
        pthread_mutex_lock(&vm->power_req.lock);
        p.pending = vm->power_req.pending;
        pthread_mutex_unlock(&vm->power_req.lock);
        r = put_section(&b, SNAP_SEC_POWER_REQ, &p, sizeof(p));
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
            s.balloon_num_pages = vm->vballoon->st.num_pages;
            s.balloon_actual = vm->vballoon->st.actual;
            virtio_dev_unlock(vd);
        }
        r = put_section(&b, SNAP_SEC_VIRTIO, &s, sizeof(s));
    }
    if (r) {
        free(b.p);
        return r;
    }
    *out = b.p;
    *out_len = b.len;
    return 0;
}

/* ---- checking and applying ------------------------------------------------------------ */

#define MAX_STATE_SECTIONS (VM_MAX_VCPUS + 8 + VIRTIO_MAX_DEVS)

struct parsed {
    unsigned n;
    struct {
        uint32_t type;
        const uint8_t *data;
        uint64_t len, off;
    } s[MAX_STATE_SECTIONS];
};

static const uint8_t *find(const struct parsed *p, uint32_t type, unsigned index)
{
    for (unsigned i = 0; i < p->n; i++)
        if (p->s[i].type == type && index-- == 0)
            return p->s[i].data;
    return NULL;
}

static size_t expected_size(uint32_t type)
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

static int parse(struct vm *vm, const uint8_t *buf, size_t len, struct parsed *p)
{
    uint64_t off = 0;
    unsigned count[SNAP_SEC_MAX] = {0};
    p->n = 0;
    while (off < len) {
        struct snap_section_hdr h;
        if (len - off < sizeof(h))
            return err_set(EPROTO, "migration state: truncated section header at offset %llu", (unsigned long long)off);
        memcpy(&h, buf + off, sizeof(h));
        size_t want = h.type < SNAP_SEC_MAX ? expected_size(h.type) : 0;
        if (!want)
            return err_set(EPROTO, "migration state: section type %u at offset %llu is not a state section", h.type,
                           (unsigned long long)off);
        if (h.length != want)
            return err_set(EPROTO, "migration state: %s section at offset %llu holds %llu bytes, this monitor expects %zu",
                           snap_section_name(h.type), (unsigned long long)off, (unsigned long long)h.length, want);
        uint64_t end = off + sizeof(h) + ((h.length + 7) & ~7ULL);
        if (end > len || h.next != end)
            return err_set(EPROTO, "migration state: %s section at offset %llu runs past the end or is misframed",
                           snap_section_name(h.type), (unsigned long long)off);
        if (snap_crc32(0, buf + off + sizeof(h), h.length) != h.crc)
            return err_set(EPROTO, "migration state: %s section at offset %llu: checksum mismatch",
                           snap_section_name(h.type), (unsigned long long)off);
        if (p->n == MAX_STATE_SECTIONS)
            return err_set(EPROTO, "migration state: more than %d sections", MAX_STATE_SECTIONS);
        p->s[p->n].type = h.type;
        p->s[p->n].data = buf + off + sizeof(h);
        p->s[p->n].len = h.length;
        p->s[p->n].off = off;
        p->n++;
        count[h.type]++;
        off = end;
    }
    static const uint32_t once[] = {SNAP_SEC_IRQCHIP, SNAP_SEC_PIT,   SNAP_SEC_CLOCK,
                                    SNAP_SEC_UART,    SNAP_SEC_I8042, SNAP_SEC_POWER_REQ};
    for (unsigned i = 0; i < sizeof(once) / sizeof(once[0]); i++)
        if (count[once[i]] != 1)
            return err_set(EPROTO, "migration state: %u %s sections, expected 1", count[once[i]],
                           snap_section_name(once[i]));
    if (count[SNAP_SEC_VCPU] != vm->nvcpus)
        return err_set(EPROTO, "migration state: %u vcpu sections for %u vCPUs", count[SNAP_SEC_VCPU], vm->nvcpus);
    for (unsigned i = 0; i < vm->nvcpus; i++) {
        struct snap_vcpu v;
        memcpy(&v, find(p, SNAP_SEC_VCPU, i), offsetof(struct snap_vcpu, regs));
        if (v.id != i || v.nmsrs > SNAP_MAX_MSRS)
            return err_set(EPROTO, "migration state: vcpu section %u: vCPU %u with %u MSRs", i, v.id, v.nmsrs);
    }
    if (count[SNAP_SEC_VIRTIO] != vm->virtio.ndevs)
        return err_set(EPROTO, "migration state: %u virtio sections for %u devices", count[SNAP_SEC_VIRTIO],
                       vm->virtio.ndevs);
    for (unsigned i = 0; i < vm->virtio.ndevs; i++) {
        struct snap_virtio v;
        memcpy(&v, find(p, SNAP_SEC_VIRTIO, i), sizeof(v));
        if (v.index != i || v.device_id != vm->virtio.devs[i]->info.device_id)
            return err_set(EPROTO, "migration state: virtio section %u: device %u with id %u, this machine's is id %u",
                           i, v.index, v.device_id, vm->virtio.devs[i]->info.device_id);
    }
    return 0;
}

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
    if (set_msrs(v, s) < 0)
        return -ENOMEM;
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

int mig_state_apply(struct vm *vm, const uint8_t *buf, size_t len)
{
    struct parsed *p = malloc(sizeof(*p));
    if (!p)
        return err_set(ENOMEM, "out of memory");
    int r = parse(vm, buf, len, p);
    if (r < 0)
        goto out;

    struct snap_irqchip ic;
    memcpy(&ic, find(p, SNAP_SEC_IRQCHIP, 0), sizeof(ic));
    for (unsigned c = 0; c < 3; c++) {
        ic.chip[c].chip_id = c; /* the peer's ids are not trusted: chip c is what it is */
        if (ioctl(vm->vm_fd, KVM_SET_IRQCHIP, &ic.chip[c]) < 0) {
            r = err_set(errno, "KVM_SET_IRQCHIP %u: %s", c, strerror(errno));
            goto out;
        }
    }
    struct kvm_pit_state2 pit;
    memcpy(&pit, find(p, SNAP_SEC_PIT, 0), sizeof(pit));
    if (ioctl(vm->vm_fd, KVM_SET_PIT2, &pit) < 0) {
        r = err_set(errno, "KVM_SET_PIT2: %s", strerror(errno));
        goto out;
    }
    struct snap_vcpu *sv = malloc(sizeof(*sv));
    if (!sv) {
        r = err_set(ENOMEM, "out of memory");
        goto out;
    }
    for (unsigned i = 0; i < vm->nvcpus && !r; i++) {
        memcpy(sv, find(p, SNAP_SEC_VCPU, i), sizeof(*sv));
        r = restore_vcpu(&vm->vcpus[i], sv);
    }
    free(sv);
    if (r < 0)
        goto out;

    struct kvm_clock_data clk;
    memcpy(&clk, find(p, SNAP_SEC_CLOCK, 0), sizeof(clk));
    struct kvm_clock_data set = {.clock = clk.clock};
    if (ioctl(vm->vm_fd, KVM_SET_CLOCK, &set) < 0) {
        r = err_set(errno, "KVM_SET_CLOCK: %s", strerror(errno));
        goto out;
    }

    struct snap_uart su;
    memcpy(&su, find(p, SNAP_SEC_UART, 0), sizeof(su));
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
    memcpy(&k, find(p, SNAP_SEC_I8042, 0), sizeof(k));
    pthread_mutex_lock(&vm->i8042.lock);
    vm->i8042.ctr = k.ctr, vm->i8042.out = k.out, vm->i8042.pending = k.pending, vm->i8042.out_full = k.out_full != 0;
    pthread_mutex_unlock(&vm->i8042.lock);

    for (unsigned i = 0; i < vm->virtio.ndevs && !r; i++) {
        struct snap_virtio v;
        memcpy(&v, find(p, SNAP_SEC_VIRTIO, i), sizeof(v));
        struct virtio_dev *vd = vm->virtio.devs[i];
        if (vm->vballoon && vm->vballoon->dev == vd) {
            virtio_dev_lock(vd);
            vm->vballoon->st.num_pages = v.balloon_num_pages;
            vm->vballoon->st.actual = v.balloon_actual;
            virtio_dev_unlock(vd);
        }
        if (virtio_dev_restore(vd, &v.t) < 0)
            r = err_set(EPROTO, "migration state: virtio device %u: %s", i, err_msg());
    }
    if (r < 0)
        goto out;

    struct snap_power_req pr;
    memcpy(&pr, find(p, SNAP_SEC_POWER_REQ, 0), sizeof(pr));
    pthread_mutex_lock(&vm->power_req.lock);
    vm->power_req.pending = pr.pending;
    pthread_mutex_unlock(&vm->power_req.lock);
out:
    free(p);
    return r;
}
