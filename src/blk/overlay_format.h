/* The copy-on-write overlay's on-disk header (docs/overlay-format.md): pure code that
 * encodes it and decodes it as hostile input. Every field is checked before anything is read,
 * written or allocated from it, so a crafted file cannot make the reader touch bytes outside
 * the file's own layout or allocate more than the table a valid header of that size implies. */
#ifndef XENO_BLK_OVERLAY_FORMAT_H
#define XENO_BLK_OVERLAY_FORMAT_H

#include <stdint.h>

#include "blk/image_dir.h"

#define OVL_MAGIC "XENO-OVL"
#define OVL_VERSION 1u
#define OVL_HEADER_SIZE 4096u /* the table starts there */
#define OVL_CLUSTER_BITS_MIN 12u
#define OVL_CLUSTER_BITS_MAX 21u
#define OVL_CLUSTER_BITS_DEFAULT 16u /* 64 KiB */
#define OVL_MAX_ENTRIES (1u << 24)   /* the table in memory: at most 128 MiB */
#define OVL_MAX_VIRTUAL_SIZE (1ull << 40)
/* Table entries: the state of one cluster. Anything else is the file offset of its data. */
#define OVL_ENTRY_UNALLOCATED 0ull /* read from the base (zeros past its end or without one) */
#define OVL_ENTRY_ZERO 1ull        /* reads zeros, whatever the base holds */
/* Clusters freed (discard) but not yet reusable, as data slots beyond the table's entries a
 * valid file may use: the writer flushes before it would need more. */
#define OVL_SPARE_SLOTS 1024u

struct ovl_header {
    uint64_t virtual_size;
    uint32_t cluster_bits;
    char base_name[IMAGE_NAME_MAX + 1]; /* "": no base */
    uint64_t base_size, base_ino, base_mtime_ns;
    /* Derived by ovl_header_layout(), not stored. */
    uint64_t entries, data_offset, max_slots;
};

/* Fills entries, data_offset and max_slots from virtual_size and cluster_bits after
 * checking them. 0 or -EINVAL with a message. */
int ovl_header_layout(struct ovl_header *h);
/* Encodes *h (laid out) into buf[OVL_HEADER_SIZE]. */
void ovl_header_encode(const struct ovl_header *h, uint8_t *buf);
/* Decodes and checks buf[OVL_HEADER_SIZE]; fills *h with the layout. 0 or -EINVAL with a
 * message saying which field is wrong. */
int ovl_header_decode(const uint8_t *buf, struct ovl_header *h);
/* Whether `entry` is a valid data offset for *h: cluster-aligned, within the data slots. */
int ovl_entry_valid(const struct ovl_header *h, uint64_t entry);

#endif
