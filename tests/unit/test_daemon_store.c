/* xenod's store (src/daemon/store.c) on an in-memory SQLite database: what a restarted xenod
 * reads back must be what it wrote (definitions, runtime, events, samples, IDs). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sqlite3.h>

#include "daemon/store.h"
#include "lib/err.h"
#include "lib/sched_params.h"

#define UUID_A "0b2a4c1e-96a1-4f56-9f3a-2d6c1b9b1a77"
#define UUID_B "5f0e8a3c-1d2b-4c6e-8f9a-0b1c2d3e4f50"

static int setup(void **state)
{
    struct store *s = calloc(1, sizeof(*s));
    if (!s || store_open(s, ":memory:") < 0)
        return -1;
    *state = s;
    return 0;
}

static int teardown(void **state)
{
    store_close(*state);
    free(*state);
    return 0;
}

static struct domain_config config(const char *name, const char *uuid)
{
    struct domain_config c;
    memset(&c, 0, sizeof(c));
    snprintf(c.name, sizeof(c.name), "%s", name);
    snprintf(c.uuid, sizeof(c.uuid), "%s", uuid);
    snprintf(c.sponsor, sizeof(c.sponsor), "acme");
    c.memory_bytes = 64ULL << 20;
    c.current_memory_bytes = 32ULL << 20;
    c.vcpus = 2;
    c.kernel = "/boot/guest.elf";
    c.cmdline = "console=ttyS0";
    c.on_poweroff = ACTION_DESTROY;
    c.on_reboot = ACTION_RESTART;
    c.on_crash = ACTION_PRESERVE;
    c.memory_enforcement = MEMORY_ENFORCE_PAUSE;
    c.sched = sched_params_default();
    return c;
}

/* What store_for_each_domain handed out, copied (it owns nothing). */
struct loaded {
    int n;
    char names[4][DOMAIN_NAME_MAX + 1];
    struct store_domain first;
    char xml[64], source[64], kernel[64], cmdline[64];
    int initrd_null;
};

static void collect(void *ctx, const struct store_domain *d)
{
    struct loaded *l = ctx;
    if (l->n == 0) {
        l->first = *d;
        snprintf(l->xml, sizeof(l->xml), "%s", d->xml);
        snprintf(l->source, sizeof(l->source), "%s", d->source);
        snprintf(l->kernel, sizeof(l->kernel), "%s", d->cfg.kernel);
        snprintf(l->cmdline, sizeof(l->cmdline), "%s", d->cfg.cmdline ? d->cfg.cmdline : "(null)");
        l->initrd_null = d->cfg.initrd == NULL;
    }
    if (l->n < 4)
        snprintf(l->names[l->n], sizeof(l->names[0]), "%s", d->cfg.name);
    l->n++;
}

static void domain_round_trip(void **state)
{
    struct store *s = *state;
    struct domain_config a = config("web", UUID_A);
    assert_int_equal(store_add_domain(s, &a, "<domain/>", "/etc/web.xml", 1), 0);
    struct store_runtime rt = {.domid = 7, .pid = 4242, .state = "running", .started_at = 1234.5};
    assert_int_equal(store_set_runtime(s, UUID_A, &rt), 0);

    struct loaded l = {0};
    assert_int_equal(store_for_each_domain(s, collect, &l), 0);
    assert_int_equal(l.n, 1);
    const struct store_domain *d = &l.first;
    assert_string_equal(d->cfg.name, "web");
    assert_string_equal(d->cfg.uuid, UUID_A);
    assert_string_equal(d->cfg.sponsor, "acme");
    assert_true(d->cfg.memory_bytes == 64ULL << 20);
    assert_true(d->cfg.current_memory_bytes == 32ULL << 20);
    assert_int_equal(d->cfg.vcpus, 2);
    assert_string_equal(l.kernel, "/boot/guest.elf");
    assert_string_equal(l.cmdline, "console=ttyS0");
    assert_true(l.initrd_null);
    assert_int_equal(d->cfg.on_poweroff, ACTION_DESTROY);
    assert_int_equal(d->cfg.on_reboot, ACTION_RESTART);
    assert_int_equal(d->cfg.on_crash, ACTION_PRESERVE);
    assert_int_equal(d->cfg.memory_enforcement, MEMORY_ENFORCE_PAUSE);
    assert_string_equal(l.xml, "<domain/>");
    assert_string_equal(l.source, "/etc/web.xml");
    assert_int_equal(d->persistent, 1);
    assert_int_equal(d->rt.domid, 7);
    assert_int_equal(d->rt.pid, 4242);
    assert_string_equal(d->rt.state, "running");
    assert_true(d->rt.started_at == 1234.5);
}

