/* The run directory a monitor owns under xenod (docs/control-channel.md): created 0700 if
 * needed and locked (flock) for the monitor's life, so two monitors never share one. Files
 * from an earlier monitor there (sockets, pid, outcome) are removed when it is opened;
 * console.log is kept and appended to. Small files are written atomically (a temporary
 * name, then rename), so a reader sees the old content or the new, never half. */
#ifndef XENO_VMM_HOST_RUN_DIR_H
#define XENO_VMM_HOST_RUN_DIR_H

#include <limits.h>

#define RUN_DIR_CONTROL "control.sock"
#define RUN_DIR_CONSOLE "console.sock"
#define RUN_DIR_PID "pid"
#define RUN_DIR_OUTCOME "outcome"

struct run_dir {
    char path[PATH_MAX];
    int fd; /* the directory, open and flocked */
};

/* 0 or -errno with err_msg(); -EBUSY when another live monitor holds the directory. */
int run_dir_open(struct run_dir *rd, const char *path);
void run_dir_close(struct run_dir *rd);
/* A unix stream socket listening at DIR/name (mode 0600, non-blocking). Returns the fd or -errno. */
int run_dir_listen(struct run_dir *rd, const char *name);
/* Replaces DIR/name with `text` atomically (mode 0600). 0 or -errno with err_msg(). */
int run_dir_write(struct run_dir *rd, const char *name, const char *text);
void run_dir_remove(struct run_dir *rd, const char *name);

#endif
