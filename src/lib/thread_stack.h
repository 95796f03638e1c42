/* Stack size of the monitor's long-lived threads (vCPUs, the vCPU scheduler, the virtio I/O
 * thread, the vhost-user front end). glibc gives each thread RLIMIT_STACK (8 MiB here) of
 * address space and commit charge; a thousand idle monitors with four threads each would
 * reserve 32 GiB for stacks that touch about 12 KiB each. The deepest frame in src/vmm,
 * src/proto and src/lib is 16 KiB (gcc -fstack-usage, 2026-12-07: the console hub); 256 KiB
 * leaves a wide margin for call chains and libc. Sanitizer builds get 2 MiB, since ASan's
 * redzones multiply frame sizes. */
#ifndef XENO_LIB_THREAD_STACK_H
#define XENO_LIB_THREAD_STACK_H

#include <pthread.h>

#if defined(__SANITIZE_ADDRESS__)
#define THREAD_STACK_SIZE (2u << 20)
#else
#define THREAD_STACK_SIZE (256u << 10)
#endif

/* pthread_attr_init() and the stack size above. 0 or an errno value (not negated), as
 * pthread functions return; the caller destroys attr. */
int thread_attr_init_sized(pthread_attr_t *attr);

#endif
