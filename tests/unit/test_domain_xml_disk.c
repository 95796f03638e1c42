/* <devices><disk> and <blkiotune> in the domain XML (src/lib/domain_xml_disk.c,
 * docs/domain-xml.md "Disks"), the image directory's resolution and the backend's --disk spec
 * (src/lib/domain_disk.c): what is accepted, what each field becomes, and every refusal with
 * its line. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lib/domain_config.h"
#include "lib/err.h"

static char kernel[PATH_MAX];

static int setup(void **state)
{
    (void)state;
    char dir[] = "/tmp/xeno-dxml-disk-XXXXXX";
    if (!mkdtemp(dir))
        return -1;
    snprintf(kernel, sizeof(kernel), "%s/k.elf", dir);
    FILE *f = fopen(kernel, "w");
    if (!f)
        return -1;
    fputs("the parser only checks that the kernel exists\n", f);
    return fclose(f);
}

static int teardown(void **state)
{
    (void)state;
    unlink(kernel);
    *strrchr(kernel, '/') = '\0';
    return rmdir(kernel);
}

/* A document whose <devices> holds `devices` (on line 6 onwards) and with `top` after <os>. */
static char *doc(const char *devices, const char *top)
{
    char *s;
    if (asprintf(&s,
                 "<domain type='kvm' xmlns:xeno='urn:xenoserver:domain:1'>\n"
                 "  <name>t</name>\n"
                 "  <memory unit='MiB'>64</memory>\n"
                 "  <os><kernel>%s</kernel></os>\n"
                 "  <devices>\n"
                 "%s\n"
                 "  </devices>\n"
                 "%s\n"
                 "</domain>\n",
                 kernel, devices, top ? top : "") < 0)
        fail_msg("out of memory");
    return s;
}

/* One disk: <disk type='file' device='disk'> holding `inside` (on line 6). */
static char *disk(const char *inside)
{
    char *d, *s;
    if (asprintf(&d, "<disk type='file' device='disk'>%s</disk>", inside) < 0)
        fail_msg("out of memory");
    s = doc(d, NULL);
    free(d);
    return s;
}

static void good(char *xml, struct domain_config *c)
{
    memset(c, 0xa5, sizeof(*c));
    if (domain_xml_parse(xml, strlen(xml), "test.xml", NULL, c) != 0)
        fail_msg("parse failed: %s\n%s", err_msg(), xml);
    free(xml);
}

/* Must be refused with `want` in the first error, which names test.xml and `line`. */
static void bad(char *xml, long line, const char *want)
{
    struct domain_config c;
    memset(&c, 0xa5, sizeof(c));
    int r = domain_xml_parse(xml, strlen(xml), "test.xml", NULL, &c);
    if (r >= 0) {
        domain_config_free(&c);
        fail_msg("parse succeeded, expected \"%s\":\n%s", want, xml);
    }
    char where[32];
    snprintf(where, sizeof(where), "test.xml:%ld: ", line);
    if (!strstr(err_msg(), want) || strncmp(err_msg(), where, strlen(where)) != 0)
        fail_msg("message \"%s\" lacks \"%s%s\"", err_msg(), where, want);
    free(xml);
}

#define SRC "<source file='web.raw'/><target dev='vda' bus='virtio'/>"

