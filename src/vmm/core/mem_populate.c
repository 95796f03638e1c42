#include "vmm/core/mem_populate.h"
#include "vmm/core/thread_kind.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/userfaultfd.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "lib/err.h"
#include "lib/log.h"

#define PAGE SNAP_PAGE
/* A run is read from the file into private memory and its CRC checked on that copy before
 * any page of it reaches the guest; pages go in only from such a copy. A fault brings its
 * whole run (at most SNAP_RUN_MAX_PAGES, 2 MiB: the copy that was checked is then used up);
 * the background fill reads each run without the lock and copies it 1 MiB per UFFDIO_COPY
 * (the lock is held per chunk, so a fault waits at most one chunk). */
#define FILL_CHUNK 256
#define RUN_BUF_BYTES ((uint64_t)SNAP_RUN_MAX_PAGES * PAGE)

struct mem_populate {
    int uffd, stop_efd, memfd;
    bool registered; /* the uffd still answers for guest RAM */
    uint8_t *host;
    uint64_t size, npages;
    struct snap_src file;      /* our own descriptor of the snapshot, its size when it was checked */
    uint8_t *fault_buf;        /* a run read for a fault: under the lock */
    uint8_t *fill_buf;         /* a run read by the fill thread: its own */
    struct snap_mem_run *runs; /* private copy of the checked table */
    uint64_t nruns;
    bool *run_bad;       /* its CRC failed (reported once) */
    uint64_t *done;      /* pages this fill put in (or answered with zeroes) */
    uint64_t *discarded; /* pages the balloon took back: never filled from the file again */

    pthread_mutex_t lock; /* the uffd ioctls and `done`: a page is filled once */
    pthread_cond_t cond;
    bool finished, failed, stopping;
    pthread_t handler, filler;
    bool handler_started, filler_started;
    mem_populate_error_fn on_error;
    void *opaque;
    uint64_t start_ns;
    struct mem_populate_stats st;
};

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static bool test_bit(const uint64_t *bits, uint64_t i)
{
    return (__atomic_load_n(&bits[i / 64], __ATOMIC_SEQ_CST) >> (i % 64)) & 1;
}

static void set_bit(uint64_t *bits, uint64_t i)
{
    __atomic_fetch_or(&bits[i / 64], 1ULL << (i % 64), __ATOMIC_SEQ_CST);
}

/* Without UFFD_USER_MODE_ONLY: KVM reaches guest RAM from the kernel (kvmclock, the APIC
 * page, emulated instructions) and those faults must come to us, not fail. Needs
 * CAP_SYS_PTRACE (the monitor runs as root under xenod) or access to /dev/userfaultfd. */
static int open_uffd(void)
{
    int fd = (int)syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK);
    if (fd >= 0)
        return fd;
    int e = errno;
    int dev = open("/dev/userfaultfd", O_RDWR | O_CLOEXEC);
    if (dev >= 0) {
        fd = ioctl(dev, USERFAULTFD_IOC_NEW, O_CLOEXEC | O_NONBLOCK);
        e = errno;
        close(dev);
        if (fd >= 0)
            return fd;
    }
    return -e;
}

/* The run holding RAM page pg, or -1. */
static int64_t find_run(const struct mem_populate *p, uint64_t pg)
{
    uint64_t lo = 0, hi = p->nruns, off = pg * PAGE;
    while (lo < hi) {
        uint64_t mid = lo + (hi - lo) / 2;
        const struct snap_mem_run *r = &p->runs[mid];
        if (off < r->ram_offset)
            hi = mid;
        else if (off >= r->ram_offset + r->npages * PAGE)
            lo = mid + 1;
        else
            return (int64_t)mid;
    }
    return -1;
}

/* Unregisters guest RAM: any thread still waiting on a fault retries it as an ordinary
 * fault of the memfd. The descriptor is closed only once the fault thread is gone. Under
 * the lock. */
static void unregister_uffd(struct mem_populate *p)
{
    if (!p->registered)
        return;
    struct uffdio_range range = {.start = (uint64_t)(uintptr_t)p->host, .len = p->size};
    if (ioctl(p->uffd, UFFDIO_UNREGISTER, &range) < 0)
        log_warn("lazy restore: UFFDIO_UNREGISTER: %s", strerror(errno));
    p->registered = false;
}

/* The file is damaged: stop filling, let waiting threads go on (they get zero pages, never
 * the damaged bytes) and tell the domain. Under the lock; unlocks around the callback. */
