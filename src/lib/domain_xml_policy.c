/* Domain XML parser (domain_xml_parse.h): the policy for libvirt's domain schema as it applies
 * to x86 KVM guests, as ONE table (docs/domain-xml.md, "Compatibility policy"). Each element
 * or attribute libvirt has is honoured (the parser implements it), the same as what every
 * domain has (accepted, nothing to do), accepted with a warning (ignored: it does not change
 * what the guest sees or is promised), or refused with what XenoServer does instead.
 *
 * dxml_apply_policy() walks the document before it is parsed: what is not honoured is
 * reported and removed from the tree, so the parser sees only what it implements, and one
 * define reports every problem at once. Names found nowhere here nor in the parser are
 * "unknown" (a misspelling, with the nearest known name suggested). */
#include "lib/domain_xml_parse.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libxml/tree.h>

enum dxml_class {
    DX_HONOUR, /* the parser implements it */
    DX_SAME,   /* describes what every domain has: accepted without a word */
    DX_WARN,   /* accepted and ignored, with a warning */
    DX_REFUSE, /* not supported: refused, saying what to do instead */
    DX_BOOT,   /* <os><boot>: a warning beside a <kernel>, refused without one */
    DX_VIDEO,  /* <video>: the same as nothing with <model type='none'/>, refused otherwise */
};

/* path: the element's path below <domain> ("devices/disk"), '*' matching one step;
 * "PATH@attr" an attribute, "PATH@attr=value" an attribute with that value (a value ending
 * in '*' matches a prefix). The most specific entry wins: value, attribute, element. */
struct dxml_policy {
    const char *path;
    enum dxml_class cls;
    const char *why; /* why it is ignored, or what to do instead */
};

#define NO_DISPLAY "XenoServer has no display: the console is the serial port (xenctl console)"
#define NO_FIRMWARE "XenoServer has no firmware: it boots a kernel directly (PVH); give <os><kernel>"
#define NO_USB "the machine has no USB"
#define LXC "a container (LXC) setting; XenoServer runs virtual machines"
#define PLACED "XenoServer places its devices itself (virtio-mmio, docs/machine.md)"
#define LIVE_PTY "the pty is xenod's, chosen at start (xenctl console attaches to it)"
#define NO_IOTHREADS "XenoServer has no I/O threads: its devices run in the monitor's own threads"
#define DISK_IO "xeno-blkback decides: O_DIRECT where the file system allows, io_uring (docs/blkback.md)"
#define VIRTIO_DISK "the disk is virtio-blk: name it vda, vdb, ..."

