#include "vmm/host/options.h"

#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lib/err.h"
#include "lib/log.h"
#include "lib/mac_addr.h"
#include "lib/parse.h"
#include "vmm/host/console_log.h"
#include "vmm/machine/vm.h"

void options_usage(FILE *f)
{
    fprintf(f,
            "usage: xeno-vmm --kernel FILE [--initrd FILE] [--cmdline STR] [--memory SIZE] [--vcpus N]\n"
            "                [--on-poweroff ACTION] [--on-reboot ACTION] [--on-crash ACTION]\n"
            "                [--run-dir DIR [--name NAME] [--console-log-size SIZE] [--paused]]\n"
            "                [--memory-enforcement pause|destroy|report] [--verbose]\n"
            "                [--cpu-reservation PCT] [--cpu-limit PCT] [--cpu-weight N] [--cpu-period TIME]\n"
            "                [--net [socket=PATH,]mac=MAC] [--vcpu-pin N:LIST]... [--emulator-pin LIST]\n"
            "       xeno-vmm --restore FILE [--restore-eager] [--run-dir DIR [--name NAME] [--paused]] ...\n"
            "       xeno-vmm --migrate-incoming ADDR:PORT --migrate-key FILE [--run-dir DIR [--name NAME]] ...\n"
            "       xeno-vmm --dump-acpi DIR [--memory SIZE] [--vcpus N]\n"
            "       xeno-vmm --cpu-report [--cpu-features-off LIST]\n"
            "       xeno-vmm --fill-cache --cache-dir DIR [--vcpus N] [--cpu-features-off LIST]\n"
            "\n"
            "Boots a PVH ELF kernel in a KVM virtual machine. Standalone, its serial console (COM1)\n"
            "is this program's stdin and stdout; on a terminal, Ctrl-] stops the domain. With\n"
            "--run-dir it runs under xenod: console, control channel and counters live in DIR\n"
            "(docs/control-channel.md).\n"
            "\n"
            "  --kernel FILE            ELF kernel with a Xen PVH entry note (required)\n"
            "  --initrd FILE            initial ramdisk, passed as the PVH module\n"
            "  --cmdline STR            kernel command line (at most 4095 bytes)\n"
            "  --memory SIZE            guest RAM, e.g. 64M, 1G (default 64M; a bare number is MiB)\n"
            "  --vcpus N                virtual CPUs, 1 to %d (default 1)\n"
            "  --on-poweroff ACTION     when the guest powers off: destroy (default), restart, preserve\n"
            "  --on-reboot ACTION       when the guest resets: destroy (default; also 'exit'), restart,\n"
            "                           preserve\n"
            "  --on-crash ACTION        when the guest crashes: destroy (default), restart, preserve\n"
            "                           (destroy: exit; restart: boot a fresh VM in this process;\n"
            "                           preserve: keep the stopped domain until destroyed)\n"
            "  --run-dir DIR            daemon mode: control.sock, console.sock, console.log, stats,\n"
            "                           pid and outcome in DIR (created 0700)\n"
            "  --name NAME              the domain's name, in log lines\n"
            "  --console-log-size SIZE  console.log rotates at SIZE (default 1M; a bare number is bytes)\n"
            "  --paused                 start with the vCPUs paused (unpause over the control socket)\n"
            "  --memory-enforcement E   when the guest misses a memory target set over the control socket\n"
            "                           (mem-set): pause its vCPUs, destroy it, or report (default) only\n"
            "  --cpu-reservation PCT    CPU guaranteed to the domain in every period, all vCPUs together,\n"
            "                           e.g. 30%% (of one CPU; needs root for real-time priority)\n"
            "  --cpu-limit PCT          hard ceiling per period, all vCPUs together, e.g. 50%% (default none)\n"
            "  --cpu-weight N           share of the CPU nobody reserved, 2 to 262144 (default 1024)\n"
            "  --cpu-period TIME        the time scale of reservation and limit, 1ms to 1s (default 10ms)\n"
            "                           (docs/scheduling.md)\n"
            "  --vcpu-pin N:LIST        vCPU N runs only on host CPUs LIST (libvirt's cpuset syntax,\n"
            "                           e.g. 0-3,^2); repeat for each vCPU\n"
            "  --emulator-pin LIST      the monitor's other threads run only on CPUs LIST\n"
            "  --net socket=PATH,mac=MAC  a virtio-net interface whose frames a vhost-user backend\n"
            "                           (xeno-netback) carries; the monitor listens on PATH (default\n"
            "                           with --run-dir: DIR/net0.sock) and the backend connects. One\n"
            "                           interface, MAC like 52:54:00:12:34:56\n"
            "  --disk socket=PATH,size=BYTES[,readonly][,queues=N]  a virtio-blk disk whose requests a\n"
            "                           vhost-user backend (xeno-blkback) serves; the monitor listens on\n"
            "                           PATH. Once per disk (at most 8), each with its own PATH;\n"
            "                           queues=N (1..8, default 1) request queues, which the\n"
            "                           backend must serve (multi-queue)\n"
            "  --cpu-features-off LIST  take CPU features out of what the guest is offered, e.g. avx2,smap\n"
            "                           (names as --cpu-report prints them; a migration or restore then\n"
            "                           refuses a domain that saw them: docs/machine.md, \"CPUID\")\n"
            "  --cpu-report             print the CPUID policy, what this host's guests really see, and exit\n"
            "  --verbose                debug messages\n"
            "  --restore FILE           resume the domain saved in FILE (control request save; memory,\n"
            "                           vCPUs, kernel, command line and actions come from the file);\n"
            "                           memory is filled in lazily while the guest runs\n"
            "  --restore-eager          with --restore: copy all saved memory before the guest runs\n"
            "  --domain-xml FILE        the domain's XML (at most 1 MiB), kept in snapshots; a restore\n"
            "                           keeps the snapshot's unless this is given\n"
            "  --migrate-incoming ADDR:PORT  wait there for one live migration (docs/migration.md) and\n"
            "                           run the domain it brings (memory, vCPUs, kernel, actions)\n"
            "  --migrate-key FILE       shared key (at least 16 bytes, mode 0600) both ends must hold;\n"
            "                           also the default key of the control request migrate\n"
            "  --save-dir DIR           the control request save may write there (repeatable, at most 8);\n"
            "                           without any: the directory holding --run-dir. Other paths are\n"
            "                           refused by the sandbox\n"
            "  --cache-dir DIR          reuse start-up work of earlier monitors of this binary on this\n"
            "                           host kept in DIR (the CPUID probe's result, the seccomp programs;\n"
            "                           xenod names STATE/cache); read only, entries checked\n"
            "  --fill-cache             with --cache-dir: compute those results (for 1 to --vcpus vCPUs),\n"
            "                           write them into DIR and exit (xenod runs it once at its start)\n"
            "  --no-sandbox             debugging only: no seccomp, Landlock, capability drop or limits\n"
            "                           (docs/security.md, Monitor sandbox)\n"
            "  --dump-acpi DIR          write the ACPI tables this configuration gets into DIR (rsdp.dat,\n"
            "                           xsdt.dat, facp.dat, apic.dat, dsdt.dat), list its devices, exit\n"
            "\n"
            "Exit status: 0 powered off (or destroyed over the control socket), 1 bad input,\n"
            "2 reboot, 3 guest crashed, 4 host failure, 128+N stopped by signal N.\n",
            VM_MAX_VCPUS);
}

