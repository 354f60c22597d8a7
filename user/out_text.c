// SPDX-License-Identifier: GPL-2.0
/*
 * The text report: header, sampling note, top sites (or cycles) with their
 * growth, suspect score, object types and frames, the process's type
 * table, GC pauses, hooks and counters, and the coverage statement.
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include "coverage.h"
#include "elffile.h"
#include "fmt.h"
#include "gcstats.h"
#include "history.h"
#include "out.h"
#include "probes.h"
#include "pyleak.h"
#include "sampling.h"
#include "session.h"
#include "sitetypes.h"
#include "snapshot.h"
#include "symbolize.h"
#include "target.h"

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* Pause histograms, log2 buckets, in the style of bcc's histograms. */
static void write_gc_hist(const struct session *s, FILE *out)
{
	for (int i = 0; i < GC_GENERATIONS; i++) {
		const struct gc_gen_stats *g = &s->gc[i];
		uint64_t top = 0;
		int lo = GC_HIST, hi = -1;

		for (int b = 0; b < GC_HIST; b++) {
			if (!g->hist[b])
				continue;
			lo = b < lo ? b : lo;
			hi = b;
			top = g->hist[b] > top ? g->hist[b] : top;
		}
		if (hi < 0)
			continue;
		fprintf(out, "  generation %d pauses:\n  %21s : count\n", i, "usecs");
		for (int b = lo; b <= hi; b++) {
			uint64_t from = b ? 1ULL << b : 0, to = (1ULL << (b + 1)) - 1;
			int bar = (int)(g->hist[b] * 40 / top);
			char range[48];

			snprintf(range, sizeof(range), "%" PRIu64 " -> %" PRIu64, from, to);
			fprintf(out, "  %21s : %-8" PRIu64 "|%-40.*s|\n", range, g->hist[b], bar,
				"****************************************");
		}
	}
}

static void write_gc(struct session *s, FILE *out)
{
	const struct probe_plan *pl = s->plan;
	char b[6][32];

	if (pl->gc == GC_NONE) {
		fprintf(out, "\nGC: %s\n", pl->gc_why);
		return;
	}
	fprintf(out, "\nGC pauses (source: %s):\n", pl->gc_why);
	fprintf(out, "  gen  collections  (new)   collected        p50        p99        max      total\n");
	for (int i = 0; i < GC_GENERATIONS; i++) {
		struct gc_gen_stats *g = &s->gc[i];
		uint64_t *sorted = NULL;

		if (g->npauses) {
			sorted = malloc(g->npauses * sizeof(*sorted));
			if (sorted) {
				memcpy(sorted, g->pauses, g->npauses * sizeof(*sorted));
				qsort(sorted, g->npauses, sizeof(*sorted), cmp_u64);
			}
		}
		fprintf(out, "  %3d  %11s  %5" PRIu64 "  %10s  %9s  %9s  %9s  %9s\n", i,
			thousands(g->collections, b[0], sizeof(b[0])),
			g->collections - g->collections_at_last_report,
			thousands(g->collected > 0 ? g->collected : 0, b[1], sizeof(b[1])),
			sorted ? human_ns(percentile(sorted, g->npauses, 50), b[2], sizeof(b[2])) : "-",
			sorted ? human_ns(percentile(sorted, g->npauses, 99), b[3], sizeof(b[3])) : "-",
			g->collections ? human_ns(g->max_ns, b[4], sizeof(b[4])) : "-",
			g->collections ? human_ns(g->total_ns, b[5], sizeof(b[5])) : "-");
		if (g->collections > GC_SAMPLES)
			fprintf(out, "       (percentiles from a uniform sample of %d pauses)\n",
				GC_SAMPLES);
		g->collections_at_last_report = g->collections;
		free(sorted);
	}
	if (s->gc_other_generation)
		fprintf(out, "  %" PRIu64 " collections of an unknown generation\n",
			s->gc_other_generation);
	write_gc_hist(s, out);
	fprintf(out, "  (pauses include tracing: every free during a collection is a probe hit;\n"
		"  'new' counts collections since the previous report)\n");
}

static void write_frames(const struct site *si, const struct report_opts *o, FILE *out)
{
	char f[1024];

	if (!si->ss || !si->ss->nframes) {
		fprintf(out, "    %s\n", si->key);
		return;
	}
	if (si->ss->native)
		fprintf(out, "    %s (native caller)\n", si->ss->native);
	for (int j = 0; j < si->ss->nframes; j++)
		fprintf(out, "    %s\n", frame_format(&si->ss->frames[j], o->full_path, f, sizeof(f)));
	if (si->ss->flags & STACK_TRUNCATED)
		fprintf(out, "    [truncated at %d frames]\n", MAX_FRAMES);
}

