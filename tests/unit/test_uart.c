/* 16550A model (src/vmm/dev/uart.c), driven only through uart_io() and uart_receive() the way the
 * I/O bus and the console drive it. The callbacks record what the model did: bytes sent, each
 * change of the interrupt line, and each "receive FIFO has room" notification. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "vmm/dev/uart.h"

enum { RBR = 0, THR = 0, DLL = 0, IER = 1, DLM = 1, IIR = 2, FCR = 2, LCR = 3, MCR = 4, LSR = 5, MSR = 6, SCR = 7 };

struct rec {
    uint8_t tx[256];
    unsigned ntx;
    int irq; /* current line level as the model last set it */
    unsigned irq_calls;
    unsigned rx_space;
};

struct fixture {
    struct uart u;
    struct rec rec;
};

static void rec_tx(void *opaque, uint8_t byte)
{
    struct rec *r = opaque;
    assert_true(r->ntx < sizeof(r->tx));
    r->tx[r->ntx++] = byte;
}

static void rec_set_irq(void *opaque, int level)
{
    struct rec *r = opaque;
    /* The model reports changes only: an edge-triggered IOAPIC pin would see nothing from a
     * repeated level, so a repeat would be a lost or doubled interrupt in disguise. */
    assert_int_not_equal(level, r->irq);
    assert_true(level == 0 || level == 1);
    r->irq = level;
    r->irq_calls++;
}

static void rec_rx_space(void *opaque)
{
    struct rec *r = opaque;
    r->rx_space++;
}

static const struct uart_ops rec_ops = {.tx = rec_tx, .set_irq = rec_set_irq, .rx_space = rec_rx_space};

static void wr(struct uart *u, unsigned off, uint8_t v)
{
    uart_io(u, off, 1, &v, 1);
}

static uint8_t rd(struct uart *u, unsigned off)
{
    uint8_t v = 0x5a;
    uart_io(u, off, 0, &v, 1);
    return v;
}

static size_t rx_str(struct uart *u, const char *s)
{
    return uart_receive(u, (const uint8_t *)s, strlen(s));
}

/* A fresh UART whose guest driver has shown it is listening (it read LSR, as every 8250
 * driver does while probing), with the callback counters cleared afterwards. */
static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    if (!f)
        return -1;
    uart_init(&f->u, &rec_ops, &f->rec);
    (void)rd(&f->u, LSR);
    f->rec.rx_space = 0;
    *state = f;
    return 0;
}

/* The same, but with no guest access yet. */
static int setup_cold(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    if (!f)
        return -1;
    uart_init(&f->u, &rec_ops, &f->rec);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    uart_destroy(&f->u);
    free(f);
    return 0;
}

static void thr_write_transmits(void **state)
{
    struct fixture *f = *state;
    wr(&f->u, THR, 'h');
    wr(&f->u, THR, 'i');
    wr(&f->u, THR, 0);
    wr(&f->u, THR, 0xff);
    assert_int_equal(f->rec.ntx, 4);
    assert_memory_equal(f->rec.tx, "hi\0\xff", 4);
    /* No interrupts enabled: the line never moved. */
    assert_int_equal(f->rec.irq_calls, 0);
    assert_int_equal(f->rec.rx_space, 0);
}

static void lsr_reflects_fifo(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(rd(&f->u, LSR), 0x60); /* THRE | TEMT, no data */
    wr(&f->u, THR, 'x');
    assert_int_equal(rd(&f->u, LSR), 0x60); /* transmission completes at once */
    assert_int_equal(rx_str(&f->u, "ab"), 2);
    assert_int_equal(rd(&f->u, LSR), 0x61);
    assert_int_equal(rd(&f->u, RBR), 'a');
    assert_int_equal(rd(&f->u, LSR), 0x61);
    assert_int_equal(rd(&f->u, RBR), 'b');
    assert_int_equal(rd(&f->u, LSR), 0x60);
    /* Reading LSR twice changes nothing (no sticky error bits to clear). */
    assert_int_equal(rd(&f->u, LSR), 0x60);
}

