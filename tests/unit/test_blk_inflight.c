/* The inflight region of xeno-blkback (docs/blkback.md "Restarts"): the spec's recovery
 * (src/vhost/inflight_split.c) on regions in every state a crash can leave and in states only a
 * hostile front end can make (refused, never trusted); then the real backend killed with
 * SIGKILL while a request completed out of order is published and an earlier one is not: the
 * next backend redoes the one and not the other. Also discard as a barrier in its queue. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <signal.h>
#include <sys/wait.h>

#include "blk/blkback.h"
#include "vhost/inflight_split.h"

#include "blk_fe.h"

#define QS 32u /* the region's queue size in the recovery tests */
#define RING 16u

struct region {
    uint8_t *mem;
    struct vu_inflight_queue iq;
    struct vu_inflight_resubmit *out;
};

/* A region for one queue of QS entries as a backend leaves it after its first start. */
static void region_new(struct region *r)
{
    r->mem = calloc(1, vu_inflight_queue_bytes(QS));
    assert_non_null(r->mem);
    vu_inflight_queue_at(&r->iq, r->mem, 0, QS);
    r->out = calloc(1, sizeof(*r->out));
    assert_non_null(r->out);
    assert_int_equal(vu_inflight_recover(&r->iq, RING, 0, 0, r->out), 0); /* fresh: set up */
    assert_int_equal(r->iq.hdr->version, VU_INFLIGHT_VERSION);
    assert_int_equal(r->iq.hdr->desc_num, QS);
}

static void region_free(struct region *r)
{
    free(r->mem);
    free(r->out);
}

/* A fresh (zeroed) region has nothing to redo, whatever the ring's indexes (a restored domain). */
static void test_fresh_region(void **state)
{
    (void)state;
    uint8_t *mem = calloc(1, vu_inflight_queue_bytes(QS));
    struct vu_inflight_queue iq;
    vu_inflight_queue_at(&iq, mem, 0, QS);
    struct vu_inflight_resubmit *out = calloc(1, sizeof(*out));
    assert_int_equal(vu_inflight_recover(&iq, RING, 5000, 5003, out), 0);
    assert_int_equal(out->n, 0);
    assert_int_equal(out->last_avail, 5000);
    assert_int_equal(iq.hdr->used_idx, 5000);
    free(out);
    free(mem);
}

/* Taken: heads 3, 5, 1 (counters 1, 2, 3); 5 completed first and was published. The ring's
 * used index is 1, the guest made 3 available. */
static void test_normal_recovery(void **state)
{
    (void)state;
    struct region r;
    region_new(&r);
    vu_inflight_take(&r.iq, 3);
    vu_inflight_take(&r.iq, 5);
    vu_inflight_take(&r.iq, 1);
    vu_inflight_publish_begin(&r.iq, 5);
    vu_inflight_publish_end(&r.iq, 5, 1);
    r.iq.counter = 0; /* a new backend knows nothing */
    assert_int_equal(vu_inflight_recover(&r.iq, RING, 1, 3, r.out), 0);
    assert_int_equal(r.out->n, 2);
    assert_int_equal(r.out->head[0], 3); /* oldest first */
    assert_int_equal(r.out->head[1], 1);
    assert_int_equal(r.out->last_avail, 3); /* used 1 + 2 in flight */
    assert_int_equal(r.iq.counter, 3);      /* the next take gets 4 */
    region_free(&r);
}

/* Killed after used->idx moved for head 5 and before its flag was cleared: 5 is not redone
 * (and its flag is cleared in the region), 3 is. Killed one store earlier (the used entry
 * written, the index not moved): 5 is redone. */
