/* Domain XML (src/lib/domain_xml.c, docs/domain-xml.md). The examples must parse; every
 * malformed document must be refused with a message naming file, line and element; and a
 * refusal must leave nothing behind (no half-filled config, no leak under ASan).
 *
 * Runs from the repository root (as `make check` does): it reads the examples (examples/),
 * whose kernels are built into build/guest/, and the malformed files in tests/data/xml/bad/. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <glob.h>
#include <stdbool.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/domain_config.h"
#include "lib/err.h"

#define KiB (1ULL << 10)
#define MiB (1ULL << 20)
#define GiB (1ULL << 30)
#define TiB (1ULL << 40)
#define XENO_NS "urn:xenoserver:domain:1"

/* A scratch directory with a kernel and an initrd, so most tests need no built guest. */
static char tmpdir[PATH_MAX], kernel[PATH_MAX], initrd[PATH_MAX];

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    if (!f)
        fail_msg("cannot create %s", path);
    fputs(text, f);
    fclose(f);
}

static int setup(void **state)
{
    (void)state;
    char *d;
    strcpy(tmpdir, "/tmp/test_domain_xml.XXXXXX");
    if (!(d = mkdtemp(tmpdir)))
        return -1;
    /* The canonical spelling (on some hosts /tmp is a link), as the parser reports paths. */
    if (!realpath(d, tmpdir))
        return -1;
    snprintf(kernel, sizeof(kernel), "%s/k.elf", tmpdir);
    snprintf(initrd, sizeof(initrd), "%s/sub/initrd.img", tmpdir);
    char sub[PATH_MAX];
    snprintf(sub, sizeof(sub), "%s/sub", tmpdir);
    if (mkdir(sub, 0700) < 0)
        return -1;
    write_file(kernel, "not really an ELF: the parser only checks that the file exists\n");
    write_file(initrd, "initrd\n");
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[PATH_MAX + 16];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
    return system(cmd) == 0 ? 0 : -1;
}

/* A document: <name>t</name>, `memory` (64 MiB when NULL), the `top` elements, and an <os>
 * with the scratch kernel then `os`. malloc'd. */
static char *doc(const char *memory, const char *top, const char *os)
{
    char *s;
    if (asprintf(&s,
                 "<domain type=\"kvm\">\n"
                 "  <name>t</name>\n"
                 "  %s\n"
                 "  %s\n"
                 "  <os>\n"
                 "    <kernel>%s</kernel>\n"
                 "    %s\n"
                 "  </os>\n"
                 "</domain>\n",
                 memory ? memory : "<memory unit=\"MiB\">64</memory>", top ? top : "", kernel, os ? os : "") < 0)
        fail_msg("out of memory");
    return s;
}

static int parse_text(const char *xml, const char *source, const char *base_dir, struct domain_config *c)
{
    /* Garbage in *c first: a failed parse must zero it, a good one fill it. */
    memset(c, 0xa5, sizeof(*c));
    return domain_xml_parse(xml, strlen(xml), source, base_dir, c);
}

static void assert_zeroed(const struct domain_config *c)
{
    static const struct domain_config zero;
    if (memcmp(c, &zero, sizeof(zero)) != 0)
        fail_msg("a failed parse left *out not zeroed");
}

/* Parses `xml` (freed here), which must succeed. */
static void good(char *xml, struct domain_config *c)
{
    int r = parse_text(xml, "test.xml", NULL, c);
    if (r != 0)
        fail_msg("parse failed: %s\n%s", err_msg(), xml);
    free(xml);
}

/* Parses `xml` (freed here), which must fail with a refusal holding `want` (any of the
 * document's, which are all reported). */
static void bad(char *xml, const char *want)
{
    struct domain_config c;
    struct domain_xml_report rep = {0};
    memset(&c, 0xa5, sizeof(c));
    int r = domain_xml_parse_report(xml, strlen(xml), "test.xml", NULL, &c, &rep);
    if (r >= 0) {
        domain_config_free(&c);
        domain_xml_report_free(&rep);
        fail_msg("parse succeeded, expected an error with \"%s\":\n%s", want, xml);
    }
    bool found = false;
    for (size_t i = 0; i < rep.count && !found; i++)
        found = !rep.items[i].warning && strstr(rep.items[i].text, want);
    if (!found)
        fail_msg("message \"%s\" (%zu errors) lacks \"%s\"", err_msg(), rep.errors, want);
    domain_xml_report_free(&rep);
    if (strncmp(err_msg(), "test.xml:", 9) != 0)
        fail_msg("message \"%s\" does not start with the source name", err_msg());
    assert_zeroed(&c);
    free(xml);
}

/* ---- the examples ---- */

/* examples/NAME.xml for each guest/tests/NAME.c: it parses, names its kernel, and has the
 * settings its README promises. */
static void examples_parse(void **state)
{
    (void)state;
    glob_t g;
    assert_int_equal(glob("guest/tests/*.c", 0, NULL, &g), 0);
    assert_true(g.gl_pathc >= 10);
    for (size_t i = 0; i < g.gl_pathc; i++) {
        char name[64], elf[PATH_MAX], xml[PATH_MAX], want_kernel[PATH_MAX];
        const char *base = strrchr(g.gl_pathv[i], '/') + 1;
        snprintf(name, sizeof(name), "%.*s", (int)(strlen(base) - 2), base);
        snprintf(elf, sizeof(elf), "build/guest/%s.elf", name);
        snprintf(xml, sizeof(xml), "examples/%s.xml", name);
        if (access(xml, R_OK) != 0)
            fail_msg("%s is missing: every test kernel needs an example definition", xml);
        if (!realpath(elf, want_kernel))
            fail_msg("%s is missing: run `make guests` first (%s boots it)", elf, xml);

        struct domain_config c;
        memset(&c, 0xa5, sizeof(c));
        if (domain_xml_parse_file(xml, &c) != 0)
            fail_msg("%s: %s", xml, err_msg());
        assert_string_equal(c.name, name);
        assert_string_equal(c.kernel, want_kernel);
        assert_string_equal(c.sponsor, "examples");
        assert_int_equal(c.memory_bytes, strcmp(name, "memory") == 0 ? 256 * MiB : 64 * MiB);
        assert_int_equal(c.current_memory_bytes, c.memory_bytes);
        assert_int_equal(c.vcpus, strcmp(name, "smp") == 0 ? 4 : strcmp(name, "demo") == 0 ? 2 : 1);
        assert_int_equal(c.on_reboot, strcmp(name, "reboot") == 0 ? ACTION_DESTROY : ACTION_RESTART);
        assert_int_equal(c.on_poweroff, ACTION_DESTROY);
        assert_int_equal(c.on_crash, ACTION_DESTROY);
        assert_null(c.initrd);
        assert_int_equal(strlen(c.uuid), DOMAIN_UUID_LEN);
        /* The blk_* kernels need their disk: vda, a raw image named after the example;
         * blk_multi two of them (vdb: NAME-b.img), of two queues each. */
        if (strncmp(name, "blk_", 4) == 0) {
            char img[80];
            snprintf(img, sizeof(img), "%s.img", name);
            bool multi = strcmp(name, "blk_multi") == 0;
            assert_int_equal(c.ndisks, multi ? 2 : 1);
            assert_int_equal(c.disks[0].queues, multi ? 2 : 0);
            if (multi) {
                assert_string_equal(c.disks[1].file, "blk_multi-b.img");
                assert_string_equal(c.disks[1].target, "vdb");
                assert_int_equal(c.disks[1].queues, 2);
            }
            assert_string_equal(c.disks[0].file, img);
            assert_string_equal(c.disks[0].target, "vda");
            assert_int_equal(c.disks[0].format, DISK_FORMAT_RAW);
            assert_false(c.disks[0].readonly);
            assert_string_equal(c.disks[0].serial, strcmp(name, "blk_rw") == 0 ? "XENO-SN-1" : "");
        } else {
            assert_int_equal(c.ndisks, 0);
        }
        domain_config_free(&c);
    }
    globfree(&g);

    /* And any other example there is. */
    assert_int_equal(glob("examples/*.xml", 0, NULL, &g), 0);
    for (size_t i = 0; i < g.gl_pathc; i++) {
        struct domain_config c;
        if (domain_xml_parse_file(g.gl_pathv[i], &c) != 0)
            fail_msg("%s: %s", g.gl_pathv[i], err_msg());
        domain_config_free(&c);
    }
    globfree(&g);
}

/* ---- what a good document gives ---- */

static void defaults(void **state)
{
    (void)state;
    struct domain_config c;
    good(doc(NULL, NULL, NULL), &c);
    assert_string_equal(c.name, "t");
    assert_int_equal(c.memory_bytes, 64 * MiB);
    assert_int_equal(c.current_memory_bytes, 64 * MiB);
    assert_int_equal(c.vcpus, 1);
    assert_string_equal(c.kernel, kernel);
    assert_null(c.initrd);
    assert_null(c.cmdline);
    assert_string_equal(c.sponsor, "");
    assert_int_equal(c.on_poweroff, ACTION_DESTROY);
    assert_int_equal(c.on_reboot, ACTION_RESTART);
    assert_int_equal(c.on_crash, ACTION_DESTROY);
    domain_config_free(&c);
    domain_config_free(&c); /* twice is harmless */

    /* type is optional; <type>hvm</type> and arch x86_64 are what libvirt writes. */
    char *s;
    assert_true(asprintf(&s,
                         "<domain><name>t</name><memory>65536</memory><os><type arch=\"x86_64\">hvm</type>"
                         "<kernel>%s</kernel></os></domain>",
                         kernel) > 0);
    good(s, &c);
    assert_int_equal(c.memory_bytes, 64 * MiB); /* KiB by default, as in libvirt */
    domain_config_free(&c);
}

