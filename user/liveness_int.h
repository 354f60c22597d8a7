/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Inside the liveness checks: the batched reader both allocators' checks
 * use, and the glibc side's entry point.
 */
#ifndef LIVENESS_INT_H
#define LIVENESS_INT_H

#include <stdbool.h>
#include "liveness.h"

#define LV_USER_TOP	(1ull << 56)	/* user addresses are below (x86_64 LA57, arm64) */
#define LV_MAX_REQ	(1u << 20)	/* longest single range read */

/* One range to read from the target; id is the caller's. */
struct lv_req {
	uint64_t addr;
	uint32_t len;
	uint32_t id;
};

/*
 * Called once per request, in address order; data is NULL when the range
 * could not be read in full (part of it unmapped).
 */
typedef void (*lv_cb)(void *ctx, const struct lv_req *r, const uint8_t *data);

/*
 * Read n requests (sorted here, in place): overlapping and nearby ranges
 * become one remote iovec, up to 1024 iovecs a call. 0 or -errno (target
 * gone or not ours to read).
 */
int lv_read(pid_t pid, struct lv_req *r, size_t n, lv_cb cb, void *ctx,
	    struct live_stats *st);

/* Sort requests by address (LSD radix sort; tmp holds n, cnt LV_SORT_COUNTS). */
#define LV_SORT_COUNTS	(1u << 16)
void lv_sort(struct lv_req *r, struct lv_req *tmp, size_t n, size_t *cnt);

/*
 * The glibc chunks among b (those with kind LB_MALLOC, listed in idx[0..m)):
 * their verdicts. 0 or -errno.
 */
int lv_glibc(pid_t pid, const struct live_params *p, const struct live_block *b,
	     const uint32_t *idx, size_t m, uint8_t *verdict, struct live_stats *st);

#endif