static void fail_fill(struct mem_populate *p, const char *msg)
{
    if (p->failed)
        return;
    p->failed = true;
    log_error("lazy restore: %s", msg);
    pthread_mutex_unlock(&p->lock);
    /* The domain is told first: unregistering wakes the vCPUs waiting on a fault, and they
     * must find their stop request pending then, not run on over zero pages (a race that
     * ended the domain as a guest crash instead of a host error). */
    if (p->on_error)
        p->on_error(p->opaque, msg);
    pthread_mutex_lock(&p->lock);
    unregister_uffd(p);
    uint64_t one = 1;
    if (write(p->stop_efd, &one, sizeof(one)) < 0) /* the fault thread ends */
        log_warn("lazy restore: stopping the fault thread: %s", strerror(errno));
    p->finished = true;
    pthread_cond_broadcast(&p->cond);
}

/* Reads run i into buf (private) and checks its CRC there. 0, or -1 after fail_fill (under
 * the lock: the caller holds it, or takes it for the report when `locked` is false). */
static int read_run(struct mem_populate *p, uint64_t i, uint8_t *buf, bool locked)
{
    if (locked && p->run_bad[i])
        return -1;
    if (snap_read_run(&p->file, &p->runs[i], i, buf) == 0)
        return 0;
    char msg[600];
    snprintf(msg, sizeof(msg), "snapshot file damaged: %s", err_msg());
    if (!locked)
        pthread_mutex_lock(&p->lock);
    p->run_bad[i] = true;
    fail_fill(p, msg);
    if (!locked)
        pthread_mutex_unlock(&p->lock);
    return -1;
}

/* Copies pages [first, first+n) of run ri (all inside it) that are neither filled nor
 * discarded, from buf: the whole run, read and checked by read_run. Under the lock. */
static void copy_pages(struct mem_populate *p, uint64_t ri, uint64_t first, uint64_t n, const uint8_t *buf)
{
    const struct snap_mem_run *r = &p->runs[ri];
    uint64_t run_first = r->ram_offset / PAGE;
    uint64_t pg = first, end = first + n;
    while (pg < end && p->registered) {
        if (test_bit(p->done, pg) || test_bit(p->discarded, pg)) {
            pg++;
            continue;
        }
        uint64_t k = pg;
        while (k < end && !test_bit(p->done, k) && !test_bit(p->discarded, k))
            k++;
        struct uffdio_copy c = {.dst = (uint64_t)(uintptr_t)(p->host + pg * PAGE),
                                .src = (uint64_t)(uintptr_t)(buf + (pg - run_first) * PAGE),
                                .len = (k - pg) * PAGE};
        int rc = ioctl(p->uffd, UFFDIO_COPY, &c);
        uint64_t copied = c.copy > 0 ? (uint64_t)c.copy / PAGE : 0;
        if (rc < 0 && errno == EAGAIN && !copied)
            continue; /* the address space changed under us: retry */
        if (rc < 0 && errno != EEXIST && errno != EAGAIN) {
            log_warn("lazy restore: UFFDIO_COPY at RAM offset 0x%llx: %s", (unsigned long long)(pg * PAGE),
                     strerror(errno));
            copied = k - pg; /* leave them to ordinary faults (zero) rather than loop */
        }
        if (rc < 0 && errno == EEXIST)
            copied++; /* the page at pg + copied is there already (filled through another mapping) */
        for (uint64_t i = pg; i < pg + copied && i < k; i++) {
            set_bit(p->done, i);
            /* The balloon marks a page discarded, then punches it. If it marked it after our
             * test, its punch may have come before our copy: punch again. If this test misses
             * the mark, the punch comes after it, so after the copy. */
            if (test_bit(p->discarded, i) &&
                fallocate(p->memfd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, (off_t)(i * PAGE), PAGE) < 0)
                log_warn("lazy restore: releasing a ballooned page: %s", strerror(errno));
        }
        __atomic_add_fetch(&p->st.copied_pages, rc == 0 ? k - pg : (uint64_t)(c.copy > 0 ? c.copy / PAGE : 0),
                           __ATOMIC_RELAXED);
        pg += copied ? copied : 1;
    }
}

