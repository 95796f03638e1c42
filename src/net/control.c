#include "net/control.h"

#include "lib/err.h"
#include "lib/line_server.h"
#include "lib/log.h"
#include "net/netback.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

static char *request(void *ctx, char *line)
{
    return nb_control_request(ctx, line);
}

int nb_control_open(struct nb_control *c, struct netback *nb)
{
    c->nb = nb;
    return line_server_open(&c->srv, "control.sock", request, nb);
}

void nb_control_close(struct nb_control *c)
{
    line_server_close(&c->srv);
}

unsigned nb_control_poll_fds(struct nb_control *c, struct pollfd *fds, unsigned max)
{
    return line_server_poll_fds(&c->srv, fds, max);
}

void nb_control_handle(struct nb_control *c, const struct pollfd *fds, unsigned n)
{
    line_server_handle(&c->srv, fds, n);
}

char *nb_control_request(struct netback *nb, char *line)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    if (!f)
        return NULL;
    char *words[72];
    int n = port_words(line, words, 72);
    if (n < 0) {
        fprintf(f, "err %s\n", err_msg());
    } else if (n == 0) {
        /* blank lines are ignored: no reply */
    } else if (!strcmp(words[0], "port-add")) {
        struct port_config pc;
        int rc = port_config_parse(&pc, words + 1, n - 1);
        if (rc == 0 && pc.id)
            rc = err_set(EINVAL, "port-add: id= is given by the backend");
        if (rc == 0)
            rc = netback_port_add(nb, &pc);
        if (rc < 0)
            fprintf(f, "err port-add: %s\n", err_msg());
        else
            fprintf(f, "ok id=%" PRIu64 "\n", pc.id);
    } else if (!strcmp(words[0], "port-del")) {
        if (n != 2)
            fprintf(f, "err port-del takes NAME\n");
        else if (netback_port_del(nb, words[1]) < 0)
            fprintf(f, "err port-del: %s\n", err_msg());
        else
            fprintf(f, "ok\n");
    } else if (!strcmp(words[0], "port-qos")) {
        if (n < 2)
            fprintf(f, "err port-qos takes NAME KEY=VALUE...\n");
        else if (netback_port_qos(nb, words[1], words + 2, n - 2) < 0)
            fprintf(f, "err port-qos: %s\n", err_msg());
        else
            fprintf(f, "ok\n");
    } else if (!strcmp(words[0], "ports") || !strcmp(words[0], "stats")) {
        unsigned count = 0;
        for (unsigned s = 0; s < NET_SWITCH_MAX_PORTS; s++)
            count += nb->by_sw[s] != NULL;
        if (n != 1) {
            fprintf(f, "err %s takes no arguments\n", words[0]);
        } else {
            fprintf(f, "ok ports=%u\n", count);
            if (words[0][0] == 'p') {
                char *pb = NULL;
                size_t pl = 0;
                FILE *pf = open_memstream(&pb, &pl);
                if (pf) {
                    netback_write_ports(nb, pf);
                    fclose(pf);
                    for (char *save = NULL, *l = strtok_r(pb, "\n", &save); l; l = strtok_r(NULL, "\n", &save))
                        fprintf(f, "port %s\n", l);
                    free(pb);
                }
            } else {
                netback_write_stats(nb, f);
            }
        }
    } else if (!strcmp(words[0], "status")) {
        unsigned count = 0, conn = 0, quarantined = 0;
        for (unsigned s = 0; s < NET_SWITCH_MAX_PORTS; s++)
            if (nb->by_sw[s]) {
                count++;
                conn += nb->by_sw[s]->sock >= 0;
                quarantined += nb->by_sw[s]->sock < 0 && nb->by_sw[s]->quarantined;
            }
        /* The backend's own CPU time (benchmarks: CPU per packet). */
        struct rusage ru;
        uint64_t cpu_us = 0;
        if (getrusage(RUSAGE_SELF, &ru) == 0)
            cpu_us = (uint64_t)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000000u +
                     (uint64_t)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec);
        fprintf(f, "ok pid=%d ports=%u connected=%u uplink=%s cpu_us=%" PRIu64 " quarantined=%u\n", (int)getpid(),
                count, conn, nb->tap_fd >= 0 ? "tap" : "none", cpu_us, quarantined);
    } else if (!strcmp(words[0], "audit-rules") || !strcmp(words[0], "audit-flush")) {
        /* audit-rules: the rules file again (a bad file leaves the old rules in force and the
         * reply names FILE:LINE:COLUMN); audit-flush: every flow ended and logged now. */
        bool rules = words[0][6] == 'r';
        if (n != 1)
            fprintf(f, "err %s takes no arguments\n", words[0]);
        else if ((rules ? netback_audit_reload(nb) : netback_audit_flush(nb)) < 0)
            fprintf(f, "err %s: %s\n", words[0], err_msg());
        else
            fprintf(f, "ok\n");
    } else {
        fprintf(f,
                "err unknown request '%s' (port-add, port-del, port-qos, ports, stats, status, audit-rules, "
                "audit-flush)\n",
                words[0]);
    }
    fclose(f);
    return buf;
}
