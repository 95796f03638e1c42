/* Snapshot files (docs/snapshot-format.md): the pure format, no KVM.
 *
 * Writer: snap_writer_open() writes the header, snap_write_section() each state section,
 * snap_write_memory() guest RAM sparsely at page-aligned offsets, snap_writer_finish() the
 * end marker. Reader: snap_parse() validates a whole image in memory (magic, version, host
 * CPU, header and section CRCs, bounds, memory runs and their CRCs) before anything uses it,
 * and fails with a message naming the section and the file offset. */
#ifndef XENO_VMM_SNAPSHOT_H
#define XENO_VMM_SNAPSHOT_H

#include <stddef.h>
#include <stdint.h>

#define SNAP_MAGIC "XENOSNAP"
#define SNAP_VERSION 1
#define SNAP_PAGE 4096u
#define SNAP_MAX_RANGES 2
#define SNAP_MAX_SECTIONS 256

enum snap_section_type {
    SNAP_SEC_END = 0,
    SNAP_SEC_CONFIG = 1,
    SNAP_SEC_VCPU = 2,
    SNAP_SEC_IRQCHIP = 3,
    SNAP_SEC_PIT = 4,
    SNAP_SEC_CLOCK = 5,
    SNAP_SEC_UART = 6,
    SNAP_SEC_I8042 = 7,
    SNAP_SEC_POWER_REQ = 8,
    SNAP_SEC_VIRTIO = 9,
    SNAP_SEC_MEMORY = 10,
    SNAP_SEC_MAX
};

/* The file header, little-endian, exactly as on disk (SNAP_HEADER_SIZE bytes). */
struct snap_header {
    char magic[8];
    uint32_t version;
    uint32_t header_size;
    char cpu_vendor[12];   /* CPUID 0 vendor string of the host that saved */
    uint32_t cpu_signature; /* CPUID 1 EAX (family/model/stepping) */
    uint32_t page_size;
    uint32_t nranges;
    uint64_t ram_size;
    struct {
        uint64_t gpa, size, offset;
    } ranges[SNAP_MAX_RANGES];
    uint32_t reserved;
    uint32_t crc; /* CRC32 of the bytes before this field */
};
#define SNAP_HEADER_SIZE ((uint32_t)sizeof(struct snap_header))

struct snap_section_hdr {
    uint32_t type;
    uint32_t crc;    /* CRC32 of the payload */
    uint64_t length; /* payload bytes */
    uint64_t next;   /* file offset of the next section header */
};

/* One run of saved pages in the memory section's table. */
struct snap_mem_run {
    uint64_t ram_offset; /* offset in guest RAM (the memfd), page aligned */
    uint64_t npages;
    uint64_t file_offset; /* page aligned */
    uint32_t crc;         /* CRC32 of the run's bytes */
    uint32_t reserved;
};

struct snap_writer {
    int fd;
    uint64_t off;
    uint64_t pages, bytes; /* pages of RAM written; file size so far */
};

struct snap_section {
    uint32_t type;
    uint64_t offset; /* of the section header in the file */
    const uint8_t *data;
    uint64_t length;
};

struct snap_image {
    struct snap_header hdr;
    unsigned nsections;
    struct snap_section sec[SNAP_MAX_SECTIONS];
    const struct snap_mem_run *runs; /* from the memory section */
    uint64_t nruns;
    const uint8_t *base; /* the whole file */
    uint64_t size;
};

uint32_t snap_crc32(uint32_t crc, const void *buf, size_t len);
const char *snap_section_name(uint32_t type);
/* The host's CPU identity for the header. */
void snap_host_cpu(char vendor[12], uint32_t *signature);

/* 0, or -1 with err_set(). The header's magic, version, sizes and crc are filled in. */
int snap_writer_open(struct snap_writer *w, int fd, struct snap_header *h);
int snap_write_section(struct snap_writer *w, uint32_t type, const void *data, size_t len);
/* Writes RAM (ram_size bytes at ram) leaving out pages that are zero, and holes of memfd
 * (-1: none). Counts pages in w->pages. */
int snap_write_memory(struct snap_writer *w, const uint8_t *ram, uint64_t ram_size, int memfd);
int snap_writer_finish(struct snap_writer *w);

/* Validates an image. expect_vendor/expect_signature: the host's (NULL: not checked).
 * 0, or -1 with the reason in err (naming the section and offset). */
int snap_parse(const uint8_t *buf, uint64_t size, const char *expect_vendor, struct snap_image *img, char *err,
               size_t errsz);
/* The first section of `type` (index-th among them), or NULL. */
const struct snap_section *snap_find(const struct snap_image *img, uint32_t type, unsigned index);
/* Copies saved RAM into ram (ram_size bytes); pages not saved are left alone (zero). */
void snap_load_memory(const struct snap_image *img, uint8_t *ram);

#endif
