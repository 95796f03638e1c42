/* virtio-balloon: inflate/deflate with real release of guest pages (hole punching in the
 * guest RAM memfd), statistics, free page reporting. The rules are in virtio_balloon.h. */
#include "vmm/virtio/virtio_balloon.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "lib/err.h"
#include "lib/log.h"
#include "vmm/virtio/virtio_mmio.h"

enum queue_role { ROLE_NONE, ROLE_INFLATE, ROLE_DEFLATE, ROLE_STATS, ROLE_REPORTING };

/* Which queue is which under the negotiated features (virtio_balloon.h). */
static enum queue_role role_of(const struct virtio_dev *d, unsigned q)
{
    if (q == 0)
        return ROLE_INFLATE;
    if (q == 1)
        return ROLE_DEFLATE;
    unsigned next = 2;
    if (virtio_dev_has_feature(d, VIRTIO_BALLOON_F_STATS_VQ) && q == next++)
        return ROLE_STATS;
    if (virtio_dev_has_feature(d, VIRTIO_BALLOON_F_REPORTING) && q == next)
        return ROLE_REPORTING;
    return ROLE_NONE;
}

int virtio_balloon_pfn_offset(const struct guest_mem *mem, uint64_t pfn, uint64_t *offset)
{
    if (pfn > (UINT64_MAX >> 12))
        return -1;
    uint64_t gpa = pfn << 12;
    if (gpa < VIRTIO_BALLOON_PROTECTED_END)
        return -1;
    uint8_t *p = guest_mem_ptr(mem, gpa, VIRTIO_BALLOON_PAGE_SIZE);
    if (!p)
        return -1;
    *offset = (uint64_t)(p - mem->host);
    return 0;
}

int virtio_balloon_punch(const struct guest_mem *mem, uint64_t offset, uint64_t len)
{
    if (!len)
        return 0;
    if (mem->fd < 0) {
        memset(mem->host + offset, 0, len);
        return 0;
    }
    /* A hole, not madvise: the pages leave the memfd itself, so every mapping of it (ours,
     * KVM's through ours, a backend's) loses them and the allocation really shrinks. */
    guest_mem_discarding(mem, offset, len); /* a lazy restore must not fill them again */
    if (fallocate(mem->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, (off_t)offset, (off_t)len) < 0)
        return -errno;
    return 0;
}

/* Punches [off, off+len), counting it; failures are logged (a few) and counted. */
static void release(struct virtio_balloon *b, uint64_t off, uint64_t len, bool reported)
{
    int r = virtio_balloon_punch(b->mem, off, len);
    if (r < 0) {
        if (b->st.punch_errors++ < 8)
            log_warn("virtio-balloon: releasing %llu bytes at RAM offset 0x%llx: %s", (unsigned long long)len,
                     (unsigned long long)off, strerror(-r));
        return;
    }
    b->st.released_bytes += len;
    if (reported)
        b->st.reported_bytes += len;
}

/* Inflate or deflate: the whole request is checked before any page is released, so a bad
 * request releases nothing. */
