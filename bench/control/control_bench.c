/*
 * control-bench: latency of xenod's control API (docs/api.md) as a client sees it.
 *
 *   control-bench --socket PATH [-k KERNEL] [-d DOMAINS] [-l LISTS] [-g GETS] [-f FRESH]
 *                 [-e EMPTY_LISTS] [-r ROUNDS] [-p PARALLEL] [-m MIB] [-c VCPUS]
 *                 [--prefix NAME] [--json FILE] [-q]
 *
 * Talks to an already-running xenod over its unix socket with libcurl, one CURL handle
 * per client thread, so that the HTTP/1.1 connection is kept and reused as a real client
 * would (the "new conn" rows open a new connection per request instead, as xenctl does).
 * Scenario:
 *   0. EMPTY_LISTS (200) GET /v1/domains while none of ours exists;
 *   1. create DOMAINS (20) transient domains one after another (POST /v1/domains, start
 *      true, persistent false), named PREFIX-N, from KERNEL (absolute path; default
 *      build/guest/demo.elf), MIB (64) MiB, VCPUS (1) vCPUs. A create returns once xenod
 *      spawned the monitor and the monitor said it is ready;
 *   2. with them running: LISTS (1000) GET /v1/domains and GETS (200) GET /v1/domains/NAME
 *      on the kept connection, then FRESH (200) of each on a new connection per request;
 *   3. destroy them one after another (POST /v1/domains/NAME/destroy);
 *   (1 and 3 repeat ROUNDS times; 0 and 2 run in the first round only)
 *   4. with -p P > 0: P client threads create the DOMAINS at once (thread t takes domains
 *      t, t+P, ...), then destroy them at once; per-request latency and phase wall time.
 * Every response's status is checked (201 create, 200 otherwise) and its body looked at
 * (the right name, a monitor pid, the expected number of domains in a list). On any error
 * it says what failed, destroys what it created, and exits 1.
 * SIGINT or SIGTERM stops it the same way (what it created is destroyed).
 * Latency is CLOCK_MONOTONIC around curl_easy_perform(): request written, response read
 * (and, for "new conn", connecting first). Percentiles are nearest-rank: pQ is the smallest
 * sample with at least Q% of the samples at or below it (with 20 samples p99 is the maximum).
 * --json FILE writes the configuration, each row's statistics and all its samples (in the
 * order the requests were made; for the parallel phase, by domain) and the phase times.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <curl/curl.h>
#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define REQUEST_TIMEOUT_S 60L
#define MAX_DOMAINS 1000
#define MAX_PARALLEL 64

/* ---- options ---- */

static struct {
    const char *socket;
    const char *tls_url, *cacert; /* --tls URL: list and get again over HTTPS with a token */
    char token_hdr[160];          /* "Authorization: Bearer ..." from --token-file */
    char kernel[PATH_MAX];
    const char *prefix;
    const char *json;
    int domains, lists, gets, fresh, empty_lists, rounds, parallel;
    unsigned mib, vcpus;
    int quiet;
} opt = {.prefix = "bench",
         .domains = 20,
         .lists = 1000,
         .gets = 200,
         .fresh = 200,
         .empty_lists = 200,
         .rounds = 1,
         .mib = 64,
         .vcpus = 1};

/* ---- failure ---- */

static atomic_int failed;
static volatile sig_atomic_t interrupted;
static char fail_msg[2048];
static pthread_mutex_t fail_lock = PTHREAD_MUTEX_INITIALIZER;

static void fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void fail(const char *fmt, ...)
{
    pthread_mutex_lock(&fail_lock);
    if (!atomic_load(&failed)) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(fail_msg, sizeof(fail_msg), fmt, ap);
        va_end(ap);
        atomic_store(&failed, 1);
    }
    pthread_mutex_unlock(&fail_lock);
}

/* SIGINT, SIGTERM: stop issuing requests and destroy what was created. */
static void on_signal(int sig)
{
    interrupted = sig;
    atomic_store(&failed, 1);
}