static void name_and_uuid_are_unique(void **state)
{
    struct store *s = *state;
    struct domain_config a = config("web", UUID_A), same_name = config("web", UUID_B), same_uuid = config("db", UUID_A);
    assert_int_equal(store_add_domain(s, &a, "", "<api>", 0), 0);
    /* Each message says which of the two clashed, and with which domain. */
    char want[300];
    assert_int_equal(store_add_domain(s, &same_name, "", "<api>", 0), -EEXIST);
    snprintf(want, sizeof(want), "domain 'web' already exists with UUID %s: the name clashes", UUID_A);
    assert_non_null(strstr(err_msg(), want));
    assert_int_equal(store_add_domain(s, &same_uuid, "", "<api>", 0), -EEXIST);
    snprintf(want, sizeof(want), "UUID %s is already domain 'web': the UUID of 'db' clashes", UUID_A);
    assert_non_null(strstr(err_msg(), want));
    assert_int_equal(store_add_domain(s, &a, "", "<api>", 0), -EEXIST);
    assert_non_null(strstr(err_msg(), "domain 'web' is already defined with UUID"));
    struct loaded l = {0};
    assert_int_equal(store_for_each_domain(s, collect, &l), 0);
    assert_int_equal(l.n, 1);
}

/* A sponsor's policy: none until set, replaced whole by the next set. */
static void sponsor_policy_round_trip(void **state)
{
    struct store *s = *state;
    struct sponsor_policy p = {.sched = 1, .max_reservation_ppm = 300000, .max_limit_ppm = 500000, .save = 1}, got;
    assert_int_equal(store_get_sponsor_policy(s, "alice", &got), -ENOENT);
    assert_int_equal(store_set_sponsor_policy(s, "alice", &p), 0);
    assert_int_equal(store_get_sponsor_policy(s, "alice", &got), 0);
    assert_true(got.sched && got.save && got.max_reservation_ppm == 300000 && got.max_limit_ppm == 500000);
    assert_int_equal(store_get_sponsor_policy(s, "bob", &got), -ENOENT);
    p = (struct sponsor_policy){.save = 0};
    assert_int_equal(store_set_sponsor_policy(s, "alice", &p), 0);
    assert_int_equal(store_get_sponsor_policy(s, "alice", &got), 0);
    assert_true(!got.sched && !got.save && got.max_reservation_ppm == 0);
    p = (struct sponsor_policy){.disk_total_iops_sec = 1500, .disk_total_bytes_sec = 1ULL << 40};
    assert_int_equal(store_set_sponsor_policy(s, "Acme Corp", &p), 0);
    assert_int_equal(store_get_sponsor_policy(s, "Acme Corp", &got), 0);
    assert_true(got.disk_total_iops_sec == 1500 && got.disk_total_bytes_sec == 1ULL << 40 && !got.save);
}

/* A store written before sponsors had disk limits: its policies read with none, and take one. */
static void sponsor_policy_from_an_older_store(void **state)
{
    (void)state;
    char path[] = "/tmp/test-store-old.XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    sqlite3 *db;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db,
                                  "CREATE TABLE sponsor_policies(sponsor TEXT PRIMARY KEY, sched INTEGER NOT NULL,"
                                  " max_reservation_ppm INTEGER NOT NULL, max_limit_ppm INTEGER NOT NULL,"
                                  " save INTEGER NOT NULL);"
                                  "INSERT INTO sponsor_policies VALUES('alice', 1, 250000, 0, 1);",
                                  NULL, NULL, NULL),
                     SQLITE_OK);
    sqlite3_close(db);
    struct store s = {0};
    assert_int_equal(store_open(&s, path), 0);
    struct sponsor_policy got, p = {.save = 1, .disk_total_iops_sec = 900};
    assert_int_equal(store_get_sponsor_policy(&s, "alice", &got), 0);
    assert_true(got.sched && got.save && got.max_reservation_ppm == 250000 && got.disk_total_iops_sec == 0 &&
                got.disk_total_bytes_sec == 0);
    assert_int_equal(store_set_sponsor_policy(&s, "alice", &p), 0);
    assert_int_equal(store_get_sponsor_policy(&s, "alice", &got), 0);
    assert_true(!got.sched && got.save && got.disk_total_iops_sec == 900);
    store_close(&s);
    unlink(path);
}

