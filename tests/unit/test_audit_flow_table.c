/* The flow table (src/audit/flow_table.c): fixed capacity, lookups after many inserts and
 * removals (every remaining key findable, spilled keys included), the eviction clock picks the
 * least recently seen, bad capacities are refused; and what a guest that chooses keys can do
 * (issue 14): even keys that all hash alike (as if the hash key were known) cost a lookup at
 * most FLOW_TABLE_MAX_PROBES slots and evict only their own group's flows, and a group's
 * oldest-first list gives its quota victim. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "audit/flow_table.h"

static struct flow_key key_of(uint32_t i)
{
    struct flow_key k;
    memset(&k, 0, sizeof(k));
    k.family = 4;
    k.proto = 6;
    k.local[0] = 10;
    k.local[3] = (uint8_t)(i % 7);
    k.remote[0] = 192;
    k.remote[1] = (uint8_t)(i >> 16);
    k.remote[2] = (uint8_t)(i >> 8);
    k.remote[3] = (uint8_t)i;
    k.lport = (uint16_t)(i * 31);
    k.rport = 443;
    k.port = (uint16_t)(i % 5);
    return k;
}

static void test_capacity_checked(void **state)
{
    (void)state;
    struct flow_table t;
    assert_int_equal(flow_table_init(&t, 8, 1), -EINVAL);
    assert_int_equal(flow_table_init(&t, (1u << 26) + 1, 1), -EINVAL);
    assert_int_equal(flow_table_init(&t, 16, 0), -EINVAL);
    assert_int_equal(flow_table_init(&t, 16, 1), 0);
    flow_table_free(&t);
}

/* A reference model (present[] per key) checked against the table after a long random mix of
 * inserts and removals at high load. */
static void test_random_mix_matches_model(void **state)
{
    (void)state;
    enum { CAP = 1024, KEYS = 1500, STEPS = 200000 };
    struct flow_table t;
    assert_int_equal(flow_table_init(&t, CAP, 5), 0);
    static struct flow_entry *where[KEYS];
    memset(where, 0, sizeof(where));
    unsigned seed = 12345, live = 0;
    for (int s = 0; s < STEPS; s++) {
        seed = seed * 1103515245 + 12345;
        uint32_t i = (seed >> 8) % KEYS;
        struct flow_key k = key_of(i);
        uint64_t h = flow_table_hash(&t, &k);
        struct flow_entry *e = flow_table_find(&t, &k, h);
        assert_ptr_equal(e, where[i]);
        if (e) {
            flow_table_remove(&t, e);
            where[i] = NULL;
            live--;
        } else if (live < CAP) {
            e = flow_table_insert(&t, &k, h, k.port);
            assert_non_null(e);
            assert_memory_equal(&e->rec.key, &k, sizeof(k));
            where[i] = e;
            live++;
        } else {
            assert_null(flow_table_insert(&t, &k, h, k.port));
        }
        assert_int_equal(t.used, live);
    }
    for (uint32_t i = 0; i < KEYS; i++) {
        struct flow_key k = key_of(i);
        assert_ptr_equal(flow_table_find(&t, &k, flow_table_hash(&t, &k)), where[i]);
    }
    flow_table_free(&t);
}

static void test_full_table_and_victim(void **state)
{
    (void)state;
    struct flow_table t;
    assert_int_equal(flow_table_init(&t, 16, 5), 0);
    assert_null(flow_table_victim(&t, 0, 0));
    for (uint32_t i = 0; i < 16; i++) {
        struct flow_key k = key_of(i);
        struct flow_entry *e = flow_table_insert(&t, &k, flow_table_hash(&t, &k), k.port);
        assert_non_null(e);
        e->rec.end_ns = 1000 + (i == 5 ? 0 : 100 + i); /* key 5 is the stalest */
    }
    struct flow_key extra = key_of(99);
    assert_null(flow_table_insert(&t, &extra, flow_table_hash(&t, &extra), extra.port));
    /* The clock looks at 8 entries at a time: the first sweep covers 0..7. */
    struct flow_entry *v = flow_table_victim(&t, flow_table_hash(&t, &extra), extra.port);
    assert_int_equal(v->rec.key.remote[3], 5);
    flow_table_remove(&t, v);
    assert_non_null(flow_table_insert(&t, &extra, flow_table_hash(&t, &extra), extra.port));
    flow_table_free(&t);
}

static void test_keys_differing_in_one_field_are_distinct(void **state)
{
    (void)state;
    struct flow_table t;
    assert_int_equal(flow_table_init(&t, 64, 5), 0);
    struct flow_key base = key_of(1), k;
    assert_non_null(flow_table_insert(&t, &base, flow_table_hash(&t, &base), base.port));
    k = base;
    k.port++;
    assert_null(flow_table_find(&t, &k, flow_table_hash(&t, &k)));
    k = base;
    k.family = 6;
    assert_null(flow_table_find(&t, &k, flow_table_hash(&t, &k)));
    k = base;
    k.remote[15] = 1;
    assert_null(flow_table_find(&t, &k, flow_table_hash(&t, &k)));
    assert_non_null(flow_table_find(&t, &base, flow_table_hash(&t, &base)));
    flow_table_free(&t);
}

