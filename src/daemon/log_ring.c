#include "daemon/log_ring.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "lib/log.h"

static pthread_mutex_t ring_lock = PTHREAD_MUTEX_INITIALIZER;
static char *ring[LOG_RING_LINES];
static unsigned ring_next, ring_count;

static void ring_hook(const char *line)
{
    char stamped[2200];
    struct timespec ts;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    size_t n = strftime(stamped, sizeof(stamped), "%Y-%m-%dT%H:%M:%SZ ", &tm);
    snprintf(stamped + n, sizeof(stamped) - n, "%s", line);
    char *copy = strdup(stamped);
    if (!copy)
        return;
    pthread_mutex_lock(&ring_lock);
    free(ring[ring_next]);
    ring[ring_next] = copy;
    ring_next = (ring_next + 1) % LOG_RING_LINES;
    if (ring_count < LOG_RING_LINES)
        ring_count++;
    pthread_mutex_unlock(&ring_lock);
}

void log_ring_install(void)
{
    log_set_hook(ring_hook);
}

json_t *log_ring_json(void)
{
    json_t *lines = json_array();
    pthread_mutex_lock(&ring_lock);
    unsigned start = (ring_next + LOG_RING_LINES - ring_count) % LOG_RING_LINES;
    for (unsigned i = 0; i < ring_count; i++)
        json_array_append_new(lines, json_string(ring[(start + i) % LOG_RING_LINES]));
    pthread_mutex_unlock(&ring_lock);
    return json_pack("{s:o}", "lines", lines);
}