static void everything(void **state)
{
    (void)state;
    struct domain_config c;
    char os[PATH_MAX + 128];
    snprintf(os, sizeof(os), "<initrd>%s</initrd>\n    <cmdline>console=ttyS0 quiet</cmdline>", initrd);
    good(doc("<memory unit='GiB'>1</memory>",
             "<uuid>4B5D1C0E-9A3F-4E61-8F0A-2D7C9B1E5A34</uuid>\n"
             "  <currentMemory unit='MiB'>512</currentMemory>\n"
             "  <vcpu placement='static'>8</vcpu>\n"
             "  <on_poweroff>preserve</on_poweroff>\n"
             "  <on_reboot>destroy</on_reboot>\n"
             "  <on_crash>restart</on_crash>\n"
             "  <devices>\n"
             "    <serial type='pty'><target type='isa-serial' port='0'/></serial>\n"
             "    <!-- libvirt writes both for one port -->\n"
             "    <console type='pty'><target type='serial' port='0'/></console>\n"
             "  </devices>\n"
             "  <metadata>\n"
             "    <xeno:sponsor xmlns:xeno='" XENO_NS "'>  ACME Widgets &amp; Co.  </xeno:sponsor>\n"
             "  </metadata>",
             os),
         &c);
    assert_string_equal(c.uuid, "4b5d1c0e-9a3f-4e61-8f0a-2d7c9b1e5a34");
    assert_int_equal(c.memory_bytes, GiB);
    assert_int_equal(c.current_memory_bytes, 512 * MiB);
    assert_int_equal(c.vcpus, 8);
    assert_int_equal(c.on_poweroff, ACTION_PRESERVE);
    assert_int_equal(c.on_reboot, ACTION_DESTROY);
    assert_int_equal(c.on_crash, ACTION_RESTART);
    assert_string_equal(c.sponsor, "ACME Widgets & Co.");
    assert_string_equal(c.initrd, initrd);
    assert_string_equal(c.cmdline, "console=ttyS0 quiet");
    domain_config_free(&c);
}

static void whitespace_comments_cdata(void **state)
{
    (void)state;
    struct domain_config c;
    char *s;
    assert_true(asprintf(&s,
                         "<?xml version='1.0' encoding='UTF-8'?>\n"
                         "<!-- a comment before the root -->\n"
                         "<domain>\n"
                         "  <name>\n    spaced\n  </name>\n"
                         "  <memory unit='MiB'> 64 </memory>\n"
                         "  <vcpu>\n    2\n  </vcpu>\n"
                         "  <?some-tool hint?>\n"
                         "  <os>\n"
                         "    <kernel>\n      %s\n    </kernel>\n"
                         "    <cmdline><![CDATA[a<b && c>d]]> e=&quot;f&quot;</cmdline>\n"
                         "  </os>\n"
                         "  <on_crash><!-- why -->preserve</on_crash>\n"
                         "</domain>\n",
                         kernel) > 0);
    good(s, &c);
    assert_string_equal(c.name, "spaced");
    assert_int_equal(c.vcpus, 2);
    assert_string_equal(c.kernel, kernel);
    assert_string_equal(c.cmdline, "a<b && c>d e=\"f\"");
    assert_int_equal(c.on_crash, ACTION_PRESERVE);
    domain_config_free(&c);

    good(doc(NULL, NULL, "<cmdline/>"), &c);
    assert_null(c.cmdline); /* empty is none */
    domain_config_free(&c);
}

/* ---- memory ---- */

static void memory_units(void **state)
{
    (void)state;
    static const struct {
        const char *unit, *value;
        uint64_t bytes;
    } ok[] = {
        {"b", "67108864", 64 * MiB},
        {"bytes", "67108864", 64 * MiB},
        {"byte", "4194304", 4 * MiB},
        {"KiB", "65536", 64 * MiB},
        {"k", "65536", 64 * MiB},
        {"K", "65536", 64 * MiB},
        {"KB", "8192", 8192000},
        {"kb", "8192", 8192000},
        {"MiB", "64", 64 * MiB},
        {"M", "64", 64 * MiB},
        {"mib", "64", 64 * MiB},
        {"MB", "64", 64000000},
        {"GiB", "2", 2 * GiB},
        {"G", "2", 2 * GiB},
        {"GB", "8", 8000000000ULL},
        {"TiB", "1", TiB},
        {"T", "1", TiB},
        {"TB", "1", 1000000000000ULL},
        {NULL, "65536", 64 * MiB}, /* no unit: KiB */
    };
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        char mem[128];
        struct domain_config c;
        if (ok[i].unit)
            snprintf(mem, sizeof(mem), "<memory unit='%s'>%s</memory>", ok[i].unit, ok[i].value);
        else
            snprintf(mem, sizeof(mem), "<memory>%s</memory>", ok[i].value);
        good(doc(mem, NULL, NULL), &c);
        if (c.memory_bytes != ok[i].bytes)
            fail_msg("%s: %llu bytes, expected %llu", mem, (unsigned long long)c.memory_bytes,
                     (unsigned long long)ok[i].bytes);
        domain_config_free(&c);
    }

    bad(doc("<memory unit='PiB'>1</memory>", NULL, NULL), "test.xml:3: <memory>: unknown unit 'PiB'");
    bad(doc("<memory unit='MiBs'>1</memory>", NULL, NULL), "unknown unit 'MiBs'");
    bad(doc("<memory unit='Mb2'>1</memory>", NULL, NULL), "unknown unit");
    bad(doc("<memory unit=''>1</memory>", NULL, NULL), "unknown unit ''");
    bad(doc("<memory unit='MiB'>64M</memory>", NULL, NULL), "'64M' is not a whole number");
    bad(doc("<memory unit='MiB'>-64</memory>", NULL, NULL), "'-64' is not a whole number");
    bad(doc("<memory unit='MiB'>6 4</memory>", NULL, NULL), "'6 4' is not a whole number");
    bad(doc("<memory unit='MiB'>1.5</memory>", NULL, NULL), "'1.5' is not a whole number");
    bad(doc("<memory unit='MiB'></memory>", NULL, NULL), "<memory>: empty");
    bad(doc("<memory unit='MiB'>99999999999999999999</memory>", NULL, NULL), "too large");
    bad(doc("<memory unit='GB'>1</memory>", NULL, NULL), "1000000000 bytes is not a multiple of 4 KiB");
}

static void memory_limits(void **state)
{
    (void)state;
    struct domain_config c;
    good(doc("<memory unit='KiB'>4096</memory>", NULL, NULL), &c);
    assert_int_equal(c.memory_bytes, 4 * MiB);
    domain_config_free(&c);
    good(doc("<memory unit='GiB'>1024</memory>", NULL, NULL), &c);
    assert_int_equal(c.memory_bytes, TiB);
    domain_config_free(&c);
    bad(doc("<memory unit='KiB'>4092</memory>", NULL, NULL), "4092 KiB is too small; a domain needs at least 4 MiB");
    bad(doc("<memory unit='b'>4194305</memory>", NULL, NULL), "4194305 bytes is not a multiple of 4 KiB");
    bad(doc("<memory unit='MiB'>0</memory>", NULL, NULL), "0 bytes is too small");
    bad(doc("<memory unit='GiB'>1025</memory>", NULL, NULL),
        "1025 GiB is too large; the most a domain may have is 1 TiB");

    /* currentMemory: up to memory, same rules and units. */
    good(doc(NULL, "<currentMemory unit='MiB'>64</currentMemory>", NULL), &c);
    assert_int_equal(c.current_memory_bytes, 64 * MiB);
    domain_config_free(&c);
    good(doc(NULL, "<currentMemory>32768</currentMemory>", NULL), &c);
    assert_int_equal(c.current_memory_bytes, 32 * MiB);
    assert_int_equal(c.memory_bytes, 64 * MiB);
    domain_config_free(&c);
    bad(doc(NULL, "<currentMemory unit='MiB'>65</currentMemory>", NULL),
        "test.xml:4: <currentMemory>: 65 MiB is more than <memory> (64 MiB)");
    bad(doc(NULL, "<currentMemory unit='MiB'>2</currentMemory>", NULL), "<currentMemory>: 2 MiB is too small");
    bad(doc(NULL, "<currentMemory unit='MiB' dumpCore='on'>2</currentMemory>", NULL),
        "<currentMemory>: unknown attribute 'dumpCore'");
}

/* ---- vcpu, os, lifecycle, devices ---- */

static void vcpus(void **state)
{
    (void)state;
    struct domain_config c;
    good(doc(NULL, "<vcpu>32</vcpu>", NULL), &c);
    assert_int_equal(c.vcpus, 32);
    domain_config_free(&c);
    good(doc(NULL, "<vcpu placement='auto'>3</vcpu>", NULL), &c);
    assert_int_equal(c.vcpus, 3);
    domain_config_free(&c);
    bad(doc(NULL, "<vcpu>0</vcpu>", NULL), "test.xml:4: <vcpu>: 0 is out of range");
    bad(doc(NULL, "<vcpu>33</vcpu>", NULL), "<vcpu>: 33 is out of range; give a count from 1 to 32");
    bad(doc(NULL, "<vcpu>4294967297</vcpu>", NULL), "out of range");
    bad(doc(NULL, "<vcpu>-1</vcpu>", NULL), "'-1' is not a number");
    bad(doc(NULL, "<vcpu></vcpu>", NULL), "'' is not a number");
    bad(doc(NULL, "<vcpu placement='spread'>1</vcpu>", NULL), "placement 'spread' is unknown");
    bad(doc(NULL, "<vcpu current='1'>2</vcpu>", NULL), "<vcpu>: attribute current='1' is not supported: vCPU hotplug");
    bad(doc(NULL, "<vcpu>1</vcpu><vcpu>2</vcpu>", NULL),
        "<vcpu>: duplicate element in <domain> (the first is on line 4)");
}