static void accepted(void **state)
{
    (void)state;
    struct domain_config c;
    good(disk(SRC), &c);
    assert_int_equal(c.ndisks, 1);
    assert_string_equal(c.disks[0].file, "web.raw");
    assert_string_equal(c.disks[0].target, "vda");
    assert_int_equal(c.disks[0].format, DISK_FORMAT_RAW);
    assert_false(c.disks[0].readonly);
    assert_string_equal(c.disks[0].serial, "");
    assert_int_equal(c.disks[0].line, 6);
    assert_int_equal(c.blkio_weight, 0);
    domain_config_free(&c);

    /* Everything: driver, read-only, serial, every iotune kind, group, reservation, weight. */
    good(doc("<disk type='file' device='disk'>\n"
             "  <driver name='qemu' type='xeno-overlay'/>\n"
             "  <source file='sponsors/acme/db.ovl'/>\n"
             "  <target dev='vdb'/>\n"
             "  <readonly/>\n"
             "  <serial>DB-0001</serial>\n"
             "  <iotune><read_bytes_sec>1000000</read_bytes_sec><write_bytes_sec>500000</write_bytes_sec>\n"
             "    <total_iops_sec>1000</total_iops_sec><total_iops_sec_max>5000</total_iops_sec_max>\n"
             "    <total_iops_sec_max_length>2</total_iops_sec_max_length><size_iops_sec>8192</size_iops_sec>\n"
             "    <group_name>db-group</group_name></iotune>\n"
             "  <xeno:iotune reservation='2000'/>\n"
             "</disk>\n"
             "<disk type='file'><source file='scratch.raw'/><target dev='vdc'/></disk>",
             "<blkiotune><weight>500</weight></blkiotune>"),
         &c);
    assert_int_equal(c.ndisks, 2);
    const struct domain_disk *d = &c.disks[0];
    assert_string_equal(d->file, "sponsors/acme/db.ovl");
    assert_int_equal(d->format, DISK_FORMAT_OVERLAY);
    assert_string_equal(d->target, "vdb");
    assert_true(d->readonly);
    assert_string_equal(d->serial, "DB-0001");
    assert_int_equal(d->iotune[IOTUNE_READ_BYTES], 1000000);
    assert_int_equal(d->iotune[IOTUNE_WRITE_BYTES], 500000);
    assert_int_equal(d->iotune[IOTUNE_TOTAL_IOPS], 1000);
    assert_int_equal(d->iotune[IOTUNE_TOTAL_IOPS_MAX], 5000);
    assert_int_equal(d->iotune[IOTUNE_TOTAL_IOPS_MAX_LENGTH], 2);
    assert_int_equal(d->iotune[IOTUNE_SIZE_IOPS], 8192);
    assert_int_equal(d->iotune[IOTUNE_TOTAL_BYTES], 0);
    assert_string_equal(d->group, "db-group");
    assert_int_equal(d->reservation, 2000);
    assert_string_equal(c.disks[1].file, "scratch.raw");
    assert_int_equal(c.blkio_weight, 500);

    /* The backend's spec: the XML's values verbatim, names made host-wide by the tag. */
    char spec[1024];
    assert_int_equal(domain_disk_spec(&c, 0, "d7", "/run/xeno/d7/vdb.sock", spec, sizeof(spec)), 0);
    assert_string_equal(spec, "name=d7-vdb,socket=/run/xeno/d7/vdb.sock,file=sponsors/acme/db.ovl,readonly,"
                              "serial=DB-0001,read_bytes_sec=1000000,write_bytes_sec=500000,total_iops_sec=1000,"
                              "total_iops_sec_max=5000,size_iops_sec=8192,total_iops_sec_max_length=2,"
                              "group=d7-db-group,weight=500,reservation=2000");
    assert_int_equal(domain_disk_spec(&c, 1, "d7", "/run/s", spec, sizeof(spec)), 0);
    assert_string_equal(spec, "name=d7-vdc,socket=/run/s,file=scratch.raw,weight=500");
    assert_int_equal(c.disks[0].queues, 0); /* not given: one */
    assert_int_equal(domain_disk_spec(&c, 1, "d7", "/run/s", spec, 20), -ENAMETOOLONG);
    assert_int_equal(domain_disk_spec(&c, 1, "d7", "/run/a,b", spec, sizeof(spec)), -EINVAL);
    assert_int_equal(domain_disk_spec(&c, 2, "d7", "/run/s", spec, sizeof(spec)), -EINVAL);
    /* Values that did not come through the parser are checked again: a comma would make a
     * word of its own, a blank or a newline a word or a command on the control socket. */
    static const char *const unsafe[] = {"a,readonly", "a b", "a\nremove-disk d7-vdb", "a\x7f"};
    for (unsigned k = 0; k < sizeof(unsafe) / sizeof(unsafe[0]); k++) {
        struct domain_disk keep = c.disks[1];
        snprintf(c.disks[1].serial, sizeof(c.disks[1].serial), "%s", unsafe[k]);
        assert_int_equal(domain_disk_spec(&c, 1, "d7", "/run/s", spec, sizeof(spec)), -EINVAL);
        c.disks[1] = keep;
        snprintf(c.disks[1].file, sizeof(c.disks[1].file), "%s", unsafe[k]);
        assert_int_equal(domain_disk_spec(&c, 1, "d7", "/run/s", spec, sizeof(spec)), -EINVAL);
        c.disks[1] = keep;
        snprintf(c.disks[1].target, sizeof(c.disks[1].target), "%s", unsafe[k]);
        assert_int_equal(domain_disk_spec(&c, 1, "d7", "/run/s", spec, sizeof(spec)), -EINVAL);
        c.disks[1] = keep;
    }
    assert_int_equal(domain_disk_spec(&c, 1, "d7\n", "/run/s", spec, sizeof(spec)), -EINVAL);
    domain_config_free(&c);

    /* <driver queues='N'>: the disk's request queues, passed to the backend (and the monitor). */
    good(disk("<driver name='qemu' type='raw' queues='4'/>" SRC), &c);
    assert_int_equal(c.disks[0].queues, 4);
    assert_int_equal(domain_disk_spec(&c, 0, "d7", "/run/s", spec, sizeof(spec)), 0);
    assert_string_equal(spec, "name=d7-vda,socket=/run/s,file=web.raw,queues=4");
    domain_config_free(&c);
    good(disk("<driver queues='1'/>" SRC), &c);
    assert_int_equal(c.disks[0].queues, 1);
    assert_int_equal(domain_disk_spec(&c, 0, "d7", "/run/s", spec, sizeof(spec)), 0);
    assert_string_equal(spec, "name=d7-vda,socket=/run/s,file=web.raw");
    domain_config_free(&c);

    /* Eight disks; libvirt's accepted-and-ignored driver attributes warn, not refuse. */
    char many[2048] = "";
    for (char t = 'a'; t < 'a' + DOMAIN_DISKS_MAX; t++)
        snprintf(many + strlen(many), sizeof(many) - strlen(many),
                 "<disk type='file'><driver name='qemu' type='raw' cache='none' io='native'/>"
                 "<source file='%c.raw'/><target dev='vd%c'/></disk>\n",
                 t, t);
    good(doc(many, NULL), &c);
    assert_int_equal(c.ndisks, DOMAIN_DISKS_MAX);
    assert_string_equal(c.disks[7].target, "vdh");
    domain_config_free(&c);
    strcat(many, "<disk type='file'><source file='i.raw'/><target dev='vdi'/></disk>");
    bad(doc(many, NULL), 14, "a domain has at most 8");
}

