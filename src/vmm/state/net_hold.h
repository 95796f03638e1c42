/* A domain's network device held still (docs/migration.md, "Devices' writes"): its rings are
 * taken back from xeno-netback (vhost_front_hold: the backend publishes what it took, then
 * writes nothing into guest memory) until vm_net_release gives them back. Frames for the
 * domain meanwhile are dropped by the backend, as a link that is down would drop them; the
 * guest's own frames wait in its transmit ring.
 *
 * Held: for a save (RAM and the used rings final before they are recorded), for the final
 * stop of a live migration (after the vCPUs pause, before the last look at the dirty log),
 * for a whole migration when the backend cannot keep a dirty log, and on a restore until
 * guest RAM is in place (a backend starts from the used index in RAM).
 *
 * Threads: any but a vhost-user front end's; a hold blocks for at most the front end's reply
 * deadline. */
#ifndef XENO_VMM_STATE_NET_HOLD_H
#define XENO_VMM_STATE_NET_HOLD_H

#include "vmm/machine/vm.h"

/* 0, or -errno with err_msg() when the backend did not stop in time (its connection is
 * dropped; held all the same). No network device: 0. */
int vm_net_hold(struct vm *vm);
void vm_net_release(struct vm *vm);

#endif
