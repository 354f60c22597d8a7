// SPDX-License-Identifier: GPL-2.0
/*
 * Liveness of glibc malloc chunks, read from outside (glibc 2.26+, 64-bit).
 *
 * A chunk starts 16 bytes before the pointer malloc returned: prev_size,
 * then its size with three flags (PREV_INUSE 1, IS_MMAPPED 2,
 * NON_MAIN_ARENA 4). An mmapped chunk is munmapped when freed, so one that
 * can still be read and still says IS_MMAPPED with a size that fits is in
 * use. A heap chunk is in use when the next chunk's PREV_INUSE says so,
 * except for the chunks glibc keeps "in use" while they wait in a cache:
 *  - tcache (chunks up to 0x410 bytes): tcache_put() stores the
 *    process-wide tcache_key 8 bytes into the block, tcache_get() clears
 *    it; glibc's own double-free test is this comparison. The key is
 *    learned from the main thread's tcache_perthread_struct, the first
 *    chunk of [heap]: every block its lists start with holds the key;
 *  - fastbins (chunks up to 0xa0 bytes): nothing in the chunk says so; the
 *    arenas do. main_arena is found in libc's writable data by its shape
 *    (every empty bin points at itself), the others on its list, and all
 *    their fastbin lists walked (links mangled with the link's address
 *    >> 12 since 2.32; every link checked for alignment and chunk size).
 *    Without them a fastbin-sized chunk is unknown.
 * A chunk overlapping an arena's top chunk is free; so is one whose next
 * chunk overlaps a top without being it (a stale header of an old top:
 * the chunk went into the top, which was carved up again since).
 * What stays out of reach without walking the heap: a stale header inside
 * a chunk allocated since, whose owner has not overwritten it.
 * A chunk freed between two free neighbours is merged into them and its
 * header and the next one stay behind as stale bytes inside a bigger free
 * chunk; the chunk after the next one tells: a free chunk's successor has
 * PREV_INUSE clear and its size in prev_size, which is not the stale next
 * chunk's size when that one was merged.
 * The size malloc was asked for must fit the chunk: request2size() of it,
 * plus less than MINSIZE that a split leaves in place.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include "liveness_int.h"
#include "target.h"

#define PREV_INUSE	1ull
#define IS_MMAPPED	2ull
#define NON_MAIN_ARENA	4ull
#define FLAGS		7ull
#define MINSIZE		32ull
#define TCACHE_MAX_CHUNK 0x410ull	/* tidx 63: the largest a tcache holds */
#define FASTBIN_MAX_CHUNK 0xa0ull	/* M_MXFAST can raise global_max_fast up to this */
#define TCACHE_BINS	64
#define TCACHE_CHUNK	0x290ull	/* request2size(sizeof(tcache_perthread_struct)) */
#define PAGE		4096ull
#define MAX_ARENAS	256
#define MAX_FAST	(1u << 16)	/* fastbin chunks followed at most */
#define NFASTBINS	10
#define BATCH_IOV	1024		/* UIO_MAXIOV */
#define MAX_RECORD	(1ull << 47)	/* no block is this big */
/* struct malloc_state, 2.27+ (64-bit) */
#define MS_FASTBINS	16
#define MS_TOP		96
#define MS_BINS		112
#define MS_NBINS	127
#define MS_NEXT		2160
#define MS_SIZE		2200
#define HUGE_PAGE	(2ull << 20)	/* glibc.malloc.hugetlb rounds mmapped chunks to it */

/* What was read for one chunk. */
struct chunk {
	uint64_t prev_size, size, w0, w1;	/* header, first two words */
	uint64_t next[2];			/* size of a chunk at p + nb, p + nb + 16 */
	uint64_t nn_prev, nn_size;		/* header of the chunk after the next */
	uint8_t have_hdr, have_next[2], have_nn;
};

struct gctx {
	const struct live_block *b;
	const uint32_t *idx;
	struct chunk *ch;
};

/* What the arenas say. */
struct arenas {
	bool fast_known;		/* every fastbin list walked to its end */
	uint64_t *fast;			/* chunks in fastbins, sorted */
	size_t nfast;
	uint64_t top[MAX_ARENAS][2];	/* top chunk: start, end */
	int ntop;
};

