#include "vmm/state/migrate_state.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "lib/err.h"
#include "vmm/state/snapshot_vm.h"

/* ---- encoding ----------------------------------------------------------------------- */

/* A snapshot file's section framing (snap_write_section), with `next` an offset in the buffer. */
int mig_state_put(void *opaque, uint32_t type, const void *data, size_t len)
{
    struct mig_state_buf *b = opaque;
    size_t need = b->len + sizeof(struct snap_section_hdr) + ((len + 7) & ~(size_t)7);
    if (need > b->cap) {
        size_t cap = b->cap ? b->cap : 65536;
        while (cap < need)
            cap *= 2;
        uint8_t *n = realloc(b->p, cap);
        if (!n)
            return err_set(ENOMEM, "migration state: out of memory");
        b->p = n;
        b->cap = cap;
    }
    struct snap_section_hdr h = {.type = type, .crc = snap_crc32(0, data, len), .length = len, .next = need};
    memcpy(b->p + b->len, &h, sizeof(h));
    memcpy(b->p + b->len + sizeof(h), data, len);
    memset(b->p + b->len + sizeof(h) + len, 0, need - b->len - sizeof(h) - len);
    b->len = need;
    return 0;
}

int mig_state_encode(struct vm *vm, uint8_t **out, size_t *out_len)
{
    struct mig_state_buf b = {0};
    int r = vm_snapshot_write_state(vm, mig_state_put, &b);
    if (r) {
        free(b.p);
        return r;
    }
    *out = b.p;
    *out_len = b.len;
    return 0;
}

/* ---- checking and applying ------------------------------------------------------------ */

/* The framing, bounds and CRCs (what snap_parse does for a file): the peer is untrusted.
 * What the sections hold is checked by vm_snapshot_apply_state. */
int mig_state_parse(const uint8_t *buf, size_t len, mig_section_size_fn size_of, const void *ctx,
                    struct snap_section *sec, unsigned *n)
{
    uint64_t off = 0;
    *n = 0;
    while (off < len) {
        struct snap_section_hdr h;
        if (len - off < sizeof(h))
            return err_set(EPROTO, "migration state: truncated section header at offset %llu", (unsigned long long)off);
        memcpy(&h, buf + off, sizeof(h));
        size_t want = size_of(ctx, h.type);
        if (!want)
            return err_set(EPROTO, "migration state: section type %u at offset %llu is not a state section", h.type,
                           (unsigned long long)off);
        /* Before any arithmetic on it: a length from the peer could wrap the end below. */
        if (h.length != want)
            return err_set(EPROTO,
                           "migration state: %s section at offset %llu holds %llu bytes, this monitor expects %zu",
                           snap_section_name(h.type), (unsigned long long)off, (unsigned long long)h.length, want);
        uint64_t end = off + sizeof(h) + ((h.length + 7) & ~7ULL);
        if (end > len || h.next != end)
            return err_set(EPROTO, "migration state: %s section at offset %llu runs past the end or is misframed",
                           snap_section_name(h.type), (unsigned long long)off);
        if (snap_crc32(0, buf + off + sizeof(h), h.length) != h.crc)
            return err_set(EPROTO, "migration state: %s section at offset %llu: checksum mismatch",
                           snap_section_name(h.type), (unsigned long long)off);
        if (*n == MIG_STATE_MAX_SECTIONS)
            return err_set(EPROTO, "migration state: more than %d sections", MIG_STATE_MAX_SECTIONS);
        sec[(*n)++] = (struct snap_section){h.type, off, buf + off + sizeof(h), h.length};
        off = end;
    }
    return 0;
}

static size_t vm_section_size(const void *vm, uint32_t type)
{
    return vm_state_section_size(vm, type);
}

int mig_state_apply(struct vm *vm, const uint8_t *buf, size_t len)
{
    struct snap_section *sec = malloc(MIG_STATE_MAX_SECTIONS * sizeof(*sec));
    if (!sec)
        return err_set(ENOMEM, "out of memory");
    unsigned n;
    int r = mig_state_parse(buf, len, vm_section_size, vm, sec, &n);
    if (!r)
        r = vm_snapshot_apply_state(vm, sec, n, DEV_STATE_PEER);
    free(sec);
    return r;
}