const char *options_action_name(enum lifecycle_action a)
{
    switch (a) {
    case ACTION_RESTART: return "restart";
    case ACTION_PRESERVE: return "preserve";
    case ACTION_DESTROY:
    default: return "destroy";
    }
}

static int parse_action(const char *opt, const char *text, enum lifecycle_action *out)
{
    if (strcmp(text, "destroy") == 0 || (strcmp(opt, "on-reboot") == 0 && strcmp(text, "exit") == 0))
        *out = ACTION_DESTROY;
    else if (strcmp(text, "restart") == 0)
        *out = ACTION_RESTART;
    else if (strcmp(text, "preserve") == 0)
        *out = ACTION_PRESERVE;
    else if (strcmp(opt, "on-reboot") == 0) {
        log_error("--on-reboot '%s': expected exit or restart (or destroy, the same as exit, or preserve)", text);
        return -1;
    } else {
        log_error("--%s '%s': expected destroy, restart or preserve", opt, text);
        return -1;
    }
    return 0;
}

static int host_ram(uint64_t *bytes)
{
    long pages = sysconf(_SC_PHYS_PAGES), psize = sysconf(_SC_PAGESIZE);
    if (pages <= 0 || psize <= 0)
        return -1;
    *bytes = (uint64_t)pages * (uint64_t)psize;
    return 0;
}

