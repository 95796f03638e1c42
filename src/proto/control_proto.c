#include "proto/control_proto.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

static const char *const names[] = {
    [CONTROL_STATUS] = "status",     [CONTROL_PAUSE] = "pause",     [CONTROL_UNPAUSE] = "unpause",
    [CONTROL_SHUTDOWN] = "shutdown", [CONTROL_REBOOT] = "reboot",   [CONTROL_RESET] = "reset",
    [CONTROL_DESTROY] = "destroy",   [CONTROL_MEM_SET] = "mem-set", [CONTROL_SCHED] = "sched",
    [CONTROL_SAVE] = "save",         [CONTROL_MIGRATE] = "migrate", [CONTROL_CPU] = "cpu",
};

const char *control_req_name(enum control_req req)
{
    return (unsigned)req < sizeof(names) / sizeof(names[0]) ? names[req] : "?";
}

/* A plain decimal number (no sign, no blanks inside) up to max. */
static int parse_number(const char *s, size_t len, uint64_t max, uint64_t *out)
{
    uint64_t v = 0;
    if (len == 0 || len > 20)
        return -1;
    for (size_t i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        unsigned d = (unsigned)(s[i] - '0');
        if (v > (max - d) / 10)
            return -1;
        v = v * 10 + d;
    }
    *out = v;
    return 0;
}

/* mem-set TARGET_BYTES DEADLINE_MS: `rest` is what follows the word (blanks included). */
static int parse_mem_set(const char *rest, size_t len, struct control_args *args, char *why, size_t why_size)
{
    static const uint64_t max[CONTROL_MAX_ARGS] = {1ULL << 62, CONTROL_DEADLINE_MS_MAX};
    struct control_args a = {0};
    size_t i = 0;
    while (i < len) {
        while (i < len && isspace((unsigned char)rest[i]))
            i++;
        if (i == len)
            break;
        size_t start = i;
        while (i < len && !isspace((unsigned char)rest[i]))
            i++;
        if (a.n == CONTROL_MAX_ARGS || parse_number(rest + start, i - start, max[a.n], &a.v[a.n]) < 0) {
            a.n = CONTROL_MAX_ARGS + 1;
            break;
        }
        a.n++;
    }
    if (a.n != CONTROL_MAX_ARGS) {
        snprintf(why, why_size,
                 "mem-set takes TARGET_BYTES DEADLINE_MS, two decimal numbers (deadline at most %llu ms), "
                 "e.g. mem-set 40960000 1000",
                 (unsigned long long)CONTROL_DEADLINE_MS_MAX);
        return -EINVAL;
    }
    if (args)
        *args = a;
    return 0;
}

/* sched [reservation=PPM] [limit=PPM] [weight=N] [period=US]: each key at most once. */
static int parse_sched(const char *rest, size_t len, struct control_args *args, char *why, size_t why_size)
{
    static const char *const keys[] = {"reservation", "limit", "weight", "period"};
    static const uint64_t max[] = {32000000, 32000000, 262144, 1000000};
    struct control_args a = {0};
    size_t i = 0;
    while (i < len) {
        while (i < len && isspace((unsigned char)rest[i]))
            i++;
        if (i == len)
            break;
        size_t start = i, eq = 0;
        while (i < len && !isspace((unsigned char)rest[i])) {
            if (rest[i] == '=' && !eq)
                eq = i;
            i++;
        }
        unsigned k = 4;
        for (unsigned j = 0; eq && j < 4; j++)
            if (strlen(keys[j]) == eq - start && memcmp(rest + start, keys[j], eq - start) == 0)
                k = j;
        if (k == 4 || (a.sched_has & (1u << k)) || parse_number(rest + eq + 1, i - eq - 1, max[k], &a.sched[k]) < 0) {
            snprintf(why, why_size,
                     "sched takes KEY=VALUE settings, each at most once: reservation=PPM limit=PPM (parts per "
                     "million of one CPU; 0: none) weight=N period=US, e.g. sched limit=200000; '%.*s' is not one",
                     (int)(i - start > 64 ? 64 : i - start), rest + start);
            return -EINVAL;
        }
        a.sched_has |= 1u << k;
    }
    if (args)
        *args = a;
    return 0;
}

/* save PATH [keep-running] [shrink]: PATH has no blanks; each flag at most once, in any
 * order. */
static int parse_save(const char *rest, size_t len, struct control_args *args, char *why, size_t why_size)
{
    size_t i = 0, start;
    int keep = 0, shrink = 0;
    while (i < len && isspace((unsigned char)rest[i]))
        i++;
    start = i;
    while (i < len && !isspace((unsigned char)rest[i]))
        i++;
    if (i == start) {
        snprintf(why, why_size, "save needs a file: save PATH [keep-running] [shrink]");
        return -EINVAL;
    }
    if (args) {
        memcpy(args->path, rest + start, i - start);
        args->path[i - start] = 0;
    }
    for (;;) {
        while (i < len && isspace((unsigned char)rest[i]))
            i++;
        if (i == len)
            break;
        size_t w = i;
        while (i < len && !isspace((unsigned char)rest[i]))
            i++;
        int *flag = i - w == 12 && memcmp(rest + w, "keep-running", 12) == 0 ? &keep
                    : i - w == 6 && memcmp(rest + w, "shrink", 6) == 0       ? &shrink
                                                                             : NULL;
        if (!flag || *flag) {
            snprintf(why, why_size, "save PATH [keep-running] [shrink]: '%.*s' is %s", (int)(i - w > 64 ? 64 : i - w),
                     rest + w, flag ? "given twice" : "not keep-running or shrink");
            return -EINVAL;
        }
        *flag = 1;
    }
    if (args) {
        args->keep_running = keep;
        args->shrink = shrink;
    }
    return 0;
}

