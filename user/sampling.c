// SPDX-License-Identifier: GPL-2.0
/*
 * --sample: the scale of a sampled report, from the pymalloc heap's growth
 * against the sampled blocks outstanding in it, applied to every figure of
 * a snapshot, and the error bound of a site's estimate.
 */
#include <math.h>
#include <string.h>
#include "sampling.h"
#include "session.h"
#include "snapshot.h"

/*
 * --sample: the windows see some unknown share f of the allocations (the
 * target runs far slower inside them, so it is not their share of the
 * time). The pymalloc heap, read from outside, grew by G while tracing;
 * the sampled blocks still outstanding in it hold S: f is taken as S / G,
 * and every sampled figure is scaled by k = G / S. The error is that of
 * the number of sampled blocks behind S (Poisson).
 */
void sample_scale(const struct session *s, const struct snapshot *snap,
			 struct sample_scale *out)
{
	const struct coverage *c = &snap->cov;

	memset(out, 0, sizeof(*out));
	out->k = out->f = 1;
	if (!s->sample.on)
		return;
	out->k = out->f = 0;
	out->growth = c->heap_growth;
	out->seen = c->small_tracked;
	out->seen_blocks = c->small_blocks;
	if (!c->heap_known || c->heap_growth <= 0 || !c->small_tracked ||
	    (uint64_t)c->heap_growth < c->small_tracked)
		return;
	out->k = (double)c->heap_growth / c->small_tracked;
	out->f = 1 / out->k;
	out->f_rel_err = 1 / sqrt((double)c->small_blocks);
}

/* Sampled counts -> estimates for the whole target. */
void sample_apply(struct snapshot *snap)
{
	double k = snap->scale.k;

	for (size_t i = 0; i < snap->n; i++) {
		struct site *si = &snap->sites[i];

		si->sampled = si->out_count > 0 ? si->out_count : 0;
		si->out_bytes = llround(si->out_bytes * k);
		si->out_count = llround(si->out_count * k);
		si->total_bytes = llround(si->total_bytes * k);
		si->total_count = llround(si->total_count * k);
		si->gc_bytes = llround(si->gc_bytes * k);
		si->gc_count = llround(si->gc_count * k);
		for (int j = 0; j < si->ntypes; j++) {
			si->types[j].count = llround(si->types[j].count * k);
			si->types[j].bytes = llround(si->types[j].bytes * k);
		}
	}
	for (size_t i = 0; i < snap->ntypes; i++) {
		snap->types[i].count = llround(snap->types[i].count * k);
		snap->types[i].bytes = llround(snap->types[i].bytes * k);
	}
	snap->cov.small_tracked = llround(snap->cov.small_tracked * k);
	snap->cov.large_tracked = llround(snap->cov.large_tracked * k);
}

/* 95% bound of a site's estimate, relative. */
double site_err95(const struct snapshot *snap, const struct site *si)
{
	double r = snap->scale.f_rel_err * snap->scale.f_rel_err;

	if (si->sampled)
		r += 1.0 / si->sampled;
	return 1.96 * sqrt(r);
}
