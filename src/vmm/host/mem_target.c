/* The memory-target rule (mem_target.h): pure, over a caller's clock. */
#include "vmm/host/mem_target.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#define NS_PER_MS 1000000ULL

bool mem_target_within(uint64_t resident, uint64_t target)
{
    /* target <= 2^62 (control.c), so the sum cannot overflow. */
    return resident <= target + target / MEM_TARGET_SLACK_DIV;
}

void mem_target_set(struct mem_target *t, uint64_t target_bytes, uint64_t deadline_ms, uint64_t now_ns)
{
    *t = (struct mem_target){
        .state = STATS_MEMTARGET_PENDING, .target_bytes = target_bytes, .deadline_ms = deadline_ms, .set_ns = now_ns};
}

void mem_target_clear(struct mem_target *t)
{
    *t = (struct mem_target){.state = STATS_MEMTARGET_NONE};
}

static uint64_t deadline_ns(const struct mem_target *t)
{
    return t->deadline_ms * NS_PER_MS; /* deadline_ms <= a year: no overflow */
}

enum mem_verdict mem_target_check(struct mem_target *t, uint64_t resident, uint64_t now_ns)
{
    bool within = mem_target_within(resident, t->target_bytes);
    switch (t->state) {
    case STATS_MEMTARGET_PENDING:
        if (within) {
            t->state = STATS_MEMTARGET_MET;
            t->over = false;
            return MEM_REACHED;
        }
        if (now_ns - t->set_ns >= deadline_ns(t)) {
            t->state = STATS_MEMTARGET_MISSED;
            return MEM_MISSED;
        }
        return MEM_NOTHING;
    case STATS_MEMTARGET_MET:
        if (within) {
            t->over = false;
            return MEM_NOTHING;
        }
        if (!t->over) {
            t->over = true;
            t->over_since_ns = now_ns;
        }
        if (now_ns - t->over_since_ns >= deadline_ns(t)) {
            t->state = STATS_MEMTARGET_MISSED;
            t->over = false;
            return MEM_MISSED_REGROWN;
        }
        return MEM_NOTHING;
    case STATS_MEMTARGET_MISSED:
        if (within) {
            t->state = STATS_MEMTARGET_MET;
            t->over = false;
            return MEM_REACHED;
        }
        return MEM_NOTHING;
    case STATS_MEMTARGET_NONE:
    default: return MEM_NOTHING;
    }
}

uint64_t mem_target_due(const struct mem_target *t)
{
    uint64_t due = 0;
    if (t->state == STATS_MEMTARGET_PENDING)
        due = t->set_ns + deadline_ns(t);
    else if (t->state == STATS_MEMTARGET_MET && t->over)
        due = t->over_since_ns + deadline_ns(t);
    else
        return 0;
    return due ? due : 1; /* 0 means "nothing due": a clock at 0 gets the first tick after */
}

uint64_t mem_target_elapsed_ms(const struct mem_target *t, uint64_t now_ns)
{
    return now_ns >= t->set_ns ? (now_ns - t->set_ns) / NS_PER_MS : 0;
}

const char *mem_verdict_name(enum mem_verdict v)
{
    switch (v) {
    case MEM_REACHED: return "reached";
    case MEM_MISSED: return "missed";
    case MEM_MISSED_REGROWN: return "regrown";
    case MEM_NOTHING:
    default: return "nothing";
    }
}

uint64_t mem_resident_bytes(int memfd)
{
    struct stat st;
    if (memfd < 0 || fstat(memfd, &st) < 0)
        return 0;
    /* st_blocks counts 512-byte units of what the file really holds: for a memfd, the
     * pages allocated (a punched hole or a page never touched holds nothing). */
    return (uint64_t)st.st_blocks * 512u;
}

/* Opened once and kept: a sandboxed monitor (sandbox.h) cannot open /proc. */
static int statm_fd = -2;

void mem_self_rss_open(void)
{
    if (statm_fd == -2)
        statm_fd = open("/proc/self/statm", O_RDONLY | O_CLOEXEC);
}

uint64_t mem_self_rss_bytes(void)
{
    char buf[128];
    mem_self_rss_open();
    if (statm_fd < 0)
        return 0;
    ssize_t n = pread(statm_fd, buf, sizeof(buf) - 1, 0);
    if (n <= 0)
        return 0;
    buf[n] = '\0';
    unsigned long long size, resident;
    if (sscanf(buf, "%llu %llu", &size, &resident) != 2)
        return 0;
    long page = sysconf(_SC_PAGESIZE);
    return resident * (uint64_t)(page > 0 ? page : 4096);
}
