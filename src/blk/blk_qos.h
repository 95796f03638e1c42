/* A disk's QoS as the --disk spec (and xenod's domain XML, through blkxml) states it: the
 * scheduler's reservation and weight, libvirt's <iotune> limits, the libvirt group_name the
 * disk shares its limits with, and the sponsor whose group limit covers all of its disks
 * (docs/blkback.md, "Scheduler"). Pure parsing and checking; blk_sched.c applies it. */
#ifndef XENO_BLK_BLK_QOS_H
#define XENO_BLK_BLK_QOS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "blk/iosched_limit.h"

#define BLK_QOS_NAME_MAX 31 /* group and sponsor names: [A-Za-z0-9_.-], 1..31 */

struct blk_qos {
    uint64_t reservation;               /* cost units per second (iosched.h); 0: none */
    uint32_t weight;                    /* 1..BLK_IOSCHED_WEIGHT_MAX; 0: the default */
    struct blk_iotune iotune;           /* the disk's, or its group's when group[0] is set (libvirt) */
    char group[BLK_QOS_NAME_MAX + 1];   /* libvirt group_name; "" none */
    char sponsor[BLK_QOS_NAME_MAX + 1]; /* "" none */
    struct blk_iotune sponsor_iotune;   /* the sponsor's limit over all its disks (total only) */
};

/* One key=value of a disk spec. 1 when key is not a QoS key (the caller's), 0 when taken,
 * -EINVAL with a message naming the key and the range. Keys: total_bytes_sec,
 * read_bytes_sec, write_bytes_sec, total_iops_sec, read_iops_sec, write_iops_sec (each also
 * _max and _max_length), size_iops_sec, group, sponsor, sponsor_total_iops_sec,
 * sponsor_total_bytes_sec, weight, reservation. */
int blk_qos_word(struct blk_qos *q, const char *key, const char *value);
/* The whole set checked (libvirt's rules: total_* not with read_* or write_*, _max >= the
 * average, _max_length needs _max). 0 or -EINVAL with a message naming `what`. */
int blk_qos_check(const struct blk_qos *q, const char *what);
/* The words of q that are set, "key=value" separated by blanks (as blk_qos_word reads them,
 * sponsor limits left out); "" for none. 0, or -ENAMETOOLONG when they do not fit. */
int blk_qos_format(const struct blk_qos *q, char *buf, size_t size);
/* Whether a and b state the same limits. */
bool blk_iotune_equal(const struct blk_iotune *a, const struct blk_iotune *b);

#endif
