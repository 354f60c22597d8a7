// SPDX-License-Identifier: GPL-2.0
/*
 * Liveness from outside: the batched reader, pymalloc's pools and objects.
 *
 * A pymalloc block is alive when the pool it sits in (the POOL_SIZE-aligned
 * address below it) is a pool pymalloc set up, of the block's size class,
 * has carved the block out (below nextoffset) and does not hold it on its
 * free list. The pool is read once, whole, and its free list walked here:
 * every link must be a block of the pool, none twice, and the list must
 * account for exactly the carved blocks not in use (count), or the pool is
 * taken for inconsistent (torn by a concurrent change, or not a pool) and
 * its blocks are unknown. A pool's size class only changes once it is empty,
 * so a block whose class no longer matches was freed.
 *
 * An object block (a tp_alloc slot's PyObject *) is alive while it holds an
 * object of the type first seen with a reference count a live object can
 * have: deallocation leaves 0 there, pymalloc's free list a pointer, the
 * debug build's free 0xdd bytes, the free lists of float and friends
 * another type or 0.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include "liveness_int.h"

#define BATCH		1024		/* iovecs per process_vm_readv (UIO_MAXIOV) */
#define BUF_BYTES	(8u << 20)	/* local buffer per batch */
#define GAP		4096		/* ranges closer than this are read as one: a remote
				 * iovec costs about what copying 4 KiB does */
#define SPAN_MAX	(64u << 10)	/* longest coalesced range */

#define POOL_OVERHEAD	48u		/* sizeof(struct pool_header), 16-aligned */
#define ALIGNMENT	16u
#define NB_CLASSES	32u		/* SMALL_REQUEST_THRESHOLD 512 / ALIGNMENT */
#define MAX_ARENAS	(1u << 24)
#define MAX_POOL	(256u << 10)
#define MAX_BLOCKS	((MAX_POOL - POOL_OVERHEAD) / ALIGNMENT)
#define REFCNT_MAX	(1ull << 40)	/* 8 TiB of references: no live object */
#define REFCNT_MASK	((1ull << 48) - 1)

/* --- reader ------------------------------------------------------------ */

void lv_sort(struct lv_req *r, struct lv_req *tmp, size_t n, size_t *cnt)
{
	struct lv_req *src = r, *dst = tmp;

	for (int shift = 0; shift < 64; shift += 16) {
		size_t sum = 0;

		memset(cnt, 0, LV_SORT_COUNTS * sizeof(*cnt));
		for (size_t i = 0; i < n; i++)
			cnt[(src[i].addr >> shift) & 0xffff]++;
		/* one digit for all: this pass changes nothing */
		if (n && cnt[(src[0].addr >> shift) & 0xffff] == n)
			continue;
		for (size_t d = 0; d < 1 << 16; d++) {
			size_t c = cnt[d];

			cnt[d] = sum;
			sum += c;
		}
		for (size_t i = 0; i < n; i++)
			dst[cnt[(src[i].addr >> shift) & 0xffff]++] = src[i];
		src = dst;
		dst = src == r ? tmp : r;
	}
	if (src != r)
		memcpy(r, src, n * sizeof(*r));
}

struct span {
	uint64_t start, end;
	size_t first, last;		/* requests [first, last) */
	size_t off;			/* in the local buffer */
};

struct reader {
	pid_t pid;
	struct lv_req *r;
	lv_cb cb;
	void *ctx;
	struct live_stats *st;
	uint8_t *buf;
	struct span sp[BATCH];
	struct iovec local[BATCH], remote[BATCH];
	int n;
	size_t used;
};

static void span_done(struct reader *rd, const struct span *s, bool ok)
{
	for (size_t i = s->first; i < s->last; i++) {
		const struct lv_req *q = &rd->r[i];

		rd->cb(rd->ctx, q, ok ? rd->buf + s->off + (q->addr - s->start) : NULL);
	}
}