static int handle_pfns(struct virtio_balloon *b, struct virtio_dev *d, struct virtq *vq, struct virtq_elem *e,
                       bool inflate)
{
    const char *what = inflate ? "inflate" : "deflate";
    if (e->n_in) {
        virtio_dev_fail(d, vq, "%s request with a device-writable buffer", what);
        return -1;
    }
    if (e->out_len % 4) {
        virtio_dev_fail(d, vq, "%s request of %llu bytes is not whole 32-bit PFNs", what,
                        (unsigned long long)e->out_len);
        return -1;
    }
    uint64_t n = e->out_len / 4;
    if (n > VIRTIO_BALLOON_MAX_PFNS) {
        virtio_dev_fail(d, vq, "%s request of %llu PFNs (at most %d)", what, (unsigned long long)n,
                        VIRTIO_BALLOON_MAX_PFNS);
        return -1;
    }
    const size_t chunk = sizeof(b->pfns) / sizeof(b->pfns[0]);
    for (int pass = 0; pass < 2; pass++) {
        /* Pass 0 checks every PFN; pass 1 (inflate only) punches runs of adjacent pages. */
        uint64_t run_off = 0, run_len = 0;
        for (uint64_t done = 0; done < n;) {
            size_t k = n - done < chunk ? (size_t)(n - done) : chunk;
            if (virtq_elem_read(e, done * 4, b->pfns, k * 4) != k * 4) {
                virtio_dev_fail(d, vq, "%s request shorter than it said", what);
                return -1;
            }
            for (size_t i = 0; i < k; i++) {
                uint64_t off;
                if (virtio_balloon_pfn_offset(b->mem, b->pfns[i], &off) < 0) {
                    virtio_dev_fail(d, vq,
                                    "%s: PFN 0x%x is not guest RAM the balloon may take (RAM at or above "
                                    "1 MiB)",
                                    what, b->pfns[i]);
                    return -1;
                }
                if (pass == 0)
                    continue;
                if (run_len && off == run_off + run_len) {
                    run_len += VIRTIO_BALLOON_PAGE_SIZE;
                    continue;
                }
                release(b, run_off, run_len, false);
                run_off = off;
                run_len = VIRTIO_BALLOON_PAGE_SIZE;
            }
            done += k;
        }
        if (pass == 1)
            release(b, run_off, run_len, false);
        if (!inflate)
            break;
    }
    if (inflate)
        b->st.inflated_pages += n;
    else
        b->st.deflated_pages += n;
    return 0;
}

static uint64_t realtime_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* A stats buffer: {le16 tag, le64 val} entries, packed (10 bytes each). */
static int handle_stats(struct virtio_balloon *b, struct virtio_dev *d, struct virtq *vq, struct virtq_elem *e)
{
    uint8_t buf[VIRTIO_BALLOON_STATS_MAX];
    if (e->n_in) {
        virtio_dev_fail(d, vq, "stats buffer is device-writable");
        return -1;
    }
    if (e->out_len % 10 || e->out_len > sizeof(buf)) {
        virtio_dev_fail(d, vq, "stats buffer of %llu bytes (whole 10-byte entries, at most %u bytes)",
                        (unsigned long long)e->out_len, (unsigned)sizeof(buf));
        return -1;
    }
    size_t len = virtq_elem_read(e, 0, buf, (size_t)e->out_len);
    for (size_t i = 0; i + 10 <= len; i += 10) {
        uint16_t tag = (uint16_t)(buf[i] | buf[i + 1] << 8);
        uint64_t val = 0;
        for (int k = 7; k >= 0; k--)
            val = val << 8 | buf[i + 2 + k];
        if (tag < VIRTIO_BALLOON_S_NR) /* unknown tags are ignored (5.5.6.3) */
            b->st.stats[tag] = val;
    }
    b->st.stats_updates++;
    b->st.stats_realtime_ns = realtime_ns();
    /* Hold it: giving it back is how the device asks for the next values. A driver that
     * posts another one meanwhile gets the older back at once. */
    if (b->stats_held)
        virtq_push(vq, b->held, 0);
    b->held->head = e->head;
    b->held->in_len = 0;
    b->stats_held = true;
    return 0;
}

/* Free page reporting: every buffer is a run of free pages, device-writable, whole pages. */
static int handle_report(struct virtio_balloon *b, struct virtio_dev *d, struct virtq *vq, struct virtq_elem *e)
{
    if (e->n_out) {
        virtio_dev_fail(d, vq, "free page report with a device-readable buffer");
        return -1;
    }
    for (unsigned k = 0; k < e->n_in; k++) {
        uint64_t off = (uint64_t)((uint8_t *)e->in[k].iov_base - b->mem->host), len = e->in[k].iov_len;
        uint64_t gpa = 0;
        bool found = false;
        for (unsigned i = 0; i < b->mem->nranges; i++) {
            const struct guest_range *r = &b->mem->ranges[i];
            if (off >= r->offset && off - r->offset < r->size) {
                gpa = r->gpa + (off - r->offset);
                found = true;
            }
        }
        if (!found || off % VIRTIO_BALLOON_PAGE_SIZE || len % VIRTIO_BALLOON_PAGE_SIZE || !len ||
            gpa < VIRTIO_BALLOON_PROTECTED_END) {
            virtio_dev_fail(d, vq, "free page report 0x%llx+0x%llx is not whole pages of RAM at or above 1 MiB",
                            (unsigned long long)gpa, (unsigned long long)len);
            return -1;
        }
    }
    for (unsigned k = 0; k < e->n_in; k++)
        release(b, (uint64_t)((uint8_t *)e->in[k].iov_base - b->mem->host), e->in[k].iov_len, true);
    return 0;
}

