/* xeno-netback: placeholder until the backend lands (see src/net/README.md). */
#include <stdio.h>
int main(void)
{
    fprintf(stderr, "xeno-netback: not built yet\n");
    return 1;
}
