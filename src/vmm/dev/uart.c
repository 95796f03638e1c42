#include "vmm/dev/uart.h"

#include <string.h>

enum {
    UART_RBR_THR = 0,
    UART_IER = 1,
    UART_IIR_FCR = 2,
    UART_LCR = 3,
    UART_MCR = 4,
    UART_LSR = 5,
    UART_MSR = 6,
    UART_SCR = 7,
};
#define IER_RDI 0x01  /* received data available */
#define IER_THRI 0x02 /* transmitter holding register empty */
#define IIR_NONE 0x01
#define IIR_THRI 0x02
#define IIR_RDI 0x04
#define IIR_FIFO 0xc0
#define FCR_ENABLE 0x01
#define FCR_CLEAR_RX 0x02
#define LCR_DLAB 0x80
#define MCR_LOOP 0x10
#define LSR_DR 0x01
#define LSR_THRE 0x20
#define LSR_TEMT 0x40
#define MSR_CTS 0x10
#define MSR_DSR 0x20
#define MSR_RI 0x40
#define MSR_DCD 0x80

void uart_init(struct uart *u, const struct uart_ops *ops, void *opaque)
{
    memset(u, 0, sizeof(*u));
    pthread_mutex_init(&u->lock, NULL);
    u->ops = ops;
    u->opaque = opaque;
    u->dll = 12; /* 9600 baud, what firmware would leave behind */
}

void uart_destroy(struct uart *u)
{
    pthread_mutex_destroy(&u->lock);
}

static uint8_t iir(const struct uart *u)
{
    uint8_t fifo = (u->fcr & FCR_ENABLE) ? IIR_FIFO : 0;
    if ((u->ier & IER_RDI) && u->rx_count)
        return fifo | IIR_RDI;
    if ((u->ier & IER_THRI) && u->thre_pending)
        return fifo | IIR_THRI;
    return fifo | IIR_NONE;
}

/* The line follows "some interrupt is pending"; the IOAPIC sees an edge each time a new
 * condition arrives after the guest has serviced the previous one. */
static void update_irq(struct uart *u)
{
    int level = !(iir(u) & IIR_NONE);
    if (level != u->irq_level) {
        u->irq_level = level;
        u->ops->set_irq(u->opaque, level);
    }
}

static void rx_push(struct uart *u, uint8_t byte)
{
    if (u->rx_count == UART_FIFO_SIZE)
        return; /* overrun: real hardware drops too */
    u->rx[(u->rx_head + u->rx_count++) % UART_FIFO_SIZE] = byte;
}

static uint8_t rx_pop(struct uart *u)
{
    if (!u->rx_count)
        return 0;
    uint8_t b = u->rx[u->rx_head];
    u->rx_head = (u->rx_head + 1) % UART_FIFO_SIZE;
    if (--u->rx_count == 0 && !(u->mcr & MCR_LOOP))
        u->ops->rx_space(u->opaque);
    return b;
}

static uint8_t msr(const struct uart *u)
{
    if (!(u->mcr & MCR_LOOP))
        return MSR_DCD | MSR_DSR | MSR_CTS;
    /* Loopback wires DTR->DSR, RTS->CTS, OUT1->RI, OUT2->DCD; Linux's probe checks this. */
    return (uint8_t)(((u->mcr & 0x01) << 5) | ((u->mcr & 0x02) << 3) | ((u->mcr & 0x04) << 4) | ((u->mcr & 0x08) << 4));
}

/* First sign of a live driver: let queued host input in (see uart_receive). */
static void open_rx(struct uart *u)
{
    if (!u->rx_open) {
        u->rx_open = 1;
        u->ops->rx_space(u->opaque);
    }
}

static void reg_write(struct uart *u, unsigned reg, uint8_t v)
{
    int dlab = u->lcr & LCR_DLAB;
    switch (reg) {
    case UART_RBR_THR:
        if (dlab) {
            u->dll = v;
        } else if (u->mcr & MCR_LOOP) {
            rx_push(u, v);
            u->thre_pending = 1;
        } else {
            u->ops->tx(u->opaque, v);
            u->thre_pending = 1; /* transmission is instant: the holding register is empty again */
        }
        break;
    case UART_IER:
        if (dlab) {
            u->dlm = v;
        } else {
            if ((v & IER_THRI) && !(u->ier & IER_THRI))
                u->thre_pending = 1;
            u->ier = v & 0x0f;
            if (v & IER_RDI)
                open_rx(u);
        }
        break;
    case UART_IIR_FCR:
        u->fcr = v & 0xc9;
        if (v & FCR_CLEAR_RX) {
            u->rx_count = 0;
            u->ops->rx_space(u->opaque);
        }
        break;
    case UART_LCR: u->lcr = v; break;
    case UART_MCR: {
        int was_loop = u->mcr & MCR_LOOP;
        u->mcr = v & 0x1f;
        if (was_loop && !(u->mcr & MCR_LOOP))
            u->ops->rx_space(u->opaque); /* host input held back during loopback may flow again */
        break;
    }
    case UART_SCR: u->scr = v; break;
    default: /* LSR and MSR are read-only */ break;
    }
}

