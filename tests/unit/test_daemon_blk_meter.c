/* xenod's reader of xeno-blkback's stats page (src/daemon/blk_meter.c) against the page the
 * real backend code writes (src/blk/blk_state.c, a real struct blkback with a real image in
 * a temporary directory): counters, size and allocation, the latency percentiles, a refresh
 * that copies nothing while nothing changed, a backend restart and a disk added again (new
 * meter instances), and hostile pages (too many disks, strings without an end, a truncated
 * file, a link). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "blk/blk_state.h"
#include "blk/blkback.h"
#include "daemon/billing.h"
#include "daemon/blk_meter.h"
#include "daemon/meter.h"

#define MIB (1024u * 1024u)

struct fx {
    char dir[64], state[96], stats[128];
    int dirfd, statefd;
    struct blkback bb;
    struct bb_stats_page *pg;
};

static void add_disk(struct fx *f, const char *name, const char *file)
{
    struct blk_disk_config cfg = {.queues = 1};
    snprintf(cfg.name, sizeof(cfg.name), "%s", name);
    snprintf(cfg.socket, sizeof(cfg.socket), "%s/%s.sock", f->dir, name); /* nobody listens: fine */
    snprintf(cfg.file, sizeof(cfg.file), "%s", file);
    assert_int_equal(blkback_disk_add(&f->bb, &cfg), 0);
}

