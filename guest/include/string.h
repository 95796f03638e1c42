/*
 * The few libc string functions the runtime provides (runtime/string.c). gcc may emit
 * calls to memcpy/memset/memmove/memcmp even in freestanding code, so these must exist.
 */
#ifndef GUEST_STRING_H
#define GUEST_STRING_H

#include <stddef.h>

void *memcpy(void *restrict dst, const void *restrict src, size_t n);
void *memmove(void *dst, const void *src, size_t n);
void *memset(void *dst, int c, size_t n);
int memcmp(const void *a, const void *b, size_t n);
size_t strlen(const char *s);
int strcmp(const char *a, const char *b);
int strncmp(const char *a, const char *b, size_t n);
/* Parses an unsigned decimal (or 0x-prefixed hex) number; *end points past it. */
unsigned long strtoul(const char *s, const char **end, int base);

#endif
