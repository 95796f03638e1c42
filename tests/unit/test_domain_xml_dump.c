/* The XML a domain is dumped as (domain_xml_canonical(): `xenctl dumpxml`, GET
 * /v1/domains/{ref}/xml, what snapshots carry): for every example and every accepted file
 * of the libvirt corpus, dump -> parse gives the same configuration, and a second dump is
 * byte-identical to the first (docs/domain-xml.md, "Round trip").
 *
 * Runs from the repository root: the examples' kernels are in build/guest/ (make guests). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <glob.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lib/domain_config.h"
#include "lib/err.h"

static char *read_all(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        fail_msg("cannot read %s", path);
    char *buf = malloc(DOMAIN_XML_MAX + 1);
    assert_non_null(buf);
    *len = fread(buf, 1, DOMAIN_XML_MAX, f);
    buf[*len] = 0;
    fclose(f);
    return buf;
}

static int same_str(const char *a, const char *b)
{
    return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

/* Every field of the configuration, named in the failure. */
static void assert_same_config(const char *file, const struct domain_config *a, const struct domain_config *b)
{
#define SAME(cond, what)                                                                                               \
    do {                                                                                                               \
        if (!(cond))                                                                                                   \
            fail_msg("%s: the dump's %s differs from the definition's", file, what);                                   \
    } while (0)
    SAME(strcmp(a->name, b->name) == 0, "name");
    SAME(strcmp(a->uuid, b->uuid) == 0, "uuid");
    SAME(strcmp(a->sponsor, b->sponsor) == 0, "sponsor");
    SAME(a->memory_bytes == b->memory_bytes, "memory");
    SAME(a->current_memory_bytes == b->current_memory_bytes, "currentMemory");
    SAME(a->vcpus == b->vcpus, "vcpu");
    SAME(same_str(a->kernel, b->kernel), "kernel");
    SAME(same_str(a->initrd, b->initrd), "initrd");
    SAME(same_str(a->cmdline, b->cmdline), "cmdline");
    SAME(a->on_poweroff == b->on_poweroff && a->on_reboot == b->on_reboot && a->on_crash == b->on_crash,
         "lifecycle actions");
    SAME(a->memory_enforcement == b->memory_enforcement, "memory enforcement");
    SAME(memcmp(&a->sched, &b->sched, sizeof(a->sched)) == 0, "CPU scheduling");
    SAME(memcmp(&a->net, &b->net, sizeof(a->net)) == 0, "interface");
    SAME(a->ndisks == b->ndisks && a->blkio_weight == b->blkio_weight, "disks");
    for (unsigned i = 0; i < a->ndisks; i++) {
        struct domain_disk da = a->disks[i], db = b->disks[i];
        SAME(strcmp(da.file, db.file) == 0, "disk's source file");
        da.line = db.line = da.source_line = db.source_line = 0; /* where it is written may move */
        SAME(memcmp(&da, &db, sizeof(da)) == 0, "disk");
    }
#undef SAME
}

/* One file: parse it, dump it, parse the dump, dump again. Returns 1 if it was accepted. */
static int round_trip(const char *file)
{
    size_t len, d1_len, d2_len;
    char *xml = read_all(file, &len);
    struct domain_config a, b;
    struct domain_xml_report rep = {0};
    int rc = domain_xml_parse_report(xml, len, file, NULL, &a, &rep);
    domain_xml_report_free(&rep);
    if (rc < 0) {
        free(xml);
        return 0;
    }
    char *d1 = NULL, *d2 = NULL;
    if (domain_xml_canonical(xml, len, &a, &d1, &d1_len) < 0)
        fail_msg("%s: dump: %s", file, err_msg());
    /* The dump stands alone: no file to resolve paths against, as an API client sends it. */
    struct domain_xml_report rep2 = {0};
    if (domain_xml_parse_report(d1, d1_len, "<api>", NULL, &b, &rep2) < 0)
        fail_msg("%s: its dump is refused: %s\n%s", file, err_msg(), d1);
    domain_xml_report_free(&rep2);
    assert_same_config(file, &a, &b);
    if (domain_xml_canonical(d1, d1_len, &b, &d2, &d2_len) < 0)
        fail_msg("%s: second dump: %s", file, err_msg());
    if (d1_len != d2_len || memcmp(d1, d2, d1_len) != 0)
        fail_msg("%s: the second dump differs from the first:\n%s\n----\n%s", file, d1, d2);
    /* What was filled in by default is written out. */
    if (!strstr(d1, a.uuid) || !strstr(d1, "<currentMemory") || !strstr(d1, "<vcpu") || !strstr(d1, "<on_poweroff>") ||
        !strstr(d1, "<on_reboot>") || !strstr(d1, "<on_crash>"))
        fail_msg("%s: the dump lacks a default it was given:\n%s", file, d1);
    domain_config_free(&a);
    domain_config_free(&b);
    free(d1);
    free(d2);
    free(xml);
    return 1;
}

