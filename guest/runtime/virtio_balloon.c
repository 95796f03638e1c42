/*
 * The page pool (the RAM a test kernel may use) and the virtio-balloon driver.
 *
 * Guest instructions may be emulated one by one on the hosts we test on (~1 us each), so
 * the loops that run per page are kept to a few instructions: the pool is a sorted table
 * of free runs, handed out from the top; the balloon fills a page of PFNs per request
 * (1024 PFNs, 4 MiB of guest RAM) with a plain counting loop.
 */
#include "runtime.h"

/* ---- Page pool ----------------------------------------------------------------------- */

struct run {
    uint64_t pfn, n;
};

static struct run pool[PAGE_POOL_MAX_RUNS]; /* sorted by pfn, disjoint, not adjacent */
static unsigned pool_runs;
static uint64_t pool_free, pool_total;

/* Removes [s, e) (PFNs) from the pool. */
static void pool_carve(uint64_t s, uint64_t e)
{
    for (unsigned i = 0; i < pool_runs && s < e; i++) {
        struct run *r = &pool[i];
        uint64_t rs = r->pfn, re = r->pfn + r->n;
        if (e <= rs || s >= re)
            continue;
        if (s <= rs && e >= re) { /* the whole run goes */
            pool_free -= r->n;
            memmove(&pool[i], &pool[i + 1], (pool_runs - i - 1) * sizeof(pool[0]));
            pool_runs--;
            i--;
        } else if (s <= rs) { /* its start */
            pool_free -= e - rs;
            r->pfn = e;
            r->n = re - e;
        } else if (e >= re) { /* its end */
            pool_free -= re - s;
            r->n = s - rs;
        } else { /* its middle: split in two */
            if (pool_runs == PAGE_POOL_MAX_RUNS) {
                pool_free -= re - s; /* no room for the upper half: drop it */
                r->n = s - rs;
                continue;
            }
            memmove(&pool[i + 2], &pool[i + 1], (pool_runs - i - 1) * sizeof(pool[0]));
            pool[i + 1] = (struct run){e, re - e};
            pool_runs++;
            pool_free -= e - s;
            r->n = s - rs;
        }
    }
}

static uint64_t pfn_up(uint64_t a) { return (a + PAGE_SIZE - 1) / PAGE_SIZE; }
static uint64_t pfn_down(uint64_t a) { return a / PAGE_SIZE; }

void page_pool_init(void)
{
    uint64_t top = paging_mapped_top();

    pool_runs = 0;
    pool_free = 0;
    for (unsigned i = 0; i < boot_info.nr_memmap && pool_runs < PAGE_POOL_MAX_RUNS; i++) {
        const struct memmap_entry *m = &boot_info.memmap[i];
        if (m->type != E820_RAM)
            continue;
        uint64_t s = pfn_up(MAX(m->addr, 0x100000UL)), e = pfn_down(MIN(m->addr + m->size, top));
        if (s >= e)
            continue;
        /* The memory map is sorted on our monitor; insert in order anyway. */
        unsigned at = pool_runs;
        while (at > 0 && pool[at - 1].pfn > s)
            at--;
        memmove(&pool[at + 1], &pool[at], (pool_runs - at) * sizeof(pool[0]));
        pool[at] = (struct run){s, e - s};
        pool_runs++;
        pool_free += e - s;
    }
    pool_carve(pfn_down((uintptr_t)_kernel_start), pfn_up((uintptr_t)_kernel_end));
    for (unsigned i = 0; i < boot_info.nr_boot_ranges; i++)
        pool_carve(pfn_down(boot_info.boot_ranges[i].start), pfn_up(boot_info.boot_ranges[i].end));
    pool_total = pool_free;
}

uint64_t page_pool_free(void) { return pool_free; }
uint64_t page_pool_total(void) { return pool_total; }

uint64_t page_pool_take(uint64_t max, uint64_t *pfn)
{
    if (!pool_runs || !max)
        return 0;
    struct run *r = &pool[pool_runs - 1];
    uint64_t k = MIN(max, r->n);
    r->n -= k;
    *pfn = r->pfn + r->n;
    if (!r->n)
        pool_runs--;
    pool_free -= k;
    return k;
}

