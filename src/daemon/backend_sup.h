/* A supervised host backend: one process outside the monitors that serves every domain
 * (xeno-netback, xeno-blkback), which xenod keeps running. netback_sup.h and host_disk.c
 * are its two users; what differs between them is in backend_sup_opts.
 *
 * If the backend crashes, or its heartbeat (a counter on its stats page in STATE_DIR/stats)
 * stops moving for watchdog_ms (a hang), xenod kills it and starts a new one on the same
 * state directory: at once after a single crash, with a back-off (up to 2 s) when it crash-
 * loops. Like the monitors, it outlives xenod: a restarted xenod finds it by its pid (the pid
 * file, or the pid on its stats page) checked against /proc/PID/cmdline (`--state-dir DIR`),
 * and supervises it again. Requests are one line each on a fresh connection to
 * STATE_DIR/control.sock.
 *
 * Threads: one supervising thread per backend; the callbacks run on it with no lock of this
 * module held. backend_sup_request and the readers may be called from any thread. */
#ifndef XENO_DAEMON_BACKEND_SUP_H
#define XENO_DAEMON_BACKEND_SUP_H

#include <stddef.h>
#include <stdint.h>

struct backend_sup;

#define BACKEND_ARGS_MAX 24

struct backend_sup_opts {
    const char *name;      /* "netback", "blkback": messages, and event kinds NAME-started ... */
    const char *path;      /* the program */
    const char *state_dir; /* its --state-dir (made 0700 if missing) */
    int nice;              /* its nice value */
    unsigned watchdog_ms;  /* a heartbeat older than this is a hang (0: 3000) */
    /* The stats page: at least page_size bytes, a uint32 sequence lock at seq_off (odd while
     * the backend writes), a uint64 heartbeat at heartbeat_off, and (pid_off >= 0) the
     * backend's uint32 pid at pid_off; pid_off < 0: the backend writes STATE_DIR/pid. */
    size_t page_size, seq_off, heartbeat_off;
    long pid_off;
    int ask_signal; /* sent each watchdog/3 so an idle backend writes its page; 0: none needed */
    /* The arguments after `PROGRAM --state-dir DIR`: at most BACKEND_ARGS_MAX, pointing at
     * memory that lives as long as the supervisor (ctx's). Returns how many. */
    int (*args)(void *ctx, char **argv);
    /* Each turn of the supervising thread (about 10 per second); NULL: none. */
    void (*on_tick)(void *ctx);
    /* A backend was started (restarted: 1) or found running at open (0): give it its state
     * (e.g. the disks of running domains). Called once it serves; NULL: none. */
    void (*on_started)(void *ctx, int restarted);
    /* Each thing worth an event: kind NAME-started, NAME-died, NAME-hung,
     * NAME-restart-failed. */
    void (*on_event)(void *ctx, const char *kind, const char *detail);
    void *ctx;
};

/* Starts (or re-attaches to) the backend and its supervising thread. */
int backend_sup_open(struct backend_sup **out, const struct backend_sup_opts *o);
/* Stops supervising; the backend keeps running (the next xenod attaches to it). */
void backend_sup_close(struct backend_sup *s);
/* One request line (without newline); 0 for an "ok ..." reply (its first line copied to
 * reply), else -EIO with the backend's "err ..." text, or the
 * connection's errno, as the message. Waits up to timeout_ms, also for a backend that is
 * being restarted. */
int backend_sup_request(struct backend_sup *s, const char *line, char *reply, size_t size, int timeout_ms);
/* A consistent copy of the stats page (size bytes at most); -ENOENT while there is none. */
int backend_sup_read_page(struct backend_sup *s, void *page, size_t size);
/* The backend's pid (0 while none runs) and how many times it was restarted. */
void backend_sup_status(struct backend_sup *s, int *pid, uint64_t *restarts);

#endif
