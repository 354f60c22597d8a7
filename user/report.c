// SPDX-License-Identifier: GPL-2.0
/*
 * Reports: a snapshot of the kernel maps, symbolized, merged by what the
 * user sees (the symbolized stack), ranked by outstanding bytes.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include "elffile.h"
#include "pyleak.h"
#include "pyleak.skel.h"
#include "probes.h"
#include "pyversions.h"
#include "report.h"
#include "symbolize.h"
#include "target.h"

#define KEY_MAX		(MAX_FRAMES * 300)

struct site {
	char *key;			/* folded frames, root first */
	const struct sym_stack *ss;	/* one of its stacks, for the text form */
	int64_t out_bytes, out_count;
	uint64_t total_bytes, total_count;
	uint64_t gc_bytes, gc_count;
	uint64_t oldest_ns;		/* 0: none outstanding */
};

uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + ts.tv_nsec;
}

char *human_bytes(double b, char *buf, size_t len)
{
	static const char *unit[] = { "B", "KiB", "MiB", "GiB", "TiB" };
	double a = b < 0 ? -b : b;
	int i = 0;

	/* pick the unit after rounding to one decimal: 1048575 is 1.0 MiB */
	while (i < 4 && a >= 1024 - (i ? 0.05 : 0.5)) {
		a /= 1024;
		b /= 1024;
		i++;
	}
	if (i == 0)
		snprintf(buf, len, "%.0f B", b);
	else
		snprintf(buf, len, "%.1f %s", b, unit[i]);
	return buf;
}

char *thousands(uint64_t v, char *buf, size_t len)
{
	char tmp[32];
	int n = snprintf(tmp, sizeof(tmp), "%" PRIu64, v);
	size_t need = n + (n - 1) / 3, o = 0;

	if (!len)
		return buf;
	if (need + 1 > len) {		/* does not fit: no separators */
		snprintf(buf, len, "%s", tmp);
		return buf;
	}
	for (int i = 0; i < n; i++) {
		if (i && (n - i) % 3 == 0)
			buf[o++] = ',';
		buf[o++] = tmp[i];
	}
	buf[o] = 0;
	return buf;
}

size_t folded_frames(const struct sym_stack *ss, bool full_path, char *buf, size_t len)
{
	char f[1024];
	size_t o = 0;

	buf[0] = 0;
	if (!ss->nframes) {
		const char *what = ss->flags & STACK_NO_TSTATE ? "[no Python thread state]" :
				   ss->flags & STACK_READ_ERR ? "[unknown]" : "[no Python frames]";

		o = snprintf(buf, len, "%s%s%s", what, ss->native ? ";" : "",
			     ss->native ? ss->native : "");
		return o < len ? o : len - 1;
	}
	if (ss->flags & STACK_TRUNCATED)
		o += snprintf(buf + o, len - o, "[truncated];");
	for (int i = ss->nframes - 1; i >= 0 && o < len; i--) {
		frame_format(&ss->frames[i], full_path, f, sizeof(f));
		o += snprintf(buf + o, len - o, "%s%s", f, i ? ";" : "");
	}
	/* the native caller is the leaf: the frame that called the allocator */
	if (ss->native && o < len)
		o += snprintf(buf + o, len - o, ";%s", ss->native);
	return o < len ? o : len - 1;
}

/* The symbolized stack of id, symbolizing it now if it was missed. */
static const struct sym_stack *stack_of(struct session *s, uint64_t id)
{
	static struct pystack st;
	const struct sym_stack *ss = symbolized(s->sym, id);

	if (ss)
		return ss;
	if (bpf_map_lookup_elem(bpf_map__fd(s->skel->maps.stacks), &id, &st))
		return NULL;
	return symbolize_stack(s->sym, id, &st);
}

int gc_hist_bucket(uint64_t ns)
{
	uint64_t us = ns / 1000;
	int b = 0;

	while (us > 1 && b < GC_HIST - 1) {
		us >>= 1;
		b++;
	}
	return b;
}