static int parse_memory(const char *text, struct options *o)
{
    uint64_t v, ram;
    if (parse_size(text, 1ULL << 20, &v) < 0) {
        log_error("--memory: %s", err_msg());
        return -1;
    }
    if (v < VM_MIN_MEMORY || v % 4096) {
        log_error("--memory %s: must be at least %llu MiB and a multiple of 4 KiB", text, VM_MIN_MEMORY >> 20);
        return -1;
    }
    if (host_ram(&ram) == 0 && v > ram) {
        log_error("--memory %s: more than this host's %llu MiB of RAM", text, (unsigned long long)(ram >> 20));
        return -1;
    }
    o->mem_size = v;
    return 0;
}

enum {
    OPT_POWEROFF = 256,
    OPT_CRASH,
    OPT_RUN_DIR,
    OPT_NAME,
    OPT_LOG_SIZE,
    OPT_PAUSED,
    OPT_DUMP_ACPI,
    OPT_MEM_ENFORCE,
    OPT_RESTORE,
    OPT_RESTORE_EAGER,
    OPT_DOMAIN_XML
};
/* The network interface (virtio_net.h). */
enum { OPT_NET = 320, OPT_DISK };
/* Live migration (docs/migration.md). */
enum { OPT_MIG_IN = 340, OPT_MIG_KEY };
enum {
    OPT_SAVE_DIR = 360,
    OPT_NO_SANDBOX,
    OPT_CPU_REPORT,
    OPT_CPU_OFF,
    OPT_CACHE_DIR,
    OPT_FILL_CACHE
}; /* CPU: docs/machine.md, "CPUID" */
/* The CPU scheduling options (docs/scheduling.md). */
enum { OPT_CPU_RES = 300, OPT_CPU_LIMIT, OPT_CPU_WEIGHT, OPT_CPU_PERIOD };
enum { OPT_VCPU_PIN = 380, OPT_EMU_PIN }; /* host CPU affinity (docs/domain-xml.md) */

/* --vcpu-pin N:LIST (LIST in libvirt's cpuset syntax) and --emulator-pin LIST. */
static int parse_pin(int c, const char *text, struct options *o)
{
    char why[300];
    uint64_t i = 0;
    const char *list = text;
    if (c == OPT_VCPU_PIN) {
        const char *colon = strchr(text, ':');
        char num[8];
        if (!colon || colon == text || (size_t)(colon - text) >= sizeof(num)) {
            log_error("--vcpu-pin '%s': expected N:LIST, e.g. 0:2-3", text);
            return -1;
        }
        memcpy(num, text, (size_t)(colon - text));
        num[colon - text] = 0;
        if (parse_u64_range(num, 0, VM_MAX_VCPUS - 1, &i) < 0) {
            log_error("--vcpu-pin '%s': vCPU %s is not 0 to %d", text, num, VM_MAX_VCPUS - 1);
            return -1;
        }
        list = colon + 1;
    }
    struct cpumask *m = c == OPT_VCPU_PIN ? &o->vcpu_pin[i] : &o->emulator_pin;
    if (cpumask_parse(list, m, why, sizeof(why)) < 0) {
        log_error("--%s: %s", c == OPT_VCPU_PIN ? "vcpu-pin" : "emulator-pin", why);
        return -1;
    }
    if (c == OPT_VCPU_PIN)
        o->vcpu_pin_given |= 1u << i;
    else
        o->has_emulator_pin = 1;
    return 0;
}