static uint64_t request2size(uint64_t n)
{
	uint64_t s = (n + 8 + 15) & ~15ull;

	return s < MINSIZE ? MINSIZE : s;
}

static uint64_t roundup(uint64_t v, uint64_t to)
{
	return (v + to - 1) & ~(to - 1);
}

enum part { P_HDR, P_NEXT, P_NN };

static void chunk_cb(void *ctx, const struct lv_req *r, const uint8_t *d)
{
	struct gctx *g = ctx;
	struct chunk *c = &g->ch[r->id >> 2];

	if (!d)
		return;
	switch (r->id & 3) {
	case P_HDR:
		memcpy(&c->prev_size, d, 8);
		memcpy(&c->size, d + 8, 8);
		memcpy(&c->w0, d + 16, 8);
		memcpy(&c->w1, d + 24, 8);
		c->have_hdr = 1;
		break;
	case P_NEXT:
		memcpy(&c->next[0], d + 8, 8);
		memcpy(&c->next[1], d + 24, 8);
		c->have_next[0] = c->have_next[1] = 1;
		break;
	case P_NN:
		memcpy(&c->nn_prev, d, 8);
		memcpy(&c->nn_size, d + 8, 8);
		c->have_nn = 1;
		break;
	}
}

/*
 * The main thread's tcache: the first chunk of [heap], 0x290 bytes of
 * uint16_t counts[64] then the list heads entries[64]. Every head is a
 * block in the tcache: the word after its next pointer is the key, the
 * same for all. 0 when no list has a block or anything disagrees.
 */
struct keyctx {
	uint64_t key;
	int seen, bad;
};

static void key_cb(void *ctx, const struct lv_req *r, const uint8_t *d)
{
	struct keyctx *k = ctx;
	uint64_t v;

	if (!d) {
		k->bad++;
		return;
	}
	memcpy(&v, d + 8, 8);
	if (!v || (k->seen && v != k->key))
		k->bad++;
	k->key = v;
	k->seen++;
}

static int read_one(pid_t pid, uint64_t addr, void *buf, size_t len, struct live_stats *st)
{
	struct iovec l = { buf, len }, r = { (void *)(uintptr_t)addr, len };
	ssize_t got = process_vm_readv(pid, &l, 1, &r, 1, 0);

	st->syscalls++;
	st->iovecs++;
	if (got < 0)
		return errno == EFAULT ? 1 : -errno;
	st->bytes_read += got;
	return (size_t)got == len ? 0 : 1;
}

static int learn_tcache_key(pid_t pid, uint64_t *key, struct live_stats *st)
{
	char fn[64], line[PATH_MAX + 128];
	uint64_t heap = 0, hdr[2], entries[TCACHE_BINS];
	uint16_t counts[TCACHE_BINS];
	uint8_t buf[TCACHE_CHUNK];
	struct lv_req req[TCACHE_BINS];
	struct keyctx k = { 0 };
	struct map_entry e;
	int n = 0, err;
	FILE *f;

	*key = 0;
	snprintf(fn, sizeof(fn), "/proc/%d/maps", pid);
	f = fopen(fn, "re");
	if (!f)
		return errno == ENOENT ? -ESRCH : -errno;
	while (!heap && fgets(line, sizeof(line), f))
		if (!maps_parse_line(line, &e) && !strcmp(e.path, "[heap]"))
			heap = e.start;
	fclose(f);
	if (!heap)
		return 0;
	err = read_one(pid, heap, buf, sizeof(buf), st);
	if (err)
		return err < 0 ? err : 0;
	memcpy(hdr, buf, sizeof(hdr));
	memcpy(counts, buf + 16, sizeof(counts));
	memcpy(entries, buf + 16 + sizeof(counts), sizeof(entries));
	if (hdr[0] || hdr[1] != (TCACHE_CHUNK | PREV_INUSE))
		return 0;
	for (int i = 0; i < TCACHE_BINS; i++) {
		if (!counts[i] != !entries[i] || (entries[i] & 15) ||
		    entries[i] >= LV_USER_TOP)
			return 0;
		if (entries[i])
			req[n++] = (struct lv_req){ entries[i], 16, i };
	}
	err = lv_read(pid, req, n, key_cb, &k, st);
	if (err)
		return err;
	if (k.seen && !k.bad)
		*key = k.key;
	return 0;
}

