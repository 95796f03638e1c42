/* Attaching this terminal (or a script's stdin/stdout) to a domain's console socket
 * (docs/control-channel.md: a plain byte stream; on connect the scrollback, then live output).
 * On a terminal: raw mode, every key goes to the guest, Ctrl-] detaches, and the terminal is
 * restored however the attach ends (signals included). Otherwise: stdin is copied to the
 * guest until it ends, then output is read for a grace period, so scripts can drive a
 * console with a pipe. */
#ifndef XENO_CTL_CONSOLE_ATTACH_H
#define XENO_CTL_CONSOLE_ATTACH_H

#define CTL_CONSOLE_ESCAPE 0x1d /* Ctrl-], as in xeno-vmm, virsh and telnet */
#define CTL_CONSOLE_LINGER_S 0.5

struct ctl_console_opts {
    const char *domain; /* for messages */
    int in_fd, out_fd;  /* usually 0 and 1 */
    double linger_s;    /* after input ends: how long to keep copying output */
};

enum ctl_console_end {
    CTL_CONSOLE_DETACHED = 0, /* Ctrl-], or input ended and the grace period passed */
    CTL_CONSOLE_CLOSED,       /* the monitor closed the socket (the domain stopped) */
    CTL_CONSOLE_SIGNALLED,    /* SIGINT, SIGTERM, SIGHUP or SIGQUIT: *signo says which */
};

/* Connects to the console socket at `path` (retrying briefly: a monitor that was just
 * started may not listen yet) and copies bytes both ways until the end. Returns a
 * ctl_console_end (with *signo set for CTL_CONSOLE_SIGNALLED), or a negative errno with
 * err_msg() set. */
int ctl_console_attach(const char *path, const struct ctl_console_opts *o, int *signo);
/* The same on a connected stream socket (closed when it returns): the remote console's bridge
 * (console_ws.h) gives one. */
int ctl_console_attach_fd(int sock, const struct ctl_console_opts *o, int *signo);

#endif
