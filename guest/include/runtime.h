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
/* Without waiting: the next character, or -1 when none has arrived. Needs console_input_init(). */
int console_trygetc(void);
/* Whether a character is waiting (for a loop that sleeps in hlt with interrupts off). */
bool console_input_ready(void);
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

/* Number of vCPUs: the MADT's enabled local APICs (acpi.c), else CPUID 0xb (fallback
 * CPUID 1 when HTT, else 1). */
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
/* The same tick count without interrupts: timer_ticks() computes it from the TSC. For
 * kernels that only need to tell time, so that they stay halted while idle. */
void timer_start_tickless(unsigned hz);
bool timer_is_tickless(void);

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
    const char *cmdline; /* copied; "" when none */
    unsigned nr_memmap;
    struct memmap_entry memmap[128]; /* copied */
    unsigned nr_modules;
    struct pvh_module modules[8]; /* copied */
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

/* ---- ACPI tables (acpi.c) -------------------------------------------------------------
 * A reader for the tables the monitor builds (docs/machine.md): RSDP (from
 * boot_info.rsdp_paddr, else a scan of 0xe0000-0xfffff), XSDT (or RSDT), FADT, MADT and the
 * DSDT, whose AML is decoded only as far as our monitor's encoding goes (Name, Scope,
 * Device; packages it does not need are skipped, anything else ends the walk). No AML
 * interpreter. Every table is checksummed and every read bounds-checked: a table is data.
 * The first call of any function here finds and checks everything; later calls return
 * what it found. */
#define ACPI_MAX_MMIO_DEVS 16
#define ACPI_VIRTIO_MMIO_HID "LNRO0005"

/* A virtio-mmio device of the DSDT: Device (VRnn) { _HID "LNRO0005", _UID, _CRS with
 * Memory32Fixed (the register window) and Interrupt (the GSI: edge, active high). */
struct acpi_mmio_dev {
    uint64_t base;
    uint32_t size;
    uint32_t gsi;
    uint32_t uid;
    char name[5]; /* the ACPI device name, e.g. "VR00" */
};
struct acpi_table_ref {
    uint64_t addr; /* 0: not found */
    uint32_t length;
    uint8_t revision;
    bool checksum_ok;
};
/* A register the FADT names (Generic Address Structure), byte-wide; addr 0 = none. */
struct acpi_reg {
    uint8_t space; /* 0 memory, 1 I/O port */
    uint8_t bit_width;
    uint64_t addr;
};
struct acpi_info {
    bool found;                /* an RSDP with good checksums */
    bool rsdp_from_start_info; /* hvm_start_info.rsdp_paddr pointed at it (else the scan) */
    uint64_t rsdp_addr;
    uint8_t rsdp_revision;
    char oem_id[7];
    struct acpi_table_ref xsdt; /* or the RSDT, for an RSDP of revision 0 */
    struct acpi_table_ref fadt, madt, dsdt;
    /* FADT */
    bool hw_reduced;
    struct acpi_reg sleep_control, sleep_status, reset_reg;
    uint8_t reset_value;
    /* MADT */
    uint32_t lapic_addr;
    unsigned lapics;       /* enabled local APICs (and x2APICs) */
    uint8_t lapic_ids[64]; /* the APIC IDs of the first 64 of them */
    unsigned ioapics;
    uint32_t ioapic_addr; /* the first one's */
    /* DSDT */
    bool dsdt_walked;      /* the walk reached the end of the DSDT */
    const char *dsdt_stop; /* else why it stopped */
    bool s5_found;
    uint8_t s5_slp_typ;    /* SLP_TYPa of \_S5_ */
    unsigned nr_mmio_devs; /* LNRO0005 devices with a window and an interrupt */
    struct acpi_mmio_dev mmio_devs[ACPI_MAX_MMIO_DEVS];
};
/* What was found; never NULL (found == false when there are no usable tables). */
const struct acpi_info *acpi_get_info(void);
/* Copies up to max virtio-mmio devices of the DSDT, in DSDT order (= index order on our
 * monitor), into out; returns how many, or -1 when there is no DSDT to read them from. */
int acpi_virtio_mmio_devices(struct acpi_mmio_dev *out, int max);
/* Enabled local APICs in the MADT; 0 when there is none. */
unsigned acpi_lapic_count(void);
/* Writes SLP_EN | SLP_TYP(S5) to the FADT's sleep control register. Returns false at once
 * when there is none; true when it wrote (on our monitor the domain is gone by then). */
