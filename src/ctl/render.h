/* Human-readable text for the API's JSON objects (docs/api.md): the `list` and `events`
 * tables, `info`'s "Key: value" lines, `dmesg` lines. Pure: JSON in, text to a FILE out, so
 * the unit tests pin the exact layout. A field that is missing, null or empty prints as "-";
 * text from the daemon is sanitized (see ctl_sanitize) because it comes from domain XML that
 * sponsors write. */
#ifndef XENO_CTL_RENDER_H
#define XENO_CTL_RENDER_H

#include <jansson.h>
#include <stdint.h>
#include <stdio.h>

#define CTL_CELL_MAX 256

/* A scalar as text: string as is, integer in decimal, real with %g, true/false as yes/no,
 * null/missing/"" as "-", objects and arrays as compact JSON. */
void ctl_fmt_value(const json_t *v, char *buf, size_t size);
/* GET /v1/host as "Key: value" lines; the CPU contract says whether guests here see exactly
 * the CPUID policy, and if not which features they see beyond it and lack. */
void ctl_render_host(const json_t *host, FILE *f);
/* An exact size in the largest binary unit that divides it: "64 MiB", "1 GiB", "12 KiB", "7 B". */
void ctl_fmt_bytes(uint64_t bytes, char *buf, size_t size);
/* Seconds since the epoch as local "YYYY-MM-DD HH:MM:SS" (with " +hhmm" if with_zone). */
void ctl_fmt_epoch(double t, int with_zone, char *buf, size_t size);
/* Micro-units as a decimal: 1234567 -> "1.234567", -5 -> "-0.000005" (money, quantities). */
const char *ctl_fmt_micros(json_int_t v, char *buf, size_t size);
/* o[k] as an integer (0 when absent or not one) and as a string ("" when absent or not one). */
json_int_t ctl_json_int(const json_t *o, const char *k);
const char *ctl_json_str(const json_t *o, const char *k);

/* `xenctl list`: columns Name ID Sponsor Mem VCPUs State Time(s). `domains` is the array of
 * GET /v1/domains. Returns 0 or -ENOMEM. */
int ctl_render_list(const json_t *domains, FILE *f);
/* One domain's cells, in the order of the list columns. */
#define CTL_LIST_COLS 7
void ctl_render_list_row(const json_t *dom, char cells[CTL_LIST_COLS][CTL_CELL_MAX]);

/* `xenctl info`: one "Key: value" line per field, values aligned; fields this version does
 * not know are printed after the known ones under their API names. */
void ctl_render_info(const json_t *dom, FILE *f);

/* `xenctl events`: columns ID Time Domain Kind Detail, oldest first. Returns 0 or -ENOMEM. */
#define CTL_EVENT_COLS 5
/* One event's cells (not yet sanitized: ctl_table_add and ctl_sanitize do that). */
void ctl_render_event_row(const json_t *ev, char cells[CTL_EVENT_COLS][CTL_CELL_MAX]);
int ctl_render_events(const json_t *events, FILE *f);

/* `xenctl dmesg`: each log line as is (sanitized). */
void ctl_render_lines(const json_t *lines, FILE *f);

#endif
