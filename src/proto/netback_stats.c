#include "proto/netback_stats.h"

static const char *const drop_names[NET_DROP__COUNT] = {
    [NET_DROP_NONE] = "none",
    [NET_DROP_MALFORMED] = "malformed",
    [NET_DROP_SRC_MAC] = "src-mac",
    [NET_DROP_SRC_MULTICAST] = "src-multicast",
    [NET_DROP_VLAN] = "vlan",
    [NET_DROP_ETHERTYPE] = "ethertype",
    [NET_DROP_IPV4_SRC] = "ipv4-src",
    [NET_DROP_IPV4_UNCONFIGURED] = "ipv4-unconfigured",
    [NET_DROP_ARP_SENDER_MAC] = "arp-sender-mac",
    [NET_DROP_ARP_SENDER_IP] = "arp-sender-ip",
    [NET_DROP_IPV6_UNCONFIGURED] = "ipv6-unconfigured",
    [NET_DROP_IPV6_SRC] = "ipv6-src",
    [NET_DROP_ND_SPOOF] = "nd-spoof",
    [NET_DROP_UPLINK_LOCAL_SRC] = "uplink-local-src",
    [NET_DROP_NO_DESTINATION] = "no-destination",
    [NET_DROP_QOS] = "qos",
    [NET_DROP_NO_BUFFER] = "no-buffer",
    [NET_DROP_AUDIT] = "audit",
};

const char *net_drop_reason_name(enum net_drop_reason r)
{
    if ((unsigned)r >= NET_DROP__COUNT)
        return "unknown";
    return drop_names[r];
}