bool page_pool_give(uint64_t pfn, uint64_t n)
{
    if (!n)
        return true;
    /* Where it goes: after every run that starts below it (usually at the end). */
    unsigned at = pool_runs;
    while (at > 0 && pool[at - 1].pfn > pfn)
        at--;
    bool join_prev = at > 0 && pool[at - 1].pfn + pool[at - 1].n == pfn;
    bool join_next = at < pool_runs && pfn + n == pool[at].pfn;
    if (join_prev && join_next) {
        pool[at - 1].n += n + pool[at].n;
        memmove(&pool[at], &pool[at + 1], (pool_runs - at - 1) * sizeof(pool[0]));
        pool_runs--;
    } else if (join_prev) {
        pool[at - 1].n += n;
    } else if (join_next) {
        pool[at].pfn = pfn;
        pool[at].n += n;
    } else {
        if (pool_runs == PAGE_POOL_MAX_RUNS)
            return false;
        memmove(&pool[at + 1], &pool[at], (pool_runs - at) * sizeof(pool[0]));
        pool[at] = (struct run){pfn, n};
        pool_runs++;
    }
    pool_free += n;
    return true;
}

void page_pool_for_each(page_run_fn fn, void *ctx)
{
    for (unsigned i = 0; i < pool_runs; i++)
        fn(pool[i].pfn, pool[i].n, ctx);
}

/* ---- virtio-balloon ------------------------------------------------------------------ */

#define PFNS_PER_REQ 1024 /* one page of le32 PFNs */
#define BALLOON_RUNS 1024 /* runs the balloon can hold (they merge as they come) */
#define STATS_MAX 10
#define WAIT_US 2000000

struct balloon_stat {
    uint16_t tag;
    uint64_t val;
} __attribute__((packed));

static struct virtio_device dev;
static struct virtqueue inflate_vq, deflate_vq, stats_vq, report_vq;
static bool ready, have_stats, have_reporting;
static uint32_t pfn_buf[PFNS_PER_REQ] __attribute__((aligned(4096)));
static struct run held[BALLOON_RUNS]; /* the balloon's pages, a stack: deflate from the top */
static unsigned held_runs;
static uint64_t held_pages;
static struct balloon_stat stats[STATS_MAX];
static uint64_t extra_stat[STATS_MAX]; /* set by vballoon_set_stat; ~0 = none */

struct virtio_device *vballoon_device(void) { return &dev; }
uint64_t vballoon_pages(void) { return held_pages; }

bool vballoon_ok(void)
{
    return ready && !(virtio_status(&dev) & (VIRTIO_STATUS_NEEDS_RESET | VIRTIO_STATUS_FAILED));
}

uint32_t vballoon_target(void)
{
    uint32_t gen, v;
    do {
        gen = virtio_read(&dev, VIRTIO_REG_CONFIG_GENERATION);
        v = virtio_read(&dev, VIRTIO_REG_CONFIG + 0);
    } while (gen != virtio_read(&dev, VIRTIO_REG_CONFIG_GENERATION));
    return v;
}

static void set_actual(void)
{
    virtio_write(&dev, VIRTIO_REG_CONFIG + 4, (uint32_t)held_pages);
}

void vballoon_set_stat(unsigned tag, uint64_t value)
{
    if (tag < STATS_MAX)
        extra_stat[tag] = value;
}

/* Fills the stats buffer and posts it (the host holds it until it wants new values). */
static void post_stats(void)
{
    static const unsigned tags[] = {VIRTIO_BALLOON_S_SWAP_IN, VIRTIO_BALLOON_S_SWAP_OUT, VIRTIO_BALLOON_S_MAJFLT,
                                    VIRTIO_BALLOON_S_MINFLT,  VIRTIO_BALLOON_S_MEMFREE,  VIRTIO_BALLOON_S_MEMTOT,
                                    VIRTIO_BALLOON_S_AVAIL,   VIRTIO_BALLOON_S_CACHES};
    unsigned n = 0;
    for (unsigned i = 0; i < ARRAY_SIZE(tags); i++) {
        uint64_t v;
        switch (tags[i]) {
        case VIRTIO_BALLOON_S_MEMFREE:
        case VIRTIO_BALLOON_S_AVAIL: v = pool_free * PAGE_SIZE; break;
        case VIRTIO_BALLOON_S_MEMTOT: v = pvh_ram_bytes(); break;
        default: v = extra_stat[tags[i]] == ~0ULL ? 0 : extra_stat[tags[i]]; break;
        }
        stats[n].tag = (uint16_t)tags[i];
        stats[n].val = v;
        n++;
    }
    struct virtq_buf b = {stats, (uint32_t)(n * sizeof(stats[0]))};
    if (virtq_add(&stats_vq, &b, 1, 0) >= 0)
        virtq_kick(&stats_vq);
}

