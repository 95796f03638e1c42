/* virtio-mmio transport, version 2 (modern only), and the VM's virtio service thread.
 * The API, the notification path and the reasons for a device thread are in
 * virtio_mmio.h. */
#include "vmm/virtio/virtio_mmio.h"
#include "vmm/core/thread_kind.h"

#include <errno.h>
#include <linux/kvm.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "lib/err.h"
#include "lib/log.h"
#include "lib/thread_stack.h"

/* Transport features every device offers. */
#define TRANSPORT_FEATURES                                                                                             \
    ((1ULL << VIRTIO_F_VERSION_1) | (1ULL << VIRTIO_F_INDIRECT_DESC) | (1ULL << VIRTIO_F_EVENT_IDX))

/* What a device offers: its own bits and the transport's. A device whose queues run in
 * another process (external_queues) offers VERSION_1 alone: the backend that connects later
 * cannot be asked first, and vhost-user backends need not implement indirect descriptors
 * or the event index (xeno-netback does not). */
static uint64_t offered_features(const struct virtio_dev *d)
{
    return d->info.features | (d->info.external_queues ? (1ULL << VIRTIO_F_VERSION_1) : TRANSPORT_FEATURES);
}

/* A hostile guest can break and reset a device in a loop: the first failures are all
 * logged, then one in LOG_EVERY. */
#define LOG_FIRST 64
#define LOG_EVERY 1000

static void queue_error(void *opaque, struct virtq *vq, const char *msg)
{
    virtio_dev_fail(opaque, vq, "%s", msg);
}

void virtio_dev_lock(struct virtio_dev *d)
{
    pthread_mutex_lock(&d->lock);
}

void virtio_dev_unlock(struct virtio_dev *d)
{
    pthread_mutex_unlock(&d->lock);
}

bool virtio_dev_running(const struct virtio_dev *d)
{
    return (d->status & VIRTIO_STATUS_DRIVER_OK) && !d->broken;
}

bool virtio_dev_has_feature(const struct virtio_dev *d, unsigned bit)
{
    return bit < 64 && (d->features >> bit) & 1;
}

/* An edge on the device's GSI. With an irqfd KVM does it in the kernel; the fallbacks are
 * KVM_IRQ_LINE (irqfd unavailable) and the bare eventfd (unit tests count its writes). */
static void raise_irq(struct virtio_dev *d, uint32_t why)
{
    d->isr |= why;
    __atomic_add_fetch(&d->interrupts, 1, __ATOMIC_RELAXED);
    if (!d->irq_registered && d->host && d->host->vm_fd >= 0) {
        struct kvm_irq_level irq = {.irq = d->gsi, .level = 1};
        if (ioctl(d->host->vm_fd, KVM_IRQ_LINE, &irq) < 0)
            log_warn("%s: interrupt line: %s", d->info.name, strerror(errno));
        irq.level = 0;
        ioctl(d->host->vm_fd, KVM_IRQ_LINE, &irq);
        return;
    }
    uint64_t one = 1;
    if (d->irq_fd >= 0 && write(d->irq_fd, &one, sizeof(one)) < 0 && errno != EAGAIN)
        log_warn("%s: interrupt: %s", d->info.name, strerror(errno));
}

void virtio_notify(struct virtio_dev *d, struct virtq *vq)
{
    if (virtq_should_notify(vq))
        raise_irq(d, VIRTIO_INT_USED);
}

void virtio_config_changed(struct virtio_dev *d)
{
    d->config_gen++;
    raise_irq(d, VIRTIO_INT_CONFIG);
}

