/* A writer of the Prometheus text exposition format, version 0.0.4 (what `GET /metrics`
 * answers, docs/metrics.md): "# HELP" and "# TYPE" lines per family, then one line per
 * sample, `name{label="value",...} value`, into a growing buffer.
 *
 * Label values are escaped as the format says (backslash, double quote, newline) and any byte
 * that is not valid UTF-8 becomes U+FFFD, so a value a sponsor chose (a domain name) can never
 * end a line, open a label or break a scraper's parser. Metric and label names are ours and
 * are checked against the format's grammar. Pure: no I/O, no locks. */
#ifndef XENO_LIB_PROM_TEXT_H
#define XENO_LIB_PROM_TEXT_H

#include <stddef.h>
#include <stdint.h>

#define PROM_TEXT_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

enum prom_type { PROM_COUNTER, PROM_GAUGE, PROM_UNTYPED };

struct prom_label {
    const char *name, *value;
};

/* The buffer and the first error: after one, every call is a no-op returning it, so a
 * caller writes everything and checks once (prom_text_error). */
struct prom_text {
    char *buf; /* NUL-terminated while len > 0 */
    size_t len, cap;
    int err; /* 0, or the first -errno */
};

void prom_text_init(struct prom_text *w);
void prom_text_free(struct prom_text *w);
/* 0, or the first error (-ENOMEM, or -EINVAL for a bad metric or label name) with its message. */
int prom_text_error(const struct prom_text *w);

/* The family's "# HELP name help" and "# TYPE name type" lines; help has backslash and
 * newline escaped. Write each family once, before its samples. */
int prom_text_family(struct prom_text *w, const char *name, enum prom_type type, const char *help);

/* One sample line of family `name` with n labels. _u64 prints the integer exactly; _ns_s prints
 * nanoseconds as seconds with nine exact decimals (no rounding: a counter that grows by 1 ns
 * prints larger); _double prints the shortest of %.15g and %.17g that reads back as v (NaN, +Inf, -Inf as the format
 * spells them). */
int prom_text_sample_u64(struct prom_text *w, const char *name, const struct prom_label *labels, size_t n, uint64_t v);
int prom_text_sample_ns_s(struct prom_text *w, const char *name, const struct prom_label *labels, size_t n,
                          uint64_t ns);
int prom_text_sample_double(struct prom_text *w, const char *name, const struct prom_label *labels, size_t n, double v);

/* Is `name` a valid metric name ([a-zA-Z_:][a-zA-Z0-9_:]*) / label name ([a-zA-Z_][a-zA-Z0-9_]*,
 * not starting with "__", which Prometheus reserves)? */
int prom_metric_name_valid(const char *name);
int prom_label_name_valid(const char *name);

#endif
