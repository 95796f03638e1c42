/* Live migration between hosts, xenod's part (docs/migration.md, "Between hosts").
 *
 * The source xenod connects to the destination xenod's --migrate-listen address, both prove
 * they hold the shared key (the monitors' handshake, src/proto/migrate_proto.h), and the
 * source offers the domain: its definition (canonical XML, with sponsor and UUID), whether it
 * is persistent, and the tail of its console log. The destination checks the offer as it
 * would a restore (name, UUID, admission), starts a monitor that listens for the migration
 * stream on its own port, and answers with that port. From there the two monitors move the
 * domain themselves; the source xenod follows its monitor, the destination xenod waits for
 * its monitor to run the domain (or to give up). The domain never runs in two places: the
 * monitors' two-phase end decides. */
#ifndef XENO_DAEMON_MIGRATE_HOST_H
#define XENO_DAEMON_MIGRATE_HOST_H

#include <stddef.h>
#include <stdint.h>

struct registry;
struct migrate_host;

/* Accepts migrations on ADDR:PORT, authenticated with the key in key_path. One listener
 * thread; each connection gets its own thread, at most 4 at once while in the handshake
 * (one deadline for all of it), further ones closed at once; accept errors back off. */
int migrate_host_listen(struct migrate_host **out, struct registry *r, const char *addrport, const char *key_path);
void migrate_host_close(struct migrate_host *h);
/* The port it listens on (ADDR:0 picks one), or a negative errno. */
int migrate_host_port(const struct migrate_host *h);

/* Source: offers a domain to the xenod at hostport. On success *port is where the
 * destination's monitor waits for the stream (on the same host). */
int migrate_host_offer(const char *hostport, const char *key_path, const char *offer_json, const char *console,
                       size_t console_len, int *port);

/* A disk of the offered domain: its target and its size in bytes as the source's backend
 * serves it. The destination gives its monitor that size (its --disk size=) because it may
 * hand the image to its own backend only after GO (docs/migration.md, "Disks"); the monitor
 * still refuses an image that is not the one the source served (identity check). */
struct migrate_offer_disk {
    char target[8];
    uint64_t bytes;
};
#define MIGRATE_OFFER_DISKS_MAX 8 /* DOMAIN_DISKS_MAX */

/* The offer's text: {"xml": the canonical definition, "persistent": bool, "disks": [{"target":
 * "vda", "bytes": N}, ...]}. encode returns malloc'd text, or NULL when out of memory; decode
 * gives a malloc'd copy of the XML and the disks (at most MIGRATE_OFFER_DISKS_MAX, each a
 * target of 1-7 characters [a-z] and a size that is a positive multiple of 512), or -EPROTO
 * when the offer holds no XML or a disk entry that is not that (the caller says whose offer
 * it was); an offer without "disks" (an older xenod) decodes with none. */
char *migrate_host_offer_encode(const char *xml, int persistent, const struct migrate_offer_disk *disks,
                                unsigned ndisks);
int migrate_host_offer_decode(const char *offer, char **xml, size_t *xml_len, int *persistent,
                              struct migrate_offer_disk disks[MIGRATE_OFFER_DISKS_MAX], unsigned *ndisks);

#endif