/* "Top 10" when the list was cut at --top, else "The 9", "The 1", "No". */
static const char *list_head(size_t listed, int top, char *buf, size_t len)
{
	if (!listed)
		snprintf(buf, len, "No");
	else if (listed >= (size_t)top)
		snprintf(buf, len, "Top %zu", listed);
	else
		snprintf(buf, len, "The %zu", listed);
	return buf;
}

static void write_cycles(struct session *s, const struct report_opts *o,
			 const struct snapshot *snap, FILE *out)
{
	char b1[32], b2[32], b3[32];
	size_t shown = 0, listed = 0;

	if (s->plan->gc == GC_NONE) {
		fprintf(out, "\nCycles: no attribution: %s\n", s->plan->gc_why);
		return;
	}
	for (size_t i = 0; i < snap->n && listed < (size_t)o->top && snap->sites[i].gc_bytes; i++)
		listed++;
	fprintf(out, "\n%s site%s by bytes the cyclic GC freed (innermost frame first):\n",
		list_head(listed, o->top, b1, sizeof(b1)), listed == 1 ? "" : "s");
	for (size_t i = 0; i < snap->n && shown < (size_t)o->top; i++) {
		const struct site *si = &snap->sites[i];
		uint64_t freed = si->total_count - (si->out_count > 0 ? si->out_count : 0);

		if (!si->gc_bytes)
			break;
		shown++;
		fprintf(out, "\n#%zu %s in %s object%s freed by the GC (%.0f%% of this site's frees)",
			shown, human_bytes(si->gc_bytes, b1, sizeof(b1)),
			thousands(si->gc_count, b2, sizeof(b2)), si->gc_count == 1 ? "" : "s",
			freed ? 100.0 * si->gc_count / freed : 0.0);
		fprintf(out, "; %s outstanding (%" PRIu64 " bytes, %" PRIu64 " objects by GC)\n",
			human_bytes(si->out_bytes, b3, sizeof(b3)), si->gc_bytes, si->gc_count);
		write_frames(si, o, out);
	}
	if (!shown)
		fprintf(out, "\n(no allocation made while tracing was freed by the cyclic GC)\n");
}

/* Lines under a site's header: growth, suspect score, object types. */
static void write_site_info(const struct session *s, const struct report_opts *o,
			    const struct site *si, FILE *out)
{
	char b1[32], b2[32], b3[32];

	if (s->reports > 0 && si->seen_before) {
		const struct site_hist *h = u64map_get(&s->hist, hist_key(si->key));

		fprintf(out, "  growth: %s since the previous report, %s since report %d\n",
			signed_bytes(si->d_prev, b1, sizeof(b1)),
			signed_bytes(si->d_first, b2, sizeof(b2)), h ? h->first_report : 1);
	} else if (s->reports > 0) {
		fprintf(out, "  growth: new since the previous report\n");
	}
	if (o->suspects)
		fprintf(out, "  suspect: score %.0f B/s (slope %s/s, grew in %d of %d intervals, "
			"%.0f%% of it in the later half)\n", si->sus.score,
			signed_bytes((int64_t)si->sus.slope, b3, sizeof(b3)), si->sus.grew,
			si->sus.intervals, 100 * si->sus.late);
	if (si->unseen_count)
		fprintf(out, "  freed unseen: %s block%s (%s) found freed in the target, through a "
			"path no hook saw; not counted\n", thousands(si->unseen_count, b1, sizeof(b1)),
			si->unseen_count == 1 ? "" : "s", human_bytes(si->unseen_bytes, b2, sizeof(b2)));
	if (si->ntypes) {
		fprintf(out, "  objects:");
		for (int i = 0; i < si->ntypes; i++)
			fprintf(out, "%s %s %s (%s)", i ? "," : "", type_name(s, si->types[i].type),
				thousands(si->types[i].count, b1, sizeof(b1)),
				human_bytes(si->types[i].bytes, b2, sizeof(b2)));
		if (si->typed > si->types[0].count + (si->ntypes > 1 ? si->types[1].count : 0) +
		    (si->ntypes > 2 ? si->types[2].count : 0))
			fprintf(out, ", ...");
		fputc('\n', out);
	}
}

#define TYPE_ROWS	15

