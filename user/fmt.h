/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Small helpers at the bottom of the loader: numbers as people read them
 * (sizes, counts, durations), the monotonic clock, and the one-line error.
 * They use nothing else of the project.
 */
#ifndef FMT_H
#define FMT_H

#include <stddef.h>
#include <stdint.h>

/* "1.2 MiB" */
char *human_bytes(double b, char *buf, size_t len);
/* "+1.2 MiB", "-3 B" */
char *signed_bytes(int64_t v, char *buf, size_t len);
/* "1,234,567" */
char *thousands(uint64_t v, char *buf, size_t len);
/* "12.3 us", "4.56 ms", "7.89 s" */
char *human_ns(uint64_t ns, char *buf, size_t len);
/* CLOCK_MONOTONIC in ns, as bpf_ktime_get_ns */
uint64_t now_ns(void);
/* "pyleakbpf: <message>" on stderr; returns 1, the exit status */
int die(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
