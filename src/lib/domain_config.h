/* A domain's definition, as parsed from its XML (docs/domain-xml.md) and as xenod hands it to
 * the monitor. All paths are absolute: relative ones in the XML resolve against the
 * directory of the XML file. */
#ifndef XENO_LIB_DOMAIN_CONFIG_H
#define XENO_LIB_DOMAIN_CONFIG_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "lib/cpumask.h"      /* struct cpumask: <vcpu cpuset>, <vcpupin>, <emulatorpin> */
#include "lib/domain_disk.h"  /* struct domain_disk: <devices><disk> */
#include "lib/sched_params.h" /* struct sched_params: <cputune>, <xeno:cpu> */

/* Names: [A-Za-z0-9_.-], not all digits (numbers are domain IDs), not starting with '.' or
 * '-' (no "." or "..", nothing that reads as an option). */
#define DOMAIN_NAME_MAX 63
#define DOMAIN_SPONSOR_MAX 127
#define DOMAIN_UUID_LEN 36  /* canonical 8-4-4-4-12, lowercase */
#define DOMAIN_VCPUS_MAX 32 /* the monitor's VM_MAX_VCPUS */
#define DOMAIN_MEMORY_MIN (4ULL << 20)
#define DOMAIN_MEMORY_MAX (1ULL << 40)
#define DOMAIN_CMDLINE_MAX 4095  /* docs/machine.md: the boot command line area */
#define DOMAIN_XML_MAX (1 << 20) /* larger documents are refused unread */

enum lifecycle_action {
    ACTION_DESTROY = 0, /* the domain stops; a transient one is forgotten */
    ACTION_RESTART,     /* a fresh boot of the same definition */
    ACTION_PRESERVE,    /* the monitor stays with the vCPUs stopped, for inspection */
};

/* What the monitor does when the guest misses a memory target's deadline (docs/domain-xml.md,
 * docs/control-interface.md). The event is reported in every case. */
enum memory_enforcement {
    MEMORY_ENFORCE_REPORT = 0, /* nothing but the event (the default) */
    MEMORY_ENFORCE_PAUSE,      /* pause the vCPUs; the operator decides what next */
    MEMORY_ENFORCE_DESTROY,    /* stop the domain: outcome `destroyed`, the reason names the target */
};

/* "report", "pause", "destroy" (also the XML's and the monitor option's words). */
static inline const char *memory_enforcement_name(enum memory_enforcement e)
{
    switch (e) {
    case MEMORY_ENFORCE_PAUSE: return "pause";
    case MEMORY_ENFORCE_DESTROY: return "destroy";
    case MEMORY_ENFORCE_REPORT:
    default: return "report";
    }
}

/* 0 and *out, or -1 for anything but the three words. */
static inline int memory_enforcement_parse(const char *s, enum memory_enforcement *out)
{
    static const enum memory_enforcement all[] = {MEMORY_ENFORCE_REPORT, MEMORY_ENFORCE_PAUSE, MEMORY_ENFORCE_DESTROY};
    for (size_t i = 0; s && i < sizeof(all) / sizeof(all[0]); i++)
        if (strcmp(s, memory_enforcement_name(all[i])) == 0) {
            *out = all[i];
            return 0;
        }
    return -1;
}

/* <interface type="vhostuser"> (docs/domain-xml.md): one virtio-net interface whose frames
 * xeno-netback carries. Rates in bytes per second (the XML's kilobytes/s are libvirt's,
 * 1000 bytes), burst in bytes (its kilobytes are 1024 bytes); 0: not given. */
#define DOMAIN_NET_SOCKET_MAX 107            /* a unix socket path (sun_path) */
#define DOMAIN_NET_RATE_MAX_KB 4294967295ULL /* kilobytes/s, as libvirt's unsigned int */
#define DOMAIN_NET_WEIGHT_MAX 1000

struct domain_bandwidth {
    int given;        /* <inbound>/<outbound> present */
    uint64_t average; /* bytes/s: the rate kept on average (token bucket refill) */
    uint64_t peak;    /* bytes/s: the most at any moment (bursts drain at this) */
    uint64_t burst;   /* bytes: the bucket (what may go at peak) */
    uint64_t floor;   /* bytes/s: guaranteed under contention */
    uint32_t weight;  /* xeno:weight, share of the uplink among domains (DRR); 0: default */
};

