/*
 * Runtime start-up on vCPU 0 and test outcome reporting. entry.S calls runtime_start with
 * the physical address of hvm_start_info, on the boot stack, in long mode, interrupts off.
 */
#include "runtime.h"

enum result { RESULT_NONE, RESULT_PASS, RESULT_SKIP, RESULT_FAIL };

static volatile enum result result = RESULT_NONE;

static void set_result(enum result r)
{
    enum result old = result;

    /* Only ever move towards worse: FAIL beats SKIP beats PASS. */
    while (r > old && !__atomic_compare_exchange_n(&result, &old, r, false, __ATOMIC_SEQ_CST,
                                                   __ATOMIC_SEQ_CST))
        ;
}

void test_pass(void)
{
    set_result(RESULT_PASS);
}

static void report(const char *what, const char *fmt, va_list ap)
{
    char buf[256];

    vsnprintf(buf, sizeof(buf), fmt, ap);
    printf("%s: %s\n", what, buf);
}

void test_fail(const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    report("FAIL", fmt, ap);
    va_end(ap);
    set_result(RESULT_FAIL);
}

void test_skip(const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    report("SKIP", fmt, ap);
    va_end(ap);
    set_result(RESULT_SKIP);
}

noreturn void test_finish(void)
{
    static volatile int finishing;
    static const char *const words[] = {
        [RESULT_NONE] = "FAIL", [RESULT_PASS] = "PASS", [RESULT_SKIP] = "SKIP",
        [RESULT_FAIL] = "FAIL"};

    /* Exactly one result line, even if several vCPUs (or a fault) race here. */
    if (__atomic_exchange_n(&finishing, 1, __ATOMIC_SEQ_CST))
        halt_forever();
    if (result == RESULT_NONE)
        printf("FAIL: the test reported no result\n");
    printf("Test result: %s\n", words[result]);
    power_off();
}

void runtime_start(uint32_t start_info)
{
    percpu_init(0); /* first: the console and exception paths use this_cpu() */
    uart_init();
    idt_init();
    if (&test_console_crlf && test_console_crlf)
        console_set_crlf(true);
    printf("%s\n", test_title);
    pvh_init(start_info);
    paging_init();
    test_main();
    test_finish();
}
