// SPDX-License-Identifier: GPL-2.0
/*
 * Coverage: how much of the memory retained while tracing a report
 * attributes to stacks, from pymalloc's heap read from outside at the start
 * (the baseline) and at each report, against the blocks the hooks track.
 */
#include <stdlib.h>
#include "coverage.h"
#include "heapscan.h"
#include "probes.h"
#include "session.h"
#include "snapshot.h"
#include "target.h"

void coverage_baseline(struct session *s)
{
	struct heap_usage *h;

	if (s->plan->libc_malloc)
		return;		/* PYTHONMALLOC=malloc: no pymalloc heap */
	h = calloc(1, sizeof(*h));
	if (h && heapscan_pymalloc(s->t->pid, h)) {
		free(h);
		h = NULL;
	}
	free(s->heap0);
	s->heap0 = h;
}

void coverage_read(struct session *s, struct snapshot *snap)
{
	struct heap_usage now;

	if (!s->heap0 || s->target_exited || heapscan_pymalloc(s->t->pid, &now))
		return;
	snap->cov.heap_known = true;
	snap->cov.heap_now = now.bytes;
	snap->cov.heap_growth = (int64_t)now.bytes - (int64_t)s->heap0->bytes;
}

/* Share of the memory retained while tracing that the report attributes. */
double coverage_share(const struct coverage *c, double *small_share)
{
	double small_total, all;

	*small_share = -1;
	if (!c->heap_known)
		return -1;
	/* the heap may have shrunk elsewhere: tracked blocks are a floor */
	small_total = c->heap_growth > (int64_t)c->small_tracked ?
		      (double)c->heap_growth : (double)c->small_tracked;
	all = small_total + c->large_tracked;
	if (small_total >= 256 * 1024)
		*small_share = c->small_tracked / small_total;
	if (all < 256 * 1024)
		return -1;	/* too little retained to measure */
	return (c->small_tracked + c->large_tracked) / all;
}
