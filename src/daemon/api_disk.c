/* PUT /v1/domains/{ref}/disks/{target}/qos: a disk's QoS changed live (`xenctl disk-qos`,
 * docs/api.md), as `virsh blkdeviotune` does: the given values replace the disk's, {} only
 * reads them. */
#include <errno.h>
#include <string.h>

#include "daemon/api_body.h"
#include "daemon/api_priv.h"
#include "lib/err.h"

/* {"target", "iotune": {NAME: N, ...} (those set), "weight" (null: none), "reservation"}. */
static json_t *disk_qos_json(const char *target, const struct domain_disk *k, uint32_t weight)
{
    json_t *io = json_object();
    for (int i = 0; i < IOTUNE_KEYS; i++)
        if (k->iotune[i])
            json_object_set_new(io, domain_iotune_names[i], json_integer((json_int_t)k->iotune[i]));
    return json_pack("{s:s, s:o, s:o, s:I}", "target", target, "iotune", io, "weight",
                     weight ? json_integer(weight) : json_null(), "reservation", (json_int_t)k->reservation);
}

void api_h_disk_qos(void *ctx)
{
    struct api_call *k = ctx;
    struct domain_disk_qos q;
    struct domain_disk now;
    uint32_t weight = 0;
    const char *target = route_param(&k->params, "target");
    if (api_body_disk_qos(k->body, &q) < 0)
        return api_call_error(k, -EINVAL);
    /* A sponsor's policy holds no disk reservation (a share of the host's calibrated
     * capacity): limits and weight of its own disks only, as for sched (docs/api.md). */
    if (!k->pr->is_operator && (q.given >> DISK_QOS_RESERVATION) & 1)
        return api_call_error(k, err_set(EACCES, "a disk's reservation is the operator's to change"));
    int rc = reg_disk_qos(k->reg, k->d, target, &q, &now, &weight);
    if (rc < 0)
        return api_call_error(k, rc);
    k->result = api_send_json(k->c, 200, disk_qos_json(target, &now, weight));
}
