/* When a domain's vhost-user devices (disks, network) are held, and when they run with their
 * backend's dirty log (docs/migration.md, "Devices' writes" and "Disks").
 *
 * A backend writes guest RAM through its own mapping, which KVM's dirty log does not see. A
 * write it makes must therefore be either logged (the vhost-user dirty log, which the
 * migration merges into each round's dirty set) or impossible (the device held: its rings
 * taken back, every request it took completed, published and, for a disk, flushed). Which
 * one, by what the domain is doing:
 *   - a save: held (RAM and the used rings must be final before they are written out; a
 *     disk's image must be flushed before its identity is recorded);
 *   - a migration's pre-copy rounds: logged, so the guest's disk requests and frames keep
 *     being served while its memory is copied; a backend that cannot log (no VHOST_F_LOG_ALL
 *     or PROTOCOL_F_LOG_SHMFD: an older or foreign backend) is held for the whole move;
 *   - a migration's final stop (after the vCPUs pause, before the last collect): held, so
 *     the last collect has every page it wrote and the image is flushed before the state
 *     records its identity;
 *   - a restore or an incoming migration: held until guest RAM is in place (a backend
 *     starts from the used index in RAM). */
#ifndef XENO_VMM_STATE_MOVE_HOLD_H
#define XENO_VMM_STATE_MOVE_HOLD_H

#include <stdbool.h>

enum move_phase {
    MOVE_SAVE,
    MOVE_PRECOPY,
    MOVE_FINAL_STOP,
    MOVE_RESTORE,
};

/* Whether a device whose backend can (backend_logs) or cannot keep the dirty log is held in
 * this phase. */
bool move_device_held(enum move_phase phase, bool backend_logs);

#endif