static void test_crash_between_used_idx_and_flag(void **state)
{
    (void)state;
    struct region r;
    region_new(&r);
    vu_inflight_take(&r.iq, 3);
    vu_inflight_take(&r.iq, 5);
    vu_inflight_publish_begin(&r.iq, 5);
    /* vring_push's index store happened (used 0 -> 1); publish_end did not. */
    assert_int_equal(vu_inflight_recover(&r.iq, RING, 1, 2, r.out), 0);
    assert_int_equal(r.out->n, 1);
    assert_int_equal(r.out->head[0], 3);
    assert_int_equal(r.out->last_avail, 2);
    assert_int_equal(r.iq.desc[5].inflight, 0);
    assert_int_equal(r.iq.hdr->used_idx, 1);
    region_free(&r);

    region_new(&r);
    vu_inflight_take(&r.iq, 3);
    vu_inflight_take(&r.iq, 5);
    vu_inflight_publish_begin(&r.iq, 5); /* the index did not move: used 0 */
    assert_int_equal(vu_inflight_recover(&r.iq, RING, 0, 2, r.out), 0);
    assert_int_equal(r.out->n, 2);
    assert_int_equal(r.out->head[0], 3);
    assert_int_equal(r.out->head[1], 5);
    assert_int_equal(r.out->last_avail, 2);
    region_free(&r);
}

/* A region a hostile front end wrote: refused with -EINVAL, nothing read outside it. */
static void test_hostile_regions(void **state)
{
    (void)state;
    struct region r;
#define HOSTILE(setup, used, avail)                                                                                    \
    do {                                                                                                               \
        region_new(&r);                                                                                                \
        vu_inflight_take(&r.iq, 2);                                                                                    \
        vu_inflight_take(&r.iq, 4);                                                                                    \
        setup;                                                                                                         \
        assert_int_equal(vu_inflight_recover(&r.iq, RING, (used), (avail), r.out), -EINVAL);                           \
        region_free(&r);                                                                                               \
    } while (0)
    HOSTILE(r.iq.hdr->desc_num = 0xffff, 0, 2);                                         /* desc_num not the one made */
    HOSTILE(r.iq.hdr->desc_num = RING, 0, 2);                                           /* smaller than made */
    HOSTILE(r.iq.hdr->version = 7, 0, 2);                                               /* unknown version */
    HOSTILE((r.iq.desc[RING + 3].inflight = 1, r.iq.desc[RING + 3].counter = 9), 0, 3); /* head >= ring */
    HOSTILE(r.iq.desc[2].inflight = 2, 0, 2);                                           /* a flag not 0/1 */
    HOSTILE(r.iq.desc[4].counter = 0, 0, 2);                                            /* flagged, never counted */
    HOSTILE(r.iq.desc[4].counter = r.iq.desc[2].counter, 0, 2);                         /* two heads, one counter */
    HOSTILE((r.iq.desc[7].inflight = 1, r.iq.desc[7].counter = 3), 0, 2);               /* more than made available */
    HOSTILE(, 0, 40);                                                                   /* avail runs past the ring */
    HOSTILE(r.iq.hdr->used_idx = 9, 0, 2);                                              /* used index far off */
    HOSTILE((r.iq.hdr->used_idx = 0, r.iq.hdr->last_batch_head = RING), 1, 3);          /* last head >= ring */
#undef HOSTILE
    /* A ring larger than the region was made for. */
    region_new(&r);
    assert_int_equal(vu_inflight_recover(&r.iq, QS * 2, 0, 0, r.out), -EINVAL);
    region_free(&r);
}

/* ---- the real backend ---- */

#define A_HDR 0x3000u
#define A_STATUS 0x3100u
#define B_HDR 0x3200u
#define B_BUF 0x3300u
#define B_STATUS 0x3400u
#define A_SECTOR 16u

static uint16_t post_write(struct fe *f, uint16_t first, uint32_t hdr, uint64_t sector, void *data, uint32_t st)
{
    struct virtio_blk_req_hdr *h = (void *)(f->mem + hdr);
    *h = (struct virtio_blk_req_hdr){.type = VIRTIO_BLK_T_OUT, .sector = sector};
    f->mem[st] = 0xee;
    struct seg s[3] = {{h, sizeof(*h), false}, {data, 4096, false}, {f->mem + st, 1, true}};
    return post(f, first, s, 3);
}

