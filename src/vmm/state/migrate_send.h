/* The source side of a live migration (docs/migration.md): pre-copy rounds over KVM's
 * dirty log, then stop-and-copy and the two-phase end, on a thread of its own so that the
 * monitor's main loop keeps serving the console and the control socket meanwhile.
 *
 * The main loop starts it (migrate_send_start), polls its eventfd, and hands each progress
 * line on (migrate_send_poll) until the thread ends. Then res says what happened:
 *   - err: nothing was committed. The thread has turned dirty logging off; if it paused
 *     the vCPUs (final phase), paused_vcpus is set and the caller unpauses them: the
 *     domain runs on here.
 *   - committed: the destination had everything and was told to run it; this side must
 *     never run the vCPUs again. confirmed says whether the destination acknowledged.
 * The thread pauses the vCPUs itself (vm_pause) for the final phase; while it runs, the
 * caller must not pause, unpause, restart or destroy the VM except through
 * migrate_send_cancel(). */
#ifndef XENO_VMM_STATE_MIGRATE_SEND_H
#define XENO_VMM_STATE_MIGRATE_SEND_H

#include <pthread.h>
#include <stdint.h>

#include "proto/migrate_proto.h"
#include "proto/snapshot.h"
#include "vmm/machine/vm.h"

#define MIGRATE_DEFAULT_MAX_DOWNTIME_MS 100
#define MIGRATE_DEFAULT_MAX_ROUNDS 30

struct migrate_params {
    char dest[256]; /* HOST:PORT */
    /* The destination as it names itself (mig_conn.dest_id); empty: HOST:PORT as reached. */
    char dest_id[MIG_ID_MAX];
    char key_path[1024];
    uint64_t bandwidth_mbps; /* MB/s (10^6 bytes) for the pre-copy rounds; 0: no limit */
    uint64_t max_downtime_ms;
    uint64_t max_rounds; /* pre-copy rounds after the first full pass */
};

struct migrate_result {
    int err; /* 0, or a negative errno; reason in why */
    char why[512];
    int committed, confirmed, paused_vcpus;
    uint64_t rounds, pages, bytes;
    uint64_t downtime_us, total_us;
    uint64_t touched_pages;  /* pages the first full pass found in use (non-zero) */
    uint64_t go_realtime_ns; /* CLOCK_REALTIME just before GO left: the hand-over for billing */
};

#define MIGRATE_PROGRESS_LINES 16

struct migrate_send {
    struct vm *vm;
    struct snap_config cfg;
    struct snap_cpu_features cpu; /* sent after cfg in MIG_CONFIG: what the guest may rely on */
    struct migrate_params p;
    uint8_t key[MIG_KEY_MAX];
    size_t keylen;
    pthread_t thread;
    int efd;
    pthread_mutex_t lock; /* progress queue, conn_fd, done */
    char progress[MIGRATE_PROGRESS_LINES][256];
    unsigned head, count;
    int done;
    int conn_fd; /* for cancel: shut down to break a blocking call */
    int cancel;  /* atomic */
    struct migrate_result res;
};

/* Loads the key and starts the thread. 0 and *out, or a negative errno with err_set()
 * (nothing started). */
int migrate_send_start(struct migrate_send **out, struct vm *vm, const struct snap_config *cfg,
                       const struct migrate_params *p);
/* The eventfd to poll: readable when progress lines are queued or the thread ended. */
int migrate_send_fd(const struct migrate_send *m);
/* Hands queued progress lines to emit. Returns 1 once the thread has ended (it is joined
 * then and m->res is final), else 0. */
int migrate_send_poll(struct migrate_send *m, void (*emit)(void *opaque, const char *line), void *opaque);
/* Makes the thread stop as soon as it can (before it commits, if it has not yet) and
 * waits for it. m->res says what happened. */
void migrate_send_cancel(struct migrate_send *m);
void migrate_send_free(struct migrate_send *m);

#endif
