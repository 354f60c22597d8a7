/* SPDX-License-Identifier: GPL-2.0 */
/* Coverage: the share of the memory retained while tracing that is seen. */
#ifndef COVERAGE_H
#define COVERAGE_H

#include <stdbool.h>
#include <stdint.h>

struct session;
struct snapshot;

/* What the hooks saw of the memory retained while tracing (see coverage_share()). */
struct coverage {
	bool heap_known;		/* the pymalloc heap could be read */
	int64_t heap_growth;		/* pymalloc bytes in use: now - at start */
	uint64_t small_tracked;		/* outstanding pymalloc blocks we track, by size class */
	uint64_t small_blocks;		/* how many */
	uint64_t large_tracked;		/* outstanding blocks outside pymalloc we track */
	uint64_t heap_now;
};

/* Read pymalloc's heap now, as the baseline of the coverage estimate. */
void coverage_baseline(struct session *s);
/* The heap's growth since the baseline, into snap->cov. */
void coverage_read(struct session *s, struct snapshot *snap);
/* Share attributed to stacks, or -1 when too little was retained to tell. */
double coverage_share(const struct coverage *c, double *small_share);

#endif