void virtio_dev_fail(struct virtio_dev *d, struct virtq *vq, const char *fmt, ...)
{
    char msg[256];
    va_list ap;
    if (d->broken)
        return;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    d->broken = true;
    d->status |= VIRTIO_STATUS_NEEDS_RESET;
    uint64_t n = __atomic_add_fetch(&d->errors, 1, __ATOMIC_RELAXED);
    if (d->host)
        __atomic_add_fetch(&d->host->errors, 1, __ATOMIC_RELAXED);
    /* Stop every queue: the device does nothing more until the driver resets it. */
    for (unsigned q = 0; q < d->info.nqueues; q++) {
        d->vq[q].broken = true;
        d->vq[q].ready = false;
    }
    if (n <= LOG_FIRST || n % LOG_EVERY == 0) {
        if (vq)
            log_warn("%s: queue %u: %s; device needs reset (error %llu)", d->info.name, vq->index, msg,
                     (unsigned long long)n);
        else
            log_warn("%s: %s; device needs reset (error %llu)", d->info.name, msg, (unsigned long long)n);
    }
    if (n == LOG_FIRST)
        log_warn("%s: further errors are logged one in %d", d->info.name, LOG_EVERY);
    virtio_config_changed(d);
}

/* Status 0 (or destroy): everything the driver set up is forgotten. */
static void dev_reset(struct virtio_dev *d)
{
    d->status = 0;
    d->isr = 0;
    d->dev_features_sel = d->drv_features_sel = d->queue_sel = 0;
    d->driver_features = d->features = 0;
    d->broken = false;
    memset(d->qregs, 0, sizeof(d->qregs));
    for (unsigned q = 0; q < VIRTIO_MAX_QUEUES; q++)
        virtq_reset(&d->vq[q]);
    if (d->info.ops && d->info.ops->reset)
        d->info.ops->reset(d);
}

/* Runs the device for queue q, if it may run (lock held). */
static void service_queue(struct virtio_dev *d, unsigned q)
{
    __atomic_add_fetch(&d->notifies, 1, __ATOMIC_RELAXED);
    if (q >= d->info.nqueues || !virtio_dev_running(d) || !d->vq[q].ready)
        return;
    if (d->info.ops && d->info.ops->queue_notify)
        d->info.ops->queue_notify(d, &d->vq[q]);
}

static void write_status(struct virtio_dev *d, uint32_t v)
{
    if (v == 0) {
        dev_reset(d);
        return;
    }
    uint32_t old = d->status;
    v &= 0xff & ~VIRTIO_STATUS_NEEDS_RESET; /* NEEDS_RESET is the device's to set */
    if ((v & VIRTIO_STATUS_FEATURES_OK) && !(old & VIRTIO_STATUS_FEATURES_OK)) {
        uint64_t offered = offered_features(d);
        if (!(d->driver_features & (1ULL << VIRTIO_F_VERSION_1))) {
            log_info("%s: driver did not accept VIRTIO_F_VERSION_1 (legacy drivers are not supported); "
                     "FEATURES_OK refused",
                     d->info.name);
            v &= ~VIRTIO_STATUS_FEATURES_OK;
        } else if (d->driver_features & ~offered) {
            log_info("%s: driver accepted features 0x%llx that were not offered; FEATURES_OK refused", d->info.name,
                     (unsigned long long)(d->driver_features & ~offered));
            v &= ~VIRTIO_STATUS_FEATURES_OK;
        } else {
            d->features = d->driver_features;
        }
    }
    d->status = v | (old & VIRTIO_STATUS_NEEDS_RESET);
    if ((v & VIRTIO_STATUS_DRIVER_OK) && !(old & VIRTIO_STATUS_DRIVER_OK) && !d->broken) {
        if (d->info.ops && d->info.ops->driver_ok)
            d->info.ops->driver_ok(d);
        /* Buffers made available before DRIVER_OK were not serviced: do it now. */
        for (unsigned q = 0; q < d->info.nqueues; q++)
            if (virtq_has_avail(&d->vq[q]))
                service_queue(d, q);
    }
}

