/* The price list (docs/billing.md, "Price list"): a versioned file of `effective` blocks,
 * each holding prices per billable resource, optionally per sponsor, in integer micro-units
 * of money, and the rules that turn meters into a billable quantity. Pure parsing and lookup;
 * the file is read by prices_load. Unit-tested in tests/unit/test_daemon_prices.c. */
#ifndef XENO_DAEMON_PRICES_H
#define XENO_DAEMON_PRICES_H

#include <stddef.h>
#include <stdint.h>

#include "daemon/meter.h"

/* What an invoice line bills: CPU and memory combine two meters each (the rules), the
 * network and disk resources are one meter each. */
enum bill_resource {
    RES_CPU = 0, /* vcpu-second: max(used, reserved) unless `rule cpu` says otherwise */
    RES_MEMORY,  /* GiB-second: max(resident, allocated) unless `rule memory` says */
    RES_NET_TX_BYTES,
    RES_NET_RX_BYTES,
    RES_NET_TX_PACKETS,
    RES_NET_RX_PACKETS,
    RES_DISK_OPS,         /* op: disk_ops */
    RES_DISK_BYTES,       /* byte: disk_bytes (read + written) */
    RES_DISK_PROVISIONED, /* GiB-second: disk_provisioned_gib_seconds */
    RES_DISK_RESERVED,    /* iops-second: disk_reserved_iops_seconds */
    RES__COUNT
};
extern const char *const bill_resource_name[RES__COUNT];
extern const char *const bill_resource_unit[RES__COUNT];

/* How CPU or memory is billed from its two meters. */
enum bill_rule { RULE_MAX = 0, RULE_USED, RULE_RESERVED };

#define PRICE_SPONSOR_MAX 136
#define PRICES_MAX_PERIODS 32
#define PRICES_MAX_ENTRIES 64

struct price_entry {
    int resource;                    /* enum bill_resource */
    char sponsor[PRICE_SPONSOR_MAX]; /* "": everyone without an override */
    int64_t micros;                  /* money (micro-units) ... */
    int64_t per;                     /* ... per this many units */
};

struct price_period {
    int64_t from_us; /* CLOCK_REALTIME microseconds: in force from here to the next period */
    int rule_cpu, rule_memory;
    int line; /* where its `effective` line is, for --explain */
    size_t n;
    struct price_entry entries[PRICES_MAX_ENTRIES];
};

/* About 180 KiB: allocate it (calloc), never on the stack. */
struct price_list {
    char version[64];
    char file[256];
    size_t n;
    struct price_period periods[PRICES_MAX_PERIODS];
};

/* Parses a whole price list. name: the file name for messages. 0, or -EINVAL with err_set()
 * saying "NAME:LINE: what is wrong" for the first error; *out is then unspecified. */
int prices_parse(const char *text, size_t len, const char *name, struct price_list *out);
/* Reads and parses FILE (at most 1 MiB). The same errors, -errno when it cannot be read. */
int prices_load(const char *path, struct price_list *out);

/* The period in force at t_us (NULL before the first), and the price of a resource for a
 * sponsor in it (the sponsor's override, else the general price; 0 when the list names none). */
const struct price_period *prices_period_at(const struct price_list *l, int64_t t_us);
const struct price_entry *prices_entry(const struct price_period *p, int resource, const char *sponsor);

/* "2026-12-01T00:00:00Z" or a number of seconds since the epoch, into microseconds. */
int prices_parse_time(const char *text, int64_t *out_us);
/* The same as text ("2026-12-01T00:00:00Z"), into buf. */
const char *prices_format_time(int64_t t_us, char *buf, size_t size);

/* Money for `quantity` micro-units at `e` (NULL: free), rounded down to a micro-unit. */
int64_t prices_amount(const struct price_entry *e, int64_t quantity_micro);

#endif