static void receive_accepts_at_most_16(void **state)
{
    struct fixture *f = *state;
    uint8_t in[40];
    for (unsigned i = 0; i < sizeof(in); i++)
        in[i] = (uint8_t)('A' + i);
    assert_int_equal(uart_receive(&f->u, in, 20), 16);
    assert_int_equal(uart_receive(&f->u, in + 16, 4), 0);
    assert_int_equal(uart_receive(&f->u, in, 0), 0);
    /* One byte out, one byte of room. */
    assert_int_equal(rd(&f->u, RBR), 'A');
    assert_int_equal(uart_receive(&f->u, in + 16, 4), 1);
    /* The FIFO keeps order across its wrap-around. */
    for (unsigned i = 1; i <= 16; i++)
        assert_int_equal(rd(&f->u, RBR), 'A' + i);
    assert_int_equal(rd(&f->u, LSR) & 1, 0);
    /* rx_space once, when the FIFO went empty, not on every byte. */
    assert_int_equal(f->rec.rx_space, 1);
}

static void fifo_order_over_many_wraps(void **state)
{
    struct fixture *f = *state;
    uint8_t next_in = 0, next_out = 0;
    for (unsigned round = 0; round < 50; round++) {
        uint8_t buf[16];
        size_t want = 1 + round % 16;
        for (size_t i = 0; i < want; i++)
            buf[i] = (uint8_t)(next_in + i);
        size_t n = uart_receive(&f->u, buf, want);
        next_in = (uint8_t)(next_in + n);
        for (unsigned i = 0; i < 1 + (round * 7) % 16 && (rd(&f->u, LSR) & 1); i++)
            assert_int_equal(rd(&f->u, RBR), next_out++);
    }
    while (rd(&f->u, LSR) & 1)
        assert_int_equal(rd(&f->u, RBR), next_out++);
    assert_int_equal(next_in, next_out);
}

/* Input typed before the guest's driver is up would be thrown away by its FIFO reset, so the
 * model takes none until the driver reads LSR/RBR or enables the RX interrupt. */
static void receive_waits_for_driver(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(rx_str(&f->u, "early"), 0);
    assert_int_equal(f->rec.rx_space, 0);
    /* Probing registers that are not LSR/RBR does not open it. */
    (void)rd(&f->u, SCR);
    (void)rd(&f->u, IIR);
    wr(&f->u, IER, 0x02);
    assert_int_equal(rx_str(&f->u, "early"), 0);
    wr(&f->u, IER, 0x01); /* RX interrupt enabled: now it listens, and the console is told */
    assert_int_equal(f->rec.rx_space, 1);
    assert_int_equal(rx_str(&f->u, "ok"), 2);
    (void)rd(&f->u, LSR);
    assert_int_equal(f->rec.rx_space, 1); /* once, not on every poll */
}

static void receive_opens_on_rbr_read(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(rd(&f->u, RBR), 0); /* empty FIFO reads 0 */
    assert_int_equal(f->rec.rx_space, 1);
    assert_int_equal(rx_str(&f->u, "z"), 1);
    assert_int_equal(rd(&f->u, RBR), 'z');
}