static void queue_ready(struct virtio_dev *d, unsigned q, uint32_t v)
{
    struct virtio_queue_regs *r = &d->qregs[q];
    if (!v) {
        r->ready = 0;
        if (!d->vq[q].broken)
            virtq_reset(&d->vq[q]);
        return;
    }
    if (r->ready || d->broken)
        return;
    if (!(d->status & VIRTIO_STATUS_FEATURES_OK)) {
        virtio_dev_fail(d, &d->vq[q], "QueueReady before FEATURES_OK");
        return;
    }
    if (r->num > d->info.queue_max) {
        virtio_dev_fail(d, &d->vq[q], "queue size %u is larger than QueueNumMax %u", r->num, d->info.queue_max);
        return;
    }
    if (virtq_setup(&d->vq[q], r->num, d->info.queue_max, r->desc, r->driver, r->device,
                    virtio_dev_has_feature(d, VIRTIO_F_INDIRECT_DESC),
                    virtio_dev_has_feature(d, VIRTIO_F_EVENT_IDX)) == 0)
        r->ready = 1;
}

static uint32_t read_reg(struct virtio_dev *d, uint64_t off)
{
    unsigned q = d->queue_sel;
    switch (off) {
    case VIRTIO_MMIO_MAGIC_VALUE: return VIRTIO_MMIO_MAGIC;
    case VIRTIO_MMIO_VERSION_REG: return VIRTIO_MMIO_VERSION;
    case VIRTIO_MMIO_DEVICE_ID: return d->info.device_id;
    case VIRTIO_MMIO_VENDOR_ID: return VIRTIO_MMIO_VENDOR;
    case VIRTIO_MMIO_DEVICE_FEATURES: {
        uint64_t f = offered_features(d);
        return d->dev_features_sel == 0 ? (uint32_t)f : d->dev_features_sel == 1 ? (uint32_t)(f >> 32) : 0;
    }
    case VIRTIO_MMIO_QUEUE_NUM_MAX: return q < d->info.nqueues ? d->info.queue_max : 0;
    case VIRTIO_MMIO_QUEUE_NUM: return q < d->info.nqueues ? d->qregs[q].num : 0;
    case VIRTIO_MMIO_QUEUE_READY: return q < d->info.nqueues ? d->qregs[q].ready : 0;
    case VIRTIO_MMIO_INTERRUPT_STATUS: return d->isr | (d->info.external_queues ? VIRTIO_INT_USED : 0);
    case VIRTIO_MMIO_STATUS: return d->status;
    case VIRTIO_MMIO_CONFIG_GENERATION: return d->config_gen;
    case VIRTIO_MMIO_QUEUE_DESC_LOW: return q < d->info.nqueues ? (uint32_t)d->qregs[q].desc : 0;
    case VIRTIO_MMIO_QUEUE_DESC_HIGH: return q < d->info.nqueues ? (uint32_t)(d->qregs[q].desc >> 32) : 0;
    case VIRTIO_MMIO_QUEUE_DRIVER_LOW: return q < d->info.nqueues ? (uint32_t)d->qregs[q].driver : 0;
    case VIRTIO_MMIO_QUEUE_DRIVER_HIGH: return q < d->info.nqueues ? (uint32_t)(d->qregs[q].driver >> 32) : 0;
    case VIRTIO_MMIO_QUEUE_DEVICE_LOW: return q < d->info.nqueues ? (uint32_t)d->qregs[q].device : 0;
    case VIRTIO_MMIO_QUEUE_DEVICE_HIGH: return q < d->info.nqueues ? (uint32_t)(d->qregs[q].device >> 32) : 0;
    case 0xb0: /* SHMLenLow/High: no shared memory regions (reads ~0 per the spec) */
    case 0xb4: return 0xffffffff;
    default: return 0;
    }
}

static void set_half(uint64_t *v, int high, uint32_t x)
{
    *v = high ? (*v & 0xffffffffULL) | ((uint64_t)x << 32) : (*v & ~0xffffffffULL) | x;
}