static void zero_page(struct mem_populate *p, uint64_t pg)
{
    struct uffdio_zeropage z = {.range = {.start = (uint64_t)(uintptr_t)(p->host + pg * PAGE), .len = PAGE}};
    for (;;) {
        if (ioctl(p->uffd, UFFDIO_ZEROPAGE, &z) == 0) {
            __atomic_add_fetch(&p->st.zero_pages, 1, __ATOMIC_RELAXED);
            break;
        }
        if (errno == EAGAIN)
            continue;
        if (errno == EEXIST) { /* already there: the faulting thread only needs waking */
            struct uffdio_range w = z.range;
            ioctl(p->uffd, UFFDIO_WAKE, &w);
        } else {
            log_warn("lazy restore: UFFDIO_ZEROPAGE at RAM offset 0x%llx: %s", (unsigned long long)(pg * PAGE),
                     strerror(errno));
        }
        break;
    }
    set_bit(p->done, pg);
}

/* A first touch of page pg. Under the lock. */
static void answer_fault(struct mem_populate *p, uint64_t pg)
{
    int64_t ri = find_run(p, pg);
    /* Missing though filled: the balloon punched it since; missing and discarded: the guest
     * gave it away. Either way its content is zero now, not the file's. */
    if (ri < 0 || test_bit(p->done, pg) || test_bit(p->discarded, pg)) {
        zero_page(p, pg);
        return;
    }
    if (read_run(p, (uint64_t)ri, p->fault_buf, true) < 0)
        return;
    const struct snap_mem_run *r = &p->runs[ri];
    copy_pages(p, (uint64_t)ri, r->ram_offset / PAGE, r->npages, p->fault_buf);
    if (p->registered && !test_bit(p->done, pg))
        zero_page(p, pg); /* the copy failed: do not leave the thread waiting */
}

static void *handler_main(void *arg)
{
    thread_kind_enter(THREAD_UFFD_HANDLER, "uffd-handler");
    struct mem_populate *p = arg;
    struct uffd_msg msgs[64];
    for (;;) {
        struct pollfd fds[2] = {{.fd = p->uffd, .events = POLLIN}, {.fd = p->stop_efd, .events = POLLIN}};
        if (poll(fds, 2, -1) < 0) {
            if (errno == EINTR)
                continue;
            log_error("lazy restore: poll: %s", strerror(errno));
            break;
        }
        if (fds[1].revents)
            break;
        ssize_t n = read(p->uffd, msgs, sizeof(msgs));
        if (n < 0) {
            if (errno == EAGAIN || errno == EINTR)
                continue;
            log_error("lazy restore: reading the userfaultfd: %s", strerror(errno));
            break;
        }
        pthread_mutex_lock(&p->lock);
        for (ssize_t i = 0; i < n / (ssize_t)sizeof(msgs[0]) && p->registered; i++) {
            if (msgs[i].event != UFFD_EVENT_PAGEFAULT)
                continue;
            uint64_t addr = msgs[i].arg.pagefault.address;
            if (addr < (uint64_t)(uintptr_t)p->host || addr >= (uint64_t)(uintptr_t)p->host + p->size)
                continue;
            p->st.faults++;
            answer_fault(p, (addr - (uint64_t)(uintptr_t)p->host) / PAGE);
        }
        bool over = !p->registered;
        pthread_mutex_unlock(&p->lock);
        if (over)
            break;
    }
    return NULL;
}

static void *filler_main(void *arg)
{
    thread_kind_enter(THREAD_UFFD_FILLER, "uffd-filler");
    struct mem_populate *p = arg;
    for (uint64_t ri = 0; ri < p->nruns; ri++) {
        const struct snap_mem_run *r = &p->runs[ri];
        uint64_t first = r->ram_offset / PAGE;
        bool need = false; /* a fault may have brought the run in already */
        for (uint64_t k = 0; k < r->npages && !need; k++)
            need = !test_bit(p->done, first + k) && !test_bit(p->discarded, first + k);
        if (!need)
            continue;
        /* Read without the lock (a fault may meanwhile bring the same run in: its pages
         * are then done and skipped below). */
        if (read_run(p, ri, p->fill_buf, false) < 0)
            return NULL;
        for (uint64_t done = 0; done < r->npages; done += FILL_CHUNK) {
            pthread_mutex_lock(&p->lock);
            bool go = !p->stopping && !p->failed && p->registered;
            if (go)
                copy_pages(p, ri, first + done, r->npages - done < FILL_CHUNK ? r->npages - done : FILL_CHUNK,
                           p->fill_buf);
            pthread_mutex_unlock(&p->lock);
            if (!go)
                return NULL;
        }
    }
    /* Everything saved is in: hand the memory back to the kernel's ordinary faults. */
    uint64_t one = 1;
    if (write(p->stop_efd, &one, sizeof(one)) < 0)
        log_warn("lazy restore: stopping the fault thread: %s", strerror(errno));
    pthread_join(p->handler, NULL);
    pthread_mutex_lock(&p->lock);
    p->handler_started = false;
    unregister_uffd(p);
    close(p->uffd);
    p->uffd = -1;
    close(p->file.fd);
    p->file.fd = -1;
    p->finished = true;
    p->st.populate_ns = now_ns() - p->start_ns;
    pthread_cond_broadcast(&p->cond);
    pthread_mutex_unlock(&p->lock);
    log_info("lazy restore: all saved memory in after %llu us: %llu faults, %llu pages copied, %llu zero pages",
             (unsigned long long)(p->st.populate_ns / 1000), (unsigned long long)p->st.faults,
             (unsigned long long)p->st.copied_pages, (unsigned long long)p->st.zero_pages);
    return NULL;
}

