/* xeno-blkback's control requests (blk/control.h). */
#include "blk/control.h"

#include "blk/blk_qos.h"
#include "blk/disk_spec.h"
#include "lib/err.h"
#include "proto/netback_ctl.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void add_disk(struct blkback *bb, char **words, int n, FILE *f)
{
    struct blk_disk_config cfg;
    if (n != 2) {
        fprintf(f, "err add-disk takes one SPEC (name=N,socket=PATH,file=NAME,...)\n");
        return;
    }
    if (blk_disk_spec_parse(words[1], &cfg) < 0) {
        fprintf(f, "err add-disk: %s\n", err_msg());
        return;
    }
    bool exists = blkback_disk_find(bb, cfg.name) != NULL;
    int rc = exists ? blkback_update_disk(bb, &cfg) : blkback_disk_add(bb, &cfg);
    struct blk_disk *d = rc == 0 ? blkback_disk_find(bb, cfg.name) : NULL;
    if (!d)
        fprintf(f, "err add-disk: %s\n", err_msg());
    else
        fprintf(f, "ok name=%s sectors=%llu%s\n", d->cfg.name, (unsigned long long)d->info.sectors,
                exists ? " updated" : "");
}

static void list_disks(struct blkback *bb, FILE *f)
{
    fprintf(f, "ok disks=%u\n", bb->ndisks);
    for (unsigned i = 0; i < bb->ndisks; i++) {
        const struct blk_disk *d = bb->disk[i];
        char qos[768];
        if (blk_qos_format(&d->cfg.qos, qos, sizeof(qos)) < 0)
            snprintf(qos, sizeof(qos), "qos=(too long)");
        fprintf(f, "disk name=%s socket=%s file=%s sectors=%llu readonly=%d connected=%d%s%s\n", d->cfg.name,
                d->cfg.socket, d->cfg.file, (unsigned long long)d->info.sectors, d->cfg.readonly, d->sock >= 0,
                qos[0] ? " " : "", qos);
    }
}

char *blk_control_request(void *ctx, char *line)
{
    struct blkback *bb = ctx;
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    if (!f)
        return NULL;
    char *words[8];
    int n = nb_line_words(line, words, 8);
    if (n < 0) {
        fprintf(f, "err %s\n", err_msg());
    } else if (n == 0) {
        /* blank lines are ignored: no reply */
    } else if (!strcmp(words[0], "version")) {
        fprintf(f, n == 1 ? "ok blkctl %d\n" : "err version takes no arguments\n", BLK_CONTROL_VERSION);
    } else if (!strcmp(words[0], "add-disk")) {
        add_disk(bb, words, n, f);
    } else if (!strcmp(words[0], "remove-disk")) {
        if (n != 2)
            fprintf(f, "err remove-disk takes NAME\n");
        else if (blkback_disk_remove(bb, words[1]) < 0)
            fprintf(f, "err remove-disk: %s\n", err_msg());
        else
            fprintf(f, "ok\n");
    } else if (n != 1 && (!strcmp(words[0], "list") || !strcmp(words[0], "stats") || !strcmp(words[0], "status"))) {
        fprintf(f, "err %s takes no arguments\n", words[0]);
    } else if (!strcmp(words[0], "list")) {
        list_disks(bb, f);
    } else if (!strcmp(words[0], "stats")) {
        static char st[BLK_MAX_DISKS * 512];
        blkback_stats(bb, st, sizeof(st));
        fprintf(f, "ok disks=%u\n%s", bb->ndisks, st);
    } else if (!strcmp(words[0], "status")) {
        unsigned conn = 0;
        for (unsigned i = 0; i < bb->ndisks; i++)
            conn += bb->disk[i]->sock >= 0;
        fprintf(f, "ok pid=%d disks=%u connected=%u\n", (int)getpid(), bb->ndisks, conn);
    } else {
        fprintf(f, "err unknown request '%.40s' (version, add-disk, remove-disk, list, stats, status)\n", words[0]);
    }
    fclose(f);
    return buf;
}