/* Is m, read at addr, a struct malloc_state? Its empty bins say so. */
static bool arena_shape(const uint8_t *m, uint64_t addr)
{
	int self = 0;
	uint64_t v[2];

	for (int i = 1; i <= MS_NBINS; i++) {
		uint64_t bin = addr + MS_BINS + 16 * (i - 1) - 16;

		memcpy(v, m + MS_BINS + 16 * (i - 1), 16);
		if (v[0] == bin && v[1] == bin)
			self++;
		else if (!v[0] || !v[1] || (v[0] & 15) || (v[1] & 15) ||
			 v[0] >= LV_USER_TOP || v[1] >= LV_USER_TOP)
			return false;
	}
	memcpy(v, m + MS_NEXT, 8);
	return self >= 32 && v[0] && !(v[0] & 7) && v[0] < LV_USER_TOP;
}

/* main_arena, in libc's writable data; 0 if not found. */
static uint64_t find_main_arena(pid_t pid, struct live_stats *st)
{
	char fn[64], line[PATH_MAX + 128];
	uint64_t found = 0, lo = 0, hi = 0;
	struct map_entry e;
	uint8_t *buf;
	FILE *f;

	snprintf(fn, sizeof(fn), "/proc/%d/maps", pid);
	f = fopen(fn, "re");
	if (!f)
		return 0;
	/* the file's rw-p mapping (.data) and the anonymous one after it (.bss) */
	while (fgets(line, sizeof(line), f)) {
		if (maps_parse_line(line, &e) || strcmp(e.perms, "rw-p"))
			continue;
		if (strstr(e.path, "/libc.so.6") || strstr(e.path, "/libc-2.")) {
			lo = e.start;
			hi = e.end;
		} else if (lo && e.start == hi && !e.path[0]) {
			hi = e.end;
		}
	}
	fclose(f);
	if (!lo || hi - lo > (4u << 20) || !(buf = malloc(hi - lo)))
		return 0;
	if (!read_one(pid, lo, buf, hi - lo, st))
		for (uint64_t o = 0; !found && o + MS_SIZE <= hi - lo; o += 8)
			if (arena_shape(buf + o, lo + o))
				found = lo + o;
	free(buf);
	return found;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/*
 * Walk every arena's fastbins, all lists a step at a time: one read per
 * step for all of them. A link that is not a chunk of its bin's size, or
 * more chunks than MAX_FAST, leaves the fastbins unknown.
 */
struct walk {
	uint64_t cur[MAX_ARENAS * NFASTBINS];
	int bin[MAX_ARENAS * NFASTBINS];
	uint8_t rec[MAX_ARENAS * NFASTBINS][32];
	struct iovec l[MAX_ARENAS * NFASTBINS], r[MAX_ARENAS * NFASTBINS];
	uint8_t m[MS_SIZE];
};

/* One step of every list: 1 when a list is broken, else 0 or -errno. */
static int walk_step(pid_t pid, struct walk *w, int n, struct arenas *ar, struct live_stats *st)
{
	for (int i = 0; i < n; i++) {
		if ((w->cur[i] & 15) || w->cur[i] >= LV_USER_TOP || ar->nfast == MAX_FAST)
			return 1;
		w->l[i] = (struct iovec){ w->rec[i], 32 };
		w->r[i] = (struct iovec){ (void *)(uintptr_t)w->cur[i], 32 };
		ar->fast[ar->nfast++] = w->cur[i];
	}
	for (int i = 0; i < n; i += BATCH_IOV) {
		int k = n - i < BATCH_IOV ? n - i : BATCH_IOV;
		ssize_t got = process_vm_readv(pid, w->l + i, k, w->r + i, k, 0);

		st->syscalls++;
		st->iovecs += k;
		if (got < 0 && errno != EFAULT)
			return -errno;
		if (got != 32 * k)
			return 1;
		st->bytes_read += got;
	}
	return 0;
}

static int walk_arenas(pid_t pid, struct arenas *ar, struct live_stats *st)
{
	uint64_t arena = find_main_arena(pid, st), a = arena;
	struct walk *w;
	int n = 0, narenas = 0, err = 0;

	if (!arena)
		return 0;
	ar->fast = malloc(MAX_FAST * sizeof(*ar->fast));
	w = malloc(sizeof(*w));
	if (!ar->fast || !w) {
		free(w);
		return -ENOMEM;
	}
	do {
		uint64_t t, hdr[2];

		if (narenas++ == MAX_ARENAS || (err = read_one(pid, a, w->m, MS_SIZE, st)) ||
		    !arena_shape(w->m, a))
			goto out;
		memcpy(&t, w->m + MS_TOP, 8);
		if (t && !(t & 15) && t < LV_USER_TOP && !read_one(pid, t, hdr, 16, st)) {
			ar->top[ar->ntop][0] = t;
			ar->top[ar->ntop][1] = t + (hdr[1] & ~FLAGS);
			ar->ntop++;
		}
		for (int i = 0; i < NFASTBINS; i++) {
			memcpy(&w->cur[n], w->m + MS_FASTBINS + 8 * i, 8);
			w->bin[n] = i;
			n += w->cur[n] != 0;
		}
		memcpy(&a, w->m + MS_NEXT, 8);
	} while (a != arena);
	while (n) {
		int k = 0;

		if ((err = walk_step(pid, w, n, ar, st)))
			goto out;
		for (int i = 0; i < n; i++) {
			uint64_t size, fd, pos = w->cur[i] + 16;

			memcpy(&size, w->rec[i] + 8, 8);
			memcpy(&fd, w->rec[i] + 16, 8);
			if ((size & ~FLAGS) != (uint64_t)(w->bin[i] + 2) * 16)
				goto out;
			/* safe-linking (2.32+) when it decodes to a chunk */
			if (fd && ((fd ^ (pos >> 12)) & 15) == 0)
				fd ^= pos >> 12;
			if (fd) {
				w->cur[k] = fd;
				w->bin[k++] = w->bin[i];
			}
		}
		n = k;
	}
	qsort(ar->fast, ar->nfast, sizeof(*ar->fast), cmp_u64);
	ar->fast_known = true;
out:
	free(w);
	/* a broken list (1) or a failed read: the fastbins stay unknown */
	return err < 0 ? err : 0;
}

static bool in_fastbin(const struct arenas *ar, uint64_t chunk)
{
	size_t lo = 0, hi = ar->nfast;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;

		if (ar->fast[mid] == chunk)
			return true;
		if (ar->fast[mid] < chunk)
			lo = mid + 1;
		else
			hi = mid;
	}
	return false;
}

