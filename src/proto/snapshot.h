/* Snapshot files (docs/snapshot-format.md): the pure format, no KVM and no other vmm file,
 * so that xenod links this object alone (snapshot_inspect).
 *
 * Writer: snap_writer_open() writes the header, snap_write_section() each state section,
 * snap_write_memory() guest RAM sparsely at page-aligned offsets, snap_writer_finish() the
 * end marker. Reader: snap_parse() validates a whole image (magic, version, host CPU, header
 * and section CRCs, bounds, memory runs and their CRCs) before anything uses it, and fails
 * with a message naming the section and the file offset; snap_file_load() reads a file and
 * validates it and its config (the checks the monitor and xenod share).
 *
 * A file is never mapped: another process may truncate or rewrite it at any time. The
 * header, every section payload and the memory run table are read once with pread() into
 * private memory that the image owns; only those copies are validated and only they are
 * used afterwards. Page data is read when it is needed (restore, snap_read_run) into the
 * caller's memory and its run CRC is checked on that copy; a read that comes up short (the
 * file shrank since it was checked) is an error, never a SIGBUS. */
#ifndef XENO_PROTO_SNAPSHOT_H
#define XENO_PROTO_SNAPSHOT_H

#include <stddef.h>
#include <stdint.h>

#define SNAP_MAGIC "XENOSNAP"
/* Version 2 (2026-12-07) adds the disk section (SNAP_SEC_DISK): a version-1 monitor refuses
 * such a file by its version instead of by a section type it does not know. Version-1 files
 * (no disk) are read as before. */
#define SNAP_VERSION 2
#define SNAP_VERSION_MIN 1
#define SNAP_PAGE 4096u
#define SNAP_MAX_RANGES 2
#define SNAP_MAX_SECTIONS 256
/* The writer splits runs at this many pages: a lazy restore checks a run's CRC before its
 * first page reaches the guest, so a run is what one fault may have to read (2 MiB). */
#define SNAP_RUN_MAX_PAGES 512
#define SNAP_MAX_VCPUS 64              /* the format's bound; the monitor's VM_MAX_VCPUS is lower */
#define SNAP_DOMAIN_XML_MAX (1u << 20) /* the domain-xml section, and --domain-xml files */
#define SNAP_KERNEL_MAX 1024
#define SNAP_CMDLINE_MAX 4096
/* The largest payload of a section other than memory: the reader copies each one into
 * private memory, so a file must not make it allocate what it claims (the largest real
 * section, domain-xml, is 1 MiB; vcpu sections are a few KiB). */
#define SNAP_SECTION_MAX (16u << 20)

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
    SNAP_SEC_DOMAIN_XML = 11,   /* optional: the domain's XML, raw bytes (--domain-xml) */
    SNAP_SEC_MEM_TARGET = 12,   /* optional: the memory target in force (struct snap_mem_target) */
    SNAP_SEC_CPU_FEATURES = 13, /* optional (absent before 2026-12): what CPUID gave the guest
                                 * (struct snap_cpu_features, proto/cpu_features.h) */
    SNAP_SEC_MAX
};
/* Section types for the state of devices added later (src/vmm/core/device.h): the format
 * accepts any of them and the device list of the monitor reading the file decides whether it
 * knows it. Assigned ones are listed in docs/snapshot-format.md; the last is for tests. */
#define SNAP_SEC_DEVICE_FIRST 64u
#define SNAP_SEC_DEVICE_LAST 127u
#define SNAP_SEC_DEVICE_TEST SNAP_SEC_DEVICE_LAST
#define SNAP_SEC_DISK 64u /* a virtio-blk disk's image and its identity (struct snap_disk), version 2 */
/* Whether sections of this type hold a device's state (the older device types included):
 * the reader's device list must know each one it finds, or refuse the file. Section headers
 * carry no CRC, so a damaged type that lands in the device range is caught there. */