static void os_elements(void **state)
{
    (void)state;
    bad(doc(NULL, NULL, "<type arch='aarch64'>hvm</type>"),
        "test.xml:7: <type>: attribute arch='aarch64' is not supported: XenoServer's machine is x86_64");
    bad(doc(NULL, NULL, "<type machine='pseries'>hvm</type>"),
        "<type>: attribute machine='pseries' is not supported: not an x86 machine type");
    bad(doc(NULL, NULL, "<type>exe</type>"), "<type>: 'exe' is not supported");
    bad(doc(NULL, NULL, "<loader>/usr/share/OVMF.fd</loader>"),
        "<loader>: not supported: XenoServer has no firmware: it boots a kernel directly (PVH); give <os><kernel>");
    bad(doc(NULL, NULL, "<kernel>/again</kernel>"),
        "test.xml:7: <kernel>: duplicate element in <os> (the first is on line 6)");
    bad(doc(NULL, NULL, "<initrd></initrd>"), "<initrd>: empty");
    bad(doc(NULL, NULL, "<cmdline x='1'>a</cmdline>"), "<cmdline>: unknown attribute 'x'");
    bad(doc(NULL, NULL, "<initrd>/nonexistent/initrd.img</initrd>"),
        "<initrd>: '/nonexistent/initrd.img': No such file or directory");
    bad(doc(NULL, NULL, "<initrd>/tmp</initrd>"), "<initrd>: '/tmp' is not a regular file");
    bad(doc(NULL, "<os/>", NULL), "<os>: duplicate element in <domain>");
    bad(strdup("<domain><name>t</name><memory>65536</memory></domain>"), "test.xml:1: <domain>: missing <os>");
    bad(strdup("<domain><name>t</name><memory>65536</memory><os firmware='efi'/></domain>"),
        "<os>: attribute firmware='efi' is not supported: XenoServer has no firmware");

    /* The longest command line the boot area holds. */
    char *line = malloc(DOMAIN_CMDLINE_MAX + 32), *s;
    memset(line, 'x', DOMAIN_CMDLINE_MAX);
    sprintf(line + DOMAIN_CMDLINE_MAX, "</cmdline>");
    assert_true(asprintf(&s, "<cmdline>%s", line) > 0);
    struct domain_config c;
    good(doc(NULL, NULL, s), &c);
    assert_int_equal(strlen(c.cmdline), DOMAIN_CMDLINE_MAX);
    domain_config_free(&c);
    free(s);
    free(line);
}

static void lifecycle(void **state)
{
    (void)state;
    static const char *const names[] = {"destroy", "restart", "preserve"};
    for (int i = 0; i < 3; i++) {
        enum lifecycle_action a = (enum lifecycle_action)99;
        assert_int_equal(lifecycle_action_parse(names[i], &a), 0);
        assert_int_equal(a, i);
        assert_string_equal(lifecycle_action_name(a), names[i]);
    }
    enum lifecycle_action a = ACTION_PRESERVE;
    assert_int_equal(lifecycle_action_parse("Destroy", &a), -EINVAL);
    assert_int_equal(lifecycle_action_parse("", &a), -EINVAL);
    assert_int_equal(lifecycle_action_parse("rename-restart", &a), -EINVAL);
    assert_int_equal(a, ACTION_PRESERVE);

    bad(doc(NULL, "<on_poweroff>rename-restart</on_poweroff>", NULL),
        "test.xml:4: <on_poweroff>: 'rename-restart' is not supported; use destroy, restart or preserve");
    bad(doc(NULL, "<on_crash>coredump-restart</on_crash>", NULL), "<on_crash>: 'coredump-restart' is not supported");
    bad(doc(NULL, "<on_reboot>reboot</on_reboot>", NULL), "<on_reboot>: unknown action 'reboot'");
    bad(doc(NULL, "<on_reboot></on_reboot>", NULL), "<on_reboot>: empty");
    bad(doc(NULL, "<on_reboot>destroy</on_reboot><on_reboot>restart</on_reboot>", NULL),
        "<on_reboot>: duplicate element");
}

static void devices(void **state)
{
    (void)state;
    struct domain_config c;
    good(doc(NULL, "<devices/>", NULL), &c);
    domain_config_free(&c);
    good(doc(NULL, "<devices><console type='pty'/></devices>", NULL), &c);
    domain_config_free(&c);
    good(doc(NULL, "<devices><serial type='pty'><target port='0'/></serial></devices>", NULL), &c);
    domain_config_free(&c);

    bad(doc(NULL, "<devices><console/></devices>", NULL), "test.xml:4: <console>: missing type");
    bad(doc(NULL, "<devices><serial type='tcp'/></devices>", NULL), "<serial>: type 'tcp' is not supported");
    bad(doc(NULL, "<devices><console type='pty'><target type='virtio'/></console></devices>", NULL),
        "<target>: type 'virtio' is not supported; use type=\"serial\"");
    bad(doc(NULL, "<devices><serial type='pty'><target type='serial'/></serial></devices>", NULL),
        "<target>: type 'serial' is not supported; use type=\"isa-serial\"");
    bad(doc(NULL, "<devices><console type='pty'><log file='/tmp/l'/></console></devices>", NULL),
        "<log>: not supported: console logs");
    bad(doc(NULL, "<devices><console type='pty'><target><model/></target></console></devices>", NULL),
        "<model>: not supported in <target>");
    bad(doc(NULL, "<devices><console type='pty' port='1'/></devices>", NULL), "<console>: unknown attribute 'port'");
    bad(doc(NULL, "<devices><interface type='network'/></devices>", NULL),
        "<interface>: type 'network' is not supported; write type=\"vhostuser\"");
    bad(doc(NULL, "<devices><memballoon model='none'/></devices>", NULL),
        "<memballoon>: attribute model='none' is not supported: every domain has the virtio balloon");
    bad(doc(NULL, "<devices><console type='pty'/>junk</devices>", NULL), "<devices>: unexpected text 'junk'");
    bad(doc(NULL, "<memtune><min_guarantee>65536</min_guarantee></memtune>", NULL),
        "test.xml:4: <min_guarantee>: not supported: a guaranteed minimum is not supported");
    bad(doc(NULL, "<numatune/>", NULL), "<numatune>: not supported: NUMA placement");
}

/* <memtune> (docs/domain-xml.md, "Memory limits"): libvirt's units (KiB by default), and
 * limits that leave the guest its memory and the monitor its overhead. */
static void memtune(void **state)
{
    (void)state;
    struct domain_config c;
    good(doc(NULL,
             "<memtune><hard_limit>98304</hard_limit><soft_limit unit='MiB'>80</soft_limit>"
             "<swap_hard_limit unit='GiB'>1</swap_hard_limit></memtune>",
             NULL),
         &c);
    assert_int_equal(c.memtune.hard_limit, 96ULL << 20);
    assert_int_equal(c.memtune.soft_limit, 80ULL << 20);
    assert_int_equal(c.memtune.swap_hard_limit, 1ULL << 30);
    assert_int_equal(c.memtune.line, 4);
    assert_true(domain_memtune_given(&c.memtune));
    domain_config_free(&c);
    /* Exactly <memory> + the overhead is enough; without <memtune> nothing is limited. */
    good(doc(NULL, "<memtune><hard_limit unit='MiB'>96</hard_limit></memtune>", NULL), &c);
    assert_int_equal(c.memtune.hard_limit, (64ULL + 32) << 20);
    domain_config_free(&c);
    good(doc(NULL, NULL, NULL), &c);
    assert_false(domain_memtune_given(&c.memtune));
    domain_config_free(&c);
    bad(doc(NULL, "<memtune><hard_limit unit='MiB'>95</hard_limit></memtune>", NULL),
        "test.xml:4: <hard_limit>: 95 MiB is less than the domain needs: its <memory> (64 MiB) and 32 MiB for the "
        "monitor itself; give at least 96 MiB");
    bad(doc(NULL,
            "<memtune><hard_limit unit='MiB'>128</hard_limit><swap_hard_limit "
            "unit='MiB'>100</swap_hard_limit></memtune>",
            NULL),
        "<swap_hard_limit>: 100 MiB is less than <hard_limit>");
    bad(doc(NULL, "<memtune><hard_limit unit='MiB'>128</hard_limit><soft_limit unit='MiB'>200</soft_limit></memtune>",
            NULL),
        "<soft_limit>: 200 MiB is more than <hard_limit> (128 MiB)");
    bad(doc(NULL, "<memtune><hard_limit unit='furlong'>1</hard_limit></memtune>", NULL), "<hard_limit>: unknown unit");
    bad(doc(NULL, "<memtune><hard_limit>1</hard_limit></memtune>", NULL), "1 KiB is not a multiple of 4 KiB");
    bad(doc(NULL, "<memtune><hard_limit unit='TiB'>5</hard_limit></memtune>", NULL),
        "5 TiB is too large; the largest limit is 4 TiB");
    bad(doc(NULL, "<memtune><hard_limit unit='MiB'>128</hard_limit><hard_limit unit='MiB'>128</hard_limit></memtune>",
            NULL),
        "duplicate element");
    bad(doc(NULL, "<memtune><hard_limt>1</hard_limt></memtune>", NULL), "<hard_limt>: unknown element");
}

/* <interface type="vhostuser">: MAC, our IPv4 address, libvirt's <bandwidth> with our
 * weight; everything checked, one interface. */
static char *iface(const char *inner)
{
    char *top, *xml;
    if (asprintf(&top, "<devices xmlns:xeno='" XENO_NS "'>\n<interface type='vhostuser'>%s</interface></devices>",
                 inner) < 0)
        fail_msg("out of memory");
    xml = doc(NULL, top, NULL);
    free(top);
    return xml;
}

/* No value the parser keeps holds a control character: XML lets a document carry a
 * newline, tab or carriage return as a character reference (&#10;), even in an attribute
 * (a literal one there is turned into a space), and 0x7f as is. A newline in the socket
 * path once reached the backend's line protocol as a second request. */
static void control_characters(void **state)
{
    (void)state;
    struct domain_config c;
    /* A literal newline in an attribute is normalised to a space by XML itself. */
    good(iface("<mac address='52:54:00:00:00:01'/><source path='/run/x/a\nb.sock'/>"), &c);
    assert_string_equal(c.net.socket, "/run/x/a b.sock");
    domain_config_free(&c);
    bad(iface("<mac address='52:54:00:00:00:01'/><source path='/run/x/n.sock&#10;port-del other'/>"),
        "test.xml:5: <source>: attribute path: control character (0x0a) at byte 13 of "
        "'/run/x/n.sock?port-del other'");
    bad(iface("<mac address='52:54:00:00:00:01'/><source path='/run/x/n.sock&#13;'/>"),
        "<source>: attribute path: control character (0x0d)");
    bad(iface("<mac address='52:54:00:00:00:01'/><source path='/run/x/n\x7f.sock'/>"),
        "<source>: attribute path: control character (0x7f)");
    bad(iface("<mac address='52:54:00:00:00:01&#9;'/>"), "<mac>: attribute address: control character (0x09)");
    bad(iface("<mac address='52:54:00:00:00:01'/><source type='unix&#10;' path='/s'/>"),
        "<source>: attribute type: control character");
    /* Text: white space around the value is trimmed, inside it refused. */
    bad(doc(NULL, NULL, "<cmdline>a&#10;b</cmdline>"), "<cmdline>: text: control character (0x0a) at byte 1 of 'a?b'");
    bad(doc(NULL, NULL, "<cmdline>a\tb</cmdline>"), "<cmdline>: text: control character (0x09)");
    bad(doc(NULL, NULL, "<cmdline>a\nb</cmdline>"), "<cmdline>: text: control character (0x0a)");
    bad(strdup("<domain><name>a&#10;b</name><memory>65536</memory><os><kernel>/k</kernel></os></domain>"),
        "test.xml:1: <name>: text: control character (0x0a)");
    bad(doc(NULL, "<metadata><xeno:sponsor xmlns:xeno='" XENO_NS "'>acme&#10;port-del x</xeno:sponsor></metadata>",
            NULL),
        "<xeno:sponsor>: text: control character (0x0a)");
}

