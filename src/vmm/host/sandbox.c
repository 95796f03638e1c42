#include "vmm/host/sandbox.h"

#include "lib/err.h"
#include "lib/log.h"
#include "vmm/host/mem_target.h"
#include "vmm/host/sandbox_priv.h"
#include "vmm/machine/vcpu_sched.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/capability.h>
#include <linux/landlock.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

/* The installed <linux/landlock.h> may predate later ABIs (as in net/sandbox.c). */
#define LL_FS_REFER (1ull << 13)
#define LL_FS_TRUNCATE (1ull << 14)
#define LL_FS_IOCTL_DEV (1ull << 15)
#define LL_NET_BIND_TCP (1ull << 0)
#define LL_SCOPE_ABSTRACT_UNIX_SOCKET (1ull << 0)
#define LL_SCOPE_SIGNAL (1ull << 1)
struct ll_ruleset_attr {
    uint64_t handled_access_fs;
    uint64_t handled_access_net; /* ABI 4 */
    uint64_t scoped;             /* ABI 6 */
};

#define FS_RD (LANDLOCK_ACCESS_FS_READ_FILE)
#define FS_RW (LANDLOCK_ACCESS_FS_READ_FILE | LANDLOCK_ACCESS_FS_WRITE_FILE)
/* A directory the monitor writes files in: create, replace by rename, remove, fsync it. */
#define FS_DIR_RW (FS_RW | LANDLOCK_ACCESS_FS_READ_DIR | LANDLOCK_ACCESS_FS_REMOVE_FILE | LANDLOCK_ACCESS_FS_MAKE_REG)

/* What `save` may write into (for vmm_sandbox_check_save); set once by vmm_sandbox_enter. */
static const char *save_dirs[OPTIONS_SAVE_DIRS_MAX + 1];
static unsigned nsave_dirs;
static char parent_of_run_dir[PATH_MAX];
static char real_save_dirs[OPTIONS_SAVE_DIRS_MAX + 1][PATH_MAX]; /* resolved at start */
static int sandboxed;
static int keep_sys_nice; /* see limits() */

static uint64_t fs_rights(long abi)
{
    uint64_t r = LANDLOCK_ACCESS_FS_EXECUTE | LANDLOCK_ACCESS_FS_WRITE_FILE | LANDLOCK_ACCESS_FS_READ_FILE |
                 LANDLOCK_ACCESS_FS_READ_DIR | LANDLOCK_ACCESS_FS_REMOVE_DIR | LANDLOCK_ACCESS_FS_REMOVE_FILE |
                 LANDLOCK_ACCESS_FS_MAKE_CHAR | LANDLOCK_ACCESS_FS_MAKE_DIR | LANDLOCK_ACCESS_FS_MAKE_REG |
                 LANDLOCK_ACCESS_FS_MAKE_SOCK | LANDLOCK_ACCESS_FS_MAKE_FIFO | LANDLOCK_ACCESS_FS_MAKE_BLOCK |
                 LANDLOCK_ACCESS_FS_MAKE_SYM;
    if (abi >= 2)
        r |= LL_FS_REFER;
    if (abi >= 3)
        r |= LL_FS_TRUNCATE;
    if (abi >= 5)
        r |= LL_FS_IOCTL_DEV;
    return r;
}

/* One path-beneath rule. A path that does not exist is skipped (no /dev/userfaultfd, no
 * /etc/gai.conf); `access` is cut to what the kernel handles and, for a file, to file rights. */
