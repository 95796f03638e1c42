#include "audit/scan_trw.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "lib/err.h"

void trw_defaults(struct trw_params *p)
{
    p->theta0 = 0.8;
    p->theta1 = 0.2;
    p->p_d = 0.99;
    p->p_f = 0.01;
    p->timeout_ns = 3000000000ull;
    p->release_ns = 1000000000ull;
}

enum trw_change trw_observe(struct trw_state *s, const struct trw_params *p, bool success)
{
    double up = log(p->p_d / p->p_f), down = log((1 - p->p_d) / (1 - p->p_f));
    if (success) {
        s->llr += log(p->theta1 / p->theta0);
        s->successes++;
    } else {
        s->llr += log((1 - p->theta1) / (1 - p->theta0));
        s->failures++;
    }
    if (!s->scanner && s->llr >= up) {
        s->scanner = true;
        /* Held at the threshold: release needs a run of successes, not paying off a debt
         * of every failure the scan made. */
        s->llr = up;
        return TRW_DETECTED;
    }
    if (s->scanner && s->llr > up)
        s->llr = up;
    if (s->llr <= down) {
        bool was = s->scanner;
        s->llr = 0;
        s->scanner = false;
        s->failures = s->successes = 0;
        return was ? TRW_RELEASED : TRW_NO_CHANGE;
    }
    return TRW_NO_CHANGE;
}

bool trw_admit_new(struct trw_state *s, const struct trw_params *p, uint64_t now_ns, uint64_t *retry_ns)
{
    if (!s->scanner)
        return true;
    if (now_ns >= s->next_new_ns) {
        s->next_new_ns = now_ns + p->release_ns;
        return true;
    }
    *retry_ns = s->next_new_ns;
    return false;
}

int trw_seen_init(struct trw_seen *s, uint32_t entries)
{
    uint32_t sets = 1;
    while (sets * 4 < entries)
        sets <<= 1;
    int rc = siphash_random_key(s->key);
    if (rc < 0)
        return err_wrap(-rc, "scan detector");
    s->fp = calloc((size_t)sets * 4, sizeof(*s->fp));
    if (!s->fp)
        return err_set(ENOMEM, "scan detector: out of memory for %u destinations", entries);
    s->sets = sets;
    return 0;
}

void trw_seen_free(struct trw_seen *s)
{
    free(s->fp);
    s->fp = NULL;
}

static uint64_t fingerprint(const struct trw_seen *s, uint32_t domain_id, const uint8_t addr[16], uint16_t port)
{
    uint8_t in[22];
    memcpy(in, &domain_id, 4);
    memcpy(in + 4, addr, 16);
    memcpy(in + 20, &port, 2);
    return siphash13(s->key, in, sizeof(in)) | 1; /* 0 marks an empty way */
}

bool trw_seen_contains(struct trw_seen *s, uint32_t domain_id, const uint8_t addr[16], uint16_t port)
{
    uint64_t h = fingerprint(s, domain_id, addr, port);
    uint64_t *set = &s->fp[(size_t)(h >> 40 & (s->sets - 1)) * 4];
    for (int w = 0; w < 4; w++)
        if (set[w] == h) {
            /* Move to the front: the last way is the one forgotten next. */
            memmove(set + 1, set, (size_t)w * sizeof(*set));
            set[0] = h;
            return true;
        }
    return false;
}

void trw_seen_insert(struct trw_seen *s, uint32_t domain_id, const uint8_t addr[16], uint16_t port)
{
    if (trw_seen_contains(s, domain_id, addr, port))
        return;
    uint64_t h = fingerprint(s, domain_id, addr, port);
    uint64_t *set = &s->fp[(size_t)(h >> 40 & (s->sets - 1)) * 4];
    memmove(set + 1, set, 3 * sizeof(*set));
    set[0] = h;
}
