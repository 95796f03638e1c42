#include "net/control.h"

#include "lib/err.h"
#include "lib/log.h"
#include "net/netback.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

int nb_control_open(struct nb_control *c, struct netback *nb)
{
    memset(c, 0, sizeof(*c));
    c->nb = nb;
    c->client_fd = -1;
    c->listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (c->listen_fd < 0)
        return err_set(errno, "control socket: %s", strerror(errno));
    struct sockaddr_un a = {.sun_family = AF_UNIX, .sun_path = "control.sock"};
    unlink("control.sock");
    if (bind(c->listen_fd, (struct sockaddr *)&a, sizeof(a)) < 0 || listen(c->listen_fd, 8) < 0) {
        int e = errno;
        close(c->listen_fd);
        c->listen_fd = -1;
        return err_set(e, "control socket control.sock: %s", strerror(e));
    }
    return 0;
}

void nb_control_close(struct nb_control *c)
{
    if (c->client_fd >= 0)
        close(c->client_fd);
    if (c->listen_fd >= 0)
        close(c->listen_fd);
    free(c->out);
    c->out = NULL;
    c->client_fd = c->listen_fd = -1;
}

unsigned nb_control_poll_fds(struct nb_control *c, struct pollfd *fds, unsigned max)
{
    unsigned n = 0;
    if (max >= 2) {
        fds[n++] = (struct pollfd){.fd = c->listen_fd, .events = POLLIN};
        fds[n++] = (struct pollfd){.fd = c->client_fd, .events = (short)(POLLIN | (c->out_len ? POLLOUT : 0))};
    }
    return n;
}

static void drop_client(struct nb_control *c)
{
    if (c->client_fd >= 0)
        close(c->client_fd);
    c->client_fd = -1;
    c->in_len = 0;
    c->out_len = 0;
}

static int out_append(struct nb_control *c, const char *s, size_t len)
{
    if (c->out_len + len > CONTROL_OUT_MAX)
        return -1;
    char *n = realloc(c->out, c->out_len + len);
    if (!n)
        return -1;
    c->out = n;
    memcpy(c->out + c->out_len, s, len);
    c->out_len += len;
    return 0;
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

static void run_lines(struct nb_control *c)
{
    for (;;) {
        char *nl = memchr(c->in, '\n', c->in_len);
        if (!nl) {
            if (c->in_len == sizeof(c->in)) {
                const char *e = "err request line too long (at most 4096 bytes)\n";
                out_append(c, e, strlen(e));
                if (write(c->client_fd, c->out, c->out_len) < 0) {
                }
                drop_client(c);
            }
            return;
        }
        *nl = 0;
        /* A NUL would end the line early for the parser, dropping what follows unseen. */
        char *reply = memchr(c->in, 0, (size_t)(nl - c->in))
                          ? strdup("err control character (0x00) in the line; the line is refused whole\n")
                          : nb_control_request(c->nb, c->in);
        if (reply && out_append(c, reply, strlen(reply)) < 0) {
            free(reply);
            drop_client(c);
            return;
        }
        free(reply);
        size_t used = (size_t)(nl + 1 - c->in);
        memmove(c->in, nl + 1, c->in_len - used);
        c->in_len -= used;
    }
}

void nb_control_handle(struct nb_control *c, const struct pollfd *fds, unsigned n)
{
    if (n < 2)
        return;
    if (fds[1].revents && c->client_fd >= 0 && fds[1].fd == c->client_fd) {
        if (fds[1].revents & POLLOUT && c->out_len) {
            ssize_t w = write(c->client_fd, c->out, c->out_len);
            if (w > 0) {
                memmove(c->out, c->out + w, c->out_len - (size_t)w);
                c->out_len -= (size_t)w;
            }
        }
        if (fds[1].revents & (POLLIN | POLLHUP | POLLERR)) {
            ssize_t r = read(c->client_fd, c->in + c->in_len, sizeof(c->in) - c->in_len);
            if (r <= 0) {
                if (r == 0 || (errno != EAGAIN && errno != EINTR)) {
                    /* Flush what is owed (best effort), then close. */
                    if (c->out_len && write(c->client_fd, c->out, c->out_len) < 0) {
                    }
                    drop_client(c);
                }
            } else {
                c->in_len += (size_t)r;
                run_lines(c);
                if (c->client_fd >= 0 && c->out_len) {
                    ssize_t w = write(c->client_fd, c->out, c->out_len);
                    if (w > 0) {
                        memmove(c->out, c->out + w, c->out_len - (size_t)w);
                        c->out_len -= (size_t)w;
                    }
                }
            }
        }
    }
    if (fds[0].revents & POLLIN) {
        int fd = accept4(c->listen_fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
        if (fd >= 0) {
            drop_client(c);
            c->client_fd = fd;
        }
    }
}
