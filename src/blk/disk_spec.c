#include "blk/disk_spec.h"

#include "blk/blk_qos.h"

#include "lib/err.h"
#include "lib/parse.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static bool name_ok(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > 31)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '_' || s[i] == '-'))
            return false;
    return true;
}

static bool serial_ok(const char *s)
{
    if (strlen(s) > BLK_SERIAL_MAX)
        return false;
    for (; *s; s++)
        if (*s < 0x21 || *s > 0x7e)
            return false;
    return true;
}

/* One word key=value (or a bare flag) into out. */
static int word(char *w, struct blk_disk_config *out)
{
    char *eq = strchr(w, '=');
    if (!eq) {
        if (!strcmp(w, "readonly")) {
            out->readonly = true;
            return 0;
        }
        return err_set(EINVAL, "--disk: unknown word '%.40s'", w);
    }
    *eq = 0;
    const char *k = w, *v = eq + 1;
    if (!strcmp(k, "name")) {
        if (!name_ok(v))
            return err_set(EINVAL, "--disk: name '%.40s' (1-31 of a-z 0-9 _ -)", v);
        snprintf(out->name, sizeof(out->name), "%s", v);
    } else if (!strcmp(k, "socket")) {
        if (!v[0] || strlen(v) >= sizeof(out->socket))
            return err_set(EINVAL, "--disk: socket path empty or longer than %zu", sizeof(out->socket) - 1);
        snprintf(out->socket, sizeof(out->socket), "%s", v);
    } else if (!strcmp(k, "file")) {
        if (!v[0] || v[0] == '/' || strlen(v) >= sizeof(out->file))
            return err_set(EINVAL, "--disk: file '%.60s' (a name relative to --image-dir)", v);
        snprintf(out->file, sizeof(out->file), "%s", v);
    } else if (!strcmp(k, "serial")) {
        if (!serial_ok(v))
            return err_set(EINVAL, "--disk: serial (at most %d printable characters, no spaces)", BLK_SERIAL_MAX);
        snprintf(out->serial, sizeof(out->serial), "%s", v);
    } else if (!strcmp(k, "queues")) {
        uint64_t q;
        if (parse_u64_range(v, 1, BLK_MAX_QUEUES, &q) < 0)
            return err_set(EINVAL, "--disk: queues '%.20s' (1..%u)", v, BLK_MAX_QUEUES);
        out->queues = (unsigned)q;
    } else {
        int q = blk_qos_word(&out->qos, k, v);
        if (q == 1)
            return err_set(EINVAL, "--disk: unknown word '%.40s'", k);
        return q;
    }
    return 0;
}

int blk_disk_spec_parse(const char *text, struct blk_disk_config *out)
{
    memset(out, 0, sizeof(*out));
    out->queues = 1;
    char *copy = strdup(text);
    if (!copy)
        return err_set(ENOMEM, "--disk: out of memory");
    int rc = 0;
    char *save = NULL;
    for (char *w = strtok_r(copy, ",", &save); w && rc == 0; w = strtok_r(NULL, ",", &save))
        rc = word(w, out);
    free(copy);
    if (rc == 0 && (!out->name[0] || !out->socket[0] || !out->file[0]))
        rc = err_set(EINVAL, "--disk: name=, socket= and file= are needed");
    if (rc == 0) {
        char what[48];
        snprintf(what, sizeof(what), "--disk %s", out->name);
        rc = blk_qos_check(&out->qos, what);
    }
    return rc;
}
