#include <errno.h>
#include <string.h>

#include "audit/flowlog.h"
#include "lib/err.h"

static bool match(const struct flowlog_query *q, const struct flowlog_entry *e)
{
    if (q->sponsor && strcmp(q->sponsor, e->sponsor) != 0)
        return false;
    if (q->domain && strcmp(q->domain, e->domain) != 0)
        return false;
    if (q->since_ns && e->rec.end_ns < q->since_ns / 1000000 * 1000000)
        return false;
    if (q->until_ns && e->rec.start_ns > q->until_ns)
        return false;
    if (q->has_dst) {
        /* The destination is the side that was contacted: the remote end of a flow the domain
         * opened, the domain's own address for one that came in. */
        const uint8_t *dst = e->rec.dir == 0 ? e->rec.key.remote : e->rec.key.local;
        if (e->rec.key.family != q->dst_family || memcmp(dst, q->dst, q->dst_family == 6 ? 16 : 4) != 0)
            return false;
    }
    return true;
}

static bool block_may_match(const struct flowlog_query *q, const struct flowlog_block_hdr *h)
{
    if (q->since_ns && h->t_max_ms < q->since_ns / 1000000)
        return false;
    if (q->until_ns && h->t_min_ms * 1000000 > q->until_ns)
        return false;
    if (q->sponsor && !flowlog_block_may_have_owner(h, 's', q->sponsor))
        return false;
    if (q->domain && !flowlog_block_may_have_owner(h, 'd', q->domain))
        return false;
    if (q->has_dst && !flowlog_block_may_have_addr(h, q->dst_family, q->dst))
        return false;
    return true;
}

int flowlog_query_run(const char *path, const struct flowlog_query *q,
                      int (*fn)(void *opaque, const struct flowlog_entry *e), void *opaque,
                      struct flowlog_query_stats *st)
{
    memset(st, 0, sizeof(*st));
    struct flowlog_reader r;
    int rc = flowlog_reader_open(path, &r);
    if (rc < 0)
        return rc;
    struct flowlog_block b;
    for (;;) {
        /* The header first: the payload is read only when the index allows a match. */
        uint64_t at = r.offset;
        rc = flowlog_reader_next(&r, false, &b);
        if (rc <= 0)
            break;
        st->blocks++;
        if (!block_may_match(q, &b.hdr))
            continue;
        r.offset = at;
        rc = flowlog_reader_next(&r, true, &b);
        if (rc <= 0)
            break;
        if (flowlog_block_decode(&b) < 0) {
            rc = -EBADMSG;
            flowlog_block_release(&b);
            break;
        }
        st->blocks_decoded++;
        for (uint32_t i = 0; i < b.nentries && rc == 1; i++) {
            st->records_scanned++;
            if (!match(q, &b.entries[i]))
                continue;
            st->matched++;
            int stop = fn(opaque, &b.entries[i]);
            if (stop) {
                rc = stop;
                flowlog_block_release(&b);
                flowlog_reader_close(&r);
                return rc;
            }
        }
        flowlog_block_release(&b);
    }
    flowlog_reader_close(&r);
    if (rc < 0)
        return err_wrap(EBADMSG, "%s", path);
    return 0;
}
