/* Text views of CPU scheduling (docs/xenctl.md): the `sched` table and details, and the
 * `top` table. Pure: JSON from the API in, text out (tests/unit/test_ctl_sched.c). */
#ifndef XENO_CTL_SCHED_VIEW_H
#define XENO_CTL_SCHED_VIEW_H

#include <jansson.h>
#include <stdio.h>

/* `xenctl sched`: Name ID State Reservation Limit Weight Period Time(s), from the domains
 * array of GET /v1/domains. 0 or -ENOMEM. */
int ctl_render_sched_list(const json_t *domains, FILE *f);
/* `xenctl sched REF`: "Key: value" lines from GET /v1/domains/REF/sched. */
void ctl_render_sched_info(const json_t *o, FILE *f);
/* One `xenctl top` frame: Name ID State CPU% Thr% Res Limit Time(s) Cost/h, rates over the
 * interval since `prev` (an earlier GET /v1/domains answer, or NULL: no rates yet); then,
 * when any domain has a cost, a table Sponsor Domains Cost/h of the sums per sponsor.
 * prices: GET /v1/prices (top_cost.h), or NULL: no cost column. */
int ctl_render_top(const json_t *prev, const json_t *cur, const json_t *prices, double interval_s, FILE *f);

#endif