static void rx_interrupt(void **state)
{
    struct fixture *f = *state;
    wr(&f->u, IER, 0x01);
    assert_int_equal(f->rec.irq_calls, 0); /* enabled, nothing pending */
    assert_int_equal(rd(&f->u, IIR), 0x01);
    assert_int_equal(rx_str(&f->u, "abc"), 3);
    assert_int_equal(f->rec.irq, 1);
    assert_int_equal(rd(&f->u, IIR), 0x04);
    assert_int_equal(rd(&f->u, IIR), 0x04); /* reading IIR does not acknowledge RX data */
    assert_int_equal(f->rec.irq, 1);
    assert_int_equal(rd(&f->u, RBR), 'a');
    assert_int_equal(rd(&f->u, RBR), 'b');
    assert_int_equal(f->rec.irq, 1);
    assert_int_equal(f->rec.rx_space, 0);
    assert_int_equal(rd(&f->u, RBR), 'c');
    assert_int_equal(f->rec.irq, 0);
    assert_int_equal(f->rec.rx_space, 1);
    assert_int_equal(rd(&f->u, IIR), 0x01);
    /* Reading an empty RBR again: no second notification, line stays low. */
    (void)rd(&f->u, RBR);
    assert_int_equal(f->rec.rx_space, 1);
    assert_int_equal(f->rec.irq_calls, 2);

    /* With the FIFO enabled, IIR carries 0xc0. */
    wr(&f->u, FCR, 0x01);
    assert_int_equal(rd(&f->u, IIR), 0xc1);
    assert_int_equal(rx_str(&f->u, "d"), 1);
    assert_int_equal(rd(&f->u, IIR), 0xc4);
    assert_int_equal(f->rec.irq, 1);
    assert_int_equal(rd(&f->u, RBR), 'd');
    assert_int_equal(f->rec.irq, 0);
    assert_int_equal(rd(&f->u, IIR), 0xc1);
    assert_int_equal(f->rec.rx_space, 2);
}

/* Data that arrived while RX interrupts were masked raises the line as soon as they are
 * enabled; masking them again lowers it with the data still there. */
static void rx_interrupt_enable_after_data(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(rx_str(&f->u, "q"), 1);
    assert_int_equal(f->rec.irq_calls, 0);
    assert_int_equal(rd(&f->u, IIR), 0x01);
    wr(&f->u, IER, 0x01);
    assert_int_equal(f->rec.irq, 1);
    wr(&f->u, IER, 0x00);
    assert_int_equal(f->rec.irq, 0);
    assert_int_equal(rd(&f->u, LSR) & 1, 1);
    assert_int_equal(rd(&f->u, RBR), 'q');
}

static void thre_interrupt(void **state)
{
    struct fixture *f = *state;
    wr(&f->u, IER, 0x02); /* enabling it with THR empty raises it at once */
    assert_int_equal(f->rec.irq, 1);
    assert_int_equal(rd(&f->u, IIR), 0x02);
    assert_int_equal(f->rec.irq, 0); /* acknowledged by that read */
    assert_int_equal(rd(&f->u, IIR), 0x01);
    wr(&f->u, THR, 'x'); /* re-armed by the next transmission */
    assert_int_equal(f->rec.irq, 1);
    assert_int_equal(rd(&f->u, IIR), 0x02);
    assert_int_equal(f->rec.irq, 0);
    /* Writing IER again with THRI still set is not a new THR-empty event. */
    wr(&f->u, IER, 0x02);
    assert_int_equal(f->rec.irq, 0);
    /* Pending, then masked: line drops; unmasked again: it is owed once more. */
    wr(&f->u, THR, 'y');
    assert_int_equal(f->rec.irq, 1);
    wr(&f->u, IER, 0x00);
    assert_int_equal(f->rec.irq, 0);
    wr(&f->u, IER, 0x02);
    assert_int_equal(f->rec.irq, 1);
    assert_int_equal(f->rec.ntx, 2);
}

static void rx_has_priority_over_thre(void **state)
{
    struct fixture *f = *state;
    wr(&f->u, IER, 0x03);
    assert_int_equal(f->rec.irq, 1); /* THRE */
    assert_int_equal(rx_str(&f->u, "12"), 2);
    assert_int_equal(rd(&f->u, IIR), 0x04);
    assert_int_equal(rd(&f->u, IIR), 0x04); /* THRE not acknowledged behind RX's back */
    assert_int_equal(rd(&f->u, RBR), '1');
    assert_int_equal(rd(&f->u, RBR), '2');
    assert_int_equal(f->rec.irq, 1); /* THRE still owed */
    assert_int_equal(rd(&f->u, IIR), 0x02);
    assert_int_equal(f->rec.irq, 0);
    assert_int_equal(rd(&f->u, IIR), 0x01);
}