static void progress(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void progress(const char *fmt, ...)
{
    if (opt.quiet)
        return;
    va_list ap;
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
}

/* ---- samples ---- */

struct series {
    const char *name;
    const char *key; /* JSON name */
    double *ms;      /* in the order the requests were made (parallel phase: by domain) */
    double *sorted;  /* the same, ascending: made by sort_series() */
    size_t n, cap;
    long conns; /* connections opened for these requests */
};

static int series_add(struct series *s, double ms)
{
    if (s->n == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 64;
        double *p = realloc(s->ms, cap * sizeof(*p));
        if (!p) {
            fail("out of memory");
            return -1;
        }
        s->ms = p;
        s->cap = cap;
    }
    s->ms[s->n++] = ms;
    return 0;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static int sort_series(struct series *s)
{
    if (!s->n)
        return 0;
    s->sorted = malloc(s->n * sizeof(double));
    if (!s->sorted)
        return -1;
    memcpy(s->sorted, s->ms, s->n * sizeof(double));
    qsort(s->sorted, s->n, sizeof(double), cmp_double);
    return 0;
}

/* Nearest rank on sorted samples. */
static double pct(const struct series *s, unsigned q)
{
    size_t k = (q * s->n + 99) / 100; /* ceil(q% of n) */
    if (k < 1)
        k = 1;
    if (k > s->n)
        k = s->n;
    return s->sorted[k - 1];
}

static double mean(const struct series *s)
{
    double t = 0;
    for (size_t i = 0; i < s->n; i++)
        t += s->ms[i];
    return s->n ? t / (double)s->n : 0;
}

/* ---- HTTP ---- */

struct buf {
    char *data;
    size_t len, cap;
};

static size_t on_data(char *ptr, size_t size, size_t nmemb, void *userdata)
{
    struct buf *b = userdata;
    size_t n = size * nmemb;
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 16384;
        while (cap < b->len + n + 1)
            cap *= 2;
        char *p = realloc(b->data, cap);
        if (!p)
            return 0;
        b->data = p;
        b->cap = cap;
    }
    memcpy(b->data + b->len, ptr, n);
    b->len += n;
    b->data[b->len] = 0;
    return n;
}

struct client {
    int tls; /* over opt.tls_url with the token, else the unix socket */
    CURL *h;
    struct curl_slist *hdrs;
    struct buf resp;
    char errbuf[CURL_ERROR_SIZE];
};

static int client_init_as(struct client *c, int tls)
{
    memset(c, 0, sizeof(*c));
    c->tls = tls;
    c->hdrs = curl_slist_append(NULL, "Content-Type: application/json");
    c->hdrs = c->hdrs && tls ? curl_slist_append(c->hdrs, opt.token_hdr) : c->hdrs;
    c->hdrs = c->hdrs ? curl_slist_append(c->hdrs, "Accept: application/json") : NULL;
    /* No "Expect: 100-continue" round trip for larger bodies (as xenctl). */
    c->hdrs = c->hdrs ? curl_slist_append(c->hdrs, "Expect:") : NULL;
    c->h = curl_easy_init();
    if (!c->h || !c->hdrs) {
        fail("cannot set up a libcurl handle");
        return -1;
    }
    if (tls)
        curl_easy_setopt(c->h, CURLOPT_CAINFO, opt.cacert); /* TLS 1.2+, the server's certificate checked */
    else
        curl_easy_setopt(c->h, CURLOPT_UNIX_SOCKET_PATH, opt.socket);
    curl_easy_setopt(c->h, CURLOPT_HTTPHEADER, c->hdrs);
    curl_easy_setopt(c->h, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(c->h, CURLOPT_WRITEDATA, &c->resp);
    curl_easy_setopt(c->h, CURLOPT_ERRORBUFFER, c->errbuf);
    curl_easy_setopt(c->h, CURLOPT_TIMEOUT, REQUEST_TIMEOUT_S);
    curl_easy_setopt(c->h, CURLOPT_CONNECTTIMEOUT, 5L);
    curl_easy_setopt(c->h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c->h, CURLOPT_PROXY, "");
    curl_easy_setopt(c->h, CURLOPT_USERAGENT, "control-bench");
    return 0;
}

static int client_init(struct client *c)
{
    return client_init_as(c, 0);
}

static void client_free(struct client *c)
{
    if (c->h)
        curl_easy_cleanup(c->h);
    curl_slist_free_all(c->hdrs);
    free(c->resp.data);
    memset(c, 0, sizeof(*c));
}

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* One request on c's connection (opened if there is none). body NULL with POST sends an
 * empty body. Returns 0 and sets *status, *ms and *newconn, or -1 on a transport error
 * (fail() called). The response body is in c->resp. */
static int request(struct client *c, const char *method, const char *path, const char *body, long *status, double *ms,
                   long *newconn)
{
    char url[768];
    snprintf(url, sizeof(url), "%s%s", c->tls ? opt.tls_url : "http://localhost", path);
    curl_easy_setopt(c->h, CURLOPT_URL, url);
    if (strcmp(method, "GET") == 0) {
        curl_easy_setopt(c->h, CURLOPT_HTTPGET, 1L);
    } else {
        curl_easy_setopt(c->h, CURLOPT_POSTFIELDS, body ? body : "");
        curl_easy_setopt(c->h, CURLOPT_POSTFIELDSIZE, (long)(body ? strlen(body) : 0));
    }
    c->resp.len = 0;
    if (c->resp.data)
        c->resp.data[0] = 0;
    c->errbuf[0] = 0;
    double t0 = now_ms();
    CURLcode rc = curl_easy_perform(c->h);
    double t1 = now_ms();
    if (rc != CURLE_OK) {
        fail("%s %s: %s", method, path, c->errbuf[0] ? c->errbuf : curl_easy_strerror(rc));
        return -1;
    }
    long nc = 0;
    curl_easy_getinfo(c->h, CURLINFO_RESPONSE_CODE, status);
    curl_easy_getinfo(c->h, CURLINFO_NUM_CONNECTS, &nc);
    *ms = t1 - t0;
    if (newconn)
        *newconn = nc;
    return 0;
}

/* The response as JSON, or NULL after fail(). */
static json_t *reply_json(struct client *c, const char *what)
{
    json_error_t je;
    json_t *o = json_loadb(c->resp.data ? c->resp.data : "", c->resp.len, 0, &je);
    if (!o)
        fail("%s: the answer is not JSON (%s): %.300s", what, je.text, c->resp.data ? c->resp.data : "");
    return o;
}

static int expect_status(struct client *c, const char *what, long status, long want)
{
    if (status == want)
        return 0;
    fail("%s: HTTP %ld, expected %ld: %.500s", what, status, want, c->resp.data ? c->resp.data : "");
    return -1;
}

/* ---- domains ---- */

enum dom_state { DOM_NONE, DOM_UNKNOWN, DOM_CREATED };

static char names[MAX_DOMAINS][64];
static char *bodies[MAX_DOMAINS]; /* create request bodies, made before timing */
static _Atomic int dom_state[MAX_DOMAINS];

static void xml_escape(char *out, size_t size, const char *s)
{
    size_t o = 0;
    for (; *s && o + 7 < size; s++) {
        const char *e = NULL;
        switch (*s) {
        case '&': e = "&amp;"; break;
        case '<': e = "&lt;"; break;
        case '>': e = "&gt;"; break;
        case '"': e = "&quot;"; break;
        case '\'': e = "&apos;"; break;
        }
        if (e) {
            memcpy(out + o, e, strlen(e));
            o += strlen(e);
        } else {
            out[o++] = *s;
        }
    }
    out[o] = 0;
}

static int make_bodies(void)
{
    char kernel[PATH_MAX * 6 + 8], xml[PATH_MAX * 6 + 1024];
    xml_escape(kernel, sizeof(kernel), opt.kernel);
    for (int i = 0; i < opt.domains; i++) {
        snprintf(names[i], sizeof(names[i]), "%s-%d", opt.prefix, i + 1);
        snprintf(xml, sizeof(xml),
                 "<domain type=\"kvm\">\n"
                 "  <name>%s</name>\n"
                 "  <memory unit=\"MiB\">%u</memory>\n"
                 "  <vcpu>%u</vcpu>\n"
                 "  <os>\n"
                 "    <type>hvm</type>\n"
                 "    <kernel>%s</kernel>\n"
                 "  </os>\n"
                 "  <on_poweroff>destroy</on_poweroff>\n"
                 "  <on_reboot>restart</on_reboot>\n"
                 "  <on_crash>destroy</on_crash>\n"
                 "  <devices>\n"
                 "    <console type=\"pty\"/>\n"
                 "  </devices>\n"
                 "  <metadata>\n"
                 "    <xeno:sponsor xmlns:xeno=\"urn:xenoserver:domain:1\">control-bench</xeno:sponsor>\n"
                 "  </metadata>\n"
                 "</domain>\n",
                 names[i], opt.mib, opt.vcpus, kernel);
        json_t *b = json_pack("{s:s, s:b, s:b}", "xml", xml, "start", 1, "persistent", 0);
        bodies[i] = b ? json_dumps(b, JSON_COMPACT) : NULL;
        json_decref(b);
        if (!bodies[i]) {
            fail("out of memory");
            return -1;
        }
    }
    return 0;
}

static int create_domain(struct client *c, int i, struct series *s, double *ms_out, long *conns)
{
    long status, nc;
    double ms;
    char what[128];
    snprintf(what, sizeof(what), "create %s", names[i]);
    if (atomic_load(&failed))
        return -1;
    atomic_store(&dom_state[i], DOM_UNKNOWN);
    if (request(c, "POST", "/v1/domains", bodies[i], &status, &ms, &nc) < 0)
        return -1;
    if (status != 201) {
        /* xenod answered: a create that fails leaves nothing behind (and on 409 the name is
         * somebody else's domain, never to be touched). */
        atomic_store(&dom_state[i], DOM_NONE);
        return expect_status(c, what, status, 201);
    }
    atomic_store(&dom_state[i], DOM_CREATED);
    json_t *o = reply_json(c, what);
    if (!o)
        return -1;
    const char *name = json_string_value(json_object_get(o, "name"));
    json_t *pid = json_object_get(o, "pid");
    int ok = name && strcmp(name, names[i]) == 0 && json_is_integer(pid) && json_integer_value(pid) > 0;
    if (!ok)
        fail("%s: the answer is not the running domain: %.500s", what, c->resp.data);
    json_decref(o);
    if (!ok)
        return -1;
    if (s && series_add(s, ms) < 0)
        return -1;
    if (ms_out)
        *ms_out = ms;
    *conns += nc;
    return 0;
}

static int destroy_domain(struct client *c, int i, struct series *s, double *ms_out, long *conns)
{
    long status, nc;
    double ms;
    char path[128], what[128];
    snprintf(path, sizeof(path), "/v1/domains/%s/destroy", names[i]);
    snprintf(what, sizeof(what), "destroy %s", names[i]);
    if (atomic_load(&failed))
        return -1;
    if (request(c, "POST", path, NULL, &status, &ms, &nc) < 0)
        return -1;
    if (expect_status(c, what, status, 200) < 0)
        return -1;
    atomic_store(&dom_state[i], DOM_NONE);
    if (s && series_add(s, ms) < 0)
        return -1;
    if (ms_out)
        *ms_out = ms;
    *conns += nc;
    return 0;
}

/* Number of domains in a list answer, or -1 after fail(); *mine counts ours. */
static int list_count(struct client *c, int *mine)
{
    json_t *o = reply_json(c, "list");
    if (!o)
        return -1;
    json_t *arr = json_object_get(o, "domains");
    if (!json_is_array(arr)) {
        json_decref(o);
        fail("list: no \"domains\" array: %.300s", c->resp.data);
        return -1;
    }
    int n = (int)json_array_size(arr);
    if (mine) {
        *mine = 0;
        for (int k = 0; k < n; k++) {
            const char *name = json_string_value(json_object_get(json_array_get(arr, (size_t)k), "name"));
            for (int i = 0; name && i < opt.domains; i++)
                if (strcmp(name, names[i]) == 0)
                    (*mine)++;
        }
    }
    json_decref(o);
    return n;
}

static int do_lists(struct client *c, int fresh, int count, int expect, struct series *s, size_t *bytes)
{
    for (int k = 0; k < count && !atomic_load(&failed); k++) {
        struct client tmp;
        struct client *cc = c;
        long status, nc;
        double ms;
        if (fresh) {
            if (client_init(&tmp) < 0)
                return -1;
            cc = &tmp;
        }
        int rc = request(cc, "GET", "/v1/domains", NULL, &status, &ms, &nc);
        if (rc == 0 && (rc = expect_status(cc, "list", status, 200)) == 0) {
            int n = list_count(cc, NULL);
            if (n < 0)
                rc = -1;
            else if (n != expect)
                rc = -1, fail("list: %d domains, expected %d", n, expect);
        }
        if (rc == 0) {
            rc = series_add(s, ms);
            s->conns += nc;
            if (bytes)
                *bytes = cc->resp.len;
        }
        if (fresh)
            client_free(&tmp);
        if (rc < 0)
            return -1;
    }
    return atomic_load(&failed) ? -1 : 0;
}

static int do_gets(struct client *c, int fresh, int count, struct series *s)
{
    for (int k = 0; k < count && !atomic_load(&failed); k++) {
        struct client tmp;
        struct client *cc = c;
        long status, nc;
        double ms;
        char path[128];
        int i = k % opt.domains;
        if (fresh) {
            if (client_init(&tmp) < 0)
                return -1;
            cc = &tmp;
        }
        snprintf(path, sizeof(path), "/v1/domains/%s", names[i]);
        int rc = request(cc, "GET", path, NULL, &status, &ms, &nc);
        if (rc == 0 && (rc = expect_status(cc, "get", status, 200)) == 0) {
            json_t *o = reply_json(cc, "get");
            const char *name = o ? json_string_value(json_object_get(o, "name")) : NULL;
            if (!o)
                rc = -1;
            else if (!name || strcmp(name, names[i]) != 0)
                rc = -1, fail("get %s: the answer is another domain: %.300s", names[i], cc->resp.data);
            json_decref(o);
        }
        if (rc == 0) {
            rc = series_add(s, ms);
            s->conns += nc;
        }
        if (fresh)
            client_free(&tmp);
        if (rc < 0)
            return -1;
    }
    return atomic_load(&failed) ? -1 : 0;
}

/* Opens c's connection with a cheap request, outside any timing. */
static int warm_up(struct client *c)
{
    long status;
    double ms;
    if (request(c, "GET", "/v1/host", NULL, &status, &ms, NULL) < 0)
        return -1;
    return expect_status(c, "GET /v1/host", status, 200);
}

/* ---- parallel phase ---- */

struct worker {
    pthread_t th;
    int t;
    struct client c;
    double *create_ms, *destroy_ms; /* indexed by domain */
    long create_conns, destroy_conns;
};

static pthread_barrier_t bar;

static void *worker_main(void *p)
{
    struct worker *w = p;
    pthread_barrier_wait(&bar); /* go: create */
    for (int i = w->t; i < opt.domains && !atomic_load(&failed); i += opt.parallel)
        create_domain(&w->c, i, NULL, &w->create_ms[i], &w->create_conns);
    pthread_barrier_wait(&bar); /* all created */
    pthread_barrier_wait(&bar); /* go: destroy */
    for (int i = w->t; i < opt.domains && !atomic_load(&failed); i += opt.parallel)
        if (atomic_load(&dom_state[i]) == DOM_CREATED)
            destroy_domain(&w->c, i, NULL, &w->destroy_ms[i], &w->destroy_conns);
    return NULL;
}

/* ---- cleanup ---- */

/* Destroys whatever of ours may still exist; 404 is fine for those whose create was lost. */
static int cleanup(void)
{
    struct client c;
    int left = 0, bad = 0;
    for (int i = 0; i < opt.domains; i++)
        left += atomic_load(&dom_state[i]) != DOM_NONE;
    if (!left)
        return 0;
    fprintf(stderr, "control-bench: destroying the %d domain(s) it created (or may have)\n", left);
    if (client_init(&c) < 0)
        return -1;
    for (int i = 0; i < opt.domains; i++) {
        int st = atomic_load(&dom_state[i]);
        if (st == DOM_NONE)
            continue;
        char path[128];
        long status = 0;
        double ms;
        snprintf(path, sizeof(path), "/v1/domains/%s/destroy", names[i]);
        /* fail() keeps the first message; a transport error here is reported below. */
        if (request(&c, "POST", path, NULL, &status, &ms, NULL) < 0 ||
            !(status == 200 || (status == 404 && st == DOM_UNKNOWN))) {
            fprintf(stderr, "control-bench: could not destroy %s (HTTP %ld): %.300s\n", names[i], status,
                    c.resp.data ? c.resp.data : c.errbuf);
            bad++;
        }
    }
    client_free(&c);
    return bad ? -1 : 0;
}

/* ---- report ---- */

static void print_table(struct series **all, size_t n)
{
    printf("%-36s %6s %6s %8s %8s %8s %8s %8s %8s\n", "operation (ms)", "n", "conns", "min", "p50", "p90", "p99", "max",
           "mean");
    for (size_t i = 0; i < n; i++) {
        struct series *s = all[i];
        if (!s->n)
            continue;
        printf("%-36s %6zu %6ld %8.2f %8.2f %8.2f %8.2f %8.2f %8.2f\n", s->name, s->n, s->conns, s->sorted[0],
               pct(s, 50), pct(s, 90), pct(s, 99), s->sorted[s->n - 1], mean(s));
    }
}

static int write_json(struct series **all, size_t n, json_t *extra)
{
    json_t *ops = json_array();
    for (size_t i = 0; i < n; i++) {
        struct series *s = all[i];
        if (!s->n)
            continue;
        json_t *samples = json_array();
        for (size_t k = 0; k < s->n; k++)
            json_array_append_new(samples, json_real(s->ms[k]));
        json_array_append_new(ops, json_pack("{s:s, s:s, s:I, s:I, s:f, s:f, s:f, s:f, s:f, s:f, s:o}", "key", s->key,
                                             "name", s->name, "count", (json_int_t)s->n, "connections",
                                             (json_int_t)s->conns, "min_ms", s->sorted[0], "p50_ms", pct(s, 50),
                                             "p90_ms", pct(s, 90), "p99_ms", pct(s, 99), "max_ms", s->sorted[s->n - 1],
                                             "mean_ms", mean(s), "samples_ms", samples));
    }
    json_t *root =
        json_pack("{s:{s:s, s:s, s:i, s:i, s:i, s:i, s:i, s:i, s:i, s:i, s:i}, s:o, s:O}", "config", "socket",
                  opt.socket, "kernel", opt.kernel, "domains", opt.domains, "memory_mib", (int)opt.mib, "vcpus",
                  (int)opt.vcpus, "lists", opt.lists, "gets", opt.gets, "fresh", opt.fresh, "empty_lists",
                  opt.empty_lists, "rounds", opt.rounds, "parallel", opt.parallel, "operations", ops, "phases", extra);
    int rc = root ? json_dump_file(root, opt.json, JSON_INDENT(1)) : -1;
    json_decref(root);
    if (rc < 0)
        fprintf(stderr, "control-bench: cannot write %s\n", opt.json);
    return rc;
}

/* ---- main ---- */

static void usage(FILE *f)
{
    fputs("usage: control-bench --socket PATH [-k KERNEL] [-d DOMAINS] [-l LISTS] [-g GETS] [-f FRESH]\n"
          "                     [-e EMPTY_LISTS] [-r ROUNDS] [-p PARALLEL] [-m MIB] [-c VCPUS]\n"
          "                     [--prefix NAME] [--json FILE] [-q]\n"
          "\n"
          "  --socket PATH        xenod's API socket (xenod must be running)\n"
          "  -k, --kernel FILE    guest kernel (default build/guest/demo.elf; made absolute)\n"
          "  -d, --domains N      domains to create (default 20)\n"
          "  -l, --lists N        GET /v1/domains with all of them running, kept connection (default 1000)\n"
          "  -g, --gets N         GET /v1/domains/NAME, kept connection (default 200)\n"
          "  -f, --fresh N        each of list and get again, a new connection per request (default 200)\n"
          "  -e, --empty-lists N  GET /v1/domains before any of ours exists (default 200)\n"
          "  -r, --rounds N       sequential create-all/destroy-all rounds (default 1)\n"
          "  -p, --parallel P     then create and destroy them with P client threads at once (default 0: no)\n"
          "  -m, --memory MIB     guest RAM (default 64)\n"
          "  -c, --vcpus N        vCPUs (default 1)\n"
          "      --prefix NAME    domains are NAME-1 .. NAME-N (default bench)\n"
          "      --json FILE      also write the results (with all samples) as JSON\n"
          "      --tls URL        also LISTS lists and GETS gets over HTTPS (https://HOST:PORT of xenod's\n"
          "                       --listen) on one kept connection, with --cacert FILE and --token-file FILE\n"
          "  -q, --quiet          no progress on stderr\n",
          f);
}

/* --tls needs --cacert and --token-file: the bearer token, its first line. */
static int read_token(const char *file)
{
    char tok[128] = "";
    FILE *f = file && opt.cacert ? fopen(file, "r") : NULL;
    if (!f || !fgets(tok, sizeof(tok), f) || !tok[0]) {
        fprintf(stderr, "control-bench: --tls needs --cacert FILE and --token-file FILE with a token\n");
        if (f)
            fclose(f);
        return -1;
    }
    fclose(f);
    tok[strcspn(tok, "\r\n")] = 0;
    snprintf(opt.token_hdr, sizeof(opt.token_hdr), "Authorization: Bearer %s", tok);
    return 0;
}

static int int_arg(const char *s, const char *what, int lo, int hi)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || *end || end == s || v < lo || v > hi) {
        fprintf(stderr, "control-bench: %s must be %d to %d, not '%s'\n", what, lo, hi, s);
        exit(2);
    }
    return (int)v;
}

