// SPDX-License-Identifier: GPL-2.0
/*
 * GC pauses: each EV_GC event from the ring buffer is recorded per
 * generation (count, collected, total, max, a log2 histogram and a uniform
 * sample of pauses for the percentiles).
 */
#include <stdlib.h>
#include "gcstats.h"
#include "pyleak.h"
#include "session.h"

int gc_hist_bucket(uint64_t ns)
{
	uint64_t us = ns / 1000;
	int b = 0;

	while (us > 1 && b < GC_HIST - 1) {
		us >>= 1;
		b++;
	}
	return b;
}

void gc_record(struct session *s, const struct event *ev)
{
	struct gc_gen_stats *g;

	if (ev->generation >= GC_GENERATIONS) {
		s->gc_other_generation++;
		return;
	}
	g = &s->gc[ev->generation];
	g->collections++;
	g->collected += ev->b;
	g->total_ns += ev->a;
	if (ev->a > g->max_ns)
		g->max_ns = ev->a;
	g->hist[gc_hist_bucket(ev->a)]++;
	if (!g->pauses) {
		g->pauses = calloc(GC_SAMPLES, sizeof(*g->pauses));
		if (!g->pauses)
			return;
	}
	if (g->npauses < GC_SAMPLES) {
		g->pauses[g->npauses++] = ev->a;
	} else {
		/* reservoir sampling keeps a uniform sample of all pauses */
		uint64_t j = ((uint64_t)random() << 31 ^ random()) % g->collections;

		if (j < GC_SAMPLES)
			g->pauses[j] = ev->a;
	}
}

uint64_t percentile(const uint64_t *sorted, size_t n, double p)
{
	size_t i;

	if (!n)
		return 0;
	/* nearest rank */
	i = (size_t)(p / 100.0 * n + 0.999999);
	if (i < 1)
		i = 1;
	if (i > n)
		i = n;
	return sorted[i - 1];
}