/* --cpu-*: 0, or -1 after logging what is wrong. Combined checks come after all options. */
static int parse_cpu_option(int c, const char *text, struct sched_params *p)
{
    uint64_t v = 0;
    switch (c) {
    case OPT_CPU_RES:
    case OPT_CPU_LIMIT:
        if (parse_percent_ppm(text, (uint64_t)VM_MAX_VCPUS * SCHED_PPM, &v) < 0) {
            log_error("--cpu-%s: %s", c == OPT_CPU_RES ? "reservation" : "limit", err_msg());
            return -1;
        }
        *(c == OPT_CPU_RES ? &p->reservation_ppm : &p->limit_ppm) = (uint32_t)v;
        return 0;
    case OPT_CPU_WEIGHT:
        if (parse_u64_range(text, SCHED_WEIGHT_MIN, SCHED_WEIGHT_MAX, &v) < 0) {
            log_error("--cpu-weight: %s", err_msg());
            return -1;
        }
        p->weight = (uint32_t)v;
        return 0;
    default:
        if (parse_duration_us(text, SCHED_PERIOD_MAX_US, &v) < 0) {
            log_error("--cpu-period: %s", err_msg());
            return -1;
        }
        if (v < SCHED_PERIOD_MIN_US) {
            log_error("--cpu-period %s: the shortest period is 1ms", text);
            return -1;
        }
        p->period_us = (uint32_t)v;
        return 0;
    }
}

/* --net socket=PATH,mac=MAC (either order; socket may be left out under --run-dir). */
static int parse_net(const char *text, struct options *o)
{
    char buf[512];
    int have_mac = 0;
    if (o->have_net) {
        log_error("--net given twice: a domain has one network interface");
        return -1;
    }
    if (strlen(text) >= sizeof(buf)) {
        log_error("--net: the value is too long");
        return -1;
    }
    strcpy(buf, text);
    for (char *save = NULL, *item = strtok_r(buf, ",", &save); item; item = strtok_r(NULL, ",", &save)) {
        if (strncmp(item, "socket=", 7) == 0) {
            if (strlen(item + 7) == 0 || strlen(item + 7) >= sizeof(o->net_socket)) {
                log_error("--net socket=%s: a unix socket path of 1 to %zu bytes is needed", item + 7,
                          sizeof(o->net_socket) - 1);
                return -1;
            }
            strcpy(o->net_socket, item + 7);
        } else if (strncmp(item, "mac=", 4) == 0) {
            if (mac_addr_parse(item + 4, o->net.mac) < 0) {
                log_error("--net mac: %s", err_msg());
                return -1;
            }
            have_mac = 1;
        } else {
            log_error("--net: unknown setting '%s' (expected socket=PATH and mac=MAC)", item);
            return -1;
        }
    }
    if (!have_mac) {
        log_error("--net %s: mac=MAC is required (e.g. mac=52:54:00:12:34:56)", text);
        return -1;
    }
    o->have_net = 1;
    o->net.socket_path = o->net_socket;
    return 0;
}

/* One setting of --disk (an item between commas) into *d / *socket. 0 or -1 (logged). */
static int parse_disk_item(char *item, struct virtio_blk_config_host *d, char *socket, size_t socket_size)
{
    if (strncmp(item, "socket=", 7) == 0) {
        if (strlen(item + 7) == 0 || strlen(item + 7) >= socket_size) {
            log_error("--disk socket=%s: a unix socket path of 1 to %zu bytes is needed", item + 7, socket_size - 1);
            return -1;
        }
        strcpy(socket, item + 7);
    } else if (strncmp(item, "size=", 5) == 0) {
        if (parse_size(item + 5, 1, &d->capacity) < 0 || d->capacity < 512 || d->capacity % 512) {
            log_error("--disk size=%s: a size in bytes, a non-zero multiple of 512", item + 5);
            return -1;
        }
    } else if (strncmp(item, "queues=", 7) == 0) {
        char *end;
        errno = 0;
        unsigned long q = strtoul(item + 7, &end, 10);
        if (errno || end == item + 7 || *end || item[7] == '-' || q < 1 || q > VIRTIO_BLK_MAX_QUEUES) {
            log_error("--disk queues=%s: 1 to %d request queues", item + 7, VIRTIO_BLK_MAX_QUEUES);
            return -1;
        }
        d->queues = (unsigned)q;
    } else if (strcmp(item, "readonly") == 0) {
        d->readonly = true;
    } else {
        log_error("--disk: unknown setting '%s' (expected socket=PATH, size=BYTES, readonly, queues=N)", item);
        return -1;
    }
    return 0;
}