static void interfaces(void **state)
{
    (void)state;
    struct domain_config c;
    good(doc(NULL, NULL, NULL), &c);
    assert_int_equal(c.net.present, 0);
    domain_config_free(&c);

    good(iface("<mac address='52:54:00:AB:cd:01'/>"), &c);
    assert_int_equal(c.net.present, 1);
    assert_memory_equal(c.net.mac, ((uint8_t[]){0x52, 0x54, 0x00, 0xab, 0xcd, 0x01}), 6);
    assert_int_equal(c.net.has_ipv4, 0);
    assert_string_equal(c.net.socket, "");
    assert_int_equal(c.net.inbound.given, 0);
    assert_int_equal(c.net.outbound.given, 0);
    domain_config_free(&c);

    good(iface("<mac address='52:54:00:00:00:02'/><model type='virtio'/>"
               "<source type='unix' path='/run/x/net.sock' mode='server'/>"
               "<xeno:ip address='10.0.0.2'/>"
               "<bandwidth><inbound average='1000' peak='5000' burst='1024' floor='200' xeno:weight='3'/>"
               "<outbound average='128'/></bandwidth>"),
         &c);
    assert_int_equal(c.net.has_ipv4, 1);
    assert_int_equal(c.net.ipv4, 0x0a000002);
    assert_string_equal(c.net.socket, "/run/x/net.sock");
    assert_int_equal(c.net.inbound.given, 1);
    assert_int_equal(c.net.inbound.average, 1000000); /* kilobytes/s are 1000 bytes/s (tc's kbps) */
    assert_int_equal(c.net.inbound.peak, 5000000);
    assert_int_equal(c.net.inbound.burst, 1024 * 1024); /* kilobytes of burst are 1024 bytes (tc's kb) */
    assert_int_equal(c.net.inbound.floor, 200000);
    assert_int_equal(c.net.inbound.weight, 3);
    assert_int_equal(c.net.outbound.average, 128000);
    assert_int_equal(c.net.outbound.peak, 0);
    assert_int_equal(c.net.outbound.weight, 0);
    domain_config_free(&c);
    /* A weight alone, or a floor alone, is a policy too. */
    good(iface("<mac address='52:54:00:00:00:02'/><bandwidth><outbound xeno:weight='1000'/></bandwidth>"), &c);
    assert_int_equal(c.net.outbound.weight, 1000);
    domain_config_free(&c);

    /* Line numbers: the interface starts on line 5. */
    /* Without <mac>, one is generated with libvirt's prefix, and dumpxml writes it. */
    good(iface(""), &c);
    assert_true(c.net.mac_generated);
    assert_memory_equal(c.net.mac, ((uint8_t[]){0x52, 0x54, 0x00}), 3);
    {
        char *xml = iface(""), *out = NULL;
        size_t out_len = 0;
        assert_int_equal(domain_xml_canonical(xml, strlen(xml), &c, &out, &out_len), 0);
        char want[64];
        snprintf(want, sizeof(want), "<mac address=\"52:54:00:%02x:%02x:%02x\"/>", c.net.mac[3], c.net.mac[4],
                 c.net.mac[5]);
        assert_non_null(strstr(out, want));
        free(out);
        free(xml);
    }
    domain_config_free(&c);
    bad(doc(NULL, "<devices><interface/></devices>", NULL), "<interface>: missing type");
    bad(doc(NULL, "<devices><interface type='ethernet'><mac address='52:54:00:00:00:01'/></interface></devices>", NULL),
        "<interface>: type 'ethernet' is not supported");
    bad(doc(NULL,
            "<devices><interface type='vhostuser'><mac address='52:54:00:00:00:01'/></interface>\n"
            "<interface type='vhostuser'><mac address='52:54:00:00:00:02'/></interface></devices>",
            NULL),
        "test.xml:5: <interface>: a second interface (the first is on line 4)");
    bad(iface("<mac address='52:54:00:00:00'/>"), "<mac>: '52:54:00:00:00' is not a MAC address");
    bad(iface("<mac address='52:54:00:00:00:0g'/>"), "is not a MAC address");
    bad(iface("<mac address='01:00:5e:00:00:01'/>"), "<mac>: MAC address 01:00:5e:00:00:01 is a multicast address");
    bad(iface("<mac address='00:00:00:00:00:00'/>"), "is all zeros");
    bad(iface("<mac/>"), "<mac>: missing address");
    /* type= is libvirt's (a warning, tests/data/xml/libvirt/interface-live-attrs.xml); a misspelling is unknown. */
    bad(iface("<mac address='52:54:00:00:00:01' tpye='static'/>"), "<mac>: unknown attribute 'tpye'");
    bad(iface("<mac address='52:54:00:00:00:01'/><mac address='52:54:00:00:00:02'/>"),
        "<mac>: duplicate element in <interface>");
    bad(iface("<mac address='52:54:00:00:00:01'/><model type='e1000'/>"), "<model>: type 'e1000' is not supported");
    bad(iface("<mac address='52:54:00:00:00:01'/><source type='unix' path='/s' mode='client'/>"),
        "<source>: mode 'client' is not supported");
    bad(iface("<mac address='52:54:00:00:00:01'/><source type='tcp'/>"), "<source>: type 'tcp' is not supported");
    bad(iface("<mac address='52:54:00:00:00:01'/><source path='relative.sock'/>"),
        "<source>: path 'relative.sock' must be an absolute unix socket path");
    bad(iface("<mac address='52:54:00:00:00:01'/><xeno:ip address='10.0.0'/>"),
        "<xeno:ip>: address '10.0.0' is not an IPv4 address");
    bad(iface("<mac address='52:54:00:00:00:01'/><xeno:ip address='10.0.0.256'/>"), "is not an IPv4 address");
    bad(iface("<mac address='52:54:00:00:00:01'/><xeno:ip address='224.0.0.1'/>"),
        "<xeno:ip>: address 224.0.0.1 cannot be a domain's own");
    bad(iface("<mac address='52:54:00:00:00:01'/><xeno:ip/>"), "<xeno:ip>: missing address");
    bad(iface("<mac address='52:54:00:00:00:01'/><xeno:mtu size='9000'/>"),
        "<xeno:mtu>: unknown element in <interface>; the " XENO_NS " namespace has <ip> here");
    bad(iface("<mac address='52:54:00:00:00:01'/><filterref filter='clean-traffic'/>"),
        "<filterref>: not supported: libvirt's nwfilter is not run");
    bad(iface("<mac address='52:54:00:00:00:01'/><bandwidth/>"), "<bandwidth>: empty; give <inbound> and/or");
    bad(iface("<mac address='52:54:00:00:00:01'/><bandwidth><inbound/></bandwidth>"),
        "<inbound>: needs average (kilobytes/s), floor or xeno:weight");
    bad(iface("<mac address='52:54:00:00:00:01'/><bandwidth><inbound average='0'/></bandwidth>"),
        "<inbound>: average '0' is not a whole number from 1 to 4294967295");
    bad(iface("<mac address='52:54:00:00:00:01'/><bandwidth><inbound average='1k'/></bandwidth>"),
        "average '1k' is not a whole number");
    bad(iface("<mac address='52:54:00:00:00:01'/><bandwidth><outbound average='4294967296'/></bandwidth>"),
        "<outbound>: average '4294967296' is not a whole number");
    bad(iface("<mac address='52:54:00:00:00:01'/><bandwidth><outbound average='100' peak='50'/></bandwidth>"),
        "<outbound>: peak 50 kilobytes/s is below average 100");
    bad(iface("<mac address='52:54:00:00:00:01'/><bandwidth><outbound average='100' floor='150'/></bandwidth>"),
        "<outbound>: floor 150 kilobytes/s is above average 100");
    bad(iface("<mac address='52:54:00:00:00:01'/><bandwidth><outbound peak='100'/></bandwidth>"),
        "peak and burst shape an average: give average too");
    bad(iface("<mac address='52:54:00:00:00:01'/><bandwidth><outbound average='1' rate='5'/></bandwidth>"),
        "<outbound>: unknown attribute 'rate'");
    bad(iface("<mac address='52:54:00:00:00:01'/><bandwidth><outbound average='1' xeno:weight='0'/></bandwidth>"),
        "<outbound>: xeno:weight '0' is not a whole number from 1 to 1000");
    bad(iface("<mac address='52:54:00:00:00:01'/><bandwidth><outbound average='1' xeno:weight='1001'/></bandwidth>"),
        "xeno:weight '1001' is not a whole number");
    bad(iface("<mac address='52:54:00:00:00:01'/><bandwidth><inbound average='1'/><inbound average='2'/></bandwidth>"),
        "<inbound>: duplicate element in <bandwidth>");
}

/* ---- metadata ---- */

/* <cputune> (libvirt's shares, period, quota) and <xeno:cpu reservation="..."/>: the CPU
 * scheduling settings (docs/scheduling.md). */