/* migrate HOST:PORT [key=FILE] [bandwidth=MBPS] [max-downtime=MS] [max-rounds=N] [to=ID]:
 * each key at most once; HOST:PORT goes to path, FILE to key, ID to mig_to. */
static int parse_migrate(const char *rest, size_t len, struct control_args *args, char *why, size_t why_size)
{
    static const char *const keys[] = {"key", "bandwidth", "max-downtime", "max-rounds", "to"};
    static const uint64_t max[] = {0, 1000000, 3600000, 10000, 0};
    struct control_args a = {0};
    size_t i = 0, nwords = 0;
    while (i < len) {
        while (i < len && isspace((unsigned char)rest[i]))
            i++;
        if (i == len)
            break;
        size_t start = i, eq = 0;
        while (i < len && !isspace((unsigned char)rest[i])) {
            if (rest[i] == '=' && !eq)
                eq = i;
            i++;
        }
        if (nwords++ == 0) {
            if (i - start >= 256 || eq) {
                snprintf(why, why_size, "migrate HOST:PORT ...: '%.*s' is not HOST:PORT",
                         (int)(i - start > 64 ? 64 : i - start), rest + start);
                return -EINVAL;
            }
            memcpy(a.path, rest + start, i - start);
            a.path[i - start] = 0;
            continue;
        }
        unsigned k = 5;
        for (unsigned j = 0; eq && j < 5; j++)
            if (strlen(keys[j]) == eq - start && memcmp(rest + start, keys[j], eq - start) == 0)
                k = j;
        int bad = k == 5 || (a.mig_has & (1u << k));
        char *text = k == CONTROL_MIG_KEY ? a.key : k == CONTROL_MIG_TO ? a.mig_to : NULL;
        size_t text_size = k == CONTROL_MIG_KEY ? sizeof(a.key) : sizeof(a.mig_to);
        if (!bad && text) {
            bad = i - eq - 1 == 0 || i - eq - 1 >= text_size;
            if (!bad) {
                memcpy(text, rest + eq + 1, i - eq - 1);
                text[i - eq - 1] = 0;
            }
        } else if (!bad) {
            bad = parse_number(rest + eq + 1, i - eq - 1, max[k], &a.mig[k]) < 0;
        }
        if (bad) {
            snprintf(why, why_size,
                     "migrate HOST:PORT [key=FILE] [bandwidth=MBPS] [max-downtime=MS] [max-rounds=N] [to=ID], each "
                     "at most once; '%.*s' is not one",
                     (int)(i - start > 64 ? 64 : i - start), rest + start);
            return -EINVAL;
        }
        a.mig_has |= 1u << k;
    }
    if (!nwords) {
        snprintf(why, why_size,
                 "migrate needs a destination: migrate HOST:PORT [key=FILE] [bandwidth=MBPS] "
                 "[max-downtime=MS] [max-rounds=N] [to=ID]");
        return -EINVAL;
    }
    if (args)
        *args = a;
    return 0;
}

int control_parse_args(const char *line, enum control_req *req, struct control_args *args, char *why, size_t why_size)
{
    size_t len = strlen(line), wlen;
    while (len && isspace((unsigned char)line[len - 1]))
        len--;
    while (len && isspace((unsigned char)*line))
        line++, len--;
    if (!len)
        return 1;
    /* A value carried by a line protocol never holds a control character (xenod refuses to
     * write one, docs/security.md): a path with an escape sequence or a newline would reach
     * logs, files and the next protocol. Blanks between words are spaces or tabs only. */
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)line[i];
        if ((c < 0x20 && c != '\t') || c == 0x7f) {
            snprintf(why, why_size, "control character (0x%02x) at byte %zu of the request", c, i);
            return -EINVAL;
        }
    }
    for (wlen = 0; wlen < len && !isspace((unsigned char)line[wlen]); wlen++)
        ;
    if (args)
        *args = (struct control_args){0};
    for (unsigned i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        if (strlen(names[i]) == wlen && memcmp(line, names[i], wlen) == 0) {
            if (i == CONTROL_MEM_SET) {
                if (parse_mem_set(line + wlen, len - wlen, args, why, why_size) < 0)
                    return -EINVAL;
            } else if (i == CONTROL_SAVE) {
                if (parse_save(line + wlen, len - wlen, args, why, why_size) < 0)
                    return -EINVAL;
            } else if (i == CONTROL_MIGRATE) {
                if (parse_migrate(line + wlen, len - wlen, args, why, why_size) < 0)
                    return -EINVAL;
            } else if (i == CONTROL_SCHED) {
                if (parse_sched(line + wlen, len - wlen, args, why, why_size) < 0)
                    return -EINVAL;
            } else if (wlen < len) {
                snprintf(why, why_size, "%s takes no arguments", names[i]);
                return -EINVAL;
            }
            *req = (enum control_req)i;
            return 0;
        }
    }
    snprintf(why, why_size,
             "unknown request '%.*s' (expected status, pause, unpause, shutdown, reboot, reset, destroy, sched, "
             "save, migrate, mem-set or cpu)",
             wlen > 64 ? 64 : (int)wlen, line);
    return -EINVAL;
}

int control_parse(const char *line, enum control_req *req, char *why, size_t why_size)
{
    return control_parse_args(line, req, NULL, why, why_size);
}
