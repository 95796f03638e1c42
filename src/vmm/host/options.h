/* xeno-vmm's command line (see usage() in options.c and docs/control-channel.md). */
#ifndef XENO_VMM_HOST_OPTIONS_H
#define XENO_VMM_HOST_OPTIONS_H

#include <stdint.h>
#include <stdio.h>

#include "lib/domain_config.h"     /* enum lifecycle_action, enum memory_enforcement */
#include "proto/cpu_features.h"    /* struct cpu_features */
#include "vmm/virtio/virtio_blk.h" /* struct virtio_blk_config_host */
#include "vmm/virtio/virtio_net.h" /* struct virtio_net_config_host */

#define OPTIONS_SAVE_DIRS_MAX 8

struct options {
    const char *kernel, *initrd, *cmdline;
    uint64_t mem_size;
    unsigned nvcpus;
    enum lifecycle_action on_poweroff, on_reboot, on_crash;
    const char *run_dir; /* NULL: standalone, console on stdin/stdout */
    const char *name;    /* for log lines; NULL: none */
    uint64_t console_log_size;
    int paused;
    int verbose;
    const char *restore;          /* --restore FILE: resume a snapshot (docs/snapshot-format.md) instead of booting */
    int restore_eager;            /* --restore-eager: copy all saved memory before resuming (default: lazily) */
    const char *domain_xml;       /* --domain-xml FILE: the domain's XML, kept in snapshots (read by main) */
    const char *migrate_incoming; /* --migrate-incoming ADDR:PORT: receive a live migration instead of booting */
    const char *migrate_key;      /* --migrate-key FILE: the shared key for migrations in and out */
    const char *dump_acpi;        /* --dump-acpi DIR: write the ACPI tables there and exit (no kernel) */
    int cpu_report;               /* --cpu-report: print the CPUID policy and the probe's findings, exit */
    int have_cpu_off;             /* --cpu-features-off LIST: names taken out of the CPUID policy */
    struct cpu_features cpu_off;
    enum memory_enforcement memory_enforcement; /* --memory-enforcement: a missed memory target (report) */
    struct sched_params sched;                  /* --cpu-reservation, --cpu-limit, --cpu-weight, --cpu-period */
    /* --net socket=PATH,mac=MAC: one virtio-net interface over vhost-user (docs/machine.md) */
    int have_net;
    struct virtio_net_config_host net; /* net.socket_path points at net_socket */
    char net_socket[108];
    /* --disk socket=PATH,size=BYTES[,readonly][,queues=N], once per disk: virtio-blk disks
     * over vhost-user, in the order given (the guest finds them in that order). */
    unsigned ndisks;
    struct virtio_blk_config_host disks[VIRTIO_BLK_MAX_DISKS]; /* disks[i].socket_path points at disk_socket[i] */
    char disk_socket[VIRTIO_BLK_MAX_DISKS][108];
    /* The sandbox (sandbox.h, docs/security.md): on unless --no-sandbox. `save` may write
     * only into the run directory and the --save-dir directories. */
    int no_sandbox;
    int fill_cache;        /* --fill-cache: write the start-up cache into cache_dir and exit */
    const char *cache_dir; /* --cache-dir DIR: start-up results of earlier monitors (lib/blob_cache.h), or NULL */
    const char *save_dirs[OPTIONS_SAVE_DIRS_MAX];
    unsigned nsave_dirs;
    /* --vcpu-pin N:LIST, --emulator-pin LIST: host CPU affinity (docs/domain-xml.md) */
    uint32_t vcpu_pin_given; /* bit i: vCPU i has vcpu_pin[i] */
    struct cpumask vcpu_pin[DOMAIN_VCPUS_MAX];
    int has_emulator_pin; /* the main thread, and so every thread it starts but the vCPUs' */
    struct cpumask emulator_pin;
};

#define OPTIONS_CONSOLE_LOG_DEFAULT (1ULL << 20)

/* 0, 1 when --help was printed (exit 0), or -1 after logging what is wrong (exit 1). */
int options_parse(int argc, char **argv, struct options *o);
void options_usage(FILE *f);
const char *options_action_name(enum lifecycle_action a);

#endif