static const struct dxml_policy policy[] = {
    /* <domain> */
    {"@type=qemu", DX_WARN, "type 'qemu' (emulation): XenoServer runs every domain under KVM"},
    {"@id", DX_WARN, "a running domain's ID (live XML); xenod numbers the domains it starts"},
    {"name", DX_HONOUR, NULL},
    {"uuid", DX_HONOUR, NULL},
    {"genid", DX_REFUSE, "there is no VM generation ID device"},
    {"title", DX_HONOUR, NULL},
    {"description", DX_HONOUR, NULL},
    {"metadata", DX_HONOUR, NULL},
    /* memory */
    {"memory", DX_HONOUR, NULL},
    {"memory@dumpCore", DX_WARN, "the guest's memory is never in a core dump of the monitor"},
    {"currentMemory", DX_HONOUR, NULL},
    {"maxMemory", DX_REFUSE, "memory hotplug is not supported; give the size in <memory>"},
    {"memoryBacking", DX_REFUSE,
     "the guest's RAM is the monitor's anonymous memory in normal pages: hugepages, shared, locked or file-backed "
     "memory are not supported"},
    {"memtune", DX_HONOUR, NULL},
    {"memtune/hard_limit", DX_HONOUR, NULL},
    {"memtune/soft_limit", DX_HONOUR, NULL},
    {"memtune/swap_hard_limit", DX_HONOUR, NULL},
    {"memtune/min_guarantee", DX_REFUSE,
     "a guaranteed minimum is not supported (libvirt's QEMU/KVM driver does not take it either): "
     "the guest's RAM is its <memory>; limit it from above with <hard_limit>"},
    {"numatune", DX_REFUSE, "NUMA placement is not supported"},
    {"blkiotune", DX_HONOUR, NULL},
    {"blkiotune/weight", DX_HONOUR, NULL},
    {"blkiotune/device", DX_REFUSE,
     "a per-device weight or limit is not supported: <blkiotune><weight> weighs every disk of the domain, and a "
     "disk's <iotune> limits it"},
    /* CPUs */
    {"vcpu", DX_HONOUR, NULL},
    {"vcpu@placement", DX_HONOUR, NULL},
    {"vcpu@cpuset", DX_HONOUR, NULL},
    {"vcpu@current", DX_REFUSE,
     "vCPU hotplug is not supported: every vCPU is online from boot; give that count in <vcpu>"},
    {"vcpus", DX_REFUSE, "vCPU hotplug is not supported: every vCPU is online from boot"},
    {"iothreads", DX_WARN, NO_IOTHREADS},
    {"iothreadids", DX_WARN, NO_IOTHREADS},
    {"cputune", DX_HONOUR, NULL},
    {"cputune/shares", DX_HONOUR, NULL},
    {"cputune/period", DX_HONOUR, NULL},
    {"cputune/quota", DX_HONOUR, NULL},
    {"cputune/vcpupin", DX_HONOUR, NULL},
    {"cputune/emulatorpin", DX_HONOUR, NULL},
    {"cputune/iothreadpin", DX_WARN, NO_IOTHREADS},
    {"cputune/global_period", DX_REFUSE, "<quota> with <period> limits all the domain's vCPUs together already"},
    {"cputune/global_quota", DX_REFUSE, "<quota> with <period> limits all the domain's vCPUs together already"},
    {"cputune/emulator_period", DX_REFUSE, "the monitor's own threads are not limited apart from the vCPUs"},
    {"cputune/emulator_quota", DX_REFUSE, "the monitor's own threads are not limited apart from the vCPUs"},
    {"cputune/iothread_period", DX_REFUSE, NO_IOTHREADS},
    {"cputune/iothread_quota", DX_REFUSE, NO_IOTHREADS},
    {"cputune/vcpusched", DX_REFUSE,
     "real-time scheduling classes are not supported; XenoServer schedules by <shares>, <quota> and "
     "<xeno:cpu reservation> (docs/scheduling.md)"},
    {"cputune/iothreadsched", DX_REFUSE, NO_IOTHREADS},
    {"cputune/emulatorsched", DX_REFUSE, "real-time scheduling classes are not supported"},
    {"cputune/cachetune", DX_REFUSE, "cache allocation (resctrl) is not supported"},
    {"cputune/memorytune", DX_REFUSE, "memory bandwidth allocation (resctrl) is not supported"},
    {"cpu", DX_WARN,
     "the guest sees XenoServer's CPUID policy, the host's CPU less what the machine hides (docs/machine.md), "
     "one core per vCPU: host-passthrough and host-model both get that policy, not the host's CPU as it is"},
    {"cpu@mode=host-passthrough", DX_WARN, NULL},
    {"cpu@mode=host-model", DX_WARN, NULL},
    {"cpu@mode", DX_REFUSE,
     "named CPU models are not offered; write mode='host-passthrough' (the guest sees the host's CPU less what "
     "XenoServer hides)"},
    {"cpu/model", DX_REFUSE, "named CPU models are not offered; write <cpu mode='host-passthrough'/>"},
    {"cpu/numa", DX_REFUSE, "guest NUMA nodes are not supported"},
    {"resource", DX_WARN, "the cgroup partition is xenod's"},
    {"sysinfo", DX_REFUSE, "there are no SMBIOS tables (no firmware)"},
    {"bootloader", DX_REFUSE, NO_FIRMWARE},
    {"bootloader_args", DX_REFUSE, NO_FIRMWARE},
    /* <os> */
    {"os", DX_HONOUR, NULL},
    {"os@firmware", DX_REFUSE, NO_FIRMWARE},
    {"os/type", DX_HONOUR, NULL},
    {"os/type@arch=x86_64", DX_HONOUR, NULL},
    {"os/type@arch", DX_REFUSE,
     "XenoServer's machine is x86_64: write arch='x86_64' (a 32-bit kernel with a PVH entry point boots on it too)"},
    {"os/type@machine=pc*", DX_WARN, "XenoServer has one machine of its own (docs/machine.md), not QEMU's chipsets"},
    {"os/type@machine=q35", DX_WARN, "XenoServer has one machine of its own (docs/machine.md), not QEMU's chipsets"},
    {"os/type@machine=microvm", DX_WARN, "XenoServer has one machine of its own (docs/machine.md)"},
    {"os/type@machine", DX_REFUSE, "not an x86 machine type; XenoServer's machine is x86_64 (docs/machine.md)"},
    {"os/kernel", DX_HONOUR, NULL},
    {"os/initrd", DX_HONOUR, NULL},
    {"os/cmdline", DX_HONOUR, NULL},
    {"os/boot", DX_BOOT, NULL},
    {"os/loader", DX_REFUSE, NO_FIRMWARE},
    {"os/nvram", DX_REFUSE, NO_FIRMWARE},
    {"os/firmware", DX_REFUSE, NO_FIRMWARE},
    {"os/bootmenu", DX_WARN, "there is no firmware boot menu"},
    {"os/bios", DX_WARN, "there is no BIOS; the kernel writes to the serial console"},
    {"os/smbios", DX_REFUSE, "there are no SMBIOS tables (no firmware)"},
    {"os/acpi", DX_REFUSE, "the machine's ACPI tables are its own (docs/machine.md); extra tables are not supported"},
    {"os/dtb", DX_REFUSE, "device trees are for other architectures; x86 guests get ACPI tables"},
    {"os/init", DX_REFUSE, LXC},
    {"os/initarg", DX_REFUSE, LXC},
    {"os/initenv", DX_REFUSE, LXC},
    {"os/initdir", DX_REFUSE, LXC},
    {"os/inituser", DX_REFUSE, LXC},
    {"os/initgroup", DX_REFUSE, LXC},
    /* <features>: the machine has ACPI (hardware-reduced), local APICs and an IOAPIC in KVM */
    {"features", DX_SAME, NULL},
    {"features/acpi", DX_SAME, "the machine has ACPI tables (docs/machine.md)"},
    {"features/apic", DX_SAME, "the machine has local APICs and an IOAPIC"},
    {"features/pae", DX_SAME, "a 64-bit guest has PAE"},
    {"features/hap", DX_SAME, "KVM uses two-dimensional paging"},
    {"features/ioapic@driver=kvm", DX_SAME, NULL},
    {"features/ioapic", DX_SAME, NULL},
    {"features/ioapic@driver", DX_REFUSE, "the IOAPIC is KVM's (driver='kvm')"},
    {"features/vmport@state=off", DX_SAME, NULL},
    {"features/vmport", DX_REFUSE, "there is no VMware I/O port; write state='off' or leave it out"},
    {"features/ps2@state=off", DX_SAME, NULL},
    {"features/ps2", DX_REFUSE, "there is no PS/2 controller; write state='off' or leave it out"},
    {"features/smm", DX_WARN, "there is no System Management Mode: it serves firmware, and there is none"},
    {"features/hyperv", DX_REFUSE, "Hyper-V enlightenments are not offered; the guest sees KVM's interface"},
    {"features/kvm", DX_REFUSE, "KVM feature switches (hidden, hint-dedicated, ...) are not supported"},
    {"features/pvspinlock", DX_REFUSE, "paravirtual spinlock switches are not supported"},
    {"features/pmu", DX_REFUSE, "the PMU is not configurable"},
    {"features/vmcoreinfo", DX_REFUSE, "there is no vmcoreinfo device"},
    {"features/msrs", DX_REFUSE, "MSR handling is not configurable"},
    {"features/gic", DX_REFUSE, "GIC is ARM's; the machine has APICs"},
    {"features/htm", DX_REFUSE, "a POWER feature"},
    {"features/viridian", DX_REFUSE, "Xen's Hyper-V interface is not offered"},
    {"features/privnet", DX_REFUSE, "LXC"},
    {"features/capabilities", DX_REFUSE, LXC},
    {"features/async-teardown", DX_WARN, "QEMU's teardown is not XenoServer's"},
    {"features/tcg", DX_WARN, "there is no emulator (TCG): every domain runs under KVM"},
    /* time and power */
    /* The guest's wall clock is kvm-clock's, which KVM keeps at the host's UTC: offset='utc'
     * is what every domain has; there is no CMOS RTC to hold any other time. */
    {"clock", DX_SAME, NULL},
    {"clock@offset=utc", DX_SAME, NULL},
    {"clock@offset", DX_REFUSE,
     "the guest's clock is UTC (kvm-clock reads the host's UTC time, docs/machine.md) and there is no CMOS "
     "real-time clock to keep another; write offset='utc' and set the time zone in the guest"},
    {"clock@adjustment=reset", DX_SAME, NULL},
    {"clock@adjustment", DX_REFUSE, "the guest's clock is the host's UTC time: there is no offset to adjust"},
    {"clock@timezone", DX_REFUSE, "the guest's clock is UTC; set the time zone in the guest"},
    {"clock/timer", DX_WARN,
     "the machine's timers are fixed (PIT, LAPIC, TSC and kvm-clock; docs/machine.md): their settings are not "
     "applied"},
    {"pm", DX_WARN, "the machine sleeps in no ACPI state but soft-off (S5): suspend is not offered"},
    {"pm/suspend-to-mem@enabled=yes", DX_REFUSE, "suspend to RAM is not offered; write enabled='no'"},
    {"pm/suspend-to-disk@enabled=yes", DX_REFUSE, "suspend to disk is not offered; write enabled='no'"},
    {"on_poweroff", DX_HONOUR, NULL},
    {"on_reboot", DX_HONOUR, NULL},
    {"on_crash", DX_HONOUR, NULL},
    {"on_lockfailure", DX_WARN, "there is no lock manager: xeno-blkback locks each image it writes (flock)"},
    /* security and host details */
    {"seclabel", DX_WARN,
     "XenoServer confines its monitors itself (docs/security.md); SELinux and AppArmor labels are not applied"},
    {"keywrap", DX_REFUSE, "an s390 feature"},
    {"launchSecurity", DX_REFUSE, "confidential guests (SEV, TDX) are not supported"},
    {"perf", DX_WARN, "perf event counters are not collected"},
    {"idmap", DX_REFUSE, LXC},
    {"throttlegroups", DX_REFUSE, "throttle groups are not supported; use <iotune><group_name> in the disks"},
    /* <devices> */
    {"devices", DX_HONOUR, NULL},
    {"devices/emulator", DX_WARN, "XenoServer runs its own monitor (xeno-vmm), not this program"},
    {"devices/*/address", DX_WARN, PLACED},
    {"devices/*/alias", DX_WARN, "a running domain's device name (live XML)"},
    {"devices/*/acpi", DX_WARN, PLACED},
    {"devices/console", DX_HONOUR, NULL},
    {"devices/console@tty", DX_WARN, LIVE_PTY},
    {"devices/console/source", DX_WARN, LIVE_PTY},
    {"devices/console/log", DX_REFUSE, "console logs are not written to a file; xenctl console shows the output"},
    {"devices/serial", DX_HONOUR, NULL},
    {"devices/serial/source", DX_WARN, LIVE_PTY},
    {"devices/serial/log", DX_REFUSE, "console logs are not written to a file; xenctl console shows the output"},
    {"devices/serial/target/model@name=isa-serial", DX_SAME, NULL},
    {"devices/serial/target/model", DX_SAME, "COM1 is a 16550A on the ISA ports"},
    {"devices/serial/target/model@name", DX_REFUSE, "COM1 is an ISA 16550A: write name='isa-serial'"},
    {"devices/interface", DX_HONOUR, NULL},
    {"devices/interface@trustGuestRxFilters", DX_WARN,
     "the guest's receive filter is not reported to the host: xeno-netback delivers by <mac>"},
    {"devices/interface/mac@type", DX_WARN, "the <mac> address is the one given, whoever generated it"},
    {"devices/interface/mac@check", DX_WARN, "the <mac> address is taken as given (a VMware range check)"},
    {"devices/interface/mac@currentAddress", DX_WARN, "a running domain's address (live XML); the <mac> is used"},
    {"devices/interface/source/reconnect", DX_WARN,
     "the monitor is the vhost-user server (mode='server'): xeno-netback reconnects on its own"},
    {"devices/interface/target", DX_WARN, "the host side is xeno-netback's (docs/netback.md)"},
    {"devices/interface/driver", DX_WARN, "the device is XenoServer's virtio-net with its own queues"},
    {"devices/interface/rom", DX_WARN, "there are no option ROMs (no firmware)"},
    {"devices/interface/boot", DX_REFUSE, NO_FIRMWARE},
    {"devices/interface/link", DX_REFUSE, "the link is always up"},
    {"devices/interface/mtu", DX_REFUSE, "the MTU is the backend's (docs/netback.md)"},
    {"devices/interface/virtualport", DX_REFUSE, "xeno-netback switches the frames; there is no host bridge"},
    {"devices/interface/filterref", DX_REFUSE,
     "libvirt's nwfilter is not run; the interface may send only from its <mac> and <xeno:ip>"},
    {"devices/interface/vlan", DX_REFUSE, "VLAN tags are not supported"},
    {"devices/interface/coalesce", DX_REFUSE, "not configurable"},
    {"devices/interface/tune", DX_REFUSE, "not configurable"},
    {"devices/interface/guest", DX_REFUSE, "the guest names its own interfaces"},
    {"devices/interface/backend", DX_REFUSE, "the backend is xeno-netback"},
    {"devices/disk", DX_HONOUR, NULL},
    {"devices/disk@model", DX_REFUSE, "the disk is virtio-blk 1.0: leave model out"},
    {"devices/disk@snapshot", DX_WARN, "libvirt's snapshot policy; xenctl save/snapshot keep the image by name"},
    {"devices/disk@rawio", DX_REFUSE, "SCSI commands are not passed through; the disk is virtio-blk"},
    {"devices/disk@sgio", DX_REFUSE, "SCSI commands are not passed through; the disk is virtio-blk"},
    {"devices/disk/driver@cache", DX_WARN, DISK_IO},
    {"devices/disk/driver@io", DX_WARN, DISK_IO},
    {"devices/disk/driver@ioeventfd", DX_SAME, "kicks go straight from KVM to xeno-blkback"},
    {"devices/disk/driver@event_idx", DX_WARN, "the ring has no event index (docs/blkback.md)"},
    {"devices/disk/driver@discard", DX_WARN, "discard always punches holes in a writable image (docs/blkback.md)"},
    {"devices/disk/driver@detect_zeroes", DX_WARN, "write-zeroes requests are honoured; written zeros are data"},
    {"devices/disk/driver@copy_on_read", DX_REFUSE, "not supported; an overlay copies on write only"},
    {"devices/disk/driver@iothread", DX_WARN, NO_IOTHREADS},
    {"devices/disk/driver@queue_size", DX_WARN, "the queue's size is the monitor's"},
    {"devices/disk/driver@error_policy", DX_REFUSE, "an I/O error is reported to the guest (IOERR), never a pause"},
    {"devices/disk/driver@rerror_policy", DX_REFUSE, "an I/O error is reported to the guest (IOERR), never a pause"},
    {"devices/disk/source@startupPolicy", DX_REFUSE, "a missing image refuses the start; there is no optional disk"},
    {"devices/disk/source@index", DX_WARN, "a running domain's node index (live XML)"},
    {"devices/disk/source/seclabel", DX_WARN, "xeno-blkback is sandboxed to the image directory (docs/blkback.md)"},
    {"devices/disk/source/slices", DX_REFUSE, "slices of an image are not supported; give the disk its own image"},
    {"devices/disk/source/reservations", DX_REFUSE, "there are no SCSI persistent reservations"},
    {"devices/disk/target@tray", DX_WARN, "a disk has no tray"},
    {"devices/disk/target@removable", DX_REFUSE, "disks are not removable"},
    {"devices/disk/target@rotation_rate", DX_WARN, "virtio-blk does not report a rotation rate"},
    {"devices/disk/target@dev=hd*", DX_REFUSE, VIRTIO_DISK},
    {"devices/disk/target@dev=sd*", DX_REFUSE, VIRTIO_DISK},
    {"devices/disk/boot", DX_REFUSE, NO_FIRMWARE},
    {"devices/disk/shareable", DX_REFUSE, "an image is written by one domain at a time (xeno-blkback locks it)"},
    {"devices/disk/transient", DX_REFUSE, "not supported; make a copy-on-write overlay (xenctl disk create --base)"},
    {"devices/disk/backingStore", DX_REFUSE,
     "the backing chain is the image's own: an overlay names its base (type='xeno-overlay')"},
    {"devices/disk/encryption", DX_REFUSE, "encrypted images are not supported"},
    {"devices/disk/auth", DX_REFUSE, "network disks are not supported; disks are image files"},
    {"devices/disk/mirror", DX_REFUSE, "block jobs are not supported"},
    {"devices/disk/geometry", DX_REFUSE, "virtio-blk has no geometry to override"},
    {"devices/disk/blockio", DX_REFUSE, "the block size is 512 bytes"},
    {"devices/disk/wwn", DX_REFUSE, "virtio-blk has no WWN; use <serial>"},
    {"devices/disk/vendor", DX_REFUSE, "virtio-blk has no vendor; use <serial>"},
    {"devices/disk/product", DX_REFUSE, "virtio-blk has no product; use <serial>"},
    {"devices/disk/throttlefilters", DX_REFUSE, "throttle groups are not supported; use <iotune><group_name>"},
    {"devices/filesystem", DX_REFUSE, "shared file systems (virtiofs, 9p) are not supported; put files in <initrd>"},
    {"devices/controller", DX_WARN, "XenoServer's devices are virtio-mmio: a controller has nothing to carry"},
    {"devices/input", DX_WARN,
     "the machine has no PS/2 or USB bus to put it on: the guest has the serial console (xenctl console)"},
    {"devices/hub", DX_WARN, NO_USB},
    {"devices/redirfilter", DX_WARN, NO_USB},
    {"devices/memballoon", DX_SAME, "every domain has a virtio balloon (docs/machine.md, xenctl mem-set)"},
    {"devices/memballoon@model=virtio", DX_SAME, NULL},
    {"devices/memballoon@model=none", DX_REFUSE,
     "every domain has the virtio balloon (xenctl mem-set): write model='virtio' or leave <memballoon> out"},
    {"devices/memballoon@model", DX_REFUSE, "the balloon is virtio's: write model='virtio'"},
    {"devices/memballoon@autodeflate=on", DX_SAME, NULL},
    {"devices/memballoon@autodeflate", DX_WARN, "the balloon always offers deflate-on-OOM; the guest decides"},
    {"devices/memballoon@freePageReporting=on", DX_SAME, NULL},
    {"devices/memballoon@freePageReporting", DX_WARN, "the balloon always offers free page reporting"},
    {"devices/memballoon/stats", DX_WARN, "the guest's statistics are read when asked for"},
    {"devices/memballoon/driver", DX_WARN, "the device is XenoServer's"},
    {"devices/graphics", DX_REFUSE, NO_DISPLAY},
    {"devices/video", DX_VIDEO, NO_DISPLAY},
    {"devices/sound", DX_REFUSE, "there is no sound device"},
    {"devices/audio", DX_WARN, "there is no sound device for a host backend to serve"},
    {"devices/channel", DX_REFUSE,
     "there are no virtio-serial channels (so no guest agent); use the serial console (xenctl console)"},
    {"devices/hostdev", DX_REFUSE, "device passthrough (VFIO) is not supported"},
    {"devices/redirdev", DX_REFUSE, NO_USB},
    {"devices/smartcard", DX_REFUSE, NO_USB},
    {"devices/parallel", DX_REFUSE, "there is no parallel port"},
    {"devices/rng", DX_REFUSE, "there is no virtio-rng device yet; the guest has RDRAND where the host has it"},
    {"devices/watchdog", DX_REFUSE, "there is no watchdog device"},
    {"devices/panic", DX_REFUSE, "there is no panic device; a guest that crashes the machine meets <on_crash>"},
    {"devices/tpm", DX_REFUSE, "there is no TPM"},
    {"devices/nvram", DX_REFUSE, "a POWER device"},
    {"devices/shmem", DX_REFUSE, "shared memory devices are not supported"},
    {"devices/memory", DX_REFUSE, "memory hotplug is not supported; give the size in <memory>"},
    {"devices/iommu", DX_REFUSE, "there is no IOMMU"},
    {"devices/vsock", DX_REFUSE, "there is no vsock device; use the network interface"},
    {"devices/crypto", DX_REFUSE, "there is no crypto device"},
    {"devices/pstore", DX_REFUSE, "there is no pstore device"},
    {"devices/lease", DX_REFUSE, "there is no lock manager"},
};
#define POLICY_N (sizeof(policy) / sizeof(policy[0]))

