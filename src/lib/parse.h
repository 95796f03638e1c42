/* Parsing of user-supplied numbers and sizes (command line, later XML and API). Each parser
 * rejects empty input, trailing junk, overflow and values outside the range it is given. */
#ifndef XENO_LIB_PARSE_H
#define XENO_LIB_PARSE_H

#include <stddef.h>
#include <stdint.h>

/* "64M", "1G", "4096K", "512" (in default_unit bytes, e.g. 1<<20 for MiB). Suffixes K, M,
 * G, T (powers of 1024), optionally followed by "iB" or "B"; "B" alone means bytes; "p"
 * (lowercase) means 4 KiB pages.
 * Returns 0, or -EINVAL / -ERANGE with a message naming the text. */
int parse_size(const char *text, uint64_t default_unit, uint64_t *out);

/* A duration: "1s", "500ms", "2.5s", "1m"; a bare number is seconds. Into milliseconds,
 * at most max_ms. */
int parse_duration_ms(const char *text, uint64_t max_ms, uint64_t *out);

/* A decimal integer in [min, max]. */
int parse_u64_range(const char *text, uint64_t min, uint64_t max, uint64_t *out);

/* A share of one CPU: "30%", "12.5%", "150%" (the '%' may be left out; up to four
 * decimals). Into parts per million of one CPU (30% = 300000), at most max_ppm. */
int parse_percent_ppm(const char *text, uint64_t max_ppm, uint64_t *out);

/* A duration into microseconds: "10ms", "2.5ms", "500us", "1s"; a bare number is
 * microseconds (as libvirt's <period>). At most max_us. */
int parse_duration_us(const char *text, uint64_t max_us, uint64_t *out);

/* Parts per million as a percentage without trailing zeros: "30%", "12.5%", "0.0001%".
 * Returns buf. */
const char *format_percent_ppm(uint64_t ppm, char *buf, size_t size);

#endif
