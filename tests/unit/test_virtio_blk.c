/* The monitor's virtio-blk front end (src/vmm/virtio/virtio_blk.c) as a guest driver sees it
 * through the MMIO bus, without KVM: the config space and the features with one and with
 * several queues (VIRTIO_BLK_F_MQ, num_queues), the queues the transport offers, several
 * disks each at its own window, and what is refused. Each disk listens on a real socket in a
 * temporary directory (no backend connects: the hand-over is the integration test's,
 * tests/integration/blk_multi.sh). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lib/err.h"
#include "proto/virtio_blk.h"
#include "vmm/machine/vm.h"
#include "vmm/virtio/virtio_blk.h"
#include "vmm/virtio/virtio_mmio.h"

#define RAM (1u << 20)

struct fx {
    uint8_t *ram;
    struct vm vm;
    char dir[64];
};

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof(*f));
    f->ram = calloc(1, RAM);
    guest_mem_init_buffer(&f->vm.mem, f->ram, RAM);
    f->vm.vm_fd = f->vm.kvm_fd = -1;
    virtio_host_init(&f->vm.virtio, -1, &f->vm.mem, &f->vm.mmio, &f->vm.devices);
    strcpy(f->dir, "/tmp/test_virtio_blk.XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    virtio_host_destroy(&f->vm.virtio); /* destroys each disk: its socket is unlinked */
    assert_int_equal(rmdir(f->dir), 0); /* nothing left behind */
    free(f->ram);
    free(f);
    return 0;
}

/* Disk number `i` with `queues` queues on DIR/dI.sock. */
static struct virtio_blk *add_disk(struct fx *f, unsigned i, unsigned queues, uint64_t capacity)
{
    char path[96];
    snprintf(path, sizeof(path), "%s/d%u.sock", f->dir, i);
    struct virtio_blk_config_host cfg = {.socket_path = path, .capacity = capacity, .queues = queues, .index = i};
    return virtio_blk_create(&f->vm.virtio, &cfg);
}

static uint32_t rd(struct fx *f, unsigned dev, unsigned reg, unsigned size)
{
    uint32_t v = 0;
    assert_int_equal(
        io_bus_access(&f->vm.mmio, VIRTIO_MMIO_BASE + dev * VIRTIO_MMIO_STRIDE + reg, 0, (uint8_t *)&v, size), 0);
    return v;
}

static void wr(struct fx *f, unsigned dev, unsigned reg, uint32_t v)
{
    assert_int_equal(io_bus_access(&f->vm.mmio, VIRTIO_MMIO_BASE + dev * VIRTIO_MMIO_STRIDE + reg, 1, (uint8_t *)&v, 4),
                     0);
}

static uint64_t device_features(struct fx *f, unsigned dev)
{
    wr(f, dev, VIRTIO_MMIO_DEVICE_FEATURES_SEL, 0);
    uint64_t v = rd(f, dev, VIRTIO_MMIO_DEVICE_FEATURES, 4);
    wr(f, dev, VIRTIO_MMIO_DEVICE_FEATURES_SEL, 1);
    return v | (uint64_t)rd(f, dev, VIRTIO_MMIO_DEVICE_FEATURES, 4) << 32;
}

static uint32_t queue_num_max(struct fx *f, unsigned dev, unsigned q)
{
    wr(f, dev, VIRTIO_MMIO_QUEUE_SEL, q);
    return rd(f, dev, VIRTIO_MMIO_QUEUE_NUM_MAX, 4);
}

#define CONFIG(field) (VIRTIO_MMIO_CONFIG + offsetof(struct virtio_blk_config, field))

/* One queue: no MQ bit, num_queues 1 (true either way), one queue offered. */
static void one_queue(void **state)
{
    struct fx *f = *state;
    assert_non_null(add_disk(f, 0, 1, 4u << 20));
    assert_int_equal(rd(f, 0, VIRTIO_MMIO_DEVICE_ID, 4), VIRTIO_ID_BLOCK);
    assert_false(device_features(f, 0) & (1ULL << VIRTIO_BLK_F_MQ));
    assert_int_equal(rd(f, 0, CONFIG(capacity), 4), (4u << 20) / 512);
    assert_int_equal(rd(f, 0, CONFIG(num_queues), 2), 1);
    assert_int_equal(queue_num_max(f, 0, 0), VIRTIO_BLK_QUEUE_SIZE);
    assert_int_equal(queue_num_max(f, 0, 1), 0);
}

/* queues = 0 (not given) is one queue. */
static void zero_is_one(void **state)
{
    struct fx *f = *state;
    assert_non_null(add_disk(f, 0, 0, 1u << 20));
    assert_false(device_features(f, 0) & (1ULL << VIRTIO_BLK_F_MQ));
    assert_int_equal(rd(f, 0, CONFIG(num_queues), 2), 1);
}

/* Several queues: MQ offered, num_queues in the config space (as the 16-bit field and inside
 * a 32-bit read at offset 32, which the guest runtime does), every queue offered. */
static void many_queues(void **state)
{
    struct fx *f = *state;
    assert_non_null(add_disk(f, 0, 4, 1u << 20));
    assert_true(device_features(f, 0) & (1ULL << VIRTIO_BLK_F_MQ));
    assert_int_equal(rd(f, 0, CONFIG(num_queues), 2), 4);
    assert_int_equal(rd(f, 0, VIRTIO_MMIO_CONFIG + 32, 4) >> 16, 4);
    for (unsigned q = 0; q < 4; q++)
        assert_int_equal(queue_num_max(f, 0, q), VIRTIO_BLK_QUEUE_SIZE);
    assert_int_equal(queue_num_max(f, 0, 4), 0);
    struct virtio_blk_config c = virtio_blk_xeno_config(2048, 4);
    uint8_t got[sizeof(c)];
    for (unsigned i = 0; i < sizeof(c); i++)
        got[i] = (uint8_t)rd(f, 0, VIRTIO_MMIO_CONFIG + i, 1);
    assert_memory_equal(got, &c, sizeof(c));
}

/* Disks at consecutive windows, each with its own queue count, until the windows run out. */
static void several_disks(void **state)
{
    struct fx *f = *state;
    unsigned n = 0;
    for (; n < VM_MAX_MMIO_DEVS; n++)
        assert_non_null(add_disk(f, n, 1 + n % 3, (1u + n) << 20));
    for (unsigned i = 0; i < n; i++) {
        assert_int_equal(rd(f, i, CONFIG(capacity), 4), ((1u + i) << 20) / 512);
        assert_int_equal(rd(f, i, CONFIG(num_queues), 2), 1 + i % 3);
        assert_int_equal(f->vm.virtio.descs[i].gsi, virtio_mmio_gsi(i));
    }
    assert_null(add_disk(f, n, 1, 1u << 20));
    assert_non_null(strstr(err_msg(), "no virtio-mmio window left"));
}

/* Out of range: more queues than the transport has; a size that is not whole sectors. */
static void refused(void **state)
{
    struct fx *f = *state;
    assert_null(add_disk(f, 0, VIRTIO_BLK_MAX_QUEUES + 1, 1u << 20));
    assert_non_null(strstr(err_msg(), "queues"));
    assert_null(add_disk(f, 0, 1, 1000));
    assert_int_equal(f->vm.virtio.ndevs, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(one_queue, setup, teardown),
        cmocka_unit_test_setup_teardown(zero_is_one, setup, teardown),
        cmocka_unit_test_setup_teardown(many_queues, setup, teardown),
        cmocka_unit_test_setup_teardown(several_disks, setup, teardown),
        cmocka_unit_test_setup_teardown(refused, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
