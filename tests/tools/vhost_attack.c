/* vhost_attack: a HOSTILE vhost-user front end for tests/integration/netback.sh. It listens
 * on a port's socket like a monitor, lets xeno-netback connect, and attacks it one way:
 *
 * usage: vhost_attack --socket PATH --mode MODE [--seal] [--seconds S] [--ready FILE]
 *
 *   unsealed  SET_MEM_TABLE with a memfd not sealed against shrinking. Prints
 *             `unsealed mem_table=accepted|refused dropped=0|1` (dropped: the backend closed
 *             the connection within 3 s).
 *   shrink    SET_MEM_TABLE with a memfd (sealed with F_SEAL_SHRINK with --seal), then
 *             ftruncate(fd, 0) and set both rings up in that memory, so that a backend that
 *             mapped it touches the vanished pages (SIGBUS before F_SEAL_SHRINK was
 *             required). Prints `shrink sealed=0|1 mem_table=.. ftruncate=ok|EPERM|..
 *             rings=ok|refused`.
 *   dribble   a valid SET_VRING_NUM (20 bytes) one byte per second. Prints `dribble sent=N
 *             dropped_after_ms=T` (-1: never dropped).
 *   garbage   on every connection for --seconds S (default 6), a header with a bad version;
 *             prints `garbage connections=N` (a quarantined front end gets few).
 *
 * Exit 0 when the attack ran (the test judges the output and the backend's health), 1 when
 * no backend connected within 20 s. */
#include "lib/err.h"
#include "proto/vhost_user.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define MEM_SIZE (1u << 20)
#define QSIZE 256u

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void die(const char *what)
{
    fprintf(stderr, "vhost_attack: %s: %s\n", what, errno ? strerror(errno) : "failed");
    exit(2);
}

/* The next connection from the backend within ms, or -1. */
static int accept_within(int lfd, int ms)
{
    struct pollfd p = {.fd = lfd, .events = POLLIN};
    if (poll(&p, 1, ms) <= 0)
        return -1;
    int s = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
    if (s >= 0)
        vhost_user_set_timeout(s, 3000);
    return s;
}

/* true when the backend closed the connection within ms. */
static bool closed_within(int s, int ms)
{
    int64_t end = now_ms() + ms;
    for (;;) {
        int64_t left = end - now_ms();
        if (left <= 0)
            return false;
        struct pollfd p = {.fd = s, .events = POLLIN};
        if (poll(&p, 1, (int)left) <= 0)
            continue;
        char c;
        ssize_t n = recv(s, &c, 1, MSG_DONTWAIT);
        if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR))
            return true;
    }
}

static int ack(int s, struct vhost_user_msg *m)
{
    m->hdr.flags |= VHOST_USER_FLAG_NEED_REPLY;
    return vhost_user_call(s, m, m);
}

/* Features and protocol features (REPLY_ACK), as a correct front end does. */
static int negotiate(int s)
{
    struct vhost_user_msg m;
    vhost_user_msg_init(&m, VHOST_USER_GET_FEATURES, 0);
    if (vhost_user_call(s, &m, &m) < 0)
        return -1;
    vhost_user_msg_u64(&m, VHOST_USER_SET_FEATURES, (1ull << VU_F_VERSION_1) | (1ull << VU_F_PROTOCOL_FEATURES));
    if (vhost_user_call(s, &m, &m) < 0)
        return -1;
    vhost_user_msg_u64(&m, VHOST_USER_SET_PROTOCOL_FEATURES, 1ull << VHOST_USER_PROTOCOL_F_REPLY_ACK);
    return vhost_user_call(s, &m, &m);
}

static int mem_table(int s, int fd, void *mem)
{
    struct vhost_user_msg m;
    vhost_user_msg_init(&m, VHOST_USER_SET_MEM_TABLE, 0);
    m.payload.memory.nregions = 1;
    m.payload.memory.regions[0] = (struct vhost_user_mem_region){
        .guest_phys_addr = 0, .memory_size = MEM_SIZE, .userspace_addr = (uint64_t)(uintptr_t)mem};
    m.hdr.size = 8 + sizeof(struct vhost_user_mem_region);
    m.fds[0] = fd;
    m.nfds = 1;
    return ack(s, &m);
}

/* Both rings of the device in the first pages of mem; the backend starts each at ENABLE. */
static int rings(int s, uint8_t *mem)
{
    for (uint32_t q = 0; q < 2; q++) {
        uint8_t *base = mem + q * 0x10000;
        struct vhost_user_msg m;
        vhost_user_msg_state(&m, VHOST_USER_SET_VRING_NUM, q, QSIZE);
        if (ack(s, &m) < 0)
            return -1;
        vhost_user_msg_init(&m, VHOST_USER_SET_VRING_ADDR, 0);
        m.payload.addr = (struct vhost_user_vring_addr){.index = q,
                                                        .desc_user_addr = (uint64_t)(uintptr_t)base,
                                                        .avail_user_addr = (uint64_t)(uintptr_t)(base + 0x4000),
                                                        .used_user_addr = (uint64_t)(uintptr_t)(base + 0x6000)};
        m.hdr.size = sizeof(m.payload.addr);
        if (ack(s, &m) < 0)
            return -1;
        vhost_user_msg_state(&m, VHOST_USER_SET_VRING_BASE, q, 0);
        if (ack(s, &m) < 0)
            return -1;
        int efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        vhost_user_msg_u64(&m, VHOST_USER_SET_VRING_KICK, q);
        m.fds[0] = efd;
        m.nfds = 1;
        int rc = ack(s, &m);
        close(efd);
        if (rc < 0)
            return -1;
        vhost_user_msg_state(&m, VHOST_USER_SET_VRING_ENABLE, q, 1);
        if (ack(s, &m) < 0)
            return -1;
    }
    return 0;
}

