// SPDX-License-Identifier: GPL-2.0
/*
 * --json: one JSON document per report, with the same figures as the text
 * report (sites with frames and types, the type table, coverage, hooks and
 * counters).
 */
#include <inttypes.h>
#include <stdio.h>
#include "coverage.h"
#include "fmt.h"
#include "out.h"
#include "probes.h"
#include "pyleak.h"
#include "sampling.h"
#include "session.h"
#include "sitetypes.h"
#include "snapshot.h"
#include "symbolize.h"
#include "target.h"

static void json_str(FILE *out, const char *v)
{
	fputc('"', out);
	for (const unsigned char *p = (const unsigned char *)(v ? v : ""); *p; p++) {
		if (*p == '"' || *p == '\\')
			fprintf(out, "\\%c", *p);
		else if (*p < 0x20)
			fprintf(out, "\\u%04x", *p);
		else
			fputc(*p, out);
	}
	fputc('"', out);
}

static void json_frames(FILE *out, const struct site *si)
{
	fprintf(out, "\"frames\":[");
	if (si->ss && si->ss->native) {
		fprintf(out, "{\"native\":true,\"function\":");
		json_str(out, si->ss->native);
		fprintf(out, "}%s", si->ss->nframes ? "," : "");
	}
	for (int j = 0; si->ss && j < si->ss->nframes; j++) {
		const struct sym_frame *f = &si->ss->frames[j];
		bool ok = f->code && f->code->ok;

		fprintf(out, "%s{\"function\":", j ? "," : "");
		json_str(out, ok ? f->code->qualname : "[unknown]");
		fprintf(out, ",\"file\":");
		json_str(out, ok ? f->code->filename : "");
		fprintf(out, ",\"line\":%d}", f->line);
	}
	fprintf(out, "]");
}