static void dlab_selects_divisor(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(rx_str(&f->u, "r"), 1);
    wr(&f->u, LCR, 0x83);
    assert_int_equal(rd(&f->u, DLL), 12); /* 9600 baud until the guest says otherwise */
    assert_int_equal(rd(&f->u, DLM), 0);
    wr(&f->u, DLL, 0x01);
    wr(&f->u, DLM, 0x0f); /* would be "all interrupts on" in IER */
    assert_int_equal(rd(&f->u, DLL), 0x01);
    assert_int_equal(rd(&f->u, DLM), 0x0f);
    assert_int_equal(f->rec.ntx, 0);         /* the DLL write was not transmitted */
    assert_int_equal(f->rec.irq_calls, 0);   /* nor did DLM reach IER */
    assert_int_equal(rd(&f->u, LSR) & 1, 1); /* the DLL read did not consume RX data */
    wr(&f->u, LCR, 0x03);
    assert_int_equal(rd(&f->u, LCR), 0x03);
    assert_int_equal(rd(&f->u, IER), 0x00);
    assert_int_equal(rd(&f->u, RBR), 'r');
    wr(&f->u, THR, 'w');
    assert_int_equal(f->rec.ntx, 1);
    wr(&f->u, LCR, 0x80);
    assert_int_equal(rd(&f->u, DLL), 0x01); /* and the divisor survived */
}

static void scratch_register(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(rd(&f->u, SCR), 0);
    wr(&f->u, SCR, 0xa5);
    assert_int_equal(rd(&f->u, SCR), 0xa5);
    wr(&f->u, LCR, 0x80); /* unaffected by DLAB */
    assert_int_equal(rd(&f->u, SCR), 0xa5);
    wr(&f->u, SCR, 0x5a);
    wr(&f->u, LCR, 0x00);
    assert_int_equal(rd(&f->u, SCR), 0x5a);
}

/* Guests probe the UART in loopback (Linux's 8250 autoconfig does exactly this). */
static void loopback_msr_mirrors_mcr(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(rd(&f->u, MSR), 0xb0); /* not looped: DCD | DSR | CTS, a cable is there */
    static const struct {
        uint8_t mcr, msr;
    } cases[] = {
        {0x10, 0x00}, {0x11, 0x20}, /* DTR -> DSR */
        {0x12, 0x10},               /* RTS -> CTS */
        {0x14, 0x40},               /* OUT1 -> RI */
        {0x18, 0x80},               /* OUT2 -> DCD */
        {0x1a, 0x90},               /* Linux's check: RTS | OUT2 -> CTS | DCD */
        {0x1f, 0xf0},
    };
    for (unsigned i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        wr(&f->u, MCR, cases[i].mcr);
        assert_int_equal(rd(&f->u, MCR), cases[i].mcr);
        assert_int_equal(rd(&f->u, MSR) & 0xf0, cases[i].msr);
    }
    wr(&f->u, MCR, 0x0b);
    assert_int_equal(rd(&f->u, MSR), 0xb0);
}

static void loopback_echoes_tx(void **state)
{
    struct fixture *f = *state;
    wr(&f->u, MCR, 0x10);
    wr(&f->u, IER, 0x01);
    wr(&f->u, THR, 'L');
    wr(&f->u, THR, 'B');
    assert_int_equal(f->rec.ntx, 0); /* nothing left the machine */
    assert_int_equal(rd(&f->u, LSR), 0x61);
    assert_int_equal(f->rec.irq, 1);
    assert_int_equal(rd(&f->u, IIR), 0x04);
    assert_int_equal(rd(&f->u, RBR), 'L');
    assert_int_equal(rd(&f->u, RBR), 'B');
    assert_int_equal(f->rec.irq, 0);
    /* Emptying a loopback FIFO is no reason to ask the host for input: it is cut off. */
    assert_int_equal(f->rec.rx_space, 0);
    /* 20 bytes looped into a 16-byte FIFO: the first 16 arrive, the rest overrun. */
    for (unsigned i = 0; i < 20; i++)
        wr(&f->u, THR, (uint8_t)i);
    for (unsigned i = 0; i < 16; i++)
        assert_int_equal(rd(&f->u, RBR), i);
    assert_int_equal(rd(&f->u, LSR) & 1, 0);
    assert_int_equal(f->rec.ntx, 0);
}

