/* The monitor's vhost-user front end (src/vmm/virtio/vhost_user_front.c): where it may create
 * its socket. The monitor often runs as root; it must never remove a file it did not create
 * (pointing the socket path at xenod's own API socket once cut xenod off from its clients).
 * The one file it replaces is a socket left in its own run directory by an earlier monitor of
 * the same domain. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "lib/err.h"
#include "vmm/virtio/vhost_user_front.h"

static char dir[64];

static int setup(void **state)
{
    (void)state;
    strcpy(dir, "/tmp/test_vhost_front.XXXXXX");
    return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    return system(cmd) == 0 ? 0 : -1;
}

static bool rings(void *opaque, struct vhost_front_rings *out)
{
    (void)opaque;
    (void)out;
    return false;
}
static const struct vhost_front_ops ops = {.rings = rings};

/* A listening socket at path, as another program (xenod's API) would have; its fd. */
static int other_server(const char *path)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_true(fd >= 0);
    assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    assert_int_equal(listen(fd, 1), 0);
    return fd;
}

static ino_t inode(const char *path)
{
    struct stat st;
    assert_int_equal(lstat(path, &st), 0);
    return st.st_ino;
}

static void someone_elses_socket_is_left_alone(void **state)
{
    (void)state;
    char path[100];
    snprintf(path, sizeof(path), "%s/api.sock", dir);
    int srv = other_server(path);
    ino_t before = inode(path);
    struct vhost_front f;
    /* Outside the run directory (none given, or another one): refused, the file untouched. */
    assert_int_equal(vhost_front_init(&f, "net", path, NULL, NULL, 256, &ops, NULL), -EEXIST);
    assert_non_null(strstr(err_msg(), path));
    assert_non_null(strstr(err_msg(), "already exists"));
    vhost_front_destroy(&f);
    assert_int_equal(inode(path), before);
    assert_int_equal(vhost_front_init(&f, "net", path, "/run/elsewhere", NULL, 256, &ops, NULL), -EEXIST);
    vhost_front_destroy(&f);
    assert_int_equal(inode(path), before);
    /* Still the other program's: a client reaches it. */
    int c = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
    assert_int_equal(connect(c, (struct sockaddr *)&sa, sizeof(sa)), 0);
    close(c);
    close(srv);
    unlink(path);

    /* A regular file (or a link to one) is never removed, not even in the run directory. */
    snprintf(path, sizeof(path), "%s/file", dir);
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    assert_true(fd >= 0);
    close(fd);
    assert_int_equal(vhost_front_init(&f, "net", path, dir, NULL, 256, &ops, NULL), -EEXIST);
    vhost_front_destroy(&f);
    assert_int_equal(access(path, F_OK), 0);
    char link[100];
    snprintf(link, sizeof(link), "%s/link.sock", dir);
    assert_int_equal(symlink(path, link), 0);
    assert_int_equal(vhost_front_init(&f, "net", link, dir, NULL, 256, &ops, NULL), -EEXIST);
    vhost_front_destroy(&f);
    assert_int_equal(access(link, F_OK), 0);
    unlink(link);
    unlink(path);
}

static void own_stale_socket_is_replaced(void **state)
{
    (void)state;
    char path[100];
    snprintf(path, sizeof(path), "%s/net0.sock", dir);
    close(other_server(path)); /* an earlier monitor of the domain, killed: its socket stays */
    struct vhost_front f;
    assert_int_equal(vhost_front_init(&f, "net", path, dir, NULL, 256, &ops, NULL), 0);
    struct stat st;
    assert_int_equal(lstat(path, &st), 0);
    assert_true(S_ISSOCK(st.st_mode));
    assert_int_equal(st.st_mode & 0777, 0600);
    vhost_front_destroy(&f);
    assert_int_equal(access(path, F_OK), -1); /* its own socket goes with it */

    /* Something put in the place of its socket while it ran is not its to remove. */
    assert_int_equal(vhost_front_init(&f, "net", path, dir, NULL, 256, &ops, NULL), 0);
    assert_int_equal(unlink(path), 0);
    int srv = other_server(path);
    ino_t other = inode(path);
    vhost_front_destroy(&f);
    assert_int_equal(inode(path), other);
    close(srv);
    unlink(path);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(someone_elses_socket_is_left_alone),
        cmocka_unit_test(own_stale_socket_is_replaced),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
