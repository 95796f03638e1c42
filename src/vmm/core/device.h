/* Devices own their state: every device whose state a guest can observe registers, when it
 * is created, one entry in its VM's device list with the operations that save and restore that
 * state. Snapshots (state/snapshot_vm.c) and live migration (state/migrate_*.c) walk the list;
 * they never name a device or read its fields, so adding a device touches only the device's
 * own file and the place that creates it (machine/vm.c).
 *
 * Each entry's state is one section of the snapshot format (proto/snapshot.h) of a fixed
 * type and exact size. Several entries may share a section type (the virtio devices): the
 * k-th entry of a type takes the k-th section of that type, in file order. A new device takes
 * a new type from the device range (SNAP_SEC_DEVICE_FIRST..LAST, listed in
 * docs/snapshot-format.md); the types below SNAP_SEC_DEVICE_FIRST are those of the devices
 * that existed when the range was made, kept so that older files still restore.
 *
 * Restoring is two passes over sections from a file or a peer (untrusted): every section is
 * checked first (counts, sizes, then each device's own check), and only then is anything
 * loaded, so a bad section leaves the VM untouched.
 *
 * Threads: the list is built before the vCPUs start and read-only afterwards. The save and
 * restore operations run with the vCPUs paused (or not yet started); each takes its device's
 * own lock, since the device's other threads (virtio, console) may still run. */
#ifndef XENO_VMM_CORE_DEVICE_H
#define XENO_VMM_CORE_DEVICE_H

#include <stddef.h>
#include <stdint.h>

#include "proto/snapshot.h"

#define DEV_LIST_MAX 24

/* Where restored state comes from: a snapshot file (the domain resumes later, perhaps on
 * another host) or a migration peer (it resumes now, as it was). */
enum dev_state_source { DEV_STATE_FILE, DEV_STATE_PEER };

struct dev_state_ops {
    uint32_t section; /* SNAP_SEC_* type of the section holding the state */
    uint32_t size;    /* the section's exact payload size */
    /* Fills buf (size bytes, zeroed by the caller: the bytes are checksummed and stored).
     * 0 or -errno with err_set(). */
    int (*save)(void *dev, void *buf);
    /* Optional: checks a payload (a private, aligned copy) for this device, which is the
     * `instance`-th of its section type; changes nothing. 0 or -errno with err_set(). */
    int (*check)(void *dev, const void *buf, unsigned instance);
    /* Loads a checked payload. Every index and count from it must be bounded again here or in
     * check: the payload is untrusted. 0 or -errno with err_set(). */
    int (*restore)(void *dev, const void *buf, enum dev_state_source src);
};

struct dev_list {
    unsigned n;
    struct dev_list_entry {
        const char *name; /* for messages: "com1", "virtio-balloon" */
        const struct dev_state_ops *ops;
        void *dev;
    } e[DEV_LIST_MAX];
};

/* Appends a device; the list keeps the pointers (the device outlives the list's use). */
int dev_list_add(struct dev_list *l, const char *name, const struct dev_state_ops *ops, void *dev);

/* The payload size of section `type` if it holds device state in this list, else 0. */
size_t dev_list_section_size(const struct dev_list *l, uint32_t type);

/* put(opaque, type, payload, len): where each section goes (a file, a migration buffer). */
typedef int (*dev_put_fn)(void *opaque, uint32_t type, const void *data, size_t len);

/* Saves every device, in list order, one section each. */
int dev_list_save(const struct dev_list *l, dev_put_fn put, void *opaque);

/* Checks the device sections among sec[0..n) (others are skipped): none of a type no entry
 * has (snap_is_device_section), exactly one per entry, of the exact size, and each entry's
 * own check. 0, or -bad with err_set() naming the device,
 * the section and its offset. */
int dev_list_check(const struct dev_list *l, const struct snap_section *sec, unsigned n, int bad);

/* Loads sections that dev_list_check() accepted. */
int dev_list_restore(const struct dev_list *l, const struct snap_section *sec, unsigned n, enum dev_state_source src);

#endif