static void guest_memory(bool seal, int *fd, uint8_t **mem)
{
    *fd = memfd_create("vhost-attack-guest", MFD_CLOEXEC | MFD_ALLOW_SEALING);
    if (*fd < 0 || ftruncate(*fd, MEM_SIZE) < 0)
        die("memfd");
    if (seal && fcntl(*fd, F_ADD_SEALS, F_SEAL_SHRINK) < 0)
        die("F_ADD_SEALS");
    *mem = mmap(NULL, MEM_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, *fd, 0);
    if (*mem == MAP_FAILED)
        die("mmap");
}

static void attack_memory(int s, bool shrink, bool seal)
{
    int fd;
    uint8_t *mem;
    guest_memory(seal, &fd, &mem);
    bool accepted = negotiate(s) == 0 && mem_table(s, fd, mem) == 0;
    if (!shrink) {
        printf("unsealed mem_table=%s dropped=%d\n", accepted ? "accepted" : "refused", closed_within(s, 3000));
        return;
    }
    /* The attack: the file shrinks under whatever the backend mapped (our own mapping is
     * not touched again). */
    const char *tr = ftruncate(fd, 0) == 0 ? "ok" : errno == EPERM ? "EPERM" : strerror(errno);
    bool rings_ok = accepted && rings(s, mem) == 0;
    usleep(300000); /* the backend works on the rings it started */
    printf("shrink sealed=%d mem_table=%s ftruncate=%s rings=%s\n", seal, accepted ? "accepted" : "refused", tr,
           rings_ok ? "ok" : "refused");
}

static void attack_dribble(int s)
{
    struct vhost_user_msg m;
    vhost_user_msg_state(&m, VHOST_USER_SET_VRING_NUM, 0, QSIZE);
    const uint8_t *b = (const uint8_t *)&m;
    size_t len = sizeof(m.hdr) + sizeof(m.payload.state);
    int64_t t0 = now_ms();
    unsigned sent = 0;
    long dropped = -1;
    for (size_t i = 0; i < len && dropped < 0; i++) {
        if (send(s, b + i, 1, MSG_NOSIGNAL) != 1) {
            dropped = (long)(now_ms() - t0);
            break;
        }
        sent++;
        if (closed_within(s, 1000))
            dropped = (long)(now_ms() - t0);
    }
    if (dropped < 0 && closed_within(s, 3000))
        dropped = (long)(now_ms() - t0);
    printf("dribble sent=%u dropped_after_ms=%ld\n", sent, dropped);
}

static void attack_garbage(int lfd, int s, double seconds)
{
    unsigned n = 0;
    int64_t end = now_ms() + (int64_t)(seconds * 1000);
    while (s >= 0) {
        n++;
        struct vhost_user_msg m;
        vhost_user_msg_init(&m, VHOST_USER_GET_FEATURES, 0);
        m.hdr.flags = 0; /* version 0: a protocol violation */
        if (send(s, &m.hdr, sizeof(m.hdr), MSG_NOSIGNAL) < 0) {
        }
        closed_within(s, 1000);
        close(s);
        int64_t left = end - now_ms();
        s = left > 0 ? accept_within(lfd, (int)left) : -1;
    }
    printf("garbage connections=%u\n", n);
}

int main(int argc, char **argv)
{
    const char *path = NULL, *mode = NULL, *ready = NULL;
    bool seal = false;
    double seconds = 6;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : "";
        if (!strcmp(a, "--seal")) {
            seal = true;
            continue;
        }
        i++;
        if (!strcmp(a, "--socket"))
            path = v;
        else if (!strcmp(a, "--mode"))
            mode = v;
        else if (!strcmp(a, "--ready"))
            ready = v;
        else if (!strcmp(a, "--seconds"))
            seconds = atof(v);
        else
            die("usage (see the comment at the top of tests/tools/vhost_attack.c)");
    }
    if (!path || !mode || strlen(path) >= sizeof(((struct sockaddr_un *)0)->sun_path))
        die("--socket PATH --mode unsealed|shrink|dribble|garbage");
    int lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_un a = {.sun_family = AF_UNIX};
    snprintf(a.sun_path, sizeof(a.sun_path), "%s", path);
    unlink(path);
    if (lfd < 0 || bind(lfd, (struct sockaddr *)&a, sizeof(a)) < 0 || listen(lfd, 4) < 0)
        die("listen");
    if (ready) {
        FILE *f = fopen(ready, "w");
        if (f)
            fclose(f);
    }
    int s = accept_within(lfd, 20000);
    if (s < 0) {
        printf("%s no backend connected\n", mode);
        unlink(path);
        return 1;
    }
    if (!strcmp(mode, "unsealed") || !strcmp(mode, "shrink"))
        attack_memory(s, mode[0] == 's', seal);
    else if (!strcmp(mode, "dribble"))
        attack_dribble(s);
    else if (!strcmp(mode, "garbage"))
        attack_garbage(lfd, s, seconds);
    else
        die("unknown --mode");
    fflush(stdout);
    unlink(path);
    return 0;
}
