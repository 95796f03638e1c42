#include "vmm/host/sandbox.h"

#include "lib/confine.h"
#include "lib/err.h"
#include "lib/log.h"
#include "vmm/host/mem_target.h"
#include "vmm/host/sandbox_priv.h"
#include "vmm/machine/vcpu_sched.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/capability.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#define FS_RD (LANDLOCK_ACCESS_FS_READ_FILE)
#define FS_RW CONFINE_FS_RW
/* A directory the monitor writes files in: create, replace by rename, remove, fsync it. */
#define FS_DIR_RW (FS_RW | LANDLOCK_ACCESS_FS_READ_DIR | LANDLOCK_ACCESS_FS_REMOVE_FILE | LANDLOCK_ACCESS_FS_MAKE_REG)

/* What `save` may write into (for vmm_sandbox_check_save); set once by vmm_sandbox_enter. */
static const char *save_dirs[OPTIONS_SAVE_DIRS_MAX + 1];
static unsigned nsave_dirs;
static char parent_of_run_dir[PATH_MAX];
static char real_save_dirs[OPTIONS_SAVE_DIRS_MAX + 1][PATH_MAX]; /* resolved at start */
static int sandboxed;
static int keep_sys_nice; /* see limits() */

/* The file system shrinks to what the monitor opens after start: its run directory (files,
 * sockets), the save directories, the net socket's directory (a restart binds it again),
 * /dev/kvm (a restart opens it again), /dev/userfaultfd (lazy restore), the snapshot being
 * restored (read), the migration key (read by `migrate`), the resolver's files (migrate to a
 * host name). Kernel and initrd are mapped before and never reopened. TCP bind is refused;
 * TCP connect (migration) stays. Abstract unix sockets and signals outside the process are
 * refused where the kernel can (ABI 6). */
/* The directory of a vhost-user socket the monitor listens on: it creates the socket and
 * removes it at the end. */
static int allow_socket_dir(struct confine_ruleset *rs, const char *socket_path)
{
    char dir[108];
    snprintf(dir, sizeof(dir), "%s", socket_path);
    char *slash = strrchr(dir, '/');
    if (slash)
        *(slash == dir ? slash + 1 : slash) = '\0';
    return confine_landlock_allow_path(rs, slash ? dir : ".",
                                       LANDLOCK_ACCESS_FS_MAKE_SOCK | LANDLOCK_ACCESS_FS_REMOVE_FILE);
}

static int landlock(const struct options *o)
{
    struct confine_ruleset rs;
    int rc = confine_landlock_open(&rs, CONFINE_NET_BIND_TCP);
    if (rc < 0)
        return rc;
    uint64_t dev = FS_RW | CONFINE_FS_IOCTL_DEV;
    rc = confine_landlock_allow_path(&rs, "/dev/kvm", dev);
    if (rc == 0)
        rc = confine_landlock_allow_path(&rs, "/dev/userfaultfd", dev);
    if (rc == 0 && o->run_dir)
        rc = confine_landlock_allow_path(&rs, o->run_dir,
                                         FS_DIR_RW | LANDLOCK_ACCESS_FS_MAKE_SOCK | CONFINE_FS_TRUNCATE);
    for (unsigned i = 0; rc == 0 && i < nsave_dirs; i++)
        rc = confine_landlock_allow_path(&rs, save_dirs[i], FS_DIR_RW | CONFINE_FS_TRUNCATE);
    if (rc == 0 && o->have_net)
        rc = allow_socket_dir(&rs, o->net_socket);
    for (unsigned i = 0; rc == 0 && i < o->ndisks; i++)
        rc = allow_socket_dir(&rs, o->disk_socket[i]);
    if (rc == 0 && o->restore)
        rc = confine_landlock_allow_path(&rs, o->restore, FS_RD);
    /* Read only: a monitor takes cached start-up results, never writes them (its guest may
     * own it; xenod's unsandboxed `xeno-vmm --fill-cache` writes them). */
    if (rc == 0 && o->cache_dir)
        rc = confine_landlock_allow_path(&rs, o->cache_dir, FS_RD);
    if (rc == 0 && o->migrate_key)
        rc = confine_landlock_allow_path(&rs, o->migrate_key, FS_RD);
    static const char *const resolver[] = {"/etc/hosts", "/etc/nsswitch.conf", "/etc/resolv.conf", "/etc/host.conf",
                                           "/etc/gai.conf"};
    for (size_t i = 0; rc == 0 && i < sizeof(resolver) / sizeof(resolver[0]); i++)
        rc = confine_landlock_allow_path(&rs, resolver[i], FS_RD);
#if defined(__SANITIZE_ADDRESS__)
    /* Sanitizer builds only: ASan reads /proc/self/maps for its reports. */
    if (rc == 0)
        rc = confine_landlock_allow_path(&rs, "/proc", FS_RD | LANDLOCK_ACCESS_FS_READ_DIR);
#endif
    return confine_landlock_enforce(&rs, rc);
}

static int set_limit(int resource, rlim_t value, const char *name)
{
    struct rlimit rl = {.rlim_cur = value, .rlim_max = value};
    if (setrlimit(resource, &rl) < 0)
        return err_set(errno, "sandbox: setrlimit %s: %s", name, strerror(errno));
    return 0;
}

