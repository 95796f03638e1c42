/* The host side of the domain's serial console when xeno-vmm runs standalone: guest output
 * goes to a file descriptor (stdout), host input (stdin) is fed into COM1 as fast as the
 * guest drains its 16-byte FIFO; nothing is dropped, the rest waits here. On a terminal, the
 * terminal goes raw (every key goes to the guest, Ctrl-C included) and Ctrl-] detaches. */
#ifndef XENO_VMM_HOST_CONSOLE_H
#define XENO_VMM_HOST_CONSOLE_H

#include <stddef.h>
#include <stdint.h>
#include <termios.h>

#include "vmm/dev/uart.h"

#define CONSOLE_ESCAPE 0x1d /* Ctrl-] */

struct console {
    int in_fd;
    int is_tty;
    struct termios saved;
    int in_eof;
    int escaped; /* the operator pressed the escape key */
    uint8_t buf[4096];
    size_t off, len;
};

/* Takes over `in_fd` (raw mode if it is a terminal). */
int console_open(struct console *c, int in_fd);
/* Restores the terminal. Safe to call twice. */
void console_close(struct console *c);
/* Whether the caller should poll in_fd: only when the buffer is empty and input remains. */
int console_wants_input(const struct console *c);
/* Reads what is available on in_fd into the buffer. */
void console_read(struct console *c);
/* Pushes buffered input into the UART, as much as fits. */
void console_feed(struct console *c, struct uart *u);
/* The same into any sink (vm_console_input: COM1 or virtio-console). */
void console_feed_to(struct console *c, size_t (*sink)(void *opaque, const uint8_t *buf, size_t len), void *opaque);
/* Guest output (a console_out_fn): one byte to the descriptor `*(int *)fd`, stdout. A
 * closed console loses output; it never stops the guest. */
void console_out(void *fd, uint8_t byte);
/* A console_write_fn: a run of guest output (virtio-console) to `*(int *)fd`. */
void console_write_buf(void *fd, const uint8_t *buf, size_t len);

#endif