struct domain_interface {
    int present;       /* the domain has an interface */
    uint8_t mac[6];    /* <mac address=...>; without one, generated (mac_generated) */
    int mac_generated; /* no <mac>: a random 52:54:00:xx:xx:xx (libvirt's prefix), which the
                          stored definition keeps (domain_xml_canonical writes it) */
    int has_ipv4;
    uint32_t ipv4; /* <xeno:ip address=...>, host byte order: the only source address allowed */
    char socket[DOMAIN_NET_SOCKET_MAX + 1];    /* <source path=...>; "": the run directory's net0.sock */
    struct domain_bandwidth inbound, outbound; /* <bandwidth>: to the domain / from it */
};

/* CPU affinity (docs/domain-xml.md, "CPU affinity"): the host CPUs each thread may run on.
 * Lines are the XML's, for messages about a host that lacks a CPU (0: not given). */
struct domain_affinity {
    int has_cpuset;        /* <vcpu cpuset>: every vCPU without a <vcpupin>, and the monitor */
    struct cpumask cpuset; /*   without an <emulatorpin> */
    long cpuset_line;
    uint32_t vcpupin_given; /* bit i: <vcpupin vcpu='i'> */
    struct cpumask vcpupin[DOMAIN_VCPUS_MAX];
    long vcpupin_line[DOMAIN_VCPUS_MAX];
    int has_emulatorpin; /* <emulatorpin>: the monitor's own threads */
    struct cpumask emulatorpin;
    long emulatorpin_line;
};
/* What vCPU i may run on (NULL: any CPU). */
static inline const struct cpumask *domain_vcpu_mask(const struct domain_affinity *a, unsigned i)
{
    if (i < DOMAIN_VCPUS_MAX && (a->vcpupin_given >> i) & 1)
        return &a->vcpupin[i];
    return a->has_cpuset ? &a->cpuset : NULL;
}
/* What the monitor's own threads may run on (NULL: any CPU); libvirt's rule. */
static inline const struct cpumask *domain_emulator_mask(const struct domain_affinity *a)
{
    return a->has_emulatorpin ? &a->emulatorpin : a->has_cpuset ? &a->cpuset : NULL;
}

/* <memtune> (docs/domain-xml.md, "Memory limits"): limits on the monitor's own memory cgroup
 * (guest RAM, the monitor's memory and what the kernel charges for the VM), in bytes; 0: not
 * given. A hard limit must leave the guest its <memory> and DOMAIN_MEMTUNE_OVERHEAD; the line
 * numbers are for the host-side messages at define. */
#define DOMAIN_MEMTUNE_OVERHEAD (32ULL << 20)
#define DOMAIN_MEMTUNE_MAX (1ULL << 42)
struct domain_memtune {
    uint64_t hard_limit;      /* <hard_limit>: the cgroup's memory.max / memory.limit_in_bytes */
    uint64_t soft_limit;      /* <soft_limit>: memory.high / memory.soft_limit_in_bytes */
    uint64_t swap_hard_limit; /* <swap_hard_limit>: memory plus swap (libvirt's meaning) */
    long line, swap_line;     /* of <memtune> and <swap_hard_limit>; 0: absent */
};
static inline int domain_memtune_given(const struct domain_memtune *m)
{
    return m->hard_limit || m->soft_limit || m->swap_hard_limit;
}