static void remove_forgets_domain_and_sched(void **state)
{
    struct store *s = *state;
    struct domain_config a = config("web", UUID_A), b = config("db", UUID_B);
    assert_int_equal(store_add_domain(s, &a, "", "<api>", 1), 0);
    assert_int_equal(store_add_domain(s, &b, "", "<api>", 1), 0);
    struct sched_params p = sched_params_default(), got;
    p.reservation_ppm = 250000;
    p.limit_ppm = 500000;
    p.weight = 512;
    assert_int_equal(store_set_sched(s, UUID_A, &p), 0);
    assert_int_equal(store_get_sched(s, UUID_A, &got), 0);
    assert_int_equal(got.reservation_ppm, 250000);
    assert_int_equal(got.limit_ppm, 500000);
    assert_int_equal(got.weight, 512);
    assert_int_equal(got.period_us, p.period_us);
    assert_int_equal(store_get_sched(s, UUID_B, &got), -ENOENT);

    assert_int_equal(store_remove_domain(s, UUID_A), 0);
    assert_int_equal(store_get_sched(s, UUID_A, &got), -ENOENT);
    struct loaded l = {0};
    assert_int_equal(store_for_each_domain(s, collect, &l), 0);
    assert_int_equal(l.n, 1);
    assert_string_equal(l.names[0], "db");
    /* The name is free again. */
    assert_int_equal(store_add_domain(s, &a, "", "<api>", 1), 0);
}

struct events {
    int n;
    int64_t last_id;
    char kinds[8][32];
    char details[8][64];
};

static void collect_event(void *ctx, int64_t id, double time, const char *uuid, const char *name, const char *kind,
                          const char *detail)
{
    struct events *e = ctx;
    (void)time, (void)uuid, (void)name;
    assert_true(id > e->last_id); /* oldest first */
    e->last_id = id;
    if (e->n < 8) {
        snprintf(e->kinds[e->n], sizeof(e->kinds[0]), "%s", kind);
        snprintf(e->details[e->n], sizeof(e->details[0]), "%s", detail);
    }
    e->n++;
}

static void events_last_n_oldest_first(void **state)
{
    struct store *s = *state;
    static const char *const kinds[] = {"defined", "started", "paused", "unpaused", "destroyed"};
    for (int i = 0; i < 5; i++)
        assert_int_equal(store_add_event(s, UUID_A, "web", kinds[i], i == 1 ? "id 1" : ""), 0);
    assert_int_equal(store_add_event(s, UUID_B, "db", "defined", ""), 0);

    struct events all = {0}, web = {0}, last2 = {0};
    assert_int_equal(store_for_each_event(s, NULL, 100, collect_event, &all), 0);
    assert_int_equal(all.n, 6);
    assert_int_equal(store_for_each_event(s, UUID_A, 100, collect_event, &web), 0);
    assert_int_equal(web.n, 5);
    assert_string_equal(web.kinds[0], "defined");
    assert_string_equal(web.kinds[1], "started");
    assert_string_equal(web.details[1], "id 1");
    assert_int_equal(store_for_each_event(s, UUID_A, 2, collect_event, &last2), 0);
    assert_int_equal(last2.n, 2);
    assert_string_equal(last2.kinds[0], "unpaused");
    assert_string_equal(last2.kinds[1], "destroyed");
}

struct samples {
    int n;
    int64_t cpu_ns[4];
    int guest_free_null[4];
    char vcpu_ns[4][64];
    int64_t net_tx_bytes[4];
};

static void collect_sample(void *ctx, double time, const int64_t *vals, const int *is_null, int n)
{
    struct samples *s = ctx;
    (void)time;
    assert_int_equal(n, STORE_SAMPLE_FIELDS);
    assert_string_equal(store_sample_names[0], "cpu_ns");
    assert_string_equal(store_sample_names[6], "guest_free_bytes");
    if (s->n < 4) {
        s->cpu_ns[s->n] = vals[0];
        s->guest_free_null[s->n] = is_null[6];
    }
    s->n++;
}

static void collect_cpu(void *ctx, double time, const char *vcpu_ns, int64_t reserved_ns, int64_t throttled_ns,
                        int64_t throttles)
{
    struct samples *s = ctx;
    (void)time, (void)reserved_ns, (void)throttled_ns;
    assert_int_equal(throttles, 3);
    if (s->n < 4)
        snprintf(s->vcpu_ns[s->n], sizeof(s->vcpu_ns[0]), "%s", vcpu_ns);
    s->n++;
}

static void collect_net(void *ctx, double time, const int64_t v[6])
{
    struct samples *s = ctx;
    (void)time;
    if (s->n < 4)
        s->net_tx_bytes[s->n] = v[1];
    s->n++;
}

