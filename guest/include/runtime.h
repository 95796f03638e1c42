/*
 * The test-kernel runtime: everything a kernel in guest/tests/ may call. Each section
 * names the file in guest/runtime/ that implements it.
 */
#ifndef GUEST_RUNTIME_H
#define GUEST_RUNTIME_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdnoreturn.h>

#include "arch.h"
#include "layout.h"
#include "regs.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define MIN(a, b) ((a) < (b) ? (a) : (b))
#define MAX(a, b) ((a) > (b) ? (a) : (b))

/* ---- What every kernel in guest/tests/ defines ------------------------------------- */

/* First line printed on the console. */
extern const char test_title[];
/* Optional: define as true to print "\r\n" for "\n" from the first line on (for kernels
 * used interactively on a raw host terminal). */
extern const bool test_console_crlf __attribute__((weak));
/* Runs on vCPU 0 with the console, IDT and boot info ready, interrupts off. */
void test_main(void);

/* ---- Test outcome (test.c) ------------------------------------------------------------
 * The worst outcome reported wins (FAIL > SKIP > PASS); a test that reports nothing
 * fails. When test_main returns (or test_finish is called), the runtime prints the single
 * line "Test result: PASS|SKIP|FAIL" and powers off. */
void test_pass(void);
void test_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void test_skip(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
noreturn void test_finish(void);

/* ---- Console (console.c, uart.c, printf.c) ---------------------------------------------- */
int printf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
int vprintf(const char *fmt, va_list ap);
int snprintf(char *buf, size_t size, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
int vsnprintf(char *buf, size_t size, const char *fmt, va_list ap);
/* Formats through emit(ctx, c) one character at a time; returns the characters emitted. */
int vformat(void (*emit)(void *ctx, char c), void *ctx, const char *fmt, va_list ap);

void console_write(const char *s, size_t len);
/* Turn "\n" into "\r\n" on output: for interactive use on a raw host terminal. */
void console_set_crlf(bool on);
/* Start interrupt-driven input (COM1 IRQ 4 through the IOAPIC). Needs irq_init(). */
void console_input_init(void);
/* Blocks (hlt) until a character arrives. Needs console_input_init(). */
int console_getc(void);
/* Reads a line ending in CR, LF or CRLF; the terminator is dropped and the result is
 * NUL-terminated, truncated to size - 1. With echo, typed characters are echoed and
 * backspace/DEL edit the line, as a terminal in raw mode needs. Returns the length. */
size_t console_readline(char *buf, size_t size, bool echo);

void uart_init(void);
void uart_write(const char *s, size_t len);
void uart_enable_rx_irq(void);
/* Non-blocking: -1 when the RX FIFO is empty. */
int uart_poll_getc(void);

/* ---- Strings (string.c) -------------------------------------------------------------- */
#include "string.h"

/* ---- Locks and per-CPU data (smp.c) ----------------------------------------------- */
typedef struct {
    volatile uint32_t locked;
} spinlock_t;

static inline void spin_lock(spinlock_t *l)
{
    while (__atomic_exchange_n(&l->locked, 1, __ATOMIC_ACQUIRE))
        while (l->locked)
            pause();
}

static inline bool spin_trylock(spinlock_t *l)
{
    return !__atomic_exchange_n(&l->locked, 1, __ATOMIC_ACQUIRE);
}

static inline void spin_unlock(spinlock_t *l)
{
    __atomic_store_n(&l->locked, 0, __ATOMIC_RELEASE);
}

struct percpu {
    struct percpu *self; /* %gs:0, so this_cpu() is one load */
    unsigned index;      /* 0 = BSP, APs in bring-up order */
    unsigned apic_id;
    unsigned trap_depth; /* nested exceptions: >1 means the handler itself faulted */
};

static inline struct percpu *this_cpu(void)
{
    struct percpu *p;
    __asm__ volatile("mov %%gs:0, %0" : "=r"(p));
    return p;
}

/* Points %gs at this CPU's struct percpu; apic_id comes from CPUID. */
void percpu_init(unsigned index);

/* Number of vCPUs, from CPUID 0xb (fallback CPUID 1 when HTT, else 1). */
unsigned smp_cpu_count(void);
/* Starts every AP with INIT-SIPI-SIPI; each runs fn(index) on its own stack and then halts
 * with interrupts off. Needs timer_init() (for the protocol's delays). Returns the number
 * of APs that started (they may still be running fn). */
unsigned smp_start_aps(void (*fn)(unsigned index));
/* Number of APs whose fn has returned. */
unsigned smp_aps_done(void);

/* ---- Exceptions and interrupts (exceptions.c, gdt_idt.c, irq.c) ---------------------- */
/* A hook sees every exception after the runtime has reported it. Return true when the
 * exception was expected and the frame (e.g. regs->rip) has been fixed up to resume;
 * false makes the runtime fail the test. */
typedef bool (*exception_hook_t)(struct cpu_regs *regs);
void exception_set_hook(exception_hook_t hook);
const char *exception_name(unsigned vector);

void idt_init(void);
void idt_load(void);
void idt_set_vector(unsigned vector);

typedef void (*irq_handler_t)(struct cpu_regs *regs);
/* Installs a handler for a vector >= 32; the dispatcher sends the LAPIC EOI after it. */
void irq_register(unsigned vector, irq_handler_t handler);
/* Masks the 8259, enables the local APIC and turns interrupts on. */
void irq_init(void);

/* ---- Local APIC and IOAPIC (lapic.c, ioapic.c, pic.c) --------------------------------- */
#define LAPIC_BASE 0xfee00000UL
void lapic_init(void);
unsigned lapic_id(void);
void lapic_eoi(void);
/* Sends an IPI; icr_lo holds the delivery mode and vector. Waits until it is accepted. */
void lapic_send_ipi(unsigned apic_id, uint32_t icr_lo);
/* Periodic timer at hz on vector; lapic_timer_khz() must be known (timer_init). */
void lapic_timer_periodic(unsigned hz, unsigned vector);
void lapic_timer_stop(void);
/* Raw one-shot countdown (divider 16), used to calibrate against the PIT. */
void lapic_timer_oneshot_raw(uint32_t count);
uint32_t lapic_timer_current(void);

#define IOAPIC_BASE 0xfec00000UL
/* Routes ISA IRQ irq (pin irq: machine.md says pins 0-15 carry ISA IRQs 0-15 one to one,
 * edge-triggered, active high) to vector on the CPU with apic_id. */
void ioapic_route_isa(unsigned irq, unsigned vector, unsigned apic_id);
void pic_disable(void);

/* ---- Time (time.c, pit.c) -------------------------------------------------------------- */
/* Learns the TSC and LAPIC timer frequencies: CPUID 0x40000010 when the hypervisor offers
 * it, otherwise by counting both over a PIT channel 2 interval. Returns false when neither
 * works. */
bool timer_init(void);
uint64_t tsc_khz(void);
uint64_t lapic_timer_khz(void); /* LAPIC timer input clock, before the divider */
const char *timer_source(void); /* "cpuid 0x40000010" or "PIT calibration" */
uint64_t tsc_to_us(uint64_t cycles);
void udelay(uint64_t us);
/* Counts from the PIT: busy-waits for ms milliseconds on channel 2 (channel 0 where port
 * 0x61 is missing) and returns the TSC ticks and LAPIC timer ticks (divider 16) that
 * passed. False when the PIT is absent. */
bool pit_measure(unsigned ms, uint64_t *tsc_ticks, uint64_t *lapic_ticks);
/* Ticks of the periodic timer started by timer_start_periodic. */
uint64_t timer_ticks(void);
unsigned timer_hz(void);
void timer_start_periodic(unsigned hz);

/* ---- Boot information (pvh.c) ------------------------------------------------------- */
#define E820_RAM 1
struct memmap_entry {
    uint64_t addr, size;
    uint32_t type, reserved;
};
struct pvh_module {
    uint64_t paddr, size, cmdline_paddr, reserved;
};
struct phys_range {
    uint64_t start, end; /* [start, end) */
};
struct boot_info {
    bool valid;
    uint32_t version;
    const char *cmdline;              /* copied; "" when none */
    unsigned nr_memmap;
    struct memmap_entry memmap[128]; /* copied */
    unsigned nr_modules;
    struct pvh_module modules[8];    /* copied */
    uint64_t rsdp_paddr;
    /* Where the monitor put start_info, the memmap, the module list, the command line and
     * the modules themselves: memory a test that scribbles over RAM should leave alone. */
    unsigned nr_boot_ranges;
    struct phys_range boot_ranges[16];
};
extern struct boot_info boot_info;
void pvh_init(uint64_t start_info_paddr);
uint64_t pvh_ram_bytes(void);
uint64_t pvh_ram_top(void); /* end of the highest RAM range */

/* ---- Paging (paging.c, entry.S) ------------------------------------------------------- */
/* Extends the boot identity map to cover all RAM the memmap reports (up to 64 GiB). */
void paging_init(void);
/* Everything below this is identity-mapped. */
uint64_t paging_mapped_top(void);

/* Kernel image bounds (link.ld). */
extern char _kernel_start[], _kernel_end[];

/* ---- Power (power.c) ----------------------------------------------------------------- */
noreturn void power_off(void);
noreturn void reboot(void);
noreturn void halt_forever(void);

/* Power requests from the host: the monitor asks for a graceful power-off or reboot
 * through the power request register (docs/machine.md: port 0x602, ISA IRQ 9). irq_init()
 * routes IRQ 9 to a handler that obeys: it prints a line saying so and powers off (no
 * test result line) or reboots. A kernel may install a hook, before irq_init(), that sees
 * each request first and returns false to refuse it. */
enum power_request { POWER_REQUEST_OFF = 1, POWER_REQUEST_REBOOT = 2 };
typedef bool (*power_request_hook_t)(enum power_request req);
void power_request_set_hook(power_request_hook_t hook);
/* Routes IRQ 9 to the handler and takes a request that was posted before (irq_init does it). */
void power_request_init(void);

#endif