static void write_reg(struct virtio_dev *d, uint64_t off, uint32_t v)
{
    unsigned q = d->queue_sel;
    /* The queue's registers may change only while it is not ready (4.2.2.2). */
    struct virtio_queue_regs *r = q < d->info.nqueues && !d->qregs[q].ready ? &d->qregs[q] : NULL;
    switch (off) {
    case VIRTIO_MMIO_DEVICE_FEATURES_SEL: d->dev_features_sel = v; break;
    case VIRTIO_MMIO_DRIVER_FEATURES:
        if ((d->status & VIRTIO_STATUS_FEATURES_OK) || d->drv_features_sel > 1)
            break;
        set_half(&d->driver_features, d->drv_features_sel == 1, v);
        break;
    case VIRTIO_MMIO_DRIVER_FEATURES_SEL: d->drv_features_sel = v; break;
    case VIRTIO_MMIO_QUEUE_SEL: d->queue_sel = v; break;
    case VIRTIO_MMIO_QUEUE_NUM:
        if (r)
            r->num = v > 0xffff ? 0xffff : (uint16_t)v; /* QueueReady rejects anything over the max */
        break;
    case VIRTIO_MMIO_QUEUE_READY:
        if (q < d->info.nqueues)
            queue_ready(d, q, v);
        break;
    case VIRTIO_MMIO_QUEUE_NOTIFY:
        /* Only reached when no ioeventfd took the write. */
        if (v < d->info.nqueues)
            service_queue(d, v);
        break;
    case VIRTIO_MMIO_INTERRUPT_ACK: d->isr &= ~v; break;
    case VIRTIO_MMIO_STATUS: write_status(d, v); break;
    case VIRTIO_MMIO_QUEUE_DESC_LOW:
    case VIRTIO_MMIO_QUEUE_DESC_HIGH:
        if (r)
            set_half(&r->desc, off == VIRTIO_MMIO_QUEUE_DESC_HIGH, v);
        break;
    case VIRTIO_MMIO_QUEUE_DRIVER_LOW:
    case VIRTIO_MMIO_QUEUE_DRIVER_HIGH:
        if (r)
            set_half(&r->driver, off == VIRTIO_MMIO_QUEUE_DRIVER_HIGH, v);
        break;
    case VIRTIO_MMIO_QUEUE_DEVICE_LOW:
    case VIRTIO_MMIO_QUEUE_DEVICE_HIGH:
        if (r)
            set_half(&r->device, off == VIRTIO_MMIO_QUEUE_DEVICE_HIGH, v);
        break;
    default: break; /* read-only or unknown: ignored */
    }
}

void virtio_mmio_io(void *opaque, uint64_t offset, int is_write, uint8_t *data, unsigned size)
{
    struct virtio_dev *d = opaque;
    pthread_mutex_lock(&d->lock);
    if (offset >= VIRTIO_MMIO_CONFIG) {
        uint64_t off = offset - VIRTIO_MMIO_CONFIG;
        bool ok =
            (size == 1 || size == 2 || size == 4) && off < d->info.config_size && size <= d->info.config_size - off;
        if (is_write) {
            if (ok && d->info.ops && d->info.ops->config_write)
                d->info.ops->config_write(d, (uint32_t)off, data, size);
        } else {
            memset(data, 0, size);
            if (ok && d->info.ops && d->info.ops->config_read)
                d->info.ops->config_read(d, (uint32_t)off, data, size);
        }
    } else if (size != 4 || (offset & 3)) {
        /* The driver must use aligned 32-bit accesses here (4.2.2.2): others are ignored. */
        if (!is_write)
            memset(data, 0, size);
    } else if (is_write) {
        uint32_t v;
        memcpy(&v, data, 4);
        write_reg(d, offset, v);
    } else {
        uint32_t v = read_reg(d, offset);
        memcpy(data, &v, 4);
    }
    pthread_mutex_unlock(&d->lock);
}

