/* The network backend's control lines and ports file (src/net/port_config.c): a line split
 * by port_words, then read as a port (port_config_parse, what `port-add` and the ports file
 * take) and as QoS words (port_config_parse_qos, what `port-qos` takes). A port that parses is
 * written back with port_config_format, as the backend writes its ports file, and must read
 * back the same: a value that does not survive its own line would let one word become
 * another (a newline or blank inside a value is the injection issue 14 found). */
#include <stdio.h>

#include "fuzz/fuzz.h"
#include "net/port_config.h"

#define WORDS 72

static void reread(const struct port_config *pc)
{
    char line[4096];
    if (port_config_format(pc, line, sizeof(line)) < 0)
        return;
    if (strpbrk(line, "\n\r")) {
        fprintf(stderr, "formatted port holds a line break: %s\n", line);
        abort();
    }
    char *words[WORDS];
    int n = port_words(line, words, WORDS);
    struct port_config again;
    if (n < 1 || port_config_parse(&again, words, n) < 0) {
        fprintf(stderr, "formatted port does not parse again\n");
        abort();
    }
    if (strcmp(again.name, pc->name) || strcmp(again.socket, pc->socket) || strcmp(again.domain, pc->domain) ||
        strcmp(again.sponsor, pc->sponsor) || memcmp(again.mac, pc->mac, 6) || again.id != pc->id) {
        fprintf(stderr, "formatted port reads back different\n");
        abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *line = fuzz_cstr(data, size);
    char *copy = strdup(line);
    if (!copy)
        abort();
    char *words[WORDS];
    int n = port_words(line, words, WORDS);
    if (n >= 1) {
        struct port_config pc;
        if (port_config_parse(&pc, words, n) == 0) {
            if (!pc.id)
                pc.id = 1; /* the ports file always has one: the backend gives it at port-add */
            reread(&pc);
            port_config_parse_qos(&pc, words + 1, n - 1);
        }
    }
    /* Every line also through the word splitter alone at a small limit (the E2BIG path). */
    port_words(copy, words, 3);
    free(copy);
    free(line);
    return 0;
}
