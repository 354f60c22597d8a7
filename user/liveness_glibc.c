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
 *  - fastbins (chunks up to 0xa0 bytes): nothing in the chunk says so, and
 *    the arenas are not found here, so such a chunk is unknown.
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

/* Does chunk c, of block b, fit what malloc was asked for and say in use? */
static uint8_t decide(const struct live_block *b, struct chunk *c, uint64_t key,
		      struct live_stats *st, bool *want_nn)
{
	uint64_t cs = c->size & ~FLAGS, nb = request2size(b->size), next;
	int k;

	*want_nn = false;
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
	k = (cs - nb) / 16;
	if (!c->have_next[k])
		return st->unknown_chunk++, LV_UNKNOWN;
	next = c->next[k];
	if (!(next & PREV_INUSE) || (next & IS_MMAPPED) || ((next & ~FLAGS) & 15) ||
	    (next & ~FLAGS) < 16)
		return st->dead_chunk++, LV_DEAD;
	if (cs <= TCACHE_MAX_CHUNK) {
		if (!key)
			return st->unknown_chunk++, LV_UNKNOWN;
		if (c->w1 == key)
			return st->dead_chunk++, LV_DEAD;
	}
	if (cs <= FASTBIN_MAX_CHUNK)
		return st->unknown_chunk++, LV_UNKNOWN;
	*want_nn = true;
	return LV_LIVE;
}

int lv_glibc(pid_t pid, const struct live_params *p, const struct live_block *b,
	     const uint32_t *idx, size_t m, uint8_t *verdict, struct live_stats *st)
{
	struct chunk *ch = calloc(m + 1, sizeof(*ch));
	struct lv_req *req = malloc((2 * m + 1) * sizeof(*req));
	struct gctx g = { b, idx, ch };
	uint64_t key = p->tcache_key;
	size_t n = 0;
	int err = -ENOMEM;

	if (!ch || !req || m > (UINT32_MAX >> 2))
		goto out;
	if (!key && (err = learn_tcache_key(pid, &key, st)))
		goto out;
	st->tcache_key = key;
	for (size_t j = 0; j < m; j++) {
		uint64_t c = b[idx[j]].addr - 16;

		req[n++] = (struct lv_req){ c, 32, (j << 2) | P_HDR };
		req[n++] = (struct lv_req){ c + request2size(b[idx[j]].size), 32,
					    (j << 2) | P_NEXT };
	}
	if ((err = lv_read(pid, req, n, chunk_cb, &g, st)))
		goto out;
	n = 0;
	for (size_t j = 0; j < m; j++) {
		const struct live_block *bj = &b[idx[j]];
		bool want_nn;

		verdict[idx[j]] = decide(bj, &ch[j], key, st, &want_nn);
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
	free(req);
	free(ch);
	return err;
}
