/*
 * The console: serialised line output over the UART for every CPU, and interrupt-driven
 * line input. Output takes a lock with interrupts off so that lines from different vCPUs
 * (and from interrupt handlers) never interleave mid-line.
 */
#include "runtime.h"

static spinlock_t console_lock;
static bool crlf;

void console_set_crlf(bool on)
{
    crlf = on;
}

static void write_translated(const char *s, size_t len)
{
    if (!crlf) {
        uart_write(s, len);
        return;
    }
    while (len) {
        size_t n = 0;

        while (n < len && s[n] != '\n')
            n++;
        uart_write(s, n);
        if (n < len) {
            uart_write("\r\n", 2);
            n++;
        }
        s += n;
        len -= n;
    }
}

void console_write(const char *s, size_t len)
{
    static volatile unsigned owner = ~0u; /* percpu index of the lock holder */
    uint64_t flags = irq_save();
    unsigned me = this_cpu()->index;
    bool locked = false;

    /* An exception taken while this CPU holds the lock must still be able to print (its
     * report is the most important output there is), so a nested caller on the owner's
     * CPU goes ahead without the lock, and so does anyone after a long wait for a CPU that
     * died holding it. */
    for (unsigned tries = 0;; tries++) {
        if (spin_trylock(&console_lock)) {
            locked = true;
            owner = me;
            break;
        }
        if (owner == me || tries > 1000000)
            break;
        pause();
    }
    write_translated(s, len);
    if (locked) {
        owner = ~0u;
        spin_unlock(&console_lock);
    }
    irq_restore(flags);
}

/* ---- Input ----------------------------------------------------------------------------
 * The IRQ handler drains the UART into a ring buffer; readers sleep in hlt until it has
 * something. Single producer (the IRQ on vCPU 0) and single consumer (vCPU 0). */

static char rx_buf[256];
static volatile unsigned rx_head, rx_tail; /* head: next write; tail: next read */

static void uart_irq(struct cpu_regs *regs)
{
    int c;

    (void)regs;
    /* Drain completely: the ISA IRQ is edge-triggered, and a byte left behind would never
     * raise a new edge. */
    while ((c = uart_poll_getc()) >= 0) {
        unsigned next = (rx_head + 1) % sizeof(rx_buf);

        if (next != rx_tail) { /* full: drop, as a real UART overrun would */
            rx_buf[rx_head] = (char)c;
            rx_head = next;
        }
    }
}

void console_input_init(void)
{
    irq_register(VEC_UART, uart_irq);
    ioapic_route_isa(4, VEC_UART, lapic_id());
    uart_enable_rx_irq();
    /* Bytes that arrived before this point are normally announced by the edge the UART
     * raises when IER is written; collecting them here too makes that moot. */
    uint64_t flags = irq_save();
    uart_irq(NULL);
    irq_restore(flags);
}

int console_getc(void)
{
    for (;;) {
        uint64_t flags = irq_save();

        if (rx_tail != rx_head) {
            int c = (unsigned char)rx_buf[rx_tail];

            rx_tail = (rx_tail + 1) % sizeof(rx_buf);
            irq_restore(flags);
            return c;
        }
        /* Interrupts are off here, so a byte arriving now is not lost: sti_hlt wakes on it. */
        sti_hlt();
        irq_restore(flags);
    }
}

bool console_input_ready(void)
{
    return rx_tail != rx_head;
}

int console_trygetc(void)
{
    uint64_t flags = irq_save();
    int c = -1;

    if (rx_tail != rx_head) {
        c = (unsigned char)rx_buf[rx_tail];
        rx_tail = (rx_tail + 1) % sizeof(rx_buf);
    }
    irq_restore(flags);
    return c;
}

size_t console_readline(char *buf, size_t size, bool echo)
{
    static bool last_was_cr;
    size_t len = 0;

    for (;;) {
        int c = console_getc();

        /* CRLF is one line end: drop the LF right after a CR. */
        if (c == '\n' && last_was_cr) {
            last_was_cr = false;
            continue;
        }
        last_was_cr = (c == '\r');
        if (c == '\r' || c == '\n') {
            if (echo)
                console_write("\n", 1);
            break;
        }
        if (c == '\b' || c == 0x7f) {
            if (len) {
                len--;
                if (echo)
                    console_write("\b \b", 3);
            }
            continue;
        }
        if (c < 0x20 || c > 0x7e) /* other control characters and non-ASCII are ignored */
            continue;
        if (len + 1 < size) {
            buf[len++] = (char)c;
            if (echo) {
                char ch = (char)c;

                console_write(&ch, 1);
            }
        }
    }
    if (size)
        buf[len] = '\0';
    return len;
}