static void loopback_refuses_host_input(void **state)
{
    struct fixture *f = *state;
    wr(&f->u, MCR, 0x13);
    assert_int_equal(rx_str(&f->u, "host"), 0);
    assert_int_equal(rd(&f->u, LSR) & 1, 0);
    wr(&f->u, MCR, 0x1b); /* still looped: not the end of loopback */
    assert_int_equal(f->rec.rx_space, 0);
    wr(&f->u, MCR, 0x0b);
    assert_int_equal(f->rec.rx_space, 1); /* the console may retry now */
    assert_int_equal(rx_str(&f->u, "host"), 4);
    assert_int_equal(rd(&f->u, RBR), 'h');
    wr(&f->u, THR, '!');
    assert_int_equal(f->rec.ntx, 1);
    assert_int_equal(f->rec.tx[0], '!');
}

static void fcr_clears_rx_fifo(void **state)
{
    struct fixture *f = *state;
    wr(&f->u, IER, 0x01);
    assert_int_equal(rx_str(&f->u, "stale"), 5);
    assert_int_equal(f->rec.irq, 1);
    wr(&f->u, FCR, 0x07); /* enable, clear RX, clear TX */
    assert_int_equal(rd(&f->u, LSR), 0x60);
    assert_int_equal(f->rec.irq, 0);
    assert_int_equal(f->rec.rx_space, 1);
    assert_int_equal(rd(&f->u, IIR), 0xc1);
    /* The whole FIFO is free again, and the next bytes come out first. */
    uint8_t in[16];
    for (unsigned i = 0; i < 16; i++)
        in[i] = (uint8_t)(0x80 + i);
    assert_int_equal(uart_receive(&f->u, in, 16), 16);
    for (unsigned i = 0; i < 16; i++)
        assert_int_equal(rd(&f->u, RBR), 0x80 + i);
    /* Writing FCR without the clear bit keeps the data. */
    assert_int_equal(rx_str(&f->u, "k"), 1);
    wr(&f->u, FCR, 0x01);
    assert_int_equal(rd(&f->u, RBR), 'k');
    /* FIFO disabled: IIR loses 0xc0. */
    wr(&f->u, FCR, 0x00);
    assert_int_equal(rd(&f->u, IIR), 0x01);
}

static void offsets_above_7_ignored(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(rx_str(&f->u, "d"), 1);
    wr(&f->u, SCR, 0x33);
    static const uint64_t offs[] = {8, 9, 15, 0x3f8, 0x100000008ULL, UINT64_MAX};
    for (unsigned i = 0; i < sizeof(offs) / sizeof(offs[0]); i++) {
        uint8_t w[4] = {'x', 0x0f, 0x07, 0x90};
        uart_io(&f->u, offs[i], 1, w, 4);
        uart_io(&f->u, offs[i], 1, w, 1);
        uint8_t r[4] = {0xee, 0xee, 0xee, 0xee};
        uart_io(&f->u, offs[i], 0, r, 4);
        /* An offset that aliased onto 0 would have popped RX data or transmitted. */
    }
    assert_int_equal(f->rec.ntx, 0);
    assert_int_equal(rd(&f->u, IER), 0);
    assert_int_equal(rd(&f->u, LCR), 0);
    assert_int_equal(rd(&f->u, SCR), 0x33);
    assert_int_equal(rd(&f->u, RBR), 'd');
    assert_int_equal(f->rec.irq_calls, 0);
}

