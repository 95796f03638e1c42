/*
 * 16550A UART on COM1. Output is polled; input is interrupt-driven (console.c owns the
 * receive buffer and the IRQ, this file only touches the chip).
 */
#include "runtime.h"

#define COM1 0x3f8
#define RBR  0 /* receive buffer (read, DLAB=0) */
#define THR  0 /* transmit holding (write, DLAB=0) */
#define IER  1 /* interrupt enable (DLAB=0) */
#define DLL  0 /* divisor latch low (DLAB=1) */
#define DLM  1 /* divisor latch high (DLAB=1) */
#define FCR  2 /* FIFO control (write) */
#define IIR  2 /* interrupt identification (read); bits 7:6 = 11 when the FIFOs are on */
#define LCR  3
#define MCR  4
#define LSR  5

#define LSR_DR   0x01 /* data ready */
#define LSR_THRE 0x20 /* transmit FIFO empty */

#define TX_FIFO_SIZE 16

/* Bytes we may write after seeing THRE: the FIFO depth when the FIFOs are on, else 1. */
static unsigned tx_burst = 1;

void uart_init(void)
{
    outb(COM1 + IER, 0x00);
    outb(COM1 + LCR, 0x80); /* DLAB: expose the divisor latch */
    outb(COM1 + DLL, 0x01); /* 115200 baud; irrelevant to a virtual UART but well-defined */
    outb(COM1 + DLM, 0x00);
    outb(COM1 + LCR, 0x03); /* 8N1, DLAB off */
    /* DTR | RTS | OUT2: on a PC, OUT2 gates the UART's interrupt line onto the bus. */
    outb(COM1 + MCR, 0x0b);
    /* We never write FCR: turning the FIFOs on clears them (on a real 16550 and in QEMU),
     * which would drop input the host sent before we got here -- a test harness typing
     * into the echo kernel does exactly that. We use the FIFOs if they are already on. */
    if ((inb(COM1 + IIR) & 0xc0) == 0xc0)
        tx_burst = TX_FIFO_SIZE;
}

/* With the FIFOs on, THRE means the whole 16-byte transmit FIFO is empty, so one status
 * read per 16 bytes is enough: half the port exits of checking before every byte. */
void uart_write(const char *s, size_t len)
{
    while (len) {
        size_t n = MIN(len, (size_t)tx_burst);

        while (!(inb(COM1 + LSR) & LSR_THRE))
            pause();
        for (size_t i = 0; i < n; i++)
            outb(COM1 + THR, s[i]);
        s += n;
        len -= n;
    }
}

void uart_enable_rx_irq(void)
{
    outb(COM1 + IER, 0x01); /* received data available */
}

int uart_poll_getc(void)
{
    if (!(inb(COM1 + LSR) & LSR_DR))
        return -1;
    return inb(COM1 + RBR);
}
