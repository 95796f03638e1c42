/* The split virtqueue walker (src/vmm/virtio/virtqueue.c) over fake guest memory, the way
 * tests/unit/test_virtqueue.c builds it: a guest_mem over a plain buffer stands for guest RAM,
 * and the fuzzer writes the rings, the descriptors and the indirect tables, as a malicious
 * driver would. The first 8 bytes set the queue up (size, ring addresses inside or outside
 * RAM, features); the rest is copied into RAM at 0. Then chains are popped, read, written
 * and pushed back until the queue is empty or broken. ASan watches RAM's edges: no access
 * may fall outside it. */
#include "fuzz/fuzz.h"
#include "vmm/virtio/virtqueue.h"

#define RAM (64u * 1024)

static void on_error(void *opaque, struct virtq *vq, const char *msg)
{
    (void)opaque, (void)vq, (void)msg;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 8)
        return 0;
    static uint8_t *ram;
    if (!ram && !(ram = malloc(RAM)))
        abort();
    memset(ram, 0, RAM);
    size_t body = size - 8 < RAM ? size - 8 : RAM;
    memcpy(ram, data + 8, body);

    struct guest_mem mem;
    guest_mem_init_buffer(&mem, ram, RAM);
    struct virtq vq;
    virtq_init(&vq, &mem, 0, on_error, NULL);
    /* size: 1 << (0..15) mostly, any value sometimes; addresses in 16-byte steps over
     * RAM and a little beyond it. */
    uint16_t qsize = data[0] & 0x80 ? (uint16_t)(data[0] | data[1] << 8) : (uint16_t)(1u << (data[0] & 15));
    uint64_t desc = (uint64_t)data[2] << 8, avail = (uint64_t)data[3] << 8, used = (uint64_t)data[4] << 8;
    bool indirect = data[5] & 1, event_idx = data[5] & 2;
    if (virtq_setup(&vq, qsize, VIRTQ_MAX_SIZE, desc, avail, used, indirect, event_idx) < 0)
        return 0;
    static struct virtq_elem e;
    static uint8_t scratch[4096];
    for (unsigned i = 0; i < 512; i++) {
        int r = virtq_pop(&vq, &e);
        if (r <= 0)
            break;
        virtq_elem_read(&e, data[6], scratch, sizeof(scratch));
        size_t w = virtq_elem_write(&e, data[7], scratch, e.in_len < sizeof(scratch) ? e.in_len : sizeof(scratch));
        virtq_push(&vq, &e, (uint32_t)w);
        virtq_should_notify(&vq);
    }
    virtq_has_avail(&vq);
    return 0;
}
