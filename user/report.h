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
	FILE *out;
};

/* What a report is made from. */
struct session {
	const struct target *t;
	const struct probe_plan *plan;
	struct pyleak_bpf *skel;
	struct symbolizer *sym;
	uint64_t start_ns;		/* CLOCK_MONOTONIC, as bpf_ktime_get_ns */
	bool target_exited;
	int reports;
};

/* Read the maps and write one report; reason says why it is written. */
int report_write(struct session *s, const struct report_opts *o, const char *reason);

/* Symbolize stacks announced on the ring buffer (libbpf callback). */
int report_on_new_stack(void *ctx, void *data, size_t len);

/* Frames root first joined by ';' (the folded-stack form of a stack). */
size_t folded_frames(const struct sym_stack *ss, bool full_path, char *buf, size_t len);
/* "1.2 MiB" */
char *human_bytes(double b, char *buf, size_t len);
/* "1,234,567" */
char *thousands(uint64_t v, char *buf, size_t len);
uint64_t now_ns(void);

#endif