static void cputune(void **state)
{
    (void)state;
    struct domain_config c;
    good(doc(NULL, NULL, NULL), &c);
    assert_int_equal(c.sched.weight, 1024);
    assert_int_equal(c.sched.period_us, 10000);
    assert_int_equal(c.sched.reservation_ppm, 0);
    assert_int_equal(c.sched.limit_ppm, 0);
    domain_config_free(&c);
    good(doc(NULL,
             "<vcpu>2</vcpu><cputune><shares>512</shares><period>20000</period><quota>5000</quota></cputune>"
             "<metadata><xeno:cpu xmlns:xeno='" XENO_NS "' reservation='12.5%'/></metadata>",
             NULL),
         &c);
    assert_int_equal(c.sched.weight, 512);
    assert_int_equal(c.sched.period_us, 20000);
    assert_int_equal(c.sched.limit_ppm, 500000); /* 25% per vCPU, pooled over 2 */
    assert_int_equal(c.sched.reservation_ppm, 125000);
    domain_config_free(&c);
    /* libvirt's "no limit": -1 or 0 */
    good(doc(NULL, "<cputune><period>10000</period><quota>-1</quota></cputune>", NULL), &c);
    assert_int_equal(c.sched.limit_ppm, 0);
    domain_config_free(&c);
    good(doc(NULL, "<cputune><quota>0</quota></cputune>", NULL), &c);
    assert_int_equal(c.sched.limit_ppm, 0);
    domain_config_free(&c);
    good(doc(NULL, "<cputune/><metadata><xeno:cpu xmlns:xeno='" XENO_NS "' reservation='30'/></metadata>", NULL), &c);
    assert_int_equal(c.sched.reservation_ppm, 300000);
    domain_config_free(&c);

    bad(doc(NULL, "<cputune><shares>1</shares></cputune>", NULL),
        "test.xml:4: <shares>: 1 is out of range; give 2 to 262144");
    bad(doc(NULL, "<cputune><shares>lots</shares></cputune>", NULL), "<shares>: 'lots' is not a whole number");
    bad(doc(NULL, "<cputune><period>500</period></cputune>", NULL),
        "<period>: 500 is out of range; give 1000 to 1000000");
    bad(doc(NULL, "<cputune><quota>2000</quota></cputune>", NULL), "<quota>: give <period> with <quota>");
    bad(doc(NULL, "<cputune><period>10000</period><quota>20000</quota></cputune>", NULL),
        "<quota>: 20000 us is more than the period (10000 us)");
    bad(doc(NULL, "<cputune><period>10000</period><quota>999</quota></cputune>", NULL), "<quota>: 999 us is too small");
    bad(doc(NULL, "<cputune><period>1000000</period><quota>1000</quota></cputune>", NULL), "less than 1% of a CPU");
    bad(doc(NULL, "<cputune><shares>5</shares><shares>6</shares></cputune>", NULL), "<shares>: duplicate element");
    bad(doc(NULL, "<cputune><vcpusched vcpus='0' scheduler='fifo'/></cputune>", NULL),
        "<vcpusched>: not supported: real-time scheduling classes");
    bad(doc(NULL, "<cputune><shares unit='x'>5</shares></cputune>", NULL), "<shares>: unknown attribute 'unit'");
    bad(doc(NULL, "<cputune mode='x'/>", NULL), "<cputune>: unknown attribute 'mode'");
    bad(doc(NULL, "<metadata><xeno:cpu xmlns:xeno='" XENO_NS "'/></metadata>", NULL),
        "<xeno:cpu>: missing reservation");
    bad(doc(NULL, "<metadata><xeno:cpu xmlns:xeno='" XENO_NS "' reservation='lots'/></metadata>", NULL),
        "<xeno:cpu>: reservation 'lots' is not a percentage");
    bad(doc(NULL, "<metadata><xeno:cpu xmlns:xeno='" XENO_NS "' reservation='150%'/></metadata>", NULL),
        "<xeno:cpu>: reservation 150% is more than 1 vCPU can use (100%)");
    bad(doc(NULL, "<metadata><xeno:cpu xmlns:xeno='" XENO_NS "' reservation='0.5%'/></metadata>", NULL),
        "<xeno:cpu>: a reservation of 0.5% is too small");
    bad(doc(NULL,
            "<cputune><period>10000</period><quota>2000</quota></cputune>"
            "<metadata><xeno:cpu xmlns:xeno='" XENO_NS "' reservation='30%'/></metadata>",
            NULL),
        "<xeno:cpu>: the reservation (30%) is above the limit (20%)");
    bad(doc(NULL, "<metadata><xeno:cpu xmlns:xeno='" XENO_NS "' reservation='30%' limit='50%'/></metadata>", NULL),
        "<xeno:cpu>: unknown attribute 'limit'");
}

/* <xeno:memory enforcement="..."/>: what the monitor does about a missed memory target. */
static void memory_enforcement(void **state)
{
    (void)state;
    static const struct {
        const char *word;
        enum memory_enforcement want;
    } ok[] = {{"pause", MEMORY_ENFORCE_PAUSE}, {"destroy", MEMORY_ENFORCE_DESTROY}, {"report", MEMORY_ENFORCE_REPORT}};
    struct domain_config c;
    good(doc(NULL, NULL, NULL), &c);
    assert_int_equal(c.memory_enforcement, MEMORY_ENFORCE_REPORT); /* the default */
    domain_config_free(&c);
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        char md[256];
        snprintf(md, sizeof(md),
                 "<metadata><xeno:memory xmlns:xeno='" XENO_NS "' enforcement='%s'/>"
                 "<xeno:sponsor xmlns:xeno='" XENO_NS "'>s</xeno:sponsor></metadata>",
                 ok[i].word);
        good(doc(NULL, md, NULL), &c);
        assert_int_equal(c.memory_enforcement, ok[i].want);
        assert_string_equal(c.sponsor, "s");
        assert_string_equal(memory_enforcement_name(c.memory_enforcement), ok[i].word);
        domain_config_free(&c);
    }
    bad(doc(NULL, "<metadata><xeno:memory xmlns:xeno='" XENO_NS "' enforcement='Pause'/></metadata>", NULL),
        "test.xml:4: <xeno:memory>: enforcement 'Pause' is unknown; use pause, destroy or report");
    bad(doc(NULL, "<metadata><xeno:memory xmlns:xeno='" XENO_NS "'/></metadata>", NULL),
        "<xeno:memory>: missing enforcement");
    bad(doc(NULL, "<metadata><xeno:memory xmlns:xeno='" XENO_NS "' enforcement='pause' deadline='1'/></metadata>",
            NULL),
        "<xeno:memory>: unknown attribute 'deadline'");
    bad(doc(NULL, "<metadata><xeno:memory xmlns:xeno='" XENO_NS "' enforcement='pause'>x</xeno:memory></metadata>",
            NULL),
        "<xeno:memory>: unexpected text 'x'");
    bad(doc(NULL,
            "<metadata xmlns:xeno='" XENO_NS "'><xeno:memory enforcement='pause'/>\n"
            "  <xeno:memory enforcement='report'/></metadata>",
            NULL),
        "test.xml:5: <xeno:memory>: duplicate element in <metadata> (the first is on line 4)");
    /* libvirt's own element of that name is not ours: <memory> in no namespace is an error there. */
    bad(doc(NULL, "<metadata><memory enforcement='pause'/></metadata>", NULL), "need a namespace");
}

static void metadata(void **state)
{
    (void)state;
    struct domain_config c;
    /* Any prefix, or the default namespace, as long as it is ours. */
    good(doc(NULL, "<metadata><s:sponsor xmlns:s='" XENO_NS "'>a</s:sponsor></metadata>", NULL), &c);
    assert_string_equal(c.sponsor, "a");
    domain_config_free(&c);
    good(doc(NULL, "<metadata><sponsor xmlns='" XENO_NS "'>b</sponsor></metadata>", NULL), &c);
    assert_string_equal(c.sponsor, "b");
    domain_config_free(&c);
    /* Other applications' metadata is theirs: skipped, whatever it holds. */
    good(doc(NULL,
             "<metadata xmlns:xeno='" XENO_NS "'>\n"
             "  <libosinfo:libosinfo xmlns:libosinfo='http://libosinfo.org/xmlns/libvirt/domain/1.0'>\n"
             "    <libosinfo:os id='http://debian.org/debian/12'/>text<anything/>\n"
             "  </libosinfo:libosinfo>\n"
             "  <!-- ours -->\n"
             "  <xeno:sponsor>\n    Ünïcode Lab\n  </xeno:sponsor>\n"
             "</metadata>",
             NULL),
         &c);
    assert_string_equal(c.sponsor, "Ünïcode Lab");
    domain_config_free(&c);
    good(doc(NULL, "<metadata/>", NULL), &c);
    assert_string_equal(c.sponsor, "");
    domain_config_free(&c);

    /* 127 bytes fit, 128 do not. */
    char sp[256], md[512];
    memset(sp, 'z', DOMAIN_SPONSOR_MAX);
    sp[DOMAIN_SPONSOR_MAX] = '\0';
    snprintf(md, sizeof(md), "<metadata><xeno:sponsor xmlns:xeno='" XENO_NS "'>%s</xeno:sponsor></metadata>", sp);
    good(doc(NULL, md, NULL), &c);
    assert_string_equal(c.sponsor, sp);
    domain_config_free(&c);
    snprintf(md, sizeof(md), "<metadata><xeno:sponsor xmlns:xeno='" XENO_NS "'>%sz</xeno:sponsor></metadata>", sp);
    bad(doc(NULL, md, NULL), "test.xml:4: <xeno:sponsor>: 128 bytes is too long; a sponsor has at most 127");

    bad(doc(NULL, "<metadata><xeno:sponsor xmlns:xeno='" XENO_NS "'>a\nb</xeno:sponsor></metadata>", NULL),
        "<xeno:sponsor>: text: control character (0x0a) at byte 1 of 'a?b'");
    bad(doc(NULL, "<metadata><xeno:sponsor xmlns:xeno='" XENO_NS "'>a&#127;b</xeno:sponsor></metadata>", NULL),
        "<xeno:sponsor>: text: control character (0x7f)");
    bad(doc(NULL, "<metadata><xeno:sponsor xmlns:xeno='" XENO_NS "'>a&#x85;b</xeno:sponsor></metadata>", NULL),
        "holds a control character");
    bad(doc(NULL, "<metadata><xeno:sponsor xmlns:xeno='" XENO_NS "'/></metadata>", NULL), "<xeno:sponsor>: empty");
    bad(doc(NULL, "<metadata><xeno:sponsor xmlns:xeno='" XENO_NS "' id='1'>a</xeno:sponsor></metadata>", NULL),
        "<xeno:sponsor>: unknown attribute 'id'");
    bad(doc(NULL, "<metadata><xeno:sponsor xmlns:xeno='" XENO_NS "'>a<b/></xeno:sponsor></metadata>", NULL),
        "<b>: unknown element in <xeno:sponsor>");
    bad(doc(NULL,
            "<metadata xmlns:xeno='" XENO_NS "'>\n  <xeno:sponsor>a</xeno:sponsor>\n"
            "  <xeno:sponsor>b</xeno:sponsor></metadata>",
            NULL),
        "test.xml:6: <xeno:sponsor>: duplicate element in <metadata> (the first is on line 5)");
    bad(doc(NULL, "<metadata>hello</metadata>", NULL), "<metadata>: unexpected text 'hello'");
    /* Our namespace outside <metadata> is no way around the rules. */
    bad(doc(NULL, "<xeno:sponsor xmlns:xeno='" XENO_NS "'>a</xeno:sponsor>", NULL),
        "<xeno:sponsor>: unknown element in <domain>");
    bad(doc(NULL, "<metadata/><metadata/>", NULL), "<metadata>: duplicate element");
}

