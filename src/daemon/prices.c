/* Price-list parsing and lookup (prices.h, docs/billing.md). */
#include "daemon/prices.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "lib/err.h"

const char *const bill_resource_name[RES__COUNT] = {
    "cpu",      "memory",     "net_tx_bytes",     "net_rx_bytes", "net_tx_packets", "net_rx_packets",
    "disk_ops", "disk_bytes", "disk_provisioned", "disk_reserved"};
const char *const bill_resource_unit[RES__COUNT] = {"vcpu-second", "GiB-second", "byte", "byte",       "packet",
                                                    "packet",      "op",         "byte", "GiB-second", "iops-second"};

#define PRICES_FILE_MAX (1u << 20)
#define LINE_MAX_LEN 512
#define WORDS_MAX 8

int prices_parse_time(const char *text, int64_t *out_us)
{
    struct tm tm;
    memset(&tm, 0, sizeof(tm));
    const char *end = strptime(text, "%Y-%m-%dT%H:%M:%SZ", &tm);
    if (end && *end == 0) {
        time_t t = timegm(&tm);
        if (t < 0)
            return err_set(EINVAL, "time '%s' is before 1970", text);
        *out_us = (int64_t)t * 1000000;
        return 0;
    }
    char *e;
    errno = 0;
    long long s = strtoll(text, &e, 10);
    if (!*text || *e || errno || s < 0 || s > 253402300799LL) /* 9999-12-31 */
        return err_set(EINVAL, "time '%.40s' is neither YYYY-MM-DDTHH:MM:SSZ nor seconds since 1970", text);
    *out_us = (int64_t)s * 1000000;
    return 0;
}

const char *prices_format_time(int64_t t_us, char *buf, size_t size)
{
    time_t t = (time_t)(t_us / 1000000);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(buf, size, "%Y-%m-%dT%H:%M:%SZ", &tm);
    return buf;
}

static int parse_amount(const char *text, int64_t max, int64_t *out)
{
    char *e;
    errno = 0;
    long long v = strtoll(text, &e, 10);
    if (!isdigit((unsigned char)text[0]) || *e || errno || v > max)
        return -EINVAL;
    *out = v;
    return 0;
}

static int valid_sponsor(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n >= PRICE_SPONSOR_MAX)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!isalnum((unsigned char)s[i]) && !strchr("._-", s[i]))
            return 0;
    return 1;
}

struct parser {
    const char *name;
    int line;
    struct price_list *out;
    struct price_period *cur;
};

static int parse_effective(struct parser *p, char **w, int n)
{
    int64_t t;
    if (n != 2)
        return err_set(EINVAL, "%s:%d: expected 'effective TIME' (YYYY-MM-DDTHH:MM:SSZ)", p->name, p->line);
    if (prices_parse_time(w[1], &t) < 0) {
        char why[160]; /* err_msg() is the buffer err_set writes */
        snprintf(why, sizeof(why), "%s", err_msg());
        return err_set(EINVAL, "%s:%d: %s", p->name, p->line, why);
    }
    if (p->out->n == PRICES_MAX_PERIODS)
        return err_set(EINVAL, "%s:%d: more than %d effective blocks", p->name, p->line, PRICES_MAX_PERIODS);
    if (p->cur && t <= p->cur->from_us)
        return err_set(EINVAL, "%s:%d: effective %s is not after the block before it (line %d)", p->name, p->line, w[1],
                       p->cur->line);
    struct price_period *np = &p->out->periods[p->out->n++];
    if (p->cur)
        *np = *p->cur; /* a block starts with everything of the one before it */
    else
        memset(np, 0, sizeof(*np));
    np->from_us = t;
    np->line = p->line;
    p->cur = np;
    return 0;
}

static int parse_rule(struct parser *p, char **w, int n)
{
    static const char *const cpu[] = {"max", "used", "reserved"}, *const mem[] = {"max", "resident", "allocated"};
    if (!p->cur)
        return err_set(EINVAL, "%s:%d: 'rule' before any 'effective' line", p->name, p->line);
    int is_cpu = n == 3 && strcmp(w[1], "cpu") == 0, is_mem = n == 3 && strcmp(w[1], "memory") == 0;
    for (int i = 0; i < 3 && (is_cpu || is_mem); i++) {
        if (strcmp(w[2], is_cpu ? cpu[i] : mem[i]) == 0) {
            *(is_cpu ? &p->cur->rule_cpu : &p->cur->rule_memory) = i;
            return 0;
        }
    }
    return err_set(EINVAL, "%s:%d: expected 'rule cpu max|used|reserved' or 'rule memory max|resident|allocated'",
                   p->name, p->line);
}

