#include "vmm/core/device.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "lib/err.h"

int dev_list_add(struct dev_list *l, const char *name, const struct dev_state_ops *ops, void *dev)
{
    if (l->n == DEV_LIST_MAX)
        return err_set(ENOSPC, "%s: more than %d devices with state", name, DEV_LIST_MAX);
    if (!ops->save || !ops->restore || ops->size == 0 || ops->section == 0)
        return err_set(EINVAL, "%s: incomplete state operations", name);
    l->e[l->n++] = (struct dev_list_entry){name, ops, dev};
    return 0;
}

size_t dev_list_section_size(const struct dev_list *l, uint32_t type)
{
    for (unsigned i = 0; i < l->n; i++)
        if (l->e[i].ops->section == type)
            return l->e[i].ops->size;
    return 0;
}

int dev_list_save(const struct dev_list *l, dev_put_fn put, void *opaque)
{
    for (unsigned i = 0; i < l->n; i++) {
        const struct dev_list_entry *e = &l->e[i];
        void *buf = calloc(1, e->ops->size);
        if (!buf)
            return err_set(ENOMEM, "%s: out of memory", e->name);
        int r = e->ops->save(e->dev, buf);
        if (r < 0)
            r = err_wrap(-r, "%s", e->name);
        else
            r = put(opaque, e->ops->section, buf, e->ops->size);
        free(buf);
        if (r < 0)
            return r;
    }
    return 0;
}

/* The section entry `i` takes: the k-th of its type, where entry i is the k-th entry of that
 * type in the list. NULL if there is none. */
static const struct snap_section *section_for(const struct dev_list *l, unsigned i, const struct snap_section *sec,
                                              unsigned n, unsigned *instance)
{
    uint32_t type = l->e[i].ops->section;
    unsigned k = 0;
    for (unsigned j = 0; j < i; j++)
        k += l->e[j].ops->section == type;
    *instance = k;
    for (unsigned s = 0; s < n; s++)
        if (sec[s].type == type && k-- == 0)
            return &sec[s];
    return NULL;
}

/* An aligned private copy of a payload: the section's bytes may be a file mapping or a peer's
 * buffer, and the operations read it as a struct. */
static void *payload_copy(const struct dev_list_entry *e, const struct snap_section *s)
{
    void *buf = malloc(e->ops->size);
    if (buf)
        memcpy(buf, s->data, e->ops->size);
    return buf;
}

int dev_list_check(const struct dev_list *l, const struct snap_section *sec, unsigned n, int bad)
{
    for (unsigned s = 0; s < n; s++)
        if (snap_is_device_section(sec[s].type) && !dev_list_section_size(l, sec[s].type))
            return err_set(bad, "%s section at offset %llu: this machine has no such device",
                           snap_section_name(sec[s].type), (unsigned long long)sec[s].offset);
    /* Counts first: no section of a device type may be left over or missing. */
    for (unsigned i = 0; i < l->n; i++) {
        uint32_t type = l->e[i].ops->section;
        unsigned want = 0, have = 0;
        for (unsigned j = 0; j < l->n; j++)
            want += l->e[j].ops->section == type;
        for (unsigned s = 0; s < n; s++)
            have += sec[s].type == type;
        if (have != want)
            return err_set(bad, "%u %s sections for %u such devices (%s)", have, snap_section_name(type), want,
                           l->e[i].name);
    }
    for (unsigned i = 0; i < l->n; i++) {
        const struct dev_list_entry *e = &l->e[i];
        unsigned k;
        const struct snap_section *s = section_for(l, i, sec, n, &k);
        if (s->length != e->ops->size)
            return err_set(bad, "%s section at offset %llu holds %llu bytes, this monitor expects %u",
                           snap_section_name(s->type), (unsigned long long)s->offset, (unsigned long long)s->length,
                           e->ops->size);
        if (!e->ops->check)
            continue;
        void *buf = payload_copy(e, s);
        if (!buf)
            return err_set(ENOMEM, "%s: out of memory", e->name);
        int r = e->ops->check(e->dev, buf, k);
        free(buf);
        if (r < 0)
            return err_wrap(bad, "%s section at offset %llu (%s)", snap_section_name(s->type),
                            (unsigned long long)s->offset, e->name);
    }
    return 0;
}

int dev_list_restore(const struct dev_list *l, const struct snap_section *sec, unsigned n, enum dev_state_source src)
{
    for (unsigned i = 0; i < l->n; i++) {
        const struct dev_list_entry *e = &l->e[i];
        unsigned k;
        const struct snap_section *s = section_for(l, i, sec, n, &k);
        if (!s)
            return err_set(EINVAL, "%s: no state section (not checked?)", e->name);
        void *buf = payload_copy(e, s);
        if (!buf)
            return err_set(ENOMEM, "%s: out of memory", e->name);
        int r = e->ops->restore(e->dev, buf, src);
        free(buf);
        if (r < 0)
            return err_wrap(-r, "%s", e->name);
    }
    return 0;
}