/* ---- uuid and name ---- */

static void is_v4_uuid(const char *u)
{
    assert_int_equal(strlen(u), DOMAIN_UUID_LEN);
    for (int i = 0; i < DOMAIN_UUID_LEN; i++) {
        if (i == 8 || i == 13 || i == 18 || i == 23)
            assert_int_equal(u[i], '-');
        else if (!strchr("0123456789abcdef", u[i]))
            fail_msg("'%s' is not lowercase hex", u);
    }
    assert_int_equal(u[14], '4');           /* version 4: random */
    assert_non_null(strchr("89ab", u[19])); /* RFC 4122 variant */
}

static void uuids(void **state)
{
    (void)state;
    struct domain_config a, b;
    good(doc(NULL, NULL, NULL), &a);
    good(doc(NULL, NULL, NULL), &b);
    is_v4_uuid(a.uuid);
    is_v4_uuid(b.uuid);
    assert_string_not_equal(a.uuid, b.uuid);
    domain_config_free(&a);
    domain_config_free(&b);

    good(doc(NULL, "<uuid>\n    00000000-0000-0000-0000-0000000000aB\n  </uuid>", NULL), &a);
    assert_string_equal(a.uuid, "00000000-0000-0000-0000-0000000000ab");
    domain_config_free(&a);

    static const char *const wrong[] = {
        "4b5d1c0e9a3f4e618f0a2d7c9b1e5a34",       /* no dashes */
        "{4b5d1c0e-9a3f-4e61-8f0a-2d7c9b1e5a34}", /* braces */
        "4b5d1c0e-9a3f-4e61-8f0a-2d7c9b1e5a345",  /* too long */
        "4b5d1c0e-9a3f-4e61-8f0a2d7c-9b1e5a34",   /* dashes misplaced */
        "4b5d1c0e-9a3f-4e61-8f0a-2d7c9b1e5a3g",   /* not hex */
        "4b5d1c0e 9a3f 4e61 8f0a 2d7c9b1e5a34",
    };
    for (size_t i = 0; i < sizeof(wrong) / sizeof(wrong[0]); i++) {
        char u[128], want[128];
        snprintf(u, sizeof(u), "<uuid>%s</uuid>", wrong[i]);
        snprintf(want, sizeof(want), "test.xml:4: <uuid>: '%s' is not a UUID", wrong[i]);
        bad(doc(NULL, u, NULL), want);
    }
    bad(doc(NULL, "<uuid>00000000-0000-0000-0000-000000000000</uuid>", NULL), "<uuid>: the nil UUID");
    bad(doc(NULL, "<uuid></uuid>", NULL), "<uuid>: empty");
}

static void names(void **state)
{
    (void)state;
    char longest[DOMAIN_NAME_MAX + 2];
    memset(longest, 'n', DOMAIN_NAME_MAX);
    longest[DOMAIN_NAME_MAX] = '\0';
    assert_true(domain_name_valid(longest));
    assert_true(domain_name_valid("demo"));
    assert_true(domain_name_valid("web-01.example_2"));
    assert_true(domain_name_valid("1a"));
    assert_true(domain_name_valid("a."));
    longest[DOMAIN_NAME_MAX] = 'n';
    longest[DOMAIN_NAME_MAX + 1] = '\0';
    assert_false(domain_name_valid(longest));
    static const char *const invalid[] = {"", "1", "007", "a/b", "a b", "a:b", "é", ".", "..", ".hidden", "-rf", "a\n"};
    for (size_t i = 0; i < sizeof(invalid) / sizeof(invalid[0]); i++)
        if (domain_name_valid(invalid[i]))
            fail_msg("'%s' accepted as a domain name", invalid[i]);
    assert_false(domain_name_valid(NULL));

    struct domain_config c;
    char *s;
    assert_true(asprintf(&s, "<domain><name>%s</name><memory>65536</memory><os><kernel>%s</kernel></os></domain>",
                         "web-01.example_2", kernel) > 0);
    good(s, &c);
    assert_string_equal(c.name, "web-01.example_2");
    domain_config_free(&c);
    assert_true(asprintf(&s, "<domain><memory>65536</memory><name>a b</name><os><kernel>%s</kernel></os></domain>",
                         kernel) > 0);
    bad(s, "test.xml:1: <name>: 'a b' is not a valid domain name: it may hold only letters, digits");
    bad(strdup("<domain><name id='1'>a</name></domain>"), "<name>: unknown attribute 'id'");
}

/* ---- paths ---- */

static void relative_paths(void **state)
{
    (void)state;
    struct domain_config c;
    const char *xml = "<domain><name>r</name><memory unit='MiB'>64</memory>\n"
                      "<os><kernel>k.elf</kernel><initrd>sub/../sub/initrd.img</initrd></os></domain>";

    /* Against base_dir, which wins over the source's directory. */
    assert_int_equal(parse_text(xml, "/elsewhere/x.xml", tmpdir, &c), 0);
    assert_string_equal(c.kernel, kernel);
    assert_string_equal(c.initrd, initrd); /* the directory is made canonical */
    domain_config_free(&c);

    /* Against the directory of the file it came from. */
    char path[PATH_MAX + 16];
    snprintf(path, sizeof(path), "%s/sub/dom.xml", tmpdir);
    write_file(path, "<domain><name>r</name><memory unit='MiB'>64</memory>\n"
                     "<os><kernel>../k.elf</kernel><initrd>initrd.img</initrd></os></domain>\n");
    memset(&c, 0xa5, sizeof(c));
    assert_int_equal(domain_xml_parse_file(path, &c), 0);
    assert_string_equal(c.kernel, kernel);
    assert_string_equal(c.initrd, initrd);
    domain_config_free(&c);
    assert_int_equal(parse_text(xml, path, NULL, &c), -ENOENT); /* sub/k.elf does not exist */
    assert_non_null(strstr(err_msg(), "dom.xml:2: <kernel>: 'k.elf' ("));
    assert_non_null(strstr(err_msg(), "/sub/k.elf): No such file or directory"));
    assert_zeroed(&c);
    unlink(path);

    /* A relative base_dir is taken from the current directory. */
    assert_int_equal(parse_text("<domain><name>r</name><memory>65536</memory><os><kernel>guest/tests/hello.c</kernel>"
                                "</os></domain>",
                                "x.xml", ".", &c),
                     0);
    char want[PATH_MAX];
    assert_non_null(realpath("guest/tests/hello.c", want));
    assert_string_equal(c.kernel, want);
    domain_config_free(&c);
}

/* XML from the API without a file: relative paths have nothing to be relative to. */
static void api_relative_refused(void **state)
{
    (void)state;
    struct domain_config c;
    const char *xml =
        "<domain><name>r</name><memory unit='MiB'>64</memory>\n<os>\n<kernel>k.elf</kernel></os></domain>";
    assert_int_equal(parse_text(xml, "<api>", NULL, &c), -EINVAL);
    assert_string_equal(err_msg(),
                        "<api>:3: <kernel>: 'k.elf' is a relative path, but the XML (<api>) is not a file it "
                        "could be relative to; give an absolute path");
    assert_zeroed(&c);
    assert_int_equal(parse_text(xml, NULL, NULL, &c), -EINVAL);
    assert_non_null(strstr(err_msg(), "<api>:3: <kernel>: 'k.elf' is a relative path"));
    /* With a base directory, or an absolute path, the API's XML is fine. */
    assert_int_equal(parse_text(xml, "<api>", tmpdir, &c), 0);
    assert_string_equal(c.kernel, kernel);
    domain_config_free(&c);
    char *s = doc(NULL, NULL, NULL);
    assert_int_equal(parse_text(s, "<api>", NULL, &c), 0);
    free(s);
    domain_config_free(&c);
    /* Messages name it. */
    assert_int_equal(parse_text("<domain>", "<api>", NULL, &c), -EINVAL);
    assert_non_null(strstr(err_msg(), "<api>:1: XML syntax error: "));
    assert_zeroed(&c);
    /* A client's path is shown without its control characters: a message is one line. */
    assert_int_equal(parse_text("<domain/>", "/tmp/a\nb.xml", NULL, &c), -EINVAL);
    assert_string_equal(err_msg(),
                        "/tmp/a?b.xml:1: <domain>: missing <name>; every domain needs one, e.g. <name>demo</name> "
                        "(and 2 more problems)");
}

/* ---- malformed documents ---- */

/* tests/data/xml/bad/: file -> a fragment of its message (with the line). Every file there
 * must be listed. */
