/* Whole-file writes (src/lib/file.c): file_write_atomic and file_replace put the new contents
 * in place whole, replacing an older file, and neither writes through a link planted at the
 * temporary name (the link and its target stay as they were). */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "lib/file.h"

typedef int write_fn(const char *path, const void *data, size_t len, mode_t mode);

static const char *read_all(const char *path)
{
    static char buf[256];
    int fd = open(path, O_RDONLY);
    assert_true(fd >= 0);
    ssize_t n = read(fd, buf, sizeof(buf) - 1);
    assert_true(n >= 0);
    buf[n] = 0;
    close(fd);
    return buf;
}

static void replaces_whole_and_refuses_links(write_fn *write_file)
{
    char dir[] = "/tmp/test-file.XXXXXX", path[64], tmp[64], victim[64];
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof(path), "%s/domain.xml", dir);
    snprintf(tmp, sizeof(tmp), "%s/domain.xml.tmp", dir);
    snprintf(victim, sizeof(victim), "%s/victim", dir);

    assert_int_equal(write_file(path, "first contents", 14, 0600), 0);
    assert_string_equal(read_all(path), "first contents");
    assert_int_equal(write_file(path, "second", 6, 0600), 0);
    assert_string_equal(read_all(path), "second");
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    assert_int_equal(access(tmp, F_OK), -1); /* no temporary left behind */

    int fd = open(victim, O_WRONLY | O_CREAT | O_EXCL, 0600);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, "victim", 6), 6);
    close(fd);
    assert_int_equal(symlink(victim, tmp), 0);
    assert_int_equal(write_file(path, "third", 5, 0600), -EEXIST);
    assert_string_equal(read_all(victim), "victim");
    assert_string_equal(read_all(path), "second");

    unlink(tmp);
    unlink(victim);
    unlink(path);
    rmdir(dir);
}

static void write_atomic(void **state)
{
    (void)state;
    replaces_whole_and_refuses_links(file_write_atomic);
}

static void replace(void **state)
{
    (void)state;
    replaces_whole_and_refuses_links(file_replace);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(write_atomic),
        cmocka_unit_test(replace),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
