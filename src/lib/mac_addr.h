/* Ethernet (MAC) addresses as text: the monitor's --net option, the domain XML's <mac>. */
#ifndef XENO_LIB_MAC_ADDR_H
#define XENO_LIB_MAC_ADDR_H

#include <stdint.h>

#define MAC_ADDR_TEXT 18 /* "52:54:00:12:34:56" and the NUL */

/* Six two-digit hex bytes separated by ':' ("52:54:00:12:34:56", either case) -> mac.
 * A guest's address must be unicast and not all zeros (frames from a multicast source
 * are invalid): anything else is -EINVAL with a message naming the text. */
int mac_addr_parse(const char *text, uint8_t mac[6]);
/* Lowercase "52:54:00:12:34:56" into buf (MAC_ADDR_TEXT bytes). */
void mac_addr_format(const uint8_t mac[6], char buf[MAC_ADDR_TEXT]);

#endif
