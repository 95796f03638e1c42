#include "lib/mac_addr.h"

#include <errno.h>
#include <stdio.h>

#include "lib/err.h"

static int hex(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

int mac_addr_parse(const char *text, uint8_t mac[6])
{
    const char *p = text;
    uint8_t m[6];
    for (int i = 0; i < 6; i++) {
        int hi = hex(p[0]), lo = hi < 0 ? -1 : hex(p[1]);
        if (lo < 0 || (i < 5 && p[2] != ':') || (i == 5 && p[2] != '\0'))
            return err_set(EINVAL, "'%s' is not a MAC address (expected six hex bytes like 52:54:00:12:34:56)", text);
        m[i] = (uint8_t)(hi << 4 | lo);
        p += 3;
    }
    if (m[0] & 1)
        return err_set(EINVAL, "MAC address %s is a multicast address; a domain needs a unicast one", text);
    if (!(m[0] | m[1] | m[2] | m[3] | m[4] | m[5]))
        return err_set(EINVAL, "MAC address %s is all zeros", text);
    for (int i = 0; i < 6; i++)
        mac[i] = m[i];
    return 0;
}

void mac_addr_format(const uint8_t mac[6], char buf[MAC_ADDR_TEXT])
{
    snprintf(buf, MAC_ADDR_TEXT, "%02x:%02x:%02x:%02x:%02x:%02x", mac[0], mac[1], mac[2], mac[3], mac[4], mac[5]);
}