/* Before the capabilities go (raising a hard limit needs CAP_SYS_RESOURCE). */
static int limits(const struct options *o)
{
    int rc = set_limit(RLIMIT_CORE, 0, "RLIMIT_CORE"); /* a core file would hold guest memory */
    if (rc == 0)
        rc = set_limit(RLIMIT_NOFILE, 4096, "RLIMIT_NOFILE");
    /* Not binding for uid 0 (the kernel exempts it); the seccomp filter is the real limit:
     * clone only with CLONE_THREAD. Set anyway for a monitor run under another uid. */
    if (rc == 0)
        rc = set_limit(RLIMIT_NPROC, 256, "RLIMIT_NPROC");
    /* The CPU scheduler's real-time priority and nice without CAP_SYS_NICE. Raising these
     * needs CAP_SYS_RESOURCE; a host that withholds it from xenod (a container) keeps
     * CAP_SYS_NICE instead, alone (drop_capabilities). */
    struct rlimit prio = {99, 99}, nice = {40, 40};
    if (rc == 0 && (setrlimit(RLIMIT_RTPRIO, &prio) < 0 || setrlimit(RLIMIT_NICE, &nice) < 0)) {
        if (errno != EPERM)
            rc = err_set(errno, "sandbox: setrlimit RLIMIT_RTPRIO/RLIMIT_NICE: %s", strerror(errno));
        keep_sys_nice = 1;
    }
    /* A snapshot holds at most the guest's memory and a little state. */
    if (rc == 0)
        rc = set_limit(RLIMIT_FSIZE, 2 * o->mem_size + (256ull << 20), "RLIMIT_FSIZE");
#if !defined(__SANITIZE_ADDRESS__)
    /* Address space: guest memory twice (a restart maps the new VM's before the old is gone
     * only in the worst case) and 16 GiB for the rest (thread stacks and malloc arenas are
     * reserved generously). ASan reserves terabytes of shadow: no RLIMIT_AS under it. */
    if (rc == 0)
        rc = set_limit(RLIMIT_AS, 2 * o->mem_size + (16ull << 30), "RLIMIT_AS");
#endif
    return rc;
}

/* Every capability goes (but CAP_SYS_NICE where limits() could not stand in for it): with
 * its fds open, the monitor needs none. It stays uid 0, the owner
 * of its 0700 run directory. */
static int drop_capabilities(void)
{
    if (keep_sys_nice)
        log_info("sandbox: keeping CAP_SYS_NICE (the real-time limits cannot be raised here)");
    return confine_drop_capabilities(keep_sys_nice ? 1ull << CAP_SYS_NICE : 0);
}

int vmm_sandbox_enter(const struct options *o)
{
    for (unsigned i = 0; i < o->nsave_dirs; i++)
        save_dirs[nsave_dirs++] = o->save_dirs[i];
    if (nsave_dirs == 0 && o->run_dir) {
        /* Default: the directory holding the run directory. xenod always names its own. */
        char *real = realpath(o->run_dir, NULL);
        snprintf(parent_of_run_dir, sizeof(parent_of_run_dir), "%s", real ? real : o->run_dir);
        free(real);
        char *slash = strrchr(parent_of_run_dir, '/');
        if (slash)
            *(slash == parent_of_run_dir ? slash + 1 : slash) = '\0';
        save_dirs[nsave_dirs++] = parent_of_run_dir;
    }
    for (unsigned i = 0; i < nsave_dirs; i++)
        if (!realpath(save_dirs[i], real_save_dirs[i]))
            snprintf(real_save_dirs[i], sizeof(real_save_dirs[i]), "%s", save_dirs[i]);
    /* Files kept open across the sandbox (it refuses /proc). */
    mem_self_rss_open();
    vcpu_sched_open_host_files();
    int rc = limits(o);
    if (rc == 0)
        rc = landlock(o);
    if (rc == 0)
        rc = drop_capabilities();
    if (rc == 0 && prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
        rc = err_set(errno, "sandbox: no_new_privs: %s", strerror(errno));
    if (rc == 0)
        rc = sandbox_seccomp_load(o->cache_dir);
    if (rc == 0)
        sandboxed = 1;
    return rc;
}

int vmm_sandbox_fill_cache(const char *cache_dir)
{
    return sandbox_seccomp_fill(cache_dir);
}

/* `path` must be absolute, without "." or ".." components, and below one of the save
 * directories (as given or resolved at start). Textual on purpose: realpath would need
 * readlink, which the sandbox refuses. Landlock decides in the end; this turns its EACCES
 * into a message that says why. */
int vmm_sandbox_check_save(const char *path)
{
    if (!sandboxed)
        return 0;
    int ok = path[0] == '/' && !strstr(path, "/../") && !strstr(path, "/./");
    for (unsigned i = 0; ok && i < 2 * nsave_dirs; i++) {
        const char *d = i < nsave_dirs ? save_dirs[i] : real_save_dirs[i - nsave_dirs];
        size_t n = strlen(d);
        while (n > 1 && d[n - 1] == '/')
            n--;
        if (n > 0 && strncmp(path, d, n) == 0 && (path[n] == '/' || n == 1))
            return 0;
    }
    char list[512] = "";
    for (unsigned i = 0; i < nsave_dirs; i++)
        snprintf(list + strlen(list), sizeof(list) - strlen(list), "%s%s", i ? ", " : "", save_dirs[i]);
    return err_set(EACCES, "%s: outside the directories this monitor's sandbox lets it write (%s; --save-dir)", path,
                   list[0] ? list : "none");
}