static inline int snap_is_device_section(uint32_t type)
{
    return (type >= SNAP_SEC_UART && type <= SNAP_SEC_VIRTIO) ||
           (type >= SNAP_SEC_DEVICE_FIRST && type <= SNAP_SEC_DEVICE_LAST);
}

/* The file header, little-endian, exactly as on disk (SNAP_HEADER_SIZE bytes). */
struct snap_header {
    char magic[8];
    uint32_t version;
    uint32_t header_size;
    char cpu_vendor[12];    /* CPUID 0 vendor string of the host that saved */
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

/* The config section: what the domain was started with. */
struct snap_config {
    uint64_t mem_size;
    uint32_t nvcpus;
    uint32_t on_poweroff, on_reboot, on_crash;
    uint32_t memory_enforcement;
    uint32_t reserved[2];
    char kernel[SNAP_KERNEL_MAX];
    char cmdline[SNAP_CMDLINE_MAX];
};

/* The mem-target section: a `mem-set` target that was in force at the save. */
struct snap_mem_target {
    uint64_t target_bytes;
    uint64_t deadline_ms;
};

/* The disk section: one per virtio-blk disk, in device order, written after its backend
 * drained and flushed (docs/snapshot-format.md, "Disks"). The image is named as the backend
 * serves it, relative to the host's image directory; its identity is the file's state after
 * the flush. A restore or an incoming migration compares it with the image it is given and
 * refuses a different one. */
#define SNAP_DISK_NAME_MAX 200 /* the image name (blkback's limit is 192), NUL-terminated */
#define SNAP_DISK_VERSION 1
struct snap_disk {
    uint32_t version; /* SNAP_DISK_VERSION */
    uint32_t flags;   /* SNAP_DISK_F_* */
    uint64_t sectors; /* what the guest was told (capacity / 512) */
    /* The identity ("generation") of the image file: st_size, st_ino, st_mtime and st_ctime
     * in ns. Any write, truncate, fallocate, chmod or replacement changes one of them
     * (limits: docs/snapshot-format.md). */
    uint64_t size, ino, mtime_ns, ctime_ns;
    char image[SNAP_DISK_NAME_MAX];
    uint8_t reserved[8];
};
#define SNAP_DISK_F_READONLY 1u
#define SNAP_MAX_DISKS 32 /* disk sections in one file */
/* A disk record's own fields (version, flags, a NUL-terminated printable image name): 0, or
 * -EINVAL with err_set(). snap_check_config applies it to every disk section; what the record
 * says about the image is checked by the monitor that restores it. */
int snap_disk_check(const struct snap_disk *d);

struct snap_writer {
    int fd;
    uint64_t off;
    uint64_t pages, bytes; /* pages of RAM written; file size so far */
};

struct snap_section {
    uint32_t type;
    uint64_t offset;     /* of the section header in the file */
    const uint8_t *data; /* a private copy of the payload, owned by the image */
    uint64_t length;
};

/* Where an image's bytes are: a buffer in the caller's private memory (base), or a file read
 * with pread (fd, base NULL). size: its length when it was validated; a read past it, or a
 * read that the file, shrunk since, cannot satisfy, fails. */
struct snap_src {
    const uint8_t *base;
    int fd;
    uint64_t size;
};

/* A validated image. Everything in it is private memory (snap_image_free releases it): the
 * header, the section payloads, the run table. Reading page data goes through src. */
struct snap_image {
    struct snap_header hdr;
    unsigned nsections;
    struct snap_section sec[SNAP_MAX_SECTIONS];
    const struct snap_mem_run *runs; /* inside the memory section's private copy */
    uint64_t nruns;
    struct snap_src src;
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

/* What snap_parse leaves for later. */
enum {
    /* The memory runs' CRCs are not computed (bounds are still checked): the lazy restore
     * checks each run before its first page reaches the guest (snap_run_check). */
    SNAP_PARSE_NO_RUN_CRC = 1,
};

/* Validates an image held in buf (private memory of the caller, which must outlive img).
 * expect_vendor: the host's (NULL: not checked). 0, or -EINVAL with err_set() naming the
 * section and the file offset (no file name: callers add it). After a success release the
 * image with snap_image_free(); a failure releases what it had copied itself (calling
 * snap_image_free() again is harmless). */
int snap_parse(const uint8_t *buf, uint64_t size, const char *expect_vendor, unsigned flags, struct snap_image *img);
/* The same for a file of `size` bytes read through fd (pread: the file offset is not used;
 * fd must stay open while img is used). 0, or a negative errno (-EINVAL for a bad or
 * shrunk file) with err_set(). */
int snap_parse_fd(int fd, uint64_t size, const char *expect_vendor, unsigned flags, struct snap_image *img);
void snap_image_free(struct snap_image *img);
/* Checks memory run i's CRC (reading the file in chunks into private memory): 0, or
 * -EINVAL with err_set() naming run and file offset. */
int snap_run_check(const struct snap_image *img, uint64_t i);
/* Reads run r (run number index, for messages) from src into dst (r->npages pages) and
 * checks its CRC on that copy. The run's file range must lie within src->size. 0, or a
 * negative errno with err_set() (-EINVAL: checksum mismatch, or the file shrank). */
int snap_read_run(const struct snap_src *src, const struct snap_mem_run *r, uint64_t index, uint8_t *dst);
/* Validates the sections the format itself defines beyond their CRCs: the config (size,
 * NUL-terminated strings, 1..SNAP_MAX_VCPUS vCPUs, memory equal to the header's RAM), one
 * vcpu section per vCPU with ids in order, at most one domain-xml (at most
 * SNAP_DOMAIN_XML_MAX bytes) and one mem-target of the right size. Fills *cfg.
 * 0, or -EINVAL with err_set() naming the section and offset. */
int snap_check_config(const struct snap_image *img, struct snap_config *cfg);
/* The first section of `type` (index-th among them), or NULL. */
const struct snap_section *snap_find(const struct snap_image *img, uint32_t type, unsigned index);
/* Copies saved RAM into ram (hdr.ram_size bytes), checking each run's CRC on the copy in
 * ram; pages not saved are left alone (zero). 0, or a negative errno with err_set() naming
 * the run (ram then holds part of the image: the caller discards it). */
int snap_load_memory(const struct snap_image *img, uint8_t *ram);

/* A snapshot file opened read-only and validated (snap_parse_fd and snap_check_config). */
struct snap_file {
    int open; /* fd and img are valid (a zeroed struct is not open) */
    int fd;   /* img.src.fd: kept for reading page data (a lazy restore dups it) */
    size_t len;
    struct snap_image img;
    struct snap_config cfg;
};

/* Opens and validates path against this host's CPU vendor. 0, or a negative errno with
 * err_set() "snapshot PATH: ..." naming the section and offset. */
int snap_file_load(struct snap_file *f, const char *path, unsigned parse_flags);
void snap_file_close(struct snap_file *f);

/* What xenod needs to know about a snapshot file before it starts a monitor on it. */
struct snap_info {
    uint64_t mem_bytes; /* guest RAM */
    uint32_t nvcpus;
    uint64_t pages; /* RAM pages saved in the file */
    uint64_t file_size;
    unsigned ndisks; /* disk sections (the images are named in the domain XML too) */
};

/* Validates path as far as can be done without KVM (everything snap_parse and
 * snap_check_config check, all memory CRCs included, against this host's CPU vendor), fills
 * *info and returns the domain-xml section in *domain_xml (malloc'd, NUL-terminated beyond
 * *xml_len; NULL and 0 if the file has none). domain_xml may be NULL. 0, or a negative errno
 * with err_set() "snapshot PATH: ..." naming the section and offset. */
int snapshot_inspect(const char *path, struct snap_info *info, char **domain_xml, size_t *xml_len);

#endif
