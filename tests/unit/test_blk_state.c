/* A virtio-blk disk's section of a snapshot (src/vmm/virtio/virtio_blk_state.c,
 * docs/snapshot-format.md "Disks"): what a save records of a real image file, and what the
 * check of a restore or an incoming migration refuses: the same file changed by a write, a
 * chmod, a replacement or a truncation, another image name, another size, a damaged record,
 * a disk given without its image. The disk here has no backend (the front end is not set
 * up, so taking the queue back has nothing to stop); the integration test blk_state.sh does
 * it with a real xeno-blkback. */
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
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "lib/err.h"
#include "proto/snapshot.h"
#include "vmm/virtio/virtio_blk.h"

static char dir[64];

static int setup(void **state)
{
    (void)state;
    snprintf(dir, sizeof(dir), "/tmp/test_blk_state.XXXXXX");
    if (!mkdtemp(dir))
        return -1;
    char path[128];
    snprintf(path, sizeof(path), "%s/disk.img", dir);
    int fd = open(path, O_CREAT | O_RDWR | O_TRUNC, 0600);
    if (fd < 0 || ftruncate(fd, 1 << 20) < 0)
        return -1;
    close(fd);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    return system(cmd) == 0 ? 0 : -1;
}

/* A disk of the image NAME in dir, 1 MiB, no backend. */
static struct virtio_blk disk_of(char *name)
{
    struct virtio_blk b;
    memset(&b, 0, sizeof(b));
    b.sectors = (1 << 20) / 512;
    b.image = name;
    b.image_dir = dir;
    return b;
}

static int save(struct virtio_blk *b, struct snap_disk *d)
{
    memset(d, 0, sizeof(*d));
    return virtio_blk_disk_state_ops.save(b, d);
}

static int check(struct virtio_blk *b, const struct snap_disk *d)
{
    return virtio_blk_disk_state_ops.check(b, d, 0);
}

/* A later ctime than the one recorded, whatever the file system's timestamp granularity. */
static void tick(void)
{
    struct timespec ts = {0, 20 * 1000 * 1000};
    nanosleep(&ts, NULL);
}

static void path_of(const char *name, char *out, size_t size)
{
    snprintf(out, size, "%s/%s", dir, name);
}

static void records_and_accepts_unchanged(void **state)
{
    (void)state;
    char name[] = "disk.img";
    struct virtio_blk b = disk_of(name);
    struct snap_disk d;
    assert_int_equal(save(&b, &d), 0);
    assert_int_equal(virtio_blk_disk_state_ops.size, sizeof(d));
    assert_int_equal(d.version, SNAP_DISK_VERSION);
    assert_int_equal(d.size, 1 << 20);
    assert_int_equal(d.sectors, 2048);
    assert_string_equal(d.image, "disk.img");
    assert_true(d.mtime_ns > 0 && d.ctime_ns > 0 && d.ino > 0);
    assert_int_equal(check(&b, &d), 0);
    assert_int_equal(virtio_blk_disk_state_ops.restore(&b, &d, DEV_STATE_FILE), 0);
}

static void write_refused(void **state)
{
    (void)state;
    char name[] = "disk.img", path[128];
    struct virtio_blk b = disk_of(name);
    struct snap_disk d;
    assert_int_equal(save(&b, &d), 0);
    tick();
    path_of(name, path, sizeof(path));
    int fd = open(path, O_WRONLY);
    assert_true(fd >= 0);
    assert_int_equal(pwrite(fd, "x", 1, 4096), 1);
    close(fd);
    assert_int_equal(check(&b, &d), -ESTALE);
    assert_non_null(strstr(err_msg(), "disk 0: image 'disk.img' in"));
    assert_non_null(strstr(err_msg(), "changed since the snapshot was taken"));
}

