/* xenctl: the command-line client of xenod (docs/xenctl.md). Parses the global options and
 * the command, then hands over to the command's function; everything it prints about a
 * failure is one line, and the exit status says which kind of failure it was. */
#include <curl/curl.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl/args.h"
#include "ctl/commands.h"
#include "ctl/ctl.h"
#include "ctl/remote.h"
#include "ctl/verb_routes.h"
#include "lib/err.h"
#include "lib/log.h"

int main(int argc, char **argv)
{
    struct ctl_args a = {0};
    struct ctl c = {0};

    log_init("xenctl", LOG_INFO);
    /* A closed pipe (`xenctl console ... | head`) shows up as EPIPE, handled where we write. */
    signal(SIGPIPE, SIG_IGN);

    int at = ctl_args_parse(NULL, argc - 1, argv + 1, 1, &a);
    if (at < 0)
        return ctl_usage_error("%s (run `xenctl help` for the options)", err_msg());
    if (a.version) {
        printf("xenctl %s\n", XENO_VERSION);
        return CTL_EXIT_OK;
    }
    if (a.list_routes)
        return ctl_verb_routes_print(stdout) < 0 ? CTL_EXIT_FAILED : CTL_EXIT_OK;
    if (at == argc - 1) {
        if (a.help) {
            ctl_print_usage(stdout);
            return CTL_EXIT_OK;
        }
        return ctl_usage_error("no command given (run `xenctl help` for the list)");
    }
    const char *name = argv[1 + at];
    const struct ctl_command *cmd = ctl_command_find(name);
    if (!cmd)
        return ctl_usage_error("unknown command '%s' (run `xenctl help` for the list)", name);

    int help_before = a.help;
    a.help = 0;
    if (ctl_args_parse(cmd->opts, argc - 2 - at, argv + 2 + at, 0, &a) < 0) {
        char usage[CTL_USAGE_MAX];
        return ctl_usage_error("%s: %s (usage: %s)", cmd->name, err_msg(),
                               ctl_command_usage(cmd, usage, sizeof(usage)));
    }
    if (a.help || help_before) {
        ctl_print_command_help(cmd, stdout);
        return CTL_EXIT_OK;
    }
    int rc = ctl_check_positional(cmd, &a);
    if (rc != CTL_EXIT_OK)
        return rc;

    c.json = a.json;
    /* With --fleet, create/list/hosts talk to etcd and to the host placement chose
     * (cmd_fleet.c); every other command needs a host named by --socket or --server. */
    int fleet_cmd =
        !strcmp(name, "create") || !strcmp(name, "list") || !strcmp(name, "hosts") || !strcmp(name, "drain");
    if (a.fleet && !fleet_cmd)
        return ctl_usage_error(
            "--fleet goes with create, list, hosts and drain; %s talks to one host (--socket or --server)", name);
    if (!a.fleet && (a.etcd_ca || a.etcd_cert || a.etcd_key))
        return ctl_usage_error("--etcd-ca, --etcd-cert and --etcd-key go with --fleet");
    if (a.fleet && (a.server || a.socket))
        return ctl_usage_error("--fleet chooses the host: give no --socket or --server with it");
    if (!a.fleet && ctl_target_setup(&a, &c.t) < 0)
        return ctl_usage_error("%s", err_msg());

    if (curl_global_init(CURL_GLOBAL_DEFAULT) != 0) {
        ctl_target_free(&c.t);
        log_error("cannot initialise libcurl");
        return CTL_EXIT_FAILED;
    }
    rc = cmd->run(&c, &a);
    curl_global_cleanup();
    ctl_target_free(&c.t);
    /* Output that could not be written (a full disk) must not look like success. A reader
     * that went away (EPIPE) is not an error worth a message. */
    if ((fflush(stdout) != 0 || ferror(stdout)) && errno != EPIPE && rc == CTL_EXIT_OK) {
        log_error("writing the output: %s", strerror(errno));
        rc = CTL_EXIT_FAILED;
    }
    return rc;
}
