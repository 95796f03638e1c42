/* 16550A UART model (COM1): the domain's first read/write console.
 *
 * The model is pure: it knows nothing of KVM or file descriptors. Whoever embeds it supplies
 * callbacks for transmitted bytes, the interrupt line and "receive FIFO has room again", and
 * feeds host input with uart_receive(). That keeps it unit-testable and reusable by the
 * control plane, which will relay the console over a socket instead of a terminal. */
#ifndef XENO_VMM_DEV_UART_H
#define XENO_VMM_DEV_UART_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "vmm/core/device.h"

#define UART_COM1_BASE 0x3f8
#define UART_COM1_IRQ 4
#define UART_FIFO_SIZE 16

/* Callbacks run with the UART's lock held: they must not call back into the UART. */
struct uart_ops {
    void (*tx)(void *opaque, uint8_t byte);
    void (*set_irq)(void *opaque, int level);
    void (*rx_space)(void *opaque); /* the guest emptied the receive FIFO */
};

struct uart {
    pthread_mutex_t lock;
    const struct uart_ops *ops;
    void *opaque;
    uint8_t ier, lcr, mcr, scr, dll, dlm, fcr;
    uint8_t rx[UART_FIFO_SIZE];
    unsigned rx_head, rx_count;
    int thre_pending; /* transmitter-empty interrupt owed to the guest */
    int rx_open;      /* the guest's driver is up: it read LSR/RBR or enabled RX interrupts */
    int irq_level;
};

void uart_init(struct uart *u, const struct uart_ops *ops, void *opaque);
void uart_destroy(struct uart *u);

/* One register access at `offset` 0..7 (an io_handler_fn). */
void uart_io(void *uart, uint64_t offset, int is_write, uint8_t *data, unsigned size);

/* Queues host input; returns how many bytes fit (the rest must wait for rx_space).
 * Until the guest's driver shows it is listening, nothing fits: drivers reset the FIFO
 * while initialising, and input typed or piped before that would be thrown away. */
size_t uart_receive(struct uart *u, const uint8_t *buf, size_t len);

/* The UART's state in snapshots and migration (section "uart", docs/snapshot-format.md):
 * registers, the receive FIFO and the interrupt line. Layout fixed by the format. */
struct uart_state {
    uint8_t ier, lcr, mcr, scr, dll, dlm, fcr, pad;
    uint8_t rx[UART_FIFO_SIZE];
    uint32_t rx_head, rx_count;
    int32_t thre_pending, rx_open, irq_level;
    uint32_t pad2;
};
extern const struct dev_state_ops uart_state_ops;

#endif
