/* The domain consoles' WebSocket viewers (docs/api.md "Console over WebSocket"): one relay
 * thread owns every viewer's socket and, per domain with viewers, one connection to the
 * monitor's console socket (docs/control-channel.md). Guest output goes to every viewer as
 * binary frames, a new viewer first gets the last CONSOLE_SCROLLBACK bytes (what the monitor
 * gives a new client); viewers' messages (text or binary) are keystrokes, interleaved as from
 * one keyboard, except a read-only viewer's, which are discarded.
 *
 * Bounds: at most CONSOLE_VIEWERS_PER_DOMAIN viewers of one domain and CONSOLE_VIEWERS_MAX in
 * all; a viewer's unsent output is at most CONSOLE_VIEWER_QUEUE bytes: a viewer that does not
 * read is dropped (a log line says so) and never grows xenod's memory; a message (keystrokes)
 * is at most CONSOLE_WS_MESSAGE_MAX bytes; input waiting for the monitor is bounded too (a
 * viewer is not read while it is full).
 *
 * Threads: reserve/release/attach may be called from any thread (the API's); everything else
 * happens on the relay thread, which alone frees viewers and domains' relays. */
#ifndef XENO_DAEMON_CONSOLE_RELAY_H
#define XENO_DAEMON_CONSOLE_RELAY_H

#include <stddef.h>

#define CONSOLE_VIEWERS_PER_DOMAIN 256
#define CONSOLE_VIEWERS_MAX 1024
#define CONSOLE_VIEWER_QUEUE (128 << 10)
#define CONSOLE_WS_MESSAGE_MAX (16 << 10)
#define CONSOLE_SCROLLBACK (16 << 10)

struct console_relay;

/* A viewer being handed over: the domain (uuid, name for log lines), its monitor's console
 * socket, and who watches. */
struct console_viewer_spec {
    const char *uuid;
    const char *name;
    const char *socket_path;
    const char *who;
    int read_only;
};

int console_relay_start(struct console_relay **out);
/* Closes every viewer and joins the thread. */
void console_relay_stop(struct console_relay *cr);

/* Takes a viewer slot of domain `uuid`: 0, or -EBUSY (a cap; err_set() names it). A slot is
 * given back by console_relay_attach() (in time) or console_relay_release(). */
int console_relay_reserve(struct console_relay *cr, const char *uuid);
void console_relay_release(struct console_relay *cr, const char *uuid);

/* Hands over an upgraded connection (fd and libmicrohttpd's handle, closed with
 * MHD_UPGRADE_ACTION_CLOSE when the viewer ends) holding a reserved slot, with the bytes the
 * client sent after its request (`extra`, the start of its frames). */
void console_relay_attach(struct console_relay *cr, const struct console_viewer_spec *v, int fd, void *urh,
                          const char *extra, size_t extra_len);

#endif
