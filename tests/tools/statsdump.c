/* statsdump: prints a monitor's stats page (src/lib/stats_page.h) as key=value lines, read
 * through the sequence lock like xenod reads it (pread, stats_page_read_fd). For the integration tests.
 *
 * usage: statsdump FILE     status 0; 1 when the file is missing or not a stats page */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "lib/domain_config.h" /* memory_enforcement_name */
#include "lib/stats_page.h"

int main(int argc, char **argv)
{
    struct stats_page s;
    if (argc != 2) {
        fprintf(stderr, "usage: statsdump FILE\n");
        return 1;
    }
    int fd = open(argv[1], O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        fprintf(stderr, "statsdump: %s: %s\n", argv[1], strerror(errno));
        return 1;
    }
    /* Read like xenod reads it (pread). The open is a sleeping monitor's request for a fresh
     * page (inotify IN_OPEN), and stats_page_read_fd asks again and waits for one. */
    int r = stats_page_read_fd(fd, &s);
    close(fd);
    if (r < 0) {
        fprintf(stderr, "statsdump: %s: %s\n", argv[1], strerror(-r));
        return 1;
    }
    printf("version=%u\nseq=%u\nstate=%s\nnvcpus=%u\npid=%u\n", s.version, s.seq,
           dom_state_name((enum dom_state)s.state), s.nvcpus, s.pid);
    printf("started_ns=%llu\nupdated_ns=%llu\ncpu_ns=%llu\n", (unsigned long long)s.started_ns,
           (unsigned long long)s.updated_ns, (unsigned long long)s.cpu_ns);
    for (unsigned i = 0; i < s.nvcpus && i < STATS_PAGE_MAX_VCPUS; i++)
        printf("vcpu%u_ns=%llu\n", i, (unsigned long long)s.vcpu_ns[i]);
    printf("exits_io=%llu\nexits_mmio=%llu\nconsole_out_bytes=%llu\nconsole_in_bytes=%llu\n",
           (unsigned long long)s.exits_io, (unsigned long long)s.exits_mmio, (unsigned long long)s.console_out_bytes,
           (unsigned long long)s.console_in_bytes);
    printf("memory_bytes=%llu\nboots=%llu\n", (unsigned long long)s.memory_bytes, (unsigned long long)s.boots);
    printf("virtio_errors=%llu\n", (unsigned long long)s.virtio_errors);
    /* Memory and the balloon; guest-reported values print "unknown" until the guest sent them. */
    static const char *const mt_states[] = {"none", "pending", "met", "missed"};
    printf("memory_target_bytes=%llu\nmemory_target_deadline_ms=%llu\nmemory_target_state=%s\n",
           (unsigned long long)s.memory_target_bytes, (unsigned long long)s.memory_target_deadline_ms,
           s.memory_target_state < 4 ? mt_states[s.memory_target_state] : "?");
    printf("memory_enforcement=%s\n", memory_enforcement_name((enum memory_enforcement)s.memory_enforcement));
    printf("balloon_target_bytes=%llu\nballoon_bytes=%llu\nguest_resident_bytes=%llu\nmonitor_rss_bytes=%llu\n",
           (unsigned long long)s.balloon_target_bytes, (unsigned long long)s.balloon_bytes,
           (unsigned long long)s.guest_resident_bytes, (unsigned long long)s.monitor_rss_bytes);
    const struct {
        const char *name;
        uint64_t v;
    } guest[] = {{"guest_free_bytes", s.guest_free_bytes},       {"guest_available_bytes", s.guest_available_bytes},
                 {"guest_total_bytes", s.guest_total_bytes},     {"guest_caches_bytes", s.guest_caches_bytes},
                 {"guest_swap_in_bytes", s.guest_swap_in_bytes}, {"guest_swap_out_bytes", s.guest_swap_out_bytes},
                 {"guest_major_faults", s.guest_major_faults},   {"guest_minor_faults", s.guest_minor_faults}};
    for (size_t i = 0; i < sizeof(guest) / sizeof(guest[0]); i++) {
        if (guest[i].v == STATS_PAGE_UNKNOWN)
            printf("%s=unknown\n", guest[i].name);
        else
            printf("%s=%llu\n", guest[i].name, (unsigned long long)guest[i].v);
    }
    printf("guest_stats_ns=%llu\nballoon_released_bytes=%llu\nballoon_reported_bytes=%llu\nexits_other=%llu\n",
           (unsigned long long)s.guest_stats_ns, (unsigned long long)s.balloon_released_bytes,
           (unsigned long long)s.balloon_reported_bytes, (unsigned long long)s.exits_other);
    printf("memory_target_reached=%llu\nmemory_target_missed=%llu\nmemory_enforcements=%llu\n",
           (unsigned long long)s.memory_target_reached, (unsigned long long)s.memory_target_missed,
           (unsigned long long)s.memory_enforcements);
    /* CPU scheduling (docs/scheduling.md). */
    printf("sched_reservation_ppm=%u\nsched_limit_ppm=%u\nsched_weight=%u\nsched_period_us=%u\nsched_band=%u\n",
           s.sched_reservation_ppm, s.sched_limit_ppm, s.sched_weight, s.sched_period_us, s.sched_band);
    printf("sched_reserved_ns=%llu\nsched_throttled_ns=%llu\nsched_throttles=%llu\nsched_overrun_ns=%llu\n"
           "sched_periods=%llu\nsched_overhead_ns=%llu\nsched_changes=%llu\n",
           (unsigned long long)s.sched_reserved_ns, (unsigned long long)s.sched_throttled_ns,
           (unsigned long long)s.sched_throttles, (unsigned long long)s.sched_overrun_ns,
           (unsigned long long)s.sched_periods, (unsigned long long)s.sched_overhead_ns,
           (unsigned long long)s.sched_changes);
    /* The network interface (virtio-net over vhost-user). */
    printf("net_present=%u\nnet_backend_connected=%u\nnet_backend_connects=%llu\nnet_backend_handovers=%llu\n"
           "net_backend_errors=%llu\nnet_driver_resets=%llu\n",
           s.net_present, s.net_backend_connected, (unsigned long long)s.net_backend_connects,
           (unsigned long long)s.net_backend_handovers, (unsigned long long)s.net_backend_errors,
           (unsigned long long)s.net_driver_resets);
    printf("refresh_on_read=%u\nrefreshes_on_read=%llu\nasleep_process_cpu_ns=%llu\n", s.refresh_on_read,
           (unsigned long long)s.refreshes_on_read, (unsigned long long)s.asleep_process_cpu_ns);
    /* Who bills the domain when (docs/metering.md, "Migration: the hand-over instant"). */
    printf("migrate_incoming_pending=%u\nheld_from_ns=%llu\nheld_until_ns=%llu\n", s.migrate_incoming_pending,
           (unsigned long long)s.held_from_ns, (unsigned long long)s.held_until_ns);
    return 0;
}
