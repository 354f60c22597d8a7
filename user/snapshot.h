/* SPDX-License-Identifier: GPL-2.0 */
/*
 * A snapshot: what one report is written from. The kernel maps read and
 * merged into sites (snapshot.c), then filled in by the later stages:
 * object types, coverage, the --sample scale, growth and suspects.
 */
#ifndef SNAPSHOT_H
#define SNAPSHOT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "coverage.h"
#include "history.h"
#include "liveness.h"
#include "pyleak.h"
#include "sampling.h"
#include "u64map.h"

struct session;
struct report_opts;
struct sym_stack;

#define SITE_TYPES	3		/* dominant types shown per site */

struct type_count {
	uint32_t type;			/* objtypes index */
	uint64_t count, bytes;
};

struct site {
	char *key;			/* folded frames, root first */
	const struct sym_stack *ss;	/* one of its stacks, for the text form */
	int64_t out_bytes, out_count;
	uint64_t total_bytes, total_count;
	uint64_t gc_bytes, gc_count;
	uint64_t oldest_ns;		/* 0: none outstanding */
	/* growth, from the session's history of this site */
	bool seen_before;
	int64_t d_prev, d_first;	/* change since the previous / first report */
	struct suspect sus;
	/* object types of its outstanding blocks */
	struct type_count types[SITE_TYPES];
	int ntypes;
	uint64_t typed;			/* blocks classified */
	uint64_t sampled;		/* --sample: outstanding blocks actually seen */
	/* the liveness check: records the target's allocator says are free */
	uint64_t unseen_count, unseen_bytes;	/* found freed: not counted */
	uint64_t unknown_count;		/* could not be told: counted */
	bool startup;			/* start-up or import memory (startup.c) */
};

/* Start-up and import memory, summed (startup.c). */
struct startup_sum {
	int64_t bytes, blocks;
	size_t sites;
	char top_module[256];		/* the imported module holding most of it */
	int64_t top_bytes;
};

/* Whole-process table of outstanding objects by type. */
struct type_row {
	uint32_t type;
	uint64_t count, bytes;
	int64_t growth;			/* count change since the previous report */
};

struct snapshot {
	struct site *sites;
	size_t n;
	struct u64map by_id;		/* stack id -> site index + 1 */
	uint64_t counters[COUNTERS_LEN];
	struct coverage cov;
	struct type_row *types;		/* by count, descending */
	size_t ntypes;
	uint64_t typed, not_objects, unreadable;
	bool types_read;
	struct sample_scale scale;	/* --sample; k = 1 otherwise */
	struct live_stats live;		/* the liveness check, summed over batches */
	bool live_checked;		/* it ran (the target could be read) */
	struct startup_sum startup;
};

/* One outstanding block, as the type and coverage readings need it. */
struct block {
	uint64_t addr;
	uint32_t size;			/* saturated: only the type reader uses it */
	uint32_t site;			/* index into snap->sites */
	uint32_t type : 31;
	uint32_t is_object : 1;		/* addr is a PyObject * (tp_alloc) */
};

struct blocks {
	struct block *b;
	size_t n, cap;
};

/* A counter kept in user space, named as the reports say it. */
struct named_count {
	const char *name;
	uint64_t value;
};

#define USER_COUNTERS	6

/* The user-space counters, in report order; returns how many (<= USER_COUNTERS). */
size_t snapshot_user_counters(const struct session *s, const struct snapshot *snap,
			      struct named_count *out);

/* What each counter of the BPF side counts, as the reports say it. */
extern const char *const counter_names[CNT__MAX];

/* Frames root first joined by ';' (the folded-stack form of a stack). */
size_t folded_frames(const struct sym_stack *ss, bool full_path, char *buf, size_t len);
/* The symbolized stack of id, symbolizing it now if it was missed. */
const struct sym_stack *snapshot_stack(struct session *s, uint64_t id);
/*
 * Every entry of the per-stack aggregates. Returns the count; *ids and
 * *vals are malloc'ed.
 */
size_t snapshot_read_stats(struct session *s, uint64_t **ids, struct site_stats **vals);
/* The hook and drop counters, summed over CPUs: COUNTERS_LEN values. */
void snapshot_read_counters(struct session *s, uint64_t *out);

/* The sites: stacks symbolized and merged, recycled stacks included. */
int snapshot_sites(struct session *s, const struct report_opts *o, struct snapshot *snap);
/* Sites' oldest blocks; --older recounts; blocks kept in bl (if not NULL). */
void snapshot_scan_blocks(struct session *s, const struct report_opts *o,
			  struct snapshot *snap, struct blocks *bl);
/* Rank the sites: by outstanding bytes, GC-freed bytes or suspect score. */
void snapshot_sort(struct snapshot *snap, const struct report_opts *o);
void snapshot_free(struct snapshot *snap);

#endif
