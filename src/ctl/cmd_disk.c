/* `xenctl disk create|info|commit|convert`: disk images in the image directory, on this host,
 * with no daemon (src/blk/image.h; docs/blkback.md, "Images"). Every image is named relative
 * to --image-dir and opened beneath it (image_dir.h), as xeno-blkback opens them. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "blk/image.h"
#include "ctl/commands.h"
#include "ctl/disk_convert.h"
#include "ctl/render.h"
#include "lib/err.h"
#include "lib/log.h"
#include "lib/parse.h"

static int failed(void)
{
    log_error("%s", err_msg());
    return CTL_EXIT_FAILED;
}

static int open_dir(const struct ctl_args *a, const char **dir)
{
    *dir = ctl_args_get(a, "image-dir");
    if (!*dir || !(*dir)[0])
        *dir = IMAGE_DIR_DEFAULT;
    return image_dir_open(*dir);
}

static int disk_create(const struct ctl_args *a, int dirfd, const char *dir, const char *name)
{
    const char *size_text = ctl_args_get(a, "size"), *base = ctl_args_get(a, "base");
    const char *cluster_text = ctl_args_get(a, "cluster-size");
    uint64_t size = 0, cluster = 1ull << OVL_CLUSTER_BITS_DEFAULT;
    if (size_text && parse_size(size_text, 1, &size) < 0)
        return ctl_usage_error("--size: %s", err_msg());
    if (cluster_text && parse_size(cluster_text, 1, &cluster) < 0)
        return ctl_usage_error("--cluster-size: %s", err_msg());
    unsigned bits = 0;
    while (bits < 63 && (1ull << bits) < cluster)
        bits++;
    if ((1ull << bits) != cluster || bits < OVL_CLUSTER_BITS_MIN || bits > OVL_CLUSTER_BITS_MAX)
        return ctl_usage_error("--cluster-size: a power of two from 4K to 2M");
    int rc;
    if (image_format_of_name(name) == IMAGE_OVERLAY) {
        if (!size_text && !base)
            return ctl_usage_error("disk create %s: an overlay needs --base BASE or --size SIZE", name);
        rc = image_create_overlay(dirfd, dir, name, size, base, bits);
    } else {
        if (base || cluster_text)
            return ctl_usage_error("disk create %s: --base and --cluster-size are for overlays (NAME%s)", name,
                                   IMAGE_OVERLAY_SUFFIX);
        if (!size_text)
            return ctl_usage_error("disk create %s: --size SIZE is required", name);
        rc = image_create_raw(dirfd, dir, name, size);
    }
    if (rc < 0)
        return failed();
    printf("created %s in %s\n", name, dir);
    return CTL_EXIT_OK;
}

static void print_info_json(const char *name, const struct image_info *in)
{
    json_t *j =
        json_pack("{s:s, s:s, s:I, s:I}", "name", name, "format", in->format == IMAGE_OVERLAY ? "overlay" : "raw",
                  "virtual_size", (json_int_t)in->virtual_size, "disk_bytes", (json_int_t)in->disk_bytes);
    if (in->format == IMAGE_OVERLAY) {
        json_object_set_new(j, "cluster_size", json_integer((json_int_t)in->cluster_size));
        json_object_set_new(j, "clusters", json_integer((json_int_t)in->entries));
        json_object_set_new(j, "clusters_allocated", json_integer((json_int_t)in->allocated));
        json_object_set_new(j, "clusters_zero", json_integer((json_int_t)in->zero));
        json_object_set_new(j, "base", in->base[0] ? json_string(in->base) : json_null());
        json_object_set_new(j, "base_ok", json_boolean(in->base_ok));
        if (!in->base_ok)
            json_object_set_new(j, "base_problem", json_string(in->base_problem));
    }
    ctl_print_json(j);
    json_decref(j);
}

static int disk_info(const struct ctl *c, int dirfd, const char *dir, const char *name)
{
    struct image_info in;
    if (image_info(dirfd, dir, name, &in) < 0)
        return failed();
    if (c->json) {
        print_info_json(name, &in);
        return CTL_EXIT_OK;
    }
    char vs[64], ds[64];
    ctl_fmt_bytes(in.virtual_size, vs, sizeof(vs));
    ctl_fmt_bytes(in.disk_bytes, ds, sizeof(ds));
    printf("Name: %s\nFormat: %s\nVirtual size: %" PRIu64 " (%s)\nDisk size: %" PRIu64 " (%s)\n", name,
           in.format == IMAGE_OVERLAY ? "overlay" : "raw", in.virtual_size, vs, in.disk_bytes, ds);
    if (in.format == IMAGE_RAW)
        return CTL_EXIT_OK;
    printf("Cluster size: %" PRIu64 "\nClusters: %" PRIu64 " allocated, %" PRIu64 " zero, of %" PRIu64 "\n",
           in.cluster_size, in.allocated, in.zero, in.entries);
    if (!in.base[0])
        printf("Base: none\n");
    else if (in.base_ok)
        printf("Base: %s (unchanged)\n", in.base);
    else
        printf("Base: %s (unusable: %s)\n", in.base, in.base_problem);
    return in.base_ok ? CTL_EXIT_OK : CTL_EXIT_FAILED;
}

static int disk_commit(int dirfd, const char *dir, const char *name)
{
    uint64_t clusters;
    if (image_commit(dirfd, dir, name, &clusters) < 0)
        return failed();
    printf("committed %" PRIu64 " clusters of %s into its base; %s is empty again\n", clusters, name, name);
    return CTL_EXIT_OK;
}

static int check_options(const struct ctl_args *a, const char *sub, const char *const *allowed)
{
    for (const struct ctl_opt *o = a->opts; o && o->name; o++) {
        if (!ctl_args_get(a, o->name) || strcmp(o->name, "image-dir") == 0)
            continue;
        int ok = 0;
        for (const char *const *p = allowed; *p; p++)
            ok |= strcmp(*p, o->name) == 0;
        if (!ok)
            return ctl_usage_error("disk %s does not take --%s", sub, o->name);
    }
    return 0;
}

int ctl_cmd_disk(const struct ctl *c, const struct ctl_args *a)
{
    static const char *const create_ok[] = {"size", "base", "cluster-size", NULL}, *const none[] = {NULL};
    const char *sub = a->pos[0];
    int want = strcmp(sub, "convert") == 0 ? 3 : 2;
    if (strcmp(sub, "create") && strcmp(sub, "info") && strcmp(sub, "commit") && strcmp(sub, "convert"))
        return ctl_usage_error("disk: unknown action '%s' (create, info, commit or convert)", sub);
    if (a->npos != want)
        return ctl_usage_error("disk %s takes %s", sub, want == 3 ? "SRC.qcow2 NAME" : "NAME");
    int rc = check_options(a, sub, strcmp(sub, "create") == 0 ? create_ok : none);
    if (rc)
        return rc;
    const char *dir;
    int dirfd = open_dir(a, &dir);
    if (dirfd < 0)
        return failed();
    if (strcmp(sub, "create") == 0)
        rc = disk_create(a, dirfd, dir, a->pos[1]);
    else if (strcmp(sub, "info") == 0)
        rc = disk_info(c, dirfd, dir, a->pos[1]);
    else if (strcmp(sub, "commit") == 0)
        rc = disk_commit(dirfd, dir, a->pos[1]);
    else
        rc = ctl_disk_convert(dirfd, dir, a->pos[1], a->pos[2]) < 0 ? failed() : CTL_EXIT_OK;
    close(dirfd);
    return rc;
}
