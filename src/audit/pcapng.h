/* pcap-ng capture of selected traffic (for tshark/Wireshark): one Section Header, one
 * Ethernet interface with nanosecond timestamps, and an Enhanced Packet Block per frame whose
 * comment names the domain, the sponsor and the direction, so a capture handed to an analyst
 * says whose traffic it is. Buffered through stdio; frames are cut at the snap length. */
#ifndef XENO_AUDIT_PCAPNG_H
#define XENO_AUDIT_PCAPNG_H

#include <stddef.h>
#include <stdint.h>

struct pcapng_writer;

/* Creates path (refused if it exists: a capture is evidence, not to be overwritten). */
int pcapng_open(const char *path, uint32_t snaplen, struct pcapng_writer **out);
int pcapng_write(struct pcapng_writer *w, uint64_t ts_ns, const uint8_t *frame, size_t len, const char *comment);
/* Flushes and closes; frees w even on error. */
int pcapng_close(struct pcapng_writer *w);
uint64_t pcapng_frames(const struct pcapng_writer *w);

#endif