static void write_type_table(const struct session *s, const struct snapshot *snap, FILE *out)
{
	char b1[32], b2[32], b3[32];

	if (!snap->types_read)
		return;
	fprintf(out, "\nOutstanding objects by type (blocks allocated while tracing, "
		"types read from the target now):\n");
	fprintf(out, "  %12s %10s %10s  %s\n", "objects", "change", "bytes", "type");
	for (size_t i = 0; i < snap->ntypes && i < TYPE_ROWS; i++) {
		const struct type_row *r = &snap->types[i];

		snprintf(b2, sizeof(b2), "%+" PRId64, r->growth);
		fprintf(out, "  %12s %10s %10s  %s\n", thousands(r->count, b1, sizeof(b1)),
			s->reports ? b2 : "", human_bytes(r->bytes, b3, sizeof(b3)),
			type_name(s, r->type));
	}
	if (snap->ntypes > TYPE_ROWS)
		fprintf(out, "  (%zu more types)\n", snap->ntypes - TYPE_ROWS);
	fprintf(out, "  %12s blocks that hold no Python object (buffers, dict keys, list items, "
		"native memory)\n", thousands(snap->not_objects, b1, sizeof(b1)));
	if (snap->unreadable)
		fprintf(out, "  %12s blocks that could not be read (freed since the snapshot)\n",
			thousands(snap->unreadable, b1, sizeof(b1)));
	if (s->reports)
		fprintf(out, "  ('change': objects since the previous report)\n");
}

static void write_coverage(const struct session *s, const struct snapshot *snap, FILE *out)
{
	const struct probe_plan *pl = s->plan;
	const struct coverage *c = &snap->cov;
	double small, share = coverage_share(c, &small);
	char b1[32], b2[32], b3[32], b4[32];

	fprintf(out, "Coverage: ");
	if (pl->libc_malloc) {
		fprintf(out, "complete for Python objects: the target runs with PYTHONMALLOC=malloc,\n"
			"  so every allocation goes through libc's malloc in %s, which is hooked\n"
			"  (so are native allocations of C extensions). pymalloc is off: memory use\n"
			"  and speed differ from a normal run.\n", pl->libc_name);
	} else {
		if (share >= 0)
			fprintf(out, "%.0f%% of the memory retained while tracing is attributed to stacks.\n",
				100 * share);
		else if (c->heap_known)
			fprintf(out, "not measured yet: less than 256 KiB retained while tracing.\n");
		else if (s->target_exited)
			fprintf(out, "not measured: the target had exited before its heap was read.\n");
		else
			fprintf(out, "not measured: pymalloc's heap could not be read.\n");
		if (c->heap_known)
			fprintf(out, "  pymalloc heap: %s in use, %s since tracing began; tracked in it: %s%s\n"
				"  outside pymalloc (blocks > 512 bytes, native): %s, all tracked\n",
				human_bytes(c->heap_now, b1, sizeof(b1)),
				signed_bytes(c->heap_growth, b2, sizeof(b2)),
				human_bytes(c->small_tracked, b3, sizeof(b3)),
				small >= 0 ? "" : " (too little growth to compare)",
				human_bytes(c->large_tracked, b4, sizeof(b4)));
		if (pl->allocator_inlined)
			fprintf(out, "  pymalloc is inlined in this build (%s): seen are all instances\n"
				"  of Python classes (tp_alloc), calls from C extensions%s, and blocks over\n"
				"  512 bytes (libc). Small objects the interpreter's C code allocates (dicts,\n"
				"  lists, tuples, ints, floats%s) are seen only when they take one of those\n"
				"  paths: their counts here are a small, partial share. --malloc (launch\n"
				"  mode) sees everything.\n", pl->inline_evidence,
				pl->internal_hooked ? ", str and bytearray (pymalloc's out-of-line copy)" : "",
				pl->internal_hooked ? "" : ", str, small bytes");
		else
			fprintf(out, "  every PyObject_*/PyMem_*/PyMem_Raw* allocation is seen (%s)%s.\n",
				pl->inline_evidence[0] ? pl->inline_evidence : "no inlining detected",
				pl->libc_hooked ? ", and libc's malloc family" : "");
	}
	fprintf(out, "  Not seen by any allocation tracer: objects reused from freelists (they\n"
		"  stay outstanding at the site that first allocated them), and memory pymalloc\n"
		"  keeps in its arenas after frees (RSS can stay high with nothing outstanding).\n");
}

