/*
 * demo: a tiny interactive shell for `make demo`. It is also a test: piping
 * "info\npoweroff\n" into it must end in PASS.
 */
#include "runtime.h"

const char test_title[] = "XenoServer demo shell. Type 'help' for commands.";
const bool test_console_crlf = true; /* the host console is a raw terminal */

#define TIMER_HZ 100

static void cmd_help(const char *arg)
{
    (void)arg;
    printf("  help        this list\n"
           "  echo TEXT   print TEXT\n"
           "  info        vCPUs, memory, command line, timer\n"
           "  ticks       timer ticks since boot\n"
           "  spin N      busy-loop N million iterations and time it\n"
           "  poweroff    power the machine off\n"
           "  reboot      reset the machine\n");
}

static void cmd_echo(const char *arg)
{
    printf("%s\n", arg);
}

/* POSIX cksum's CRC (polynomial 0x04c11db7, MSB first, length appended, inverted), so the
 * host can check a module with `cksum FILE` and see that every byte arrived where promised. */
static uint32_t crc_byte(uint32_t crc, uint8_t b)
{
    crc ^= (uint32_t)b << 24;
    for (int k = 0; k < 8; k++)
        crc = (crc & 0x80000000u) ? (crc << 1) ^ 0x04c11db7u : crc << 1;
    return crc;
}

static uint32_t posix_cksum(const uint8_t *p, uint64_t len)
{
    uint32_t crc = 0;

    for (uint64_t i = 0; i < len; i++)
        crc = crc_byte(crc, p[i]);
    for (uint64_t n = len; n; n >>= 8)
        crc = crc_byte(crc, (uint8_t)n);
    return ~crc;
}

static void cmd_info(const char *arg)
{
    (void)arg;
    printf("vCPUs:    %u\n", smp_cpu_count());
    printf("RAM:      %lu MiB\n", pvh_ram_bytes() >> 20);
    for (unsigned i = 0; i < boot_info.nr_memmap; i++) {
        const struct memmap_entry *e = &boot_info.memmap[i];

        if (e->size)
            printf("          %#012lx-%#012lx %s\n", e->addr, e->addr + e->size - 1,
                   e->type == E820_RAM ? "RAM" : "reserved");
    }
    printf("cmdline:  %s\n", boot_info.cmdline[0] ? boot_info.cmdline : "(none)");
    for (unsigned i = 0; i < boot_info.nr_modules; i++) {
        const struct pvh_module *m = &boot_info.modules[i];

        printf("module %u: %#lx, %lu bytes, cksum %u\n", i, m->paddr, m->size,
               posix_cksum((const uint8_t *)(uintptr_t)m->paddr, m->size));
    }
    if (tsc_khz())
        printf("timer:    %s at %u Hz; TSC %lu kHz, LAPIC %lu kHz (%s)\n",
               timer_is_tickless() ? "tickless (TSC)" : "LAPIC periodic", timer_hz(), tsc_khz(),
               lapic_timer_khz(), timer_source());
    else
        printf("timer:    none (no CPUID 0x40000010 and no PIT)\n");
}

static void cmd_ticks(const char *arg)
{
    uint64_t t = timer_ticks();

    (void)arg;
    if (!timer_hz()) {
        printf("no timer\n");
        return;
    }
    printf("%lu ticks (%lu.%02lu s at %u Hz)\n", t, t / timer_hz(),
           t % timer_hz() * 100 / timer_hz(), timer_hz());
}

static void cmd_spin(const char *arg)
{
    const char *end;
    uint64_t n = strtoul(arg, &end, 10), t0, cycles;

    if (end == arg || *end) {
        printf("usage: spin N   (N million iterations)\n");
        return;
    }
    t0 = rdtsc();
    for (uint64_t i = 0; i < n * 1000000; i++)
        __asm__ volatile("" : "+r"(i)); /* keeps the compiler from deleting the loop */
    cycles = rdtsc() - t0;
    printf("%lu million iterations: %lu TSC cycles", n, cycles);
    if (tsc_khz())
        printf(", %lu.%03lu ms", tsc_to_us(cycles) / 1000, tsc_to_us(cycles) % 1000);
    printf("\n");
}

static void cmd_poweroff(const char *arg)
{
    (void)arg;
    printf("Powering off.\n");
    test_pass();
    test_finish();
}

static void cmd_reboot(const char *arg)
{
    (void)arg;
    printf("Rebooting.\n");
    reboot();
}

static const struct {
    const char *name;
    void (*fn)(const char *arg);
} commands[] = {
    {"help", cmd_help},   {"echo", cmd_echo},         {"info", cmd_info},
    {"ticks", cmd_ticks}, {"spin", cmd_spin},         {"poweroff", cmd_poweroff},
    {"reboot", cmd_reboot},
};

static void run(char *line)
{
    char *arg;
    size_t len;

    while (*line == ' ')
        line++;
    len = strlen(line);
    while (len && line[len - 1] == ' ')
        line[--len] = '\0';
    if (!*line)
        return;
    for (arg = line; *arg && *arg != ' '; arg++)
        ;
    if (*arg)
        *arg++ = '\0';
    while (*arg == ' ')
        arg++;
    for (unsigned i = 0; i < ARRAY_SIZE(commands); i++) {
        if (!strcmp(line, commands[i].name)) {
            commands[i].fn(arg);
            return;
        }
    }
    printf("unknown command '%s'; try 'help'\n", line);
}

/* "timer=periodic" on the command line: the LAPIC timer interrupts at TIMER_HZ, for the
 * tests that watch a guest's timer stop and go (pause, CPU time while blocked). */
static bool periodic_wanted(void)
{
    static const char word[] = "timer=periodic";

    for (const char *c = boot_info.cmdline; c && *c; c++)
        if ((c == boot_info.cmdline || c[-1] == ' ') && !strncmp(c, word, sizeof(word) - 1) &&
            (c[sizeof(word) - 1] == ' ' || !c[sizeof(word) - 1]))
            return true;
    return false;
}

void test_main(void)
{
    char line[256];

    irq_init();
    console_input_init();
    if (timer_init() && periodic_wanted())
        timer_start_periodic(TIMER_HZ);
    else if (tsc_khz())
        timer_start_tickless(TIMER_HZ); /* ticks from the TSC: no interrupt wakes the idle shell */
    for (;;) {
        printf("xeno> ");
        console_readline(line, sizeof(line), true);
        run(line);
    }
}
