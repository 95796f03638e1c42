/* blk-iosched-bench: the disk I/O scheduler's cost per request (src/blk/iosched.c) at native
 * speed, with 1, 10, 100 and 1000 disks all backlogged: no device, no guest; see
 * bench/README.md ("bench/blk: the I/O scheduler's decisions").
 *
 *   blk-iosched-bench [-r REPEATS] [-t MS] [-n DISKS]   (-n: only the cases with that many disks)
 *
 * One request is blk_iosched_enqueue + blk_iosched_dispatch + blk_iosched_complete (the
 * three calls xeno-blkback makes per request), on a device of depth 32 serving 1M cost
 * units per second of virtual time (the clock moves by each request's service time, and
 * jumps to the retry time when every disk is held by a limit). Two mixes: "weights" (weights
 * 1..8 only) and "mixed" (every fourth disk with a reservation of half an equal share,
 * every fourth with IOPS and bytes limits with a _max burst, disks in libvirt groups of 4
 * and sponsor groups of 16 whose limits bind: some decisions find a disk over a limit and
 * move it aside, some find every disk held and jump the clock). Each case runs for about MS ms of this thread's CPU
 * time (default 300), REPEATS times (default 5); it prints the median CPU ns per request, requests per CPU-second, and
 * the spread. CPU time, not wall time: the host is shared. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "blk/iosched.h"
#include "lib/err.h"

#define SEC 1000000000ull
#define DEPTH 32
#define QDEPTH 64
#define CAPACITY 1000000u /* cost units per second: a unit takes 1000 ns */

static volatile uint64_t sink;

static uint64_t cpu_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (uint64_t)ts.tv_sec * SEC + (uint64_t)ts.tv_nsec;
}

static void die(const char *what)
{
    fprintf(stderr, "blk-iosched-bench: %s: %s\n", what, err_msg());
    exit(1);
}

static struct blk_iosched *setup(uint32_t n, bool mixed)
{
    struct blk_iosched *s;
    uint32_t libvirt_groups = (n + 3) / 4, sponsors = (n + 15) / 16, sponsor_base = libvirt_groups + 1;
    struct blk_iosched_config c = {
        .queues = n, .groups = libvirt_groups + sponsors, .queue_depth = QDEPTH, .device_depth = DEPTH};
    if (blk_iosched_create(&c, 0, &s))
        die("create");
    uint64_t share = CAPACITY / n; /* units per second for one disk if all were equal */
    for (uint32_t g = 1; mixed && g <= c.groups; g++) {
        /* a disk asks for about 0.63 x share IOPS (requests of 1.6 units on average): 4 disks
         * in a group ask for 2.5 x share, 16 of a sponsor 10 x share: both limits bind */
        struct blk_iotune t = {.total_iops.avg = g < sponsor_base ? 2 * share : 8 * share};
        if (blk_iosched_group_set(s, g, &t, 0))
            die("group");
    }
    for (uint32_t i = 0; i < n; i++) {
        struct blk_iosched_params p = {.weight = 1 + i % 8};
        if (mixed) {
            if (i % 4 == 1)
                p.reservation = share / 2;
            if (i % 4 == 2)
                p.limits =
                    (struct blk_iotune){.total_iops = {.avg = share * 3 / 10, .max = share * 6 / 10, .max_length_s = 1},
                                        .total_bytes.avg = share * 4096};
            p.group[0] = 1 + i / 4;
            p.group[1] = sponsor_base + i / 16;
        }
        if (blk_iosched_queue_set(s, i, &p, 0))
            die("queue");
        for (uint32_t k = 0; k < QDEPTH / 2; k++) {
            struct blk_io io = {.cookie = i, .bytes = (k & 3) == 3 ? 65536 : 4096, .dir = k & 1};
            if (blk_iosched_enqueue(s, i, &io, 0))
                die("enqueue");
        }
    }
    return s;
}

/* Runs requests for about ms of CPU; returns CPU ns per request. */
static double run_case(uint32_t n, bool mixed, uint64_t ms)
{
    struct blk_iosched *s = setup(n, mixed);
    uint32_t inflight[DEPTH], head = 0, count = 0;
    uint64_t now = 0, done = 0, t0 = cpu_ns(), spent = 0;
    while (spent < ms * 1000000ull) {
        for (int k = 0; k < 1024; k++) {
            struct blk_iosched_pick p;
            int e = blk_iosched_dispatch(s, now, &p);
            if (e == -EAGAIN) {
                now = p.retry_at_ns;
                continue;
            }
            if (e == -EBUSY) { /* the device finishes its oldest request */
                uint32_t q = inflight[head];
                head = (head + 1) % DEPTH;
                count--;
                blk_iosched_complete(s, q);
                continue;
            }
            inflight[(head + count++) % DEPTH] = p.queue;
            now += (blk_iosched_cost(s, p.io.bytes) * (SEC / CAPACITY)) / BLK_IOSCHED_COST_ONE; /* a shift */
            if (blk_iosched_enqueue(s, p.queue, &p.io, now)) /* the guest sends the next one */
                die("enqueue");
            sink += p.io.cookie;
            done++;
        }
        spent = cpu_ns() - t0;
    }
    blk_iosched_destroy(s);
    return (double)spent / (double)done;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
    int repeats = 5, opt;
    uint64_t ms = 300, only = 0;
    while ((opt = getopt(argc, argv, "r:t:n:")) != -1) {
        if (opt == 'r')
            repeats = atoi(optarg);
        else if (opt == 't')
            ms = strtoull(optarg, NULL, 10);
        else if (opt == 'n')
            only = strtoull(optarg, NULL, 10);
        else {
            fprintf(stderr, "usage: blk-iosched-bench [-r REPEATS] [-t MS] [-n DISKS]\n");
            return 2;
        }
    }
    if (repeats < 1 || repeats > 100 || ms < 1 || ms > 60000) {
        fprintf(stderr, "blk-iosched-bench: -r 1..100, -t 1..60000\n");
        return 2;
    }
    printf("blk-iosched-bench: median CPU time per request (enqueue + dispatch + complete) over %d runs of %llu ms "
           "(min..max)\n\n",
           repeats, (unsigned long long)ms);
    const uint32_t sizes[] = {1, 10, 100, 1000};
    for (int mixed = 0; mixed < 2; mixed++)
        for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
            if (only && sizes[i] != only)
                continue;
            double r[100];
            for (int k = 0; k < repeats; k++)
                r[k] = run_case(sizes[i], mixed, ms);
            qsort(r, (size_t)repeats, sizeof(r[0]), cmp_double);
            char name[64];
            snprintf(name, sizeof(name), "%s, %u disk%s", mixed ? "mixed" : "weights", sizes[i],
                     sizes[i] == 1 ? "" : "s");
            printf("%-24s %8.1f ns   %7.2f M/s   (%.1f..%.1f ns)\n", name, r[repeats / 2], 1e3 / r[repeats / 2], r[0],
                   r[repeats - 1]);
        }
    return 0;
}
