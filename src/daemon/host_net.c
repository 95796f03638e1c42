/* The registry's side of the host's network backend (netback_sup.h, net_port.h): starting
 * it, giving it the domains' ports, live QoS changes, and its events into the event log. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "daemon/net_port.h"
#include "daemon/registry_priv.h"
#include "lib/err.h"
#include "lib/log.h"

#define NET_REQUEST_TIMEOUT_MS 5000

void reg_on_backend_event(void *ctx, const char *kind, const char *detail)
{
    struct registry *r = ctx;
    pthread_mutex_lock(&r->lock);
    if (store_add_event(&r->store, "", "(host)", kind, detail) < 0)
        log_error("%s", err_msg());
    reg_events_added(r);
    pthread_mutex_unlock(&r->lock);
}

/* An audit event from the backend: recorded against the domain it names (by the port's
 * domain= label, which is the domain's name), or the host if that domain is gone. */
static void on_audit_event(void *ctx, const char *line)
{
    struct registry *r = ctx;
    char name[DOMAIN_NAME_MAX + 1] = "", kind[64] = "audit";
    const char *p = strstr(line, "domain=");
    if (p)
        sscanf(p + 7, "%63[^ ]", name);
    if ((p = strstr(line, " kind=")))
        snprintf(kind, sizeof(kind), "audit-%.*s", (int)strcspn(p + 6, " "), p + 6);
    pthread_mutex_lock(&r->lock);
    struct reg_domain *d = NULL;
    for (struct reg_domain *o = r->domains; o && name[0]; o = o->next)
        if (!o->gone && strcmp(o->cfg.name, name) == 0)
            d = o;
    if (d)
        reg_event(r, d, kind, "%s", line);
    else if (store_add_event(&r->store, "", "(host)", kind, line) < 0)
        log_error("%s", err_msg());
    else
        reg_events_added(r);
    pthread_mutex_unlock(&r->lock);
}

/* The backend, started if none runs yet. Never called with r->lock held (it may wait for
 * the backend to come up, and its events take r->lock). */
static int ensure_netback(struct registry *r)
{
    int rc = 0;
    pthread_mutex_lock(&r->net_lock);
    if (!r->netback) {
        struct netback_sup_opts o = {.path = r->net_path,
                                     .state_dir = r->net_dir,
                                     .uplink = r->net_uplink[0] ? r->net_uplink : NULL,
                                     .capacity_kib = r->net_capacity_kib,
                                     .audit = r->net_audit,
                                     .audit_rules = r->net_audit_rules[0] ? r->net_audit_rules : NULL,
                                     .audit_key = r->net_audit_key[0] ? r->net_audit_key : NULL,
                                     .ipfix = r->net_ipfix[0] ? r->net_ipfix : NULL,
                                     .audit_flow_quota = r->net_audit_flow_quota,
                                     .on_event = reg_on_backend_event,
                                     .on_audit = on_audit_event,
                                     .ctx = r};
        rc = netback_sup_open(&r->netback, &o);
    }
    pthread_mutex_unlock(&r->net_lock);
    return rc;
}

int reg_set_network(struct registry *r, const char *netback_path, const char *uplink, uint64_t capacity_kib)
{
    snprintf(r->net_path, sizeof(r->net_path), "%s", netback_path);
    snprintf(r->net_dir, sizeof(r->net_dir), "%s/netback", r->state_dir);
    snprintf(r->net_uplink, sizeof(r->net_uplink), "%s", uplink ? uplink : "");
    r->net_capacity_kib = capacity_kib;
    /* A backend an earlier xenod started serves running domains: supervise it again now.
     * With an uplink or the audit asked for, the network is this host's business from the
     * start (the tap exists, the flow log is open) even before a domain has an interface. */
    char pid_path[PATH_MAX + 32];
    snprintf(pid_path, sizeof(pid_path), "%s/pid", r->net_dir);
    return access(pid_path, F_OK) == 0 || r->net_uplink[0] || r->net_audit ? ensure_netback(r) : 0;
}

int reg_net_check_source(struct registry *r, const struct domain_config *c, const char *source)
{
    char dir[PATH_MAX + 64], sock[PATH_MAX + 80];
    if (!c->net.present)
        return 0;
    /* The run directory the domain will have: reg_run_dir() once it is registered. */
    snprintf(dir, sizeof(dir), "%s/run/%s", r->state_dir, c->uuid);
    int rc = net_port_socket(c, dir, sock, sizeof(sock));
    return rc < 0 ? err_wrap(EBADMSG, "%s", source) : 0;
}

int reg_net_attach(struct registry *r, const struct domain_config *c, const char *dir)
{
    char sock[PATH_MAX + 32], line[2048], name[NET_PORT_NAME_SIZE];
    int rc = ensure_netback(r);
    if (rc < 0)
        return rc;
    if ((rc = net_port_socket(c, dir, sock, sizeof(sock))) < 0)
        return rc;
    net_port_name(c, name);
    snprintf(line, sizeof(line), "port-del %s", name);
    netback_sup_request(r->netback, line, NULL, 0, NET_REQUEST_TIMEOUT_MS);
    if ((rc = net_port_add_line(c, sock, line, sizeof(line))) < 0)
        return rc;
    return netback_sup_request(r->netback, line, NULL, 0, NET_REQUEST_TIMEOUT_MS);
}

void reg_net_detach(struct registry *r, const char *port)
{
    char line[64];
    snprintf(line, sizeof(line), "port-del %s", port);
    if (r->netback && netback_sup_request(r->netback, line, NULL, 0, NET_REQUEST_TIMEOUT_MS) < 0)
        log_warn("%s", err_msg());
}

int reg_net_qos(struct registry *r, struct reg_domain *d, const struct domain_bandwidth *in,
                const struct domain_bandwidth *out)
{
    char name[NET_PORT_NAME_SIZE], words[512], line[768];
    if (!d->cfg.net.present)
        return err_set(ENODEV, "domain '%s' has no network interface", d->cfg.name);
    int rc = net_port_qos_words(in, out, words, sizeof(words));
    if (rc < 0)
        return rc;
    net_port_name(&d->cfg, name);
    pthread_mutex_lock(&r->lock);
    int running = d->mon != NULL;
    pthread_mutex_unlock(&r->lock);
    if (running) {
        /* Fields left out go back to no limit: the request says the whole setting. */
        snprintf(line, sizeof(line),
                 "port-qos %s in-average=0 in-peak=0 in-burst=0 out-average=0 out-peak=0 "
                 "out-burst=0 floor=0 %s",
                 name, words);
        if ((rc = ensure_netback(r)) < 0 ||
            (rc = netback_sup_request(r->netback, line, NULL, 0, NET_REQUEST_TIMEOUT_MS)) < 0)
            return err_wrap(rc == -EIO ? EINVAL : -rc, "domain '%s'", d->cfg.name);
    }
    pthread_mutex_lock(&r->lock);
    d->net_in = *in;
    d->net_out = *out;
    reg_event(r, d, "net-qos", "%s%s", words[0] ? words : "no limits", running ? "" : " (from the next start)");
    pthread_mutex_unlock(&r->lock);
    return 0;
}
