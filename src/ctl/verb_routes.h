/* Which API route each xenctl verb uses (docs/api.md "Parity"): the table that keeps the CLI
 * and docs/openapi.yaml in step. tests/integration/api_parity.sh reads it (`xenctl
 * --list-routes`) and checks every route against docs/openapi.yaml; tests/unit/test_ctl_verb_routes.c
 * checks that every verb of ctl_commands[] has a row and every row names a verb.
 * Adding a verb or changing the request one makes: change its rows here in the same commit. */
#ifndef XENO_CTL_VERB_ROUTES_H
#define XENO_CTL_VERB_ROUTES_H

#include <stdio.h>

struct ctl_verb_route {
    const char *verb;    /* a name in ctl_commands[] */
    const char *sub;     /* its sub-command ("create" of `token create`), or NULL */
    const char *method;  /* "GET", "POST", "PUT", "DELETE"; NULL: the verb is local */
    const char *pattern; /* the route's pattern as in xenod's table; with method NULL, why it needs none */
};

/* The table, ending with a NULL verb. A verb has one row per route it may request. */
extern const struct ctl_verb_route ctl_verb_routes[];

/* "VERB[ SUB]\tMETHOD PATTERN" or "VERB[ SUB]\tlocal\tREASON", one row a line; -errno on a
 * write error. */
int ctl_verb_routes_print(FILE *f);

#endif