static void absolute_paths(void **state)
{
    (void)state;
    struct domain_config c;
    good(disk("<source file='/srv/images/sub/web.raw'/><target dev='vda'/>"), &c);
    assert_string_equal(c.disks[0].file, "/srv/images/sub/web.raw"); /* as written, until resolved */
    assert_int_equal(domain_disks_resolve(&c, "/srv/images/", "x.xml"), 0);
    assert_string_equal(c.disks[0].file, "sub/web.raw");
    domain_config_free(&c);

    /* Outside the directory, a neighbour sharing its prefix, a way back out: file:line. */
    const char *outside[] = {"/etc/passwd", "/srv/images2/web.raw", "/srv/images/../etc/passwd", "/srv/images/",
                             "/srv/images"};
    for (size_t i = 0; i < sizeof(outside) / sizeof(outside[0]); i++) {
        char src[256];
        snprintf(src, sizeof(src), "<source file='%s'/><target dev='vda'/>", outside[i]);
        good(disk(src), &c);
        assert_int_equal(domain_disks_resolve(&c, "/srv/images", "/home/a/x.xml"), -EINVAL);
        if (!strstr(err_msg(), "/home/a/x.xml:6: <source>: file '") || !strstr(err_msg(), "/srv/images"))
            fail_msg("%s: %s", outside[i], err_msg());
        domain_config_free(&c);
    }
    /* A relative name is the directory's already. */
    good(disk(SRC), &c);
    assert_int_equal(domain_disks_resolve(&c, "/srv/images", NULL), 0);
    assert_string_equal(c.disks[0].file, "web.raw");
    domain_config_free(&c);
}