/* Elements the parser takes that are not libvirt's place names above (children of the
 * elements it honours): known names for suggestions. */
static const char *const parser_names[] = {"target",
                                           "mac",
                                           "source",
                                           "model",
                                           "bandwidth",
                                           "inbound",
                                           "outbound",
                                           "sponsor",
                                           "ip",
                                           "driver",
                                           "readonly",
                                           "serial",
                                           "iotune",
                                           "group_name",
                                           "total_bytes_sec",
                                           "read_bytes_sec",
                                           "write_bytes_sec",
                                           "total_iops_sec",
                                           "read_iops_sec",
                                           "write_iops_sec",
                                           "size_iops_sec",
                                           "weight"};

#define QEMU_NS "http://libvirt.org/schemas/domain/qemu/1.0"

/* Whether table path `pat` (with '*' steps) matches `path`. */
static bool path_match(const char *pat, const char *path, size_t pat_len)
{
    const char *p = pat, *end = pat + pat_len, *q = path;
    while (p < end) {
        const char *ps = memchr(p, '/', (size_t)(end - p));
        size_t pl = ps ? (size_t)(ps - p) : (size_t)(end - p);
        size_t ql = strcspn(q, "/");
        if (!(pl == 1 && *p == '*') && (pl != ql || memcmp(p, q, pl) != 0))
            return false;
        p += pl;
        q += ql;
        if (p < end) {
            if (*q != '/')
                return false;
            p++, q++;
        }
    }
    return *q == '\0';
}

