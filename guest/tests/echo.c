/*
 * echo: reads console lines (interrupt-driven UART input) and prints each back as
 * "echo: <line>". The line "quit" ends the test with PASS; there is no other way to end
 * it, so a lost interrupt shows up as a test timeout.
 */
#include "runtime.h"

const char test_title[] = "echo: type lines, \"quit\" to finish";

void test_main(void)
{
    char line[256];
    unsigned lines = 0;

    irq_init();
    console_input_init();
    for (;;) {
        console_readline(line, sizeof(line), false);
        if (!strcmp(line, "quit"))
            break;
        printf("echo: %s\n", line);
        lines++;
    }
    printf("echo: %u lines echoed\n", lines);
    test_pass();
}
