/* Devices own their state (src/vmm/core/device.h): a toy device that exists only in this
 * test registers its state operations next to a real one (the UART) and nothing else; a
 * snapshot file (proto/snapshot.h's writer and parser) and a live migration's state message
 * (state/migrate_state.c's framing) then carry its state into a fresh machine, with the same
 * code the monitor runs. Damaged or foreign state is refused before anything is loaded. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "lib/err.h"
#include "proto/snapshot.h"
#include "vmm/core/device.h"
#include "vmm/dev/uart.h"
#include "vmm/state/migrate_state.h"

/* ---- the toy device: a counter and a small FIFO with an index the guest could corrupt --- */

#define TOY_FIFO 8
struct toy {
    uint64_t counter;
    uint8_t fifo[TOY_FIFO];
    uint32_t head;
    int restored_from_file;
};
struct toy_state {
    uint64_t counter;
    uint8_t fifo[TOY_FIFO];
    uint32_t head, pad;
};

static int toy_save(void *dev, void *buf)
{
    struct toy *t = dev;
    struct toy_state *s = buf;
    s->counter = t->counter;
    memcpy(s->fifo, t->fifo, sizeof(s->fifo));
    s->head = t->head;
    return 0;
}

static int toy_check(void *dev, const void *buf, unsigned instance)
{
    (void)dev;
    const struct toy_state *s = buf;
    if (instance != 0)
        return err_set(EINVAL, "one toy only");
    if (s->head >= TOY_FIFO)
        return err_set(EINVAL, "fifo head %u out of range", s->head);
    return 0;
}

static int toy_restore(void *dev, const void *buf, enum dev_state_source src)
{
    struct toy *t = dev;
    const struct toy_state *s = buf;
    t->counter = s->counter;
    memcpy(t->fifo, s->fifo, sizeof(t->fifo));
    t->head = s->head;
    t->restored_from_file = src == DEV_STATE_FILE;
    return 0;
}

static const struct dev_state_ops toy_ops = {
    .section = SNAP_SEC_DEVICE_TEST,
    .size = sizeof(struct toy_state),
    .save = toy_save,
    .check = toy_check,
    .restore = toy_restore,
};

/* ---- a machine: a UART and the toy, registered the way machine/vm.c registers devices --- */

struct machine {
    struct uart com1;
    struct toy toy;
    struct dev_list devices;
};

static void machine_init(struct machine *m)
{
    memset(m, 0, sizeof(*m));
    static const struct uart_ops no_ops;
    uart_init(&m->com1, &no_ops, NULL);
    assert_int_equal(dev_list_add(&m->devices, "com1", &uart_state_ops, &m->com1), 0);
    assert_int_equal(dev_list_add(&m->devices, "toy", &toy_ops, &m->toy), 0);
}

static void machine_fill(struct machine *m)
{
    m->toy.counter = 0x1122334455667788ULL;
    memcpy(m->toy.fifo, "abcdefgh", TOY_FIFO);
    m->toy.head = 5;
    m->com1.scr = 0x5a; /* the scratch register: any value survives */
    m->com1.lcr = 0x03;
}

static void assert_same(const struct machine *a, const struct machine *b)
{
    assert_int_equal(a->toy.counter, b->toy.counter);
    assert_memory_equal(a->toy.fifo, b->toy.fifo, TOY_FIFO);
    assert_int_equal(a->toy.head, b->toy.head);
    assert_int_equal(a->com1.scr, b->com1.scr);
    assert_int_equal(a->com1.lcr, b->com1.lcr);
}

/* ---- through a snapshot file --------------------------------------------------------- */

#define RAM (64 * 1024)

static int put_file(void *w, uint32_t type, const void *data, size_t len)
{
    return snap_write_section(w, type, data, len);
}

/* A whole snapshot image of m (header, config, the devices' sections, RAM) in *buf. */
static size_t snapshot_of(struct machine *m, uint8_t **buf)
{
    int fd = memfd_create("snap", 0);
    assert_true(fd >= 0);
    struct snap_header h = {0};
    snap_host_cpu(h.cpu_vendor, &h.cpu_signature);
    h.ram_size = RAM;
    h.nranges = 1;
    h.ranges[0].size = RAM;
    struct snap_config cfg = {.mem_size = RAM, .nvcpus = 1};
    uint8_t *ram = calloc(1, RAM);
    struct snap_writer w;
    assert_int_equal(snap_writer_open(&w, fd, &h), 0);
    assert_int_equal(snap_write_section(&w, SNAP_SEC_CONFIG, &cfg, sizeof(cfg)), 0);
    assert_int_equal(dev_list_save(&m->devices, put_file, &w), 0);
    assert_int_equal(snap_write_memory(&w, ram, RAM, -1), 0);
    assert_int_equal(snap_writer_finish(&w), 0);
    size_t len = (size_t)w.bytes;
    *buf = malloc(len);
    assert_int_equal(pread(fd, *buf, len, 0), (ssize_t)len);
    close(fd);
    free(ram);
    return len;
}