/* --disk socket=PATH,size=BYTES[,readonly][,queues=N], once per disk: a virtio-blk disk over
 * vhost-user; size is the image's (its owner, xenod or the operator, knows it; the monitor
 * never opens it). Each disk has its own socket: its own backend connection. */
static int parse_disk(const char *text, struct options *o)
{
    char buf[512];
    if (o->ndisks >= VIRTIO_BLK_MAX_DISKS) {
        log_error("--disk given more than %d times: a domain has at most %d disks", VIRTIO_BLK_MAX_DISKS,
                  VIRTIO_BLK_MAX_DISKS);
        return -1;
    }
    if (strlen(text) >= sizeof(buf)) {
        log_error("--disk: the value is too long");
        return -1;
    }
    strcpy(buf, text);
    unsigned n = o->ndisks;
    struct virtio_blk_config_host *d = &o->disks[n];
    char *socket = o->disk_socket[n];
    *d = (struct virtio_blk_config_host){.queues = 1, .index = n};
    socket[0] = 0;
    for (char *save = NULL, *item = strtok_r(buf, ",", &save); item; item = strtok_r(NULL, ",", &save))
        if (parse_disk_item(item, d, socket, sizeof(o->disk_socket[n])) < 0)
            return -1;
    if (!socket[0] || !d->capacity) {
        log_error("--disk %s: socket=PATH and size=BYTES are required", text);
        return -1;
    }
    for (unsigned i = 0; i < n; i++)
        if (strcmp(o->disk_socket[i], socket) == 0) {
            log_error("--disk socket=%s: two disks cannot share a socket (each has its own backend connection)",
                      socket);
            return -1;
        }
    d->socket_path = socket;
    o->ndisks = n + 1;
    return 0;
}

/* One option's value (getopt_long's c and optarg). 0 taken; 1 not an option we know; -1 a
 * bad value (logged). */
static int option_value(int c, struct options *o, int *log_size_given)
{
    uint64_t v;
    switch (c) {
    case 'k': o->kernel = optarg; break;
    case 'i': o->initrd = optarg; break;
    case 'c': o->cmdline = optarg; break;
    case 'm':
        if (parse_memory(optarg, o) < 0)
            return -1;
        break;
    case 'n':
        if (parse_u64_range(optarg, 1, VM_MAX_VCPUS, &v) < 0) {
            log_error("--vcpus: %s", err_msg());
            return -1;
        }
        o->nvcpus = (unsigned)v;
        break;
    case 'r':
        if (parse_action("on-reboot", optarg, &o->on_reboot) < 0)
            return -1;
        break;
    case OPT_POWEROFF:
        if (parse_action("on-poweroff", optarg, &o->on_poweroff) < 0)
            return -1;
        break;
    case OPT_CRASH:
        if (parse_action("on-crash", optarg, &o->on_crash) < 0)
            return -1;
        break;
    case OPT_RUN_DIR: o->run_dir = optarg; break;
    case OPT_NAME: o->name = optarg; break;
    case OPT_LOG_SIZE:
        if (parse_size(optarg, 1, &v) < 0) {
            log_error("--console-log-size: %s", err_msg());
            return -1;
        }
        if (v < CONSOLE_LOG_MIN) {
            log_error("--console-log-size %s: must be at least %d bytes", optarg, CONSOLE_LOG_MIN);
            return -1;
        }
        o->console_log_size = v;
        *log_size_given = 1;
        break;
    case OPT_PAUSED: o->paused = 1; break;
    case 'v': o->verbose = 1; break;
    case OPT_DUMP_ACPI: o->dump_acpi = optarg; break;
    case OPT_RESTORE: o->restore = optarg; break;
    case OPT_RESTORE_EAGER: o->restore_eager = 1; break;
    case OPT_DOMAIN_XML: o->domain_xml = optarg; break;
    case OPT_MEM_ENFORCE:
        if (memory_enforcement_parse(optarg, &o->memory_enforcement) < 0) {
            log_error("--memory-enforcement '%s': expected pause, destroy or report", optarg);
            return -1;
        }
        break;
    case OPT_NET:
        if (parse_net(optarg, o) < 0)
            return -1;
        break;
    case OPT_DISK:
        if (parse_disk(optarg, o) < 0)
            return -1;
        break;
    case OPT_MIG_IN: o->migrate_incoming = optarg; break;
    case OPT_MIG_KEY: o->migrate_key = optarg; break;
    case OPT_NO_SANDBOX: o->no_sandbox = 1; break;
    case OPT_SAVE_DIR:
        if (optarg[0] != '/' || o->nsave_dirs == OPTIONS_SAVE_DIRS_MAX) {
            log_error("--save-dir '%s': an absolute path, at most %d of them", optarg, OPTIONS_SAVE_DIRS_MAX);
            return -1;
        }
        o->save_dirs[o->nsave_dirs++] = optarg;
        break;
    case OPT_CPU_REPORT: o->cpu_report = 1; break;
    case OPT_CACHE_DIR:
        if (optarg[0] != '/') {
            log_error("--cache-dir '%s': an absolute path", optarg);
            return -1;
        }
        o->cache_dir = optarg;
        break;
    case OPT_FILL_CACHE: o->fill_cache = 1; break;
    case OPT_CPU_OFF:
        if (cpuf_parse(optarg, &o->cpu_off) < 0) {
            log_error("--cpu-features-off: %s", err_msg());
            return -1;
        }
        o->have_cpu_off = 1;
        break;
    case OPT_CPU_RES:
    case OPT_CPU_LIMIT:
    case OPT_CPU_WEIGHT:
    case OPT_CPU_PERIOD:
        if (parse_cpu_option(c, optarg, &o->sched) < 0)
            return -1;
        break;
    case OPT_VCPU_PIN:
    case OPT_EMU_PIN:
        if (parse_pin(c, optarg, o) < 0)
            return -1;
        break;
    default: return 1;
    }
    return 0;
}

