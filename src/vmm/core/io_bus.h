/* Dispatch of guest port I/O and MMIO exits to device models by address range. Devices are
 * registered before the vCPUs start and the table is read-only afterwards, so lookups from
 * several vCPU threads need no lock (each device locks its own state). */
#ifndef XENO_VMM_CORE_IO_BUS_H
#define XENO_VMM_CORE_IO_BUS_H

#include <stdint.h>

#define IO_BUS_MAX 16

/* `data` holds `size` bytes, little-endian: filled by the device on reads, read by it on writes. */
typedef void (*io_handler_fn)(void *opaque, uint64_t offset, int is_write, uint8_t *data, unsigned size);

struct io_bus {
    unsigned n;
    struct io_range {
        uint64_t base, len;
        io_handler_fn fn;
        void *opaque;
        const char *name;
    } ranges[IO_BUS_MAX];
};

/* -EEXIST if the range overlaps one already registered, -ENOSPC if the table is full. */
int io_bus_register(struct io_bus *bus, uint64_t base, uint64_t len, io_handler_fn fn, void *opaque, const char *name);

/* Returns 0 if a device took the access. Otherwise -ENOENT: reads are filled with all ones,
 * as an unclaimed PC bus cycle reads, and writes are dropped. */
int io_bus_access(const struct io_bus *bus, uint64_t addr, int is_write, uint8_t *data, unsigned size);

#endif
