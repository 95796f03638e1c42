/*
 * reboot: asks for a reset through the i8042 (0xfe to port 0x64). The monitor must report
 * a reboot request (exit status 2). If the write had no effect, the kernel says so and
 * fails.
 */
#include "runtime.h"

const char test_title[] = "reboot: i8042 reset, the monitor must report a reboot";

void test_main(void)
{
    outb(0x64, 0xfe);
    /* A monitor handles the port write before the vCPU runs on; QEMU resets
     * asynchronously, so give it a moment. */
    for (volatile unsigned i = 0; i < 100000; i++)
        pause();
    test_fail("still running after the i8042 reset command");
}