static void chmod_and_replace_refused(void **state)
{
    (void)state;
    char name[] = "disk.img", path[128], tmp[128];
    struct virtio_blk b = disk_of(name);
    struct snap_disk d;
    assert_int_equal(save(&b, &d), 0);
    path_of(name, path, sizeof(path));
    tick();
    assert_int_equal(chmod(path, 0640), 0);
    assert_int_equal(check(&b, &d), -ESTALE);
    /* A copy put in its place, with the old times set again (as `cp -p` or rsync would):
     * another inode and a new ctime. */
    assert_int_equal(save(&b, &d), 0);
    path_of("copy.img", tmp, sizeof(tmp));
    int fd = open(tmp, O_CREAT | O_WRONLY, 0600);
    assert_true(fd >= 0 && ftruncate(fd, 1 << 20) == 0);
    struct timespec times[2] = {{(time_t)(d.mtime_ns / 1000000000u), (long)(d.mtime_ns % 1000000000u)},
                                {(time_t)(d.mtime_ns / 1000000000u), (long)(d.mtime_ns % 1000000000u)}};
    assert_int_equal(futimens(fd, times), 0);
    close(fd);
    assert_int_equal(rename(tmp, path), 0);
    assert_int_equal(check(&b, &d), -ESTALE);
}

static void truncate_refused(void **state)
{
    (void)state;
    char name[] = "disk.img", path[128];
    struct virtio_blk b = disk_of(name);
    struct snap_disk d;
    assert_int_equal(save(&b, &d), 0);
    path_of(name, path, sizeof(path));
    assert_int_equal(truncate(path, 2 << 20), 0);
    assert_int_equal(check(&b, &d), -ESTALE);
    assert_non_null(strstr(err_msg(), "size 2097152"));
}

static void other_disk_refused(void **state)
{
    (void)state;
    char name[] = "disk.img", other[] = "other.img", path[128];
    struct virtio_blk b = disk_of(name);
    struct snap_disk d;
    assert_int_equal(save(&b, &d), 0);
    path_of(other, path, sizeof(path));
    int fd = open(path, O_CREAT | O_WRONLY, 0600);
    assert_true(fd >= 0);
    close(fd);
    struct virtio_blk o = disk_of(other);
    assert_int_equal(check(&o, &d), -EINVAL);
    assert_non_null(strstr(err_msg(), "taken with image 'disk.img', this disk serves 'other.img'"));
    struct virtio_blk big = disk_of(name);
    big.sectors = 4096;
    assert_int_equal(check(&big, &d), -EINVAL);
    assert_non_null(strstr(err_msg(), "2048 sectors"));
    struct virtio_blk ro = disk_of(name);
    ro.readonly = true;
    assert_int_equal(check(&ro, &d), -EINVAL);
    struct virtio_blk none = disk_of(name);
    none.image = none.image_dir = NULL;
    assert_int_equal(check(&none, &d), -EINVAL);
    assert_non_null(strstr(err_msg(), "give --disk image=disk.img,image-dir=DIR"));
    assert_int_equal(save(&none, &d), -EOPNOTSUPP);
}

static void damaged_record_refused(void **state)
{
    (void)state;
    char name[] = "disk.img";
    struct virtio_blk b = disk_of(name);
    struct snap_disk d, bad;
    assert_int_equal(save(&b, &d), 0);
    bad = d;
    memset(bad.image, 'a', sizeof(bad.image)); /* no NUL */
    assert_int_equal(check(&b, &bad), -EINVAL);
    bad = d;
    bad.image[2] = '\n';
    assert_int_equal(check(&b, &bad), -EINVAL);
    assert_non_null(strstr(err_msg(), "control character"));
    bad = d;
    bad.flags = 0x80;
    assert_int_equal(check(&b, &bad), -EINVAL);
    bad = d;
    bad.version = 7;
    assert_int_equal(check(&b, &bad), -EINVAL);
}

static void missing_or_not_a_file_refused(void **state)
{
    (void)state;
    char name[] = "disk.img", link[] = "link.img", path[128];
    struct virtio_blk b = disk_of(name);
    struct snap_disk d;
    assert_int_equal(save(&b, &d), 0);
    /* A link to the right file is not the image: the monitor follows no link. */
    path_of(link, path, sizeof(path));
    assert_int_equal(symlink("disk.img", path), 0);
    struct virtio_blk l = disk_of(link);
    assert_int_equal(save(&l, &d), -EINVAL);
    assert_non_null(strstr(err_msg(), "not a regular file"));
    path_of(name, path, sizeof(path));
    assert_int_equal(save(&b, &d), 0);
    assert_int_equal(unlink(path), 0);
    assert_int_equal(check(&b, &d), -ENOENT);
    assert_non_null(strstr(err_msg(), "disk 0: image 'disk.img'"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(records_and_accepts_unchanged, setup, teardown),
        cmocka_unit_test_setup_teardown(write_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(chmod_and_replace_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(truncate_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(other_disk_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(damaged_record_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(missing_or_not_a_file_refused, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