/* Every key with one hash, as if the hash key had leaked: group 1's flow goes in first, then
 * group 0 adds 200 more. Each lookup still examines at most FLOW_TABLE_MAX_PROBES slots;
 * once the two buckets are full, the victim is group 0's own least recently seen flow, so
 * group 1's flow stays. */
static void test_same_hash_bounded_and_own_victims(void **state)
{
    (void)state;
    struct flow_table t;
    assert_int_equal(flow_table_init(&t, 1024, 2), 0);
    const uint64_t H = 0x0123456789abcdefull;
    struct flow_key victim = key_of(100000);
    victim.port = 1;
    struct flow_entry *ve = flow_table_insert(&t, &victim, H, 1);
    assert_non_null(ve);
    ve->rec.end_ns = 1; /* the stalest of all: chosen if anyone else's could be */
    unsigned evicted = 0;
    for (uint32_t i = 0; i < 200; i++) {
        struct flow_key k = key_of(i);
        k.port = 0;
        struct flow_entry *e = flow_table_insert(&t, &k, H, 0);
        if (!e) {
            struct flow_entry *v = flow_table_victim(&t, H, 0);
            assert_non_null(v);
            assert_int_equal(v->group, 0);
            flow_table_remove(&t, v);
            evicted++;
            e = flow_table_insert(&t, &k, H, 0);
        }
        assert_non_null(e);
        e->rec.end_ns = 1000 + i;
        uint64_t before = t.probes;
        assert_ptr_equal(flow_table_find(&t, &victim, H), ve);
        assert_true(t.probes - before <= FLOW_TABLE_MAX_PROBES);
        before = t.probes;
        assert_ptr_equal(flow_table_find(&t, &k, H), e);
        assert_true(t.probes - before <= FLOW_TABLE_MAX_PROBES);
    }
    assert_int_equal(evicted, 200 - (FLOW_TABLE_MAX_PROBES - 1));
    assert_int_equal(flow_table_group_count(&t, 0), FLOW_TABLE_MAX_PROBES - 1);
    assert_int_equal(flow_table_group_count(&t, 1), 1);
    flow_table_free(&t);
}

/* A group's list is oldest first: its quota victim is the least recently seen of its oldest
 * few, never another group's flow, and removals anywhere keep the list whole. */
static void test_group_victim(void **state)
{
    (void)state;
    struct flow_table t;
    assert_int_equal(flow_table_init(&t, 64, 3), 0);
    assert_null(flow_table_group_victim(&t, 2));
    struct flow_entry *e[20];
    for (uint32_t i = 0; i < 20; i++) {
        struct flow_key k = key_of(i);
        e[i] = flow_table_insert(&t, &k, flow_table_hash(&t, &k), i % 2);
        assert_non_null(e[i]);
        e[i]->rec.end_ns = 100 + i;
    }
    e[4]->rec.end_ns = 50; /* group 0's stalest among its oldest */
    assert_int_equal(flow_table_group_count(&t, 0), 10);
    assert_ptr_equal(flow_table_group_victim(&t, 0), e[4]);
    assert_ptr_equal(flow_table_group_victim(&t, 1), e[1]);
    flow_table_remove(&t, e[4]);
    flow_table_remove(&t, e[0]);
    flow_table_remove(&t, e[18]);
    assert_int_equal(flow_table_group_count(&t, 0), 7);
    assert_ptr_equal(flow_table_group_victim(&t, 0), e[2]);
    uint32_t n = 0;
    for (uint32_t i = t.groups[0].head; i != FLOW_TABLE_NONE; i = t.entries[i].group_next, n++)
        assert_int_equal(t.entries[i].group, 0);
    assert_int_equal(n, 7);
    flow_table_free(&t);
}

/* Two tables have different hash keys (drawn at init): a key's hash is not predictable. */
static void test_hash_keyed_per_table(void **state)
{
    (void)state;
    struct flow_table a, b;
    assert_int_equal(flow_table_init(&a, 16, 1), 0);
    assert_int_equal(flow_table_init(&b, 16, 1), 0);
    struct flow_key k = key_of(7);
    assert_int_not_equal(flow_table_hash(&a, &k), flow_table_hash(&b, &k));
    assert_int_equal(flow_table_hash(&a, &k), flow_table_hash(&a, &k));
    flow_table_free(&a);
    flow_table_free(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_capacity_checked),
        cmocka_unit_test(test_random_mix_matches_model),
        cmocka_unit_test(test_full_table_and_victim),
        cmocka_unit_test(test_keys_differing_in_one_field_are_distinct),
        cmocka_unit_test(test_same_hash_bounded_and_own_victims),
        cmocka_unit_test(test_group_victim),
        cmocka_unit_test(test_hash_keyed_per_table),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
