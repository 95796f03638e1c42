/* xeno-blkback's disk spec: the line xenod writes for each disk of a sponsor's domain
 * (domain_disk_spec, src/lib/domain_disk.c: --disk and the control socket's add-disk) and
 * the backend reads (blk_disk_spec_parse, src/blk/disk_spec.c). Every value in it comes from
 * the sponsor's XML (file, target, serial, group_name, the <iotune> numbers), and the line
 * goes on a control socket whose commands are split on blanks and ended by a newline. Even
 * bit of byte 0, writer -> reader: the input fills one disk's fields byte for byte (any byte,
 * cut to each field's size), as if the XML parser's checks had been bypassed; whatever
 * domain_disk_spec agrees to write must hold no blank, control character or DEL, must be
 * exactly the words the writer meant (name, socket, file, readonly, queues, serial, one per
 * limit, group, weight, reservation: no value turned into a word of its own), and, when the
 * backend takes it, read back the same name, file, serial and flags. Odd bit: the bytes are
 * a spec for the reader alone, which must not crash and must only accept names and serials
 * of their documented alphabets. */
#include <stdio.h>

#include "blk/disk_spec.h"
#include "fuzz/fuzz.h"
#include "lib/domain_config.h"

#define TAG "u0123456789"
#define SOCKET "/run/xeno/d/disk-vda.sock"

static void fail(const char *why, const char *spec)
{
    fprintf(stderr, "%s: %s\n", why, spec);
    abort();
}

/* Takes up to `max` bytes (stopping at a NUL) from the input into a field. */
static void take(const uint8_t **p, const uint8_t *end, char *field, size_t max)
{
    size_t n = 0;
    while (*p < end && n < max && **p)
        field[n++] = (char)*(*p)++;
    field[n] = '\0';
    if (*p < end)
        (*p)++;
}

static uint64_t take_u64(const uint8_t **p, const uint8_t *end)
{
    uint64_t v = 0;
    for (int i = 0; i < 8 && *p < end; i++)
        v |= (uint64_t) * (*p)++ << (8 * i);
    return v;
}

/* The spec's next word must be `want` exactly. */
static void expect(char **save, const char *want, const char *spec)
{
    char *w = strtok_r(NULL, ",", save);
    if (!w || strcmp(w, want)) {
        fprintf(stderr, "word '%s' where '%s' was written\n", w ? w : "(end)", want);
        fail("the spec's words are not the writer's", spec);
    }
}

static void writer(const uint8_t *data, size_t size)
{
    const uint8_t *p = data + 1, *end = data + size;
    struct domain_config *c = calloc(1, sizeof(*c));
    if (!c)
        abort();
    c->ndisks = 1;
    struct domain_disk *d = &c->disks[0];
    take(&p, end, d->file, DOMAIN_DISK_FILE_MAX);
    take(&p, end, d->target, DOMAIN_DISK_TARGET_MAX);
    take(&p, end, d->serial, DOMAIN_DISK_SERIAL_MAX);
    take(&p, end, d->group, DOMAIN_DISK_GROUP_MAX);
    uint8_t flags = p < end ? *p++ : 0;
    d->readonly = flags & 1;
    d->queues = (flags >> 1) & 7;
    c->blkio_weight = flags & 16 ? (uint32_t)take_u64(&p, end) : 0;
    d->reservation = flags & 32 ? take_u64(&p, end) : 0;
    uint32_t which = (uint32_t)take_u64(&p, end);
    for (int k = 0; k < IOTUNE_KEYS; k++)
        if (which >> k & 1)
            d->iotune[k] = take_u64(&p, end);

    char spec[2048];
    if (domain_disk_spec(c, 0, TAG, SOCKET, spec, sizeof(spec)) == 0) {
        for (const char *s = spec; *s; s++)
            if ((unsigned char)*s <= ' ' || *s == 0x7f)
                fail("a blank or control character in the spec", spec);
        char copy[sizeof(spec)], want[640], *save = NULL;
        memcpy(copy, spec, sizeof(spec));
        snprintf(want, sizeof(want), "name=%s-%s", TAG, d->target);
        char *w = strtok_r(copy, ",", &save);
        if (!w || strcmp(w, want))
            fail("the spec's first word is not the disk's name", spec);
        expect(&save, "socket=" SOCKET, spec);
        snprintf(want, sizeof(want), "file=%s", d->file);
        expect(&save, want, spec);
        if (d->readonly)
            expect(&save, "readonly", spec);
        if (d->queues > 1) {
            snprintf(want, sizeof(want), "queues=%u", d->queues);
            expect(&save, want, spec);
        }
        if (d->serial[0]) {
            snprintf(want, sizeof(want), "serial=%s", d->serial);
            expect(&save, want, spec);
        }
        for (int k = 0; k < IOTUNE_KEYS; k++)
            if (d->iotune[k]) {
                snprintf(want, sizeof(want), "%s=%llu", domain_iotune_names[k], (unsigned long long)d->iotune[k]);
                expect(&save, want, spec);
            }
        if (d->group[0]) {
            char key[DOMAIN_DISK_KEY_SIZE];
            if (domain_disk_group_key(TAG "-", d->group, key) < 0)
                fail("a group written without a key", spec);
            snprintf(want, sizeof(want), "group=%s", key);
            expect(&save, want, spec);
        }
        if (c->blkio_weight) {
            snprintf(want, sizeof(want), "weight=%u", c->blkio_weight);
            expect(&save, want, spec);
        }
        if (d->reservation) {
            snprintf(want, sizeof(want), "reservation=%llu", (unsigned long long)d->reservation);
            expect(&save, want, spec);
        }
        if (strtok_r(NULL, ",", &save))
            fail("the spec has words the writer did not write", spec);

        struct blk_disk_config b;
        if (blk_disk_spec_parse(spec, &b) == 0) {
            snprintf(want, sizeof(want), "%s-%s", TAG, d->target);
            if (strcmp(b.name, want) || strcmp(b.file, d->file) || strcmp(b.serial, d->serial) ||
                strcmp(b.socket, SOCKET) || b.readonly != (d->readonly != 0) ||
                b.queues != (d->queues > 1 ? d->queues : 1))
                fail("the backend read another disk than the one written", spec);
        }
    }
    free(c);
}

static void reader(const uint8_t *data, size_t size)
{
    char *text = fuzz_cstr(data + 1, size - 1);
    struct blk_disk_config b;
    if (blk_disk_spec_parse(text, &b) == 0) {
        size_t n = strlen(b.name);
        if (n == 0 || n > 31 || strspn(b.name, "abcdefghijklmnopqrstuvwxyz0123456789_-") != n)
            fail("a disk name outside [a-z0-9_-]{1,31} accepted", text);
        for (const char *s = b.serial; *s; s++)
            if (*s <= ' ' || *s > '~' || *s == ',')
                fail("a serial with a blank, comma or control character accepted", text);
        if (b.file[0] == '/' || !b.file[0] || b.queues < 1 || b.queues > BLK_MAX_QUEUES)
            fail("an absolute or empty file, or a queue count out of range, accepted", text);
    }
    free(text);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    if (data[0] & 1)
        reader(data, size);
    else
        writer(data, size);
    return 0;
}
