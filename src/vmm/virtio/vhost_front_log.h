/* The monitor's half of the vhost-user dirty log (docs/migration.md, "Devices' writes"): the
 * shared bitmap a backend marks for every guest page it writes while a migration runs
 * (src/vhost/vu_log.h is the backend's half), one bit per guest-physical page from 0 to the
 * end of the highest RAM range.
 *
 * Made once per device when the front end is set up (a sealed memfd: the backend checks the
 * seal before it maps it; made before the monitor's sandbox, so no migration thread needs
 * memfd_create). Its pages cost nothing until a backend marks one.
 *
 * Threads: the backend sets bits at any time (atomic OR in its own process); collect takes
 * them with atomic exchanges, so a bit set during a collect is either taken or left for the
 * next one, never lost. */
#ifndef XENO_VMM_VIRTIO_VHOST_FRONT_LOG_H
#define XENO_VMM_VIRTIO_VHOST_FRONT_LOG_H

#include <stdint.h>

#include "vmm/core/guest_mem.h"

struct vhost_front_log {
    int fd;         /* the memfd (sealed against shrinking), -1: none */
    uint64_t *bits; /* our mapping of it */
    uint64_t size;  /* bytes, a multiple of 8 */
};

/* A log covering every RAM range of mem. 0, or -errno with err_msg(); destroy is safe after
 * a failure. */
int vhost_front_log_init(struct vhost_front_log *l, const struct guest_mem *mem);
void vhost_front_log_destroy(struct vhost_front_log *l);
/* Marks guest-physical [gpa, gpa + len) as the backend would (the front end's own marks, for
 * writes a lost backend may not have marked). Pages past the log's end are not marked. */
void vhost_front_log_mark(struct vhost_front_log *l, uint64_t gpa, uint64_t len);
/* Takes the pages logged since the last call (clearing them in the shared bitmap) and sets
 * their bits in `out`, one bit per RAM page by memfd offset / 4096 (the dirty log's
 * numbering, state/dirty_log.h), npages of them. A marked page outside every RAM range is
 * dropped (not RAM: nothing to resend). Returns how many were taken. */
uint64_t vhost_front_log_collect(struct vhost_front_log *l, const struct guest_mem *mem, uint64_t *out,
                                 uint64_t npages);

#endif
