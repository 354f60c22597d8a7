/* SPDX-License-Identifier: GPL-2.0 */
#ifndef REPORT_H
#define REPORT_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include "u64map.h"

struct target;
struct probe_plan;
struct pyleak_bpf;
struct symbolizer;
struct sym_stack;

struct report_opts {
	int top;			/* sites in the text report */
	bool folded;
	bool json;			/* one JSON document per report */
	bool count;			/* folded/SVG: objects instead of bytes */
	bool full_path;
	bool gc;			/* GC pauses per generation */
	bool cycles;			/* rank sites by bytes the cyclic GC freed */
	bool suspects;			/* rank sites by steady growth */
	bool no_types;			/* do not read object types */
	uint64_t older_ns;		/* keep only blocks at least this old (0: all) */
	const char *svg_path;		/* also write an SVG flame graph here */
	const char *pprof_path;		/* also write a pprof profile here */
	FILE *out;
};

/* Outstanding bytes of one site at each report: for growth and suspects. */
#define HIST_MAX	9		/* the suspect window (8 intervals) + 1 */
struct site_hist {
	int n;				/* points kept (oldest dropped) */
	int first_report;		/* report in which it was first seen */
	int64_t first_bytes;		/* at that report */
	double t[HIST_MAX];		/* seconds since tracing began */
	int64_t v[HIST_MAX];
};

struct heap_usage;
struct objtypes;

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

/* --sample: hooks attached in short windows only. */
struct sampling {
	bool on;
	double duty;			/* share of wall time in windows */
	uint64_t window_ns;
	int windows;			/* windows so far */
	uint64_t in_window_ns;		/* wall time spent in windows */
};

/* The scale of a sampled report: estimates = sampled x k. */
struct sample_scale {
	double k;			/* 1 / share of the allocations seen; 0: unknown */
	double f;			/* that share */
	double f_rel_err;		/* its relative standard error */
	int64_t growth;			/* pymalloc heap growth it is calibrated on */
	uint64_t seen;			/* sampled outstanding pymalloc bytes */
	uint64_t seen_blocks;
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
	uint64_t start_unix_ns;		/* CLOCK_REALTIME when tracing began */
	struct u64map hist;		/* hash of folded key -> struct site_hist */
	struct objtypes *types;		/* object type reader, made on first use */
	uint64_t *type_prev;		/* per type index: count at the previous report */
	size_t ntype_prev;
	struct heap_usage *heap0;	/* pymalloc heap when tracing began, or NULL */
	struct sampling sample;
	/* stacks recycled from a nearly full map: their totals, kept here */
	struct u64map retired;		/* stack id -> struct site_stats */
	struct u64map idle;		/* stack id -> total count + 1 at the last sweep */
	uint64_t stacks_recycled;
};

/*
 * When the stack map is more than 3/4 full, drop stacks that hold nothing
 * outstanding and were idle since the previous sweep (their totals are
 * kept), so stacks seen once (start-up imports) do not crowd out new ones.
 */
void report_recycle_stacks(struct session *s, long max_stacks);



/* The live status line on a terminal, and its erasure before a report. */
void report_status(struct session *s, FILE *tty);
void report_status_clear(FILE *tty);
/* Read pymalloc's heap now, as the baseline of the coverage estimate. */
void report_heap_baseline(struct session *s);

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
/*
 * Leak-suspect score from a site's history (see README "Leak suspects"):
 * slope of outstanding bytes over the recent window x share of intervals
 * that grew x share of that growth made in the window's second half.
 * Fills the parts; 0 when there is too little history or no growth.
 */
struct suspect {
	double score;			/* bytes per second, weighted */
	double slope;			/* bytes per second, least squares */
	int intervals, grew;		/* in the window */
	double late;			/* growth share of the window's second half */
};
void suspect_score(const struct site_hist *h, struct suspect *out);
/* Append a point, dropping the oldest beyond HIST_MAX. */
void hist_push(struct site_hist *h, double t, int64_t v);

#endif