static void write_sampling(const struct session *s, const struct snapshot *snap, FILE *out)
{
	const struct sample_scale *sc = &snap->scale;
	char b1[32], b2[32];

	fprintf(out, "SAMPLED (--sample): allocator hooks attached in %d windows of %.0f ms, %.1f%% "
		"of the time.\n", s->sample.windows, s->sample.window_ns / 1e6,
		100.0 * s->sample.in_window_ns / (now_ns() - s->start_ns + 1));
	if (!sc->k) {
		fprintf(out, "  no estimate yet: the pymalloc heap grew %s and the sampled blocks "
			"still outstanding in it hold %s;\n  the figures below are what the "
			"windows saw, not scaled\n", signed_bytes(sc->growth, b1, sizeof(b1)),
			human_bytes(sc->seen, b2, sizeof(b2)));
		return;
	}
	fprintf(out, "  estimates: what the windows saw x %.0f. The pymalloc heap grew %s while "
		"tracing\n  and the %s sampled blocks still outstanding in it hold 1/%.0f of that, "
		"so the\n  windows saw about %.4f%% of the allocations (+/-%.0f%%). Assumes the "
		"growth is\n  made of kinds the hooks see (every kind on builds without LTO). "
		"Blocks allocated\n  in a window and freed between windows are found dead when "
		"their address is\n  freed or reused in a later window.\n",
		sc->k, signed_bytes(sc->growth, b1, sizeof(b1)),
		thousands(sc->seen_blocks, b2, sizeof(b2)), sc->k, 100 * sc->f,
		196 * sc->f_rel_err);
}

/* Would the main list show this site? 1 yes, 0 skip it, -1 stop there. */
static int site_listed(const struct session *s, const struct report_opts *o,
		       const struct site *si)
{
	if (si->startup)
		return 0;	/* summed in one line instead */
	if (si->out_bytes <= 0 && !(o->suspects && si->sus.score > 0))
		return 0;
	if (o->suspects && si->sus.score <= 0 && s->reports > 0)
		return -1;
	return 1;
}

/* How many sites the main list shows, so its heading says so. */
static size_t sites_listed(const struct session *s, const struct report_opts *o,
			   const struct snapshot *snap)
{
	size_t n = 0;

	for (size_t i = 0; i < snap->n && n < (size_t)o->top; i++) {
		int r = site_listed(s, o, &snap->sites[i]);

		if (r < 0)
			break;
		n += r;
	}
	return n;
}