static int restore_file(struct machine *m, const uint8_t *buf, size_t len)
{
    char vendor[12];
    uint32_t sig;
    snap_host_cpu(vendor, &sig);
    struct snap_image img;
    int r = snap_parse(buf, len, vendor, 0, &img);
    if (r == 0)
        r = dev_list_check(&m->devices, img.sec, img.nsections, EINVAL);
    if (r == 0)
        r = dev_list_restore(&m->devices, img.sec, img.nsections, DEV_STATE_FILE);
    snap_image_free(&img);
    return r;
}

static void snapshot_carries_toy(void **state)
{
    (void)state;
    struct machine a, b;
    machine_init(&a);
    machine_fill(&a);
    uint8_t *buf;
    size_t len = snapshot_of(&a, &buf);
    machine_init(&b);
    assert_int_equal(restore_file(&b, buf, len), 0);
    assert_same(&a, &b);
    assert_true(b.toy.restored_from_file);
    free(buf);
}

/* A file written by a machine with the toy cannot go into one without it, and the reverse. */
static void snapshot_device_mismatch_refused(void **state)
{
    (void)state;
    struct machine a;
    machine_init(&a);
    machine_fill(&a);
    uint8_t *buf;
    size_t len = snapshot_of(&a, &buf);

    struct machine no_toy = {0};
    static const struct uart_ops no_ops;
    uart_init(&no_toy.com1, &no_ops, NULL);
    assert_int_equal(dev_list_add(&no_toy.devices, "com1", &uart_state_ops, &no_toy.com1), 0);
    assert_int_equal(restore_file(&no_toy, buf, len), -EINVAL);
    assert_non_null(strstr(err_msg(), "no such device"));

    uint8_t *small;
    size_t small_len = snapshot_of(&no_toy, &small);
    struct machine b;
    machine_init(&b);
    assert_int_equal(restore_file(&b, small, small_len), -EINVAL);
    assert_non_null(strstr(err_msg(), "toy"));
    assert_int_equal(b.toy.counter, 0); /* nothing loaded */
    free(buf);
    free(small);
}

/* ---- through a migration's state message -------------------------------------------- */

static size_t list_size(const void *ctx, uint32_t type)
{
    return dev_list_section_size(ctx, type);
}

static int migrate(struct machine *from, struct machine *to, void (*damage)(struct mig_state_buf *))
{
    struct mig_state_buf msg = {0};
    assert_int_equal(dev_list_save(&from->devices, mig_state_put, &msg), 0);
    if (damage)
        damage(&msg);
    struct snap_section sec[MIG_STATE_MAX_SECTIONS];
    unsigned n;
    int r = mig_state_parse(msg.p, msg.len, list_size, &to->devices, sec, &n);
    if (r == 0)
        r = dev_list_check(&to->devices, sec, n, EPROTO);
    if (r == 0)
        r = dev_list_restore(&to->devices, sec, n, DEV_STATE_PEER);
    free(msg.p);
    return r;
}

static void migration_carries_toy(void **state)
{
    (void)state;
    struct machine a, b;
    machine_init(&a);
    machine_fill(&a);
    machine_init(&b);
    assert_int_equal(migrate(&a, &b, NULL), 0);
    assert_same(&a, &b);
    assert_false(b.toy.restored_from_file);
}

/* A peer's toy section with a FIFO index out of range, its CRC made right: the toy's own
 * check refuses it, and nothing (not even the UART before it) is loaded. */
static void bad_head(struct mig_state_buf *m)
{
    size_t off = 0;
    for (;;) {
        struct snap_section_hdr h;
        memcpy(&h, m->p + off, sizeof(h));
        if (h.type == SNAP_SEC_DEVICE_TEST) {
            struct toy_state s;
            memcpy(&s, m->p + off + sizeof(h), sizeof(s));
            s.head = 200;
            memcpy(m->p + off + sizeof(h), &s, sizeof(s));
            h.crc = snap_crc32(0, &s, sizeof(s));
            memcpy(m->p + off, &h, sizeof(h));
            return;
        }
        off = h.next;
        assert_true(off < m->len);
    }
}

static void migration_toy_check_refuses(void **state)
{
    (void)state;
    struct machine a, b;
    machine_init(&a);
    machine_fill(&a);
    machine_init(&b);
    assert_int_equal(migrate(&a, &b, bad_head), -EPROTO);
    assert_non_null(strstr(err_msg(), "fifo head 200"));
    assert_int_equal(b.toy.counter, 0);
    assert_int_equal(b.com1.scr, 0);
}

static void list_refuses_incomplete_ops(void **state)
{
    (void)state;
    struct dev_list l = {0};
    struct dev_state_ops no_save = toy_ops;
    no_save.save = NULL;
    assert_int_equal(dev_list_add(&l, "broken", &no_save, NULL), -EINVAL);
    struct toy t;
    for (unsigned i = 0; i < DEV_LIST_MAX; i++)
        assert_int_equal(dev_list_add(&l, "toy", &toy_ops, &t), 0);
    assert_int_equal(dev_list_add(&l, "one-too-many", &toy_ops, &t), -ENOSPC);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(snapshot_carries_toy),        cmocka_unit_test(snapshot_device_mismatch_refused),
        cmocka_unit_test(migration_carries_toy),       cmocka_unit_test(migration_toy_check_refuses),
        cmocka_unit_test(list_refuses_incomplete_ops),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