static int dev_init(struct virtio_dev *d, const struct guest_mem *mem, uint64_t base, uint32_t gsi,
                    const struct virtio_dev_info *info)
{
    memset(d, 0, sizeof(*d));
    d->info = *info;
    d->mem = mem;
    d->base = base;
    d->gsi = gsi;
    d->irq_fd = -1;
    for (unsigned q = 0; q < VIRTIO_MAX_QUEUES; q++) {
        d->notify_fd[q] = -1;
        virtq_init(&d->vq[q], mem, q, queue_error, d);
    }
    pthread_mutex_init(&d->lock, NULL);
    if (info->nqueues < 1 || info->nqueues > VIRTIO_MAX_QUEUES || info->queue_max == 0 ||
        (info->queue_max & (info->queue_max - 1)) || info->queue_max > VIRTQ_MAX_SIZE ||
        info->config_size > 0x1000 - VIRTIO_MMIO_CONFIG)
        return err_set(EINVAL, "%s: bad device description (queues %u, max size %u, config %u bytes)", info->name,
                       info->nqueues, info->queue_max, info->config_size);
    d->irq_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (d->irq_fd < 0)
        return err_set(errno, "%s: eventfd: %s", info->name, strerror(errno));
    for (unsigned q = 0; q < info->nqueues; q++) {
        d->notify_fd[q] = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        if (d->notify_fd[q] < 0)
            return err_set(errno, "%s: eventfd: %s", info->name, strerror(errno));
    }
    return 0;
}

struct virtio_dev *virtio_dev_new(const struct guest_mem *mem, uint64_t base, uint32_t gsi,
                                  const struct virtio_dev_info *info)
{
    struct virtio_dev *d = malloc(sizeof(*d));
    if (!d) {
        err_set(ENOMEM, "%s: out of memory", info->name);
        return NULL;
    }
    if (dev_init(d, mem, base, gsi, info) < 0) {
        virtio_dev_free(d);
        return NULL;
    }
    return d;
}

static void unregister_kvm(struct virtio_dev *d)
{
    int vm_fd = d->host ? d->host->vm_fd : -1;
    for (unsigned q = 0; q < VIRTIO_MAX_QUEUES; q++) {
        if (d->notify_registered[q] && vm_fd >= 0) {
            struct kvm_ioeventfd io = {.datamatch = q,
                                       .addr = d->base + VIRTIO_MMIO_QUEUE_NOTIFY,
                                       .len = 4,
                                       .fd = d->notify_fd[q],
                                       .flags = KVM_IOEVENTFD_FLAG_DATAMATCH | KVM_IOEVENTFD_FLAG_DEASSIGN};
            ioctl(vm_fd, KVM_IOEVENTFD, &io);
        }
        d->notify_registered[q] = 0;
    }
    if (d->irq_registered && vm_fd >= 0) {
        struct kvm_irqfd irqfd = {.fd = (uint32_t)d->irq_fd, .gsi = d->gsi, .flags = KVM_IRQFD_FLAG_DEASSIGN};
        ioctl(vm_fd, KVM_IRQFD, &irqfd);
    }
    d->irq_registered = 0;
}

void virtio_dev_free(struct virtio_dev *d)
{
    if (!d)
        return;
    unregister_kvm(d);
    if (d->irq_fd >= 0)
        close(d->irq_fd);
    for (unsigned q = 0; q < VIRTIO_MAX_QUEUES; q++)
        if (d->notify_fd[q] >= 0)
            close(d->notify_fd[q]);
    pthread_mutex_destroy(&d->lock);
    free(d);
}

void virtio_dev_kick(struct virtio_dev *d, unsigned q)
{
    if (q >= d->info.nqueues)
        return;
    if (d->host && d->host->thread_started) {
        /* The ioeventfd is an ordinary eventfd: the virtio thread cannot tell this from a
         * guest notification, which is the point. */
        uint64_t one = 1;
        if (write(d->notify_fd[q], &one, sizeof(one)) < 0 && errno != EAGAIN)
            log_warn("%s: kick: %s", d->info.name, strerror(errno));
        return;
    }
    pthread_mutex_lock(&d->lock);
    service_queue(d, q);
    pthread_mutex_unlock(&d->lock);
}

/* ---- The VM's side ------------------------------------------------------------------ */

void virtio_host_init(struct virtio_host *h, int vm_fd, const struct guest_mem *mem, struct io_bus *mmio,
                      struct dev_list *devices)
{
    memset(h, 0, sizeof(*h));
    h->vm_fd = vm_fd;
    h->mem = mem;
    h->mmio = mmio;
    h->devices = devices;
    h->wake_fd = -1;
}

