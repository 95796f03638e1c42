/* The vhost-user protocol (QEMU docs/interop/vhost-user.rst), shared by both ends: the
 * monitor's front end (src/vmm, the socket server) and xeno-netback (src/net, the backend,
 * which connects to each monitor's socket), and by the test driver tests/tools/vhost_driver.c.
 *
 * Wire format: a 12-byte header (request, flags, size) then `size` bytes of payload, native
 * endianness; file descriptors travel as SCM_RIGHTS ancillary data with the header. Both
 * directions use the same message layout; a reply carries the request code of the request it
 * answers and VHOST_USER_FLAG_REPLY.
 *
 * Everything received is untrusted: vhost_user_recv() checks the version, the payload size
 * (exactly what the request code needs, or at most VHOST_USER_MAX_PAYLOAD for codes it does
 * not know) and the number of fds (exactly what the request needs; extra fds are closed and
 * the message refused), and the counts inside payloads (memory regions, inflight queues).
 * Guest addresses inside a valid message are still to be checked against the memory table by
 * whoever uses them.
 *
 * Sockets: both ends set a receive timeout (vhost_user_set_timeout) so a peer that sends half
 * a message cannot hang the other end's event loop. vhost_user_recv takes that timeout as the
 * budget of the WHOLE message (header, fds and payload, from the call on), not of each read:
 * a peer that dribbles a byte just within a per-read timeout cannot stretch one message. */
#ifndef XENO_PROTO_VHOST_USER_H
#define XENO_PROTO_VHOST_USER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ---- header ---- */

#define VHOST_USER_VERSION 0x1u
#define VHOST_USER_FLAG_VERSION_MASK 0x3u
#define VHOST_USER_FLAG_REPLY (1u << 2)
#define VHOST_USER_FLAG_NEED_REPLY (1u << 3) /* with REPLY_ACK: answer with a u64 status */

struct vhost_user_hdr {
    uint32_t request;
    uint32_t flags;
    uint32_t size; /* payload bytes after the header */
} __attribute__((packed));

/* Front end -> backend requests (the "front-end message types" of the spec). */
enum vhost_user_request {
    VHOST_USER_NONE = 0,
    VHOST_USER_GET_FEATURES = 1,
    VHOST_USER_SET_FEATURES = 2,
    VHOST_USER_SET_OWNER = 3,
    VHOST_USER_RESET_OWNER = 4,
    VHOST_USER_SET_MEM_TABLE = 5,
    VHOST_USER_SET_LOG_BASE = 6,
    VHOST_USER_SET_LOG_FD = 7,
    VHOST_USER_SET_VRING_NUM = 8,
    VHOST_USER_SET_VRING_ADDR = 9,
    VHOST_USER_SET_VRING_BASE = 10,
    VHOST_USER_GET_VRING_BASE = 11,
    VHOST_USER_SET_VRING_KICK = 12,
    VHOST_USER_SET_VRING_CALL = 13,
    VHOST_USER_SET_VRING_ERR = 14,
    VHOST_USER_GET_PROTOCOL_FEATURES = 15,
    VHOST_USER_SET_PROTOCOL_FEATURES = 16,
    VHOST_USER_GET_QUEUE_NUM = 17,
    VHOST_USER_SET_VRING_ENABLE = 18,
    VHOST_USER_SEND_RARP = 19,
    VHOST_USER_NET_SET_MTU = 20,
    VHOST_USER_SET_BACKEND_REQ_FD = 21,
    VHOST_USER_IOTLB_MSG = 22,
    VHOST_USER_SET_VRING_ENDIAN = 23,
    VHOST_USER_GET_CONFIG = 24,
    VHOST_USER_SET_CONFIG = 25,
    VHOST_USER_CREATE_CRYPTO_SESSION = 26,
    VHOST_USER_CLOSE_CRYPTO_SESSION = 27,
    VHOST_USER_POSTCOPY_ADVISE = 28,
    VHOST_USER_POSTCOPY_LISTEN = 29,
    VHOST_USER_POSTCOPY_END = 30,
    VHOST_USER_GET_INFLIGHT_FD = 31,
    VHOST_USER_SET_INFLIGHT_FD = 32,
    VHOST_USER_GPU_SET_SOCKET = 33,
    VHOST_USER_RESET_DEVICE = 34,
    VHOST_USER_VRING_KICK = 35,
    VHOST_USER_GET_MAX_MEM_SLOTS = 36,
    VHOST_USER_ADD_MEM_REG = 37,
    VHOST_USER_REM_MEM_REG = 38,
    VHOST_USER_SET_STATUS = 39,
    VHOST_USER_GET_STATUS = 40,
    VHOST_USER_REQUEST_MAX
};

