/* xenctl's commands: the table main() dispatches on (name, synopsis, options, help text) and
 * the functions that run them. Each run function returns an exit code (ctl.h) and prints
 * at most one error line. */
#ifndef XENO_CTL_COMMANDS_H
#define XENO_CTL_COMMANDS_H

#include <stdio.h>

#include "ctl/args.h"
#include "ctl/ctl.h"

struct ctl_command {
    const char *name;
    const char *synopsis; /* what follows the name in a usage line */
    const char *summary;  /* one line for `xenctl help` */
    const char *details;  /* the options and behaviour, for `xenctl COMMAND --help` */
    const struct ctl_opt *opts;
    int min_pos, max_pos;
    int (*run)(const struct ctl *c, const struct ctl_args *a);
};

/* The table, ending with a NULL name. */
extern const struct ctl_command ctl_commands[];
const struct ctl_command *ctl_command_find(const char *name);

void ctl_print_usage(FILE *f);
void ctl_print_command_help(const struct ctl_command *cmd, FILE *f);
/* The size of a buffer for ctl_command_usage(): every command's line fits (test_ctl_usage). */
#define CTL_USAGE_MAX 256
/* "xenctl NAME SYNOPSIS" into buf (CTL_USAGE_MAX bytes); returns buf. */
const char *ctl_command_usage(const struct ctl_command *cmd, char *buf, size_t size);
/* Checks the number of positional arguments; prints a usage error if wrong. */
int ctl_check_positional(const struct ctl_command *cmd, const struct ctl_args *a);

/* cmd_lifecycle.c */
int ctl_cmd_create(const struct ctl *c, const struct ctl_args *a);
int ctl_cmd_define(const struct ctl *c, const struct ctl_args *a);
int ctl_cmd_start(const struct ctl *c, const struct ctl_args *a);
int ctl_cmd_undefine(const struct ctl *c, const struct ctl_args *a);
int ctl_cmd_pause(const struct ctl *c, const struct ctl_args *a);
int ctl_cmd_unpause(const struct ctl *c, const struct ctl_args *a);
int ctl_cmd_shutdown(const struct ctl *c, const struct ctl_args *a);
int ctl_cmd_reboot(const struct ctl *c, const struct ctl_args *a);
int ctl_cmd_reset(const struct ctl *c, const struct ctl_args *a);
int ctl_cmd_destroy(const struct ctl *c, const struct ctl_args *a);
int ctl_cmd_mem_set(const struct ctl *c, const struct ctl_args *a);
int ctl_cmd_save(const struct ctl *c, const struct ctl_args *a);
int ctl_cmd_restore(const struct ctl *c, const struct ctl_args *a);
int ctl_cmd_net_qos(const struct ctl *c, const struct ctl_args *a);
int ctl_cmd_disk_qos(const struct ctl *c, const struct ctl_args *a);
int ctl_cmd_migrate(const struct ctl *c, const struct ctl_args *a);
/* cmd_fleet.c: with --fleet (create and list hand over to these) */
int ctl_cmd_fleet_create(const struct ctl *c, const struct ctl_args *a);
int ctl_cmd_fleet_list(const struct ctl *c, const struct ctl_args *a);
int ctl_cmd_hosts(const struct ctl *c, const struct ctl_args *a);
/* Shared by the fleet commands: etcd of --fleet; an etcd error's exit code (3: no endpoint
 * answered, 1: etcd refused) after printing it; a host's API from its advertise URL (*token
 * malloc'd or NULL: wipe and free it after). */
struct etcd_client;
int ctl_fleet_open(const struct ctl_args *a, struct etcd_client **e);
int ctl_fleet_etcd_failed(int rc);
int ctl_fleet_host_target(const struct ctl_args *a, const char *advertise, struct ctl_api_target *t, char **token);
/* cmd_fleet_drain.c */
int ctl_cmd_drain(const struct ctl *c, const struct ctl_args *a);
/* cmd_query.c */
int ctl_cmd_list(const struct ctl *c, const struct ctl_args *a);
int ctl_cmd_info(const struct ctl *c, const struct ctl_args *a);
int ctl_cmd_host(const struct ctl *c, const struct ctl_args *a);
int ctl_cmd_dumpxml(const struct ctl *c, const struct ctl_args *a); /* cmd_xml.c */
int ctl_cmd_edit(const struct ctl *c, const struct ctl_args *a);
int ctl_cmd_events(const struct ctl *c, const struct ctl_args *a);
int ctl_cmd_dmesg(const struct ctl *c, const struct ctl_args *a);
/* cmd_sched.c */
int ctl_cmd_sched(const struct ctl *c, const struct ctl_args *a);
int ctl_cmd_top(const struct ctl *c, const struct ctl_args *a);
/* cmd_console.c */
int ctl_cmd_console(const struct ctl *c, const struct ctl_args *a);
/* cmd_audit.c: reads a flow log directly, no daemon */
int ctl_cmd_audit(const struct ctl *c, const struct ctl_args *a);
/* cmd_disk.c: disk images in the image directory, no daemon */
int ctl_cmd_disk(const struct ctl *c, const struct ctl_args *a);
/* cmd_bill.c */
int ctl_cmd_bill(const struct ctl *c, const struct ctl_args *a);
/* cmd_host_bill.c: bill --host (the operator's host bill). */
int ctl_cmd_host_bill(const struct ctl *c, const struct ctl_args *a);
int ctl_cmd_sponsor_policy(const struct ctl *c, const struct ctl_args *a);
/* cmd_token.c */
int ctl_cmd_token(const struct ctl *c, const struct ctl_args *a);
/* commands.c */
int ctl_cmd_help(const struct ctl *c, const struct ctl_args *a);

/* Attaches to the console of the domain object `dom` (from the API), honouring --linger in
 * `a`. Shared by `console` and `create`/`start --console`. Returns an exit code. */
int ctl_attach_to(const struct ctl *c, const json_t *dom, const char *ref, const struct ctl_args *a);
/* Checks --linger in `a`, so a typo is a usage error before anything is created or started. */
int ctl_check_linger(const struct ctl_args *a);

#endif
