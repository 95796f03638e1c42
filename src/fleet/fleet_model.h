/* The fleet's data in etcd (docs/fleet.md), as C structs and their JSON values:
 *
 *   /xeno/hosts/NAME    a host: capacity, reservations, state, version, advertise URL;
 *                       written by its xenod under its lease (gone when the lease expires) and
 *                       by placers, in the transaction that claims a reservation on it
 *   /xeno/domains/UUID  a domain placed by the fleet: its host, sponsor, what it reserved and
 *                       its definition (canonical domain XML)
 *
 * Values read from etcd were written by other hosts and placers: every field is checked and
 * bounded on the way in. Pure code (jansson only). */
#ifndef XENO_FLEET_FLEET_MODEL_H
#define XENO_FLEET_FLEET_MODEL_H

#include <stddef.h>
#include <stdint.h>

#define FLEET_PREFIX "/xeno/"
#define FLEET_HOSTS FLEET_PREFIX "hosts/"
#define FLEET_DOMAINS FLEET_PREFIX "domains/"
#define FLEET_FAILOVER FLEET_PREFIX "failover/" /* + UUID: who restarts a lost domain (a lock) */
#define FLEET_NAME_MAX 63                       /* a host name: [A-Za-z0-9._-], 1..63, not starting with '.' */
#define FLEET_URL_MAX 255                       /* an advertise URL: https://HOST:PORT or unix:/PATH */
#define FLEET_TEXT_MAX 127                      /* a sponsor, a version */
#define FLEET_UUID_LEN 36
#define FLEET_KEY_MAX 160

enum fleet_host_state { FLEET_ACTIVE, FLEET_DRAINING };

struct fleet_host {
    char name[FLEET_NAME_MAX + 1];
    char advertise[FLEET_URL_MAX + 1];
    char version[FLEET_TEXT_MAX + 1];
    char migrate[FLEET_NAME_MAX + 1]; /* its --migrate-listen ADDR:PORT, "" if none (drain needs it) */
    enum fleet_host_state state;
    unsigned cpus;            /* CPUs admission control counts */
    uint32_t headroom_ppm;    /* share of each CPU never reserved (sched/admit.h) */
    uint64_t mem_mib;         /* memory domains may use */
    uint64_t held_ppm;        /* CPU reservations the host's xenod holds now (written by xenod) */
    uint64_t claimed_ppm;     /* CPU reservations placers claimed on it (written by placers) */
    uint64_t claimed_mib;     /* memory placers claimed on it */
    unsigned claimed_domains; /* domains placers put there */
    /* From etcd, not the value: */
    int64_t mod_revision, lease;
};

struct fleet_domain {
    char uuid[FLEET_UUID_LEN + 1];
    char name[FLEET_NAME_MAX + 1];
    char host[FLEET_NAME_MAX + 1];
    char sponsor[FLEET_TEXT_MAX + 1]; /* "" if none */
    uint32_t reservation_ppm;
    unsigned vcpus;
    uint64_t mem_mib;
    char *definition; /* canonical domain XML, malloc'd (fleet_domain_free) */
    /* Set by a failover: the host it ran on before its lease expired, until the new host's
     * xenod has announced the restart (event `failover`); "" otherwise. */
    char lost_from[FLEET_NAME_MAX + 1];
    int64_t mod_revision;
};

/* A host name as the fleet accepts it (it goes into keys and lines). */
int fleet_name_valid(const char *name);
/* ADDR:PORT where a host accepts live migrations (its --migrate-listen): printable, no
 * spaces, a colon followed by a port; "" is valid (none). */
int fleet_migrate_addr_valid(const char *addr);
/* https://HOST:PORT or unix:/ABSOLUTE/PATH, printable, no spaces. */
int fleet_url_valid(const char *url);

/* The CPU reservations a placement must count on a host: the larger of what its xenod holds
 * and what placers claimed (domains created on the host directly show up only in held). */
uint64_t fleet_host_used_ppm(const struct fleet_host *h);

/* "/xeno/hosts/NAME", "/xeno/domains/UUID" into buf (FLEET_KEY_MAX). */
void fleet_host_key(const char *name, char *buf, size_t size);
void fleet_domain_key(const char *uuid, char *buf, size_t size);

/* The anti-affinity index: /xeno/sponsors/HEX(SPONSOR)/HOST/UUID, an empty key per placed
 * domain of a sponsor, written and deleted with the domain record, so that counting a
 * sponsor's domains per host reads keys, not every definition. buf: FLEET_INDEX_KEY_MAX. */
#define FLEET_SPONSORS FLEET_PREFIX "sponsors/"
#define FLEET_INDEX_KEY_MAX 512
void fleet_sponsor_prefix(const char *sponsor, char *buf, size_t size);
void fleet_sponsor_key(const char *sponsor, const char *host, const char *uuid, char *buf, size_t size);

/* JSON text of a record (malloc'd) or NULL (out of memory). */
char *fleet_host_format(const struct fleet_host *h);
char *fleet_domain_format(const struct fleet_domain *d);
/* Parses a record's value; the name/uuid must match the key's. 0 or -EINVAL with err_set(). */
int fleet_host_parse(const char *text, size_t len, const char *key, struct fleet_host *out);
int fleet_domain_parse(const char *text, size_t len, const char *key, struct fleet_domain *out);
void fleet_domain_free(struct fleet_domain *d);

#endif