static void refused(void **state)
{
    (void)state;
    /* The disk itself. */
    bad(disk(SRC "<boot order='1'/>"), 6, "boots a kernel directly");
    bad(doc("<disk type='block' device='disk'>" SRC "</disk>", NULL), 6, "type 'block' is not supported");
    bad(doc("<disk type='file' device='cdrom'>" SRC "</disk>", NULL), 6, "device 'cdrom' is not supported");
    bad(doc("<disk device='disk'>" SRC "</disk>", NULL), 6, "missing type");
    bad(disk("<target dev='vda'/>"), 6, "missing <source>");
    bad(disk("<source file='a.raw'/>"), 6, "missing <target>");
    bad(disk(SRC "<shareable/>"), 6, "one domain at a time");
    bad(disk(SRC "<bogus/>"), 6, "bogus");
    bad(disk(SRC "<xeno:speed x='1'/>"), 6, "namespace has <iotune> here");
    bad(disk(SRC "<serial>a</serial><serial>b</serial>"), 6, "duplicate element in <disk>");
    /* Driver and format. */
    bad(disk("<driver name='qemu' type='qcow2'/>" SRC), 6, "convert it with `xenctl disk convert");
    bad(disk("<driver name='qemu' type='vmdk'/>" SRC), 6, "type 'vmdk' is not supported");
    bad(disk("<driver name='tap'/>" SRC), 6, "name 'tap' is not supported");
    bad(disk("<driver type='xeno-overlay'/>" SRC), 6, "does not match file 'web.raw'");
    bad(disk("<driver type='raw'/><source file='a.ovl'/><target dev='vda'/>"), 6, "does not match file 'a.ovl'");
    bad(disk("<driver error_policy='stop'/>" SRC), 6, "never a pause");
    /* Queues: libvirt's attribute, 1..DOMAIN_DISK_QUEUES_MAX (what xeno-blkback serves). */
    bad(disk("<driver queues='0'/>" SRC), 6, "queues '0': 1 to 4 request queues");
    bad(disk("<driver queues='5'/>" SRC), 6, "queues '5': 1 to 4 request queues");
    bad(disk("<driver queues='two'/>" SRC), 6, "queues 'two'");
    bad(disk("<driver queues='-1'/>" SRC), 6, "queues '-1'");
    /* Source names: hostile. */
    bad(disk("<source file='../etc/passwd'/><target dev='vda'/>"), 6, "'..' component");
    bad(disk("<source file='a//b.raw'/><target dev='vda'/>"), 6, "empty, '.' or '..' component");
    bad(disk("<source file='a\\b.raw'/><target dev='vda'/>"), 6, "backslash");
    bad(disk("<source file='a,readonly=0'/><target dev='vda'/>"), 6, "holds a comma or a space");
    bad(disk("<source file='a b.raw'/><target dev='vda'/>"), 6, "holds a comma or a space");
    bad(disk("<source file='a&#10;b'/><target dev='vda'/>"), 6, "control character");
    bad(disk("<source/><target dev='vda'/>"), 6, "missing file");
    bad(disk("<source file='a.raw' startupPolicy='optional'/><target dev='vda'/>"), 6, "no optional disk");
    char longname[DOMAIN_DISK_FILE_MAX + 80];
    snprintf(longname, sizeof(longname), "<source file='/%0*d'/><target dev='vda'/>", DOMAIN_DISK_FILE_MAX, 0);
    bad(disk(longname), 6, "is longer than 511 bytes");
    /* Targets. */
    bad(disk("<source file='a.raw'/><target dev='sda' bus='scsi'/>"), 6, "name it vda");
    bad(disk("<source file='a.raw'/><target dev='vda' bus='ide'/>"), 6, "bus 'ide' is not supported");
    bad(disk("<source file='a.raw'/><target dev='vd1'/>"), 6, "not a virtio disk name");
    bad(disk("<source file='a.raw'/><target/>"), 6, "missing dev");
    bad(doc("<disk type='file'>" SRC "</disk>\n<disk type='file'><source file='b.raw'/><target dev='vda'/></disk>",
            NULL),
        7, "target dev 'vda' is the disk's on line 6 too");
    /* Serial and readonly. */
    bad(disk(SRC "<serial>123456789012345678901</serial>"), 6, "at most 20");
    bad(disk(SRC "<serial>a,b</serial>"), 6, "without spaces or commas");
    bad(disk(SRC "<serial>a b</serial>"), 6, "without spaces or commas");
    bad(disk(SRC "<readonly x='1'/>"), 6, "unknown attribute 'x'");
}