struct domain_config {
    char name[DOMAIN_NAME_MAX + 1];
    char uuid[DOMAIN_UUID_LEN + 1];             /* generated when the XML has none */
    char sponsor[DOMAIN_SPONSOR_MAX + 1];       /* <metadata><xeno:sponsor>; "" if none */
    uint64_t memory_bytes;                      /* <memory> */
    uint64_t current_memory_bytes;              /* <currentMemory>, defaults to memory */
    unsigned vcpus;                             /* <vcpu>, default 1 */
    char *kernel;                               /* <os><kernel>, required, absolute */
    char *initrd;                               /* <os><initrd> or NULL */
    char *cmdline;                              /* <os><cmdline> or NULL */
    char *title;                                /* <title> (one line) or NULL */
    char *description;                          /* <description> (newlines and tabs kept) or NULL */
    enum lifecycle_action on_poweroff;          /* default destroy */
    enum lifecycle_action on_reboot;            /* default restart */
    enum lifecycle_action on_crash;             /* default destroy */
    enum memory_enforcement memory_enforcement; /* <metadata><xeno:memory enforcement=...>; default report */
    struct sched_params sched;                  /* <cputune> (shares, period, quota) and <xeno:cpu reservation=...> */
    struct domain_interface net;                /* <devices><interface>; net.present = 0 without one */
    struct domain_affinity affinity;            /* <vcpu cpuset>, <cputune><vcpupin|emulatorpin> */
    struct domain_memtune memtune;              /* <memtune>; all 0 without one */
    unsigned ndisks;                            /* <devices><disk>s, in document order */
    struct domain_disk disks[DOMAIN_DISKS_MAX];
    uint32_t blkio_weight; /* <blkiotune><weight>: every disk's; 0: not given */
};

/* Parses a domain XML document. `source` names it in messages (a file path, or "<api>");
 * `base_dir` resolves relative paths (NULL: the directory of `source` when it is a file path;
 * a source that starts with '<', like "<api>", or NULL has no directory, and relative paths
 * are then refused). A relative source or base_dir is taken from the current directory.
 * Kernel and initrd must exist as regular files when this runs.
 * On error returns a negative errno and leaves a message "SOURCE:LINE: <element>: what is
 * wrong[; what to do]" in err_msg(); *out is then zeroed, nothing to free. */
int domain_xml_parse(const char *xml, size_t len, const char *source, const char *base_dir, struct domain_config *out);
/* Every problem of one document (docs/domain-xml.md, "Errors"): the refusals and the
 * warnings (elements accepted and ignored), in line order. Each text is one whole line,
 * "SOURCE:LINE: <element>: what". At most DOMAIN_XML_PROBLEMS_MAX are kept; `dropped`
 * counts the rest. */
#define DOMAIN_XML_PROBLEMS_MAX 100
struct domain_xml_problem {
    int warning; /* 1: accepted with a warning; 0: refused */
    long line;   /* 0: the document as a whole */
    char element[64];
    char text[1024];
};
struct domain_xml_report {
    size_t errors, warnings, dropped;
    size_t count; /* items in `items` (errors + warnings - dropped) */
    struct domain_xml_problem *items;
};
/* domain_xml_parse that also fills *rep (zero it first; domain_xml_report_free after, in
 * every case). Returns 0 when the document has warnings only. On refusal err_msg() holds
 * the first error line, followed by " (and N more problems)" when there are more. */
int domain_xml_parse_report(const char *xml, size_t len, const char *source, const char *base_dir,
                            struct domain_config *out, struct domain_xml_report *rep);
void domain_xml_report_free(struct domain_xml_report *rep);
/* Reads and parses a file (messages name the file). */
int domain_xml_parse_file(const char *path, struct domain_config *out);
void domain_config_free(struct domain_config *c);
/* The XML that travels with a domain (in its snapshots): `xml` (which domain_xml_parse
 * accepted) with cfg's name, UUID and absolute kernel/initrd paths written into it, so it
 * parses the same anywhere. *out is malloc'd and NUL-terminated. src/lib/domain_xml_canonical.c */
int domain_xml_canonical(const char *xml, size_t len, const struct domain_config *cfg, char **out, size_t *out_len);

const char *lifecycle_action_name(enum lifecycle_action a);
/* "destroy", "restart", "preserve" -> 0; otherwise -EINVAL. */
int lifecycle_action_parse(const char *s, enum lifecycle_action *out);
/* Whether `name` is a valid domain name (see DOMAIN_NAME_MAX). */
int domain_name_valid(const char *name);
/* A fresh random MAC address with libvirt's prefix 52:54:00 (locally administered, unicast).
 * 0 or a negative errno. */
int domain_mac_generate(uint8_t mac[6]);
/* A fresh random (version 4) UUID, canonical lowercase. 0 or a negative errno. */
int domain_uuid_generate(char out[DOMAIN_UUID_LEN + 1]);

#endif