/* What only the whole command line shows: options that need or exclude others. */
static int check_combination(struct options *o, int log_size_given)
{
    if (o->restore && o->kernel) {
        log_error("--restore and --kernel do not go together: a snapshot brings its own machine");
        return -1;
    }
    if (o->restore_eager && !o->restore) {
        log_error("--restore-eager needs --restore FILE");
        return -1;
    }
    if (o->migrate_incoming && (o->kernel || o->restore)) {
        log_error("--migrate-incoming takes the domain from the source: no --kernel or --restore with it");
        return -1;
    }
    if (o->migrate_incoming && !o->migrate_key) {
        log_error("--migrate-incoming needs --migrate-key FILE (the key the source must prove it holds)");
        return -1;
    }
    if (!o->kernel && !o->dump_acpi && !o->cpu_report && !o->fill_cache && !o->restore && !o->migrate_incoming) {
        log_error("no kernel given: use --kernel FILE (see --help)");
        return -1;
    }
    char why[256];
    if (sched_params_check(&o->sched, o->nvcpus, why, sizeof(why)) < 0) {
        log_error("--cpu-*: %s", why);
        return -1;
    }
    /* A restore or migration brings its vCPU count: a pin beyond it is refused there. */
    if (!o->restore && !o->migrate_incoming && o->vcpu_pin_given >> o->nvcpus) {
        log_error("--vcpu-pin %d: there are %u vCPUs", 31 - __builtin_clz(o->vcpu_pin_given), o->nvcpus);
        return -1;
    }
    o->net.run_dir = o->run_dir; /* a stale socket of ours there may be replaced */
    for (unsigned i = 0; i < o->ndisks; i++)
        o->disks[i].run_dir = o->run_dir;
    if (o->have_net && !o->net_socket[0]) {
        if (!o->run_dir) {
            log_error("--net needs socket=PATH without --run-dir (with it, the default is DIR/net0.sock)");
            return -1;
        }
        if ((size_t)snprintf(o->net_socket, sizeof(o->net_socket), "%s/net0.sock", o->run_dir) >=
            sizeof(o->net_socket)) {
            log_error("--net: %s/net0.sock is too long for a unix socket path; give socket=PATH", o->run_dir);
            return -1;
        }
    }
    if (!o->run_dir && (o->paused || log_size_given)) {
        log_error("%s needs --run-dir (%s)", o->paused ? "--paused" : "--console-log-size",
                  o->paused ? "only the control socket can unpause" : "there is no console log without it");
        return -1;
    }
    return 0;
}

