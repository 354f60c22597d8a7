/* SPDX-License-Identifier: GPL-2.0 */
/* --sample: the scale of a sampled report and its error bounds. */
#ifndef SAMPLING_H
#define SAMPLING_H

#include <stdint.h>

struct session;
struct snapshot;
struct site;

/* The scale of a sampled report: estimates = sampled x k. */
struct sample_scale {
	double k;			/* 1 / share of the allocations seen; 0: unknown */
	double f;			/* that share */
	double f_rel_err;		/* its relative standard error */
	int64_t growth;			/* pymalloc heap growth it is calibrated on */
	uint64_t seen;			/* sampled outstanding pymalloc bytes */
	uint64_t seen_blocks;
};

/* The scale from snap->cov; k = f = 1 when not sampling. */
void sample_scale(const struct session *s, const struct snapshot *snap,
		  struct sample_scale *out);
/* Sampled counts -> estimates for the whole target. */
void sample_apply(struct snapshot *snap);
/* 95% bound of a site's estimate, relative. */
double site_err95(const struct snapshot *snap, const struct site *si);

#endif
