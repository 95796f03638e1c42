/* A live migration's last message, the device state (src/vmm/state/migrate_state.c), as the
 * destination receives it from the peer after the handshake: mig_state_parse against a device
 * list of real devices (a UART, the i8042 and the power-request device, registered the way
 * machine/vm.c registers them, as tests/unit/test_dev_state.c does), then the devices' own
 * checks and, when all pass, their restore. As for snapshots, each input also goes through a
 * second time with the section CRCs recomputed, so mutations reach the checks behind them. */
#include <errno.h>
#include <stddef.h>

#include "fuzz/fuzz.h"
#include "vmm/core/device.h"
#include "vmm/dev/i8042.h"
#include "vmm/dev/power_request.h"
#include "vmm/dev/uart.h"
#include "vmm/state/migrate_state.h"

struct machine {
    struct uart com1, com2;
    struct i8042 kbd;
    struct power_request power;
    struct dev_list devices;
};

static void no_power(void *opaque, enum vm_outcome outcome, const char *why)
{
    (void)opaque, (void)outcome, (void)why;
}

static void no_irq(void *opaque)
{
    (void)opaque;
}

static void machine_init(struct machine *m)
{
    static const struct uart_ops no_ops;
    memset(m, 0, sizeof(*m));
    uart_init(&m->com1, &no_ops, NULL);
    uart_init(&m->com2, &no_ops, NULL);
    i8042_init(&m->kbd, no_power, NULL);
    power_request_init(&m->power, no_irq, NULL);
    if (dev_list_add(&m->devices, "com1", &uart_state_ops, &m->com1) < 0 ||
        dev_list_add(&m->devices, "com2", &uart_state_ops, &m->com2) < 0 ||
        dev_list_add(&m->devices, "i8042", &i8042_state_ops, &m->kbd) < 0 ||
        dev_list_add(&m->devices, "power", &power_request_state_ops, &m->power) < 0)
        abort();
}

static size_t list_size(const void *ctx, uint32_t type)
{
    return dev_list_section_size(ctx, type);
}

static void receive(const uint8_t *buf, size_t len)
{
    static struct snap_section sec[MIG_STATE_MAX_SECTIONS];
    struct machine m;
    machine_init(&m);
    unsigned n;
    int r = mig_state_parse(buf, len, list_size, &m.devices, sec, &n);
    if (r == 0)
        r = dev_list_check(&m.devices, sec, n, EPROTO);
    if (r == 0)
        dev_list_restore(&m.devices, sec, n, DEV_STATE_PEER);
    power_request_destroy(&m.power);
}

static void fix_crcs(uint8_t *buf, size_t len)
{
    for (size_t off = 0; off < len && len - off >= sizeof(struct snap_section_hdr);) {
        struct snap_section_hdr h;
        memcpy(&h, buf + off, sizeof(h));
        if (h.length > len - off - sizeof(h))
            break;
        h.crc = snap_crc32(0, buf + off + sizeof(h), h.length);
        memcpy(buf + off, &h, sizeof(h));
        off += sizeof(h) + ((h.length + 7) & ~(uint64_t)7);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint8_t *buf = malloc(size ? size : 1);
    if (!buf)
        abort();
    memcpy(buf, data, size);
    receive(buf, size);
    fix_crcs(buf, size);
    receive(buf, size);
    free(buf);
    return 0;
}