/* price RESOURCE MICROS per [N] UNIT [sponsor NAME] */
static int parse_price(struct parser *p, char **w, int n)
{
    struct price_entry e = {.per = 1};
    if (!p->cur)
        return err_set(EINVAL, "%s:%d: 'price' before any 'effective' line", p->name, p->line);
    if (n < 4 || strcmp(w[3], "per") != 0)
        return err_set(EINVAL, "%s:%d: expected 'price RESOURCE MICROS per [N] UNIT [sponsor NAME]'", p->name, p->line);
    e.resource = -1;
    for (int i = 0; i < RES__COUNT; i++)
        if (strcmp(w[1], bill_resource_name[i]) == 0)
            e.resource = i;
    if (e.resource < 0)
        return err_set(EINVAL,
                       "%s:%d: unknown resource '%.40s' (cpu, memory, net_tx_bytes, net_rx_bytes, net_tx_packets, "
                       "net_rx_packets, disk_ops, disk_bytes, disk_provisioned, disk_reserved)",
                       p->name, p->line, w[1]);
    if (parse_amount(w[2], INT64_MAX / 2, &e.micros) < 0)
        return err_set(EINVAL, "%s:%d: price '%.40s' is not a whole number of micro-units", p->name, p->line, w[2]);
    int k = 4;
    if (k < n && isdigit((unsigned char)w[k][0])) {
        if (parse_amount(w[k], 1000000000000LL, &e.per) < 0 || e.per == 0)
            return err_set(EINVAL, "%s:%d: 'per %.40s': a count from 1 to 10^12", p->name, p->line, w[k]);
        k++;
    }
    const char *unit = bill_resource_unit[e.resource];
    if (k >= n || (strcmp(w[k], unit) != 0 && !(w[k][strlen(w[k]) - 1] == 's' && strlen(w[k]) == strlen(unit) + 1 &&
                                                strncmp(w[k], unit, strlen(unit)) == 0)))
        return err_set(EINVAL, "%s:%d: %s is priced per %s, not '%.40s'", p->name, p->line, w[1], unit,
                       k < n ? w[k] : "");
    k++;
    if (k < n) {
        if (k + 2 != n || strcmp(w[k], "sponsor") != 0)
            return err_set(EINVAL, "%s:%d: unexpected '%.40s' (only 'sponsor NAME' may follow the unit)", p->name,
                           p->line, w[k]);
        if (!valid_sponsor(w[k + 1]))
            return err_set(EINVAL, "%s:%d: sponsor name '%.40s': letters, digits, '.', '_', '-', up to %d", p->name,
                           p->line, w[k + 1], PRICE_SPONSOR_MAX - 1);
        snprintf(e.sponsor, sizeof(e.sponsor), "%s", w[k + 1]);
    }
    /* Inherited from the block before: replaced. Said twice in this block: an error. */
    for (size_t i = 0; i < p->cur->n; i++) {
        struct price_entry *o = &p->cur->entries[i];
        if (o->resource == e.resource && strcmp(o->sponsor, e.sponsor) == 0) {
            if (o->micros < 0)
                return err_set(EINVAL, "%s:%d: %s%s%s is priced twice in this block", p->name, p->line, w[1],
                               e.sponsor[0] ? " for sponsor " : "", e.sponsor);
            *o = e;
            o->micros = -1 - o->micros; /* marked as set in this block until the block ends */
            return 0;
        }
    }
    if (p->cur->n == PRICES_MAX_ENTRIES)
        return err_set(EINVAL, "%s:%d: more than %d prices in one block", p->name, p->line, PRICES_MAX_ENTRIES);
    e.micros = -1 - e.micros;
    p->cur->entries[p->cur->n++] = e;
    return 0;
}

/* Prices set in the current block are stored as -1 - micros while it is read (to find a
 * resource priced twice); this makes them plain again. */
static void end_block(struct price_period *pp)
{
    for (size_t i = 0; pp && i < pp->n; i++)
        if (pp->entries[i].micros < 0)
            pp->entries[i].micros = -1 - pp->entries[i].micros;
}

