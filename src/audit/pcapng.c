#include "audit/pcapng.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lib/err.h"

struct pcapng_writer {
    FILE *fp;
    uint32_t snaplen;
    uint64_t frames;
};

static int put(struct pcapng_writer *w, const void *p, size_t n)
{
    if (fwrite(p, 1, n, w->fp) != n)
        return err_set(EIO, "pcap-ng: write failed");
    return 0;
}

static int put32(struct pcapng_writer *w, uint32_t v)
{
    return put(w, &v, 4); /* host byte order: the section header's magic says which */
}

static int put_option(struct pcapng_writer *w, uint16_t code, const void *val, uint16_t len)
{
    static const uint8_t pad[4];
    uint16_t h[2] = {code, len};
    int rc = put(w, h, 4);
    if (rc == 0 && len)
        rc = put(w, val, len);
    if (rc == 0 && len % 4)
        rc = put(w, pad, 4 - len % 4);
    return rc;
}

static uint32_t opt_size(size_t len)
{
    return (uint32_t)(4 + (len + 3) / 4 * 4);
}

int pcapng_open(const char *path, uint32_t snaplen, struct pcapng_writer **out)
{
    *out = NULL;
    if (snaplen < 64 || snaplen > 65535)
        return err_set(EINVAL, "pcap-ng %s: snap length %u out of range 64..65535", path, snaplen);
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0)
        return err_set(errno, "pcap-ng %s: %s", path, strerror(errno));
    struct pcapng_writer *w = calloc(1, sizeof(*w));
    if (!w || !(w->fp = fdopen(fd, "w"))) {
        close(fd);
        free(w);
        return err_set(ENOMEM, "pcap-ng %s: out of memory", path);
    }
    w->snaplen = snaplen;
    /* Section Header Block: magic, version 1.0, section length unknown (-1). */
    static const char app[] = "xeno-netback audit";
    uint32_t shb_len = 28 + opt_size(sizeof(app) - 1) + 4;
    uint64_t unknown = UINT64_MAX;
    uint16_t ver[2] = {1, 0};
    int rc = put32(w, 0x0a0d0d0a);
    rc = rc ? rc : put32(w, shb_len);
    rc = rc ? rc : put32(w, 0x1a2b3c4d);
    rc = rc ? rc : put(w, ver, 4);
    rc = rc ? rc : put(w, &unknown, 8);
    rc = rc ? rc : put_option(w, 4 /* shb_userappl */, app, sizeof(app) - 1);
    rc = rc ? rc : put_option(w, 0, NULL, 0);
    rc = rc ? rc : put32(w, shb_len);
    /* Interface Description Block: Ethernet, the snap length, timestamps in ns. */
    uint8_t tsresol = 9;
    uint32_t idb_len = 16 + opt_size(1) + 4 + 4;
    uint16_t lt[2] = {1 /* LINKTYPE_ETHERNET */, 0};
    rc = rc ? rc : put32(w, 1);
    rc = rc ? rc : put32(w, idb_len);
    rc = rc ? rc : put(w, lt, 4);
    rc = rc ? rc : put32(w, snaplen);
    rc = rc ? rc : put_option(w, 9 /* if_tsresol */, &tsresol, 1);
    rc = rc ? rc : put_option(w, 0, NULL, 0);
    rc = rc ? rc : put32(w, idb_len);
    if (rc < 0) {
        pcapng_close(w);
        return err_set(EIO, "pcap-ng %s: writing the headers failed", path);
    }
    *out = w;
    return 0;
}

int pcapng_write(struct pcapng_writer *w, uint64_t ts_ns, const uint8_t *frame, size_t len, const char *comment)
{
    static const uint8_t pad[4];
    uint32_t cap = len > w->snaplen ? w->snaplen : (uint32_t)len;
    size_t clen = comment ? strnlen(comment, 1000) : 0;
    uint32_t blen = 32 + (cap + 3) / 4 * 4 + (clen ? opt_size(clen) + 4 : 0);
    uint32_t hdr[7] = {6, blen, 0, (uint32_t)(ts_ns >> 32), (uint32_t)ts_ns, cap, (uint32_t)len};
    int rc = put(w, hdr, sizeof(hdr));
    rc = rc ? rc : put(w, frame, cap);
    if (rc == 0 && cap % 4)
        rc = put(w, pad, 4 - cap % 4);
    if (rc == 0 && clen) {
        rc = put_option(w, 1 /* opt_comment */, comment, (uint16_t)clen);
        rc = rc ? rc : put_option(w, 0, NULL, 0);
    }
    rc = rc ? rc : put32(w, blen);
    if (rc == 0)
        w->frames++;
    return rc;
}

uint64_t pcapng_frames(const struct pcapng_writer *w)
{
    return w->frames;
}

int pcapng_close(struct pcapng_writer *w)
{
    if (!w)
        return 0;
    int rc = 0;
    if (fclose(w->fp) != 0)
        rc = err_set(errno, "pcap-ng: close: %s", strerror(errno));
    free(w);
    return rc;
}
