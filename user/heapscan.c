// SPDX-License-Identifier: GPL-2.0
/*
 * pymalloc's pools found by reading the target's anonymous memory.
 *
 * CPython 3.10+ (64-bit, default radix tree) carves 1 MiB arenas, each an
 * anonymous private mmap(), into 16 KiB pools aligned to 16 KiB; 3.8 and
 * 3.9 carve 256 KiB arenas into 4 KiB pools, with the same header (gdb
 * ptype /o struct pool_header on 3.8.18: identical). Every
 * pool starts with a 48-byte header that says how many of its blocks are in
 * use and of which size class. The arenas table itself is a static of
 * obmalloc.c with no symbol in a stripped build, so instead of walking it
 * we read the header slot at every 16 KiB boundary of every anonymous
 * read-write mapping and keep the slots whose header is consistent with
 * how obmalloc.c fills it in. The layout was checked against the DWARF of
 * a 3.11.7 libpython (ptype /o struct pool_header) and the arithmetic
 * against allocate_from_new_pool() and pymalloc_pool_extend().
 */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>
#include "heapscan.h"
#include "target.h"

#define POOL_MAX	(16u << 10)	/* the largest pool size of any version */
#define POOL_OVERHEAD	48u		/* sizeof(struct pool_header), 16-aligned */
#define ALIGNMENT	16u
#define NB_CLASSES	32u		/* SMALL_REQUEST_THRESHOLD 512 / ALIGNMENT */
#define MAX_ARENAS	(1u << 24)	/* 16 TiB of arenas: no real arenaindex is near */
#define USER_TOP	(1ull << 56)	/* user addresses are below (x86_64 LA57, arm64) */
#define BATCH		1024		/* iovecs per process_vm_readv (UIO_MAXIOV) */
#define PAGE_SHIFT	12		/* else pagemap is not used */
#define PAGES_PER_POOL	(POOL_MAX >> PAGE_SHIFT)	/* at most */
#define PM_PRESENT	(1ull << 63)	/* /proc/PID/pagemap: page in memory */
#define PM_SWAPPED	(1ull << 62)	/* ... or in swap */

/* Objects/obmalloc.c, struct pool_header (little-endian, 64-bit). */
struct pool_header {
	uint32_t count;			/* union { block *_padding; uint count; } ref */
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
_Static_assert(NB_CLASSES <= HEAP_CLASSES, "class_blocks holds every size class");

/*
 * Header slots waiting to be read, in address order: remote[k] is read
 * into hdr[k] through local[k], which never changes.
 */
struct scan {
	pid_t pid;
	uint32_t pool;			/* POOL_SIZE of the target's version */
	struct heap_usage *u;
	int pagemap;			/* fd, or -1: read every slot */
	int n;
	struct iovec local[BATCH], remote[BATCH];
	struct pool_header hdr[BATCH];
	uint64_t pm[BATCH * PAGES_PER_POOL];
};

static bool plausible_link(uint64_t p)
{
	/*
	 * A pool with blocks in use links to other pools or to the list
	 * heads in usedpools[] (interpreter data); full pools keep stale
	 * but still valid links. Either way a non-NULL aligned user address.
	 */
	return p && !(p & 7) && p < USER_TOP;
}

/* Could h, read at addr, be the header of a pool pymalloc set up? */
static bool pool_valid(const struct pool_header *h, uint64_t addr, uint32_t pool)
{
	uint32_t size, carved;
	uint64_t fb;

	if (h->szidx >= NB_CLASSES || h->arenaindex >= MAX_ARENAS)
		return false;
	size = (h->szidx + 1) * ALIGNMENT;
	/* allocate_from_new_pool() sets these two when it (re)initialises */
	if (h->maxnextoffset != pool - size)
		return false;
	if (h->nextoffset < POOL_OVERHEAD + 2 * size ||
	    h->nextoffset > h->maxnextoffset + size ||
	    (h->nextoffset - POOL_OVERHEAD) % size)
		return false;
	/* blocks below nextoffset have been handed out at least once */
	carved = (h->nextoffset - POOL_OVERHEAD) / size;
	if (h->count > carved)
		return false;
	fb = h->freeblock;
	if (fb && (fb < addr + POOL_OVERHEAD || fb >= addr + h->nextoffset ||
		   (fb - addr - POOL_OVERHEAD) % size))
		return false;
	return plausible_link(h->nextpool) && plausible_link(h->prevpool);
}

static void count_pool(struct heap_usage *u, const struct pool_header *h)
{
	uint64_t size = (h->szidx + 1) * ALIGNMENT;

	/* an empty pool waits in its arena's freepools; nothing in use */
	if (!h->count)
		return;
	u->pools++;
	u->blocks += h->count;
	u->bytes += h->count * size;
	u->class_blocks[h->szidx] += h->count;
}

/*
 * Read the queued slots. A transfer stops at the first slot that cannot be
 * read (an arena unmapped since maps was read); count it and go on after
 * it. Only a dead or forbidden target ends the scan.
 */
static int flush(struct scan *s)
{
	int i = 0;

	while (i < s->n) {
		ssize_t got = process_vm_readv(s->pid, s->local + i, s->n - i,
					       s->remote + i, s->n - i, 0);
		int done;

		if (got < 0 && errno != EFAULT)
			return -errno;
		done = got < 0 ? 0 : got / POOL_OVERHEAD;
		for (int k = i; k < i + done; k++)
			if (pool_valid(&s->hdr[k], (uintptr_t)s->remote[k].iov_base, s->pool))
				count_pool(s->u, &s->hdr[k]);
		i += done;
		if (i < s->n) {
			s->u->read_errors++;
			i++;
		}
	}
	s->n = 0;
	return 0;
}

/*
 * Arenas come from mmap(MAP_PRIVATE | MAP_ANONYMOUS), so they show up in
 * maps with no path (the kernel merges neighbours into one line), or with
 * a "[anon:...]" name where the process names its mappings. [heap] is
 * brk() memory that malloc owns, [stack] and the rest are not ours.
 */
static bool anonymous_rw(const struct map_entry *e)
{
	if (strcmp(e->perms, "rw-p") || e->inode)
		return false;
	return !e->path[0] || !strncmp(e->path, "[anon:", 6);
}

/*
 * Has the page of slot i of the n from a ever been touched? Reading a page
 * that never was makes the target's kernel map the zero page there, and
 * build page tables for it: 16 GiB reserved and never touched cost the
 * target 32 MB of page tables and us 0.4 s. pagemap says so without
 * touching anything; without it, or past what it returned, read the slot.
 */
static void touched_slots(struct scan *s, uint64_t a, int n, bool *touched)
{
	ssize_t got = -1;

	if (s->pagemap >= 0)
		got = pread(s->pagemap, s->pm, n * (s->pool >> PAGE_SHIFT) * sizeof(s->pm[0]),
			    (a >> PAGE_SHIFT) * sizeof(s->pm[0]));
	for (int i = 0; i < n; i++) {
		size_t k = i * (s->pool >> PAGE_SHIFT);

		touched[i] = got < (ssize_t)((k + 1) * sizeof(s->pm[0])) ||
			     (s->pm[k] & (PM_PRESENT | PM_SWAPPED));
	}
}

static int queue(struct scan *s, uint64_t a)
{
	s->remote[s->n++] = (struct iovec){ (void *)(uintptr_t)a, POOL_OVERHEAD };
	return s->n == BATCH ? flush(s) : 0;
}

static int scan_mapping(struct scan *s, const struct map_entry *e)
{
	uint64_t a = (e->start + s->pool - 1) & ~(uint64_t)(s->pool - 1);
	bool touched[BATCH];
	int err;

	s->u->scanned_bytes += e->end - e->start;
	while (a + POOL_OVERHEAD <= e->end) {
		uint64_t left = (e->end - POOL_OVERHEAD - a) / s->pool + 1;
		int n = left < BATCH ? left : BATCH;

		touched_slots(s, a, n, touched);
		for (int i = 0; i < n; i++, a += s->pool)
			if (touched[i] && (err = queue(s, a)))
				return err;
	}
	return 0;
}

static struct scan *scan_new(pid_t pid, uint32_t pool, struct heap_usage *u)
{
	struct scan *s = malloc(sizeof(*s));
	char fn[64];