static void queue_notify(struct virtio_dev *d, struct virtq *vq)
{
    struct virtio_balloon *b = virtio_dev_opaque(d);
    enum queue_role role = role_of(d, vq->index);
    struct virtq_elem *e = b->elem;
    int r;
    if (role == ROLE_NONE) {
        virtio_dev_fail(d, vq, "queue %u is not in use with the negotiated features", vq->index);
        return;
    }
    while ((r = virtq_pop(vq, e)) > 0) {
        if (role == ROLE_STATS) {
            if (handle_stats(b, d, vq, e) < 0)
                return;
            continue; /* held, not used: giving it back asks for the next values */
        }
        int ok = role == ROLE_REPORTING ? handle_report(b, d, vq, e) : handle_pfns(b, d, vq, e, role == ROLE_INFLATE);
        if (ok < 0)
            return;
        virtq_push(vq, e, 0);
    }
    if (r == 0)
        virtio_notify(d, vq);
}

static void config_read(struct virtio_dev *d, uint32_t offset, uint8_t *data, unsigned size)
{
    struct virtio_balloon *b = virtio_dev_opaque(d);
    uint8_t cfg[VIRTIO_BALLOON_CONFIG_SIZE] = {0};
    for (int i = 0; i < 4; i++) {
        cfg[i] = (uint8_t)(b->st.num_pages >> (8 * i));
        cfg[4 + i] = (uint8_t)(b->st.actual >> (8 * i));
    }
    memcpy(data, cfg + offset, size); /* the transport checked offset + size */
}

static void config_write(struct virtio_dev *d, uint32_t offset, const uint8_t *data, unsigned size)
{
    struct virtio_balloon *b = virtio_dev_opaque(d);
    /* Only `actual` (bytes 4-7) is the driver's to write; partial writes merge. */
    for (unsigned i = 0; i < size; i++) {
        uint32_t at = offset + i;
        if (at < 4 || at > 7)
            continue;
        unsigned shift = 8 * (at - 4);
        b->st.actual = (b->st.actual & ~(0xffu << shift)) | (uint32_t)data[i] << shift;
    }
}

static void reset(struct virtio_dev *d)
{
    struct virtio_balloon *b = virtio_dev_opaque(d);
    /* The driver's balloon is gone with it; the host's target stays. */
    b->st.actual = 0;
    b->stats_held = false;
}

static void destroy(struct virtio_dev *d)
{
    struct virtio_balloon *b = virtio_dev_opaque(d);
    free(b->elem);
    free(b->held);
    free(b);
}

/* Snapshot state: the target and what the guest reached (struct virtio_dev_state). */
static void state_save(struct virtio_dev *d, uint32_t words[2])
{
    struct virtio_balloon *b = virtio_dev_opaque(d);
    words[0] = b->record_target_set ? b->record_target : b->st.num_pages;
    words[1] = b->st.actual;
}

/* A file's target may not be the device's (save ... shrink records the one from before the
 * shrink): the device starts at what the guest reached and is asked for the target once it
 * runs (state_loaded). A peer sends the device's registers as they were. */
static void state_load(struct virtio_dev *d, const uint32_t words[2], enum dev_state_source src)
{
    struct virtio_balloon *b = virtio_dev_opaque(d);
    b->st.num_pages = src == DEV_STATE_FILE ? words[1] : words[0];
    b->st.actual = words[1];
}