int main(int argc, char **argv)
{
    static const struct option longopts[] = {{"socket", required_argument, NULL, 'S'},
                                             {"kernel", required_argument, NULL, 'k'},
                                             {"domains", required_argument, NULL, 'd'},
                                             {"lists", required_argument, NULL, 'l'},
                                             {"gets", required_argument, NULL, 'g'},
                                             {"fresh", required_argument, NULL, 'f'},
                                             {"empty-lists", required_argument, NULL, 'e'},
                                             {"rounds", required_argument, NULL, 'r'},
                                             {"parallel", required_argument, NULL, 'p'},
                                             {"memory", required_argument, NULL, 'm'},
                                             {"vcpus", required_argument, NULL, 'c'},
                                             {"prefix", required_argument, NULL, 'P'},
                                             {"json", required_argument, NULL, 'J'},
                                             {"tls", required_argument, NULL, 'T'},
                                             {"cacert", required_argument, NULL, 'A'},
                                             {"token-file", required_argument, NULL, 'K'},
                                             {"quiet", no_argument, NULL, 'q'},
                                             {"help", no_argument, NULL, 'h'},
                                             {NULL, 0, NULL, 0}};
    const char *kernel = "build/guest/demo.elf", *token_file = NULL;
    int ch;
    while ((ch = getopt_long(argc, argv, "k:d:l:g:f:e:r:p:m:c:qh", longopts, NULL)) != -1) {
        switch (ch) {
        case 'S': opt.socket = optarg; break;
        case 'k': kernel = optarg; break;
        case 'd': opt.domains = int_arg(optarg, "--domains", 1, MAX_DOMAINS); break;
        case 'l': opt.lists = int_arg(optarg, "--lists", 0, 10000000); break;
        case 'g': opt.gets = int_arg(optarg, "--gets", 0, 10000000); break;
        case 'f': opt.fresh = int_arg(optarg, "--fresh", 0, 10000000); break;
        case 'e': opt.empty_lists = int_arg(optarg, "--empty-lists", 0, 10000000); break;
        case 'r': opt.rounds = int_arg(optarg, "--rounds", 1, 100000); break;
        case 'p': opt.parallel = int_arg(optarg, "--parallel", 0, MAX_PARALLEL); break;
        case 'm': opt.mib = (unsigned)int_arg(optarg, "--memory", 1, 1 << 20); break;
        case 'c': opt.vcpus = (unsigned)int_arg(optarg, "--vcpus", 1, 1024); break;
        case 'P': opt.prefix = optarg; break;
        case 'J': opt.json = optarg; break;
        case 'T': opt.tls_url = optarg; break;
        case 'A': opt.cacert = optarg; break;
        case 'K': token_file = optarg; break;
        case 'q': opt.quiet = 1; break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (optind < argc || !opt.socket) {
        usage(stderr);
        return 2;
    }
    if (opt.tls_url && read_token(token_file) < 0)
        return 2;
    if (strlen(opt.prefix) < 1 || strlen(opt.prefix) > 40) {
        fprintf(stderr, "control-bench: --prefix must be 1 to 40 characters\n");
        return 2;
    }
    if (!realpath(kernel, opt.kernel)) {
        fprintf(stderr, "control-bench: kernel %s: %s\n", kernel, strerror(errno));
        return 2;
    }
    struct sigaction sa = {.sa_handler = on_signal};
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        fprintf(stderr, "control-bench: curl_global_init failed\n");
        return 1;
    }

    char pname[8][64];
    snprintf(pname[0], sizeof(pname[0]), "create (%d threads)", opt.parallel);
    snprintf(pname[1], sizeof(pname[1]), "destroy (%d threads)", opt.parallel);
    char lname[64], ename[64], lfname[64];
    snprintf(lname, sizeof(lname), "list, %d domains", opt.domains);
    snprintf(lfname, sizeof(lfname), "list, %d domains, new conn", opt.domains);
    snprintf(ename, sizeof(ename), "list, 0 domains");
    struct series s_create = {.name = "create (start, sequential)", .key = "create"};
    struct series s_list0 = {.name = ename, .key = "list_empty"};
    struct series s_list = {.name = lname, .key = "list"};
    struct series s_get = {.name = "get", .key = "get"};
    struct series s_listf = {.name = lfname, .key = "list_new_conn"};
    struct series s_getf = {.name = "get, new conn", .key = "get_new_conn"};
    char tname[64];
    snprintf(tname, sizeof(tname), "list, %d domains, TLS", opt.domains);
    struct series s_tlist = {.name = tname, .key = "list_tls"};
    struct series s_tget = {.name = "get, TLS", .key = "get_tls"};
    struct series s_destroy = {.name = "destroy (sequential)", .key = "destroy"};
    struct series s_pcreate = {.name = pname[0], .key = "create_parallel"};
    struct series s_pdestroy = {.name = pname[1], .key = "destroy_parallel"};
    struct series *all[] = {&s_create, &s_destroy, &s_list0, &s_list,    &s_listf,   &s_get,
                            &s_getf,   &s_tlist,   &s_tget,  &s_pcreate, &s_pdestroy};
    json_t *phases = json_object();
    size_t list_bytes = 0, list0_bytes = 0;
    double seq_create_wall = 0, seq_destroy_wall = 0, par_create_wall = 0, par_destroy_wall = 0;
    int base = 0, rc = 1;
    struct client c = {0}, tc = {0};
    struct worker *workers = NULL;
    double *cms = NULL, *dms = NULL; /* parallel phase: latency per domain */

    if (make_bodies() < 0 || client_init(&c) < 0 || warm_up(&c) < 0)
        goto out;

    /* What is there already: never one of our names; others only make lists longer. */
    {
        long status;
        double ms;
        int mine;
        if (request(&c, "GET", "/v1/domains", NULL, &status, &ms, NULL) < 0 ||
            expect_status(&c, "list", status, 200) < 0 || (base = list_count(&c, &mine)) < 0)
            goto out;
        if (mine) {
            fail("xenod already has %d domain(s) named %s-N: pick another --prefix or remove them", mine, opt.prefix);
            goto out;
        }
        if (base)
            fprintf(stderr, "control-bench: note: xenod already has %d other domain(s); lists include them\n", base);
    }

    progress("control-bench: %d list requests with none of ours\n", opt.empty_lists);
    if (do_lists(&c, 0, opt.empty_lists, base, &s_list0, &list0_bytes) < 0)
        goto out;

    for (int round = 0; round < opt.rounds; round++) {
        progress("control-bench: round %d: creating %d domains\n", round + 1, opt.domains);
        double t0 = now_ms();
        for (int i = 0; i < opt.domains; i++)
            if (create_domain(&c, i, &s_create, NULL, &s_create.conns) < 0)
                goto out;
        seq_create_wall += now_ms() - t0;
        if (round == 0) {
            progress("control-bench: %d lists, %d gets, %d of each on new connections\n", opt.lists, opt.gets,
                     opt.fresh);
            if (do_lists(&c, 0, opt.lists, base + opt.domains, &s_list, &list_bytes) < 0 ||
                do_gets(&c, 0, opt.gets, &s_get) < 0 ||
                do_lists(&c, 1, opt.fresh, base + opt.domains, &s_listf, NULL) < 0 ||
                do_gets(&c, 1, opt.fresh, &s_getf) < 0)
                goto out;
            /* The same over TLS: one connection, its handshake made before the timing. */
            if (opt.tls_url) {
                progress("control-bench: %d lists, %d gets over TLS\n", opt.lists, opt.gets);
                if (client_init_as(&tc, 1) < 0 || warm_up(&tc) < 0 ||
                    do_lists(&tc, 0, opt.lists, base + opt.domains, &s_tlist, NULL) < 0 ||
                    do_gets(&tc, 0, opt.gets, &s_tget) < 0)
                    goto out;
            }
        }
        progress("control-bench: round %d: destroying them\n", round + 1);
        t0 = now_ms();
        for (int i = 0; i < opt.domains; i++)
            if (destroy_domain(&c, i, &s_destroy, NULL, &s_destroy.conns) < 0)
                goto out;
        seq_destroy_wall += now_ms() - t0;
    }

    if (opt.parallel > 0) {
        progress("control-bench: %d threads creating %d domains at once, then destroying them\n", opt.parallel,
                 opt.domains);
        workers = calloc((size_t)opt.parallel, sizeof(*workers));
        cms = calloc((size_t)opt.domains, sizeof(double));
        dms = calloc((size_t)opt.domains, sizeof(double));
        if (!workers || !cms || !dms) {
            fail("out of memory");
            goto out;
        }
        for (int t = 0; t < opt.parallel; t++) {
            workers[t].t = t;
            workers[t].create_ms = cms;
            workers[t].destroy_ms = dms;
            if (client_init(&workers[t].c) < 0 || warm_up(&workers[t].c) < 0)
                goto out;
        }
        pthread_barrier_init(&bar, NULL, (unsigned)opt.parallel + 1);
        int started = 0;
        for (; started < opt.parallel; started++)
            if (pthread_create(&workers[started].th, NULL, worker_main, &workers[started]) != 0)
                break;
        if (started < opt.parallel) {
            /* Cannot go on with fewer parties than the barrier expects. */
            fprintf(stderr, "control-bench: cannot start thread %d\n", started);
            exit(1);
        }
        pthread_barrier_wait(&bar);
        double t0 = now_ms();
        pthread_barrier_wait(&bar);
        par_create_wall = now_ms() - t0;
        /* All of them must be listed before they go. */
        if (!atomic_load(&failed)) {
            long status;
            double ms;
            int mine = 0;
            if (request(&c, "GET", "/v1/domains", NULL, &status, &ms, NULL) == 0 &&
                expect_status(&c, "list", status, 200) == 0 && list_count(&c, &mine) >= 0 && mine != opt.domains)
                fail("after the parallel create, the list has %d of ours, expected %d", mine, opt.domains);
        }
        t0 = now_ms();
        pthread_barrier_wait(&bar);
        for (int t = 0; t < opt.parallel; t++)
            pthread_join(workers[t].th, NULL);
        par_destroy_wall = now_ms() - t0;
        pthread_barrier_destroy(&bar);
        if (!atomic_load(&failed)) {
            for (int i = 0; i < opt.domains; i++) {
                series_add(&s_pcreate, cms[i]);
                series_add(&s_pdestroy, dms[i]);
            }
            for (int t = 0; t < opt.parallel; t++) {
                s_pcreate.conns += workers[t].create_conns;
                s_pdestroy.conns += workers[t].destroy_conns;
            }
        }
        if (atomic_load(&failed))
            goto out;
    }

    /* Nothing of ours may be left. */
    {
        long status;
        double ms;
        int mine = 0, n;
        if (request(&c, "GET", "/v1/domains", NULL, &status, &ms, NULL) < 0 ||
            expect_status(&c, "list", status, 200) < 0 || (n = list_count(&c, &mine)) < 0)
            goto out;
        if (mine) {
            fail("after destroying them all, the list still has %d of ours", mine);
            goto out;
        }
    }
    if (!atomic_load(&failed))
        rc = 0;

out:
    if (rc != 0) {
        if (interrupted)
            fprintf(stderr, "control-bench: stopped by %s\n", strsignal(interrupted));
        else
            fprintf(stderr, "control-bench: FAILED: %s\n", atomic_load(&failed) ? fail_msg : "unknown error");
        if (cleanup() < 0)
            fprintf(stderr, "control-bench: some domains could not be destroyed: see above\n");
    } else {
        for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++)
            if (sort_series(all[i]) < 0) {
                fprintf(stderr, "control-bench: out of memory\n");
                return 1;
            }
        printf("control-bench: xenod at %s; %d domains (%s, %u MiB, %u vCPU), %d round(s)%s\n", opt.socket, opt.domains,
               opt.kernel, opt.mib, opt.vcpus, opt.rounds, opt.parallel ? ", then a parallel phase" : "");
        printf("latency per request (curl_easy_perform); conns = connections opened; nearest-rank percentiles\n");
        print_table(all, sizeof(all) / sizeof(all[0]));
        printf("list answer: %zu bytes with %d domains, %zu bytes with %d\n", list_bytes, base + opt.domains,
               list0_bytes, base);
        printf("sequential: %d creates in %.0f ms, %d destroys in %.0f ms (per round, mean)\n", opt.domains,
               seq_create_wall / opt.rounds, opt.domains, seq_destroy_wall / opt.rounds);
        json_object_set_new(phases, "sequential_create_wall_ms", json_real(seq_create_wall / opt.rounds));
        json_object_set_new(phases, "sequential_destroy_wall_ms", json_real(seq_destroy_wall / opt.rounds));
        json_object_set_new(phases, "list_bytes", json_integer((json_int_t)list_bytes));
        json_object_set_new(phases, "list_empty_bytes", json_integer((json_int_t)list0_bytes));
        if (opt.parallel) {
            printf("parallel (%d threads): %d creates in %.0f ms (%.1f/s), %d destroys in %.0f ms (%.1f/s)\n",
                   opt.parallel, opt.domains, par_create_wall, opt.domains / par_create_wall * 1e3, opt.domains,
                   par_destroy_wall, opt.domains / par_destroy_wall * 1e3);
            json_object_set_new(phases, "parallel_create_wall_ms", json_real(par_create_wall));
            json_object_set_new(phases, "parallel_destroy_wall_ms", json_real(par_destroy_wall));
        }
        if (opt.json && write_json(all, sizeof(all) / sizeof(all[0]), phases) < 0)
            rc = 1;
    }
    fflush(stdout);
    json_decref(phases);
    client_free(&c);
    client_free(&tc);
    for (int t = 0; workers && t < opt.parallel; t++)
        client_free(&workers[t].c);
    free(workers);
    free(cms);
    free(dms);
    for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++) {
        free(all[i]->ms);
        free(all[i]->sorted);
    }
    for (int i = 0; i < opt.domains; i++)
        free(bodies[i]);
    curl_global_cleanup();
    return rc;
}
