#include "vmm/core/io_bus.h"

#include <errno.h>
#include <string.h>

#include "lib/err.h"

int io_bus_register(struct io_bus *bus, uint64_t base, uint64_t len, io_handler_fn fn, void *opaque, const char *name)
{
    /* Compare inclusive last addresses: a range may end exactly at 2^64. */
    if (len == 0 || base + (len - 1) < base)
        return err_set(EINVAL, "%s at 0x%llx: empty or wrapping range", name, (unsigned long long)base);
    for (unsigned i = 0; i < bus->n; i++) {
        const struct io_range *r = &bus->ranges[i];
        if (base <= r->base + (r->len - 1) && r->base <= base + (len - 1))
            return err_set(EEXIST, "%s at 0x%llx overlaps %s", name, (unsigned long long)base, r->name);
    }
    if (bus->n == IO_BUS_MAX)
        return err_set(ENOSPC, "no room on the I/O bus for %s", name);
    bus->ranges[bus->n++] = (struct io_range){base, len, fn, opaque, name};
    return 0;
}

int io_bus_access(const struct io_bus *bus, uint64_t addr, int is_write, uint8_t *data, unsigned size)
{
    for (unsigned i = 0; i < bus->n; i++) {
        const struct io_range *r = &bus->ranges[i];
        if (addr >= r->base && addr - r->base < r->len) {
            r->fn(r->opaque, addr - r->base, is_write, data, size);
            return 0;
        }
    }
    if (!is_write)
        memset(data, 0xff, size);
    return -ENOENT;
}
