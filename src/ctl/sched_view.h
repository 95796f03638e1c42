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
/* One `xenctl top` frame: Name ID State CPU% Thr% Res Limit Time(s), rates over the
 * interval since `prev` (an earlier GET /v1/domains answer, or NULL: no rates yet). */
int ctl_render_top(const json_t *prev, const json_t *cur, double interval_s, FILE *f);

#endif