bool vballoon_init(uint64_t features, bool use_irq)
{
    struct virtio_mmio_window w;

    ready = false;
    held_runs = 0;
    held_pages = 0;
    for (unsigned i = 0; i < STATS_MAX; i++)
        extra_stat[i] = ~0ULL;
    if (!virtio_mmio_find(VIRTIO_ID_BALLOON, &w))
        return false;
    dev.vector = 0;
    features &= (1ULL << VIRTIO_BALLOON_F_STATS_VQ) | (1ULL << VIRTIO_BALLOON_F_REPORTING) |
                (1ULL << VIRTIO_BALLOON_F_DEFLATE_ON_OOM);
    if (!virtio_device_init(&dev, &w, features))
        return false;
    have_stats = dev.features & (1ULL << VIRTIO_BALLOON_F_STATS_VQ);
    have_reporting = dev.features & (1ULL << VIRTIO_BALLOON_F_REPORTING);
    /* Queues: inflate, deflate, then stats and reporting when negotiated, numbered on. */
    unsigned q = 2;
    if (!virtq_init(&inflate_vq, &dev, 0, VIRTQ_GUEST_MAX) || !virtq_init(&deflate_vq, &dev, 1, VIRTQ_GUEST_MAX) ||
        (have_stats && !virtq_init(&stats_vq, &dev, q++, VIRTQ_GUEST_MAX)) ||
        (have_reporting && !virtq_init(&report_vq, &dev, q++, VIRTQ_GUEST_MAX)))
        return false;
    if (use_irq)
        virtio_enable_irq(&dev);
    virtio_driver_ok(&dev);
    set_actual();
    ready = true;
    if (have_stats)
        post_stats();
    return true;
}

/* Sends `n` PFNs of pfn_buf on vq and waits for the host to take them. */
static bool send_pfns(struct virtqueue *vq, unsigned n)
{
    struct virtq_buf b = {pfn_buf, n * 4};
    if (virtq_add(vq, &b, 1, 0) < 0)
        return false;
    virtq_kick(vq);
    return virtq_wait_used(vq, NULL, WAIT_US) >= 0;
}

/* Records a run the balloon now holds (runs taken from the pool top come in descending order). */
static bool hold(uint64_t pfn, uint64_t n)
{
    struct run *top = held_runs ? &held[held_runs - 1] : NULL;
    if (top && pfn + n == top->pfn) {
        top->pfn = pfn;
        top->n += n;
    } else if (top && top->pfn + top->n == pfn) {
        top->n += n;
    } else if (held_runs < BALLOON_RUNS) {
        held[held_runs++] = (struct run){pfn, n};
    } else {
        return false;
    }
    held_pages += n;
    return true;
}

uint64_t vballoon_inflate(uint64_t n)
{
    uint64_t done = 0;
    while (ready && done < n) {
        unsigned cnt = 0;
        while (cnt < PFNS_PER_REQ && done + cnt < n) {
            uint64_t pfn, k = page_pool_take(MIN((uint64_t)(PFNS_PER_REQ - cnt), n - done - cnt), &pfn);
            if (!k)
                break;
            if (!hold(pfn, k)) {
                page_pool_give(pfn, k);
                break;
            }
            uint32_t *p = pfn_buf + cnt, first = (uint32_t)pfn;
            for (uint32_t j = 0; j < (uint32_t)k; j++)
                p[j] = first + j;
            cnt += (unsigned)k;
        }
        if (!cnt)
            break;
        if (!send_pfns(&inflate_vq, cnt)) {
            printf("virtio-balloon: the host did not take %u inflated pages\n", cnt);
            ready = false;
            break;
        }
        done += cnt;
        set_actual(); /* after each request: the host sees progress */
    }
    return done;
}

