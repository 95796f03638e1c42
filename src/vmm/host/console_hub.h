/* The domain's console when the monitor runs under xenod (--run-dir): guest output goes to
 * console.log, a 16 KiB scrollback and every client attached to console.sock; input from
 * any client goes to COM1 as fast as the guest drains it (docs/control-channel.md).
 *
 * Threads: vCPU threads only hand bytes over (hub_guest_output: a memcpy under a mutex and,
 * when the hand-off buffer was empty, an eventfd wakeup). Everything else (the log file,
 * clients, the scrollback) happens on the main loop, which never blocks on a client: each
 * has a bounded output buffer, and a client that lets it fill up is dropped. */
#ifndef XENO_VMM_HOST_CONSOLE_HUB_H
#define XENO_VMM_HOST_CONSOLE_HUB_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "vmm/host/console_log.h"
#include "vmm/host/pollset.h"
#include "lib/ring.h"
#include "vmm/dev/uart.h"

#define HUB_SCROLLBACK (16 * 1024) /* what a new client sees first */
#define HUB_CLIENT_BUF (64 * 1024) /* output a client may fall behind by (beyond its socket buffer) */
#define HUB_PENDING (256 * 1024)   /* guest output not yet taken by the main loop */
#define HUB_MAX_CLIENTS 32
#define HUB_INPUT_BUF 4096

struct hub_client {
    int fd;
    int in_eof; /* it shut down its sending side: it still gets output */
    int hup;    /* it is gone: only input already in its socket remains to be read */
    int dead;   /* to be closed at the end of this turn */
    int idx;    /* in this turn's pollset */
    struct ring out;
};

struct console_hub {
    int listen_fd, idx_listen;
    struct console_log log;
    int have_log;
    struct ring scrollback;
    struct hub_client *clients[HUB_MAX_CLIENTS];
    unsigned nclients, next_reader;
    uint8_t in[HUB_INPUT_BUF];
    size_t in_off, in_len;
    uint64_t in_bytes; /* delivered to the guest */

    /* Shared with vCPU threads, under `lock`. */
    pthread_mutex_t lock;
    struct ring pending;
    int wake_efd, idx_wake;
    int wake_armed; /* an eventfd wakeup is outstanding */
    uint64_t out_bytes, lost;
};

/* listen_fd (taken over; -1 for none) is a listening stream socket; log_dir_fd (-1: no
 * log) is where console.log lives, limited to log_limit bytes a file. 0 or -errno. */
int hub_open(struct console_hub *h, int listen_fd, int log_dir_fd, uint64_t log_limit);
/* Passes on what is still pending, then closes everything. */
void hub_close(struct console_hub *h);

/* A console_out_fn: one byte of guest output, from a vCPU thread. */
void hub_guest_output(void *hub, uint8_t byte);
/* A console_write_fn: a run of guest output (virtio-console), from the virtio thread. */
void hub_guest_write(void *hub, const uint8_t *buf, size_t len);

/* Attaches a connected client (taken over): it first gets the scrollback. 0, or -EMFILE
 * when HUB_MAX_CLIENTS are attached (fd is closed then). */
int hub_add_client(struct console_hub *h, int fd);
unsigned hub_clients(const struct console_hub *h);

/* The main loop's part: add our fds, then act on what poll reported. */
void hub_prepare(struct console_hub *h, struct pollset *ps);
void hub_dispatch(struct console_hub *h, const struct pollset *ps);
/* Moves pending guest output to the log, the scrollback and the clients. */
void hub_drain(struct console_hub *h);
/* Pushes buffered client input into the UART, as much as it takes; returns the count. */
size_t hub_feed(struct console_hub *h, struct uart *u);
/* The same into any sink (vm_console_input: COM1 or virtio-console). */
size_t hub_feed_to(struct console_hub *h, size_t (*sink)(void *opaque, const uint8_t *buf, size_t len), void *opaque);

uint64_t hub_out_bytes(struct console_hub *h);

#endif
