// SPDX-License-Identifier: GPL-2.0
/*
 * Small helpers at the bottom of the loader: sizes, counts and durations
 * as text, the monotonic clock, and the one-line error message.
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <time.h>
#include "fmt.h"

uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + ts.tv_nsec;
}

char *human_bytes(double b, char *buf, size_t len)
{
	static const char *unit[] = { "B", "KiB", "MiB", "GiB", "TiB" };
	double a = b < 0 ? -b : b;
	int i = 0;

	/* pick the unit after rounding to one decimal: 1048575 is 1.0 MiB */
	while (i < 4 && a >= 1024 - (i ? 0.05 : 0.5)) {
		a /= 1024;
		b /= 1024;
		i++;
	}
	if (i == 0)
		snprintf(buf, len, "%.0f B", b);
	else
		snprintf(buf, len, "%.1f %s", b, unit[i]);
	return buf;
}

char *thousands(uint64_t v, char *buf, size_t len)
{
	char tmp[32];
	int n = snprintf(tmp, sizeof(tmp), "%" PRIu64, v);
	size_t need = n + (n - 1) / 3, o = 0;

	if (!len)
		return buf;
	if (need + 1 > len) {		/* does not fit: no separators */
		snprintf(buf, len, "%s", tmp);
		return buf;
	}
	for (int i = 0; i < n; i++) {
		if (i && (n - i) % 3 == 0)
			buf[o++] = ',';
		buf[o++] = tmp[i];
	}
	buf[o] = 0;
	return buf;
}

char *signed_bytes(int64_t v, char *buf, size_t len)
{
	char b[32];

	snprintf(buf, len, "%s%s", v > 0 ? "+" : v < 0 ? "-" : "+",
		 human_bytes(v < 0 ? -(double)v : (double)v, b, sizeof(b)));
	return buf;
}

char *human_ns(uint64_t ns, char *buf, size_t len)
{
	if (ns < 1000000)
		snprintf(buf, len, "%.1f us", ns / 1e3);
	else if (ns < 1000000000)
		snprintf(buf, len, "%.2f ms", ns / 1e6);
	else
		snprintf(buf, len, "%.2f s", ns / 1e9);
	return buf;
}

int die(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "pyleakbpf: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	return 1;
}