static void fx_setup(struct fx *f)
{
    memset(f, 0, sizeof(*f));
    snprintf(f->dir, sizeof(f->dir), "/tmp/test_daemon_blk_meter.XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    f->dirfd = open(f->dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
    assert_true(f->dirfd >= 0);
    /* A 4 MiB sparse image with its first MiB written: allocated is about 1 MiB. */
    int fd = openat(f->dirfd, "d7-vda.img", O_CREAT | O_RDWR | O_CLOEXEC, 0600);
    assert_true(fd >= 0);
    assert_int_equal(ftruncate(fd, 4 * MIB), 0);
    char *buf = calloc(1, MIB);
    memset(buf, 0x5a, MIB);
    assert_int_equal(pwrite(fd, buf, MIB, 0), MIB);
    free(buf);
    fsync(fd);
    close(fd);
    assert_int_equal(blkback_init(&f->bb, dup(f->dirfd)), 0);
    add_disk(f, "d7-vda", "d7-vda.img");
    snprintf(f->state, sizeof(f->state), "%s/state", f->dir);
    f->statefd = blk_state_open(f->state);
    assert_true(f->statefd >= 0);
    assert_int_equal(blk_state_map_stats(f->statefd, &f->pg), 0);
    snprintf(f->stats, sizeof(f->stats), "%s/stats", f->state);
}

static void fx_teardown(struct fx *f)
{
    blkback_fini(&f->bb);
    munmap(f->pg, (sizeof(*f->pg) + 4095) & ~(size_t)4095);
    close(f->statefd);
    char cmd[160];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", f->dir);
    assert_int_equal(system(cmd), 0);
    close(f->dirfd);
}

/* The I/O a guest did, as the backend counts it. */
static struct blk_disk *fake_io(struct fx *f, const char *name)
{
    struct blk_disk *d = blkback_disk_find(&f->bb, name);
    assert_non_null(d);
    d->st.reads = 10, d->st.writes = 5, d->st.flushes = 1, d->st.discards = 2, d->st.write_zeroes = 3;
    d->st.get_ids = 4; /* no I/O: not an op */
    d->st.bytes_read = 10 * 4096, d->st.bytes_written = 5 * 8192;
    d->st.latency[0] = 10, d->st.latency[3] = 5, d->st.latency[BB_STATS_LAT_BUCKETS - 1] = 1;
    return d;
}

static void counters_size_and_percentiles(void **state)
{
    (void)state;
    struct fx f;
    fx_setup(&f);
    fake_io(&f, "d7-vda");
    blk_state_update_stats(f.pg, &f.bb);
    struct blk_meter m;
    blk_meter_init(&m, f.stats);
    assert_int_equal(blk_meter_refresh(&m), 1);
    assert_null(blk_meter_find(&m, "d7-vdb"));
    const struct bb_stats_disk *d = blk_meter_find(&m, "d7-vda");
    assert_non_null(d);
    assert_int_equal(blk_meter_ops(d), 21);
    assert_int_equal(d->bytes_read, 40960);
    assert_int_equal(d->bytes_written, 40960);
    assert_int_equal(d->size_bytes, 4 * MIB);
    assert_true(d->allocated_bytes >= MIB && d->allocated_bytes < 2 * MIB);
    assert_true(d->added_ns > 0);
    assert_int_equal(blk_meter_latency_ns(d->latency, 500), BB_STATS_LAT_BASE_NS);      /* rank 8 of 16 */
    assert_int_equal(blk_meter_latency_ns(d->latency, 900), BB_STATS_LAT_BASE_NS << 3); /* rank 15 */
    assert_int_equal(blk_meter_latency_ns(d->latency, 990), UINT64_MAX);                /* the open bucket */
    uint64_t none[BB_STATS_LAT_BUCKETS] = {0};
    assert_int_equal(blk_meter_latency_ns(none, 500), 0);
    /* The name xenod gives a domain's disk on the backend (lib/domain_disk.h's tag). */
    char name[BLK_METER_NAME_MAX];
    assert_int_equal(blk_meter_disk_name(name, "u0b2a4c1e96", "vdb"), 0);
    assert_string_equal(name, "u0b2a4c1e96-vdb");

    /* Its meter reading: ops and bytes since the disk was added, size as the gauge. */
    struct meter_reading r;
    blk_meter_reading(d, d->added_ns + 10ull * 1000000000u, &r);
    struct meter_cursor c = {.source = METER_SOURCE_DISK};
    int64_t q[METER__COUNT] = {0};
    assert_int_equal(meter_advance(&c, &r, q), 1);
    assert_int_equal(q[METER_DISK_OPS], 21 * 1000000LL);
    assert_int_equal(q[METER_DISK_BYTES], 81920 * 1000000LL);
    assert_int_equal(q[METER_DISK_PROVISIONED], 10 * 1000000LL * 4 / 1024); /* 4 MiB x 10 s */

    /* Nothing changed: only the header is read. Then a change is copied. */
    uint64_t copies = m.copies;
    for (int i = 0; i < 5; i++)
        assert_int_equal(blk_meter_refresh(&m), 0);
    assert_int_equal(m.copies, copies);
    blkback_disk_find(&f.bb, "d7-vda")->st.reads++;
    blk_state_update_stats(f.pg, &f.bb);
    assert_int_equal(blk_meter_refresh(&m), 1);
    assert_int_equal(blk_meter_ops(blk_meter_find(&m, "d7-vda")), 22);
    assert_int_equal(m.copies, copies + 1);
    blk_meter_fini(&m);
    fx_teardown(&f);
}

/* A restarted backend maps the page anew (counters from zero) and adds its disks again: the
 * disk's added_ns, the meter's instance, is new, so the meter counts its counters from zero
 * (never the old ones twice, never negative). The same for a disk removed and added again
 * within one backend (the domain stopped and started). */
static void restart_and_readd_give_new_instances(void **state)
{
    (void)state;
    struct fx f;
    fx_setup(&f);
    fake_io(&f, "d7-vda");
    blk_state_update_stats(f.pg, &f.bb);
    struct blk_meter m;
    blk_meter_init(&m, f.stats);
    assert_int_equal(blk_meter_refresh(&m), 1);
    uint64_t first = blk_meter_find(&m, "d7-vda")->added_ns;

    usleep(2000);
    assert_int_equal(blkback_disk_remove(&f.bb, "d7-vda"), 0);
    add_disk(&f, "d7-vda", "d7-vda.img");
    blkback_disk_find(&f.bb, "d7-vda")->st.writes = 1;
    munmap(f.pg, (sizeof(*f.pg) + 4095) & ~(size_t)4095);
    assert_int_equal(blk_state_map_stats(f.statefd, &f.pg), 0); /* a new backend's page */
    blk_state_update_stats(f.pg, &f.bb);
    assert_int_equal(blk_meter_refresh(&m), 1);
    const struct bb_stats_disk *d = blk_meter_find(&m, "d7-vda");
    assert_non_null(d);
    assert_true(d->added_ns > first);
    assert_int_equal(blk_meter_ops(d), 1);

    struct meter_cursor c = {.source = METER_SOURCE_DISK};
    int64_t q[METER__COUNT] = {0};
    struct meter_reading r = {.instance = first, .start_ns = first, .time_ns = first + 1000000, .counter = {21, 81920}};
    assert_int_equal(meter_advance(&c, &r, q), 1);
    blk_meter_reading(d, d->added_ns + 1000000, &r);
    assert_int_equal(meter_advance(&c, &r, q), 1); /* a new instance */
    assert_int_equal(q[METER_DISK_OPS], 22 * 1000000LL);
    assert_int_equal(q[METER_DISK_BYTES], 81920 * 1000000LL);
    blk_meter_fini(&m);
    fx_teardown(&f);
}

/* What a broken or hostile backend could leave: never a crash, never a string without an
 * end, never more disks than the page holds. */
static void hostile_pages(void **state)
{
    (void)state;
    struct fx f;
    fx_setup(&f);
    blk_state_update_stats(f.pg, &f.bb);
    struct blk_meter m;
    blk_meter_init(&m, f.stats);
    /* Strings that fill their field: cut at the last byte. */
    memset(f.pg->disks[0].name, 'x', sizeof(f.pg->disks[0].name));
    memset(f.pg->disks[1].sponsor, 'y', sizeof(f.pg->disks[1].sponsor));
    f.pg->seq += 2;
    assert_int_equal(blk_meter_refresh(&m), 1);
    assert_int_equal(strlen(m.page.disks[0].name), sizeof(m.page.disks[0].name) - 1);
    assert_int_equal(strlen(m.page.disks[1].sponsor), sizeof(m.page.disks[1].sponsor) - 1);
    assert_null(blk_meter_find(&m, "d7-vda"));
    /* Too many disks: refused, the copy dropped. */
    f.pg->ndisks = 1000;
    f.pg->seq += 2;
    assert_int_equal(blk_meter_refresh(&m), -EINVAL);
    assert_null(blk_meter_find(&m, "anything"));
    /* Another version or magic: refused. */
    f.pg->ndisks = 1;
    f.pg->version = 1;
    f.pg->seq += 2;
    assert_int_equal(blk_meter_refresh(&m), -EINVAL);
    f.pg->version = BB_STATS_VERSION;
    f.pg->seq += 2;
    assert_int_equal(blk_meter_refresh(&m), 1);
    /* Truncated under the reader: -EINVAL, no fault (it is never mapped). */
    assert_int_equal(truncate(f.stats, 20), 0);
    assert_int_equal(blk_meter_refresh(&m), -EINVAL);
    assert_int_equal(blk_meter_refresh(&m), -EINVAL);
    /* A link in its place: not followed. */
    assert_int_equal(unlink(f.stats), 0);
    assert_int_equal(symlink("/etc/passwd", f.stats), 0);
    assert_int_equal(blk_meter_refresh(&m), -ELOOP);
    assert_int_equal(unlink(f.stats), 0);
    assert_int_equal(blk_meter_refresh(&m), -ENOENT);
    blk_meter_fini(&m);
    fx_teardown(&f);
}

/* The quantities of the bill's line of `resource` (by resource: one line each), -1 if none. */
static int64_t line_quantity(const struct invoice *inv, int resource)
{
    for (size_t i = 0; i < inv->n; i++)
        if (inv->lines[i].resource == resource)
            return inv->lines[i].quantity;
    return -1;
}

static void bill_of(struct billing *b, int64_t from_us, int64_t to_us, struct invoice *inv)
{
    assert_int_equal(billing_bill(b, "acme", from_us, to_us, INVOICE_BY_RESOURCE, inv), 0);
}

/* From the page to the bill: readings of the disk posted to the ledger (exactly once, across
 * a restart of xenod and of the backend) make disk lines whose quantities are the backend's
 * counters and the disk's size x time. */
static void bill_has_disk_lines_matching_the_counters(void **state)
{
    (void)state;
    struct fx f;
    fx_setup(&f);
    struct blk_disk *bd = fake_io(&f, "d7-vda");
    blk_state_update_stats(f.pg, &f.bb);
    struct blk_meter m;
    blk_meter_init(&m, f.stats);
    assert_int_equal(blk_meter_refresh(&m), 1);
    const struct bb_stats_disk *d = blk_meter_find(&m, "d7-vda");
    assert_non_null(d);
    uint64_t t0 = d->added_ns;
    char prices[160];
    snprintf(prices, sizeof(prices), "%s/prices", f.dir);
    FILE *pf = fopen(prices, "w");
    assert_non_null(pf);
    fputs("version t\neffective 2000-01-01T00:00:00Z\nprice disk_ops 1000 per op\nprice disk_bytes 1 per 1000 bytes\n"
          "price disk_provisioned 1000000 per GiB-second\n",
          pf);
    fclose(pf);
    struct billing *b;
    assert_int_equal(billing_open(&b, f.dir, prices, 60), 0);
    struct billing_reading r;
    memset(&r, 0, sizeof(r));
    snprintf(r.uuid, sizeof(r.uuid), "u-7");
    snprintf(r.name, sizeof(r.name), "web");
    snprintf(r.sponsor, sizeof(r.sponsor), "acme");
    r.has_disk[0] = 1;
    blk_meter_reading(d, t0 + 10000000000ull, &r.disk[0]);
    billing_observe(b, &r, 1);
    billing_observe(b, &r, 1); /* the same reading again: counted once */

    /* More I/O, read 10 s later. */
    bd->st.reads += 4, bd->st.bytes_read += 4 * 4096;
    blk_state_update_stats(f.pg, &f.bb);
    assert_int_equal(blk_meter_refresh(&m), 1);
    d = blk_meter_find(&m, "d7-vda");
    blk_meter_reading(d, t0 + 20000000000ull, &r.disk[0]);
    billing_observe(b, &r, 1);
    billing_close(b);

    /* xenod restarted: its successor posts the last reading again (refused: the key is there)
     * and goes on from the saved cursor. */
    assert_int_equal(billing_open(&b, f.dir, prices, 60), 0);
    billing_observe(b, &r, 1);
    /* The backend restarted: the disk added again, its counters from zero. */
    usleep(2000);
    assert_int_equal(blkback_disk_remove(&f.bb, "d7-vda"), 0);
    add_disk(&f, "d7-vda", "d7-vda.img");
    bd = blkback_disk_find(&f.bb, "d7-vda");
    bd->st.writes = 2, bd->st.bytes_written = 2 * 4096;
    blk_state_update_stats(f.pg, &f.bb);
    assert_int_equal(blk_meter_refresh(&m), 1);
    d = blk_meter_find(&m, "d7-vda");
    assert_true(d->added_ns > t0);
    /* Read at t0 + 30 s (the test's clock runs ahead of the real one: the new backend's
     * add, really a moment after t0, is before the last reading at t0 + 20 s, so its time
     * counts from that reading on, never twice). */
    uint64_t t1 = t0 + 30000000000ull;
    blk_meter_reading(d, t1, &r.disk[0]);
    billing_observe(b, &r, 1);

    struct invoice inv;
    int64_t from = (int64_t)(t0 / 1000) - 3600000000LL, to = (int64_t)(t1 / 1000) + 3600000000LL;
    bill_of(b, from, to, &inv);
    assert_int_equal(line_quantity(&inv, RES_DISK_OPS), (21 + 4 + 2) * 1000000LL);
    assert_int_equal(line_quantity(&inv, RES_DISK_BYTES), (81920 + 4 * 4096 + 2 * 4096) * 1000000LL);
    /* 4 MiB for 20 s, then (after the backend's restart) for 10 s more: 30 x 4 / 1024 GiB-s. */
    assert_int_equal(line_quantity(&inv, RES_DISK_PROVISIONED), 30 * 1000000LL * 4 / 1024);
    assert_int_equal(line_quantity(&inv, RES_DISK_RESERVED), -1); /* no reservation, no line */
    /* Priced: 27 ops x 1000, bytes / 1000, GiB-seconds x 1000000 (micro-units of money). */
    for (size_t i = 0; i < inv.n; i++)
        if (inv.lines[i].resource == RES_DISK_OPS)
            assert_int_equal(inv.lines[i].amount, 27 * 1000);
    invoice_free(&inv);
    billing_close(b);
    blk_meter_fini(&m);
    fx_teardown(&f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(counters_size_and_percentiles),
        cmocka_unit_test(restart_and_readd_give_new_instances),
        cmocka_unit_test(hostile_pages),
        cmocka_unit_test(bill_has_disk_lines_matching_the_counters),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