static void iotune(void **state)
{
    (void)state;
    bad(disk(SRC "<iotune><total_iops_sec>10</total_iops_sec><read_iops_sec>5</read_iops_sec></iotune>"), 6,
        "<total_iops_sec> cannot be combined with <read_iops_sec>");
    bad(disk(SRC "<iotune><total_bytes_sec_max>10</total_bytes_sec_max>"
                 "<write_bytes_sec_max>5</write_bytes_sec_max></iotune>"),
        6, "<total_bytes_sec_max> cannot be combined");
    bad(disk(SRC "<iotune><read_iops_sec_max>10</read_iops_sec_max></iotune>"), 6, "give <read_iops_sec> too");
    bad(disk(SRC "<iotune><read_iops_sec>10</read_iops_sec><read_iops_sec_max>5</read_iops_sec_max></iotune>"), 6,
        "<read_iops_sec_max> 5 is below <read_iops_sec> 10");
    bad(disk(SRC "<iotune><write_iops_sec>1</write_iops_sec><write_iops_sec_max_length>3</write_iops_sec_max_length>"
                 "</iotune>"),
        6, "give <write_iops_sec_max> too");
    bad(disk(SRC "<iotune><total_iops_sec>-1</total_iops_sec></iotune>"), 6, "not a whole number");
    bad(disk(SRC "<iotune><total_iops_sec>99999999999999999999</total_iops_sec></iotune>"), 6, "not a whole number");
    bad(disk(SRC "<iotune><total_iops_sec>1</total_iops_sec><group_name>a b</group_name></iotune>"), 6,
        "not a group name");
    bad(disk(SRC "<iotune><group_name>g</group_name></iotune>"), 6, "limits nothing");
    bad(disk(SRC "<iotune><total_iop_sec>1</total_iop_sec></iotune>"), 6, "total_iops_sec");
    bad(disk(SRC "<xeno:iotune reservation='0'/>"), 6, "not a whole number from 1");
    bad(disk(SRC "<xeno:iotune/>"), 6, "reservation");
    /* A group's disks give the same limits (libvirt's rule). */
    bad(doc("<disk type='file'>" SRC "<iotune><total_iops_sec>10</total_iops_sec><group_name>g</group_name></iotune>"
            "</disk>\n<disk type='file'><source file='b.raw'/><target dev='vdb'/>"
            "<iotune><total_iops_sec>20</total_iops_sec><group_name>g</group_name></iotune></disk>",
            NULL),
        7, "<iotune> of group 'g' differs from the disk's on line 6");
    struct domain_config c;
    good(doc("<disk type='file'>" SRC "<iotune><total_iops_sec>10</total_iops_sec><group_name>g</group_name></iotune>"
             "</disk>\n<disk type='file'><source file='b.raw'/><target dev='vdb'/>"
             "<iotune><total_iops_sec>10</total_iops_sec><group_name>g</group_name></iotune></disk>",
             NULL),
         &c);
    assert_int_equal(c.ndisks, 2);
    domain_config_free(&c);
    /* <blkiotune>: libvirt's 100..1000, one weight for the domain. */
    bad(doc("", "<blkiotune><weight>99</weight></blkiotune>"), 8, "from 100 to 1000");
    bad(doc("", "<blkiotune><weight>1001</weight></blkiotune>"), 8, "from 100 to 1000");
    bad(doc("", "<blkiotune></blkiotune>"), 8, "give <weight>");
    bad(doc("", "<blkiotune><device><path>/dev/sda</path><weight>100</weight></device></blkiotune>"), 8,
        "per-device weight");
    good(doc("", "<blkiotune><weight>100</weight></blkiotune>"), &c);
    assert_int_equal(c.blkio_weight, 100);
    assert_int_equal(c.ndisks, 0);
    domain_config_free(&c);
}