static void gc_record(struct session *s, const struct event *ev)
{
	struct gc_gen_stats *g;

	if (ev->generation >= GC_GENERATIONS) {
		s->gc_other_generation++;
		return;
	}
	g = &s->gc[ev->generation];
	g->collections++;
	g->collected += ev->b;
	g->total_ns += ev->a;
	if (ev->a > g->max_ns)
		g->max_ns = ev->a;
	g->hist[gc_hist_bucket(ev->a)]++;
	if (!g->pauses) {
		g->pauses = calloc(GC_SAMPLES, sizeof(*g->pauses));
		if (!g->pauses)
			return;
	}
	if (g->npauses < GC_SAMPLES) {
		g->pauses[g->npauses++] = ev->a;
	} else {
		/* reservoir sampling keeps a uniform sample of all pauses */
		uint64_t j = ((uint64_t)random() << 31 ^ random()) % g->collections;

		if (j < GC_SAMPLES)
			g->pauses[j] = ev->a;
	}
}

int report_on_event(void *ctx, void *data, size_t len)
{
	struct session *s = ctx;
	const struct event *ev = data;

	if (len < sizeof(*ev))
		return 0;
	if (ev->type == EV_NEW_STACK) {
		target_refresh(s->t);	/* launch mode: the interpreter may be new */
		stack_of(s, ev->a);
	}
	else if (ev->type == EV_GC)
		gc_record(s, ev);
	return 0;
}

void report_free(struct session *s)
{
	for (int i = 0; i < GC_GENERATIONS; i++)
		free(s->gc[i].pauses);
}

uint64_t percentile(const uint64_t *sorted, size_t n, double p)
{
	size_t i;

	if (!n)
		return 0;
	/* nearest rank */
	i = (size_t)(p / 100.0 * n + 0.999999);
	if (i < 1)
		i = 1;
	if (i > n)
		i = n;
	return sorted[i - 1];
}

static int cmp_key(const void *a, const void *b)
{
	return strcmp(((const struct site *)a)->key, ((const struct site *)b)->key);
}

static int cmp_gc_bytes(const void *a, const void *b)
{
	const struct site *x = a, *y = b;

	if (x->gc_bytes != y->gc_bytes)
		return x->gc_bytes < y->gc_bytes ? 1 : -1;
	return strcmp(x->key, y->key);
}

static int cmp_bytes(const void *a, const void *b)
{
	const struct site *x = a, *y = b;

	if (x->out_bytes != y->out_bytes)
		return x->out_bytes < y->out_bytes ? 1 : -1;
	return strcmp(x->key, y->key);
}

struct snapshot {
	struct site *sites;
	size_t n;
	struct u64map by_id;		/* stack id -> site index + 1 */
	uint64_t counters[COUNTERS_LEN];
};

static void read_counters(struct session *s, uint64_t *out)
{
	int ncpu = libbpf_num_possible_cpus(), fd = bpf_map__fd(s->skel->maps.counters);
	uint64_t *v = calloc(ncpu > 0 ? ncpu : 1, sizeof(*v));

	for (uint32_t i = 0; v && i < COUNTERS_LEN; i++) {
		out[i] = 0;
		if (bpf_map_lookup_elem(fd, &i, v))
			continue;
		for (int c = 0; c < ncpu; c++)
			out[i] += v[c];
	}
	free(v);
}

static int take_snapshot(struct session *s, const struct report_opts *o,
			 struct snapshot *snap)
{
	int fd = bpf_map__fd(s->skel->maps.stats);
	struct site *raw = NULL;
	size_t n = 0, cap = 0;
	uint64_t key, next, *pk = NULL;
	char *buf = malloc(KEY_MAX);

