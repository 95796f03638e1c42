/* The flow table (src/audit/flow_table.c): fixed capacity, lookups after many inserts and
 * removals (backward-shift deletion must keep every remaining key findable), the eviction
 * clock picks the least recently seen, and bad capacities are refused. */
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
    assert_int_equal(flow_table_init(&t, 8), -EINVAL);
    assert_int_equal(flow_table_init(&t, (1u << 26) + 1), -EINVAL);
    assert_int_equal(flow_table_init(&t, 16), 0);
    flow_table_free(&t);
}

/* A reference model (present[] per key) checked against the table after a long random mix of
 * inserts and removals at high load. */
static void test_random_mix_matches_model(void **state)
{
    (void)state;
    enum { CAP = 1024, KEYS = 1500, STEPS = 200000 };
    struct flow_table t;
    assert_int_equal(flow_table_init(&t, CAP), 0);
    static struct flow_entry *where[KEYS];
    memset(where, 0, sizeof(where));
    unsigned seed = 12345, live = 0;
    for (int s = 0; s < STEPS; s++) {
        seed = seed * 1103515245 + 12345;
        uint32_t i = (seed >> 8) % KEYS;
        struct flow_key k = key_of(i);
        uint64_t h = flow_key_hash(&k);
        struct flow_entry *e = flow_table_find(&t, &k, h);
        assert_ptr_equal(e, where[i]);
        if (e) {
            flow_table_remove(&t, e);
            where[i] = NULL;
            live--;
        } else if (live < CAP) {
            e = flow_table_insert(&t, &k, h);
            assert_non_null(e);
            assert_memory_equal(&e->rec.key, &k, sizeof(k));
            where[i] = e;
            live++;
        } else {
            assert_null(flow_table_insert(&t, &k, h));
        }
        assert_int_equal(t.used, live);
    }
    for (uint32_t i = 0; i < KEYS; i++) {
        struct flow_key k = key_of(i);
        assert_ptr_equal(flow_table_find(&t, &k, flow_key_hash(&k)), where[i]);
    }
    flow_table_free(&t);
}

static void test_full_table_and_victim(void **state)
{
    (void)state;
    struct flow_table t;
    assert_int_equal(flow_table_init(&t, 16), 0);
    assert_null(flow_table_victim(&t));
    for (uint32_t i = 0; i < 16; i++) {
        struct flow_key k = key_of(i);
        struct flow_entry *e = flow_table_insert(&t, &k, flow_key_hash(&k));
        assert_non_null(e);
        e->rec.end_ns = 1000 + (i == 5 ? 0 : 100 + i); /* key 5 is the stalest */
    }
    struct flow_key extra = key_of(99);
    assert_null(flow_table_insert(&t, &extra, flow_key_hash(&extra)));
    /* The clock looks at 8 entries at a time: the first sweep covers 0..7. */
    struct flow_entry *v = flow_table_victim(&t);
    assert_int_equal(v->rec.key.remote[3], 5);
    flow_table_remove(&t, v);
    assert_non_null(flow_table_insert(&t, &extra, flow_key_hash(&extra)));
    flow_table_free(&t);
}

static void test_keys_differing_in_one_field_are_distinct(void **state)
{
    (void)state;
    struct flow_table t;
    assert_int_equal(flow_table_init(&t, 64), 0);
    struct flow_key base = key_of(1), k;
    assert_non_null(flow_table_insert(&t, &base, flow_key_hash(&base)));
    k = base;
    k.port++;
    assert_null(flow_table_find(&t, &k, flow_key_hash(&k)));
    k = base;
    k.family = 6;
    assert_null(flow_table_find(&t, &k, flow_key_hash(&k)));
    k = base;
    k.remote[15] = 1;
    assert_null(flow_table_find(&t, &k, flow_key_hash(&k)));
    assert_non_null(flow_table_find(&t, &base, flow_key_hash(&base)));
    flow_table_free(&t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_capacity_checked),
        cmocka_unit_test(test_random_mix_matches_model),
        cmocka_unit_test(test_full_table_and_victim),
        cmocka_unit_test(test_keys_differing_in_one_field_are_distinct),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