/* The stored form: the resolved name in <source file>, the rest as written; it parses to the
 * same disks, and a second dump is the same bytes. */
static void canonical(void **state)
{
    (void)state;
    struct domain_config c, d;
    char *xml = disk("<source file='/srv/images/a/web.raw'/><target dev='vdb'/><readonly/>"
                     "<iotune><total_iops_sec>7</total_iops_sec></iotune>"),
         *out, *out2;
    size_t len, len2;
    memset(&c, 0, sizeof(c));
    assert_int_equal(domain_xml_parse(xml, strlen(xml), "x.xml", NULL, &c), 0);
    assert_int_equal(domain_disks_resolve(&c, "/srv/images", "x.xml"), 0);
    assert_int_equal(domain_xml_canonical(xml, strlen(xml), &c, &out, &len), 0);
    assert_non_null(strstr(out, "<source file=\"a/web.raw\"/>"));
    assert_null(strstr(out, "/srv/images"));
    assert_int_equal(domain_xml_parse(out, len, "x.xml", NULL, &d), 0);
    assert_int_equal(d.ndisks, 1);
    assert_string_equal(d.disks[0].file, "a/web.raw");
    assert_string_equal(d.disks[0].target, "vdb");
    assert_true(d.disks[0].readonly);
    assert_int_equal(d.disks[0].iotune[IOTUNE_TOTAL_IOPS], 7);
    assert_int_equal(domain_xml_canonical(out, len, &d, &out2, &len2), 0);
    assert_int_equal(len, len2);
    assert_memory_equal(out, out2, len);
    free(out2);

    /* A QoS changed after define (xenctl disk-qos) is written back: the old <iotune> and
     * <xeno:iotune> replaced, <blkiotune> added; it parses to what was set. */
    struct domain_disk_qos q = {.given = (1u << IOTUNE_TOTAL_IOPS) | (1u << IOTUNE_READ_BYTES) |
                                         (1u << DISK_QOS_WEIGHT) | (1u << DISK_QOS_RESERVATION),
                                .iotune = {[IOTUNE_TOTAL_IOPS] = 0, [IOTUNE_READ_BYTES] = 4096},
                                .weight = 700,
                                .reservation = 55};
    assert_int_equal(domain_disk_qos_merge(&q, &d.disks[0], &d.blkio_weight), 0);
    assert_true(d.disks[0].qos_changed);
    struct domain_config e;
    assert_int_equal(domain_xml_canonical(out, len, &d, &out2, &len2), 0);
    if (domain_xml_parse(out2, len2, "x.xml", NULL, &e) != 0)
        fail_msg("%s\n%s", err_msg(), out2);
    assert_int_equal(e.disks[0].iotune[IOTUNE_TOTAL_IOPS], 0);
    assert_int_equal(e.disks[0].iotune[IOTUNE_READ_BYTES], 4096);
    assert_int_equal(e.disks[0].reservation, 55);
    assert_int_equal(e.blkio_weight, 700);
    assert_true(e.disks[0].readonly);
    assert_null(strstr(out2, "<total_iops_sec>"));
    free(xml);
    free(out);
    free(out2);
    domain_config_free(&c);
    domain_config_free(&d);
    domain_config_free(&e);
}