	memset(snap, 0, sizeof(*snap));
	if (!buf)
		return -ENOMEM;
	while (!bpf_map_get_next_key(fd, pk, &next)) {
		struct site_stats st;
		const struct sym_stack *ss = NULL;

		key = next;
		pk = &key;
		if (bpf_map_lookup_elem(fd, &key, &st))
			continue;
		if (n == cap) {
			cap = cap ? cap * 2 : 1024;
			raw = realloc(raw, cap * sizeof(*raw));
			if (!raw)
				return -ENOMEM;
		}
		if (key == STACK_ID_LOST) {
			snprintf(buf, KEY_MAX, "[lost stack: stack map full]");
		} else {
			ss = stack_of(s, key);
			if (ss)
				folded_frames(ss, o->full_path, buf, KEY_MAX);
			else
				snprintf(buf, KEY_MAX, "[unknown]");
		}
		raw[n] = (struct site){
			.key = strdup(buf), .ss = ss,
			.out_bytes = st.out_bytes, .out_count = st.out_count,
			.total_bytes = st.total_bytes, .total_count = st.total_count,
			.gc_bytes = st.gc_bytes, .gc_count = st.gc_count,
		};
		/* remember which site each id lands in; fixed up after merge */
		raw[n].oldest_ns = key;
		n++;
	}
	free(buf);
	if (n)
		qsort(raw, n, sizeof(*raw), cmp_key);
	/* merge stacks that symbolize the same */
	for (size_t i = 0; i < n; i++) {
		uint64_t id = raw[i].oldest_ns;

		if (snap->n && !strcmp(snap->sites[snap->n - 1].key, raw[i].key)) {
			struct site *d = &snap->sites[snap->n - 1];

			d->out_bytes += raw[i].out_bytes;
			d->out_count += raw[i].out_count;
			d->total_bytes += raw[i].total_bytes;
			d->total_count += raw[i].total_count;
			d->gc_bytes += raw[i].gc_bytes;
			d->gc_count += raw[i].gc_count;
			free(raw[i].key);
		} else {
			if (!snap->sites)
				snap->sites = calloc(n, sizeof(*snap->sites));
			snap->sites[snap->n] = raw[i];
			snap->sites[snap->n].oldest_ns = 0;
			snap->n++;
		}
		u64map_put(&snap->by_id, id, (void *)(uintptr_t)snap->n);
	}
	free(raw);

	/*
	 * Oldest outstanding block per site; with --older, the outstanding
	 * totals are recounted from the blocks old enough.
	 */
	if (o->older_ns)
		for (size_t i = 0; i < snap->n; i++)
			snap->sites[i].out_bytes = snap->sites[i].out_count = 0;
	{
		uint64_t cutoff = now_ns() - o->older_ns;
		int afd = bpf_map__fd(s->skel->maps.allocs);
		enum { BATCH = 4096 };
		struct alloc_key *keys = calloc(BATCH, sizeof(*keys));
		struct alloc_info *vals = calloc(BATCH, sizeof(*vals));
		struct alloc_key in, out;
		void *pin = NULL;
		int err = 0;

		while (keys && vals && !err) {
			__u32 cnt = BATCH;
			LIBBPF_OPTS(bpf_map_batch_opts, bo);

			err = bpf_map_lookup_batch(afd, pin, &out, keys, vals, &cnt, &bo);
			if (err && errno != ENOENT)
				break;
			for (__u32 i = 0; i < cnt; i++) {
				uintptr_t idx = (uintptr_t)u64map_get(&snap->by_id, vals[i].stack_id);
				struct site *si;

				if (!idx || keys[i].tgid != (uint32_t)s->t->pid)
					continue;
				if (o->older_ns && vals[i].ts_ns > cutoff)
					continue;
				si = &snap->sites[idx - 1];
				if (o->older_ns) {
					si->out_bytes += vals[i].size;
					si->out_count++;
				}
				if (!si->oldest_ns || vals[i].ts_ns < si->oldest_ns)
					si->oldest_ns = vals[i].ts_ns;
			}
			in = out;
			pin = &in;
		}
		free(keys);
		free(vals);
	}
	if (snap->n)
		qsort(snap->sites, snap->n, sizeof(*snap->sites), o->cycles ? cmp_gc_bytes : cmp_bytes);
	/* the id -> index map is stale after sorting; it is not used again */
	read_counters(s, snap->counters);
	return 0;
}