/* The backend goes and another connects, as after a restart: base = what the monitor gives. */
static void restart(struct fe *f, uint16_t base)
{
    blkback_fini(&f->bb);
    close(f->sock);
    fe_connect(f, false, base);
}

static void image_read(struct fe *f, uint64_t sector, void *buf)
{
    int img = openat(f->dirfd, "disk.img", O_RDONLY | O_CLOEXEC);
    assert_true(img >= 0);
    assert_int_equal(pread(img, buf, 4096, (off_t)sector * 512), 4096);
    close(img);
}

/* Request A (a write) is taken and not yet on io_uring when request B (GET_ID), taken after
 * it, completes and is published: out of order. The backend is then killed with SIGKILL (a
 * child process that owns the same connection, rings and region). The next backend redoes A
 * (its data reaches the image, its used entry appears once) and not B (its buffer, cleared
 * by the test, stays cleared). */
static void test_kill9_out_of_order(void **state)
{
    (void)state;
    struct fe f;
    fe_setup(&f, "disk.img", false);
    assert_non_null(f.bb.disk[0]->q[0].iq.hdr); /* the queue runs with the region */
    uint8_t *data = f.mem + DATA_OFF;
    memset(data, 0xa5, 4096);
    uint16_t a = post_write(&f, 0, A_HDR, A_SECTOR, data, A_STATUS);
    struct virtio_blk_req_hdr *bh = (void *)(f.mem + B_HDR);
    *bh = (struct virtio_blk_req_hdr){.type = VIRTIO_BLK_T_GET_ID};
    f.mem[B_STATUS] = 0xee;
    struct seg bs[3] = {
        {bh, sizeof(*bh), false}, {f.mem + B_BUF, VIRTIO_BLK_ID_BYTES, true}, {f.mem + B_STATUS, 1, true}};
    uint16_t b = post(&f, 4, bs, 3);

    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        /* The backend takes both: A goes to the scheduler, B is answered at once. Killed
         * before A reaches io_uring. */
        blk_queue_kick(f.bb.disk[0], 0);
        kill(getpid(), SIGKILL);
        _exit(1);
    }
    int ws;
    assert_int_equal(waitpid(pid, &ws, 0), pid);
    assert_true(WIFSIGNALED(ws) && WTERMSIG(ws) == SIGKILL);
    /* What the dead backend left: B published, A flagged. */
    assert_int_equal(__atomic_load_n(&f.used->idx, __ATOMIC_ACQUIRE), 1);
    assert_int_equal(f.used->ring[0].id, b);
    assert_int_equal(f.mem[B_STATUS], VIRTIO_BLK_S_OK);
    assert_string_equal((char *)f.mem + B_BUF, "SER-123");
    uint8_t back[4096], zero[4096] = {0};
    image_read(&f, A_SECTOR, back);
    assert_memory_equal(back, zero, 4096);
    memset(f.mem + B_BUF, 'x', VIRTIO_BLK_ID_BYTES);

    /* The next backend, as the monitor hands the rings over: base = the used index. This
     * process's copy of the old backend took nothing (the child did): it goes first. */
    restart(&f, f.used->idx);
    for (int i = 0; i < 200 && __atomic_load_n(&f.used->idx, __ATOMIC_ACQUIRE) != 2; i++)
        turn(&f, 50);
    assert_int_equal(__atomic_load_n(&f.used->idx, __ATOMIC_ACQUIRE), 2);
    assert_int_equal(f.used->ring[1].id, a);
    assert_int_equal(f.mem[A_STATUS], VIRTIO_BLK_S_OK);
    image_read(&f, A_SECTOR, back);
    assert_memory_equal(back, data, 4096);
    for (unsigned i = 0; i < VIRTIO_BLK_ID_BYTES; i++)
        assert_int_equal(f.mem[B_BUF + i], 'x'); /* B not redone */
    assert_int_equal(f.bb.disk[0]->st.writes, 1);
    assert_int_equal(f.bb.disk[0]->st.get_ids, 0);
    /* The queue goes on from there: avail position 2. */
    assert_int_equal(request(&f, VIRTIO_BLK_T_IN, A_SECTOR, f.mem + DATA_OFF + 8192, 4096, true), VIRTIO_BLK_S_OK);
    assert_memory_equal(f.mem + DATA_OFF + 8192, data, 4096);
    fe_teardown(&f);
}

