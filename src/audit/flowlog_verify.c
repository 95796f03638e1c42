#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "audit/flowlog.h"
#include "lib/err.h"

/* The index a block's header must carry, recomputed from its records. */
static int check_index(const struct flowlog_block *b)
{
    uint8_t ob[FLOWLOG_OWNER_BLOOM_BYTES] = {0}, ab[FLOWLOG_ADDR_BLOOM_BYTES] = {0};
    uint64_t tmin = UINT64_MAX, tmax = 0;
    for (uint32_t i = 0; i < b->nentries; i++) {
        const struct flowlog_entry *e = &b->entries[i];
        flowlog_bloom_add_owner(ob, 'd', e->domain);
        flowlog_bloom_add_owner(ob, 's', e->sponsor);
        flowlog_bloom_add_addr(ab, e->rec.key.family, e->rec.key.local);
        flowlog_bloom_add_addr(ab, e->rec.key.family, e->rec.key.remote);
        uint64_t s = e->rec.start_ns / 1000000, t = e->rec.end_ns / 1000000;
        tmin = s < tmin ? s : tmin;
        tmax = t > tmax ? t : tmax;
    }
    if (memcmp(ob, b->hdr.owner_bloom, sizeof(ob)) != 0 || memcmp(ab, b->hdr.addr_bloom, sizeof(ab)) != 0)
        return err_set(EBADMSG, "its index blooms do not match its records");
    if (tmin != b->hdr.t_min_ms || tmax != b->hdr.t_max_ms)
        return err_set(EBADMSG, "its time range does not match its records");
    return 0;
}

int flowlog_verify(const char *path, const uint8_t *key, size_t key_len, struct flowlog_verify_report *rep)
{
    memset(rep, 0, sizeof(*rep));
    rep->t_min_ms = UINT64_MAX;
    struct flowlog_reader r;
    int rc = flowlog_reader_open(path, &r);
    if (rc < 0)
        return rc;
    uint8_t prev[32];
    memcpy(prev, r.file_hash, 32);
    struct flowlog_block b;
    while ((rc = flowlog_reader_next(&r, true, &b)) == 1) {
        const char *what = NULL;
        char why[256] = "";
        if (b.hdr.seq != rep->blocks)
            snprintf(why, sizeof(why), "sequence number %llu where %llu was due (a block deleted or moved)",
                     (unsigned long long)b.hdr.seq, (unsigned long long)rep->blocks);
        else if (memcmp(b.hdr.prev_hash, prev, 32) != 0)
            what = "its link to the block before does not match (that block, or this header, was altered)";
        else if (flowlog_block_decode(&b) < 0 || check_index(&b) < 0)
            snprintf(why, sizeof(why), "%s", err_msg());
        else if (b.hdr.flags & FLOWLOG_BLOCK_SEALED) {
            rep->sealed++;
            rep->any_sealed = true;
            rep->last_sealed_seq = b.hdr.seq;
            if (key) {
                uint8_t want[32];
                flowlog_seal(key, key_len, r.file_id, b.hash, want);
                if (memcmp(want, b.hdr.seal, 32) != 0)
                    what = "its seal does not match (altered, or another key)";
                else
                    rep->seals_checked++;
            }
        }
        if (what || why[0]) {
            rc = err_set(EBADMSG, "%s: block %llu at offset %llu: %s", path, (unsigned long long)rep->blocks,
                         (unsigned long long)b.offset, what ? what : why);
            flowlog_block_release(&b);
            flowlog_reader_close(&r);
            return rc;
        }
        memcpy(prev, b.hash, 32);
        rep->blocks++;
        rep->records += b.nentries;
        rep->unsealed_tail = (b.hdr.flags & FLOWLOG_BLOCK_SEALED) ? 0 : rep->unsealed_tail + 1;
        if (b.hdr.t_min_ms < rep->t_min_ms)
            rep->t_min_ms = b.hdr.t_min_ms;
        if (b.hdr.t_max_ms > rep->t_max_ms)
            rep->t_max_ms = b.hdr.t_max_ms;
        flowlog_block_release(&b);
    }
    rep->bytes = r.offset;
    flowlog_reader_close(&r);
    if (rc < 0) {
        err_wrap(EBADMSG, "%s", path);
        return err_append(EBADMSG, " (after %llu good blocks)", (unsigned long long)rep->blocks);
    }
    if (rep->blocks == 0)
        rep->t_min_ms = 0;
    return 0;
}