void out_json(struct session *s, const struct report_opts *o,
		       const struct snapshot *snap, const char *reason)
{
	const struct target *t = s->t;
	const struct probe_plan *pl = s->plan;
	double small, share = coverage_share(&snap->cov, &small);
	FILE *out = o->out;
	int64_t ob = 0, oc = 0;
	bool first = true;

	for (size_t i = 0; i < snap->n; i++) {
		ob += snap->sites[i].out_bytes;
		oc += snap->sites[i].out_count;
	}
	fprintf(out, "{\"pid\":%d,\"comm\":", t->pid);
	json_str(out, t->comm);
	fprintf(out, ",\"python\":");
	json_str(out, t->version);
	fprintf(out, ",\"interpreter\":");
	json_str(out, t->path);
	fprintf(out, ",\"offsets\":");
	json_str(out, t->offsets_note);
	fprintf(out, ",\"debug_build\":%s,\"mode\":", t->debug_build ? "true" : "false");
	json_str(out, s->mode);
	fprintf(out, ",\"report\":%d,\"reason\":", s->reports + 1);
	json_str(out, reason);
	if (s->sample.on)
		fprintf(out, ",\"sampled\":{\"windows\":%d,\"window_s\":%.3f,\"scale\":%.3f,"
			"\"seen_share\":%.8f,\"heap_growth_bytes\":%" PRId64 "}", s->sample.windows,
			s->sample.window_ns / 1e9, snap->scale.k, snap->scale.f, snap->scale.growth);
	fprintf(out, ",\"elapsed_s\":%.3f,\"older_s\":%.3f,\"unit\":\"bytes\","
		"\"outstanding_bytes\":%" PRId64 ",\"outstanding_blocks\":%" PRId64 ",\"sites\":[",
		(now_ns() - s->start_ns) / 1e9, o->older_ns / 1e9, ob, oc);
	for (size_t i = 0; i < snap->n; i++) {
		const struct site *si = &snap->sites[i];

		if (si->out_bytes <= 0 && !si->total_bytes)
			continue;
		fprintf(out, "%s{\"stack\":", first ? "" : ",");
		first = false;
		json_str(out, si->key);
		fprintf(out, ",");
		json_frames(out, si);
		fprintf(out, ",\"inuse_bytes\":%" PRId64 ",\"inuse_objects\":%" PRId64
			",\"alloc_bytes\":%" PRIu64 ",\"alloc_objects\":%" PRIu64
			",\"gc_freed_bytes\":%" PRIu64 ",\"gc_freed_objects\":%" PRIu64
			",\"oldest_s\":%.3f,\"change_since_previous\":%" PRId64
			",\"change_since_first\":%" PRId64 ",\"suspect_score\":%.3f"
			",\"grew_intervals\":%d,\"intervals\":%d,\"sampled_blocks\":%" PRIu64
			",\"err95\":%.4f,\"freed_unseen_blocks\":%" PRIu64
			",\"freed_unseen_bytes\":%" PRIu64 ",\"liveness_unknown_blocks\":%" PRIu64
			",\"startup\":%s,\"types\":[",
			si->out_bytes, si->out_count, si->total_bytes, si->total_count,
			si->gc_bytes, si->gc_count,
			si->oldest_ns ? (now_ns() - si->oldest_ns) / 1e9 : 0.0,
			si->d_prev, si->d_first, si->sus.score, si->sus.grew, si->sus.intervals,
			si->sampled, s->sample.on ? site_err95(snap, si) : 0.0,
			si->unseen_count, si->unseen_bytes, si->unknown_count,
			si->startup ? "true" : "false");
		for (int j = 0; j < si->ntypes; j++) {
			fprintf(out, "%s{\"type\":", j ? "," : "");
			json_str(out, type_name(s, si->types[j].type));
			fprintf(out, ",\"objects\":%" PRIu64 ",\"bytes\":%" PRIu64 "}",
				si->types[j].count, si->types[j].bytes);
		}
		fprintf(out, "]}");
	}
	fprintf(out, "],\"types\":[");
	for (size_t i = 0; i < snap->ntypes; i++) {
		fprintf(out, "%s{\"type\":", i ? "," : "");
		json_str(out, type_name(s, snap->types[i].type));
		fprintf(out, ",\"objects\":%" PRIu64 ",\"bytes\":%" PRIu64 ",\"change\":%" PRId64 "}",
			snap->types[i].count, snap->types[i].bytes, snap->types[i].growth);
	}
	fprintf(out, "],\"not_objects\":%" PRIu64 ",\"coverage\":{\"mode\":", snap->not_objects);
	json_str(out, pl->libc_malloc ? "malloc" : pl->allocator_inlined ? "inlined" : "entry-points");
	fprintf(out, ",\"attributed_share\":");
	if (pl->libc_malloc)
		fprintf(out, "1");
	else if (share >= 0)
		fprintf(out, "%.4f", share);
	else
		fprintf(out, "null");
	fprintf(out, ",\"pymalloc_growth_bytes\":%" PRId64 ",\"pymalloc_tracked_bytes\":%" PRIu64
		",\"other_tracked_bytes\":%" PRIu64 "},\"hooks\":{", snap->cov.heap_growth,
		snap->cov.small_tracked, snap->cov.large_tracked);
	for (int i = 0; i < pl->n; i++) {
		fprintf(out, "%s", i ? "," : "");
		json_str(out, pl->hooks[i].symbol);
		fprintf(out, ":%" PRIu64, snap->counters[i]);
	}
	fprintf(out, "},\"counters\":{");
	for (int i = 0; i < CNT__MAX; i++) {
		fprintf(out, "%s", i ? "," : "");
		json_str(out, counter_names[i]);
		fprintf(out, ":%" PRIu64, snap->counters[MAX_HOOKS + i]);
	}
	{
		struct named_count uc[USER_COUNTERS];
		size_t n = snapshot_user_counters(s, snap, uc);

		for (size_t i = 0; i < n; i++) {
			fprintf(out, ",");
			json_str(out, uc[i].name);
			fprintf(out, ":%" PRIu64, uc[i].value);
		}
	}
	fprintf(out, "},\"startup\":{\"bytes\":%" PRId64 ",\"blocks\":%" PRId64 ",\"sites\":%zu"
		",\"top_module\":", snap->startup.bytes, snap->startup.blocks, snap->startup.sites);
	json_str(out, snap->startup.top_module);
	fprintf(out, ",\"top_module_bytes\":%" PRId64, snap->startup.top_bytes);
	fprintf(out, "},\"liveness\":{\"checked\":%s,\"live\":%" PRIu64 ",\"freed_unseen\":%"
		PRIu64 ",\"unknown\":%" PRIu64 "}}\n", snap->live_checked ? "true" : "false",
		snap->live.live, snap->live.dead, snap->live.unknown);
}