static void free_populate(struct mem_populate *p)
{
    if (p->uffd >= 0)
        close(p->uffd);
    if (p->stop_efd >= 0)
        close(p->stop_efd);
    if (p->file.fd >= 0)
        close(p->file.fd);
    free(p->fault_buf);
    free(p->fill_buf);
    free(p->runs);
    free(p->run_bad);
    free(p->done);
    free(p->discarded);
    pthread_mutex_destroy(&p->lock);
    pthread_cond_destroy(&p->cond);
    free(p);
}

int mem_populate_start(struct mem_populate **out, uint8_t *host, uint64_t size, int memfd, int file_fd,
                       const struct snap_image *img, mem_populate_error_fn on_error, void *opaque)
{
    *out = NULL;
    struct mem_populate *p = calloc(1, sizeof(*p));
    if (!p)
        return err_set(ENOMEM, "lazy restore: out of memory");
    p->uffd = p->stop_efd = p->file.fd = -1;
    p->memfd = memfd;
    p->host = host;
    p->size = size;
    p->npages = size / PAGE;
    p->on_error = on_error;
    p->opaque = opaque;
    pthread_mutex_init(&p->lock, NULL);
    pthread_condattr_t ca; /* mem_populate_wait's deadlines are on the monotonic clock */
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&p->cond, &ca);
    pthread_condattr_destroy(&ca);
    p->nruns = img->nruns;
    uint64_t words = (p->npages + 63) / 64;
    p->runs = malloc((img->nruns ? img->nruns : 1) * sizeof(*p->runs));
    p->run_bad = calloc(img->nruns ? img->nruns : 1, sizeof(*p->run_bad));
    p->done = calloc(words, 8);
    p->discarded = calloc(words, 8);
    p->fault_buf = malloc(RUN_BUF_BYTES);
    p->fill_buf = malloc(RUN_BUF_BYTES);
    if (!p->runs || !p->run_bad || !p->done || !p->discarded || !p->fault_buf || !p->fill_buf) {
        free_populate(p);
        return err_set(ENOMEM, "lazy restore: out of memory for %llu pages", (unsigned long long)p->npages);
    }
    memcpy(p->runs, img->runs, img->nruns * sizeof(*p->runs));
    /* Every run is used from this copy from now on: bound each one again here, against RAM
     * and the file size the image was checked at, so nothing below trusts the caller. */
    for (uint64_t i = 0; i < p->nruns; i++) {
        const struct snap_mem_run *r = &p->runs[i];
        if (!r->npages || r->npages > SNAP_RUN_MAX_PAGES || r->ram_offset % PAGE || r->ram_offset > size ||
            r->npages > (size - r->ram_offset) / PAGE || r->file_offset > img->src.size ||
            r->npages > (img->src.size - r->file_offset) / PAGE || (i && r->ram_offset < p->runs[i - 1].ram_offset)) {
            free_populate(p);
            return err_set(ENOTSUP, "lazy restore: memory run %llu does not fit a fault's read (%llu pages)",
                           (unsigned long long)i, (unsigned long long)r->npages);
        }
    }
    p->file.size = img->src.size;
    p->file.fd = fcntl(file_fd, F_DUPFD_CLOEXEC, 0);
    if (p->file.fd < 0) {
        int e = errno;
        free_populate(p);
        return err_set(e, "lazy restore: the snapshot's descriptor: %s", strerror(e));
    }
    posix_fadvise(p->file.fd, 0, 0, POSIX_FADV_SEQUENTIAL); /* the fill reads it in order: read ahead */
    int fd = open_uffd();
    if (fd < 0) {
        free_populate(p);
        return err_set(-fd, "lazy restore: userfaultfd: %s", strerror(-fd));
    }
    p->uffd = fd;
    struct uffdio_api api = {.api = UFFD_API};
    struct uffdio_register reg = {.range = {.start = (uint64_t)(uintptr_t)host, .len = size},
                                  .mode = UFFDIO_REGISTER_MODE_MISSING};
    if (ioctl(fd, UFFDIO_API, &api) < 0 || ioctl(fd, UFFDIO_REGISTER, &reg) < 0) {
        int e = errno;
        free_populate(p);
        return err_set(e, "lazy restore: registering guest RAM with userfaultfd: %s", strerror(e));
    }
    if (!(reg.ioctls & (1ULL << _UFFDIO_COPY)) || !(reg.ioctls & (1ULL << _UFFDIO_ZEROPAGE))) {
        free_populate(p);
        return err_set(ENOTSUP, "lazy restore: this kernel's userfaultfd cannot copy into shared memory");
    }
    p->registered = true;
    p->stop_efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (p->stop_efd < 0) {
        int e = errno;
        free_populate(p);
        return err_set(e, "lazy restore: eventfd: %s", strerror(e));
    }
    p->start_ns = now_ns();
    int r = pthread_create(&p->handler, NULL, handler_main, p);
    if (r == 0) {
        p->handler_started = true;
        r = pthread_create(&p->filler, NULL, filler_main, p);
        p->filler_started = r == 0;
    }
    if (r != 0) {
        *out = p;
        mem_populate_stop(p);
        *out = NULL;
        return err_set(r, "lazy restore: starting its threads: %s", strerror(r));
    }
    *out = p;
    return 0;
}