/* A target the guest had not reached (or the one from before a `save ... shrink`): set with
 * a configuration interrupt, so the guest acts on it after the resume. */
static void state_loaded(struct virtio_dev *d, const uint32_t words[2], enum dev_state_source src)
{
    if (src == DEV_STATE_FILE && words[0] != words[1])
        virtio_balloon_set_target(virtio_dev_opaque(d), words[0]);
}

static const struct virtio_dev_ops balloon_ops = {
    .config_read = config_read,
    .config_write = config_write,
    .queue_notify = queue_notify,
    .reset = reset,
    .destroy = destroy,
    .state_save = state_save,
    .state_load = state_load,
    .state_loaded = state_loaded,
};

struct virtio_balloon *virtio_balloon_create(struct virtio_host *h)
{
    struct virtio_balloon *b = calloc(1, sizeof(*b));
    struct virtq_elem *e = malloc(sizeof(*e)), *held = calloc(1, sizeof(*held));
    if (!b || !e || !held) {
        free(b);
        free(e);
        free(held);
        err_set(ENOMEM, "virtio-balloon: out of memory");
        return NULL;
    }
    b->elem = e;
    b->held = held;
    b->mem = h->mem;
    b->mem_pages = h->mem->size / VIRTIO_BALLOON_PAGE_SIZE;
    for (unsigned i = 0; i < VIRTIO_BALLOON_S_NR; i++)
        b->st.stats[i] = VIRTIO_BALLOON_STAT_NONE;
    struct virtio_dev_info info = {
        .name = "virtio-balloon",
        .device_id = VIRTIO_ID_BALLOON,
        .features = (1ULL << VIRTIO_BALLOON_F_STATS_VQ) | (1ULL << VIRTIO_BALLOON_F_DEFLATE_ON_OOM) |
                    (1ULL << VIRTIO_BALLOON_F_REPORTING),
        .nqueues = VIRTIO_BALLOON_NQUEUES,
        .queue_max = VIRTIO_BALLOON_QUEUE_SIZE,
        .config_size = VIRTIO_BALLOON_CONFIG_SIZE,
        .ops = &balloon_ops,
        .opaque = b,
    };
    b->dev = virtio_mmio_add(h, &info);
    if (!b->dev) {
        free(e);
        free(held);
        free(b);
        return NULL;
    }
    return b;
}

void virtio_balloon_set_target(struct virtio_balloon *b, uint32_t num_pages)
{
    if (num_pages > b->mem_pages)
        num_pages = (uint32_t)(b->mem_pages > UINT32_MAX ? UINT32_MAX : b->mem_pages);
    virtio_dev_lock(b->dev);
    if (b->st.num_pages != num_pages) {
        b->st.num_pages = num_pages;
        virtio_config_changed(b->dev);
    }
    virtio_dev_unlock(b->dev);
}

void virtio_balloon_request_stats(struct virtio_balloon *b)
{
    struct virtio_dev *d = b->dev;
    virtio_dev_lock(d);
    if (b->stats_held && virtio_dev_running(d) && virtio_dev_has_feature(d, VIRTIO_BALLOON_F_STATS_VQ)) {
        struct virtq *vq = virtio_dev_queue(d, 2);
        if (vq->ready) {
            b->stats_held = false;
            virtq_push(vq, b->held, 0);
            virtio_notify(d, vq);
        }
    }
    virtio_dev_unlock(d);
}

void virtio_balloon_get(struct virtio_balloon *b, struct virtio_balloon_state *out)
{
    virtio_dev_lock(b->dev);
    *out = b->st;
    out->driver_ok = virtio_dev_running(b->dev);
    virtio_dev_unlock(b->dev);
    if (out->actual > b->mem_pages)
        out->actual = (uint32_t)b->mem_pages;
}

void virtio_balloon_record_target(struct virtio_balloon *b, int set, uint32_t num_pages)
{
    virtio_dev_lock(b->dev);
    b->record_target_set = set != 0;
    b->record_target = num_pages;
    virtio_dev_unlock(b->dev);
}
