#include "daemon/fd_budget.h"

#include <errno.h>
#include <stdio.h>

#include "lib/err.h"

static unsigned max_domains_set; /* written once by main() before the threads start */

uint64_t fd_budget_need(unsigned max_domains)
{
    return FD_RESERVE + (uint64_t)FD_PER_DOMAIN * max_domains + FD_CONNECTIONS_MIN;
}

uint64_t fd_budget_fits(uint64_t limit)
{
    return limit > fd_budget_need(0) ? (limit - fd_budget_need(0)) / FD_PER_DOMAIN : 0;
}

unsigned fd_budget_default_max(uint64_t limit)
{
    uint64_t fits = fd_budget_fits(limit);
    return fits < XENOD_MAX_DOMAINS_DEFAULT ? (unsigned)fits : XENOD_MAX_DOMAINS_DEFAULT;
}

int fd_budget_check(uint64_t limit, unsigned max_domains)
{
    uint64_t need = fd_budget_need(max_domains);
    if (limit >= need)
        return 0;
    uint64_t fits = fd_budget_fits(limit);
    char instead[96] = "";
    if (fits)
        snprintf(instead, sizeof(instead), ", or start xenod with --max-domains %llu or fewer",
                 (unsigned long long)fits);
    return err_set(EMFILE,
                   "the file descriptor limit (RLIMIT_NOFILE) is %llu, and --max-domains %u needs %llu (%d per domain "
                   "+ %d for the store, listeners and backend + %d API connections): raise the limit (`ulimit -n "
                   "%llu` in the shell that starts xenod, LimitNOFILE=%llu in its systemd unit, or `prlimit "
                   "--nofile=%llu` before the command)%s",
                   (unsigned long long)limit, max_domains, (unsigned long long)need, FD_PER_DOMAIN, FD_RESERVE,
                   FD_CONNECTIONS_MIN, (unsigned long long)need, (unsigned long long)need, (unsigned long long)need,
                   instead);
}

void fd_budget_set_max_domains(unsigned max_domains)
{
    max_domains_set = max_domains;
}

unsigned fd_budget_max_domains(void)
{
    return max_domains_set;
}

unsigned fd_budget_connections(uint64_t limit)
{
    uint64_t held = FD_RESERVE + (uint64_t)FD_PER_DOMAIN * max_domains_set;
    uint64_t left = limit > held ? limit - held : 0;
    if (left > 1u << 20)
        left = 1u << 20;
    return left < 16 ? 16 : (unsigned)left;
}