static int parse_line(struct parser *p, char *text)
{
    char *w[WORDS_MAX + 1], *save = NULL;
    int n = 0;
    char *hash = strchr(text, '#');
    if (hash)
        *hash = 0;
    for (const char *c = text; *c; c++)
        if ((unsigned char)*c < 0x20 && *c != '\t')
            return err_set(EINVAL, "%s:%d: control character in the line", p->name, p->line);
    for (char *t = strtok_r(text, " \t\r", &save); t; t = strtok_r(NULL, " \t\r", &save)) {
        if (n == WORDS_MAX)
            return err_set(EINVAL, "%s:%d: too many words", p->name, p->line);
        w[n++] = t;
    }
    if (n == 0)
        return 0;
    if (strcmp(w[0], "version") == 0) {
        if (n != 2 || strlen(w[1]) >= sizeof(p->out->version))
            return err_set(EINVAL, "%s:%d: expected 'version NAME' (up to 63 characters)", p->name, p->line);
        snprintf(p->out->version, sizeof(p->out->version), "%s", w[1]);
        return 0;
    }
    if (strcmp(w[0], "effective") == 0) {
        end_block(p->cur);
        return parse_effective(p, w, n);
    }
    if (strcmp(w[0], "rule") == 0)
        return parse_rule(p, w, n);
    if (strcmp(w[0], "price") == 0)
        return parse_price(p, w, n);
    return err_set(EINVAL, "%s:%d: unknown keyword '%.40s' (version, effective, rule, price)", p->name, p->line, w[0]);
}

int prices_parse(const char *text, size_t len, const char *name, struct price_list *out)
{
    struct parser p = {.name = name, .out = out};
    memset(out, 0, sizeof(*out));
    snprintf(out->file, sizeof(out->file), "%s", name);
    size_t i = 0;
    while (i < len) {
        char buf[LINE_MAX_LEN + 1];
        size_t j = i;
        while (j < len && text[j] != '\n')
            j++;
        p.line++;
        if (j - i > LINE_MAX_LEN)
            return err_set(EINVAL, "%s:%d: line longer than %d characters", name, p.line, LINE_MAX_LEN);
        memcpy(buf, text + i, j - i);
        buf[j - i] = 0;
        if (memchr(buf, 0, j - i))
            return err_set(EINVAL, "%s:%d: NUL byte in the line", name, p.line);
        int r = parse_line(&p, buf);
        if (r < 0)
            return r;
        i = j + 1;
    }
    end_block(p.cur);
    if (!out->version[0])
        return err_set(EINVAL, "%s:%d: no 'version NAME' line", name, p.line);
    if (out->n == 0)
        return err_set(EINVAL, "%s:%d: no 'effective TIME' block", name, p.line);
    return 0;
}

int prices_load(const char *path, struct price_list *out)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return err_set(errno, "price list '%s': %s", path, strerror(errno));
    char *buf = malloc(PRICES_FILE_MAX + 1);
    size_t len = 0;
    ssize_t got = 0;
    while (buf && len <= PRICES_FILE_MAX && (got = read(fd, buf + len, PRICES_FILE_MAX + 1 - len)) > 0)
        len += (size_t)got;
    int e = errno;
    close(fd);
    if (!buf)
        return err_set(ENOMEM, "price list '%s': out of memory", path);
    int r;
    if (got < 0)
        r = err_set(e, "price list '%s': %s", path, strerror(e));
    else if (len > PRICES_FILE_MAX)
        r = err_set(EFBIG, "price list '%s': larger than %u bytes", path, PRICES_FILE_MAX);
    else
        r = prices_parse(buf, len, path, out);
    free(buf);
    return r;
}

const struct price_period *prices_period_at(const struct price_list *l, int64_t t_us)
{
    const struct price_period *found = NULL;
    for (size_t i = 0; l && i < l->n && l->periods[i].from_us <= t_us; i++)
        found = &l->periods[i];
    return found;
}

const struct price_entry *prices_entry(const struct price_period *p, int resource, const char *sponsor)
{
    const struct price_entry *general = NULL;
    for (size_t i = 0; p && i < p->n; i++) {
        const struct price_entry *e = &p->entries[i];
        if (e->resource != resource)
            continue;
        if (sponsor && e->sponsor[0] && strcmp(e->sponsor, sponsor) == 0)
            return e;
        if (!e->sponsor[0])
            general = e;
    }
    return general;
}

int64_t prices_amount(const struct price_entry *e, int64_t quantity_micro)
{
    if (!e || quantity_micro <= 0)
        return 0;
    __int128 a = (__int128)quantity_micro * e->micros / ((__int128)e->per * 1000000);
    return a > INT64_MAX ? INT64_MAX : (int64_t)a;
}
