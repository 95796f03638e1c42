/* bench/fleet (bench/README.md): placement against a real etcd. HOSTS simulated hosts (a lease
 * and a host record each, no xenod), then DOMAINS placements by PLACERS threads at once, each
 * with its own etcd client, through fleet_place() (plan, claim in one transaction, plan again
 * on a lost race) exactly as `xenctl --fleet create` does, without starting anything. Prints
 * the placements per second, the transactions they took, and checks the result: every
 * domain recorded, no host's claims over its capacity, the claims equal to the domain records.
 * Then the detection time of a dead host: one more host whose lease is not kept alive, and the
 * time until its record is gone from etcd, against its TTL.
 *
 * usage: fleet-bench ETCD_URLS [HOSTS DOMAINS PLACERS SPONSORS]   (default 50 1000 4 20) */
#include <curl/curl.h>
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "fleet/etcd_client.h"
#include "fleet/fleet_place.h"
#include "lib/err.h"

static const char *urls;
static int nhosts = 50, ndomains = 1000, nplacers = 4, nsponsors = 20;
static atomic_int next_domain, placed, failed, transactions;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void die(const char *what)
{
    fprintf(stderr, "fleet-bench: %s: %s\n", what, err_msg());
    exit(1);
}

/* A simulated host: 16 CPUs at 10% headroom (1440%), 64 GiB, under its own lease. */
static void add_host(struct etcd_client *e, const char *name, long ttl_s)
{
    struct fleet_host h = {.cpus = 16, .headroom_ppm = 100000, .mem_mib = 65536};
    char key[FLEET_KEY_MAX];
    snprintf(h.name, sizeof(h.name), "%s", name);
    snprintf(h.advertise, sizeof(h.advertise), "unix:/run/%s.sock", name);
    snprintf(h.version, sizeof(h.version), "bench");
    int64_t lease;
    if (etcd_lease_grant(e, ttl_s, &lease) < 0)
        die("lease grant");
    char *v = fleet_host_format(&h);
    fleet_host_key(name, key, sizeof(key));
    if (!v || etcd_put(e, key, v, lease) < 0)
        die("host record");
    free(v);
}

static void *placer(void *arg)
{
    (void)arg;
    struct etcd_client *e;
    if (etcd_open(&e, urls, NULL, 5000) < 0)
        die("etcd");
    for (int i; (i = atomic_fetch_add(&next_domain, 1)) < ndomains;) {
        struct fleet_domain d = {.reservation_ppm = 20000 + (uint32_t)(i % 5) * 10000, .vcpus = 1, .mem_mib = 64};
        snprintf(d.uuid, sizeof(d.uuid), "b0000000-0000-4000-8000-%012d", i);
        snprintf(d.name, sizeof(d.name), "bench-%d", i);
        snprintf(d.sponsor, sizeof(d.sponsor), "%s%d", nsponsors ? "sponsor-" : "", nsponsors ? i % nsponsors : 0);
        if (!nsponsors)
            d.sponsor[0] = 0;
        d.definition = "<domain type=\"kvm\"><name>bench</name><memory unit=\"MiB\">64</memory></domain>";
        struct fleet_host chosen;
        int attempts = 0;
        if (fleet_place(e, &d, PLACEMENT_SPREAD, &chosen, &attempts) == 0)
            atomic_fetch_add(&placed, 1);
        else
            atomic_fetch_add(&failed, 1), fprintf(stderr, "fleet-bench: %s\n", err_msg());
        atomic_fetch_add(&transactions, attempts);
        d.definition = NULL;
    }
    etcd_close(e);
    return NULL;
}

/* Every domain recorded once; each host's claims are the sum of its domains and within capacity. */
static int verify(struct etcd_client *e)
{
    struct fleet_host *h;
    struct fleet_domain *d;
    size_t nh, nd;
    if (fleet_read_hosts(e, &h, &nh) < 0 || fleet_read_domains(e, &d, &nd) < 0)
        die("read back");
    int bad = (int)nd != placed;
    for (size_t i = 0; i < nh; i++) {
        uint64_t sum = 0;
        unsigned n = 0;
        for (size_t j = 0; j < nd; j++)
            if (strcmp(d[j].host, h[i].name) == 0)
                sum += d[j].reservation_ppm, n++;
        if (sum != h[i].claimed_ppm || n != h[i].claimed_domains || sum > (uint64_t)h[i].cpus * 900000) {
            printf("  host %s: claims %" PRIu64 " ppm / %u domains, records %" PRIu64 " ppm / %u\n", h[i].name,
                   h[i].claimed_ppm, h[i].claimed_domains, sum, n);
            bad = 1;
        }
    }
    printf("check: %zu domain records for %d placements, %zu hosts: %s\n", nd, placed, nh,
           bad ? "MISMATCH" : "claims match the records, no host over capacity");
    free(h);
    fleet_domains_free(d, nd);
    return bad;
}

/* A host whose lease is not kept alive: seconds until its record is gone. */
static double detection(struct etcd_client *e, long ttl_s)
{
    char key[FLEET_KEY_MAX];
    add_host(e, "dead-host", ttl_s);
    fleet_host_key("dead-host", key, sizeof(key));
    double t0 = now_s();
    for (;;) {
        struct etcd_range r;
        if (etcd_range(e, key, 0, &r) < 0)
            die("range");
        size_t n = r.n;
        etcd_range_free(&r);
        if (!n)
            return now_s() - t0;
        if (now_s() - t0 > ttl_s + 30)
            return -1;
        usleep(20000);
    }
}

int main(int argc, char **argv)
{
    if (argc < 2 || argc > 6) {
        fprintf(stderr, "usage: fleet-bench ETCD_URLS [HOSTS DOMAINS PLACERS SPONSORS]\n");
        return 2;
    }
    urls = argv[1];
    if (argc > 2)
        nhosts = atoi(argv[2]);
    if (argc > 3)
        ndomains = atoi(argv[3]);
    if (argc > 4)
        nplacers = atoi(argv[4]);
    if (argc > 5)
        nsponsors = atoi(argv[5]);
    if (nhosts < 1 || ndomains < 1 || nplacers < 1 || nplacers > 64 || nsponsors < 0) {
        fprintf(stderr, "fleet-bench: HOSTS, DOMAINS and PLACERS (1..64) are positive\n");
        return 2;
    }
    curl_global_init(CURL_GLOBAL_DEFAULT);
    struct etcd_client *e;
    if (etcd_open(&e, urls, NULL, 5000) < 0)
        die("etcd");
    for (int i = 0; i < nhosts; i++) {
        char name[32];
        snprintf(name, sizeof(name), "sim-%03d", i);
        add_host(e, name, 600);
    }
    pthread_t t[64];
    double t0 = now_s();
    for (int i = 0; i < nplacers; i++)
        pthread_create(&t[i], NULL, placer, NULL);
    for (int i = 0; i < nplacers; i++)
        pthread_join(t[i], NULL);
    double el = now_s() - t0;
    printf("placement: %d hosts, %d domains (%d sponsors), %d placers, spread: %d placed, %d failed in %.2f s = "
           "%.0f placements/s; %d transactions (%.2f per placement)\n",
           nhosts, ndomains, nsponsors, nplacers, placed, failed, el, placed / el, transactions,
           placed ? (double)transactions / placed : 0.0);
    int bad = verify(e);
    double dt = detection(e, 2);
    printf("dead host: lease TTL 2 s, record gone after %.2f s\n", dt);
    etcd_close(e);
    curl_global_cleanup();
    return bad || failed || dt < 0;
}
