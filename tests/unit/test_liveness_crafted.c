// SPDX-License-Identifier: GPL-2.0
/*
 * liveness_check() against memory made up here and held by a forked child,
 * so it is read the way a target is: pool headers and free lists (sound,
 * cyclic, leaving the pool, disagreeing with the count, empty, torn by an
 * unmapped page, 4 KiB pools), glibc chunk headers (in use, free by the
 * next chunk, in a tcache, stale inside a free chunk, mmapped, sizes that
 * do not fit) and pages of random bytes under random records.
 */
#include <signal.h>
#include <stdbool.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>
#include "liveness.h"
#include "unit.h"


#define P16		16384u
#define KEY		0x1234567890abcdefull

static pid_t child_holding_memory(void)
{
	pid_t pid = fork();

	if (!pid)
		for (;;)
			pause();
	return pid;
}

static void child_end(pid_t pid)
{
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
}

static uint8_t *map_aligned(size_t len, size_t align)
{
	uint8_t *m = mmap(NULL, len + align, PROT_READ | PROT_WRITE,
			  MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (m == MAP_FAILED)
		return NULL;
	return (uint8_t *)(((uintptr_t)m + align - 1) & ~(uintptr_t)(align - 1));
}

struct hdr {
	uint32_t count, pad;
	uint64_t freeblock, nextpool, prevpool;
	uint32_t arenaindex, szidx, nextoffset, maxnextoffset;
};

static uint64_t blk(const uint8_t *pool, uint32_t bs, int k)
{
	return (uintptr_t)pool + 48 + (uint64_t)k * bs;
}

/* A pool of class szidx with `carved` blocks and free list fl[0..nf). */
static void make_pool(uint8_t *pool, uint32_t psize, uint32_t szidx, int carved,
		      int count, const int *fl, int nf)
{
	uint32_t bs = (szidx + 1) * 16;
	struct hdr h = {
		.count = count, .nextpool = (uintptr_t)pool, .prevpool = (uintptr_t)pool,
		.arenaindex = 3, .szidx = szidx, .nextoffset = 48 + carved * bs,
		.maxnextoffset = psize - bs,
		.freeblock = nf ? blk(pool, bs, fl[0]) : 0,
	};

	memcpy(pool, &h, sizeof(h));
	for (int i = 0; i < nf; i++) {
		uint64_t next = i + 1 < nf ? blk(pool, bs, fl[i + 1]) : 0;

		memcpy((void *)(uintptr_t)blk(pool, bs, fl[i]), &next, 8);
	}
}

struct expect {
	uint64_t addr, size;
	uint8_t kind, want;
};

static void check_expect(pid_t pid, const struct live_params *lp, const struct expect *e, int n)
{
	struct live_block b[64];
	uint8_t v[64];

	for (int i = 0; i < n; i++)
		b[i] = (struct live_block){ .addr = e[i].addr, .size = e[i].size,
					    .kind = e[i].kind };
	CHECK_EQ_INT(liveness_check(pid, lp, b, n, v, NULL), 0);
	for (int i = 0; i < n; i++)
		CHECKF(v[i] == e[i].want, "case %d (kind %d, 0x%lx size %lu): verdict %d, not %d",
		       i, e[i].kind, e[i].addr, e[i].size, v[i], e[i].want);
}

TEST(liveness_crafted_pools)
{
	static const int fl3[] = { 2, 5, 8 }, all[] = { 0, 1, 2, 3, 4, 5, 6, 7, 8, 9 };
	struct live_params lp16 = { .pool_size = P16 }, lp4 = { .pool_size = 4096 };
	uint8_t *r = map_aligned(12 * P16, P16), *p[12];
	uint64_t self;
	pid_t pid;

	CHECK(r != NULL);
	if (!r)
		return;
	for (int i = 0; i < 12; i++)
		p[i] = r + i * P16;
	make_pool(p[0], P16, 3, 10, 7, fl3, 3);			/* sound */
	make_pool(p[1], P16, 3, 10, 7, (int[]){ 2, 5, 2 }, 3);	/* a cycle */
	make_pool(p[2], P16, 3, 10, 7, fl3, 3);
	self = blk(p[0], 64, 1);				/* a link out of the pool */
	memcpy((void *)(uintptr_t)blk(p[2], 64, 5), &self, 8);
	make_pool(p[3], P16, 3, 10, 6, fl3, 3);			/* count disagrees */
	make_pool(p[4], P16, 3, 10, 0, all, 10);		/* empty */
	for (uint32_t i = 0, x = 12345; i < P16; i++)		/* garbage */
		p[5][i] = (x = x * 1103515245 + 12345) >> 16;
	make_pool(p[6], P16, 3, 10, 9, (int[]){ 3 }, 1);	/* a link to itself */
	self = blk(p[6], 64, 3);
	memcpy((void *)(uintptr_t)self, &self, 8);
	make_pool(p[7], P16, 3, 10, 8, (int[]){ 2, 12 }, 2);	/* a link past nextoffset */
	make_pool(p[8], P16, 3, 10, 7, fl3, 3);
	memcpy(p[8] + 44, &(uint32_t){ P16 - 32 }, 4);		/* maxnextoffset of another class */
	/* four 4 KiB pools of 512-byte blocks in p[9] */
	make_pool(p[9], 4096, 31, 5, 4, (int[]){ 1 }, 1);
	make_pool(p[9] + 4096, 4096, 31, 2, 1, (int[]){ 1 }, 1);
	/* a pool whose second page is gone */
	make_pool(p[10], P16, 3, 10, 7, fl3, 3);
	CHECK(!munmap(p[10] + 8192, 4096));

	pid = child_holding_memory();
	CHECK(pid > 0);
	{
		const struct expect e16[] = {
			{ blk(p[0], 64, 0), 64, LB_PYMALLOC, LV_LIVE },
			{ blk(p[0], 64, 1), 50, LB_PYMALLOC, LV_LIVE },
			{ blk(p[0], 64, 1), 49, LB_PYMALLOC, LV_LIVE },
			{ blk(p[0], 64, 9), 64, LB_PYMALLOC, LV_LIVE },
			{ blk(p[0], 64, 2), 64, LB_PYMALLOC, LV_DEAD },
			{ blk(p[0], 64, 5), 64, LB_PYMALLOC, LV_DEAD },
			{ blk(p[0], 64, 8), 64, LB_PYMALLOC, LV_DEAD },
			{ blk(p[0], 64, 10), 64, LB_PYMALLOC, LV_DEAD },	/* not carved */
			{ blk(p[0], 64, 1) + 8, 56, LB_PYMALLOC, LV_DEAD },	/* off a boundary */
			{ blk(p[0], 64, 1), 47, LB_PYMALLOC, LV_DEAD },		/* class 48 */
			{ blk(p[0], 64, 1), 200, LB_PYMALLOC, LV_DEAD },
			{ blk(p[0], 64, 1), 0, LB_PYMALLOC, LV_DEAD },
			{ (uintptr_t)p[0] + 8, 8, LB_PYMALLOC, LV_DEAD },	/* the header */
			{ blk(p[1], 64, 0), 64, LB_PYMALLOC, LV_UNKNOWN },
			{ blk(p[2], 64, 0), 64, LB_PYMALLOC, LV_UNKNOWN },
			{ blk(p[3], 64, 0), 64, LB_PYMALLOC, LV_UNKNOWN },
			{ blk(p[4], 64, 0), 64, LB_PYMALLOC, LV_DEAD },
			{ blk(p[4], 64, 7), 64, LB_PYMALLOC, LV_DEAD },
			{ blk(p[5], 64, 0), 64, LB_PYMALLOC, LV_UNKNOWN },
			{ blk(p[6], 64, 0), 64, LB_PYMALLOC, LV_UNKNOWN },
			{ blk(p[7], 64, 0), 64, LB_PYMALLOC, LV_UNKNOWN },
			{ blk(p[8], 64, 0), 64, LB_PYMALLOC, LV_UNKNOWN },
			{ blk(p[9], 512, 0), 512, LB_PYMALLOC, LV_UNKNOWN },	/* 4 KiB pool */
			{ blk(p[10], 64, 0), 64, LB_PYMALLOC, LV_UNKNOWN },
			{ (uintptr_t)p[10] + 8192 + 16, 64, LB_PYMALLOC, LV_DEAD },
			{ (uintptr_t)p[11] + 48, 64, LB_PYMALLOC, LV_UNKNOWN },	/* zeros */
		};
		const struct expect e4[] = {
			{ blk(p[9], 512, 0), 512, LB_PYMALLOC, LV_LIVE },
			{ blk(p[9], 512, 0), 400, LB_PYMALLOC, LV_LIVE },	/* realloc'd down */
			{ blk(p[9], 512, 0), 380, LB_PYMALLOC, LV_DEAD },
			{ blk(p[9], 512, 1), 512, LB_PYMALLOC, LV_DEAD },
			{ blk(p[9], 512, 4), 512, LB_PYMALLOC, LV_LIVE },
			{ blk(p[9], 512, 5), 512, LB_PYMALLOC, LV_DEAD },
			{ blk(p[9] + 4096, 512, 0), 512, LB_PYMALLOC, LV_LIVE },
			{ blk(p[9] + 4096, 512, 1), 512, LB_PYMALLOC, LV_DEAD },
			{ blk(p[0], 64, 0), 64, LB_PYMALLOC, LV_UNKNOWN },	/* 16 KiB pool */
		};

		check_expect(pid, &lp16, e16, sizeof(e16) / sizeof(e16[0]));
		check_expect(pid, &lp4, e4, sizeof(e4) / sizeof(e4[0]));
	}
	child_end(pid);
}

static void chunk_at(uint8_t *at, uint64_t prev, uint64_t size, uint64_t w1)
{
	memcpy(at, &prev, 8);
	memcpy(at + 8, &size, 8);
	memcpy(at + 24, &w1, 8);
}

#define U(p)	((uintptr_t)(p))

TEST(liveness_crafted_chunks)
{
	struct live_params lp = { .pool_size = P16, .glibc = 1, .tcache_key = KEY };
	uint8_t *h = map_aligned(17 * 4096, 4096), *m = map_aligned(4 * 4096, 4096);
	struct live_stats st;
	uint8_t v[1];
	pid_t pid;

	CHECK(h && m);
	if (!h || !m)
		return;
	CHECK(!munmap(h + 16 * 4096, 4096));
	chunk_at(h + 0x100, 0, 0x501, 0);		/* in use */
	chunk_at(h + 0x600, 0, 0x101, 0);
	chunk_at(h + 0x700, 0, 0x201, 0);
	chunk_at(h + 0x1000, 0, 0x501, 0);		/* next says it is free */
	chunk_at(h + 0x1500, 0x500, 0x100, 0);
	chunk_at(h + 0x2000, 0, 0x101, KEY);		/* in a tcache */
	chunk_at(h + 0x2100, 0, 0x101, 0);
	chunk_at(h + 0x3000, 0, 0x101, 0);		/* tcache-sized, in use */
	chunk_at(h + 0x3100, 0, 0x101, 0);
	chunk_at(h + 0x3200, 0, 0x31, 0);
	chunk_at(h + 0x4000, 0, 0x501, 0);		/* stale: inside a free chunk */
	chunk_at(h + 0x4500, 0, 0x301, 0);
	chunk_at(h + 0x4800, 0x900, 0x400, 0);
	chunk_at(h + 0x5000, 0, 0x501, 0);		/* next is free, in its own right */
	chunk_at(h + 0x5500, 0, 0x301, 0);
	chunk_at(h + 0x5800, 0x300, 0x400, 0);
	chunk_at(h + 0x6000, 0, 0x501, 0);		/* for a smaller record */
	chunk_at(h + 0x6500, 0, 0x101, 0);
	chunk_at(h + 0x7000, 0, 0x41, 0);		/* fastbin-sized */
	chunk_at(h + 0x7040, 0, 0x31, 0);
	chunk_at(h + 0x7070, 0, 0x21, 0);
	chunk_at(h + 0x8000, 0, 0x505, 0);		/* non-main arena, in use */
	chunk_at(h + 0x8500, 0, 0x105, 0);
	chunk_at(h + 0x8600, 0, 0x105, 0);
	chunk_at(h + 0x9000, 0, 0x503, 0);		/* mmapped bit and PREV_INUSE */
	chunk_at(h + 0x9500, 0, 0x101, 0);
	chunk_at(h + 0x10000 - 0x500, 0, 0x501, 0);	/* next is unmapped */
	chunk_at(m, 0, 0x3002, 0);			/* mmapped */

	pid = child_holding_memory();
	CHECK(pid > 0);
	{
		const struct expect e[] = {
			{ U(h) + 0x110, 0x4e0, LB_MALLOC, LV_LIVE },
			{ U(h) + 0x110, 0x4e8, LB_MALLOC, LV_LIVE },	/* split left 16 */
			{ U(h) + 0x110, 0x4f9, LB_MALLOC, LV_DEAD },	/* chunk too small */
			{ U(h) + 0x110, 0x4c0, LB_MALLOC, LV_DEAD },	/* too big */
			{ U(h) + 0x1010, 0x4e0, LB_MALLOC, LV_DEAD },
			{ U(h) + 0x2010, 0xe0, LB_MALLOC, LV_DEAD },
			{ U(h) + 0x3010, 0xe0, LB_MALLOC, LV_LIVE },
			{ U(h) + 0x4010, 0x4e0, LB_MALLOC, LV_DEAD },
			{ U(h) + 0x5010, 0x4e0, LB_MALLOC, LV_LIVE },
			{ U(h) + 0x6010, 0x100, LB_MALLOC, LV_DEAD },
			{ U(h) + 0x8010, 0x4e0, LB_MALLOC, LV_LIVE },
			{ U(h) + 0x9010, 0x4e0, LB_MALLOC, LV_DEAD },
			{ U(h) + 0x10000 - 0x4f0, 0x4e0, LB_MALLOC, LV_UNKNOWN },
			{ U(h) + 0x10010, 0x40, LB_MALLOC, LV_DEAD },	/* unmapped */
			{ U(h) + 0xa010, 0x40, LB_MALLOC, LV_DEAD },	/* zeros */
			{ U(m) + 16, 0x2000, LB_MALLOC, LV_LIVE },
			{ U(m) + 16, 0x2ff0, LB_MALLOC, LV_LIVE },
			{ U(m) + 16, 0x2ff1, LB_MALLOC, LV_DEAD },
			{ U(m) + 16, 0x100, LB_MALLOC, LV_DEAD },
			{ U(m) + 16, ~0ull - 8, LB_MALLOC, LV_DEAD },	/* sizes that wrap */
			{ U(h) + 0x110, ~0ull - 20, LB_MALLOC, LV_DEAD },
		};

		check_expect(pid, &lp, e, sizeof(e) / sizeof(e[0]));
		/* fastbin-sized: in use when the arenas were found (not in one
		 * of their fastbins), else unknown */
		CHECK_EQ_INT(liveness_check(pid, &lp, &(struct live_block){ U(h) + 0x7010, 0x30,
					    LB_MALLOC, 0 }, 1, v, &st), 0);
		CHECK_EQ_INT(v[0], st.fastbins_known ? LV_LIVE : LV_UNKNOWN);
		/* under ASan the child's malloc is ASan's: glibc's arenas are idle */
		if (!UNIT_ASAN)
			CHECK(st.fastbins_known);
		/* not glibc: nothing is checked, nothing is guessed */
		lp.glibc = 0;
		CHECK_EQ_INT(liveness_check(pid, &lp, &(struct live_block){ U(h) + 0x110, 0x4e0,
					    LB_MALLOC, 0 }, 1, (uint8_t[1]){ 0 }, &st), 0);
		CHECK_EQ_U64(st.unknown, 1);
		CHECK_EQ_U64(st.unknown_kind, 1);
	}
	child_end(pid);
}

/* Random bytes, random records: no crash, no hang, sane answers. */
TEST(liveness_garbage)
{
	struct live_params lp = { .pool_size = P16, .glibc = 1, .tcache_key = KEY };
	size_t len = 4u << 20, n = 200000;
	uint8_t *g = map_aligned(len + 4096, P16), *v = malloc(n);
	struct live_block *b = calloc(n, sizeof(*b));
	uint64_t x = 88172645463325252ull, *w = (uint64_t *)g;
	struct live_stats st;
	pid_t pid;

	CHECK(g && v && b);
	if (!g || !v || !b)
		return;
	CHECK(!munmap(g + len, 4096));
#define RND() (x ^= x << 13, x ^= x >> 7, x ^= x << 17)
	for (size_t i = 0; i < len / 8; i++)
		w[i] = RND();
	/*
	 * Every other pool gets a header that passes the first checks and a
	 * random free list inside the pool: cycles, stray links, long walks.
	 */
	for (size_t off = 0; off < len; off += 2 * P16) {
		uint32_t szidx = RND() % 32, bs = (szidx + 1) * 16;
		uint32_t carved = (P16 - 48) / bs;
		uint8_t *pool = g + off;

		make_pool(pool, P16, szidx, carved, RND() % (carved + 1), NULL, 0);
		memcpy(pool + 8, &(uint64_t){ blk(pool, bs, RND() % carved) }, 8);
		for (uint32_t k = 0; k < carved; k++)
			memcpy((void *)(uintptr_t)blk(pool, bs, k),
			       &(uint64_t){ RND() % 8 ? blk(pool, bs, RND() % carved) : 0 }, 8);
	}
	for (size_t i = 0; i < n; i++) {
		uint64_t a = U(g) + RND() % (len + 8192);

		b[i] = (struct live_block){ .addr = i % 3 == 1 ? a & ~15ull : a,
					    .size = RND() % (i % 5 ? 600 : 1 << 20),
					    .kind = RND() % 4, .type = w[RND() % (len / 8)] };
	}
	pid = child_holding_memory();
	CHECK(pid > 0);
	CHECK_EQ_INT(liveness_check(pid, &lp, b, n, v, &st), 0);
	for (size_t i = 0; i < n; i++)
		CHECK(v[i] <= LV_UNKNOWN);
	CHECK_EQ_U64(st.live + st.dead + st.unknown, n);
	unit_note("garbage: %lu live, %lu dead, %lu unknown", st.live, st.dead, st.unknown);
	child_end(pid);
	free(b);
	free(v);
}
