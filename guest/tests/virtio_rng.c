/*
 * virtio_rng: entropy from virtio-rng, interrupt-driven (IOAPIC pin 16 + index). Two
 * 64-byte reads must each be full length, not all one value, and differ from each other;
 * a 4 KiB read must use most byte values. PASS also needs the device's interrupt to have
 * arrived (the used-buffer path through irqfd and the IOAPIC).
 */
#include "runtime.h"

const char test_title[] = "virtio_rng: random bytes from virtio-rng";

static uint8_t big[4096];

static bool all_same(const uint8_t *p, size_t n)
{
    for (size_t i = 1; i < n; i++)
        if (p[i] != p[0])
            return false;
    return true;
}

void test_main(void)
{
    uint8_t a[64], b[64];
    bool seen[256] = {false};
    unsigned distinct = 0;

    irq_init();
    if (!timer_init()) {
        test_skip("no clock");
        return;
    }
    timer_start_periodic(100); /* bounds every hlt while waiting for the device */
    if (!vrng_init(true)) {
        test_fail("no usable virtio-rng device");
        return;
    }
    struct virtio_device *d = vrng_device();
    printf("virtio_rng: device at %#lx, pin %u (found by %s)\n", (unsigned long)d->base, d->gsi,
           virtio_mmio_discovery());

    size_t na = vrng_read(a, sizeof(a)), nb = vrng_read(b, sizeof(b));
    printf("virtio_rng: read %lu and %lu bytes:", (unsigned long)na, (unsigned long)nb);
    for (unsigned i = 0; i < 16; i++)
        printf(" %02x", a[i]);
    printf("\n");
    if (na != sizeof(a) || nb != sizeof(b))
        test_fail("short reads: %lu and %lu bytes", (unsigned long)na, (unsigned long)nb);
    else if (all_same(a, na) || all_same(b, nb))
        test_fail("a read came back as one repeated byte");
    else if (!memcmp(a, b, sizeof(a)))
        test_fail("two reads returned the same bytes");

    size_t nbig = vrng_read(big, sizeof(big));
    for (size_t i = 0; i < nbig; i++) {
        if (!seen[big[i]]) {
            seen[big[i]] = true;
            distinct++;
        }
    }
    printf("virtio_rng: 4096-byte read gave %lu bytes, %u distinct values; %u interrupts\n",
           (unsigned long)nbig, distinct, d->irqs);
    if (nbig != sizeof(big) || distinct < 200)
        test_fail("4 KiB read: %lu bytes, %u distinct values", (unsigned long)nbig, distinct);
    if (d->irqs == 0)
        test_fail("no interrupt from the device");
    if (virtio_status(d) & VIRTIO_STATUS_NEEDS_RESET)
        test_fail("device reports NEEDS_RESET");
    lapic_timer_stop();
    test_pass();
}