bool acpi_power_off(void);

/* ---- virtio-mmio (virtio.c, virtio_console.c, virtio_rng.c) ---------------------------
 * A small modern (virtio 1.x) virtio-mmio driver: device discovery, feature negotiation,
 * split virtqueues with polled or interrupt-driven completion, and drivers for the
 * console (device id 3) and the entropy source (device id 4). docs/machine.md: 4 KiB
 * windows from 0xd0000000, IOAPIC pin 16 + index (edge, active high), listed in the DSDT. */
#define VIRTIO_MMIO_WINDOWS_BASE 0xd0000000UL
#define VIRTIO_MMIO_WINDOW_SIZE 0x1000UL
#define VIRTIO_MMIO_MAX_DEVICES 12
#define VIRTIO_GSI_BASE 16
/* Window i's pin without a DSDT (docs/machine.md): 16 + i, then ISA pins 5, 6, 7, 10. */
static inline unsigned virtio_mmio_window_gsi(unsigned i)
{
    static const unsigned char isa_pins[] = {5, 6, 7, 10};
    return i < 8 ? VIRTIO_GSI_BASE + i : isa_pins[(i - 8) % 4];
}
#define VEC_VIRTIO_BASE 0x50 /* device index i interrupts on vector 0x50 + i */

#define VIRTIO_ID_CONSOLE 3
#define VIRTIO_ID_RNG 4
#define VIRTIO_ID_BALLOON 5

/* Registers (offsets in the window) and status bits. */
#define VIRTIO_REG_MAGIC 0x000
#define VIRTIO_REG_VERSION 0x004
#define VIRTIO_REG_DEVICE_ID 0x008
#define VIRTIO_REG_VENDOR_ID 0x00c
#define VIRTIO_REG_DEVICE_FEATURES 0x010
#define VIRTIO_REG_DEVICE_FEATURES_SEL 0x014
#define VIRTIO_REG_DRIVER_FEATURES 0x020
#define VIRTIO_REG_DRIVER_FEATURES_SEL 0x024
#define VIRTIO_REG_QUEUE_SEL 0x030
#define VIRTIO_REG_QUEUE_NUM_MAX 0x034
#define VIRTIO_REG_QUEUE_NUM 0x038
#define VIRTIO_REG_QUEUE_READY 0x044
#define VIRTIO_REG_QUEUE_NOTIFY 0x050
#define VIRTIO_REG_INTERRUPT_STATUS 0x060
#define VIRTIO_REG_INTERRUPT_ACK 0x064
#define VIRTIO_REG_STATUS 0x070
#define VIRTIO_REG_QUEUE_DESC_LOW 0x080
#define VIRTIO_REG_QUEUE_DESC_HIGH 0x084
#define VIRTIO_REG_QUEUE_DRIVER_LOW 0x090
#define VIRTIO_REG_QUEUE_DRIVER_HIGH 0x094
#define VIRTIO_REG_QUEUE_DEVICE_LOW 0x0a0
#define VIRTIO_REG_QUEUE_DEVICE_HIGH 0x0a4
#define VIRTIO_REG_CONFIG_GENERATION 0x0fc
#define VIRTIO_REG_CONFIG 0x100
#define VIRTIO_MMIO_MAGIC 0x74726976

#define VIRTIO_STATUS_ACKNOWLEDGE 1
#define VIRTIO_STATUS_DRIVER 2
#define VIRTIO_STATUS_DRIVER_OK 4
#define VIRTIO_STATUS_FEATURES_OK 8
#define VIRTIO_STATUS_NEEDS_RESET 0x40
#define VIRTIO_STATUS_FAILED 0x80
#define VIRTIO_INT_USED 1
#define VIRTIO_INT_CONFIG 2

#define VIRTIO_F_INDIRECT_DESC 28
#define VIRTIO_F_EVENT_IDX 29
#define VIRTIO_F_VERSION_1 32

#define VIRTQ_DESC_F_NEXT 1
#define VIRTQ_DESC_F_WRITE 2
#define VIRTQ_DESC_F_INDIRECT 4
#define VIRTQ_AVAIL_F_NO_INTERRUPT 1
#define VIRTQ_USED_F_NO_NOTIFY 1

/* Where a device is: from the ACPI DSDT when the runtime can read it, else by probing the
 * windows for the magic value. */