static void multi_byte_accesses(void **state)
{
    struct fixture *f = *state;
    /* A 16-bit write at LCR sets LCR and MCR. */
    uint8_t w2[2] = {0x03, 0x0b};
    uart_io(&f->u, LCR, 1, w2, 2);
    assert_int_equal(rd(&f->u, LCR), 0x03);
    assert_int_equal(rd(&f->u, MCR), 0x0b);
    /* A 16-bit read at LSR returns LSR and MSR. */
    uint8_t r2[2] = {0};
    uart_io(&f->u, LSR, 0, r2, 2);
    assert_int_equal(r2[0], 0x60);
    assert_int_equal(r2[1], 0xb0);
    /* A 32-bit write at THR: THR, IER, FCR, LCR in that order. */
    uint8_t w4[4] = {'a', 0x01, 0x01, 0x03};
    uart_io(&f->u, THR, 1, w4, 4);
    assert_int_equal(f->rec.ntx, 1);
    assert_int_equal(f->rec.tx[0], 'a');
    assert_int_equal(rd(&f->u, IER), 0x01);
    assert_int_equal(rd(&f->u, IIR), 0xc1);
    /* A 32-bit write at MSR: MSR (read-only) and SCR; the bytes past SCR go nowhere, in
     * particular not round to THR. */
    uint8_t w4b[4] = {0x00, 0x77, 'X', 'Y'};
    uart_io(&f->u, MSR, 1, w4b, 4);
    assert_int_equal(rd(&f->u, SCR), 0x77);
    assert_int_equal(rd(&f->u, MSR), 0xb0);
    assert_int_equal(f->rec.ntx, 1);
    /* A 16-bit read at RBR pops one byte and reads IER. */
    assert_int_equal(rx_str(&f->u, "pq"), 2);
    uart_io(&f->u, RBR, 0, r2, 2);
    assert_int_equal(r2[0], 'p');
    assert_int_equal(r2[1], 0x01);
    assert_int_equal(rd(&f->u, RBR), 'q');
}

/* `inw` at COM1+7 reads SCR and port COM1+8, where there is no device. docs/machine.md: "Ports
 * with no device read as all ones". The bus hands the whole access to the UART, so the UART
 * must fill the byte it does not own rather than leave whatever was in the exit buffer. */
static void wide_read_past_last_register_reads_ones(void **state)
{
    struct fixture *f = *state;
    wr(&f->u, SCR, 0x42);
    uint8_t r[4] = {0x11, 0x22, 0x33, 0x44};
    uart_io(&f->u, SCR, 0, r, 4);
    assert_int_equal(r[0], 0x42);
    assert_int_equal(r[1], 0xff);
    assert_int_equal(r[2], 0xff);
    assert_int_equal(r[3], 0xff);
}

static void register_write_masks(void **state)
{
    struct fixture *f = *state;
    wr(&f->u, IER, 0xff);
    assert_int_equal(rd(&f->u, IER), 0x0f); /* upper IER bits do not exist on a 16550A */
    wr(&f->u, IER, 0x00);
    wr(&f->u, MCR, 0xff);
    assert_int_equal(rd(&f->u, MCR), 0x1f);
    wr(&f->u, MCR, 0x00);
    wr(&f->u, LSR, 0x00); /* LSR and MSR are read-only */
    wr(&f->u, MSR, 0x00);
    assert_int_equal(rd(&f->u, LSR), 0x60);
    assert_int_equal(rd(&f->u, MSR), 0xb0);
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(thr_write_transmits),
        T(lsr_reflects_fifo),
        T(receive_accepts_at_most_16),
        T(fifo_order_over_many_wraps),
        cmocka_unit_test_setup_teardown(receive_waits_for_driver, setup_cold, teardown),
        cmocka_unit_test_setup_teardown(receive_opens_on_rbr_read, setup_cold, teardown),
        T(rx_interrupt),
        T(rx_interrupt_enable_after_data),
        T(thre_interrupt),
        T(rx_has_priority_over_thre),
        T(dlab_selects_divisor),
        T(scratch_register),
        T(loopback_msr_mirrors_mcr),
        T(loopback_echoes_tx),
        T(loopback_refuses_host_input),
        T(fcr_clears_rx_fifo),
        T(offsets_above_7_ignored),
        T(multi_byte_accesses),
        T(wide_read_past_last_register_reads_ones),
        T(register_write_masks),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