	if (!s)
		return NULL;
	s->pid = pid;
	s->pool = pool;
	s->u = u;
	s->n = 0;
	for (int k = 0; k < BATCH; k++)
		s->local[k] = (struct iovec){ &s->hdr[k], POOL_OVERHEAD };
	snprintf(fn, sizeof(fn), "/proc/%d/pagemap", pid);
	s->pagemap = -1;
	if (sysconf(_SC_PAGESIZE) == 1 << PAGE_SHIFT)
		s->pagemap = open(fn, O_RDONLY | O_CLOEXEC);
	return s;
}

static void scan_free(struct scan *s)
{
	if (s->pagemap >= 0)
		close(s->pagemap);
	free(s);
}

/* The pool size heapscan_pymalloc() uses, by process (set at attach). */
static struct {
	pid_t pid;
	uint32_t pool;
} pool_sizes[16];

void heapscan_set_pool_size(pid_t pid, unsigned int pool_size)
{
	int free_slot = -1;

	for (int i = 0; i < 16; i++) {
		if (pool_sizes[i].pid == pid) {
			pool_sizes[i].pool = pool_size;
			return;
		}
		if (free_slot < 0 && !pool_sizes[i].pid)
			free_slot = i;
	}
	if (free_slot >= 0)
		pool_sizes[free_slot] = (typeof(pool_sizes[0])){ pid, pool_size };
}

int heapscan_pymalloc(pid_t pid, struct heap_usage *u)
{
	unsigned int pool = 16u << 10;

	for (int i = 0; i < 16; i++)
		if (pool_sizes[i].pid == pid && pool_sizes[i].pool)
			pool = pool_sizes[i].pool;
	return heapscan_pymalloc_pool(pid, pool, u);
}

int heapscan_pymalloc_pool(pid_t pid, unsigned int pool_size, struct heap_usage *u)
{
	char fn[64], line[PATH_MAX + 128];
	struct map_entry e;
	struct scan *s;
	int err = 0;
	FILE *f;

	memset(u, 0, sizeof(*u));
	if (pool_size > POOL_MAX || pool_size < (1u << PAGE_SHIFT) || (pool_size & (pool_size - 1)))
		return -EINVAL;
	snprintf(fn, sizeof(fn), "/proc/%d/maps", pid);
	f = fopen(fn, "re");
	if (!f)
		return errno == ENOENT ? -ESRCH : -errno;
	s = scan_new(pid, pool_size, u);
	if (!s) {
		fclose(f);
		return -ENOMEM;
	}
	while (!err && fgets(line, sizeof(line), f))
		if (!maps_parse_line(line, &e) && anonymous_rw(&e))
			err = scan_mapping(s, &e);
	fclose(f);
	if (!err)
		err = flush(s);
	scan_free(s);
	return err;
}