struct virtio_mmio_window {
    uint64_t base;
    unsigned index, gsi;
    uint32_t device_id;
};
/* Fills up to max windows that hold a device (device id != 0); returns the count. */
unsigned virtio_mmio_scan(struct virtio_mmio_window *out, unsigned max);
/* The first device with this id. */
bool virtio_mmio_find(uint32_t device_id, struct virtio_mmio_window *out);
/* How the last scan found the devices: "ACPI DSDT" or "probing the windows". */
const char *virtio_mmio_discovery(void);

struct virtio_device {
    uint64_t base;
    unsigned index, gsi;
    uint32_t device_id;
    uint64_t features;          /* negotiated */
    unsigned vector;            /* 0: polled */
    volatile uint32_t isr_seen; /* InterruptStatus bits the IRQ handler acknowledged */
    volatile uint32_t irqs;     /* interrupts taken */
};

static inline uint32_t virtio_read(const struct virtio_device *d, unsigned reg)
{
    return mmio_read32(d->base + reg);
}
static inline void virtio_write(const struct virtio_device *d, unsigned reg, uint32_t v)
{
    mmio_write32(d->base + reg, v);
}

/* Reset, ACKNOWLEDGE | DRIVER, negotiate: accepts VIRTIO_F_VERSION_1 (required) and the
 * bits of `wanted` the device offers, then FEATURES_OK and checks the device kept it.
 * False (with a message) if the window holds no modern device or negotiation fails. */
bool virtio_device_init(struct virtio_device *d, const struct virtio_mmio_window *w, uint64_t wanted);
void virtio_driver_ok(struct virtio_device *d);
void virtio_reset(struct virtio_device *d);
uint32_t virtio_status(const struct virtio_device *d);
/* Interrupt-driven completion: routes IOAPIC pin gsi to VEC_VIRTIO_BASE + index; the
 * handler acknowledges InterruptStatus into isr_seen. Needs irq_init(). */
void virtio_enable_irq(struct virtio_device *d);

#define VIRTQ_GUEST_MAX 64
/* A split virtqueue in one page: descriptors at 0, driver area at 1024, device area at
 * 2048. Fields are public so tests can scribble on the rings. */
struct virtq_desc_g {
    uint64_t addr;
    uint32_t len;
    uint16_t flags, next;
};
struct virtqueue {
    struct virtio_device *dev;
    unsigned index;
    uint16_t size;
    volatile struct virtq_desc_g *desc;
    volatile uint16_t *avail; /* flags, idx, ring[size], used_event */
    volatile uint16_t *used;  /* flags, idx, {u32 id, u32 len}[size], avail_event */
    uint16_t avail_idx, last_used, free_head, num_free;
    uint16_t chain_len[VIRTQ_GUEST_MAX];
    uint8_t ring[4096] __attribute__((aligned(4096)));
};
struct virtq_buf {
    void *addr;
    uint32_t len;
};
/* Sets up queue `index` with min(QueueNumMax, max_size, VIRTQ_GUEST_MAX) entries. */
bool virtq_init(struct virtqueue *vq, struct virtio_device *d, unsigned index, uint16_t max_size);
/* Makes a chain of n_out device-readable then n_in device-writable buffers available;
 * returns its head, or -1 when descriptors are short. Does not notify. */
int virtq_add(struct virtqueue *vq, const struct virtq_buf *bufs, unsigned n_out, unsigned n_in);
/* Notifies the device (QueueNotify), unless it asked not to be. */
void virtq_kick(struct virtqueue *vq);
/* Takes one used element: its head (and *len, bytes written), or -1 when there is none. */
int virtq_get_used(struct virtqueue *vq, uint32_t *len);
/* Waits up to timeout_us for a used element (hlt between interrupts when the device
 * has one, else polling); -1 on timeout. Needs timer_init(). */
int virtq_wait_used(struct virtqueue *vq, uint32_t *len, uint64_t timeout_us);

/* virtio-console, port 0 (virtio_console.c). Output is copied into transmit buffers;
 * input comes from receive buffers kept posted. */
bool vcon_init(void);
bool vcon_present(void);
struct virtio_device *vcon_device(void);
void vcon_write(const char *s, size_t len);
/* Waits until the device has taken every byte written; false on timeout. */
bool vcon_flush(uint64_t timeout_us);
/* Reads a line (CR, LF or CRLF ends it, dropped), NUL-terminated; -1 on timeout. */
int vcon_readline(char *buf, size_t size, uint64_t timeout_us);

