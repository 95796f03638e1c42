/* The vhost-user dirty log, the backend's side (docs/migration.md, "Devices' writes"): a
 * bitmap of guest-physical pages the front end shares (SET_LOG_BASE with
 * PROTOCOL_F_LOG_SHMFD), in which the backend sets the bit of every page of guest memory it
 * writes while VU_F_LOG_ALL is negotiated. The front end (a migrating monitor) clears the
 * bits it collects and resends those pages; the backend only ever sets bits (atomic OR: the
 * front end clears them concurrently).
 *
 * The bitmap is sized by the front end. A page past its end is not logged (a front end that
 * made it too small loses only its own pages); an address outside the memory table is not a
 * page of guest memory and is ignored. */
#ifndef XENO_VHOST_VU_LOG_H
#define XENO_VHOST_VU_LOG_H

#include <stddef.h>
#include <stdint.h>

#include "vhost/mem_table.h"

/* A log larger than this is refused: 1 TiB of guest memory at one bit per 4 KiB page. */
#define VU_LOG_MAX_BYTES (32ull << 20)

struct vu_log {
    uint8_t *bits; /* NULL: no log set */
    uint64_t size; /* bytes of bitmap: pages [0, size * 8) are logged */
    void *map;     /* what mmap returned (bits - offset) */
    size_t map_len;
};

/* Maps `size` bytes at `offset` of fd (a memfd sealed against shrinking: mem_fd_check) as
 * the log, replacing any earlier one. Takes fd (closed in every case). 0, or -EPERM (not
 * sealed), -EINVAL (empty, too large, the fd too small), -errno of mmap, with a message;
 * on failure the old log stays. */
int vu_log_map(struct vu_log *l, int fd, uint64_t size, uint64_t offset);
void vu_log_unmap(struct vu_log *l);

/* Marks the pages of guest-physical [gpa, gpa + len) (len 0: none). */
void vu_log_mark(const struct vu_log *l, uint64_t gpa, uint64_t len);
/* Marks the pages of a range of the backend's mapping of guest memory (a ring, a buffer
 * translated through m); a range outside every region is ignored. */
void vu_log_mark_host(const struct vu_log *l, const struct mem_table *m, const void *p, uint64_t len);

#endif
