// SPDX-License-Identifier: GPL-2.0
/*
 * Reports: a snapshot of the kernel maps, symbolized, merged by what the
 * user sees (the symbolized stack), ranked by outstanding bytes.
 */
#include <errno.h>
#include <math.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include "elffile.h"
#include "fmt.h"
#include "heapscan.h"
#include "objtypes.h"
#include "profile.h"
#include "pyleak.h"
#include "pyleak.skel.h"
#include "probes.h"
#include "pyversions.h"
#include "report.h"
#include "symbolize.h"
#include "target.h"

#define KEY_MAX		(MAX_FRAMES * 300)
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
};

static size_t read_stats(struct session *s, uint64_t **ids, struct site_stats **vals);

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

void report_recycle_stacks(struct session *s, long max_stacks)
{
	int fd = bpf_map__fd(s->skel->maps.stats), sfd = bpf_map__fd(s->skel->maps.stacks);
	struct site_stats *vals;
	size_t n, nret = 0;
	uint64_t *ids;

	n = read_stats(s, &ids, &vals);
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
		stack_of(s, ids[i]);	/* symbolized before its raw stack goes */
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

/* What the hooks saw of the memory retained while tracing (see coverage()). */
struct coverage {
	bool heap_known;		/* the pymalloc heap could be read */
	int64_t heap_growth;		/* pymalloc bytes in use: now - at start */
	uint64_t small_tracked;		/* outstanding pymalloc blocks we track, by size class */
	uint64_t small_blocks;		/* how many */
	uint64_t large_tracked;		/* outstanding blocks outside pymalloc we track */
	uint64_t heap_now;
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
};

/*
 * --sample: the windows see some unknown share f of the allocations (the
 * target runs far slower inside them, so it is not their share of the
 * time). The pymalloc heap, read from outside, grew by G while tracing;
 * the sampled blocks still outstanding in it hold S: f is taken as S / G,
 * and every sampled figure is scaled by k = G / S. The error is that of
 * the number of sampled blocks behind S (Poisson).
 */
static void sample_scale(const struct session *s, const struct snapshot *snap,
			 struct sample_scale *out)
{
	const struct coverage *c = &snap->cov;

	memset(out, 0, sizeof(*out));
	out->k = out->f = 1;
	if (!s->sample.on)
		return;
	out->k = out->f = 0;
	out->growth = c->heap_growth;
	out->seen = c->small_tracked;
	out->seen_blocks = c->small_blocks;
	if (!c->heap_known || c->heap_growth <= 0 || !c->small_tracked ||
	    (uint64_t)c->heap_growth < c->small_tracked)
		return;
	out->k = (double)c->heap_growth / c->small_tracked;
	out->f = 1 / out->k;
	out->f_rel_err = 1 / sqrt((double)c->small_blocks);
}

/* Sampled counts -> estimates for the whole target. */
static void apply_scale(struct snapshot *snap)
{
	double k = snap->scale.k;

	for (size_t i = 0; i < snap->n; i++) {
		struct site *si = &snap->sites[i];

		si->sampled = si->out_count > 0 ? si->out_count : 0;
		si->out_bytes = llround(si->out_bytes * k);
		si->out_count = llround(si->out_count * k);
		si->total_bytes = llround(si->total_bytes * k);
		si->total_count = llround(si->total_count * k);
		si->gc_bytes = llround(si->gc_bytes * k);
		si->gc_count = llround(si->gc_count * k);
		for (int j = 0; j < si->ntypes; j++) {
			si->types[j].count = llround(si->types[j].count * k);
			si->types[j].bytes = llround(si->types[j].bytes * k);
		}
	}
	for (size_t i = 0; i < snap->ntypes; i++) {
		snap->types[i].count = llround(snap->types[i].count * k);
		snap->types[i].bytes = llround(snap->types[i].bytes * k);
	}
	snap->cov.small_tracked = llround(snap->cov.small_tracked * k);
	snap->cov.large_tracked = llround(snap->cov.large_tracked * k);
}

/* 95% bound of a site's estimate, relative. */
static double site_err95(const struct snapshot *snap, const struct site *si)
{
	double r = snap->scale.f_rel_err * snap->scale.f_rel_err;

	if (si->sampled)
		r += 1.0 / si->sampled;
	return 1.96 * sqrt(r);
}

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

static int blocks_add(struct blocks *bl, const struct block *b)
{
	if (bl->n == bl->cap) {
		size_t cap = bl->cap ? bl->cap * 2 : 65536;
		struct block *nb = realloc(bl->b, cap * sizeof(*nb));

		if (!nb)
			return -ENOMEM;
		bl->b = nb;
		bl->cap = cap;
	}
	bl->b[bl->n++] = *b;
	return 0;
}

/*
 * pymalloc serves requests up to 512 bytes from size classes of 16 bytes;
 * a debug build's hooks add 3 words around each block first.
 */
static uint64_t pymalloc_class(uint64_t size, bool debug)
{
	if (debug)
		size += 24;
	if (!size)
		size = 1;
	return size > 512 ? 0 : (size + 15) & ~15ULL;
}

static bool hook_in_libc(const struct session *s, uint32_t hook)
{
	return hook < (uint32_t)s->plan->n && s->plan->hooks[hook].path;
}

/* Sites' oldest blocks; --older recounts; blocks kept for types/coverage. */
static void scan_blocks(struct session *s, const struct report_opts *o,
			struct snapshot *snap, struct blocks *bl)
{
	uint64_t cutoff = now_ns() - o->older_ns;
	int afd = bpf_map__fd(s->skel->maps.allocs);
	enum { BATCH = 65536 };
	struct alloc_key *keys = calloc(BATCH, sizeof(*keys));
	struct alloc_info *vals = calloc(BATCH, sizeof(*vals));
	struct alloc_key in, out;
	void *pin = NULL;
	int err = 0;

	if (o->older_ns)
		for (size_t i = 0; i < snap->n; i++)
			snap->sites[i].out_bytes = snap->sites[i].out_count = 0;
	while (keys && vals && !err) {
		__u32 cnt = BATCH;
		LIBBPF_OPTS(bpf_map_batch_opts, bo);

		err = bpf_map_lookup_batch(afd, pin, &out, keys, vals, &cnt, &bo);
		if (err && errno != ENOENT)
			break;
		for (__u32 i = 0; i < cnt; i++) {
			uintptr_t idx = (uintptr_t)u64map_get(&snap->by_id, vals[i].stack_id);
			uint32_t hook = vals[i].hook;
			bool libc = hook_in_libc(s, hook) || s->plan->libc_malloc;
			uint64_t cls = libc ? 0 : pymalloc_class(vals[i].size, s->t->debug_build);
			struct site *si;

			if (!idx || keys[i].tgid != (uint32_t)s->t->pid)
				continue;
			/* coverage counts every outstanding block, --older or not */
			if (cls) {
				snap->cov.small_tracked += cls;
				snap->cov.small_blocks++;
			} else
				snap->cov.large_tracked += vals[i].size;
			if (o->older_ns && vals[i].ts_ns > cutoff)
				continue;
			si = &snap->sites[idx - 1];
			if (o->older_ns) {
				si->out_bytes += vals[i].size;
				si->out_count++;
			}
			if (!si->oldest_ns || vals[i].ts_ns < si->oldest_ns)
				si->oldest_ns = vals[i].ts_ns;
			if (bl) {
				struct block b = {
					.addr = keys[i].addr,
					.size = vals[i].size > UINT32_MAX ? UINT32_MAX : vals[i].size,
					.site = idx - 1,
					.is_object = hook < (uint32_t)s->plan->n &&
						     s->plan->hooks[hook].klass == HC_SLOT,
				};

				if (blocks_add(bl, &b)) {
					free(bl->b);
					memset(bl, 0, sizeof(*bl));
					bl = NULL;
				}
			}
		}
		in = out;
		pin = &in;
	}
	free(keys);
	free(vals);
}

static int cmp_type_count(const void *a, const void *b)
{
	const struct type_count *x = a, *y = b;

	if (x->bytes != y->bytes)
		return x->bytes < y->bytes ? 1 : -1;
	return x->type < y->type ? -1 : x->type > y->type;
}

static int cmp_type_row(const void *a, const void *b)
{
	const struct type_row *x = a, *y = b;

	if (x->count != y->count)
		return x->count < y->count ? 1 : -1;
	return x->type < y->type ? -1 : x->type > y->type;
}

/* Keep the SITE_TYPES largest types of a site. */
static void site_type_add(struct site *si, uint32_t type, uint64_t count, uint64_t bytes)
{
	struct type_count tc = { type, count, bytes };

	si->typed += count;
	if (si->ntypes < SITE_TYPES) {
		si->types[si->ntypes++] = tc;
	} else if (bytes > si->types[SITE_TYPES - 1].bytes) {
		si->types[SITE_TYPES - 1] = tc;
	} else {
		return;
	}
	qsort(si->types, si->ntypes, sizeof(si->types[0]), cmp_type_count);
}

/*
 * Object types of the outstanding blocks, read from the target: per site,
 * the dominant types; for the process, a table by type with growth.
 */
static void read_types(struct session *s, struct snapshot *snap, struct blocks *bl)
{
	enum { CHUNK = 65536 };
	struct ot_block *ob;
	uint32_t *out, ntypes;
	uint64_t *tc, *tb;

	if (!s->types)
		s->types = objtypes_new(s->t->pid, s->t->pv);
	if (!s->types || !bl->n)
		return;
	ob = malloc(CHUNK * sizeof(*ob));
	out = malloc(CHUNK * sizeof(*out));
	for (size_t i = 0; ob && out && i < bl->n; i += CHUNK) {
		size_t n = bl->n - i < CHUNK ? bl->n - i : CHUNK;

		for (size_t j = 0; j < n; j++)
			ob[j] = (struct ot_block){ bl->b[i + j].addr, bl->b[i + j].size,
						   bl->b[i + j].is_object };
		if (objtypes_classify(s->types, ob, n, out)) {
			free(ob);
			free(out);
			return;
		}
		for (size_t j = 0; j < n; j++)
			bl->b[i + j].type = out[j];
	}
	free(ob);
	free(out);
	snap->types_read = true;

	/* per site and type: counted through a hash, no sort of the blocks */
	ntypes = objtypes_count(s->types);
	tc = calloc(ntypes, sizeof(*tc));
	tb = calloc(ntypes, sizeof(*tb));
	if (!tc || !tb)
		goto out;
	{
		struct pair {
			uint32_t site, type;
			uint64_t count, bytes;
		} *acc = NULL;
		struct u64map idx = { 0 };
		size_t nacc = 0, cap = 0;

		for (size_t i = 0; i < bl->n; i++) {
			const struct block *b = &bl->b[i];
			uint64_t k = ((uint64_t)b->site << 32 | b->type) + 1;
			uintptr_t j = (uintptr_t)u64map_get(&idx, k);

			if (!j) {
				if (nacc == cap) {
					struct pair *na;

					cap = cap ? 2 * cap : 4096;
					na = realloc(acc, cap * sizeof(*acc));
					if (!na)
						break;
					acc = na;
				}
				acc[nacc] = (struct pair){ b->site, b->type, 0, 0 };
				j = ++nacc;
				if (u64map_put(&idx, k, (void *)j))
					break;
			}
			acc[j - 1].count++;
			acc[j - 1].bytes += b->size;
			if (b->type < ntypes) {
				tc[b->type]++;
				tb[b->type] += b->size;
			}
		}
		for (size_t j = 0; j < nacc; j++)
			site_type_add(&snap->sites[acc[j].site], acc[j].type, acc[j].count,
				      acc[j].bytes);
		free(acc);
		u64map_free(&idx);
	}
	snap->types = calloc(ntypes, sizeof(*snap->types));
	for (uint32_t t = 0; snap->types && t < ntypes; t++) {
		int64_t prev = t < s->ntype_prev ? (int64_t)s->type_prev[t] : 0;

		if (t == OT_NOT_OBJECT)
			snap->not_objects = tc[t];
		else if (t == OT_UNREADABLE)
			snap->unreadable = tc[t];
		else
			snap->typed += tc[t];
		if (t < OT_FIRST_TYPE || (!tc[t] && !prev))
			continue;
		snap->types[snap->ntypes++] = (struct type_row){ t, tc[t], tb[t], (int64_t)tc[t] - prev };
	}
	if (snap->types)
		qsort(snap->types, snap->ntypes, sizeof(*snap->types), cmp_type_row);
	/* remember this report's counts for the next one's growth */
	free(s->type_prev);
	s->type_prev = tc;
	s->ntype_prev = ntypes;
	tc = NULL;
out:
	free(tc);
	free(tb);
}

void report_heap_baseline(struct session *s)
{
	struct heap_usage *h;

	if (s->plan->libc_malloc)
		return;		/* PYTHONMALLOC=malloc: no pymalloc heap */
	h = calloc(1, sizeof(*h));
	if (h && heapscan_pymalloc(s->t->pid, h)) {
		free(h);
		h = NULL;
	}
	free(s->heap0);
	s->heap0 = h;
}

static void read_coverage(struct session *s, struct snapshot *snap)
{
	struct heap_usage now;

	if (!s->heap0 || s->target_exited || heapscan_pymalloc(s->t->pid, &now))
		return;
	snap->cov.heap_known = true;
	snap->cov.heap_now = now.bytes;
	snap->cov.heap_growth = (int64_t)now.bytes - (int64_t)s->heap0->bytes;
}

static uint64_t fnv64(const char *k)
{
	uint64_t h = 0xcbf29ce484222325ULL;

	while (*k)
		h = (h ^ (unsigned char)*k++) * 0x100000001b3ULL;
	return h | 1;	/* u64map keys are never 0 */
}

/*
 * Every entry of the per-stack aggregates, in batches of 4096 (one system
 * call each, not two per entry). Returns the count; *ids and *vals are
 * malloc'ed.
 */
static size_t read_stats(struct session *s, uint64_t **ids, struct site_stats **vals)
{
	int fd = bpf_map__fd(s->skel->maps.stats);
	size_t n = 0, cap = 4096;
	uint64_t in, out;
	void *pin = NULL;
	int err = 0;

	*ids = malloc(cap * sizeof(**ids));
	*vals = malloc(cap * sizeof(**vals));
	while (*ids && *vals && !err) {
		__u32 cnt = 4096;
		LIBBPF_OPTS(bpf_map_batch_opts, bo);

		if (n + cnt > cap) {
			uint64_t *ni = realloc(*ids, 2 * cap * sizeof(**ids));
			struct site_stats *nv = ni ? realloc(*vals, 2 * cap * sizeof(**vals)) : NULL;

			if (ni)
				*ids = ni;
			if (!nv)
				break;
			*vals = nv;
			cap *= 2;
		}
		err = bpf_map_lookup_batch(fd, pin, &out, *ids + n, *vals + n, &cnt, &bo);
		if (err && errno != ENOENT)
			break;
		n += cnt;
		in = out;
		pin = &in;
	}
	return n;
}

/* Growth since the previous and first reports, and the suspect score. */
static void update_history(struct session *s, struct snapshot *snap, double t)
{
	for (size_t i = 0; i < snap->n; i++) {
		struct site *si = &snap->sites[i];
		uint64_t k = fnv64(si->key);
		struct site_hist *h = u64map_get(&s->hist, k);

		if (!h) {
			h = calloc(1, sizeof(*h));
			if (!h || u64map_put(&s->hist, k, h)) {
				free(h);
				continue;
			}
			h->first_report = s->reports + 1;
			h->first_bytes = si->out_bytes;
			/* before it was first seen it had nothing outstanding */
			hist_push(h, 0, 0);
		} else {
			si->seen_before = true;
		}
		si->d_prev = si->out_bytes - (h->n ? h->v[h->n - 1] : 0);
		si->d_first = si->out_bytes - h->first_bytes;
		hist_push(h, t, si->out_bytes);
		suspect_score(h, &si->sus);
	}
}

void hist_push(struct site_hist *h, double t, int64_t v)
{
	if (h->n == HIST_MAX) {
		memmove(h->t, h->t + 1, (HIST_MAX - 1) * sizeof(h->t[0]));
		memmove(h->v, h->v + 1, (HIST_MAX - 1) * sizeof(h->v[0]));
		h->n--;
	}
	h->t[h->n] = t;
	h->v[h->n] = v;
	h->n++;
}

#define SUSPECT_WINDOW	8	/* intervals looked at */

void suspect_score(const struct site_hist *h, struct suspect *out)
{
	int first = h->n - 1 - SUSPECT_WINDOW, k, mid;
	double st = 0, sv = 0, stt = 0, stv = 0, m, var, total, late;

	memset(out, 0, sizeof(*out));
	if (first < 0)
		first = 0;
	k = h->n - 1 - first;		/* intervals in the window */
	if (k < 1)
		return;
	for (int i = first; i <= h->n - 1; i++) {
		st += h->t[i];
		sv += h->v[i];
	}
	m = k + 1;
	for (int i = first; i <= h->n - 1; i++) {
		stt += (h->t[i] - st / m) * (h->t[i] - st / m);
		stv += (h->t[i] - st / m) * (h->v[i] - sv / m);
	}
	var = stt;
	out->slope = var > 0 ? stv / var : 0;
	out->intervals = k;
	for (int i = first + 1; i <= h->n - 1; i++)
		out->grew += h->v[i] > h->v[i - 1];
	total = (double)(h->v[h->n - 1] - h->v[first]);
	mid = first + (k + 1) / 2;
	late = (double)(h->v[h->n - 1] - h->v[mid]);
	out->late = total > 0 ? late / total : 0;
	if (out->late < 0)
		out->late = 0;
	if (out->late > 1)
		out->late = 1;
	if (out->slope <= 0 || total <= 0)
		return;
	out->score = out->slope * ((double)out->grew / k) * out->late;
}

static int cmp_score(const void *a, const void *b)
{
	const struct site *x = a, *y = b;

	if (x->sus.score != y->sus.score)
		return x->sus.score < y->sus.score ? 1 : -1;
	if (x->out_bytes != y->out_bytes)
		return x->out_bytes < y->out_bytes ? 1 : -1;
	return strcmp(x->key, y->key);
}

static int take_snapshot(struct session *s, const struct report_opts *o,
			 struct snapshot *snap)
{
	struct site *raw = NULL;
	size_t n = 0, cap = 0, nids;
	uint64_t key, *ids;
	struct site_stats *vals;
	char *buf = malloc(KEY_MAX);
	struct blocks bl = { 0 };
	bool want_blocks = !o->no_types && !o->folded;

	memset(snap, 0, sizeof(*snap));
	if (!buf)
		return -ENOMEM;
	nids = read_stats(s, &ids, &vals);
	for (size_t i = 0; i < nids; i++) {
		const struct site_stats st = vals[i];
		const struct sym_stack *ss = NULL;

		key = ids[i];
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
	free(ids);
	free(vals);
	free(buf);
	/* recycled stacks: their totals, under the site they symbolize to */
	for (size_t i = 0; i < s->retired.cap; i++) {
		const struct site_stats *st = s->retired.vals[i];
		uint64_t id = s->retired.keys[i];
		const struct sym_stack *ss;
		char *key;

		if (!id)
			continue;
		ss = symbolized(s->sym, id);
		key = malloc(KEY_MAX);
		if (!key)
			break;
		if (ss)
			folded_frames(ss, o->full_path, key, KEY_MAX);
		else
			snprintf(key, KEY_MAX, "[unknown]");
		if (n == cap) {
			cap = cap ? cap * 2 : 1024;
			raw = realloc(raw, cap * sizeof(*raw));
			if (!raw)
				return -ENOMEM;
		}
		raw[n] = (struct site){
			.key = key, .ss = ss,
			.total_bytes = st->total_bytes, .total_count = st->total_count,
			.gc_bytes = st->gc_bytes, .gc_count = st->gc_count,
		};
		raw[n].oldest_ns = id;
		n++;
	}
	if (n)
		qsort(raw, n, sizeof(*raw), cmp_key);
	/* merge stacks that symbolize the same, in place */
	snap->sites = raw;
	for (size_t i = 0; i < n; i++) {
		uint64_t id = raw[i].oldest_ns;

		if (snap->n && !strcmp(snap->sites[snap->n - 1].key, raw[i].key)) {
			struct site *d = &snap->sites[snap->n - 1];

			if (!d->ss)
				d->ss = raw[i].ss;
			d->out_bytes += raw[i].out_bytes;
			d->out_count += raw[i].out_count;
			d->total_bytes += raw[i].total_bytes;
			d->total_count += raw[i].total_count;
			d->gc_bytes += raw[i].gc_bytes;
			d->gc_count += raw[i].gc_count;
			free(raw[i].key);
		} else {
			snap->sites[snap->n] = raw[i];
			snap->sites[snap->n].oldest_ns = 0;
			snap->n++;
		}
		u64map_put(&snap->by_id, id, (void *)(uintptr_t)snap->n);
	}

	scan_blocks(s, o, snap, want_blocks ? &bl : NULL);
	if (want_blocks)
		read_types(s, snap, &bl);
	free(bl.b);
	read_coverage(s, snap);
	read_counters(s, snap->counters);
	sample_scale(s, snap, &snap->scale);
	if (s->sample.on && snap->scale.k)
		apply_scale(snap);
	update_history(s, snap, (now_ns() - s->start_ns) / 1e9);
	if (snap->n)
		qsort(snap->sites, snap->n, sizeof(*snap->sites),
		      o->cycles ? cmp_gc_bytes : o->suspects ? cmp_score : cmp_bytes);
	/* the id -> index map is stale after sorting; it is not used again */
	return 0;
}

static void free_snapshot(struct snapshot *snap)
{
	for (size_t i = 0; i < snap->n; i++)
		free(snap->sites[i].key);
	free(snap->sites);
	free(snap->types);
	u64map_free(&snap->by_id);
}

/* Outstanding bytes per stack; with --cycles, bytes the cyclic GC freed. */
static void write_folded(const struct snapshot *snap, const struct report_opts *o)
{
	for (size_t i = 0; i < snap->n; i++) {
		const struct site *si = &snap->sites[i];
		int64_t v = o->cycles ? (int64_t)(o->count ? si->gc_count : si->gc_bytes) :
			    o->count ? si->out_count : si->out_bytes;

		if (v > 0)
			fprintf(o->out, "%s %" PRId64 "\n", si->key, v);
	}
}

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

static const char *type_name(const struct session *s, uint32_t t)
{
	return s->types ? objtypes_name(s->types, t) : "?";
}

/* Lines under a site's header: growth, suspect score, object types. */
static void write_site_info(const struct session *s, const struct report_opts *o,
			    const struct site *si, FILE *out)
{
	char b1[32], b2[32], b3[32];

	if (s->reports > 0 && si->seen_before) {
		const struct site_hist *h = u64map_get(&s->hist, fnv64(si->key));

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

/* Share of the memory retained while tracing that the report attributes. */
static double coverage_share(const struct coverage *c, double *small_share)
{
	double small_total, all;

	*small_share = -1;
	if (!c->heap_known)
		return -1;
	/* the heap may have shrunk elsewhere: tracked blocks are a floor */
	small_total = c->heap_growth > (int64_t)c->small_tracked ?
		      (double)c->heap_growth : (double)c->small_tracked;
	all = small_total + c->large_tracked;
	if (small_total >= 256 * 1024)
		*small_share = c->small_tracked / small_total;
	if (all < 256 * 1024)
		return -1;	/* too little retained to measure */
	return (c->small_tracked + c->large_tracked) / all;
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
			fprintf(out, "  pymalloc is inlined in this build (%s): seen are instances of\n"
				"  Python classes (tp_alloc), calls from C extensions%s, and blocks over\n"
				"  512 bytes (libc); NOT seen: dicts, lists, tuples, ints, floats%s and other\n"
				"  small objects the interpreter's C code allocates. --malloc (launch mode)\n"
				"  sees everything.\n", pl->inline_evidence,
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
		elf_file_debug_path(t->elf) ? ", stripped, symbols from a debug file" :
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
	if (s->sample.on)
		write_sampling(s, snap, out);

	if (o->cycles) {
		write_cycles(s, o, snap, out);
	} else {
		if (o->suspects)
			fprintf(out, "\nTop %d leak suspects: sites whose outstanding bytes grew steadily over "
				"the last %d reports\n(score = slope x share of intervals that grew x "
				"share of growth in the later half; innermost frame first):\n",
				o->top, SUSPECT_WINDOW);
		else
			fprintf(out, "\nTop %d sites by outstanding bytes (innermost frame first):\n", o->top);
		if (o->suspects && s->reports == 0)
			fprintf(out, "(one report so far: scores need two; use an interval, "
				"e.g. 'pyleakbpf -p PID --suspects 10')\n");
		for (size_t i = 0; i < snap->n && shown < (size_t)o->top; i++) {
			const struct site *si = &snap->sites[i];

			if (si->out_bytes <= 0 && !(o->suspects && si->sus.score > 0))
				continue;
			if (o->suspects && si->sus.score <= 0 && s->reports > 0)
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
	fprintf(out, "  %14s  frames unsymbolized ([unknown])\n",
		thousands(s->sym->frames_unknown, b1, sizeof(b1)));
	fprintf(out, "  %14s  code objects found replaced at a known address (re-read)\n",
		thousands(s->sym->code_reused, b1, sizeof(b1)));
	fprintf(out, "  %14s  idle stacks recycled from a nearly full stack map (totals kept)\n",
		thousands(s->stacks_recycled, b1, sizeof(b1)));
	fprintf(out, "  %14s  native callers without a symbol\n",
		thousands(s->sym->native.unknown, b1, sizeof(b1)));
	write_coverage(s, snap, out);
}

/* --- JSON ------------------------------------------------------------ */

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

static void write_json(struct session *s, const struct report_opts *o,
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
			",\"err95\":%.4f,\"types\":[",
			si->out_bytes, si->out_count, si->total_bytes, si->total_count,
			si->gc_bytes, si->gc_count,
			si->oldest_ns ? (now_ns() - si->oldest_ns) / 1e9 : 0.0,
			si->d_prev, si->d_first, si->sus.score, si->sus.grew, si->sus.intervals,
			si->sampled, s->sample.on ? site_err95(snap, si) : 0.0);
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
	fprintf(out, "}}\n");
}

/* --- the profile every other format is written from -------------------- */

static int build_profile(const struct session *s, const struct snapshot *snap,
			 struct profile *p, struct prof_frame **store)
{
	size_t nf = 0, k = 0;
	struct prof_frame *fr;

	memset(p, 0, sizeof(*p));
	for (size_t i = 0; i < snap->n; i++)
		if (snap->sites[i].ss)
			nf += snap->sites[i].ss->nframes + 1;
	fr = calloc(nf ? nf : 1, sizeof(*fr));
	p->samples = calloc(snap->n ? snap->n : 1, sizeof(*p->samples));
	if (!fr || !p->samples) {
		free(fr);
		free(p->samples);
		return -ENOMEM;
	}
	for (size_t i = 0; i < snap->n; i++) {
		const struct site *si = &snap->sites[i];
		struct prof_sample *ps = &p->samples[p->n++];

		ps->folded = si->key;
		ps->inuse_bytes = si->out_bytes;
		ps->inuse_count = si->out_count;
		ps->alloc_bytes = si->total_bytes;
		ps->alloc_count = si->total_count;
		if (!si->ss || !si->ss->nframes)
			continue;
		ps->frames = fr + k;
		if (si->ss->native)
			fr[k++] = (struct prof_frame){ si->ss->native, "", 0, true };
		for (int j = 0; j < si->ss->nframes; j++) {
			const struct sym_frame *f = &si->ss->frames[j];
			bool ok = f->code && f->code->ok;

			fr[k++] = (struct prof_frame){ ok ? f->code->qualname : "[unknown]",
						       ok ? f->code->filename : "",
						       f->line > 0 ? f->line : 0, false };
		}
		ps->nframes = fr + k - ps->frames;
	}
	p->pid = s->t->pid;
	p->comm = s->t->comm;
	p->python = s->t->version;
	p->start_unix_ns = s->start_unix_ns;
	p->duration_ns = now_ns() - s->start_ns;
	*store = fr;
	return 0;
}

static void write_files(struct session *s, const struct report_opts *o,
			const struct snapshot *snap)
{
	struct prof_frame *store = NULL;
	struct profile p;
	int err;

	if (!o->svg_path && !o->pprof_path)
		return;
	if (build_profile(s, snap, &p, &store)) {
		fprintf(stderr, "pyleakbpf: out of memory writing the profile files\n");
		return;
	}
	if (o->pprof_path) {
		err = pprof_write(&p, o->pprof_path);
		if (err)
			fprintf(stderr, "pyleakbpf: cannot write %s: %s\n", o->pprof_path, strerror(-err));
	}
	if (o->svg_path) {
		char title[256];
		struct flamegraph_opts fo = { .title = title,
			.value = o->count ? PV_INUSE_COUNT : PV_INUSE_BYTES };
		FILE *f = fopen(o->svg_path, "w");

		snprintf(title, sizeof(title), "pyleakbpf: outstanding %s, PID %d (%s), CPython %s",
			 o->count ? "objects" : "bytes", s->t->pid, s->t->comm, s->t->version);
		err = f ? flamegraph_write(&p, &fo, f) : -errno;
		if (f && fclose(f) && !err)
			err = -errno;
		if (err)
			fprintf(stderr, "pyleakbpf: cannot write %s: %s\n", o->svg_path, strerror(-err));
	}
	free(store);
	free(p.samples);
}

int report_write(struct session *s, const struct report_opts *o, const char *reason)
{
	struct snapshot snap;
	int err = take_snapshot(s, o, &snap);

	if (err)
		return err;
	if (o->json)
		write_json(s, o, &snap, reason);
	else if (o->folded)
		write_folded(&snap, o);
	else
		write_text(s, o, &snap, reason);
	fflush(o->out);
	write_files(s, o, &snap);
	free_snapshot(&snap);
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

	read_counters(s, c);
	for (int i = 0; i < s->plan->n; i++)
		events += c[i];
	drops = c[MAX_HOOKS + CNT_ALLOCS_FULL] + c[MAX_HOOKS + CNT_STACKS_FULL] +
		c[MAX_HOOKS + CNT_STATS_FULL] + c[MAX_HOOKS + CNT_INFLIGHT_FULL] +
		c[MAX_HOOKS + CNT_NEW_STACK_LOST] + c[MAX_HOOKS + CNT_GC_EVENT_LOST];
	n = read_stats(s, &ids, &vals);
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
