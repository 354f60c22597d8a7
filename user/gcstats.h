/* SPDX-License-Identifier: GPL-2.0 */
/* GC pauses per generation, recorded from the ring buffer's EV_GC events. */
#ifndef GCSTATS_H
#define GCSTATS_H

#include <stddef.h>
#include <stdint.h>

struct session;
struct event;

#define GC_GENERATIONS	3
#define GC_SAMPLES	65536		/* pause samples kept per generation */
#define GC_HIST		32		/* log2 buckets of pause microseconds */

struct gc_gen_stats {
	uint64_t collections;
	int64_t collected;		/* collected + uncollectable */
	uint64_t total_ns, max_ns;
	uint64_t hist[GC_HIST];		/* exact: bucket i holds [2^i, 2^(i+1)) us */
	uint64_t *pauses;		/* a uniform sample when collections > GC_SAMPLES */
	size_t npauses;
	uint64_t collections_at_last_report;
};

/* One collection into s->gc (or s->gc_other_generation). */
void gc_record(struct session *s, const struct event *ev);
/* log2 bucket of a pause: 0 for < 2 us, i for [2^i, 2^(i+1)) us. */
int gc_hist_bucket(uint64_t ns);
/* Percentile p (0..100) of n sorted values. */
uint64_t percentile(const uint64_t *sorted, size_t n, double p);

#endif