/* The entry for an element (attr NULL) or an attribute, most specific first. */
static const struct dxml_policy *lookup(const char *path, const char *attr, const char *value)
{
    const struct dxml_policy *best = NULL;
    int best_rank = -1;
    for (size_t i = 0; i < POLICY_N; i++) {
        const char *e = policy[i].path, *at;
        if (e[0] != path[0] && e[0] != '*' && e[0] != '@') /* most entries, cheaply */
            continue;
        at = strchr(e, '@');
        size_t plen = at ? (size_t)(at - e) : strlen(e);
        if ((attr == NULL) != (at == NULL) || !path_match(e, path, plen))
            continue;
        int rank = memchr(e, '*', plen) ? 0 : 2; /* an exact path beats a wildcard */
        if (attr) {
            const char *eq = strchr(at + 1, '=');
            size_t alen = eq ? (size_t)(eq - at - 1) : strlen(at + 1);
            if (strlen(attr) != alen || memcmp(at + 1, attr, alen) != 0)
                continue;
            if (eq) {
                size_t vlen = strlen(eq + 1);
                bool prefix = vlen > 0 && eq[vlen] == '*';
                if (prefix ? strncmp(value, eq + 1, vlen - 1) != 0 : strcmp(value, eq + 1) != 0)
                    continue;
                rank += 1;
            }
        }
        if (rank > best_rank)
            best = &policy[i], best_rank = rank;
    }
    return best;
}