static const struct {
    const char *file, *want;
} bad_files[] = {
    {"01-not-xml.xml", "01-not-xml.xml:1: XML syntax error: Start tag expected"},
    {"02-unclosed-tag.xml", "02-unclosed-tag.xml:8: XML syntax error: Opening and ending tag mismatch: vcpu line 4"},
    {"03-wrong-root.xml", "03-wrong-root.xml:1: <domian>: the root element must be <domain>"},
    {"04-unknown-element.xml",
     "04-unknown-element.xml:5: <memry>: unknown element in <domain>; did you mean <memory>? (see docs/domain-xml.md)"},
    {"05-unknown-in-os.xml", "05-unknown-in-os.xml:7: <bootloader>: not supported in <os>; XenoServer takes a subset"},
    {"06-unknown-attribute.xml", "06-unknown-attribute.xml:3: <memory>: unknown attribute 'units'"},
    {"07-duplicate-name.xml",
     "07-duplicate-name.xml:3: <name>: duplicate element in <domain> (the first is on line 2)"},
    {"08-missing-name.xml", "08-missing-name.xml:1: <domain>: missing <name>"},
    {"09-name-all-digits.xml",
     "09-name-all-digits.xml:2: <name>: '12345' is not a valid domain name: it is all digits"},
    {"10-name-slash.xml", "10-name-slash.xml:2: <name>: 'web/1' is not a valid domain name"},
    {"11-name-too-long.xml", "11-name-too-long.xml:2: <name>: 'aaaa"},
    {"12-missing-memory.xml", "12-missing-memory.xml:1: <domain>: missing <memory>"},
    {"13-memory-bad-unit.xml", "13-memory-bad-unit.xml:3: <memory>: unknown unit 'parsecs'"},
    {"14-memory-not-number.xml", "14-memory-not-number.xml:3: <memory>: 'sixty-four' is not a whole number"},
    {"15-memory-too-small.xml",
     "15-memory-too-small.xml:3: <memory>: 2 MiB is too small; a domain needs at least 4 MiB"},
    {"16-current-memory-over.xml",
     "16-current-memory-over.xml:4: <currentMemory>: 128 MiB is more than <memory> (64 MiB)"},
    {"17-vcpu-zero.xml", "17-vcpu-zero.xml:4: <vcpu>: 0 is out of range; give a count from 1 to 32"},
    {"18-vcpu-33.xml", "18-vcpu-33.xml:4: <vcpu>: 33 is out of range"},
    {"19-vcpu-text.xml", "19-vcpu-text.xml:4: <vcpu>: 'two' is not a number"},
    {"20-missing-kernel.xml", "20-missing-kernel.xml:5: <os>: missing <kernel>"},
    {"21-kernel-not-found.xml", "21-kernel-not-found.xml:6: <kernel>: '../../../../build/guest/no-such-kernel.elf' ("},
    {"22-on-crash-unknown.xml",
     "22-on-crash-unknown.xml:8: <on_crash>: unknown action 'explode'; use destroy, restart or preserve"},
    {"23-rename-restart.xml", "23-rename-restart.xml:8: <on_reboot>: 'rename-restart' is not supported"},
    {"24-cmdline-too-long.xml", "24-cmdline-too-long.xml:7: <cmdline>: 4096 bytes is too long"},
    {"25-bad-uuid.xml", "25-bad-uuid.xml:3: <uuid>: '4b5d1c0e-9a3f-4e61-8f0a-2d7c9b1e5a3' is not a UUID"},
    {"26-domain-type-xen.xml", "26-domain-type-xen.xml:1: <domain>: type 'xen' is not supported"},
    {"27-xxe-system-entity.xml", "27-xxe-system-entity.xml:2: <!DOCTYPE>: document type declarations are not accepted"},
    {"28-sponsor-too-long.xml", "28-sponsor-too-long.xml:9: <xeno:sponsor>: 128 bytes is too long"},
    {"29-text-in-domain.xml", "29-text-in-domain.xml:4: <domain>: unexpected text 'hello'; only elements belong here"},
    {"30-memory-not-page-multiple.xml",
     "30-memory-not-page-multiple.xml:3: <memory>: 65537 KiB is not a multiple of 4 KiB"},
    {"31-kernel-is-directory.xml",
     "31-kernel-is-directory.xml:6: <kernel>: '../../../../build/guest' is not a regular file"},
    {"32-os-type-linux.xml", "32-os-type-linux.xml:6: <type>: 'linux' is not supported"},
    {"33-console-type-file.xml",
     "33-console-type-file.xml:9: <console>: type 'file' is not supported; use type=\"pty\""},
    {"34-sponsor-control-char.xml",
     "34-sponsor-control-char.xml:9: <xeno:sponsor>: text: control character (0x09) at byte 4 of 'acme?corp'"},
    {"35-metadata-unqualified.xml",
     "35-metadata-unqualified.xml:9: <sponsor>: elements in <metadata> need a namespace"},
    {"36-libvirt-disk.xml", "36-libvirt-disk.xml:9: <disk>: missing <source>; write <source file=\"NAME\"/>"},
    {"37-billion-laughs.xml", "37-billion-laughs.xml:2: <!DOCTYPE>: document type declarations are not accepted"},
    {"38-external-dtd.xml", "38-external-dtd.xml:2: <!DOCTYPE>: document type declarations are not accepted"},
    {"39-element-in-name.xml", "39-element-in-name.xml:2: <b>: unknown element in <name>"},
    {"40-memory-overflow.xml", "40-memory-overflow.xml:3: <memory>: '99999999999' is too large"},
    {"41-undeclared-prefix.xml",
     "41-undeclared-prefix.xml:9: XML syntax error: Namespace prefix xeno on sponsor is not defined"},
    {"42-empty.xml", "42-empty.xml:1: XML syntax error: the document is empty"},
    {"43-name-dotdot.xml",
     "43-name-dotdot.xml:2: <name>: '..' is not a valid domain name: it must not start with '.' or '-'"},
    {"44-xeno-unknown-element.xml", "44-xeno-unknown-element.xml:10: <xeno:owner>: unknown element in <metadata>"},
    {"45-memory-too-large.xml",
     "45-memory-too-large.xml:3: <memory>: 2 TiB is too large; the most a domain may have is 1 TiB"},
    {"46-console-port-1.xml", "46-console-port-1.xml:10: <target>: port '1'"},
    {"47-duplicate-console.xml",
     "47-duplicate-console.xml:10: <console>: duplicate element in <devices> (the first is on line 9)"},
    {"48-empty-name.xml", "48-empty-name.xml:2: <name>: empty"},
    {"49-coredump-destroy.xml", "49-coredump-destroy.xml:8: <on_crash>: 'coredump-destroy' is not supported"},
    {"50-vcpu-current.xml", "50-vcpu-current.xml:4: <vcpu>: attribute current='1' is not supported: vCPU hotplug"},
    {"51-nil-uuid.xml", "51-nil-uuid.xml:3: <uuid>: the nil UUID"},
    {"52-initrd-not-found.xml", "52-initrd-not-found.xml:7: <initrd>: 'no-such-initrd.img' ("},
    {"53-mismatched-tag.xml",
     "53-mismatched-tag.xml:4: XML syntax error: Opening and ending tag mismatch: vcpu line 4 and cpu"},
    {"54-domain-namespace.xml",
     "54-domain-namespace.xml:1: <domain>: in namespace 'http://libvirt.org/schemas/domain'"},
    {"55-memory-enforcement-unknown.xml", "55-memory-enforcement-unknown.xml:10: <xeno:memory>: enforcement 'kill' is "
                                          "unknown; use pause, destroy or report"},
    {"70-cputune-quota-over-period.xml",
     "70-cputune-quota-over-period.xml:9: <quota>: 20000 us is more than the period (10000 us)"},
    {"71-cpu-reservation-over-vcpus.xml",
     "71-cpu-reservation-over-vcpus.xml:11: <xeno:cpu>: reservation 150% is more than 1 vCPU can use (100%)"},
    {"72-cpu-reservation-above-limit.xml",
     "72-cpu-reservation-above-limit.xml:14: <xeno:cpu>: the reservation (40%) is above the limit (20%)"},
    {"73-cputune-shares-zero.xml", "73-cputune-shares-zero.xml:7: <shares>: 0 is out of range; give 2 to 262144"},
};
#define BAD_DIR "tests/data/xml/bad/"

static void malformed_files(void **state)
{
    (void)state;
    size_t n = sizeof(bad_files) / sizeof(bad_files[0]);
    glob_t g;
    assert_int_equal(glob(BAD_DIR "*.xml", 0, NULL, &g), 0);
    if (g.gl_pathc != n)
        fail_msg("%zu files in " BAD_DIR " but %zu in bad_files[]: list each with its message", g.gl_pathc, n);
    globfree(&g);
    /* The kernel the otherwise good ones name, so they fail for their own reason. */
    if (access("build/guest/hello.elf", R_OK) != 0)
        fail_msg("build/guest/hello.elf is missing: run `make guests` first");

    for (size_t i = 0; i < n; i++) {
        char path[PATH_MAX];
        struct domain_config c;
        snprintf(path, sizeof(path), BAD_DIR "%s", bad_files[i].file);
        memset(&c, 0xa5, sizeof(c));
        int r = domain_xml_parse_file(path, &c);
        if (r >= 0) {
            domain_config_free(&c);
            fail_msg("%s: accepted", path);
        }
        if (strncmp(err_msg(), BAD_DIR, strlen(BAD_DIR)) != 0 || !strstr(err_msg(), bad_files[i].want))
            fail_msg("%s:\n  message  \"%s\"\n  expected \"%s\"", path, err_msg(), bad_files[i].want);
        if (strchr(err_msg(), '\n'))
            fail_msg("%s: the message is more than one line: \"%s\"", path, err_msg());
        assert_zeroed(&c);
    }
}

/* The entity is neither fetched nor expanded, in a file or from the API. */
static void no_external_entities(void **state)
{
    (void)state;
    struct domain_config c;
    assert_int_equal(domain_xml_parse_file(BAD_DIR "27-xxe-system-entity.xml", &c), -EINVAL);
    assert_null(strstr(err_msg(), "root:"));
    char *s;
    assert_true(asprintf(&s,
                         "<!DOCTYPE domain [<!ENTITY xxe SYSTEM \"/etc/hostname\"><!ENTITY k \"%s\">]>\n"
                         "<domain><name>x</name><memory>65536</memory><os><kernel>&k;</kernel>"
                         "<cmdline>&xxe;</cmdline></os></domain>",
                         kernel) > 0);
    assert_int_equal(parse_text(s, "<api>", NULL, &c), -EINVAL);
    assert_string_equal(err_msg(), "<api>:1: <!DOCTYPE>: document type declarations are not accepted (domain XML has "
                                   "none, and its entities could read files); remove it");
    assert_zeroed(&c);
    free(s);
    /* Without a DOCTYPE an entity is merely undeclared. */
    s = doc(NULL, "<on_crash>&xxe;</on_crash>", NULL);
    bad(s, "test.xml:4: XML syntax error: Entity 'xxe' not defined");
}