static bool is_top(const struct arenas *ar, uint64_t p)
{
	for (int i = 0; i < ar->ntop; i++)
		if (p == ar->top[i][0])
			return true;
	return false;
}

/* Does [p, p + cs) overlap a top chunk, other than being that top chunk? */
static bool in_top(const struct arenas *ar, uint64_t p, uint64_t cs)
{
	for (int i = 0; i < ar->ntop; i++)
		if (p < ar->top[i][1] && p + cs > ar->top[i][0] && p != ar->top[i][0])
			return true;
	return false;
}

/* Does chunk c, of block b, fit what malloc was asked for and say in use? */
static uint8_t decide(const struct live_block *b, struct chunk *c, uint64_t key,
		      const struct arenas *ar, struct live_stats *st, bool *want_nn)
{
	uint64_t cs = c->size & ~FLAGS, nb = request2size(b->size), next;
	int k;

	*want_nn = false;
	if (b->size >= MAX_RECORD)
		return st->dead_size++, LV_DEAD;
	if (!c->have_hdr)
		return st->dead_unmapped++, LV_DEAD;
	if (c->size & IS_MMAPPED) {
		uint64_t off = c->prev_size, need = b->size + 16 + off;

		/* munmap()ed when freed: if it is here, it is in use */
		if ((c->size & (PREV_INUSE | NON_MAIN_ARENA)) || (off & 15) ||
		    ((b->addr - 16 - off) & (PAGE - 1)) || ((off + cs) & (PAGE - 1)) ||
		    cs < b->size + 16 ||
		    (off + cs > roundup(need, PAGE) && off + cs != roundup(need, HUGE_PAGE)))
			return st->dead_size++, LV_DEAD;
		return LV_LIVE;
	}
	if (cs < nb || cs >= nb + MINSIZE || (cs & 15))
		return st->dead_size++, LV_DEAD;
	if (in_top(ar, b->addr - 16, cs))
		return st->dead_chunk++, LV_DEAD;
	k = (cs - nb) / 16;
	if (!c->have_next[k])
		return st->unknown_chunk++, LV_UNKNOWN;
	next = c->next[k];
	if (!(next & PREV_INUSE) || (next & IS_MMAPPED) || ((next & ~FLAGS) & 15) ||
	    (next & ~FLAGS) < 16)
		return st->dead_chunk++, LV_DEAD;
	/* next is the top chunk, or ends before it; else it is an old top's
	 * header left inside memory carved from the top since */
	if (in_top(ar, b->addr - 16 + cs, next & ~FLAGS))
		return st->dead_chunk++, LV_DEAD;
	if (cs <= TCACHE_MAX_CHUNK) {
		if (!key)
			return st->unknown_chunk++, LV_UNKNOWN;
		if (c->w1 == key)
			return st->dead_chunk++, LV_DEAD;
	}
	if (cs <= FASTBIN_MAX_CHUNK) {
		if (!ar->fast_known)
			return st->unknown_chunk++, LV_UNKNOWN;
		if (in_fastbin(ar, b->addr - 16))
			return st->dead_chunk++, LV_DEAD;
	}
	/* past the top chunk is the end of the heap, or whatever is mapped there */
	*want_nn = !is_top(ar, b->addr - 16 + cs);
	return LV_LIVE;
}

