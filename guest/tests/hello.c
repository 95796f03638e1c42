/*
 * hello: the smallest kernel. It proves the boot path (PVH entry, long mode, console,
 * power-off) and is what the boot-time benchmark boots, so it does nothing else.
 */
#include "runtime.h"

const char test_title[] = "Hello from a XenoServer guest!";

void test_main(void)
{
    test_pass();
}
