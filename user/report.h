/* SPDX-License-Identifier: GPL-2.0 */
#ifndef REPORT_H
#define REPORT_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

struct target;
struct probe_plan;
struct pyleak_bpf;
struct symbolizer;
struct sym_stack;

struct report_opts {
	int top;			/* sites in the text report */
	bool folded;
	bool full_path;
	bool gc;			/* GC pauses per generation */
	bool cycles;			/* rank sites by bytes the cyclic GC freed */
	uint64_t older_ns;		/* keep only blocks at least this old (0: all) */
	FILE *out;
};

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

/* What a report is made from. */
struct session {
	struct target *t;
	const char *mode;		/* "attached to PID", "launched", ... */
	const struct probe_plan *plan;
	struct pyleak_bpf *skel;
	struct symbolizer *sym;
	uint64_t start_ns;		/* CLOCK_MONOTONIC, as bpf_ktime_get_ns */
	bool target_exited;
	int reports;
	struct gc_gen_stats gc[GC_GENERATIONS];
	uint64_t gc_other_generation;	/* events with a generation out of range */
};

/* Read the maps and write one report; reason says why it is written. */
int report_write(struct session *s, const struct report_opts *o, const char *reason);

/* Ring buffer events: new stacks are symbolized, GC pauses recorded. */
int report_on_event(void *ctx, void *data, size_t len);
void report_free(struct session *s);
/* log2 bucket of a pause: 0 for < 2 us, i for [2^i, 2^(i+1)) us. */
int gc_hist_bucket(uint64_t ns);
/* Percentile p (0..100) of n sorted values. */
uint64_t percentile(const uint64_t *sorted, size_t n, double p);

/* Frames root first joined by ';' (the folded-stack form of a stack). */
size_t folded_frames(const struct sym_stack *ss, bool full_path, char *buf, size_t len);
/* "1.2 MiB" */
char *human_bytes(double b, char *buf, size_t len);
/* "1,234,567" */
char *thousands(uint64_t v, char *buf, size_t len);
uint64_t now_ns(void);

#endif