uint64_t vballoon_deflate(uint64_t n, page_run_fn on_run, void *ctx)
{
    struct run batch[64];
    uint64_t done = 0;
    while (ready && done < n && held_runs) {
        unsigned cnt = 0, nb = 0;
        while (cnt < PFNS_PER_REQ && done + cnt < n && held_runs && nb < ARRAY_SIZE(batch)) {
            struct run *top = &held[held_runs - 1];
            uint64_t k = MIN(MIN(top->n, (uint64_t)(PFNS_PER_REQ - cnt)), n - done - cnt);
            uint32_t first = (uint32_t)top->pfn; /* take the run's low end: its high end came first */
            top->pfn += k;
            top->n -= k;
            if (!top->n)
                held_runs--;
            held_pages -= k;
            uint32_t *p = pfn_buf + cnt;
            for (uint32_t j = 0; j < (uint32_t)k; j++)
                p[j] = first + j;
            batch[nb++] = (struct run){first, k};
            cnt += (unsigned)k;
        }
        if (!send_pfns(&deflate_vq, cnt)) {
            printf("virtio-balloon: the host did not take %u deflated pages\n", cnt);
            ready = false;
            break;
        }
        set_actual();
        for (unsigned i = 0; i < nb; i++) {
            if (!page_pool_give(batch[i].pfn, batch[i].n))
                continue; /* the pool is full of fragments: these pages stay out of use */
            if (on_run)
                on_run(batch[i].pfn, batch[i].n, ctx);
        }
        done += cnt;
    }
    return done;
}

int64_t vballoon_follow(page_run_fn on_run, void *ctx)
{
    uint64_t target = vballoon_target();
    if (target > held_pages)
        return (int64_t)vballoon_inflate(target - held_pages);
    if (target < held_pages)
        return -(int64_t)vballoon_deflate(held_pages - target, on_run, ctx);
    return 0;
}

bool vballoon_poll(void)
{
    uint32_t isr = __atomic_exchange_n(&dev.isr_seen, 0, __ATOMIC_SEQ_CST);
    if (!dev.vector && ready) { /* polled: read and acknowledge the status ourselves */
        uint32_t now = virtio_read(&dev, VIRTIO_REG_INTERRUPT_STATUS);
        if (now)
            virtio_write(&dev, VIRTIO_REG_INTERRUPT_ACK, now);
        isr |= now;
    }
    if (!ready)
        return false;
    if (have_stats && virtq_get_used(&stats_vq, NULL) >= 0)
        post_stats(); /* the host gave the buffer back: it wants fresh values */
    return isr & VIRTIO_INT_CONFIG;
}

struct report_ctx {
    uint64_t min, pages;
    unsigned queued;
};

static void report_run(uint64_t pfn, uint64_t n, void *opaque)
{
    struct report_ctx *c = opaque;
    if (n < c->min)
        return;
    /* A buffer is at most 1 GiB (its length is 32 bits); wait when the queue is full. */
    for (uint64_t off = 0; off < n;) {
        uint64_t k = MIN(n - off, (1ULL << 30) / PAGE_SIZE);
        struct virtq_buf b = {(void *)(uintptr_t)((pfn + off) * PAGE_SIZE), (uint32_t)(k * PAGE_SIZE)};
        while (virtq_add(&report_vq, &b, 0, 1) < 0) {
            virtq_kick(&report_vq);
            if (virtq_wait_used(&report_vq, NULL, WAIT_US) < 0)
                return;
            c->queued--;
        }
        c->queued++;
        c->pages += k;
        off += k;
    }
}

uint64_t vballoon_report_free(uint64_t min_pages)
{
    struct report_ctx c = {MAX(min_pages, 1), 0, 0};
    if (!ready || !have_reporting)
        return 0;
    /* The runs stay in the pool meanwhile: nothing else runs here to take them. */
    page_pool_for_each(report_run, &c);
    virtq_kick(&report_vq);
    while (c.queued && virtq_wait_used(&report_vq, NULL, WAIT_US) >= 0)
        c.queued--;
    return c.pages;
}
