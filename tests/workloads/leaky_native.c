/* A C library that leaks: what a C extension's bug looks like from outside. */
#include <stdlib.h>
#include <string.h>

void *leak_buffer(size_t n)
{
	void *p = malloc(n);

	if (p)
		memset(p, 0x5a, n);
	return p;
}