uint64_t virtio_host_errors(const struct virtio_host *h)
{
    return __atomic_load_n(&h->errors, __ATOMIC_RELAXED);
}

struct virtio_dev *virtio_mmio_add(struct virtio_host *h, const struct virtio_dev_info *info)
{
    unsigned idx = h->ndescs;
    if (idx >= VM_MAX_MMIO_DEVS || h->ndevs >= VIRTIO_MAX_DEVS) {
        err_set(ENOSPC, "%s: no virtio-mmio window left (%d devices at most)", info->name, VM_MAX_MMIO_DEVS);
        return NULL;
    }
    uint64_t base = VIRTIO_MMIO_BASE + idx * VIRTIO_MMIO_STRIDE;
    uint32_t gsi = virtio_mmio_gsi(idx);
    struct virtio_dev *d = virtio_dev_new(h->mem, base, gsi, info);
    if (!d)
        return NULL;
    d->host = h;
    d->index = idx;
    if (h->devices && dev_list_add(h->devices, d->info.name, &virtio_dev_state_ops, d) < 0) {
        virtio_dev_free(d);
        return NULL;
    }
    int r = io_bus_register(h->mmio, base, VIRTIO_MMIO_STRIDE, virtio_mmio_io, d, info->name);
    if (r < 0) {
        err_set(-r, "%s: cannot register MMIO window 0x%llx: %s", info->name, (unsigned long long)base, strerror(-r));
        virtio_dev_free(d);
        return NULL;
    }
    h->devs[h->ndevs++] = d;
    h->descs[idx] = (struct mmio_dev_desc){.base = base, .size = VIRTIO_MMIO_STRIDE, .gsi = gsi, .name = d->info.name};
    h->ndescs = idx + 1;

    struct kvm_irqfd irqfd = {.fd = (uint32_t)d->irq_fd, .gsi = gsi};
    if (ioctl(h->vm_fd, KVM_IRQFD, &irqfd) == 0)
        d->irq_registered = 1;
    else
        log_debug("%s: KVM_IRQFD: %s; interrupts through KVM_IRQ_LINE", info->name, strerror(errno));
    for (unsigned q = 0; q < info->nqueues; q++) {
        struct kvm_ioeventfd io = {.datamatch = q,
                                   .addr = base + VIRTIO_MMIO_QUEUE_NOTIFY,
                                   .len = 4,
                                   .fd = d->notify_fd[q],
                                   .flags = KVM_IOEVENTFD_FLAG_DATAMATCH};
        if (ioctl(h->vm_fd, KVM_IOEVENTFD, &io) == 0)
            d->notify_registered[q] = 1;
        else
            log_debug("%s: KVM_IOEVENTFD queue %u: %s; notifications through MMIO exits", info->name, q,
                      strerror(errno));
    }
    return d;
}

static void *virtio_thread(void *opaque)
{
    thread_kind_enter(THREAD_VIRTIO_IO, "virtio-io");
    struct virtio_host *h = opaque;
    struct pollfd fds[1 + VIRTIO_MAX_DEVS * VIRTIO_MAX_QUEUES];
    struct {
        struct virtio_dev *d;
        unsigned q;
    } who[1 + VIRTIO_MAX_DEVS * VIRTIO_MAX_QUEUES];
    unsigned n = 0;
    fds[n++] = (struct pollfd){.fd = h->wake_fd, .events = POLLIN};
    for (unsigned i = 0; i < h->ndevs; i++)
        for (unsigned q = 0; q < h->devs[i]->info.nqueues && !h->devs[i]->info.external_queues; q++) {
            who[n].d = h->devs[i];
            who[n].q = q;
            fds[n++] = (struct pollfd){.fd = h->devs[i]->notify_fd[q], .events = POLLIN};
        }
    for (;;) {
        if (poll(fds, n, -1) < 0) {
            if (errno == EINTR)
                continue;
            log_error("virtio thread: poll: %s", strerror(errno));
            return NULL;
        }
        if (fds[0].revents) {
            uint64_t v;
            if (read(h->wake_fd, &v, sizeof(v)) < 0 && errno != EAGAIN)
                log_warn("virtio thread: %s", strerror(errno));
            if (__atomic_load_n(&h->stopping, __ATOMIC_ACQUIRE))
                return NULL;
        }
        for (unsigned i = 1; i < n; i++) {
            if (!fds[i].revents)
                continue;
            uint64_t v;
            if (read(fds[i].fd, &v, sizeof(v)) < 0)
                continue; /* EAGAIN: already taken */
            activity_note(h->activity);
            pthread_mutex_lock(&who[i].d->lock);
            service_queue(who[i].d, who[i].q);
            pthread_mutex_unlock(&who[i].d->lock);
        }
    }
}

