/* The monitors' start-up cache: lib/blob_cache.c (an entry is taken only with its exact key,
 * from a regular file of ours that no one else may write, whole) and the seccomp programs
 * through it (src/vmm/host/sandbox_seccomp.c): what a monitor loads from the cache is, byte
 * for byte, what libseccomp compiles, and a damaged value is refused. That the cached filters
 * still kill forbidden calls: tests/integration/vmm_sandbox.sh (its monitors use the cache). */
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
#include <unistd.h>

#include "lib/blob_cache.h"
#include "vmm/host/sandbox_priv.h"

enum { NPROGS = THREAD_KIND_COUNT + 1 };

static char dir[64];

static int setup(void **state)
{
    (void)state;
    snprintf(dir, sizeof(dir), "/tmp/xeno-start-cache.XXXXXX");
    return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    return system(cmd) == 0 ? 0 : -1;
}

/* The one entry file in dir (tests write one key at a time). */
static void entry_path(char *out, size_t cap, const char *name)
{
    char cmd[160];
    snprintf(cmd, sizeof(cmd), "ls -1 %s/%s-* 2>/dev/null | head -1", dir, name);
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    assert_non_null(fgets(out, (int)cap, p));
    out[strcspn(out, "\n")] = '\0';
    pclose(p);
}

static void test_round_trip_and_misses(void **state)
{
    (void)state;
    char key[600], val[32];
    long kl = blob_cache_host_key(key, sizeof(key));
    assert_true(kl > 0); /* the test binary has a build ID, as the monitor does */
    assert_non_null(strstr(key, "build "));
    assert_int_equal(blob_cache_get(dir, "t", key, (size_t)kl, val, sizeof(val)), -ENOENT);
    assert_int_equal(blob_cache_put(dir, "t", key, (size_t)kl, "value-1", 7), 0);
    assert_int_equal(blob_cache_get(dir, "t", key, (size_t)kl, val, sizeof(val)), 7);
    assert_memory_equal(val, "value-1", 7);
    /* Another key: another file, or the same file whose key differs: a miss either way. */
    key[kl - 2] ^= 1;
    assert_int_equal(blob_cache_get(dir, "t", key, (size_t)kl, val, sizeof(val)), -ENOENT);
    key[kl - 2] ^= 1;
    /* A value larger than the caller's room is a miss, not a truncation. */
    assert_int_equal(blob_cache_get(dir, "t", key, (size_t)kl, val, 6), -ENOENT);

    char path[256];
    entry_path(path, sizeof(path), "t");
    /* Writable by others: refused. */
    assert_int_equal(chmod(path, 0622), 0);
    assert_int_equal(blob_cache_get(dir, "t", key, (size_t)kl, val, sizeof(val)), -ENOENT);
    assert_int_equal(chmod(path, 0600), 0);
    assert_int_equal(blob_cache_get(dir, "t", key, (size_t)kl, val, sizeof(val)), 7);
    /* Cut short: refused. */
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(truncate(path, st.st_size - 1), 0);
    assert_int_equal(blob_cache_get(dir, "t", key, (size_t)kl, val, sizeof(val)), -ENOENT);
    /* A symbolic link in its place (to a good entry elsewhere): refused (O_NOFOLLOW). */
    char other[300];
    snprintf(other, sizeof(other), "%s/good", dir);
    assert_int_equal(blob_cache_put(dir, "t", key, (size_t)kl, "value-1", 7), 0);
    assert_int_equal(rename(path, other), 0);
    assert_int_equal(symlink(other, path), 0);
    assert_int_equal(blob_cache_get(dir, "t", key, (size_t)kl, val, sizeof(val)), -ENOENT);
    /* A put replaces the link by a file (rename), never writes through it. */
    assert_int_equal(blob_cache_put(dir, "t", key, (size_t)kl, "value-2", 7), 0);
    assert_int_equal(blob_cache_get(dir, "t", key, (size_t)kl, val, sizeof(val)), 7);
    assert_memory_equal(val, "value-2", 7);
    assert_int_equal(lstat(path, &st), 0);
    assert_true(S_ISREG(st.st_mode));
}

static void free_progs(struct sock_fprog *p)
{
    for (int i = 0; i < NPROGS; i++)
        free(p[i].filter);
}

static void test_seccomp_programs_survive_the_cache(void **state)
{
    (void)state;
    struct sock_fprog fresh[NPROGS] = {{0}}, again[NPROGS] = {{0}}, bad[NPROGS] = {{0}};
    assert_int_equal(sandbox_seccomp_compile(fresh), 0);
    assert_int_equal(sandbox_seccomp_fill(dir), 0);
    /* Read back as a monitor would (same key: same binary, kernel, libseccomp). */
    char key[1024];
    long kl = blob_cache_host_key(key, sizeof(key));
    assert_true(kl > 0);
    char path[256];
    entry_path(path, sizeof(path), "seccomp");
    int fd = open(path, O_RDONLY);
    assert_true(fd >= 0);
    static uint8_t file[BLOB_CACHE_MAX + 64];
    ssize_t n = read(fd, file, sizeof(file));
    close(fd);
    assert_true(n > 16);
    uint32_t key_len, val_len;
    memcpy(&key_len, file + 8, 4);
    memcpy(&val_len, file + 12, 4);
    assert_int_equal(16 + key_len + val_len, n);
    const uint8_t *val = file + 16 + key_len;
    assert_int_equal(sandbox_seccomp_unpack(val, val_len, again), 0);
    for (int i = 0; i < NPROGS; i++) {
        assert_int_equal(again[i].len, fresh[i].len);
        assert_memory_equal(again[i].filter, fresh[i].filter, fresh[i].len * sizeof(struct sock_filter));
    }
    /* Damaged values: cut short, a length past the end, a zero length. */
    assert_int_not_equal(sandbox_seccomp_unpack(val, val_len - 1, bad), 0);
    free_progs(bad);
    memset(bad, 0, sizeof(bad));
    uint8_t *copy = malloc(val_len);
    memcpy(copy, val, val_len);
    uint32_t huge = 5000;
    memcpy(copy, &huge, 4);
    assert_int_not_equal(sandbox_seccomp_unpack(copy, val_len, bad), 0);
    free_progs(bad);
    memset(bad, 0, sizeof(bad));
    uint32_t zero = 0;
    memcpy(copy, &zero, 4);
    assert_int_not_equal(sandbox_seccomp_unpack(copy, val_len, bad), 0);
    free_progs(bad);
    free(copy);
    free_progs(fresh);
    free_progs(again);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_round_trip_and_misses, setup, teardown),
        cmocka_unit_test_setup_teardown(test_seccomp_programs_survive_the_cache, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