int options_parse(int argc, char **argv, struct options *o)
{
    static const struct option longopts[] = {{"kernel", required_argument, NULL, 'k'},
                                             {"initrd", required_argument, NULL, 'i'},
                                             {"cmdline", required_argument, NULL, 'c'},
                                             {"memory", required_argument, NULL, 'm'},
                                             {"vcpus", required_argument, NULL, 'n'},
                                             {"on-reboot", required_argument, NULL, 'r'},
                                             {"on-poweroff", required_argument, NULL, OPT_POWEROFF},
                                             {"on-crash", required_argument, NULL, OPT_CRASH},
                                             {"run-dir", required_argument, NULL, OPT_RUN_DIR},
                                             {"name", required_argument, NULL, OPT_NAME},
                                             {"console-log-size", required_argument, NULL, OPT_LOG_SIZE},
                                             {"paused", no_argument, NULL, OPT_PAUSED},
                                             {"verbose", no_argument, NULL, 'v'},
                                             {"dump-acpi", required_argument, NULL, OPT_DUMP_ACPI},
                                             {"restore", required_argument, NULL, OPT_RESTORE},
                                             {"restore-eager", no_argument, NULL, OPT_RESTORE_EAGER},
                                             {"domain-xml", required_argument, NULL, OPT_DOMAIN_XML},
                                             {"memory-enforcement", required_argument, NULL, OPT_MEM_ENFORCE},
                                             {"net", required_argument, NULL, OPT_NET},
                                             {"disk", required_argument, NULL, OPT_DISK},
                                             {"migrate-incoming", required_argument, NULL, OPT_MIG_IN},
                                             {"migrate-key", required_argument, NULL, OPT_MIG_KEY},
                                             {"cpu-reservation", required_argument, NULL, OPT_CPU_RES},
                                             {"cpu-limit", required_argument, NULL, OPT_CPU_LIMIT},
                                             {"cpu-weight", required_argument, NULL, OPT_CPU_WEIGHT},
                                             {"cpu-period", required_argument, NULL, OPT_CPU_PERIOD},
                                             {"save-dir", required_argument, NULL, OPT_SAVE_DIR},
                                             {"no-sandbox", no_argument, NULL, OPT_NO_SANDBOX},
                                             {"cpu-report", no_argument, NULL, OPT_CPU_REPORT},
                                             {"cpu-features-off", required_argument, NULL, OPT_CPU_OFF},
                                             {"cache-dir", required_argument, NULL, OPT_CACHE_DIR},
                                             {"fill-cache", no_argument, NULL, OPT_FILL_CACHE},
                                             {"vcpu-pin", required_argument, NULL, OPT_VCPU_PIN},
                                             {"emulator-pin", required_argument, NULL, OPT_EMU_PIN},
                                             {"help", no_argument, NULL, 'h'},
                                             {NULL, 0, NULL, 0}};
    int c, log_size_given = 0;
    *o = (struct options){.cmdline = "",
                          .mem_size = 64ULL << 20,
                          .nvcpus = 1,
                          .console_log_size = OPTIONS_CONSOLE_LOG_DEFAULT,
                          .sched = sched_params_default()};
    opterr = 0;
    optind = 0; /* glibc: start afresh (the unit tests parse several command lines) */
    while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        if (c == 'h') {
            options_usage(stdout);
            return 1;
        }
        int r = c == '?' ? 1 : option_value(c, o, &log_size_given);
        if (r == 1) {
            if (optopt && optopt < 128 && strncmp(argv[optind - 1], "--", 2) != 0)
                log_error("option -%c is unknown or needs a value (see --help)", optopt);
            else
                log_error("option '%s' is unknown or needs a value (see --help)", argv[optind - 1]);
            return -1;
        }
        if (r < 0)
            return -1;
    }
    if (optind < argc) {
        log_error("unexpected argument '%s' (see --help)", argv[optind]);
        return -1;
    }
    return check_combination(o, log_size_given);
}