int virtio_host_start(struct virtio_host *h)
{
    if (h->ndevs == 0 || h->thread_started)
        return 0;
    h->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (h->wake_fd < 0)
        return err_set(errno, "virtio thread: eventfd: %s", strerror(errno));
    /* The thread must not take the signals the main loop reads from its signalfd, nor the
     * vCPU kick signal. */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, &old);
    pthread_attr_t attr;
    int e = thread_attr_init_sized(&attr);
    if (e == 0) {
        e = pthread_create(&h->thread, &attr, virtio_thread, h);
        pthread_attr_destroy(&attr);
    }
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (e)
        return err_set(e, "creating the virtio thread: %s", strerror(e));
    h->thread_started = 1;
    return 0;
}

void virtio_host_destroy(struct virtio_host *h)
{
    if (h->thread_started) {
        __atomic_store_n(&h->stopping, 1, __ATOMIC_RELEASE);
        uint64_t one = 1;
        if (write(h->wake_fd, &one, sizeof(one)) < 0)
            log_warn("stopping the virtio thread: %s", strerror(errno));
        pthread_join(h->thread, NULL);
        h->thread_started = 0;
    }
    for (unsigned i = 0; i < h->ndevs; i++) {
        struct virtio_dev *d = h->devs[i];
        pthread_mutex_lock(&d->lock);
        dev_reset(d);
        pthread_mutex_unlock(&d->lock);
        if (d->info.ops && d->info.ops->destroy)
            d->info.ops->destroy(d);
        virtio_dev_free(d);
        h->devs[i] = NULL;
    }
    h->ndevs = 0;
    if (h->wake_fd >= 0)
        close(h->wake_fd);
    h->wake_fd = -1;
}

void virtio_dev_save(struct virtio_dev *d, struct virtio_dev_snap *s)
{
    memset(s, 0, sizeof(*s));
    pthread_mutex_lock(&d->lock);
    s->status = d->status, s->isr = d->isr, s->config_gen = d->config_gen, s->broken = d->broken;
    s->dev_features_sel = d->dev_features_sel, s->drv_features_sel = d->drv_features_sel;
    s->queue_sel = d->queue_sel;
    s->driver_features = d->driver_features, s->features = d->features;
    for (unsigned q = 0; q < d->info.nqueues && q < VIRTIO_MAX_QUEUES; q++) {
        const struct virtq *vq = &d->vq[q];
        s->q[q].num = d->qregs[q].num;
        s->q[q].ready = d->qregs[q].ready;
        s->q[q].desc = d->qregs[q].desc, s->q[q].driver = d->qregs[q].driver, s->q[q].device = d->qregs[q].device;
        s->q[q].last_avail = (uint16_t)(vq->last_avail - vq->in_flight);
        s->q[q].used_idx = vq->used_idx;
        s->q[q].signalled_used = vq->signalled_used;
        s->q[q].signalled_valid = vq->signalled_valid;
    }
    pthread_mutex_unlock(&d->lock);
}

