#include "lib/confine.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <stddef.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "lib/err.h"
#include "lib/log.h"

#define CONFINE_SCOPE_ABSTRACT_UNIX_SOCKET (1ull << 0) /* ABI 6 */
#define CONFINE_SCOPE_SIGNAL (1ull << 1)

/* The full attribute layout; the kernel is given the prefix its ABI knows. */
struct ruleset_attr {
    uint64_t handled_access_fs;
    uint64_t handled_access_net; /* ABI 4 */
    uint64_t scoped;             /* ABI 6 */
};

/* File-system rights by ABI version: a right the kernel does not know cannot be handled (the
 * ruleset would be refused). */
static uint64_t fs_rights(long abi)
{
    uint64_t r = LANDLOCK_ACCESS_FS_EXECUTE | LANDLOCK_ACCESS_FS_WRITE_FILE | LANDLOCK_ACCESS_FS_READ_FILE |
                 LANDLOCK_ACCESS_FS_READ_DIR | LANDLOCK_ACCESS_FS_REMOVE_DIR | LANDLOCK_ACCESS_FS_REMOVE_FILE |
                 LANDLOCK_ACCESS_FS_MAKE_CHAR | LANDLOCK_ACCESS_FS_MAKE_DIR | LANDLOCK_ACCESS_FS_MAKE_REG |
                 LANDLOCK_ACCESS_FS_MAKE_SOCK | LANDLOCK_ACCESS_FS_MAKE_FIFO | LANDLOCK_ACCESS_FS_MAKE_BLOCK |
                 LANDLOCK_ACCESS_FS_MAKE_SYM;
    if (abi >= 2)
        r |= CONFINE_FS_REFER;
    if (abi >= 3)
        r |= CONFINE_FS_TRUNCATE;
    if (abi >= 5)
        r |= CONFINE_FS_IOCTL_DEV;
    return r;
}

int confine_landlock_open(struct confine_ruleset *rs, uint64_t net)
{
    rs->fd = -1;
    rs->abi = syscall(SYS_landlock_create_ruleset, NULL, 0, LANDLOCK_CREATE_RULESET_VERSION);
    if (rs->abi < 1) {
        log_warn("sandbox: Landlock is not available (%s); file system access is not narrowed", strerror(errno));
        return 0;
    }
    rs->handled = fs_rights(rs->abi);
    struct ruleset_attr attr = {.handled_access_fs = rs->handled};
    size_t size = sizeof(attr);
    if (rs->abi >= 6)
        attr.scoped = CONFINE_SCOPE_ABSTRACT_UNIX_SOCKET | CONFINE_SCOPE_SIGNAL;
    else
        size = offsetof(struct ruleset_attr, scoped);
    if (rs->abi >= 4)
        attr.handled_access_net = net;
    else
        size = offsetof(struct ruleset_attr, handled_access_net);
    rs->fd = (int)syscall(SYS_landlock_create_ruleset, &attr, size, 0);
    if (rs->fd < 0)
        return err_set(errno, "sandbox: landlock_create_ruleset: %s", strerror(errno));
    return 0;
}

int confine_landlock_allow_fd(struct confine_ruleset *rs, int fd, uint64_t access, const char *what)
{
    if (rs->fd < 0)
        return 0;
    struct landlock_path_beneath_attr pb = {.allowed_access = access & rs->handled, .parent_fd = fd};
    if (syscall(SYS_landlock_add_rule, rs->fd, LANDLOCK_RULE_PATH_BENEATH, &pb, 0) < 0)
        return err_set(errno, "sandbox: landlock rule for %s: %s", what, strerror(errno));
    return 0;
}

int confine_landlock_allow_path(struct confine_ruleset *rs, const char *path, uint64_t access)
{
    if (rs->fd < 0)
        return 0;
    int fd = open(path, O_PATH | O_CLOEXEC);
    if (fd < 0)
        return errno == ENOENT ? 0 : err_set(errno, "sandbox: %s: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) == 0 && !S_ISDIR(st.st_mode))
        access &= CONFINE_FS_RW | CONFINE_FS_TRUNCATE | CONFINE_FS_IOCTL_DEV | LANDLOCK_ACCESS_FS_EXECUTE;
    int rc = confine_landlock_allow_fd(rs, fd, access, path);
    close(fd);
    return rc;
}

int confine_landlock_enforce(struct confine_ruleset *rs, int rc)
{
    if (rs->fd < 0)
        return rc;
    if (rc == 0 && syscall(SYS_landlock_restrict_self, rs->fd, 0) < 0)
        rc = err_set(errno, "sandbox: landlock_restrict_self: %s", strerror(errno));
    close(rs->fd);
    rs->fd = -1;
    return rc;
}

int confine_drop_capabilities(uint64_t keep)
{
    for (int cap = 0; cap <= 63; cap++)
        if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) < 0 && errno != EINVAL)
            return err_set(errno, "sandbox: dropping capability %d from the bounding set: %s", cap, strerror(errno));
    if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0 && errno != EINVAL)
        return err_set(errno, "sandbox: clearing ambient capabilities: %s", strerror(errno));
    struct __user_cap_header_struct hdr = {.version = _LINUX_CAPABILITY_VERSION_3, .pid = 0};
    struct __user_cap_data_struct data[2];
    memset(data, 0, sizeof(data));
    data[0].effective = data[0].permitted = (uint32_t)keep;
    data[1].effective = data[1].permitted = (uint32_t)(keep >> 32);
    if (syscall(SYS_capset, &hdr, data) < 0)
        return err_set(errno, "sandbox: capset: %s", strerror(errno));
    return 0;
}
