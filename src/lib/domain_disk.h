/* A domain's disks, as parsed from <devices><disk> (docs/domain-xml.md, "Disks"): each one a
 * virtio-blk device whose image xeno-blkback serves from the operator's image directory.
 * Included by lib/domain_config.h; the parser is src/lib/domain_xml_disk.c, the image-
 * directory resolution and the backend's --disk spec src/lib/domain_disk.c. */
#ifndef XENO_LIB_DOMAIN_DISK_H
#define XENO_LIB_DOMAIN_DISK_H

#include <stddef.h>
#include <stdint.h>

/* Disks per domain. The XML and xeno-blkback (32 disks in all) take this many; a bound so a
 * sponsor's document cannot make xenod start hundreds of devices for one domain. */
#define DOMAIN_DISKS_MAX 8
#define DOMAIN_DISK_FILE_MAX 511  /* <source file> as written: a name or an absolute path */
#define DOMAIN_DISK_SERIAL_MAX 20 /* virtio-blk GET_ID: 20 bytes */
#define DOMAIN_DISK_GROUP_MAX 31  /* <iotune><group_name> */
#define DOMAIN_DISK_TARGET_MAX 7  /* <target dev='vda'> */
/* <driver queues='N'>: request queues per disk; xeno-blkback serves at most 4 (BLK_MAX_QUEUES),
 * the monitor's front end takes up to 8. */
#define DOMAIN_DISK_QUEUES_MAX 4
#define DOMAIN_DISK_WEIGHT_MIN 100 /* <blkiotune><weight>: libvirt's range */
#define DOMAIN_DISK_WEIGHT_MAX 1000
#define DOMAIN_DISK_RESERVATION_MAX 100000000ULL  /* <xeno:iotune reservation>: units/s */
#define DOMAIN_DISK_IOTUNE_VALUE_MAX (1ULL << 53) /* bytes/s or operations/s */
/* A sponsor's limit over all its disks (its policy), per second: xeno-blkback's largest rate
 * (BLK_LIMIT_MAX_RATE). */
#define DOMAIN_DISK_SPONSOR_RATE_MAX (1ULL << 40)

/* libvirt's <iotune> children, in libvirt's order; also the words of xeno-blkback's --disk
 * spec (the same names), which the backend's scheduler reads (docs/blkback.md, "Scheduler"). */
enum domain_iotune_key {
    IOTUNE_TOTAL_BYTES,
    IOTUNE_READ_BYTES,
    IOTUNE_WRITE_BYTES,
    IOTUNE_TOTAL_IOPS,
    IOTUNE_READ_IOPS,
    IOTUNE_WRITE_IOPS,
    IOTUNE_TOTAL_BYTES_MAX,
    IOTUNE_READ_BYTES_MAX,
    IOTUNE_WRITE_BYTES_MAX,
    IOTUNE_TOTAL_IOPS_MAX,
    IOTUNE_READ_IOPS_MAX,
    IOTUNE_WRITE_IOPS_MAX,
    IOTUNE_SIZE_IOPS,
    IOTUNE_TOTAL_BYTES_MAX_LENGTH,
    IOTUNE_READ_BYTES_MAX_LENGTH,
    IOTUNE_WRITE_BYTES_MAX_LENGTH,
    IOTUNE_TOTAL_IOPS_MAX_LENGTH,
    IOTUNE_READ_IOPS_MAX_LENGTH,
    IOTUNE_WRITE_IOPS_MAX_LENGTH,
    IOTUNE_KEYS
};
/* "total_bytes_sec", ... "write_iops_sec_max_length". */
extern const char *const domain_iotune_names[IOTUNE_KEYS];

enum domain_disk_format {
    DISK_FORMAT_RAW = 0, /* <driver type='raw'>: a raw (sparse) file */
    DISK_FORMAT_OVERLAY, /* <driver type='xeno-overlay'>: our copy-on-write overlay (*.ovl) */
};

