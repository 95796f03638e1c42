/*
 * stubborn: refuses the host's power-off requests (it prints "stubborn: refused the
 * power-off request" each time) but obeys reboot requests, so that a graceful shutdown
 * with a deadline can be seen to time out. Typing "poweroff" on the console ends it with
 * PASS.
 */
#include "runtime.h"

const char test_title[] = "stubborn: refuses power-off requests; type 'poweroff' to end it";

static bool refuse_power_off(enum power_request req)
{
    if (req != POWER_REQUEST_OFF)
        return true;
    printf("stubborn: refused the power-off request\n");
    return false;
}

void test_main(void)
{
    char line[64];

    power_request_set_hook(refuse_power_off);
    irq_init();
    console_input_init();
    for (;;) {
        console_readline(line, sizeof(line), false);
        if (!strcmp(line, "poweroff"))
            break;
        printf("stubborn: '%s' is not 'poweroff'\n", line);
    }
    test_pass();
}