/* virtio-rng (virtio_rng.c). */
bool vrng_init(bool use_irq);
/* Fills up to len bytes; returns how many the device gave (0 on timeout or error). */
size_t vrng_read(void *buf, size_t len);
struct virtio_device *vrng_device(void);

/* ---- Page pool and virtio-balloon (virtio_balloon.c) ----------------------------------
 * The page pool owns the RAM a test kernel may use freely: every RAM page of the memory
 * map from 1 MiB up (within the identity map), minus the kernel image and the boot
 * ranges. It hands out runs of consecutive pages from the highest free address down, so a
 * kernel that takes, uses and returns pages gets the same pages again first.
 *
 * The balloon driver (device id 5, docs/machine.md) inflates by taking pages from the pool
 * and giving their PFNs to the host, which releases them; it deflates by telling the host
 * and returning them to the pool (their contents are gone: they read as zeros). */
#define PAGE_POOL_MAX_RUNS 1024
typedef void (*page_run_fn)(uint64_t pfn, uint64_t n, void *ctx);
/* Builds the pool from boot_info (call after pvh_init/paging_init: test_main may). */
void page_pool_init(void);
uint64_t page_pool_free(void);  /* pages in the pool now */
uint64_t page_pool_total(void); /* pages it started with */
/* Takes up to max consecutive pages from the top of the pool: the count (0 when it is
 * empty), the first PFN in *pfn. */
uint64_t page_pool_take(uint64_t max, uint64_t *pfn);
/* Returns n pages from pfn to the pool (false, keeping nothing, if the pool's run table
 * is full; the caller still owns them). */
bool page_pool_give(uint64_t pfn, uint64_t n);
/* Calls fn on every free run, lowest first. */
void page_pool_for_each(page_run_fn fn, void *ctx);

#define VIRTIO_BALLOON_F_STATS_VQ 1
#define VIRTIO_BALLOON_F_DEFLATE_ON_OOM 2
#define VIRTIO_BALLOON_F_REPORTING 5
#define VIRTIO_BALLOON_S_SWAP_IN 0
#define VIRTIO_BALLOON_S_SWAP_OUT 1
#define VIRTIO_BALLOON_S_MAJFLT 2
#define VIRTIO_BALLOON_S_MINFLT 3
#define VIRTIO_BALLOON_S_MEMFREE 4
#define VIRTIO_BALLOON_S_MEMTOT 5
#define VIRTIO_BALLOON_S_AVAIL 6
#define VIRTIO_BALLOON_S_CACHES 7

/* Finds and starts the device, asking for the feature bits in `features` (STATS_VQ,
 * REPORTING, DEFLATE_ON_OOM); with use_irq, configuration changes and used buffers
 * interrupt (IOAPIC pin 16 + index; needs irq_init()). With STATS_VQ the driver posts its
 * statistics at once and again whenever the host asks (vballoon_poll). */
bool vballoon_init(uint64_t features, bool use_irq);
struct virtio_device *vballoon_device(void);
/* The host's target: num_pages from the config space. */
uint32_t vballoon_target(void);
/* Pages the balloon holds (what `actual` says). */
uint64_t vballoon_pages(void);
/* Gives up to n more pages to the host (taken from the pool); returns how many. */
uint64_t vballoon_inflate(uint64_t n);
/* Takes up to n pages back from the host and returns them to the pool, calling on_run (if
 * not NULL) on each run once it is the guest's again; returns how many. */
uint64_t vballoon_deflate(uint64_t n, page_run_fn on_run, void *ctx);
/* Moves the balloon to the host's target (deflated runs go to on_run as above); returns
 * the pages inflated (positive) or deflated (negative). */
int64_t vballoon_follow(page_run_fn on_run, void *ctx);
/* Services the device: takes the interrupt status seen since the last call (true when the
 * host changed the configuration, i.e. the target) and answers a stats request if the host
 * made one. Call it whenever the device interrupted (vballoon_device()->isr_seen). */
bool vballoon_poll(void);
/* A statistic the driver reports besides those it knows (free, available, total memory
 * from the page pool): e.g. VIRTIO_BALLOON_S_MINFLT. */
void vballoon_set_stat(unsigned tag, uint64_t value);
/* Free page reporting (VIRTIO_BALLOON_F_REPORTING): reports every free run of the pool of
 * at least min_pages pages; the host releases them. Returns the pages reported. */
uint64_t vballoon_report_free(uint64_t min_pages);
/* Whether the device is running (not failed, not NEEDS_RESET). */
bool vballoon_ok(void);

#endif
