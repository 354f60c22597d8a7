// SPDX-License-Identifier: GPL-2.0
/*
 * Reports, the pipeline: the maps read into a snapshot (snapshot.c), then
 * object types (sitetypes.c), coverage (coverage.c), the --sample scale
 * (sampling.c) and each site's history (history.c), ranked and written in
 * one format (out_*.c). Between reports: ring buffer events, the stack
 * map's recycling, and the live status line.
 */
#include <stdlib.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include "coverage.h"
#include "fmt.h"
#include "gcstats.h"
#include "history.h"
#include "objtypes.h"
#include "out.h"
#include "pyleak.h"
#include "pyleak.skel.h"
#include "probes.h"
#include "report.h"
#include "sampling.h"
#include "sitetypes.h"
#include "snapshot.h"
#include "startup.h"
#include "symbolize.h"
#include "target.h"

int report_on_event(void *ctx, void *data, size_t len)
{
	struct session *s = ctx;
	const struct event *ev = data;

	if (len < sizeof(*ev))
		return 0;
	if (ev->type == EV_NEW_STACK) {
		target_refresh(s->t);	/* launch mode: the interpreter may be new */
		snapshot_stack(s, ev->a);
	}
	else if (ev->type == EV_GC)
		gc_record(s, ev);
	return 0;
}

void report_recycle_stacks(struct session *s, long max_stacks)
{
	int fd = bpf_map__fd(s->skel->maps.stats), sfd = bpf_map__fd(s->skel->maps.stacks);
	struct site_stats *vals;
	size_t n, nret = 0;
	uint64_t *ids;

	n = snapshot_read_stats(s, &ids, &vals);
	if (n < (size_t)max_stacks * 3 / 4)
		goto out;
	for (size_t i = 0; i < n; i++) {
		const struct site_stats st = vals[i];
		uintptr_t seen;
		struct site_stats *r;

		if (ids[i] == STACK_ID_LOST || st.out_count || st.out_bytes)
			continue;
		seen = (uintptr_t)u64map_get(&s->idle, ids[i]);
		if (seen != st.total_count + 1) {
			/* first sight, or it allocated since: idle only if unchanged */
			u64map_put(&s->idle, ids[i], (void *)(uintptr_t)(st.total_count + 1));
			continue;
		}
		snapshot_stack(s, ids[i]);	/* symbolized before its raw stack goes */
		r = u64map_get(&s->retired, ids[i]);
		if (!r) {
			r = calloc(1, sizeof(*r));
			if (!r || u64map_put(&s->retired, ids[i], r)) {
				free(r);
				continue;
			}
		}
		r->total_bytes += st.total_bytes;
		r->total_count += st.total_count;
		r->gc_bytes += st.gc_bytes;
		r->gc_count += st.gc_count;
		bpf_map_delete_elem(fd, &ids[i]);
		bpf_map_delete_elem(sfd, &ids[i]);
		u64map_put(&s->idle, ids[i], (void *)(uintptr_t)1);	/* starts over */
		nret++;
	}
	s->stacks_recycled += nret;
out:
	free(ids);
	free(vals);
}

void report_free(struct session *s)
{
	for (int i = 0; i < GC_GENERATIONS; i++)
		free(s->gc[i].pauses);
	for (size_t i = 0; i < s->hist.cap; i++)
		if (s->hist.keys[i])
			free(s->hist.vals[i]);
	u64map_free(&s->hist);
	for (size_t i = 0; i < s->retired.cap; i++)
		if (s->retired.keys[i])
			free(s->retired.vals[i]);
	u64map_free(&s->retired);
	u64map_free(&s->idle);
	objtypes_free(s->types);
	free(s->type_prev);
	free(s->heap0);
}

/* Read the maps and run every stage on what they hold. */
static int take_snapshot(struct session *s, const struct report_opts *o,
			 struct snapshot *snap)
{
	struct blocks bl = { 0 };
	bool want_blocks = !o->no_types && !o->folded;
	int err = snapshot_sites(s, o, snap);

	if (err)
		return err;
	snapshot_scan_blocks(s, o, snap, want_blocks ? &bl : NULL);
	if (want_blocks)
		sitetypes_read(s, snap, &bl);
	free(bl.b);
	coverage_read(s, snap);
	snapshot_read_counters(s, snap->counters);
	sample_scale(s, snap, &snap->scale);
	if (s->sample.on && snap->scale.k)
		sample_apply(snap);
	history_update(s, snap, (now_ns() - s->start_ns) / 1e9);
	startup_split(s, snap);
	snapshot_sort(snap, o);
	return 0;
}

int report_write(struct session *s, const struct report_opts *o, const char *reason)
{
	struct snapshot snap;
	int err = take_snapshot(s, o, &snap);

	if (err)
		return err;
	if (o->json)
		out_json(s, o, &snap, reason);
	else if (o->folded)
		out_folded(&snap, o);
	else
		out_text(s, o, &snap, reason);
	fflush(o->out);
	out_files(s, o, &snap);
	snapshot_free(&snap);
	s->reports++;
	return 0;
}

/* --- live status ------------------------------------------------------ */

/*
 * One line on a terminal, rewritten in place: elapsed time, events per
 * second since the last call, outstanding bytes, drops.
 */
void report_status(struct session *s, FILE *tty)
{
	static uint64_t last_events, last_ns;
	uint64_t c[COUNTERS_LEN], events = 0, drops, now = now_ns();
	struct site_stats *vals;
	uint64_t *ids;
	int64_t out = 0;
	char b1[32], b2[32], b3[32];
	double rate;
	size_t n;

	snapshot_read_counters(s, c);
	for (int i = 0; i < s->plan->n; i++)
		events += c[i];
	drops = c[MAX_HOOKS + CNT_ALLOCS_FULL] + c[MAX_HOOKS + CNT_STACKS_FULL] +
		c[MAX_HOOKS + CNT_STATS_FULL] + c[MAX_HOOKS + CNT_INFLIGHT_FULL] +
		c[MAX_HOOKS + CNT_NEW_STACK_LOST] + c[MAX_HOOKS + CNT_GC_EVENT_LOST];
	n = snapshot_read_stats(s, &ids, &vals);
	for (size_t i = 0; i < n; i++)
		out += vals[i].out_bytes;
	free(ids);
	free(vals);
	rate = last_ns && now > last_ns ? (events - last_events) * 1e9 / (now - last_ns) : 0;
	last_events = events;
	last_ns = now;
	fprintf(tty, "\r\033[K[pyleakbpf] %.0f s  %s events/s  outstanding %s  drops %s",
		(now - s->start_ns) / 1e9, thousands((uint64_t)rate, b1, sizeof(b1)),
		human_bytes(out, b2, sizeof(b2)), thousands(drops, b3, sizeof(b3)));
	fflush(tty);
}

void report_status_clear(FILE *tty)
{
	fprintf(tty, "\r\033[K");
	fflush(tty);
}