/* Backend group names: any name gets one, names that fit stay readable, the hashed form
 * (exactly 31 characters) never equals a readable one (at most 30). */
static void group_keys(void **state)
{
    (void)state;
    char k[DOMAIN_DISK_KEY_SIZE], k2[DOMAIN_DISK_KEY_SIZE];
    assert_int_equal(domain_disk_group_key("", "acme.corp-1", k), 0);
    assert_string_equal(k, "acme.corp-1");
    assert_int_equal(domain_disk_group_key("u0123456789-", "db", k), 0);
    assert_string_equal(k, "u0123456789-db");

    /* A sponsor name the backend cannot take: 'h' and SHA-256's hex, 31 characters. */
    assert_int_equal(domain_disk_group_key("", "Acme Corp", k), 0);
    assert_int_equal(strlen(k), 31);
    assert_int_equal(k[0], 'h');
    assert_int_equal(strspn(k + 1, "0123456789abcdef"), 30);
    assert_int_equal(domain_disk_group_key("", "Acme Corp", k2), 0);
    assert_string_equal(k, k2); /* stable: every disk of the sponsor joins the same group */
    assert_int_equal(domain_disk_group_key("", "Acme Corp.", k2), 0);
    assert_string_not_equal(k, k2);
    assert_int_equal(domain_disk_group_key("", "Acme Corp", k2), 0); /* SHA-256("Acme Corp") = a73cb456... */
    assert_string_equal(k2, "ha73cb4563ee2e72ce0ce805d444364");
    assert_int_equal(domain_disk_group_key("", "abcdefghijklmnopqrstuvwxyz01234", k), 0); /* 31: hashed */
    assert_int_equal(strlen(k), 31);
    assert_int_equal(domain_disk_group_key("", "abcdefghijklmnopqrstuvwxyz0123", k), 0); /* 30: as is */
    assert_string_equal(k, "abcdefghijklmnopqrstuvwxyz0123");
    /* A readable name that looks like a hashed one is 31 long, so it is hashed in turn. */
    char looks[32];
    assert_int_equal(domain_disk_group_key("", "Acme Corp", looks), 0);
    assert_int_equal(domain_disk_group_key("", looks, k), 0);
    assert_string_not_equal(k, looks);
    assert_int_equal(domain_disk_group_key("", "", k), 0); /* empty: hashed, never "" */
    assert_int_equal(strlen(k), 31);

    /* A group_name of 31 after a domain's 12-character tag: hashed within the tag. */
    assert_int_equal(domain_disk_group_key("u0123456789-", "a-group-name-of-thirty-one-char", k), 0);
    assert_int_equal(strlen(k), 31);
    assert_memory_equal(k, "u0123456789-h", 13);
    assert_int_equal(domain_disk_group_key("u0123456789-", "eighteen-chars-grp", k), 0);
    assert_string_equal(k, "u0123456789-eighteen-chars-grp");
    assert_int_equal(domain_disk_group_key("a-prefix-that-is-too-long-", "g", k), -ENAMETOOLONG);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(accepted), cmocka_unit_test(absolute_paths), cmocka_unit_test(refused),
        cmocka_unit_test(iotune),   cmocka_unit_test(canonical),      cmocka_unit_test(group_keys),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