void mem_populate_discard(struct mem_populate *p, uint64_t offset, uint64_t len)
{
    if (!p || offset >= p->size)
        return;
    if (len > p->size - offset)
        len = p->size - offset;
    for (uint64_t pg = offset / PAGE; pg < (offset + len + PAGE - 1) / PAGE; pg++)
        set_bit(p->discarded, pg);
}

bool mem_populate_done(struct mem_populate *p)
{
    pthread_mutex_lock(&p->lock);
    bool d = p->finished;
    pthread_mutex_unlock(&p->lock);
    return d;
}

int mem_populate_wait(struct mem_populate *p, int timeout_ms)
{
    struct timespec until;
    clock_gettime(CLOCK_MONOTONIC, &until);
    if (timeout_ms >= 0) {
        until.tv_sec += timeout_ms / 1000;
        until.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
        if (until.tv_nsec >= 1000000000L) {
            until.tv_sec++;
            until.tv_nsec -= 1000000000L;
        }
    }
    pthread_mutex_lock(&p->lock);
    int r = 0;
    while (!p->finished && r == 0)
        r = timeout_ms < 0 ? pthread_cond_wait(&p->cond, &p->lock) : pthread_cond_timedwait(&p->cond, &p->lock, &until);
    int out = p->failed ? -EIO : p->finished ? 0 : -ETIMEDOUT;
    pthread_mutex_unlock(&p->lock);
    return out;
}

void mem_populate_get_stats(struct mem_populate *p, struct mem_populate_stats *st)
{
    pthread_mutex_lock(&p->lock);
    *st = p->st;
    pthread_mutex_unlock(&p->lock);
}

void mem_populate_stop(struct mem_populate *p)
{
    if (!p)
        return;
    pthread_mutex_lock(&p->lock);
    p->stopping = true;
    pthread_mutex_unlock(&p->lock);
    uint64_t one = 1;
    if (p->stop_efd >= 0 && write(p->stop_efd, &one, sizeof(one)) < 0)
        log_warn("lazy restore: stopping the fault thread: %s", strerror(errno));
    if (p->filler_started)
        pthread_join(p->filler, NULL);
    if (p->handler_started) /* the filler joins it itself when it completes */
        pthread_join(p->handler, NULL);
    pthread_mutex_lock(&p->lock);
    unregister_uffd(p);
    pthread_mutex_unlock(&p->lock);
    free_populate(p);
}