static int rule(int rs, const char *path, uint64_t access, uint64_t handled)
{
    int fd = open(path, O_PATH | O_CLOEXEC);
    if (fd < 0)
        return errno == ENOENT ? 0 : err_set(errno, "sandbox: %s: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) == 0 && !S_ISDIR(st.st_mode))
        access &= FS_RW | LL_FS_TRUNCATE | LL_FS_IOCTL_DEV | LANDLOCK_ACCESS_FS_EXECUTE;
    struct landlock_path_beneath_attr pb = {.allowed_access = access & handled, .parent_fd = fd};
    int rc = 0;
    if (syscall(SYS_landlock_add_rule, rs, LANDLOCK_RULE_PATH_BENEATH, &pb, 0) < 0)
        rc = err_set(errno, "sandbox: landlock rule for %s: %s", path, strerror(errno));
    close(fd);
    return rc;
}

/* The file system shrinks to what the monitor opens after start: its run directory (files,
 * sockets), the save directories, the net socket's directory (a restart binds it again),
 * /dev/kvm (a restart opens it again), /dev/userfaultfd (lazy restore), the snapshot being
 * restored (read), the migration key (read by `migrate`), the resolver's files (migrate to a
 * host name). Kernel and initrd are mapped before and never reopened. TCP bind is refused;
 * TCP connect (migration) stays. Abstract unix sockets and signals outside the process are
 * refused where the kernel can (ABI 6). */
static int landlock(const struct options *o)
{
    long abi = syscall(SYS_landlock_create_ruleset, NULL, 0, LANDLOCK_CREATE_RULESET_VERSION);
    if (abi < 1) {
        log_warn("sandbox: Landlock is not available (%s); file system access is not narrowed", strerror(errno));
        return 0;
    }
    uint64_t handled = fs_rights(abi);
    struct ll_ruleset_attr attr = {.handled_access_fs = handled};
    size_t attr_size = sizeof(attr);
    if (abi >= 6)
        attr.scoped = LL_SCOPE_ABSTRACT_UNIX_SOCKET | LL_SCOPE_SIGNAL;
    else
        attr_size = offsetof(struct ll_ruleset_attr, scoped);
    if (abi >= 4)
        attr.handled_access_net = LL_NET_BIND_TCP;
    else
        attr_size = offsetof(struct ll_ruleset_attr, handled_access_net);
    int rs = (int)syscall(SYS_landlock_create_ruleset, &attr, attr_size, 0);
    if (rs < 0)
        return err_set(errno, "sandbox: landlock_create_ruleset: %s", strerror(errno));
    uint64_t dev = FS_RW | LL_FS_IOCTL_DEV;
    int rc = rule(rs, "/dev/kvm", dev, handled);
    if (rc == 0)
        rc = rule(rs, "/dev/userfaultfd", dev, handled);
    if (rc == 0 && o->run_dir)
        rc = rule(rs, o->run_dir, FS_DIR_RW | LANDLOCK_ACCESS_FS_MAKE_SOCK | LL_FS_TRUNCATE, handled);
    for (unsigned i = 0; rc == 0 && i < nsave_dirs; i++)
        rc = rule(rs, save_dirs[i], FS_DIR_RW | LL_FS_TRUNCATE, handled);
    if (rc == 0 && o->have_net) {
        char dir[sizeof(o->net_socket)];
        snprintf(dir, sizeof(dir), "%s", o->net_socket);
        char *slash = strrchr(dir, '/');
        if (slash)
            *(slash == dir ? slash + 1 : slash) = '\0';
        rc = rule(rs, slash ? dir : ".", LANDLOCK_ACCESS_FS_MAKE_SOCK | LANDLOCK_ACCESS_FS_REMOVE_FILE, handled);
    }
    if (rc == 0 && o->restore)
        rc = rule(rs, o->restore, FS_RD, handled);
    if (rc == 0 && o->migrate_key)
        rc = rule(rs, o->migrate_key, FS_RD, handled);
    static const char *const resolver[] = {"/etc/hosts", "/etc/nsswitch.conf", "/etc/resolv.conf", "/etc/host.conf",
                                           "/etc/gai.conf"};
    for (size_t i = 0; rc == 0 && i < sizeof(resolver) / sizeof(resolver[0]); i++)
        rc = rule(rs, resolver[i], FS_RD, handled);
#if defined(__SANITIZE_ADDRESS__)
    /* Sanitizer builds only: ASan reads /proc/self/maps for its reports. */
    if (rc == 0)
        rc = rule(rs, "/proc", FS_RD | LANDLOCK_ACCESS_FS_READ_DIR, handled);
#endif
    if (rc == 0 && syscall(SYS_landlock_restrict_self, rs, 0) < 0)
        rc = err_set(errno, "sandbox: landlock_restrict_self: %s", strerror(errno));
    close(rs);
    return rc;
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
    for (int cap = 0; cap <= 63; cap++)
        if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) < 0 && errno != EINVAL)
            return err_set(errno, "sandbox: dropping capability %d from the bounding set: %s", cap, strerror(errno));
    if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0 && errno != EINVAL)
        return err_set(errno, "sandbox: clearing ambient capabilities: %s", strerror(errno));
    struct __user_cap_header_struct hdr = {.version = _LINUX_CAPABILITY_VERSION_3, .pid = 0};
    struct __user_cap_data_struct data[2];
    memset(data, 0, sizeof(data));
    if (keep_sys_nice) {
        data[0].effective = data[0].permitted = 1u << CAP_SYS_NICE;
        log_info("sandbox: keeping CAP_SYS_NICE (the real-time limits cannot be raised here)");
    }
    if (syscall(SYS_capset, &hdr, data) < 0)
        return err_set(errno, "sandbox: capset: %s", strerror(errno));
    return 0;
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
        rc = sandbox_seccomp_load();
    if (rc == 0)
        sandboxed = 1;
    return rc;
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
