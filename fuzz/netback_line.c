/* The network backend's port line (src/proto/netback_ctl.c), the one definition both ends
 * use: xenod writes `port-add` and `port-qos` with it, xeno-netback reads them and its ports
 * file with it. The input is read as the backend reads it: split by nb_line_words, parsed as
 * a port (nb_port_parse) and as QoS words (nb_port_parse_qos). Two oracles:
 *   - reader -> writer: a port that parses is written back (nb_port_format, as the backend
 *     writes its ports file) and must read back the same;
 *   - writer -> reader: the input's bytes also fill a port as a writer would (any field, any
 *     byte, text cut to its size, names labelled with nb_label as xenod does); whatever
 *     nb_port_format agrees to write, nb_port_parse must read back the same. A value that
 *     does not survive its own line would let one word become another (a newline or blank
 *     inside a value is the injection issue 14 found). */
#include <stdio.h>

#include "fuzz/fuzz.h"
#include "proto/netback_ctl.h"

#define WORDS 72

static int qos_same(const struct nb_port_qos *a, const struct nb_port_qos *b)
{
    return a->in_average == b->in_average && a->in_peak == b->in_peak && a->in_burst == b->in_burst &&
           a->out_average == b->out_average && a->out_peak == b->out_peak && a->out_burst == b->out_burst &&
           a->floor == b->floor && a->weight == b->weight;
}

static int same(const struct nb_port *a, const struct nb_port *b)
{
    return !strcmp(a->name, b->name) && !strcmp(a->socket, b->socket) && !strcmp(a->domain, b->domain) &&
           !strcmp(a->sponsor, b->sponsor) && !memcmp(a->mac, b->mac, 6) && a->id == b->id &&
           a->has_ipv4 == b->has_ipv4 && (!a->has_ipv4 || a->ipv4 == b->ipv4) && qos_same(&a->qos, &b->qos);
}

/* p written and read again: it must read back the same, and its QoS words alone too. */
static void reread(const struct nb_port *p)
{
    char line[4096];
    if (nb_port_format(p, line, sizeof(line)) < 0)
        return;
    if (strpbrk(line, "\n\r")) {
        fprintf(stderr, "formatted port holds a line break: %s\n", line);
        abort();
    }
    char *words[WORDS], copy[sizeof(line)];
    memcpy(copy, line, sizeof(copy));
    int n = nb_line_words(copy, words, WORDS);
    struct nb_port again;
    if (n < 1 || nb_port_parse(&again, words, n) < 0) {
        fprintf(stderr, "formatted port does not parse again: %s\n", line);
        abort();
    }
    if (!same(&again, p)) {
        fprintf(stderr, "formatted port reads back different\n");
        abort();
    }
    char qos[1024];
    struct nb_port_qos q = {0};
    if (nb_port_qos_format(&p->qos, qos, sizeof(qos)) < 0 || (n = nb_line_words(qos, words, WORDS)) < 0 ||
        nb_port_parse_qos(&q, words, n) < 0 || !qos_same(&q, &p->qos)) {
        fprintf(stderr, "formatted QoS words do not read back the same\n");
        abort();
    }
}

/* The bytes as a port a writer fills in: every field taken raw (text NUL-terminated at its
 * size), the two labels made by nb_label from raw text as xenod makes them. */
static void as_writer(const uint8_t *data, size_t size)
{
    struct nb_port p;
    if (size < sizeof(p) + 2 * NB_PORT_TEXT_MAX)
        return;
    memcpy(&p, data, sizeof(p));
    p.name[sizeof(p.name) - 1] = p.socket[sizeof(p.socket) - 1] = 0;
    p.domain[sizeof(p.domain) - 1] = p.sponsor[sizeof(p.sponsor) - 1] = 0;
    p.has_ipv4 = data[0] & 1;
    reread(&p);
    char raw[2][NB_PORT_TEXT_MAX];
    memcpy(raw, data + sizeof(p), sizeof(raw));
    raw[0][NB_PORT_TEXT_MAX - 1] = raw[1][NB_PORT_TEXT_MAX - 1] = 0;
    nb_label(p.domain, sizeof(p.domain), raw[0]);
    nb_label(p.sponsor, sizeof(p.sponsor), raw[1]);
    reread(&p);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *line = fuzz_cstr(data, size);
    char *copy = strdup(line), *qline = strdup(line);
    if (!copy || !qline)
        abort();
    char *words[WORDS];
    int n = nb_line_words(line, words, WORDS);
    if (n >= 1) {
        struct nb_port p;
        if (nb_port_parse(&p, words, n) == 0)
            reread(&p);
    }
    /* The same line as `port-qos NAME KEY=VALUE...` words (parsing split the first copy). */
    if ((n = nb_line_words(qline, words, WORDS)) >= 1) {
        struct nb_port_qos q = {0};
        nb_port_parse_qos(&q, words + 1, n - 1);
    }
    /* Every line also through the word splitter alone at a small limit (the E2BIG path). */
    nb_line_words(copy, words, 3);
    free(copy);
    free(qline);
    free(line);
    as_writer(data, size);
    return 0;
}