int virtio_dev_restore(struct virtio_dev *d, const struct virtio_dev_snap *s)
{
    int r = 0;
    pthread_mutex_lock(&d->lock);
    d->status = s->status, d->isr = s->isr, d->config_gen = s->config_gen, d->broken = s->broken != 0;
    d->dev_features_sel = s->dev_features_sel, d->drv_features_sel = s->drv_features_sel;
    d->queue_sel = s->queue_sel;
    d->driver_features = s->driver_features, d->features = s->features;
    for (unsigned q = 0; q < d->info.nqueues && q < VIRTIO_MAX_QUEUES && !r; q++) {
        struct virtio_queue_regs *qr = &d->qregs[q];
        qr->num = s->q[q].num;
        qr->desc = s->q[q].desc, qr->driver = s->q[q].driver, qr->device = s->q[q].device;
        qr->ready = 0;
        if (!s->q[q].ready || d->broken)
            continue;
        if (qr->num > d->info.queue_max || virtq_setup(&d->vq[q], qr->num, d->info.queue_max, qr->desc, qr->driver,
                                                       qr->device, virtio_dev_has_feature(d, VIRTIO_F_INDIRECT_DESC),
                                                       virtio_dev_has_feature(d, VIRTIO_F_EVENT_IDX)) != 0) {
            r = err_set(EINVAL, "%s: queue %u of the snapshot cannot be set up again", d->info.name, q);
            break;
        }
        qr->ready = 1;
        d->vq[q].last_avail = s->q[q].last_avail;
        d->vq[q].used_idx = s->q[q].used_idx;
        d->vq[q].signalled_used = s->q[q].signalled_used;
        d->vq[q].signalled_valid = s->q[q].signalled_valid != 0;
    }
    if (!r && (d->status & VIRTIO_STATUS_DRIVER_OK) && !d->broken) {
        if (d->info.ops && d->info.ops->driver_ok)
            d->info.ops->driver_ok(d);
        /* Buffers the device held before the save are available again: take them now. */
        for (unsigned q = 0; q < d->info.nqueues; q++)
            if (d->qregs[q].ready && virtq_has_avail(&d->vq[q]))
                service_queue(d, q);
    }
    pthread_mutex_unlock(&d->lock);
    return r;
}

/* ---- state (core/device.h) ---------------------------------------------------------- */

static int virtio_state_save(void *dev, void *buf)
{
    struct virtio_dev *d = dev;
    struct virtio_dev_state *s = buf;
    s->index = d->index;
    s->device_id = d->info.device_id;
    virtio_dev_save(d, &s->t);
    if (d->info.ops && d->info.ops->state_save) {
        pthread_mutex_lock(&d->lock);
        d->info.ops->state_save(d, s->dev_words);
        pthread_mutex_unlock(&d->lock);
    }
    return 0;
}

static int virtio_state_check(void *dev, const void *buf, unsigned instance)
{
    const struct virtio_dev *d = dev;
    const struct virtio_dev_state *s = buf;
    if (s->index != instance)
        return err_set(EINVAL, "device %u, expected %u", s->index, instance);
    if (s->device_id != d->info.device_id)
        return err_set(EINVAL, "device %u with id %u, this machine's is id %u", instance, s->device_id,
                       d->info.device_id);
    return 0;
}

static int virtio_state_restore(void *dev, const void *buf, enum dev_state_source src)
{
    struct virtio_dev *d = dev;
    const struct virtio_dev_state *s = buf;
    const struct virtio_dev_ops *ops = d->info.ops;
    if (ops && ops->state_load) {
        pthread_mutex_lock(&d->lock);
        ops->state_load(d, s->dev_words, src);
        pthread_mutex_unlock(&d->lock);
    }
    if (virtio_dev_restore(d, &s->t) < 0)
        return err_wrap(EINVAL, "virtio device %u", d->index);
    if (ops && ops->state_loaded)
        ops->state_loaded(d, s->dev_words, src);
    return 0;
}

const struct dev_state_ops virtio_dev_state_ops = {
    .section = SNAP_SEC_VIRTIO,
    .size = sizeof(struct virtio_dev_state),
    .save = virtio_state_save,
    .check = virtio_state_check,
    .restore = virtio_state_restore,
};