/* Protocol feature bits (GET/SET_PROTOCOL_FEATURES). */
#define VHOST_USER_PROTOCOL_F_MQ 0
#define VHOST_USER_PROTOCOL_F_LOG_SHMFD 1
#define VHOST_USER_PROTOCOL_F_RARP 2
#define VHOST_USER_PROTOCOL_F_REPLY_ACK 3
#define VHOST_USER_PROTOCOL_F_NET_MTU 4
#define VHOST_USER_PROTOCOL_F_BACKEND_REQ 5
#define VHOST_USER_PROTOCOL_F_CROSS_ENDIAN 6
#define VHOST_USER_PROTOCOL_F_CRYPTO_SESSION 7
#define VHOST_USER_PROTOCOL_F_PAGEFAULT 8
#define VHOST_USER_PROTOCOL_F_CONFIG 9
#define VHOST_USER_PROTOCOL_F_BACKEND_SEND_FD 10
#define VHOST_USER_PROTOCOL_F_HOST_NOTIFIER 11
#define VHOST_USER_PROTOCOL_F_INFLIGHT_SHMFD 12
#define VHOST_USER_PROTOCOL_F_RESET_DEVICE 13
#define VHOST_USER_PROTOCOL_F_INBAND_NOTIFICATIONS 14
#define VHOST_USER_PROTOCOL_F_CONFIGURE_MEM_SLOTS 15
#define VHOST_USER_PROTOCOL_F_STATUS 16

/* Virtio feature bits that matter to a vhost-user net device (GET/SET_FEATURES). Prefixed
 * VU_ so they do not collide with src/vmm/virtio/virtqueue.h's names for the same bits. */
#define VU_NET_F_MAC 5
#define VU_NET_F_MRG_RXBUF 15
#define VU_NET_F_STATUS 16
#define VU_F_NOTIFY_ON_EMPTY 24
#define VU_F_LOG_ALL 26 /* VHOST_F_LOG_ALL: the backend logs its guest-memory writes (SET_LOG_BASE) */
#define VU_F_INDIRECT_DESC 28
#define VU_F_EVENT_IDX 29
#define VU_F_PROTOCOL_FEATURES 30 /* vhost-user's own bit: GET_PROTOCOL_FEATURES exists */
#define VU_F_VERSION_1 32

/* What xeno-netback offers and the front end should accept: version 1 (12-byte virtio-net
 * header), the protocol-features bit. No mergeable buffers, indirect descriptors or event
 * index (every buffer is a plain chain; notifications use the flags fields). */
#define VHOST_USER_NET_FEATURES ((1ull << VU_F_VERSION_1) | (1ull << VU_F_PROTOCOL_FEATURES))
#define VHOST_USER_NET_PROTOCOL_FEATURES                                                                               \
    ((1ull << VHOST_USER_PROTOCOL_F_REPLY_ACK) | (1ull << VHOST_USER_PROTOCOL_F_INFLIGHT_SHMFD))

/* The virtio-net header with VERSION_1 (num_buffers always present): 12 bytes in front of
 * every frame in both directions. */
struct virtio_net_hdr_v1 {
    uint8_t flags;
    uint8_t gso_type;
    uint16_t hdr_len;
    uint16_t gso_size;
    uint16_t csum_start;
    uint16_t csum_offset;
    uint16_t num_buffers;
} __attribute__((packed));
_Static_assert(sizeof(struct virtio_net_hdr_v1) == 12, "virtio-net header is 12 bytes");

/* A virtio-net device has queue 0 = receiveq (backend -> guest), 1 = transmitq. */
#define VHOST_USER_NET_RXQ 0
#define VHOST_USER_NET_TXQ 1
#define VHOST_USER_NET_NQUEUES 2

/* ---- payloads ---- */

/* SET_VRING_NUM, SET_VRING_BASE, GET_VRING_BASE (reply), SET_VRING_ENABLE. */
struct vhost_user_vring_state {
    uint32_t index;
    uint32_t num;
};

/* SET_VRING_ADDR: addresses are in the FRONT END's virtual address space (the
 * userspace_addr column of the memory table), not guest-physical. */
#define VHOST_USER_VRING_F_LOG 1u
struct vhost_user_vring_addr {
    uint32_t index;
    uint32_t flags;
    uint64_t desc_user_addr;
    uint64_t used_user_addr;
    uint64_t avail_user_addr;
    uint64_t log_guest_addr;
};

/* SET_VRING_KICK / SET_VRING_CALL / SET_VRING_ERR: a u64 whose low byte is the queue index;
 * bit 8 set means no fd is attached (polling / no notification). */