/* A span that faulted: its requests one by one, so each gets what it can. */
static int span_retry(struct reader *rd, const struct span *s)
{
	for (size_t i = s->first; i < s->last; i++) {
		const struct lv_req *q = &rd->r[i];
		uint8_t *at = rd->buf + s->off + (q->addr - s->start);
		struct iovec l = { at, q->len }, rm = { (void *)(uintptr_t)q->addr, q->len };
		ssize_t got = process_vm_readv(rd->pid, &l, 1, &rm, 1, 0);

		rd->st->syscalls++;
		rd->st->iovecs++;
		if (got < 0 && errno != EFAULT)
			return -errno;
		if (got > 0)
			rd->st->bytes_read += got;
		rd->cb(rd->ctx, q, got == (ssize_t)q->len ? at : NULL);
	}
	return 0;
}

static int flush(struct reader *rd)
{
	int i = 0, err;

	while (i < rd->n) {
		ssize_t got = process_vm_readv(rd->pid, rd->local + i, rd->n - i,
					       rd->remote + i, rd->n - i, 0);

		rd->st->syscalls++;
		rd->st->iovecs += rd->n - i;
		if (got < 0 && errno != EFAULT)
			return -errno;
		if (got < 0)
			got = 0;
		rd->st->bytes_read += got;
		while (i < rd->n && (size_t)got >= rd->local[i].iov_len) {
			got -= rd->local[i].iov_len;
			span_done(rd, &rd->sp[i++], true);
		}
		if (i < rd->n && (err = span_retry(rd, &rd->sp[i++])))
			return err;
	}
	rd->n = 0;
	rd->used = 0;
	return 0;
}

static int add_span(struct reader *rd, const struct span *s)
{
	struct span *d = &rd->sp[rd->n];
	size_t len = s->end - s->start;

	if ((rd->n == BATCH || rd->used + len > BUF_BYTES) && rd->n) {
		int err = flush(rd);

		if (err)
			return err;
	}
	d = &rd->sp[rd->n];
	*d = *s;
	d->off = rd->used;
	rd->local[rd->n] = (struct iovec){ rd->buf + d->off, len };
	rd->remote[rd->n] = (struct iovec){ (void *)(uintptr_t)s->start, len };
	rd->n++;
	rd->used += len;
	return 0;
}

int lv_read(pid_t pid, struct lv_req *r, size_t n, lv_cb cb, void *ctx,
	    struct live_stats *st)
{
	struct lv_req *tmp = malloc(n * sizeof(*tmp) + 1);
	size_t *cnt = malloc(LV_SORT_COUNTS * sizeof(*cnt));
	struct reader *rd = malloc(sizeof(*rd));
	struct span s = { 0 };
	int err = -ENOMEM;

	if (!tmp || !rd || !cnt)
		goto out;
	rd->buf = malloc(BUF_BYTES + SPAN_MAX + LV_MAX_REQ);
	if (!rd->buf)
		goto out;
	lv_sort(r, tmp, n, cnt);
	*rd = (struct reader){ .pid = pid, .r = r, .cb = cb, .ctx = ctx, .st = st,
			       .buf = rd->buf };
	err = 0;
	for (size_t i = 0; i < n && !err; i++) {
		uint64_t a = r[i].addr, e = a + r[i].len;

		/* the same pool again, or close enough to read the gap too */
		if (i && (e <= s.end ||
			  (a <= s.end + GAP && e - s.start <= SPAN_MAX))) {
			if (e > s.end)
				s.end = e;
			s.last = i + 1;
			continue;
		}
		if (i)
			err = add_span(rd, &s);
		s = (struct span){ .start = a, .end = e, .first = i, .last = i + 1 };
	}
	if (!err && n)
		err = add_span(rd, &s);
	if (!err)
		err = flush(rd);
	free(rd->buf);
out:
	free(rd);
	free(cnt);
	free(tmp);
	return err;
}

/* --- pymalloc pools and objects ---------------------------------------- */

/* Objects/obmalloc.c, struct pool_header (64-bit, 3.8 to 3.13). */
struct pool_header {
	uint32_t count;
	uint32_t pad;
	uint64_t freeblock;
	uint64_t nextpool;
	uint64_t prevpool;
	uint32_t arenaindex;
	uint32_t szidx;
	uint32_t nextoffset;
	uint32_t maxnextoffset;
};

_Static_assert(sizeof(struct pool_header) == POOL_OVERHEAD, "pool header is 48 bytes");

enum pool_state { POOL_OK, POOL_BAD, POOL_UNREADABLE };