int lv_glibc(pid_t pid, const struct live_params *p, const struct live_block *b,
	     const uint32_t *idx, size_t m, uint8_t *verdict, struct live_stats *st)
{
	struct chunk *ch = calloc(m + 1, sizeof(*ch));
	struct lv_req *req = malloc((2 * m + 1) * sizeof(*req));
	struct arenas *ar = calloc(1, sizeof(*ar));
	struct gctx g = { b, idx, ch };
	uint64_t key = p->tcache_key;
	size_t n = 0;
	int err = -ENOMEM;

	if (!ch || !req || !ar || m > (UINT32_MAX >> 2))
		goto out;
	if (!key && (err = learn_tcache_key(pid, &key, st)))
		goto out;
	st->tcache_key = key;
	if ((err = walk_arenas(pid, ar, st)))
		goto out;
	st->fastbins_known = ar->fast_known;
	st->fastbin_chunks = ar->nfast;
	for (size_t j = 0; j < m; j++) {
		uint64_t c = b[idx[j]].addr - 16;

		req[n++] = (struct lv_req){ c, 32, (j << 2) | P_HDR };
		if (b[idx[j]].size < MAX_RECORD)
			req[n++] = (struct lv_req){ c + request2size(b[idx[j]].size), 32,
						    (j << 2) | P_NEXT };
	}
	if ((err = lv_read(pid, req, n, chunk_cb, &g, st)))
		goto out;
	n = 0;
	for (size_t j = 0; j < m; j++) {
		const struct live_block *bj = &b[idx[j]];
		bool want_nn;

		verdict[idx[j]] = decide(bj, &ch[j], key, ar, st, &want_nn);
		if (want_nn) {
			uint64_t next = bj->addr - 16 + (ch[j].size & ~FLAGS);
			uint64_t nsz = ch[j].next[((ch[j].size & ~FLAGS) - request2size(bj->size)) / 16];

			ch[j].next[0] = nsz & ~FLAGS;
			req[n++] = (struct lv_req){ next + (nsz & ~FLAGS), 16, (j << 2) | P_NN };
		}
	}
	if ((err = lv_read(pid, req, n, chunk_cb, &g, st)))
		goto out;
	for (size_t i = 0; i < n; i++) {
		struct chunk *c = &ch[req[i].id >> 2];

		/* the chunk after next says the one before it is free, and
		 * not of next's size: next and ours are inside a bigger one */
		if (c->have_nn && !(c->nn_size & PREV_INUSE) && c->nn_prev != c->next[0]) {
			verdict[idx[req[i].id >> 2]] = LV_DEAD;
			st->dead_chunk++;
		}
	}
out:
	if (ar)
		free(ar->fast);
	free(ar);
	free(req);
	free(ch);
	return err;
}
