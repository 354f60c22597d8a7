// SPDX-License-Identifier: GPL-2.0
/*
 * The first stage of a report: the kernel maps read into a snapshot. Per-
 * stack aggregates (stats), symbolized and merged by what the user sees
 * (the folded stack) into sites; the live blocks (allocs), for the oldest
 * block of a site, --older and the blocks the type and coverage stages
 * read; the counters; the sort that ranks the sites.
 */
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include "fmt.h"
#include "liveness.h"
#include "probes.h"
#include "pyleak.h"
#include "pyleak.skel.h"
#include "pyversions.h"
#include "session.h"
#include "snapshot.h"
#include "symbolize.h"
#include "target.h"

#define KEY_MAX		(MAX_FRAMES * 300)	/* a folded stack, with room */

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
const struct sym_stack *snapshot_stack(struct session *s, uint64_t id)
{
	static struct pystack st;
	const struct sym_stack *ss = symbolized(s->sym, id);

	if (ss)
		return ss;
	if (bpf_map_lookup_elem(bpf_map__fd(s->skel->maps.stacks), &id, &st))
		return NULL;
	return symbolize_stack(s->sym, id, &st);
}

const char *const counter_names[CNT__MAX] = {
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

/*
 * Every entry of the per-stack aggregates, in batches of 4096 (one system
 * call each, not two per entry). Returns the count; *ids and *vals are
 * malloc'ed.
 */
size_t snapshot_read_stats(struct session *s, uint64_t **ids, struct site_stats **vals)
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

void snapshot_read_counters(struct session *s, uint64_t *out)
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

static int cmp_score(const void *a, const void *b)
{
	const struct site *x = a, *y = b;

	if (x->sus.score != y->sus.score)
		return x->sus.score < y->sus.score ? 1 : -1;
	if (x->out_bytes != y->out_bytes)
		return x->out_bytes < y->out_bytes ? 1 : -1;
	return strcmp(x->key, y->key);
}

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

/*
 * What the liveness check needs to know of a record: whose books to read
 * and where the allocator's own block starts (a Py_DEBUG build wraps
 * CPython's blocks in debug headers: 16 bytes before, 8 after, and once
 * more for a PyObject_/PyMem_ block over 512 bytes, which goes to the raw
 * domain's hooks too).
 */
static struct live_block live_block_of(const struct session *s, uint64_t addr,
				       const struct alloc_info *v)
{
	uint32_t hook = v->hook;
	const struct hook *h = hook < (uint32_t)s->plan->n ? &s->plan->hooks[hook] : NULL;
	struct live_block b = { .addr = addr, .size = v->size, .kind = LB_MALLOC };
	bool debug = s->t->debug_build;

	if (!h) {
		b.kind = LB_UNCHECKED;
		return b;
	}
	if (h->klass == HC_SLOT) {
		b.kind = LB_OBJECT;
		return b;
	}
	if (h->path || s->plan->libc_malloc)
		return b;		/* libc's own functions: as they are */
	if (h->klass == HC_RAW) {
		if (debug) {
			b.addr -= 16;
			b.size += 24;
		}
		return b;
	}
	/* HC_OBJ: pymalloc for 1..512 bytes, else the raw domain */
	if (debug) {
		if (v->size + 24 <= 512) {
			b.addr -= 16;
			b.size += 24;
			b.kind = LB_PYMALLOC;
		} else {
			b.addr -= 32;
			b.size += 48;
		}
		return b;
	}
	if (v->size >= 1 && v->size <= 512)
		b.kind = LB_PYMALLOC;
	return b;
}

static void live_stats_add(struct live_stats *sum, const struct live_stats *st)
{
	uint64_t *a = (uint64_t *)sum;
	const uint64_t *b = (const uint64_t *)st;

	/* every field up to tcache_key is a count */
	for (size_t i = 0; i < offsetof(struct live_stats, tcache_key) / sizeof(uint64_t); i++)
		a[i] += b[i];
	sum->tcache_key = st->tcache_key;
	sum->fastbin_chunks = st->fastbin_chunks;
	sum->fastbins_known = st->fastbins_known;
}

/*
 * Ask the target's allocator about a batch of records: verdict[i] is an
 * enum live_verdict, LV_LIVE for all when the target cannot be read.
 */
static void check_batch(struct session *s, struct snapshot *snap, const struct alloc_key *keys,
			const struct alloc_info *vals, uint32_t cnt, struct live_block *lb,
			uint8_t *verdict)
{
	struct live_params p = {
		.pool_size = s->t->pv->major == 3 && s->t->pv->minor <= 9 ? 4096 : 16384,
		.glibc = !!strstr(s->plan->libc_name, "libc.so.6"),
		.tcache_key = s->tcache_key,
	};
	struct live_stats st;

	for (uint32_t i = 0; i < cnt; i++)
		lb[i] = live_block_of(s, keys[i].addr, &vals[i]);
	if (liveness_check(s->t->pid, &p, lb, cnt, verdict, &st)) {
		memset(verdict, LV_LIVE, cnt);
		return;
	}
	snap->live_checked = true;
	if (st.tcache_key)
		s->tcache_key = st.tcache_key;
	live_stats_add(&snap->live, &st);
}

/*
 * The target runs while a report reads the maps: the records, read after
 * the aggregates, include blocks allocated in between. The sites' totals
 * are read again once the records are in, so a site never shows more
 * blocks outstanding than it allocated.
 */
static void refresh_totals(struct session *s, struct snapshot *snap)
{
	struct site_stats *vals;
	uint64_t *ids;
	size_t n = snapshot_read_stats(s, &ids, &vals);

	if (!ids || !vals)
		goto out;
	for (size_t i = 0; i < snap->n; i++)
		snap->sites[i].total_bytes = snap->sites[i].total_count = 0;
	for (size_t i = 0; i < n; i++) {
		uintptr_t idx = (uintptr_t)u64map_get(&snap->by_id, ids[i]);

		if (!idx)
			continue;	/* a stack new since the first read */
		snap->sites[idx - 1].total_bytes += vals[i].total_bytes;
		snap->sites[idx - 1].total_count += vals[i].total_count;
	}
	for (size_t i = 0; i < s->retired.cap; i++) {
		const struct site_stats *st = s->retired.vals[i];
		uintptr_t idx;

		if (!s->retired.keys[i])
			continue;
		idx = (uintptr_t)u64map_get(&snap->by_id, s->retired.keys[i]);
		if (idx) {
			snap->sites[idx - 1].total_bytes += st->total_bytes;
			snap->sites[idx - 1].total_count += st->total_count;
		}
	}
out:
	free(ids);
	free(vals);
}

/*
 * Sites' oldest blocks; --older recounts; blocks kept for types/coverage.
 * Every record is first checked against the target's allocator: a block
 * it says is free was freed where no hook saw it (an inlined path, between
 * --sample windows) and is not counted anywhere, only reported as such.
 */
void snapshot_scan_blocks(struct session *s, const struct report_opts *o,
			struct snapshot *snap, struct blocks *bl)
{
	uint64_t cutoff = now_ns() - o->older_ns;
	int afd = bpf_map__fd(s->skel->maps.allocs);
	enum { BATCH = 65536 };
	struct alloc_key *keys = calloc(BATCH, sizeof(*keys));
	struct alloc_info *vals = calloc(BATCH, sizeof(*vals));
	struct live_block *lb = calloc(BATCH, sizeof(*lb));
	uint8_t *verdict = calloc(BATCH, 1);
	struct alloc_key in, out;
	void *pin = NULL;
	int err = 0;

	/*
	 * The records are the truth of what is outstanding: a site counts
	 * the records of its stacks that the target's allocator does not say
	 * are free (the per-stack aggregates can drift from them when a free
	 * or an address reuse was not seen).
	 */
	if (keys && vals && lb && verdict)
		for (size_t i = 0; i < snap->n; i++)
			snap->sites[i].out_bytes = snap->sites[i].out_count = 0;
	while (keys && vals && lb && verdict && !err) {
		__u32 cnt = BATCH;
		LIBBPF_OPTS(bpf_map_batch_opts, bo);

		err = bpf_map_lookup_batch(afd, pin, &out, keys, vals, &cnt, &bo);
		if (err && errno != ENOENT)
			break;
		check_batch(s, snap, keys, vals, cnt, lb, verdict);
		for (__u32 i = 0; i < cnt; i++) {
			uintptr_t idx = (uintptr_t)u64map_get(&snap->by_id, vals[i].stack_id);
			uint32_t hook = vals[i].hook;
			bool libc = hook_in_libc(s, hook) || s->plan->libc_malloc;
			uint64_t cls = libc ? 0 : pymalloc_class(vals[i].size, s->t->debug_build);
			struct site *si;

			if (!idx || keys[i].tgid != (uint32_t)s->t->pid)
				continue;
			si = &snap->sites[idx - 1];
			if (verdict[i] == LV_DEAD) {
				si->unseen_count++;
				si->unseen_bytes += vals[i].size;
				continue;
			}
			si->unknown_count += verdict[i] == LV_UNKNOWN;
			/* coverage counts every outstanding block, --older or not */
			if (cls) {
				snap->cov.small_tracked += cls;
				snap->cov.small_blocks++;
			} else
				snap->cov.large_tracked += vals[i].size;
			if (o->older_ns && vals[i].ts_ns > cutoff)
				continue;
			si->out_bytes += vals[i].size;
			si->out_count++;
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
	free(lb);
	free(verdict);
	refresh_totals(s, snap);
}

int snapshot_sites(struct session *s, const struct report_opts *o, struct snapshot *snap)
{
	struct site *raw = NULL;
	size_t n = 0, cap = 0, nids;
	uint64_t key, *ids;
	struct site_stats *vals;
	char *buf = malloc(KEY_MAX);

	memset(snap, 0, sizeof(*snap));
	if (!buf)
		return -ENOMEM;
	nids = snapshot_read_stats(s, &ids, &vals);
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
			ss = snapshot_stack(s, key);
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
	return 0;
}

void snapshot_sort(struct snapshot *snap, const struct report_opts *o)
{
	if (snap->n)
		qsort(snap->sites, snap->n, sizeof(*snap->sites),
		      o->cycles ? cmp_gc_bytes : o->suspects ? cmp_score : cmp_bytes);
	/* the id -> index map is stale after sorting; it is not used again */
}

void snapshot_free(struct snapshot *snap)
{
	for (size_t i = 0; i < snap->n; i++)
		free(snap->sites[i].key);
	free(snap->sites);
	free(snap->types);
	u64map_free(&snap->by_id);
}

size_t snapshot_user_counters(const struct session *s, const struct snapshot *snap,
			      struct named_count *out)
{
	size_t n = 0;

	out[n++] = (struct named_count){ "frames unsymbolized ([unknown])",
					 s->sym->frames_unknown };
	out[n++] = (struct named_count){
		"code objects found replaced at a known address (re-read)", s->sym->code_reused };
	out[n++] = (struct named_count){
		"idle stacks recycled from a nearly full stack map (totals kept)",
		s->stacks_recycled };
	out[n++] = (struct named_count){ "native callers without a symbol",
					 s->sym->native.unknown };
	out[n++] = (struct named_count){
		"blocks found freed in the target without our seeing it (not counted)",
		snap->live.dead };
	out[n++] = (struct named_count){
		"blocks whose allocator could not say if they are free (counted)",
		snap->live.unknown };
	return n;
}
