/* udp_sink: the listener behind the tap uplink in tests/integration/netback.sh. Binds UDP
 * PORT on all addresses, counts the numbered datagrams tests/tools/vhost_driver sends (magic
 * "XNBF", flow, sequence) until COUNT have arrived or nothing came for IDLE_MS, and prints
 * `udp_sink received=N duplicates=N reordered=N`. Exit 0 when COUNT arrived in order, once.
 * usage: udp_sink PORT COUNT IDLE_MS [READY_FILE] */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

int main(int argc, char **argv)
{
    if (argc < 4) {
        fprintf(stderr, "usage: udp_sink PORT COUNT IDLE_MS [READY_FILE]\n");
        return 2;
    }
    int port = atoi(argv[1]);
    uint64_t count = strtoull(argv[2], NULL, 10);
    int idle_ms = atoi(argv[3]);
    int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    int big = 8 << 20;
    /* Root in a test namespace: a buffer big enough that a burst is not dropped here. */
    if (setsockopt(s, SOL_SOCKET, SO_RCVBUFFORCE, &big, sizeof(big)) < 0)
        setsockopt(s, SOL_SOCKET, SO_RCVBUF, &big, sizeof(big));
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port), .sin_addr.s_addr = INADDR_ANY};
    if (s < 0 || bind(s, (struct sockaddr *)&a, sizeof(a)) < 0) {
        perror("udp_sink: bind");
        return 1;
    }
    if (argc > 4) {
        FILE *f = fopen(argv[4], "w");
        if (f)
            fclose(f);
    }
    uint64_t received = 0, dups = 0, reordered = 0, expect = 0;
    uint8_t buf[65536];
    while (received < count) {
        struct pollfd p = {.fd = s, .events = POLLIN};
        if (poll(&p, 1, idle_ms) <= 0)
            break;
        ssize_t n = recv(s, buf, sizeof(buf), 0);
        uint32_t magic;
        uint64_t seq;
        if (n < 16)
            continue;
        memcpy(&magic, buf, 4);
        memcpy(&seq, buf + 8, 8);
        if (magic != 0x584e4246u)
            continue;
        received++;
        if (seq == expect)
            expect++;
        else if (seq < expect)
            dups++;
        else {
            reordered++;
            expect = seq + 1;
        }
    }
    printf("udp_sink received=%llu duplicates=%llu reordered=%llu\n", (unsigned long long)received,
           (unsigned long long)dups, (unsigned long long)reordered);
    return received == count && !dups && !reordered ? 0 : 1;
}
