/* unix_connect (src/lib/unix_socket.c): connects to a listening socket, passes SOCK_NONBLOCK
 * through, names ENOENT/ECONNREFUSED as they are, and refuses a path sun_path cannot hold
 * instead of truncating it to a path that might name another socket. */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>
#include <cmocka.h>

#include "lib/unix_socket.h"

static int listen_at(const char *path)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_true(fd >= 0);
    assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    assert_int_equal(listen(fd, 4), 0);
    return fd;
}

static void connects_and_reports_errors(void **state)
{
    (void)state;
    char dir[] = "/tmp/test-unix.XXXXXX", path[64];
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof(path), "%s/s.sock", dir);

    assert_int_equal(unix_connect(path, 0), -ENOENT);

    int l = listen_at(path);
    int fd = unix_connect(path, 0);
    assert_true(fd >= 0);
    assert_int_equal(fcntl(fd, F_GETFL) & O_NONBLOCK, 0);
    assert_true(fcntl(fd, F_GETFD) & FD_CLOEXEC);
    int peer = accept(l, NULL, NULL);
    assert_true(peer >= 0);
    assert_int_equal(write(fd, "x", 1), 1);
    char c = 0;
    assert_int_equal(read(peer, &c, 1), 1);
    assert_int_equal(c, 'x');
    close(peer);
    close(fd);

    fd = unix_connect(path, SOCK_NONBLOCK);
    assert_true(fd >= 0);
    assert_int_not_equal(fcntl(fd, F_GETFL) & O_NONBLOCK, 0);
    close(fd);

    close(l); /* the file stays, nobody listens */
    assert_int_equal(unix_connect(path, 0), -ECONNREFUSED);
    unlink(path);
    rmdir(dir);
}

static void refuses_a_path_too_long(void **state)
{
    (void)state;
    struct sockaddr_un sa;
    char path[sizeof(sa.sun_path) + 8];
    memset(path, 'a', sizeof(path) - 1);
    path[0] = '/';
    path[sizeof(path) - 1] = 0;
    assert_int_equal(unix_connect(path, 0), -ENAMETOOLONG);
    path[sizeof(sa.sun_path)] = 0; /* exactly sun_path's size: no room for the NUL */
    assert_int_equal(unix_connect(path, 0), -ENAMETOOLONG);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(connects_and_reports_errors),
        cmocka_unit_test(refuses_a_path_too_long),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