static void usage_samples_round_trip(void **state)
{
    struct store *s = *state;
    struct stats_page st;
    memset(&st, 0, sizeof(st));
    st.nvcpus = 2;
    st.guest_free_bytes = STATS_PAGE_UNKNOWN;
    st.sched_throttles = 3;
    for (int i = 1; i <= 3; i++) {
        st.cpu_ns = (uint64_t)i * 1000;
        st.vcpu_ns[0] = (uint64_t)i * 400;
        st.vcpu_ns[1] = (uint64_t)i * 600;
        if (i == 3)
            st.guest_free_bytes = 8 << 20; /* reported from the third sample on */
        store_begin(s);
        assert_int_equal(store_add_sample(s, UUID_A, &st), 0);
        int64_t v[6] = {i, i * 100, 0, i, i * 50, 0};
        assert_int_equal(store_add_net_sample(s, UUID_A, v), 0);
        store_commit(s);
    }
    struct samples last2 = {0}, cpu = {0}, net = {0}, other = {0};
    assert_int_equal(store_for_each_sample(s, UUID_A, 2, collect_sample, &last2), 0);
    assert_int_equal(last2.n, 2);
    assert_int_equal(last2.cpu_ns[0], 2000);
    assert_int_equal(last2.cpu_ns[1], 3000);
    assert_true(last2.guest_free_null[0]);
    assert_false(last2.guest_free_null[1]);
    assert_int_equal(store_for_each_cpu_sample(s, UUID_A, 100, collect_cpu, &cpu), 0);
    assert_int_equal(cpu.n, 3);
    assert_string_equal(cpu.vcpu_ns[0], "400,600");
    assert_string_equal(cpu.vcpu_ns[2], "1200,1800");
    assert_int_equal(store_for_each_net_sample(s, UUID_A, 100, collect_net, &net), 0);
    assert_int_equal(net.n, 3);
    assert_int_equal(net.net_tx_bytes[2], 300);
    assert_int_equal(store_for_each_sample(s, UUID_B, 100, collect_sample, &other), 0);
    assert_int_equal(other.n, 0);
}

static void domain_ids_count_up(void **state)
{
    struct store *s = *state;
    int a = 0, b = 0, c = 0;
    assert_int_equal(store_next_domid(s, &a), 0);
    assert_int_equal(store_next_domid(s, &b), 0);
    assert_int_equal(store_next_domid(s, &c), 0);
    assert_int_equal(a, 1);
    assert_int_equal(b, 2);
    assert_int_equal(c, 3);
}

/* The per-domain reads of events and usage (GET .../events?domain=, .../usage) are searches
 * of their (uuid, id|time) indexes, not scans of every domain's rows: with a thousand domains
 * the tables hold millions of rows. The statements are the store's own (store.c). */
static void plan_uses(struct store *s, const char *sql, const char *index)
{
    sqlite3_stmt *st;
    char q[600], plan[1024] = "";
    snprintf(q, sizeof(q), "EXPLAIN QUERY PLAN %s", sql);
    assert_int_equal(sqlite3_prepare_v2(s->db, q, -1, &st, NULL), SQLITE_OK);
    while (sqlite3_step(st) == SQLITE_ROW)
        snprintf(plan + strlen(plan), sizeof(plan) - strlen(plan), "%s; ", (const char *)sqlite3_column_text(st, 3));
    sqlite3_finalize(st);
    if (!strstr(plan, index) || strstr(plan, "SCAN events") || strstr(plan, "SCAN usage"))
        fail_msg("%s: plan '%s' does not search %s", sql, plan, index);
}

static void per_domain_queries_use_indexes(void **state)
{
    struct store *s = *state;
    plan_uses(
        s,
        "SELECT * FROM (SELECT id,time,uuid,name,kind,detail FROM events WHERE uuid=?1 ORDER BY id DESC LIMIT ?2) "
        "ORDER BY id",
        "INDEX events_uuid");
    plan_uses(s, "SELECT * FROM (SELECT * FROM usage_samples WHERE uuid=?1 ORDER BY time DESC LIMIT ?2) ORDER BY time",
              "INDEX usage_samples_uuid");
    plan_uses(s,
              "SELECT * FROM (SELECT time,vcpu_ns,reserved_ns,throttled_ns,throttles FROM usage_cpu WHERE uuid=?1 "
              "ORDER BY time DESC LIMIT ?2) ORDER BY time",
              "INDEX usage_cpu_uuid");
    plan_uses(s,
              "SELECT * FROM (SELECT time,tx_packets,tx_bytes,tx_dropped,rx_packets,rx_bytes,rx_dropped FROM usage_net "
              "WHERE uuid=?1 ORDER BY time DESC LIMIT ?2) ORDER BY time",
              "INDEX usage_net_uuid");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(domain_round_trip, setup, teardown),
        cmocka_unit_test_setup_teardown(name_and_uuid_are_unique, setup, teardown),
        cmocka_unit_test_setup_teardown(remove_forgets_domain_and_sched, setup, teardown),
        cmocka_unit_test_setup_teardown(sponsor_policy_round_trip, setup, teardown),
        cmocka_unit_test(sponsor_policy_from_an_older_store),
        cmocka_unit_test_setup_teardown(events_last_n_oldest_first, setup, teardown),
        cmocka_unit_test_setup_teardown(usage_samples_round_trip, setup, teardown),
        cmocka_unit_test_setup_teardown(domain_ids_count_up, setup, teardown),
        cmocka_unit_test_setup_teardown(per_domain_queries_use_indexes, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
