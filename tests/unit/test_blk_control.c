/* xeno-blkback's control requests (src/blk/control.c) on the real backend code and real image
 * files: disks added, listed, updated, refused and removed while the backend runs (no front
 * end connects: the disks wait for their monitors), and every malformed line answered with an
 * error, never a crash. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "blk/blkback.h"
#include "blk/control.h"

static char dir[] = "/tmp/xeno-blkctl-XXXXXX";
static struct blkback bb;

static void image(const char *name, off_t size)
{
    char path[128];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    int fd = open(path, O_CREAT | O_RDWR | O_CLOEXEC, 0600);
    assert_true(fd >= 0);
    assert_int_equal(ftruncate(fd, size), 0);
    close(fd);
}

static int setup(void **state)
{
    (void)state;
    if (!mkdtemp(dir))
        return -1;
    image("a.img", 1 << 20);
    image("b.img", 64 << 10);
    int dirfd = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
    return dirfd < 0 ? -1 : blkback_init(&bb, dirfd);
}

static int teardown(void **state)
{
    (void)state;
    blkback_fini(&bb);
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    return system(cmd) == 0 ? 0 : -1;
}

/* The reply to `line` must start with `want`. */
static void ask(const char *line, const char *want)
{
    char buf[1024];
    snprintf(buf, sizeof(buf), "%s", line);
    char *reply = blk_control_request(&bb, buf);
    assert_non_null(reply);
    bool ok = strncmp(reply, want, strlen(want)) == 0;
    if (!ok)
        print_error("'%s' answered '%s', expected '%s...'\n", line, reply, want);
    free(reply);
    assert_true(ok);
}

static void disks_come_and_go(void **state)
{
    (void)state;
    ask("version", "ok blkctl 1\n");
    ask("list", "ok disks=0\n");
    ask("add-disk name=d1-vda,socket=/tmp/xeno-none/vda.sock,file=a.img,serial=SN1", "ok name=d1-vda sectors=2048\n");
    ask("add-disk name=d2-vda,socket=/tmp/xeno-none/vdb.sock,file=b.img,readonly", "ok name=d2-vda sectors=128\n");
    ask("list", "ok disks=2\ndisk name=d1-vda socket=/tmp/xeno-none/vda.sock file=a.img sectors=2048 readonly=0 "
                "connected=0\ndisk name=d2-vda socket=/tmp/xeno-none/vdb.sock file=b.img sectors=128 readonly=1 "
                "connected=0\n");
    /* The same disk again (xenod after its own restart or the backend's): nothing changes. */
    ask("add-disk name=d1-vda,socket=/tmp/xeno-none/vda.sock,file=a.img,serial=SN1", "ok name=d1-vda sectors=2048 "
                                                                                     "updated\n");
    /* What the guest negotiated cannot change live; another disk cannot take the name. */
    ask("add-disk name=d1-vda,socket=/tmp/xeno-none/vda.sock,file=a.img,serial=SN1,readonly",
        "err add-disk: disk d1-vda: readonly cannot change while it is served");
    ask("add-disk name=d1-vda,socket=/tmp/xeno-none/vda.sock,file=a.img,serial=SN2",
        "err add-disk: disk d1-vda: serial cannot change");
    ask("add-disk name=d1-vda,socket=/tmp/xeno-none/vda.sock,file=a.img,serial=SN1,queues=2",
        "err add-disk: disk d1-vda: queues cannot change");
    ask("add-disk name=d1-vda,socket=/tmp/xeno-none/other.sock,file=a.img", "err add-disk: disk d1-vda: the name is "
                                                                            "taken");
    ask("add-disk name=d3-vda,socket=/tmp/xeno-none/vda.sock,file=b.img", "err add-disk: disk d3-vda: the name or "
                                                                          "socket of disk d1-vda");
    ask("status", "ok pid=");
    ask("stats", "ok disks=2\ndisk=d1-vda connected=0");
    ask("remove-disk d1-vda", "ok\n");
    ask("remove-disk d1-vda", "err remove-disk: disk d1-vda: no such disk");
    ask("list", "ok disks=1\ndisk name=d2-vda ");
    ask("remove-disk d2-vda", "ok\n");
    ask("list", "ok disks=0\n");
}

static void hostile_lines(void **state)
{
    (void)state;
    ask("add-disk name=x,socket=/s,file=../a.img", "err add-disk: disk x: images must be files under --image-dir");
    ask("add-disk name=x,socket=/s,file=/etc/passwd", "err add-disk: --disk: file '/etc/passwd'");
    ask("add-disk name=X!,socket=/s,file=a.img", "err add-disk: --disk: name");
    ask("add-disk name=x,socket=/s,file=missing.img",
        "err add-disk: disk x: image 'missing.img' in --image-dir: No such file");
    ask("add-disk name=x,socket=/s,file=a.img extra", "err add-disk takes one SPEC");
    ask("add-disk", "err add-disk takes one SPEC");
    ask("add-disk name=x,socket=/s,file=a.img\tx", "err control character (0x09)");
    ask("remove-disk", "err remove-disk takes NAME");
    ask("list now", "err list takes no arguments");
    ask("format-disk x", "err unknown request 'format-disk'");
    ask("list", "ok disks=0\n");
    char *reply = blk_control_request(&bb, (char[]){"   "});
    assert_string_equal(reply, "");
    free(reply);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(disks_come_and_go),
        cmocka_unit_test(hostile_lines),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