struct check {
	pid_t pid;
	const struct live_params *p;
	const struct live_block *b;
	uint8_t *verdict;
	struct live_stats *st;
	/* the pool last looked at */
	uint64_t pool;
	enum pool_state state;
	struct pool_header h;
	uint32_t bsize;
	uint8_t freemap[MAX_BLOCKS / 8 + 1];
};

static bool plausible_link(uint64_t v, bool may_be_null)
{
	if (!v)
		return may_be_null;
	return !(v & 7) && v < LV_USER_TOP;
}

/* Is data, read at pool, a pool pymalloc set up with a sound free list? */
static enum pool_state pool_analyze(struct check *c, const uint8_t *data, uint64_t pool)
{
	const struct pool_header *h = &c->h;
	uint32_t size, carved, nfree = 0, psize = c->p->pool_size;
	uint64_t fb;

	memcpy(&c->h, data, sizeof(c->h));
	if (h->szidx >= NB_CLASSES || h->arenaindex >= MAX_ARENAS)
		return POOL_BAD;
	size = (h->szidx + 1) * ALIGNMENT;
	if (h->maxnextoffset != psize - size ||
	    h->nextoffset < POOL_OVERHEAD + 2 * size ||
	    h->nextoffset > h->maxnextoffset + size ||
	    (h->nextoffset - POOL_OVERHEAD) % size)
		return POOL_BAD;
	carved = (h->nextoffset - POOL_OVERHEAD) / size;
	if (h->count > carved)
		return POOL_BAD;
	/* an empty pool waits on its arena's free list, which may end here */
	if (!plausible_link(h->nextpool, !h->count) || !plausible_link(h->prevpool, !h->count))
		return POOL_BAD;
	c->bsize = size;
	memset(c->freemap, 0, (carved + 7) / 8);
	for (fb = h->freeblock; fb; nfree++) {
		uint64_t off = fb - pool, k;

		if (fb < pool || off < POOL_OVERHEAD || off >= h->nextoffset ||
		    (off - POOL_OVERHEAD) % size || nfree >= carved)
			return POOL_BAD;
		k = (off - POOL_OVERHEAD) / size;
		if (c->freemap[k / 8] & (1u << (k % 8)))
			return POOL_BAD;	/* a cycle */
		c->freemap[k / 8] |= 1u << (k % 8);
		memcpy(&fb, data + off, sizeof(fb));
	}
	/* every carved block is in use or on the list: nothing torn */
	return carved - nfree == h->count ? POOL_OK : POOL_BAD;
}

static void set(struct check *c, uint32_t i, uint8_t v, uint64_t *why)
{
	c->verdict[i] = v;
	if (why)
		(*why)++;
}

/* The pool could not be read: is the block's own memory there at all? */
static void pool_unreadable(struct check *c, uint32_t i)
{
	uint64_t w;
	struct iovec l = { &w, sizeof(w) };
	struct iovec r = { (void *)(uintptr_t)c->b[i].addr, sizeof(w) };

	c->st->syscalls++;
	if (process_vm_readv(c->pid, &l, 1, &r, 1, 0) == sizeof(w))
		set(c, i, LV_UNKNOWN, &c->st->unknown_pool);
	else
		set(c, i, LV_DEAD, &c->st->dead_unmapped);
}

static bool class_fits(uint64_t n, uint32_t bs)
{
	/* pymalloc_realloc keeps a block shrunk by less than a quarter */
	return n && n <= bs && (bs == ((n + ALIGNMENT - 1) & ~(uint64_t)(ALIGNMENT - 1)) ||
				4 * n > 3ull * bs);
}

