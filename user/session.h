/* SPDX-License-Identifier: GPL-2.0 */
/*
 * What every report stage works on: the tracing session (target, plan,
 * BPF object, symbolizer and the state kept from one report to the next)
 * and the options of the report.
 */
#ifndef SESSION_H
#define SESSION_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include "gcstats.h"
#include "u64map.h"

struct target;
struct probe_plan;
struct pyleak_bpf;
struct symbolizer;
struct heap_usage;
struct objtypes;

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
	double interval;		/* seconds between reports (0: one report) */
	const char *svg_path;		/* also write an SVG flame graph here */
	const char *pprof_path;		/* also write a pprof profile here */
	FILE *out;
};

/* --sample: hooks attached in short windows only. */
struct sampling {
	bool on;
	double duty;			/* share of wall time in windows */
	uint64_t window_ns;
	int windows;			/* windows so far */
	uint64_t in_window_ns;		/* wall time spent in windows */
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
	bool launched;			/* we started it: its start-up is ours to see */
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
	uint64_t tcache_key;		/* glibc's tcache key, once the liveness check found it */
};

#endif