/* A region the front end rewrote while no backend ran: the queue does not run (its ring is
 * broken), the backend lives on and serves the next correct hand-over. */
static void test_hostile_region_stops_queue(void **state)
{
    (void)state;
    struct fe f;
    fe_setup(&f, "disk.img", false);
    struct vhost_user_inflight_split_queue *h =
        mmap(NULL, f.inflight.mmap_size, PROT_READ | PROT_WRITE, MAP_SHARED, f.inflight_fd, 0);
    assert_true(h != MAP_FAILED);
    struct vhost_user_inflight_desc_split *d = (void *)(h + 1);
    d[3].inflight = 1;
    d[3].counter = 1;
    d[9].inflight = 1;
    d[9].counter = 1; /* the same counter twice */
    f.avail_idx = 2;  /* and the guest made two available */
    f.avail->idx = 2;
    restart(&f, 0);
    assert_true(f.bb.disk[0]->dev.vq[0].broken);
    assert_null(f.bb.disk[0]->q[0].slots);
    /* The front end repairs it (a driver reset gives a fresh region): served again. */
    memset(h, 0, f.inflight.mmap_size);
    munmap(h, f.inflight.mmap_size);
    f.avail_idx = 0;
    f.avail->idx = 0;
    restart(&f, 0);
    assert_false(f.bb.disk[0]->dev.vq[0].broken);
    assert_int_equal(request(&f, VIRTIO_BLK_T_IN, 0, f.mem + DATA_OFF, 4096, true), VIRTIO_BLK_S_OK);
    fe_teardown(&f);
}

/* Write, discard, write to the same sectors in one kick: the discard waits for the first
 * write, the second write is not taken until the discard completes; the image ends with the
 * second write's data. */
static void test_discard_is_a_barrier(void **state)
{
    (void)state;
    struct fe f;
    fe_setup(&f, "disk.img", false);
    uint8_t *d1 = f.mem + DATA_OFF, *d2 = f.mem + DATA_OFF + 4096;
    memset(d1, 0x11, 4096);
    memset(d2, 0x22, 4096);
    post_write(&f, 0, A_HDR, A_SECTOR, d1, A_STATUS);
    struct virtio_blk_req_hdr *h = (void *)(f.mem + B_HDR);
    *h = (struct virtio_blk_req_hdr){.type = VIRTIO_BLK_T_DISCARD};
    struct virtio_blk_discard_wz *w = (void *)(f.mem + B_BUF);
    *w = (struct virtio_blk_discard_wz){.sector = A_SECTOR, .num_sectors = 8};
    struct seg s[3] = {{h, sizeof(*h), false}, {w, sizeof(*w), false}, {f.mem + B_STATUS, 1, true}};
    post(&f, 4, s, 3);
    post_write(&f, 8, 0x3500, A_SECTOR, d2, 0x3600);
    struct blk_queue *q = &f.bb.disk[0]->q[0];
    blk_queue_kick(f.bb.disk[0], 0);
    assert_non_null(q->barrier);
    assert_false(q->barrier_started);                        /* the first write runs */
    assert_int_equal(f.bb.disk[0]->dev.vq[0].last_avail, 2); /* the second is not taken */
    run_until_done(&f);
    assert_null(q->barrier);
    uint8_t back[4096];
    image_read(&f, A_SECTOR, back);
    assert_memory_equal(back, d2, 4096);
    assert_int_equal(f.bb.disk[0]->st.discards, 1);
    fe_teardown(&f);
}