static void check_pymalloc(struct check *c, const struct lv_req *r, const uint8_t *data)
{
	const struct live_block *b = &c->b[r->id];
	uint64_t off, k;

	if (r->addr != c->pool) {
		c->pool = r->addr;
		c->state = data ? pool_analyze(c, data, r->addr) : POOL_UNREADABLE;
	}
	if (c->state == POOL_UNREADABLE)
		return pool_unreadable(c, r->id);
	if (c->state == POOL_BAD)
		return set(c, r->id, LV_UNKNOWN, &c->st->unknown_pool);
	if (!c->h.count)
		return set(c, r->id, LV_DEAD, &c->st->dead_pool);
	off = b->addr - c->pool;
	/* another size class, or not on a block boundary of this one: the
	 * pool was emptied and set up again since */
	if (off < POOL_OVERHEAD || (off - POOL_OVERHEAD) % c->bsize ||
	    !class_fits(b->size, c->bsize))
		return set(c, r->id, LV_DEAD, &c->st->dead_size);
	k = (off - POOL_OVERHEAD) / c->bsize;
	if (off >= c->h.nextoffset || (c->freemap[k / 8] & (1u << (k % 8))))
		return set(c, r->id, LV_DEAD, &c->st->dead_pool);
	set(c, r->id, LV_LIVE, NULL);
}

static void check_object(struct check *c, const struct lv_req *r, const uint8_t *data)
{
	const struct live_block *b = &c->b[r->id];
	uint64_t refcnt, type;

	if (!data)
		return set(c, r->id, LV_DEAD, &c->st->dead_unmapped);
	memcpy(&refcnt, data, 8);
	memcpy(&type, data + 8, 8);
	/* 3.14 keeps ob_flags in bytes 6-7; immortal counts (0xffffffff in
	 * 3.12, 3 << 30 in 3.14) are far below REFCNT_MAX */
	refcnt &= REFCNT_MASK;
	if (refcnt < 1 || refcnt >= REFCNT_MAX)
		return set(c, r->id, LV_DEAD, &c->st->dead_object);
	if (b->type ? type != b->type : !plausible_link(type, false))
		return set(c, r->id, LV_DEAD, &c->st->dead_object);
	set(c, r->id, LV_LIVE, NULL);
}

static void check_cb(void *ctx, const struct lv_req *r, const uint8_t *data)
{
	struct check *c = ctx;

	if (c->b[r->id].kind == LB_PYMALLOC)
		check_pymalloc(c, r, data);
	else
		check_object(c, r, data);
}

static bool params_ok(const struct live_params *p)
{
	return p->pool_size >= 4096 && p->pool_size <= MAX_POOL &&
	       !(p->pool_size & (p->pool_size - 1));
}

int liveness_check(pid_t pid, const struct live_params *p, const struct live_block *b,
		   size_t n, uint8_t *verdict, struct live_stats *st)
{
	struct live_stats local;
	struct lv_req *req = NULL;
	uint32_t *mal = NULL;
	struct check *c = NULL;
	size_t nreq = 0, nmal = 0;
	int err = -ENOMEM;

	if (!st)
		st = &local;
	memset(st, 0, sizeof(*st));
	if (!params_ok(p) || n > UINT32_MAX)
		return -EINVAL;
	req = malloc(n * sizeof(*req) + 1);
	mal = malloc(n * sizeof(*mal) + 1);
	c = malloc(sizeof(*c));
	if (!req || !mal || !c)
		goto out;
	*c = (struct check){ .pid = pid, .p = p, .b = b, .verdict = verdict, .st = st,
			     .pool = 1 };
	for (size_t i = 0; i < n; i++) {
		uint64_t a = b[i].addr;

		verdict[i] = LV_UNKNOWN;
		if (!a || a >= LV_USER_TOP) {
			set(c, i, LV_DEAD, &st->dead_unmapped);
		} else if (b[i].kind == LB_PYMALLOC) {
			req[nreq++] = (struct lv_req){ a & ~(uint64_t)(p->pool_size - 1),
						       p->pool_size, i };
		} else if (b[i].kind == LB_OBJECT) {
			req[nreq++] = (struct lv_req){ a, 16, i };
		} else if (b[i].kind == LB_MALLOC && p->glibc) {
			mal[nmal++] = i;
		} else {
			st->unknown_kind++;
		}
	}
	err = lv_read(pid, req, nreq, check_cb, c, st);
	if (!err && nmal)
		err = lv_glibc(pid, p, b, mal, nmal, verdict, st);
	for (size_t i = 0; !err && i < n; i++) {
		st->live += verdict[i] == LV_LIVE;
		st->dead += verdict[i] == LV_DEAD;
		st->unknown += verdict[i] == LV_UNKNOWN;
	}
out:
	free(c);
	free(mal);
	free(req);
	return err;
}