static uint8_t reg_read(struct uart *u, unsigned reg)
{
    int dlab = u->lcr & LCR_DLAB;
    switch (reg) {
    case UART_RBR_THR:
        if (dlab)
            return u->dll;
        open_rx(u);
        return rx_pop(u);
    case UART_IER: return dlab ? u->dlm : u->ier;
    case UART_IIR_FCR: {
        uint8_t v = iir(u);
        if ((v & 0x0f) == IIR_THRI)
            u->thre_pending = 0; /* reading IIR acknowledges a THRE interrupt */
        return v;
    }
    case UART_LCR: return u->lcr;
    case UART_MCR: return u->mcr;
    case UART_LSR: open_rx(u); return (uint8_t)((u->rx_count ? LSR_DR : 0) | LSR_THRE | LSR_TEMT);
    case UART_MSR: return msr(u);
    default: return u->scr;
    }
}

void uart_io(void *opaque, uint64_t offset, int is_write, uint8_t *data, unsigned size)
{
    struct uart *u = opaque;
    pthread_mutex_lock(&u->lock);
    /* A wider access touches consecutive registers, as the bus would split it; bytes past
     * the last register read as an empty bus does. */
    for (unsigned i = 0; i < size; i++) {
        if (offset > 7 || i > 7 - offset) {
            if (!is_write)
                data[i] = 0xff;
        } else if (is_write) {
            reg_write(u, (unsigned)offset + i, data[i]);
        } else {
            data[i] = reg_read(u, (unsigned)offset + i);
        }
    }
    update_irq(u);
    pthread_mutex_unlock(&u->lock);
}

size_t uart_receive(struct uart *u, const uint8_t *buf, size_t len)
{
    size_t n = 0;
    pthread_mutex_lock(&u->lock);
    /* In loopback the line is disconnected from the host; keep input queued until it ends. */
    if (u->rx_open && !(u->mcr & MCR_LOOP)) {
        while (n < len && u->rx_count < UART_FIFO_SIZE)
            rx_push(u, buf[n++]);
        update_irq(u);
    }
    pthread_mutex_unlock(&u->lock);
    return n;
}

/* ---- state (core/device.h) ---------------------------------------------------------- */

static int uart_state_save(void *dev, void *buf)
{
    struct uart *u = dev;
    struct uart_state *s = buf;
    pthread_mutex_lock(&u->lock);
    s->ier = u->ier, s->lcr = u->lcr, s->mcr = u->mcr, s->scr = u->scr;
    s->dll = u->dll, s->dlm = u->dlm, s->fcr = u->fcr;
    memcpy(s->rx, u->rx, sizeof(s->rx));
    s->rx_head = u->rx_head, s->rx_count = u->rx_count;
    s->thre_pending = u->thre_pending, s->rx_open = u->rx_open, s->irq_level = u->irq_level;
    pthread_mutex_unlock(&u->lock);
    return 0;
}

/* Indexes and counts are bounded, flags made 0 or 1: the model relies on both. */
static int uart_state_restore(void *dev, const void *buf, enum dev_state_source src)
{
    (void)src;
    struct uart *u = dev;
    const struct uart_state *s = buf;
    pthread_mutex_lock(&u->lock);
    u->ier = s->ier, u->lcr = s->lcr, u->mcr = s->mcr, u->scr = s->scr;
    u->dll = s->dll, u->dlm = s->dlm, u->fcr = s->fcr;
    memcpy(u->rx, s->rx, sizeof(u->rx));
    u->rx_head = s->rx_head % UART_FIFO_SIZE;
    u->rx_count = s->rx_count <= UART_FIFO_SIZE ? s->rx_count : UART_FIFO_SIZE;
    u->thre_pending = s->thre_pending != 0, u->rx_open = s->rx_open != 0, u->irq_level = s->irq_level != 0;
    pthread_mutex_unlock(&u->lock);
    return 0;
}

const struct dev_state_ops uart_state_ops = {
    .section = SNAP_SEC_UART,
    .size = sizeof(struct uart_state),
    .save = uart_state_save,
    .restore = uart_state_restore,
};