static void files_and_sizes(void **state)
{
    (void)state;
    struct domain_config c;
    memset(&c, 0xa5, sizeof(c));
    assert_int_equal(domain_xml_parse_file("tests/data/xml/no-such-file.xml", &c), -ENOENT);
    assert_string_equal(err_msg(), "tests/data/xml/no-such-file.xml: No such file or directory");
    assert_zeroed(&c);
    assert_int_equal(domain_xml_parse_file("tests/data/xml", &c), -EINVAL);
    assert_string_equal(err_msg(), "tests/data/xml: not a regular file");

    /* A document larger than DOMAIN_XML_MAX is refused unread. */
    size_t len = DOMAIN_XML_MAX + 1;
    char *big = malloc(len + 1);
    memset(big, ' ', len);
    big[len] = '\0';
    memcpy(big, "<domain>", 8);
    assert_int_equal(parse_text(big, "<api>", NULL, &c), -EFBIG);
    assert_non_null(strstr(err_msg(), "<api>: 1048577 bytes is more than a domain XML may have"));
    assert_zeroed(&c);
    free(big);

    /* Other encodings arrive as UTF-8. */
    char *s;
    assert_true(asprintf(&s,
                         "<?xml version='1.0' encoding='ISO-8859-1'?>\n<domain><name>l</name><memory>65536</memory>"
                         "<os><kernel>%s</kernel></os><metadata><x:sponsor xmlns:x='" XENO_NS
                         "'>Caf\xe9</x:sponsor></metadata></domain>",
                         kernel) > 0);
    good(s, &c);
    assert_string_equal(c.sponsor, "Caf\xc3\xa9");
    domain_config_free(&c);
    /* A NUL inside is not XML. */
    const char nul[] = "<domain><name>a\0b</name></domain>";
    assert_int_equal(domain_xml_parse(nul, sizeof(nul) - 1, "<api>", NULL, &c), -EINVAL);
    assert_string_equal(err_msg(),
                        "<api>:1: NUL byte at offset 15: domain XML is text and may hold none (UTF-16 is not "
                        "accepted: save the file as UTF-8)");
}

/* Messages point at the line of the offending text, not where it ends. */
static void text_lines(void **state)
{
    (void)state;
    bad(doc(NULL, "\n\n  stray\n    words\n\n", NULL), "test.xml:6: <domain>: unexpected text 'stray'");
    bad(doc(NULL, NULL, "<kernel2/>"), "test.xml:7: <kernel2>: unknown element in <os>");
    bad(strdup("<domain>\n<name>x</name>\n<memory>65536</memory>\n<os>\n<kernel>/k</kernel>\n</os>tail\n</domain>"),
        "test.xml:6: <domain>: unexpected text 'tail'");
}

/* ---- libvirt's files (tests/data/xml/libvirt/) ---- */

/* expected.txt there: for each file "FILE: accepted" or "FILE: refused", then one line per
 * problem in the order they are reported, "  warning LINE FRAGMENT" or "  error LINE
 * FRAGMENT" (FRAGMENT: a part of the message after "FILE:LINE: "). Every file there must be
 * listed, and every problem: the list is exact. */
#define LIBVIRT_DIR "tests/data/xml/libvirt/"

/* The problems of one file as expected.txt would list them (for a failure message). */
static void show_report(const char *file, int r, const struct domain_xml_report *rep, char *buf, size_t size)
{
    size_t n = (size_t)snprintf(buf, size, "%s: %s\n", file, r == 0 ? "accepted" : "refused");
    for (size_t i = 0; i < rep->count && n < size; i++) {
        const char *t = rep->items[i].text, *colon = strchr(t, ':');
        colon = colon ? strchr(colon + 1, ':') : NULL;
        n += (size_t)snprintf(buf + n, size - n, "  %s %ld %s\n", rep->items[i].warning ? "warning" : "error",
                              rep->items[i].line, colon ? colon + 2 : t);
    }
}

static void check_libvirt_file(const char *file, bool accepted, char **want, size_t nwant)
{
    char path[PATH_MAX], *xml = NULL, shown[16384];
    size_t len = 0;
    snprintf(path, sizeof(path), LIBVIRT_DIR "%s", file);
    FILE *f = fopen(path, "rb");
    if (!f)
        fail_msg("%s: cannot open", path);
    xml = malloc(DOMAIN_XML_MAX);
    len = fread(xml, 1, DOMAIN_XML_MAX, f);
    fclose(f);
    struct domain_config c;
    struct domain_xml_report rep = {0};
    int r = domain_xml_parse_report(xml, len, path, NULL, &c, &rep);
    free(xml);
    show_report(file, r, &rep, shown, sizeof(shown));
    bool ok = (r == 0) == accepted && rep.count == nwant && rep.errors + rep.warnings == nwant;
    for (size_t i = 0; ok && i < nwant; i++) {
        char kind[16];
        long line;
        int off = 0;
        ok = sscanf(want[i], "%15s %ld %n", kind, &line, &off) == 2 && off > 0 &&
             (strcmp(kind, "warning") == 0) == (rep.items[i].warning != 0) && line == rep.items[i].line &&
             strstr(rep.items[i].text, want[i] + off) != NULL;
    }
    if (r == 0)
        domain_config_free(&c);
    domain_xml_report_free(&rep);
    if (!ok) {
        fprintf(stderr, "%s", shown);
        fail_msg("%s does not match " LIBVIRT_DIR "expected.txt; it gives the above", file);
    }
}

static void libvirt_files(void **state)
{
    (void)state;
    FILE *f = fopen(LIBVIRT_DIR "expected.txt", "r");
    assert_non_null(f);
    char line[1024], file[256] = "", *want[64];
    size_t nwant = 0, files = 0;
    bool accepted = false;
    for (;;) {
        bool eof = !fgets(line, sizeof(line), f);
        line[strcspn(line, "\n")] = '\0';
        if (!eof && (line[0] == '#' || line[0] == '\0'))
            continue;
        if (!eof && line[0] == ' ') {
            assert_true(nwant < 64);
            want[nwant++] = strdup(line + 2);
            continue;
        }
        if (file[0]) {
            check_libvirt_file(file, accepted, want, nwant);
            files++;
        }
        for (size_t i = 0; i < nwant; i++)
            free(want[i]);
        nwant = 0;
        if (eof)
            break;
        char *colon = strstr(line, ": ");
        assert_non_null(colon);
        snprintf(file, sizeof(file), "%.*s", (int)(colon - line), line);
        accepted = strcmp(colon + 2, "accepted") == 0;
    }
    fclose(f);
    glob_t g;
    assert_int_equal(glob(LIBVIRT_DIR "*.xml", 0, NULL, &g), 0);
    if (g.gl_pathc != files)
        fail_msg("%zu files in " LIBVIRT_DIR " but %zu in expected.txt: list each", g.gl_pathc, files);
    globfree(&g);
}

/* The file declaring ISO-8859-1 in real Latin-1 bytes is decoded right (the refusal of UTF-8
 * bytes under that declaration is in expected.txt). */
static void encodings(void **state)
{
    (void)state;
    struct domain_config c;
    assert_int_equal(domain_xml_parse_file(LIBVIRT_DIR "encoding-latin1.xml", &c), 0);
    assert_string_equal(c.sponsor, "caf\xc3\xa9");
    domain_config_free(&c);
    /* The same UTF-8 bytes declared as UTF-8 are fine, and so is a UTF-8 BOM. */
    char *s;
    assert_true(
        asprintf(&s,
                 "\xef\xbb\xbf<?xml version='1.0' encoding='utf-8'?>\n<domain><name>u</name><memory>65536</memory>"
                 "<os><kernel>%s</kernel></os><metadata><x:sponsor xmlns:x='" XENO_NS
                 "'>caf\xc3\xa9</x:sponsor></metadata></domain>",
                 kernel) > 0);
    good(s, &c);
    assert_string_equal(c.sponsor, "caf\xc3\xa9");
    domain_config_free(&c);
    /* windows-1252 over UTF-8 bytes: refused, the offset named. */
    assert_true(asprintf(&s,
                         "<?xml version='1.0' encoding='windows-1252'?>\n<domain><name>u</name><memory>65536</memory>"
                         "<os><kernel>%s</kernel></os><description>caf\xc3\xa9</description></domain>",
                         kernel) > 0);
    assert_int_equal(parse_text(s, "w.xml", NULL, &c), -EILSEQ);
    free(s);
    assert_non_null(
        strstr(err_msg(), "w.xml:2: XML declaration says encoding 'windows-1252', but the bytes are UTF-8"));
    /* The depth limit says what it is, not libxml2's option. */
    size_t n = 300 * 7 + 64;
    char *deep = malloc(2 * n);
    strcpy(deep, "<domain>");
    for (int i = 0; i < 300; i++)
        strcat(deep, "<a>");
    for (int i = 0; i < 300; i++)
        strcat(deep, "</a>");
    strcat(deep, "</domain>");
    assert_int_equal(parse_text(deep, "d.xml", NULL, &c), -EINVAL);
    free(deep);
    assert_non_null(strstr(err_msg(), "nested too deep"));
    assert_null(strstr(err_msg(), "XML_PARSE_HUGE"));
    /* Every problem is looked for, so the elements are bounded: 10001 are refused at once. */
    char *many = malloc(10000 * 4 + 64), *p = many;
    p += sprintf(p, "<domain>");
    for (int i = 0; i < 10000; i++)
        p += sprintf(p, "<a/>");
    sprintf(p, "</domain>");
    assert_int_equal(parse_text(many, "m.xml", NULL, &c), -E2BIG);
    free(many);
    assert_string_equal(err_msg(), "m.xml: 10001 elements is more than a domain XML may have (10000; one has a few "
                                   "hundred at most)");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(examples_parse),
        cmocka_unit_test(defaults),
        cmocka_unit_test(everything),
        cmocka_unit_test(whitespace_comments_cdata),
        cmocka_unit_test(memory_units),
        cmocka_unit_test(memory_limits),
        cmocka_unit_test(vcpus),
        cmocka_unit_test(os_elements),
        cmocka_unit_test(lifecycle),
        cmocka_unit_test(devices),
        cmocka_unit_test(memtune),
        cmocka_unit_test(interfaces),
        cmocka_unit_test(control_characters),
        cmocka_unit_test(metadata),
        cmocka_unit_test(memory_enforcement),
        cmocka_unit_test(cputune),
        cmocka_unit_test(uuids),
        cmocka_unit_test(names),
        cmocka_unit_test(relative_paths),
        cmocka_unit_test(api_relative_refused),
        cmocka_unit_test(malformed_files),
        cmocka_unit_test(no_external_entities),
        cmocka_unit_test(files_and_sizes),
        cmocka_unit_test(text_lines),
        cmocka_unit_test(libvirt_files),
        cmocka_unit_test(encodings),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
