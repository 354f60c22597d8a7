/* SPDX-License-Identifier: GPL-2.0 */
/*
 * A profile: what every output format is written from. The report code
 * builds it from one snapshot of the kernel maps, so the text report,
 * folded stacks, JSON, SVG and pprof all show the same numbers.
 */
#ifndef PROFILE_H
#define PROFILE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

struct prof_frame {
	const char *func;		/* "qualname", or "lib.so!symbol" for native */
	const char *file;		/* full path; "" when unknown */
	int line;			/* 0 when unknown */
	bool native;			/* a native (C) frame */
};

struct prof_sample {
	const char *folded;		/* frames root first, joined by ';' */
	const struct prof_frame *frames;	/* innermost (leaf) first */
	int nframes;
	int64_t inuse_bytes, inuse_count;	/* outstanding now */
	uint64_t alloc_bytes, alloc_count;	/* allocated while tracing */
};

struct profile {
	struct prof_sample *samples;
	size_t n;
	int pid;
	const char *comm;
	const char *python;		/* "3.11.2" */
	uint64_t start_unix_ns;		/* when tracing began (CLOCK_REALTIME) */
	uint64_t duration_ns;		/* tracing time covered */
};

/* Which value a single-valued format (folded, SVG) shows. */
enum prof_value {
	PV_INUSE_BYTES,
	PV_INUSE_COUNT,
	PV_ALLOC_BYTES,
	PV_ALLOC_COUNT,
};

int64_t prof_value(const struct prof_sample *s, enum prof_value v);

/* gzipped profile.proto with inuse/alloc space/objects; 0 or -errno. */
int pprof_write(const struct profile *p, const char *path);

struct flamegraph_opts {
	const char *title;
	enum prof_value value;
};

/* A self-contained interactive SVG flame graph; 0 or -errno. */
int flamegraph_write(const struct profile *p, const struct flamegraph_opts *o, FILE *out);

#endif