static void examples_round_trip(void **state)
{
    (void)state;
    glob_t g;
    assert_int_equal(glob("examples/*.xml", 0, NULL, &g), 0);
    assert_true(g.gl_pathc >= 10);
    for (size_t i = 0; i < g.gl_pathc; i++)
        if (!round_trip(g.gl_pathv[i]))
            fail_msg("%s: %s", g.gl_pathv[i], err_msg());
    globfree(&g);
}

/* The libvirt-style files that are accepted (with warnings) round-trip too: their ignored
 * elements stay in the dump (and warn again), the honoured ones mean the same. */
static void libvirt_corpus_round_trip(void **state)
{
    (void)state;
    glob_t g;
    int accepted = 0;
    assert_int_equal(glob("tests/data/xml/libvirt/*.xml", 0, NULL, &g), 0);
    for (size_t i = 0; i < g.gl_pathc; i++)
        accepted += round_trip(g.gl_pathv[i]);
    globfree(&g);
    assert_true(accepted >= 2);
}

/* Defaults are written where the document left them out, in libvirt's order, each on a
 * line of its own; a document declared in ISO-8859-1 is dumped as UTF-8. */
static void defaults_written(void **state)
{
    (void)state;
    char dir[] = "/tmp/test_domain_xml_dump.XXXXXX", kernel[64], xml[512];
    assert_non_null(mkdtemp(dir));
    snprintf(kernel, sizeof(kernel), "%s/k.elf", dir);
    FILE *f = fopen(kernel, "w");
    assert_non_null(f);
    fclose(f);
    snprintf(xml, sizeof(xml),
             "<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?>\n<domain>\n  <name>t</name>\n  <memory "
             "unit=\"MiB\">64</memory>\n  <title>caf\xe9</title>\n  <os><kernel>%s</kernel></os>\n</domain>\n",
             kernel);
    struct domain_config c;
    struct domain_xml_report rep = {0};
    assert_int_equal(domain_xml_parse_report(xml, strlen(xml), "<api>", NULL, &c, &rep), 0);
    domain_xml_report_free(&rep);
    char *out;
    size_t len;
    assert_int_equal(domain_xml_canonical(xml, strlen(xml), &c, &out, &len), 0);
    char want[1024];
    snprintf(want, sizeof(want),
             "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<domain>\n  <name>t</name>\n  <uuid>%s</uuid>\n  <memory "
             "unit=\"MiB\">64</memory>\n  <currentMemory unit=\"KiB\">65536</currentMemory>\n  <vcpu "
             "placement=\"static\">1</vcpu>\n  <title>caf\xc3\xa9</title>\n  <os><kernel>%s</kernel></os>\n  "
             "<on_poweroff>destroy</on_poweroff>\n  <on_reboot>restart</on_reboot>\n  "
             "<on_crash>destroy</on_crash>\n</domain>\n",
             c.uuid, kernel);
    assert_string_equal(out, want);
    free(out);
    domain_config_free(&c);
    unlink(kernel);
    rmdir(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(examples_round_trip),
        cmocka_unit_test(libvirt_corpus_round_trip),
        cmocka_unit_test(defaults_written),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