#define VHOST_USER_VRING_IDX_MASK 0xffull
#define VHOST_USER_VRING_NOFD_MASK (1ull << 8)

/* SET_LOG_BASE with PROTOCOL_F_LOG_SHMFD: the dirty log, a bitmap of guest-physical pages
 * (bit p % 8 of byte p / 8 for the page at p * 4096), `mmap_size` bytes at `mmap_offset` in
 * the fd that comes with it. The backend sets the bit of every page it writes while
 * VU_F_LOG_ALL is negotiated; the front end clears the bits it has collected. The backend
 * answers with an empty reply of the same request once the log is in use (what QEMU waits
 * for). */
#define VHOST_LOG_PAGE 4096u
struct vhost_user_log {
    uint64_t mmap_size;
    uint64_t mmap_offset;
};

/* SET_MEM_TABLE: one fd per region, in order. */
#define VHOST_USER_MAX_REGIONS 8
struct vhost_user_mem_region {
    uint64_t guest_phys_addr;
    uint64_t memory_size;
    uint64_t userspace_addr; /* where the front end mapped it: vring addresses use this */
    uint64_t mmap_offset;    /* offset of the region in its fd */
};
struct vhost_user_mem_table {
    uint32_t nregions;
    uint32_t padding;
    struct vhost_user_mem_region regions[VHOST_USER_MAX_REGIONS];
};

/* GET_INFLIGHT_FD (request: num_queues, queue_size; reply: all fields + one fd) and
 * SET_INFLIGHT_FD (all fields + the fd). The region's layout belongs to the backend (it
 * creates the memfd); the front end keeps the fd for the life of the device and gives it
 * back to every new backend connection, and must not touch its contents. */
struct vhost_user_inflight {
    uint64_t mmap_size;
    uint64_t mmap_offset;
    uint16_t num_queues;
    uint16_t queue_size;
    uint32_t padding; /* QEMU sends the struct with its trailing padding: 24 bytes */
};
_Static_assert(sizeof(struct vhost_user_inflight) == 24, "inflight payload is 24 bytes");

/* The spec's split-ring inflight format (one per queue in the inflight region). The backend
 * sets desc[head].inflight when it takes a chain and clears it after the used entry is
 * published; used_idx is its shadow of the used ring's idx; counter orders the in-flight
 * chains for resubmission. xeno-netback extends each entry after this layout (docs/netback.md). */
struct vhost_user_inflight_desc_split {
    uint8_t inflight;
    uint8_t padding[5];
    uint16_t next;
    uint64_t counter;
};
struct vhost_user_inflight_split_queue {
    uint64_t features;
    uint16_t version;
    uint16_t desc_num;
    uint16_t last_batch_head;
    uint16_t used_idx;
    /* struct vhost_user_inflight_desc_split desc[desc_num]; */
};

/* GET_CONFIG (request and reply) and SET_CONFIG: a window of `size` bytes at `offset` in the
 * device's config space (the virtio config, e.g. struct virtio_blk_config), then those bytes.
 * A GET_CONFIG reply has the request's size; a reply with no payload at all says the backend
 * refused (the spec: "zero length of payload"). */
#define VHOST_USER_CONFIG_HDR_SIZE 12u
#define VHOST_USER_MAX_CONFIG_SIZE 256u
#define VHOST_USER_CONFIG_F_FRONTEND 0u  /* flags: the guest wrote it */
#define VHOST_USER_CONFIG_F_MIGRATION 1u /* flags: restored by a migration */
struct vhost_user_config {
    uint32_t offset;
    uint32_t size;
    uint32_t flags;
    uint8_t region[VHOST_USER_MAX_CONFIG_SIZE];
};

/* Largest payload either end accepts (SET_MEM_TABLE is the largest standard one). */
#define VHOST_USER_MAX_PAYLOAD 4096u
/* Largest number of fds in one message (SET_MEM_TABLE: one per region). */
#define VHOST_USER_MAX_FDS VHOST_USER_MAX_REGIONS

struct vhost_user_msg {
    struct vhost_user_hdr hdr;
    union {
        uint64_t u64;
        struct vhost_user_vring_state state;
        struct vhost_user_vring_addr addr;
        struct vhost_user_mem_table memory;
        struct vhost_user_inflight inflight;
        struct vhost_user_log log;
        struct vhost_user_config config;
        uint8_t raw[VHOST_USER_MAX_PAYLOAD];
    } payload;
    /* Not on the wire: the fds that came with (or go with) the message. After a successful
     * vhost_user_recv the receiver owns them (vhost_user_msg_close_fds). */
    int fds[VHOST_USER_MAX_FDS];
    unsigned nfds;
};

