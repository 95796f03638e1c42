/* GET /v1/domains's query (docs/api.md, "Listing many domains"): filters by sponsor and
 * state, a selection of fields, and pages of at most `limit` domains after a cursor. Pure:
 * parses and checks the query's text, no I/O, errors via err_set(). */
#ifndef XENO_DAEMON_LIST_QUERY_H
#define XENO_DAEMON_LIST_QUERY_H

#include <stdint.h>

#include "lib/domain_config.h"

#define LIST_LIMIT_MAX 10000

/* The domain object's top-level members (docs/api.md "Domain object"): what ?fields= names. */
extern const char *const list_field_names[];
extern const unsigned list_field_count;

struct list_query {
    char sponsor[DOMAIN_SPONSOR_MAX + 1]; /* "": any sponsor */
    int have_sponsor;
    char state[16];                  /* "": any state; else one of running, blocked, paused, shutdown, crashed */
    uint64_t fields;                 /* bit i: list_field_names[i]; 0: every member */
    unsigned limit;                  /* 0: no limit */
    char after[DOMAIN_NAME_MAX + 1]; /* the cursor: names after this one ("": from the first) */
    int paged;                       /* limit or after given: the answer is in name order */
};

/* The query's parameters as the request gave them (NULL: absent) into *q. -EINVAL with a
 * message naming the parameter (and the bad value or field) when one is not acceptable. */
int list_query_parse(const char *sponsor, const char *state, const char *fields, const char *limit, const char *after,
                     struct list_query *q);

/* Whether a query parameter name is one GET /v1/domains takes. */
int list_query_known_param(const char *name);

/* Does a domain of this sponsor and (live) state pass the filters? Cursor and limit aside. */
int list_query_matches(const struct list_query *q, const char *sponsor, const char *state);

/* Is member `name` of the domain object selected? */
int list_query_selects(const struct list_query *q, const char *name);

#endif
