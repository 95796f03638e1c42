/*
 * The 8254 PIT as a reference clock, for machines whose hypervisor does not publish the
 * TSC and LAPIC frequencies (QEMU without vmware-cpuid-freq). We run one PIT channel once
 * in mode 0 (interrupt on terminal count: OUT goes low when programmed and high when the
 * count reaches zero) and count TSC and LAPIC timer ticks until OUT rises.
 *
 * Channel 2 is the classic choice (Linux's pit_calibrate_tsc): it drives only the
 * speaker, its gate and OUT are in port 0x61. But port 0x61 belongs to the speaker, not
 * the PIT, and QEMU microvm has no speaker: there 0x61 reads as all ones. Then we use
 * channel 0 and read OUT with the read-back command instead; its rising edge goes to
 * IRQ 0, which is masked at both the 8259 and the IOAPIC, so nothing is delivered.
 */
#include "runtime.h"

#define PIT_HZ   1193182
#define PIT_CH0  0x40
#define PIT_CH2  0x42
#define PIT_CMD  0x43
#define PORT_B   0x61 /* bit 0: gate 2, bit 1: speaker data, bit 5: OUT2 */

#define CMD_CH0_MODE0 0x30 /* channel 0, lobyte/hibyte, mode 0, binary */
#define CMD_CH2_MODE0 0xb0 /* channel 2, same */
#define CMD_READBACK_STATUS_CH0 0xe2 /* read-back: latch status (not count) of channel 0 */
#define STATUS_OUT 0x80

/* OUT of the channel in use. */
static bool out_high(bool ch2)
{
    if (ch2)
        return inb(PORT_B) & 0x20;
    outb(PIT_CMD, CMD_READBACK_STATUS_CH0);
    return inb(PIT_CH0) & STATUS_OUT;
}

bool pit_measure(unsigned ms, uint64_t *tsc_ticks, uint64_t *lapic_ticks)
{
    uint32_t latch = (uint32_t)((uint64_t)PIT_HZ * ms / 1000);
    uint16_t port;
    uint64_t t0, t1, polls = 0;
    uint32_t l1;
    uint8_t b;
    bool ch2;

    if (latch == 0 || latch > 0xffff)
        return false;

    /* Channel 2 if a speaker port answers: it must read with the gate bit we set. */
    b = inb(PORT_B);
    outb(PORT_B, (b & ~0x02) | 0x01); /* gate on, speaker off */
    ch2 = b != 0xff && (inb(PORT_B) & 0x03) == 0x01;
    port = ch2 ? PIT_CH2 : PIT_CH0;

    outb(PIT_CMD, ch2 ? CMD_CH2_MODE0 : CMD_CH0_MODE0);
    outb(port, latch & 0xff);
    /* OUT must be low now; if it reads high there is no PIT behind these ports. */
    if (out_high(ch2))
        return false;

    lapic_timer_oneshot_raw(0xffffffff);
    t0 = rdtsc();
    outb(port, latch >> 8); /* counting starts with the last byte of the count */
    while (!out_high(ch2)) {
        /* Each poll costs at least one port exit, so this bounds the wait far beyond any
         * sane interval even if OUT never rises. */
        if (++polls > 100000000ULL)
            return false;
    }
    t1 = rdtsc();
    l1 = lapic_timer_current();
    lapic_timer_stop();

    *tsc_ticks = t1 - t0;
    *lapic_ticks = 0xffffffffULL - l1;
    return true;
}