/* The backend tests run with a front end that keeps the region, as the monitor. */
static int with_region(void **state)
{
    (void)state;
    fe_want_inflight = true;
    return 0;
}

static int without_region(void **state)
{
    (void)state;
    fe_want_inflight = false;
    return 0;
}

/* With the region and nothing to redo, a queue with nothing in flight sleeps until its next
 * kick: it leaves the loop's live list (a queue that kept an empty list of requests to redo
 * stayed on it for ever, walked by every turn), and the kick brings it back. */
static void test_asleep_between_kicks(void **state)
{
    (void)state;
    struct fe f;
    fe_setup(&f, "disk.img", false);
    assert_int_equal(request(&f, VIRTIO_BLK_T_IN, 0, f.mem + DATA_OFF, 512, true), VIRTIO_BLK_S_OK);
    assert_non_null(f.bb.disk[0]->inflight);
    assert_null(f.bb.disk[0]->q[0].redo);
    assert_false(blkback_kicks_on(&f.bb)); /* what the loop asks before it sleeps */
    assert_null(f.bb.live);
    assert_int_equal(request(&f, VIRTIO_BLK_T_IN, 1, f.mem + DATA_OFF, 512, true), VIRTIO_BLK_S_OK);
    assert_false(blkback_kicks_on(&f.bb));
    assert_null(f.bb.live);
    fe_teardown(&f);
}

/* With the region the queue's room is its free slots, whatever the avail position: after more
 * requests than the ring holds, a request made available without a kick is still seen before
 * the backend sleeps (blkback_kicks_on). */
static void test_room_after_a_lap(void **state)
{
    (void)state;
    struct fe f;
    fe_setup(&f, "disk.img", false);
    for (unsigned i = 0; i < 3 * NUM; i++)
        assert_int_equal(request(&f, VIRTIO_BLK_T_IN, i, f.mem + DATA_OFF, 512, true), VIRTIO_BLK_S_OK);
    struct virtio_blk_req_hdr *h = (void *)(f.mem + A_HDR);
    *h = (struct virtio_blk_req_hdr){.type = VIRTIO_BLK_T_IN};
    struct seg s[3] = {{h, sizeof(*h), false}, {f.mem + DATA_OFF, 512, true}, {f.mem + A_STATUS, 1, true}};
    post(&f, 0, s, 3); /* no kick */
    assert_true(blkback_kicks_on(&f.bb));
    /* A new region asked for while the ring runs (and writes the current one) is refused:
     * the connection drops, the backend lives. */
    void *region = f.bb.disk[0]->inflight;
    struct vhost_user_msg m;
    vhost_user_msg_init(&m, VHOST_USER_GET_INFLIGHT_FD, 0);
    m.payload.inflight = (struct vhost_user_inflight){.num_queues = 1, .queue_size = NUM};
    m.hdr.size = sizeof(m.payload.inflight);
    assert_int_equal(vhost_user_send(f.sock, &m), 0);
    turn(&f, 100);
    assert_true(f.bb.disk[0]->sock < 0 || f.bb.disk[0]->inflight == region);
    fe_teardown(&f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fresh_region),
        cmocka_unit_test(test_normal_recovery),
        cmocka_unit_test(test_crash_between_used_idx_and_flag),
        cmocka_unit_test(test_hostile_regions),
        cmocka_unit_test_setup_teardown(test_kill9_out_of_order, with_region, without_region),
        cmocka_unit_test_setup_teardown(test_hostile_region_stops_queue, with_region, without_region),
        cmocka_unit_test_setup_teardown(test_discard_is_a_barrier, with_region, without_region),
        cmocka_unit_test_setup_teardown(test_asleep_between_kicks, with_region, without_region),
        cmocka_unit_test_setup_teardown(test_room_after_a_lap, with_region, without_region),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
