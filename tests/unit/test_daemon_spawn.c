/* Starting supervised processes (src/daemon/spawn.c): a real /bin/sh started by
 * spawn_detached reports, from /proc, what spawn.h promises: its own session, /dev/null on
 * stdin, the log (appended to) on stdout and stderr, no descriptor of the parent's beyond 2,
 * no blocked signal, SIGPIPE not ignored; the nice level is applied; a failed exec is an error. */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include "daemon/spawn.h"
#include "lib/err.h"

/* One line per fact about `$$`, the shell the spawn started (the command substitutions run in
 * subshells: their pipes are not the shell's descriptors). The signal masks are read last, by
 * the spawned process itself after an exec: dash blocks every signal of its own while it waits
 * for a child, so a grep of /proc/$$/status would see dash's mask, not the one spawn gave. */
static const char script[] =
    "set -- $(cut -d' ' -f1,6 /proc/$$/stat); [ \"$1\" = \"$2\" ] && echo session=own || echo session=other; "
    "[ -e /proc/$$/fd/7 ] && echo fd7=open || echo fd7=closed; "
    "echo stdin=$(readlink /proc/$$/fd/0); "
    "echo to-stderr >&2; "
    "exec grep -E '^Sig(Blk|Ign):' /proc/self/status";

static char *slurp(const char *path)
{
    static char buf[4096];
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    buf[n] = 0;
    fclose(f);
    return buf;
}

static void child_gets_what_spawn_h_promises(void **state)
{
    (void)state;
    char dir[] = "/tmp/test-spawn.XXXXXX", log[64];
    assert_non_null(mkdtemp(dir));
    snprintf(log, sizeof(log), "%s/log", dir);
    FILE *f = fopen(log, "w");
    fputs("earlier\n", f);
    fclose(f);
    /* What a careless parent would pass on: a descriptor without O_CLOEXEC at 7, a blocked
     * SIGUSR1, SIGPIPE ignored (xenod ignores it). */
    int p[2];
    assert_int_equal(pipe(p), 0);
    assert_int_equal(dup2(p[0], 7), 7);
    sigset_t usr1, old;
    sigemptyset(&usr1);
    sigaddset(&usr1, SIGUSR1);
    sigprocmask(SIG_BLOCK, &usr1, &old);
    void (*old_pipe)(int) = signal(SIGPIPE, SIG_IGN);

    char *argv[] = {"/bin/sh", "-c", (char *)script, NULL};
    int before = getpriority(PRIO_PROCESS, 0);
    pid_t pid = spawn_detached("/bin/sh", argv, log, 3, -1);
    assert_true(pid > 0);
    /* A zombie keeps its nice value: read before reaping, whether or not it has ended. */
    int want = before + 3 > 19 ? 19 : before + 3;
    errno = 0;
    assert_int_equal(getpriority(PRIO_PROCESS, pid), want);
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);

    sigprocmask(SIG_SETMASK, &old, NULL);
    signal(SIGPIPE, old_pipe);
    close(7);
    close(p[0]);
    close(p[1]);

    const char *out = slurp(log);
    assert_ptr_equal(strstr(out, "earlier\n"), out); /* appended, not truncated */
    assert_non_null(strstr(out, "session=own\n"));
    assert_non_null(strstr(out, "fd7=closed\n"));
    assert_non_null(strstr(out, "stdin=/dev/null\n"));
    assert_non_null(strstr(out, "SigBlk:\t0000000000000000\n"));
    const char *ign = strstr(out, "SigIgn:\t");
    assert_non_null(ign);
    unsigned long long mask = strtoull(ign + 8, NULL, 16);
    assert_int_equal(mask & (1ULL << (SIGPIPE - 1)), 0);
    assert_non_null(strstr(out, "to-stderr\n"));
    unlink(log);
    rmdir(dir);
}

static void failed_exec_is_an_error(void **state)
{
    (void)state;
    char *argv[] = {"/nonexistent/xeno-vmm", NULL};
    pid_t pid = spawn_detached("/nonexistent/xeno-vmm", argv, "/dev/null", 0, -1);
    assert_int_equal(pid, -ENOENT);
    assert_non_null(strstr(err_msg(), "/nonexistent/xeno-vmm"));
}

static void unwritable_log_is_an_error(void **state)
{
    (void)state;
    char *argv[] = {"/bin/true", NULL};
    pid_t pid = spawn_detached("/bin/true", argv, "/nonexistent-dir/log", 0, -1);
    assert_int_equal(pid, -ENOENT);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(child_gets_what_spawn_h_promises),
        cmocka_unit_test(failed_exec_is_an_error),
        cmocka_unit_test(unwritable_log_is_an_error),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