static const char *last_step(const char *path, char *buf, size_t size)
{
    const char *at = strchr(path, '@'), *end = at ? at : path + strlen(path), *s = end;
    while (s > path && s[-1] != '/')
        s--;
    snprintf(buf, size, "%.*s", (int)(end - s), s);
    return buf;
}

bool dxml_libvirt_element(const char *name)
{
    char step[64];
    for (size_t i = 0; i < POLICY_N; i++)
        if (strcmp(last_step(policy[i].path, step, sizeof(step)), name) == 0)
            return true;
    return false;
}

/* Levenshtein distance, for names up to 63 bytes (longer ones are never near). */
static size_t distance(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b), row[64];
    if (la > 63 || lb > 63)
        return 99;
    for (size_t j = 0; j <= lb; j++)
        row[j] = j;
    for (size_t i = 1; i <= la; i++) {
        size_t diag = row[0];
        row[0] = i;
        for (size_t j = 1; j <= lb; j++) {
            size_t up = row[j];
            size_t cost = a[i - 1] == b[j - 1] ? 0 : 1;
            size_t best = diag + cost;
            if (up + 1 < best)
                best = up + 1;
            if (row[j - 1] + 1 < best)
                best = row[j - 1] + 1;
            row[j] = best;
            diag = up;
        }
    }
    return row[lb];
}

