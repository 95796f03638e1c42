/* The last lines xenod logged, for `xenctl dmesg` (GET /v1/log): xenod logs to stderr for
 * systemd, and an operator without the journal at hand still sees what happened. */
#ifndef XENO_DAEMON_LOG_RING_H
#define XENO_DAEMON_LOG_RING_H

#include <jansson.h>

#define LOG_RING_LINES 512

/* Installs the ring as the log hook. */
void log_ring_install(void);
/* {"lines": [...]}, oldest first. */
json_t *log_ring_json(void);

#endif
