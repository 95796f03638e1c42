/* statsdump: prints a monitor's stats page (src/lib/stats_page.h) as key=value lines, read
 * through the sequence lock like xenod reads it. For the integration tests.
 *
 * usage: statsdump FILE     status 0; 1 when the file is missing or not a stats page */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

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
    const struct stats_page *p = mmap(NULL, STATS_PAGE_SIZE, PROT_READ, MAP_SHARED, fd, 0);
    close(fd);
    if (p == MAP_FAILED) {
        fprintf(stderr, "statsdump: %s: %s\n", argv[1], strerror(errno));
        return 1;
    }
    int r = stats_page_read(p, &s);
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
           (unsigned long long)s.exits_io, (unsigned long long)s.exits_mmio,
           (unsigned long long)s.console_out_bytes, (unsigned long long)s.console_in_bytes);
    printf("memory_bytes=%llu\nboots=%llu\n", (unsigned long long)s.memory_bytes, (unsigned long long)s.boots);
    return 0;
}