const char *dxml_suggest(const char *name)
{
    static _Thread_local char best[64];
    size_t best_d = 999, limit = strlen(name) <= 4 ? 1 : strlen(name) <= 8 ? 2 : 3;
    char step[64];
    for (size_t i = 0; i < POLICY_N + sizeof(parser_names) / sizeof(parser_names[0]); i++) {
        const char *cand = i < POLICY_N ? last_step(policy[i].path, step, sizeof(step)) : parser_names[i - POLICY_N];
        if (!cand[0])
            continue;
        /* On a tie, a name XenoServer takes beats one it refuses. */
        size_t d = 2 * distance(name, cand) + (i < POLICY_N && policy[i].cls == DX_REFUSE);
        if (d < best_d) {
            best_d = d;
            snprintf(best, sizeof(best), "%s", cand);
        }
    }
    return best_d <= 2 * limit + 1 ? best : NULL;
}

/* ---- the walk ---- */

static void drop(xmlNode *n)
{
    xmlUnlinkNode(n);
    xmlFreeNode(n);
}

/* Applies the attribute entries of element `n` at `path`; `quiet` (inside an ignored
 * element): only refusals count. */
static bool apply_attrs(const struct xml_ctx *x, xmlNode *n, const char *path, bool quiet, int *first)
{
    bool refused = false;
    xmlAttr *a = n->properties;
    while (a) {
        xmlAttr *next = a->next;
        xmlChar *v = a->ns ? NULL : xmlNodeGetContent((xmlNode *)a);
        const struct dxml_policy *p = v ? lookup(path, (const char *)a->name, (const char *)v) : NULL;
        if (p && p->cls == DX_REFUSE) {
            int r = fail(x, n, ENOTSUP, "attribute %s='%s' is not supported: %s", (const char *)a->name, Q(v), p->why);
            if (!*first)
                *first = r;
            refused = true;
            xmlRemoveProp(a);
        } else if (p && !quiet && p->cls == DX_WARN) {
            /* The element's own entry says why when the attribute's does not. */
            const struct dxml_policy *el = p->why ? p : lookup(path, NULL, NULL);
            dxml_warn_at(x, xmlGetLineNo(n), ELEM(n), "attribute %s='%s': %s", (const char *)a->name, Q(v),
                         el && el->why ? el->why : "not applied");
            xmlRemoveProp(a);
        } else if (p && p->cls == DX_SAME) {
            xmlRemoveProp(a);
        }
        xmlFree(v);
        a = next;
    }
    return refused;
}