struct domain_disk {
    /* <source file>: an image name relative to the image directory, or (as written, before
     * domain_disks_resolve) an absolute path that must lie inside it. Inline, not malloc'd:
     * xenod copies configurations by assignment. */
    char file[DOMAIN_DISK_FILE_MAX + 1];
    enum domain_disk_format format;
    char target[DOMAIN_DISK_TARGET_MAX + 1]; /* "vda".."vdz": the disk's name to xeno-blkback */
    int readonly;                            /* <readonly/> */
    unsigned queues;                         /* <driver queues>: 1..DOMAIN_DISK_QUEUES_MAX; 0: not given (1) */
    char serial[DOMAIN_DISK_SERIAL_MAX + 1]; /* <serial>; "": none */
    uint64_t iotune[IOTUNE_KEYS];            /* <iotune>; 0: not given */
    char group[DOMAIN_DISK_GROUP_MAX + 1];   /* <iotune><group_name>; "": none */
    uint64_t reservation;                    /* <xeno:iotune reservation>, units/s; 0: none */
    int qos_changed;                         /* changed after define: the canonical XML writes it */
    long line;                               /* of <disk>, for messages after the parse */
    long source_line;                        /* of <source> */
};

struct domain_config;

/* libvirt's rules for one disk's <iotune> values (v[IOTUNE_KEYS], 0: not given): total_* not
 * with read_* or write_*, a _max only above its average, a _max_length only with its _max.
 * 0, or -EINVAL with a message naming the elements. */
int domain_iotune_check(const uint64_t *v);

/* A change of one disk's QoS (`xenctl disk-qos`, as `virsh blkdeviotune`): each given value
 * replaces the disk's (0: none), the others stay. */
#define DISK_QOS_WEIGHT IOTUNE_KEYS            /* bit of `given`: the domain's <blkiotune> weight */
#define DISK_QOS_RESERVATION (IOTUNE_KEYS + 1) /* bit of `given`: <xeno:iotune reservation> */
struct domain_disk_qos {
    uint32_t given; /* bit k: iotune[k]; bits DISK_QOS_WEIGHT, DISK_QOS_RESERVATION */
    uint64_t iotune[IOTUNE_KEYS];
    uint32_t weight; /* 0 or DOMAIN_DISK_WEIGHT_MIN..MAX */
    uint64_t reservation;
};
/* q applied to `disk` and the domain's <blkiotune> weight, libvirt's rules checked
 * (domain_iotune_check): 0, or -EINVAL with nothing changed. */
int domain_disk_qos_merge(const struct domain_disk_qos *q, struct domain_disk *disk, uint32_t *weight);

/* Makes every disk's file a name relative to `image_dir` (absolute, no trailing '/'): an
 * absolute path inside it loses the directory, a relative name is kept; anything else is
 * refused, "SOURCE:LINE: <source>: ...", with `source` naming the document as the parser's
 * messages do. 0 or -EINVAL (err_set). */
int domain_disks_resolve(struct domain_config *c, const char *image_dir, const char *source);

/* A group's name on xeno-blkback ([A-Za-z0-9_.-], 1..31, host-wide): `prefix` then `name` as
 * they are when that is at most 30 characters of those, else `prefix`, 'h' and the hex of
 * SHA-256(name) up to exactly 31. Any name gets a group this way (a sponsor named "Acme Corp",
 * a group_name of 31 characters after a domain's tag) and the two forms never meet: a name
 * used as it is has at most 30 characters, a hashed one 31. Distinct names share a hashed
 * group only by a SHA-256 collision in its first 4 x (30 - strlen(prefix)) bits: 120 for a
 * sponsor (no prefix), 72 within one domain's groups (its 12-character tag). 0, or
 * -ENAMETOOLONG when prefix leaves fewer than 16 hex digits. */
#define DOMAIN_DISK_KEY_SIZE 32
int domain_disk_group_key(const char *prefix, const char *name, char out[DOMAIN_DISK_KEY_SIZE]);

/* xeno-blkback's --disk spec (also its control socket's add-disk) for disk i of c
 * (docs/blkback.md, "Running it"): "name=TAG-vda,socket=SOCKET,file=FILE[,readonly]
 * [,queues=N][,serial=S][,KEY=V...][,group=TAG-G (domain_disk_group_key)][,weight=W][,reservation=R]", the KEYs being
 * domain_iotune_names. `tag` names the domain on the host ([a-z0-9_], xenod's "d" and the
 * domain's ID): the backend's disk and group names are host-wide, libvirt's group_name is the
 * domain's own. `socket` is the monitor's vhost-user socket for the disk. The XML's values were
 * checked by the parser (no commas, no control characters) and are checked again here. 0,
 * -EINVAL (a comma, blank or control character in tag, socket, file, target or serial), or
 * -ENAMETOOLONG when it does not fit `size`. */
int domain_disk_spec(const struct domain_config *c, unsigned i, const char *tag, const char *socket, char *out,
                     size_t size);

#endif
