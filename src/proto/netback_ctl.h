/* The network backend's port line: the one definition both ends use (docs/netback.md).
 * xenod writes it (`port-add` on the backend's control socket, `port-qos` QoS words),
 * xeno-netback reads it there and keeps it in its ports file, one line per port:
 *
 *   NAME [id=N] socket=PATH mac=MAC [ip=A.B.C.D] [domain=TEXT] [sponsor=TEXT]
 *        [in-average=KIB] [in-peak=KIB] [in-burst=KIB] [out-average=KIB] [out-peak=KIB]
 *        [out-burst=KIB] [weight=N] [floor=KIB]
 *
 * Words are separated by single spaces; there are no escapes, so a value holds no blank, no
 * '=' and no control character, and a line holding a control character is refused whole.
 * The writer checks every value against the same rules the reader applies (nb_port_format
 * fails where nb_port_parse would), so the two ends cannot drift apart: what xenod sends is
 * what the backend takes, and a value that could become another word or another request
 * never leaves the writer. Rates are KiB/s and bursts KiB as in libvirt's <bandwidth>; `id`
 * is the port's persistent identity (given by the backend, never reused).
 *
 * Pure functions, no state: callable from any thread. */
#ifndef XENO_PROTO_NETBACK_CTL_H
#define XENO_PROTO_NETBACK_CTL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define NB_PORT_NAME_MAX 32
#define NB_PORT_SOCKET_MAX 108 /* sun_path */
#define NB_PORT_TEXT_MAX 64
#define NB_QOS_WEIGHT_MAX 1000
#define NB_QOS_MAX_RATE_KIB (1ull << 32)  /* 4 TiB/s */
#define NB_QOS_MAX_BURST_KIB (4ull << 20) /* 4 GiB */

/* The QoS words; 0: not given. */
struct nb_port_qos {
    uint64_t in_average, in_peak, in_burst;
    uint64_t out_average, out_peak, out_burst;
    uint64_t floor;
    uint32_t weight; /* 1..NB_QOS_WEIGHT_MAX */
};

struct nb_port {
    uint64_t id; /* 0: not given */
    char name[NB_PORT_NAME_MAX];
    char socket[NB_PORT_SOCKET_MAX]; /* absolute */
    uint8_t mac[6];
    bool has_ipv4;
    uint32_t ipv4;                  /* host order */
    char domain[NB_PORT_TEXT_MAX];  /* "": not given */
    char sponsor[NB_PORT_TEXT_MAX]; /* "": not given */
    struct nb_port_qos qos;
};

/* Splits line into space-separated words in place (at most max); returns the count, or
 * -E2BIG, or -EINVAL for a line holding a control character (a tab, a carriage return, a
 * newline other than one at its very end, any byte below 0x20, or 0x7f), with a message. */
int nb_line_words(char *line, char **words, int max);

/* Parses words[0] (the name) and the KEY=VALUE words after it into *p (zeroed first).
 * socket and mac are required. 0, or -EINVAL with a message naming the word. */
int nb_port_parse(struct nb_port *p, char **words, int n);
/* Applies QoS words (the QoS keys only) on top of *q: `port-qos NAME KEY=VALUE...`. */
int nb_port_parse_qos(struct nb_port_qos *q, char **words, int n);

/* Writes p's words (the name first, id only when non-zero): the length, or -EINVAL naming
 * a value nb_port_parse would refuse, or -ENOSPC. */
int nb_port_format(const struct nb_port *p, char *buf, size_t len);
/* Writes the non-zero QoS words, blank-separated ("" when none): the length, or -EINVAL for
 * a value out of range, or -ENOSPC. */
int nb_port_qos_format(const struct nb_port_qos *q, char *buf, size_t len);

/* Makes a TEXT value out of any string (a domain or sponsor name, for the record only: it
 * names, it is not parsed back): blanks, '=', control characters and bytes from 0x7f up
 * become '_', cut to fit size; "" becomes "-". */
void nb_label(char *dst, size_t size, const char *src);

#endif
