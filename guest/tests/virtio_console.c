/*
 * virtio_console: the second console channel. Writes a long message through
 * virtio-console (the host shows it where COM1's output goes), times the same amount of
 * text through the UART and through virtio, then prints the prompt
 * "virtio_console: type a line" and reads one line of host input from virtio-console
 * (while its driver listens, host input goes there and not to COM1) and echoes it back on
 * both channels. PASS when everything was taken by the device and the line arrived.
 */
#include "runtime.h"

const char test_title[] = "virtio_console: output and input over virtio-console";

#define MSG_LINES 256 /* 64-byte lines: 16 KiB per channel */
#define LINE_LEN 64

static char text[MSG_LINES * LINE_LEN];

static void make_text(const char *tag)
{
    for (unsigned i = 0; i < MSG_LINES; i++) {
        char *l = text + i * LINE_LEN;
        int n = snprintf(l, LINE_LEN, "%s %04u ", tag, i);
        for (int k = n; k < LINE_LEN - 1; k++)
            l[k] = (char)('a' + (i + (unsigned)k) % 26);
        l[LINE_LEN - 1] = '\n';
    }
}

static uint64_t rate_kbs(size_t bytes, uint64_t us)
{
    return us ? (uint64_t)bytes * 1000 / us : 0; /* bytes/us * 1000 = KB/s (1000-byte KB) */
}

void test_main(void)
{
    char line[128];

    if (!timer_init()) {
        test_skip("no clock");
        return;
    }
    if (!vcon_init()) {
        test_fail("no usable virtio-console device");
        return;
    }
    const char hello[] = "virtio_console: hello from virtio-console\n";
    vcon_write(hello, sizeof(hello) - 1);
    if (!vcon_flush(2000000))
        test_fail("virtio-console did not take the greeting");

    make_text("uart-line");
    uint64_t t0 = rdtsc();
    console_write(text, sizeof(text));
    uint64_t uart_us = tsc_to_us(rdtsc() - t0);

    make_text("virtio-line");
    t0 = rdtsc();
    vcon_write(text, sizeof(text));
    bool flushed = vcon_flush(5000000);
    uint64_t vio_us = tsc_to_us(rdtsc() - t0);
    if (!flushed)
        test_fail("virtio-console did not take %lu bytes within 5 s", (unsigned long)sizeof(text));

    printf("virtio_console: uart %lu bytes in %lu us (%lu KB/s); virtio %lu bytes in %lu us (%lu KB/s)\n",
           (unsigned long)sizeof(text), (unsigned long)uart_us, (unsigned long)rate_kbs(sizeof(text), uart_us),
           (unsigned long)sizeof(text), (unsigned long)vio_us, (unsigned long)rate_kbs(sizeof(text), vio_us));
    if (vio_us >= uart_us)
        printf("virtio_console: note: virtio was not faster than the UART here\n");

    /* Input: the prompt goes out on both channels; the host answers on virtio. */
    printf("virtio_console: type a line\n");
    const char prompt[] = "virtio_console: type a line (virtio)\n";
    vcon_write(prompt, sizeof(prompt) - 1);
    int n = vcon_readline(line, sizeof(line), 30000000);
    if (n < 0) {
        test_fail("no input line arrived on virtio-console within 30 s");
    } else {
        char out[192];
        int m = snprintf(out, sizeof(out), "virtio_console: got line '%s'\n", line);
        printf("%s", out);
        vcon_write(out, (size_t)m);
    }
    vcon_flush(2000000);
    if (virtio_status(vcon_device()) & VIRTIO_STATUS_NEEDS_RESET)
        test_fail("device reports NEEDS_RESET");
    test_pass();
}