static bool has_child(const xmlNode *n, const char *name, const char *attr, const char *value)
{
    for (const xmlNode *c = n->children; c; c = c->next) {
        if (c->type != XML_ELEMENT_NODE || c->ns || strcmp((const char *)c->name, name) != 0)
            continue;
        if (!attr)
            return true;
        xmlChar *v = xmlGetNoNsProp(c, (const xmlChar *)attr);
        bool same = v && strcmp((const char *)v, value) == 0;
        xmlFree(v);
        if (same)
            return true;
    }
    return false;
}

/* Whether an attribute's value makes a refused element the same as nothing: an entry
 * "PATH@attr=value" of class DX_SAME. */
static bool same_by_value(const xmlNode *n, const char *path)
{
    for (const xmlAttr *a = n->properties; a; a = a->next) {
        if (a->ns)
            continue;
        xmlChar *v = xmlNodeGetContent((const xmlNode *)a);
        const struct dxml_policy *p = v ? lookup(path, (const char *)a->name, (const char *)v) : NULL;
        xmlFree(v);
        if (p && p->cls == DX_SAME && strchr(p->path, '='))
            return true;
    }
    return false;
}

static void walk(const struct xml_ctx *x, xmlNode *parent, const char *path, bool quiet, int depth, int *first)
{
    if (depth > 6) /* no entry is deeper */
        return;
    xmlNode *n = parent->children;
    while (n) {
        xmlNode *next = n->next;
        if (x->rep && x->rep->errors && x->rep->count >= DOMAIN_XML_PROBLEMS_MAX)
            return; /* refused, and nothing more would be listed: spare a hostile document's rest */
        if (n->type != XML_ELEMENT_NODE) {
            n = next;
            continue;
        }
        if (n->ns) {
            if (n->ns->href && strcmp((const char *)n->ns->href, QEMU_NS) == 0) {
                int r = fail(x, n, ENOTSUP,
                             "the qemu: namespace is not supported: XenoServer runs no QEMU, so QEMU arguments, "
                             "capabilities and overrides have nothing to apply to; describe the domain with "
                             "libvirt's own elements" SEE_DOCS);
                if (!*first)
                    *first = r;
                drop(n);
            }
            n = next; /* others: the parser says where they may be (<metadata>) */
            continue;
        }
        char sub[256];
        snprintf(sub, sizeof(sub), "%s%s%s", path, path[0] ? "/" : "", (const char *)n->name);
        if (strcmp(sub, "metadata") == 0) {
            n = next;
            continue;
        }
        const struct dxml_policy *p = lookup(sub, NULL, NULL);
        enum dxml_class cls = p ? p->cls : DX_HONOUR;
        const char *why = p ? p->why : NULL;
        if (cls == DX_BOOT) {
            cls = has_child(parent, "kernel", NULL, NULL) ? DX_WARN : DX_REFUSE;
            why = cls == DX_WARN ? "with <kernel>, XenoServer boots the kernel directly; a boot order is for firmware"
                                 : "XenoServer boots a kernel directly: add <kernel> (and the root file system "
                                   "in <initrd>)";
        } else if (cls == DX_VIDEO) {
            cls = has_child(n, "model", "type", "none") ? DX_SAME : DX_REFUSE;
        } else if (cls == DX_REFUSE && same_by_value(n, sub)) {
            cls = DX_SAME; /* <vmport state='off'/>: says there is none, and there is none */
        }
        bool refused = apply_attrs(x, n, sub, quiet || cls == DX_WARN, first);
        if (cls == DX_REFUSE) {
            int r = fail(x, n, ENOTSUP, "not supported: %s", why);
            if (!*first)
                *first = r;
            drop(n);
        } else if (quiet || cls == DX_HONOUR) {
            walk(x, n, sub, quiet, depth + 1, first);
        } else if (cls == DX_WARN) {
            if (why && !refused) /* a refused attribute said what matters */
                dxml_warn_at(x, xmlGetLineNo(n), ELEM(n), "%s", why);
            walk(x, n, sub, true, depth + 1, first);
            drop(n);
        } else { /* DX_SAME: what every domain has; its children are checked */
            walk(x, n, sub, false, depth + 1, first);
            /* What the table did not take is not the same as nothing: say so. */
            for (xmlNode *c = n->children; c && strcmp(sub, "devices/video") != 0; c = c->next)
                if (c->type == XML_ELEMENT_NODE) {
                    int r = dxml_unknown_element(x, n, c);
                    if (!*first)
                        *first = r;
                }
            drop(n);
        }
        n = next;
    }
}

int dxml_apply_policy(const struct xml_ctx *x, xmlNode *root)
{
    int first = 0;
    if (strcmp((const char *)root->name, "domain") != 0 || root->ns)
        return 0; /* the parser says what is wrong */
    apply_attrs(x, root, "", false, &first);
    walk(x, root, "", false, 0, &first);
    return first;
}