void out_text(struct session *s, const struct report_opts *o,
		       const struct snapshot *snap, const char *reason)
{
	const struct target *t = s->t;
	const struct probe_plan *pl = s->plan;
	uint64_t now = now_ns();
	int64_t ob = 0, oc = 0;
	uint64_t tb = 0, tc = 0;
	size_t nsites = 0, shown = 0;
	char b1[32], b2[32], b3[32], b4[32], bn[32];
	FILE *out = o->out;

	for (size_t i = 0; i < snap->n; i++) {
		ob += snap->sites[i].out_bytes;
		oc += snap->sites[i].out_count;
		tb += snap->sites[i].total_bytes;
		tc += snap->sites[i].total_count;
		nsites += snap->sites[i].out_bytes > 0;
	}
	fprintf(out, "pyleakbpf: PID %d (%s), CPython %s%s, %s (%s%s)\n", t->pid, t->comm,
		t->version, t->debug_build ? " debug build" : "", t->path,
		t->shared_lib ? "shared libpython" : "executable",
		elf_file_debug_path(t->elf) ? ", stripped, symbols from a debug file" :
		elf_file_has_symtab(t->elf) ? ", .symtab" : ", stripped");
	if (t->offsets_note[0])
		fprintf(out, "%s\n", t->offsets_note);
	fprintf(out, "report %d (%s) after %.1f s of tracing; %s\n", s->reports + 1, reason,
		(now - s->start_ns) / 1e9, s->mode);
	fprintf(out, "outstanding (allocated since tracing began, not freed): %s in %s blocks at %s sites\n"
		"allocated while tracing: %s in %s blocks\n",
		human_bytes(ob, b1, sizeof(b1)), thousands(oc > 0 ? oc : 0, b2, sizeof(b2)), thousands(nsites, bn, sizeof(bn)),
		human_bytes(tb, b3, sizeof(b3)), thousands(tc, b4, sizeof(b4)));
	if (snap->startup.sites) {
		const struct startup_sum *u = &snap->startup;

		char b5[32];

		fprintf(out, "start-up and imports: %s in %s blocks at %s sites, not ranked below",
			human_bytes(u->bytes, b1, sizeof(b1)), thousands(u->blocks, b2, sizeof(b2)),
			thousands(u->sites, b5, sizeof(b5)));
		if (u->top_module[0])
			fprintf(out, " (most of it: importing %s, %s)", u->top_module,
				human_bytes(u->top_bytes, b3, sizeof(b3)));
		fputc('\n', out);
	}
	if (s->target_exited)
		fprintf(out, "the target has exited; blocks freed during interpreter shutdown are not subtracted\n");
	if (o->older_ns)
		fprintf(out, "only blocks older than %.1f s are counted as outstanding (--older)\n",
			o->older_ns / 1e9);
	if (s->sample.on)
		write_sampling(s, snap, out);

	if (o->cycles) {
		write_cycles(s, o, snap, out);
	} else {
		size_t listed = sites_listed(s, o, snap);

		if (o->suspects)
			fprintf(out, "\n%s leak suspect%s: sites whose outstanding bytes grew steadily over "
				"the last %d reports\n(score = slope x share of intervals that grew x "
				"share of growth in the later half; innermost frame first):\n",
				list_head(listed, o->top, b1, sizeof(b1)), listed == 1 ? "" : "s",
				SUSPECT_WINDOW);
		else
			fprintf(out, "\n%s site%s by outstanding bytes (innermost frame first):\n",
				list_head(listed, o->top, b1, sizeof(b1)), listed == 1 ? "" : "s");
		if (o->suspects && s->reports == 0 && !strcmp(reason, "interval"))
			fprintf(out, "(first report: a score needs two reports; the next comes in %g s;\n"
				"until then sites are ranked by outstanding bytes)\n", o->interval);
		else if (o->suspects && s->reports == 0)
			fprintf(out, "(one report only: a score needs two, so sites are ranked by "
				"outstanding bytes;\ntrace for longer than %s)\n",
				o->interval > 0 ? "the interval" :
				"an interval, e.g. 'pyleakbpf -p PID --suspects 10'");
		for (size_t i = 0; i < snap->n && shown < (size_t)o->top; i++) {
			const struct site *si = &snap->sites[i];

			int r = site_listed(s, o, si);

			if (r < 0)
				break;
			if (!r)
				continue;
			shown++;
			fprintf(out, "\n#%zu %s outstanding in %s block%s", shown,
				human_bytes(si->out_bytes, b1, sizeof(b1)),
				thousands(si->out_count, b2, sizeof(b2)), si->out_count == 1 ? "" : "s");
			if (si->oldest_ns)
				fprintf(out, ", oldest %.1f s", (now - si->oldest_ns) / 1e9);
			fprintf(out, " (%" PRId64 " bytes; %s allocated in %s block%s while tracing)\n",
				si->out_bytes, human_bytes(si->total_bytes, b3, sizeof(b3)),
				thousands(si->total_count, b4, sizeof(b4)), si->total_count == 1 ? "" : "s");
			if (s->sample.on)
				fprintf(out, "  estimate: +/-%.0f%% (95%%), from %s sampled block%s\n",
					100 * site_err95(snap, si), thousands(si->sampled, b1, sizeof(b1)),
					si->sampled == 1 ? "" : "s");
			write_site_info(s, o, si, out);
			write_frames(si, o, out);
		}
		if (!shown)
			fprintf(out, "\n(%s)\n", o->suspects && s->reports ? "no site grew" :
				"no outstanding allocations");
	}
	write_type_table(s, snap, out);
	if (o->gc || o->cycles)
		write_gc(s, out);

	fprintf(out, "\nHooks (events while tracing):\n");
	for (int i = 0; i < pl->n; i++)
		fprintf(out, "  %-28s %-8s %14s  %s\n", pl->hooks[i].symbol,
			hook_kind_name(&pl->hooks[i]),
			thousands(snap->counters[i], b1, sizeof(b1)), pl->hooks[i].why);
	fprintf(out, "Counters:\n");
	for (int i = 0; i < CNT__MAX; i++)
		fprintf(out, "  %14s  %s\n", thousands(snap->counters[MAX_HOOKS + i], b1, sizeof(b1)),
			counter_names[i]);
	{
		struct named_count uc[USER_COUNTERS];
		size_t n = snapshot_user_counters(s, snap, uc);

		for (size_t i = 0; i < n; i++)
			fprintf(out, "  %14s  %s\n", thousands(uc[i].value, b1, sizeof(b1)),
				uc[i].name);
	}
	if (!snap->live_checked)
		fprintf(out, "  (liveness not checked: the target's memory could not be read)\n");
	write_coverage(s, snap, out);
}
