#include "lib/thread_stack.h"

int thread_attr_init_sized(pthread_attr_t *attr)
{
    int e = pthread_attr_init(attr);
    if (e)
        return e;
    e = pthread_attr_setstacksize(attr, THREAD_STACK_SIZE);
    if (e)
        pthread_attr_destroy(attr);
    return e;
}