/* ---- helpers ---- */

/* "GET_FEATURES", ... or "UNKNOWN" for messages and logs. */
const char *vhost_user_request_name(uint32_t request);

/* A fresh request: header set (version 1, `flags` or'ed in), payload zero, no fds. */
void vhost_user_msg_init(struct vhost_user_msg *m, uint32_t request, uint32_t flags);
/* Shorthands that also set the payload and its size. */
void vhost_user_msg_u64(struct vhost_user_msg *m, uint32_t request, uint64_t value);
void vhost_user_msg_state(struct vhost_user_msg *m, uint32_t request, uint32_t index, uint32_t num);
/* Turns a received request into its reply: same request code, REPLY flag, no fds. The caller
 * then fills the payload and size (or uses vhost_user_msg_u64-like assignments). */
void vhost_user_msg_make_reply(struct vhost_user_msg *m);
/* Closes the fds the message holds (after vhost_user_recv, whatever was not taken). A taken
 * fd should be set to -1 in m->fds. */
void vhost_user_msg_close_fds(struct vhost_user_msg *m);

/* Sets SO_RCVTIMEO and SO_SNDTIMEO on `sock` (ms): a message half sent stalls nobody long.
 * The receive timeout is what vhost_user_recv allows one whole message. */
int vhost_user_set_timeout(int sock, unsigned ms);

/* Sends the header, hdr.size payload bytes and m->fds[0..nfds) as SCM_RIGHTS. 0 or -errno
 * (-EPIPE / -ECONNRESET when the peer is gone). MSG_NOSIGNAL: no SIGPIPE. */
int vhost_user_send(int sock, const struct vhost_user_msg *m);

/* Receives one message and validates it (vhost_user_msg_check). 0; -ECONNRESET when the peer
 * closed the socket before a header; -EPROTO (message in err_msg) for a malformed message,
 * whose fds are then already closed; other -errno from the socket (-EAGAIN: the whole message
 * did not arrive within the socket's receive timeout, counted from this call).
 * `from_backend`: the message is a reply from a backend (checked as a reply) rather than a
 * request from a front end. */
int vhost_user_recv(int sock, struct vhost_user_msg *m, bool from_backend);

/* The checks vhost_user_recv applies, for messages built elsewhere: version bits, payload size
 * for the request code, fd count, counts within the payload. -EPROTO with a message. */
int vhost_user_msg_check(const struct vhost_user_msg *m, bool from_backend);

/* Front-end side round trip: sends `req`; if the request has a reply (GET_*) or carries
 * NEED_REPLY, receives it into `reply` (which may be `req`) and checks it answers `req`. A
 * REPLY_ACK u64 that is not 0 becomes -EIO. */
int vhost_user_call(int sock, struct vhost_user_msg *req, struct vhost_user_msg *reply);

/* True for requests the backend answers whatever the flags (GET_FEATURES,
 * GET_PROTOCOL_FEATURES, GET_VRING_BASE, GET_QUEUE_NUM, GET_INFLIGHT_FD, GET_CONFIG,
 * GET_MAX_MEM_SLOTS, GET_STATUS). */
bool vhost_user_request_has_reply(uint32_t request);

/* ---- split virtqueue layout in guest memory (virtio 1.x, 2.6) ---- */

#define VU_DESC_F_NEXT 1
#define VU_DESC_F_WRITE 2
#define VU_DESC_F_INDIRECT 4
#define VU_AVAIL_F_NO_INTERRUPT 1
#define VU_USED_F_NO_NOTIFY 1
#define VU_MAX_QUEUE_SIZE 32768u

struct vu_desc {
    uint64_t addr;
    uint32_t len;
    uint16_t flags;
    uint16_t next;
};
struct vu_avail {
    uint16_t flags;
    uint16_t idx;
    uint16_t ring[]; /* queue size entries */
};
struct vu_used_elem {
    uint32_t id;
    uint32_t len;
};
struct vu_used {
    uint16_t flags;
    uint16_t idx;
    struct vu_used_elem ring[]; /* queue size entries */
};

/* Bytes of each part for a queue of `num` entries, without the event-index fields (with
 * VU_F_EVENT_IDX the avail and the used ring are 2 bytes longer: src/vhost/vring.c). */
static inline size_t vu_desc_bytes(unsigned num)
{
    return 16u * num;
}
static inline size_t vu_avail_bytes(unsigned num)
{
    return 4u + 2u * num;
}
static inline size_t vu_used_bytes(unsigned num)
{
    return 4u + 8u * num;
}

#endif
