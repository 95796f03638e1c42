/* Audit rules files (src/audit/rules.c), as the backend reads them at start and on
 * `audit-rules`: audit_rules_parse over the text, then a few flows checked against what it
 * accepted (the rule matching and the rate state it sized). */
#include "audit/rules.h"
#include "fuzz/fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = fuzz_cstr(data, size);
    struct audit_ruleset rs;
    if (audit_rules_parse(text, "fuzz.rules", 4, &rs) == 0) {
        static const struct audit_rule_match flows[] = {
            {.proto = 6, .dport = 22, .ipv4 = true, .dst = 0x0a000001, .sponsor_id = 0, .domain_id = 1},
            {.proto = 17, .dport = 53, .ipv4 = true, .dst = 0x08080808, .sponsor_id = 3, .domain_id = 2},
            {.proto = 6, .dport = 25, .ipv4 = false, .sponsor_id = 1, .domain_id = 3},
        };
        struct audit_rule_result res;
        for (unsigned t = 0; t < 3; t++)
            for (unsigned i = 0; i < sizeof(flows) / sizeof(flows[0]); i++)
                audit_rules_check(&rs, &flows[i], (uint64_t)t * 1000000, &res);
        audit_rules_free(&rs);
    }
    free(text);
    return 0;
}