static void free_snapshot(struct snapshot *snap)
{
	for (size_t i = 0; i < snap->n; i++)
		free(snap->sites[i].key);
	free(snap->sites);
	u64map_free(&snap->by_id);
}

/* Outstanding bytes per stack; with --cycles, bytes the cyclic GC freed. */
static void write_folded(const struct snapshot *snap, const struct report_opts *o)
{
	for (size_t i = 0; i < snap->n; i++) {
		const struct site *si = &snap->sites[i];
		int64_t v = o->cycles ? (int64_t)si->gc_bytes : si->out_bytes;

		if (v > 0)
			fprintf(o->out, "%s %" PRId64 "\n", si->key, v);
	}
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static char *human_ns(uint64_t ns, char *buf, size_t len)
{
	if (ns < 1000000)
		snprintf(buf, len, "%.1f us", ns / 1e3);
	else if (ns < 1000000000)
		snprintf(buf, len, "%.2f ms", ns / 1e6);
	else
		snprintf(buf, len, "%.2f s", ns / 1e9);
	return buf;
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

static void write_cycles(struct session *s, const struct report_opts *o,
			 const struct snapshot *snap, FILE *out)
{
	char b1[32], b2[32], b3[32];
	size_t shown = 0;

	if (s->plan->gc == GC_NONE) {
		fprintf(out, "\nCycles: no attribution: %s\n", s->plan->gc_why);
		return;
	}
	fprintf(out, "\nTop %d sites by bytes the cyclic GC freed (innermost frame first):\n", o->top);
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

static const char *counter_names[CNT__MAX] = {
	[CNT_ALLOCS_FULL] = "allocations dropped (live-block map full)",
	[CNT_STACKS_FULL] = "stacks lost (stack map full; bytes kept as [lost stack])",
	[CNT_STATS_FULL] = "allocations not aggregated (site map full)",
	[CNT_INFLIGHT_FULL] = "calls not followed (in-flight map full)",
	[CNT_NEST_OVERFLOW] = "calls nested too deep to follow",
	[CNT_STACK_READ_ERR] = "stack reads that failed (stack cut short)",
	[CNT_NO_TSTATE] = "allocations with no Python thread state (GIL not held)",
	[CNT_TRUNCATED] = "stacks truncated at 127 frames",
	[CNT_REUSED] = "blocks whose free was not seen (address reused)",
	[CNT_NESTED_SKIPPED] = "inner allocator calls counted once, at the outer hook",
	[CNT_NESTED_REPLACED] = "inner records taken back when the outer call returned the block",
	[CNT_FREE_UNKNOWN] = "frees of blocks not tracked (allocated before tracing, unseen,\n"
			     "                  or already dropped by an outer free hook)",
	[CNT_FINAL_IGNORED] = "events ignored during interpreter shutdown",
	[CNT_UNMATCHED] = "allocator calls seen only half (probe attached mid-call)",
	[CNT_NEW_STACK_LOST] = "new-stack notices dropped (symbolized at report time)",
	[CNT_GC_EVENT_LOST] = "GC events dropped (ring buffer full)",
	[CNT_GC_UNMATCHED] = "GC ends without a start (attached mid-collection)",
};

static void write_text(struct session *s, const struct report_opts *o,
		       const struct snapshot *snap, const char *reason)
{
	const struct target *t = s->t;
	const struct probe_plan *pl = s->plan;
	uint64_t now = now_ns();
	int64_t ob = 0, oc = 0;
	uint64_t tb = 0, tc = 0;
	size_t nsites = 0, shown = 0;
	char b1[32], b2[32], b3[32], b4[32];
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
		elf_file_has_symtab(t->elf) ? ", .symtab" : ", stripped");
	fprintf(out, "report %d (%s) after %.1f s of tracing; %s\n", s->reports + 1, reason,
		(now - s->start_ns) / 1e9, s->mode);
	fprintf(out, "outstanding (allocated since tracing began, not freed): %s in %s blocks at %zu sites\n"
		"allocated while tracing: %s in %s blocks\n",
		human_bytes(ob, b1, sizeof(b1)), thousands(oc > 0 ? oc : 0, b2, sizeof(b2)), nsites,
		human_bytes(tb, b3, sizeof(b3)), thousands(tc, b4, sizeof(b4)));
	if (s->target_exited)
		fprintf(out, "the target has exited; blocks freed during interpreter shutdown are not subtracted\n");
	if (o->older_ns)
		fprintf(out, "only blocks older than %.1f s are counted as outstanding (--older)\n",
			o->older_ns / 1e9);

	if (o->cycles) {
		write_cycles(s, o, snap, out);
	} else {
		fprintf(out, "\nTop %d sites by outstanding bytes (innermost frame first):\n", o->top);
		for (size_t i = 0; i < snap->n && shown < (size_t)o->top; i++) {
			const struct site *si = &snap->sites[i];

			if (si->out_bytes <= 0)
				break;
			shown++;
			fprintf(out, "\n#%zu %s outstanding in %s block%s", shown,
				human_bytes(si->out_bytes, b1, sizeof(b1)),
				thousands(si->out_count, b2, sizeof(b2)), si->out_count == 1 ? "" : "s");
			if (si->oldest_ns)
				fprintf(out, ", oldest %.1f s", (now - si->oldest_ns) / 1e9);
			fprintf(out, " (%" PRId64 " bytes; %s allocated in %s block%s while tracing)\n",
				si->out_bytes, human_bytes(si->total_bytes, b3, sizeof(b3)),
				thousands(si->total_count, b4, sizeof(b4)), si->total_count == 1 ? "" : "s");
			write_frames(si, o, out);
		}
		if (!shown)
			fprintf(out, "\n(no outstanding allocations)\n");
	}
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
	fprintf(out, "  %14s  frames unsymbolized ([unknown])\n",
		thousands(s->sym->frames_unknown, b1, sizeof(b1)));
	fprintf(out, "  %14s  code objects found replaced at a known address (re-read)\n",
		thousands(s->sym->code_reused, b1, sizeof(b1)));
	fprintf(out, "Coverage: ");
	if (pl->libc_malloc)
		fprintf(out, "complete for Python objects: the target runs with PYTHONMALLOC=malloc,\n"
			"  so every allocation goes through libc's malloc in %s, which is hooked\n"
			"  (so are native allocations of C extensions). pymalloc is off: memory use\n"
			"  and speed differ from a normal run.\n", pl->libc_path);
	else if (pl->allocator_inlined)
		fprintf(out, "PARTIAL. pymalloc is inlined in this build (%s):\n"
			"  instances of Python classes (tp_alloc) and calls from C extensions are seen;\n"
			"  dicts, lists, str, bytes and other objects the interpreter's own C code\n"
			"  builds are NOT seen.\n", pl->inline_evidence);
	else
		fprintf(out, "every PyObject_*/PyMem_*/PyMem_Raw* allocation is seen (%s).\n",
			pl->inline_evidence[0] ? pl->inline_evidence : "no inlining detected");
	fprintf(out, "  Not seen by any allocation tracer: objects reused from freelists (they\n"
		"  stay outstanding at the site that first allocated them), and memory pymalloc\n"
		"  keeps in its arenas after frees (RSS can stay high with nothing outstanding).\n");
}

int report_write(struct session *s, const struct report_opts *o, const char *reason)
{
	struct snapshot snap;
	int err = take_snapshot(s, o, &snap);

	if (err)
		return err;
	if (o->folded)
		write_folded(&snap, o);
	else
		write_text(s, o, &snap, reason);
	fflush(o->out);
	free_snapshot(&snap);
	s->reports++;
	return 0;
}
