/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Liveness from outside: is a block the tracer holds for outstanding still
 * allocated in the target? Frees through paths no hook sees (inlined by
 * LTO, made while --sample had the hooks off) leave records behind; before
 * a report counts a block, its allocator's own bookkeeping is read from the
 * target's memory and asked. Everything read there is untrusted: a verdict
 * the data does not prove is LV_UNKNOWN, never a guess.
 */
#ifndef LIVENESS_H
#define LIVENESS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* Which allocator made the block, so whose books to read. */
enum live_kind {
	LB_PYMALLOC,	/* pymalloc block (PyObject_ and PyMem_ hooks, 1..512 bytes) */
	LB_MALLOC,	/* glibc chunk (libc malloc family, PyMem_Raw*, big blocks) */
	LB_OBJECT,	/* PyObject * returned by a tp_alloc slot */
};

/* Verdicts. */
enum live_verdict {
	LV_LIVE,	/* still allocated (as far as the allocator says) */
	LV_DEAD,	/* freed: the allocator's books say so */
	LV_UNKNOWN,	/* cannot tell: keep it, count it */
};

struct live_block {
	uint64_t addr;		/* what the allocator returned */
	uint64_t size;		/* what it was asked for */
	uint8_t kind;		/* enum live_kind */
	uint64_t type;		/* LB_OBJECT: the type first seen; 0: any type */
};

struct live_params {
	uint32_t pool_size;	/* pymalloc pool: 16384 (3.10+), 4096 (3.8, 3.9) */
	uint8_t glibc;		/* libc is glibc (2.26+): chunks can be checked */
	/* glibc's process-wide tcache key if known (else 0: learned from the
	 * main thread's tcache; live_stats.tcache_key says what was found) */
	uint64_t tcache_key;
};

/* Why blocks were given the verdict they got, and what it cost. */
struct live_stats {
	uint64_t live, dead, unknown;
	/* dead because ... */
	uint64_t dead_unmapped;		/* the block's memory is gone */
	uint64_t dead_pool;		/* pymalloc: free list, empty pool, past nextoffset */
	uint64_t dead_chunk;		/* glibc: next chunk says free, tcache, fastbin */
	uint64_t dead_size;		/* the allocator's size does not fit the record */
	uint64_t dead_object;		/* no longer an object of its type */
	/* unknown because ... */
	uint64_t unknown_pool;		/* no valid pool header, inconsistent free list */
	uint64_t unknown_chunk;		/* tcache/fastbin undecidable, next unreadable */
	uint64_t unknown_kind;		/* kind not checkable here (libc not glibc) */
	/* cost */
	uint64_t syscalls;		/* process_vm_readv calls */
	uint64_t iovecs;		/* remote ranges read */
	uint64_t bytes_read;
	uint64_t tcache_key;		/* the key used, 0 if none was known */
	uint32_t fastbin_chunks;	/* free chunks found in fastbins */
	uint8_t fastbins_known;		/* every arena's fastbins were walked */
};

/*
 * Decide n blocks: verdict[i] gets an enum live_verdict for b[i]. st (may
 * be NULL) is filled in, not added to. Blocks may come in any order and
 * kinds may be mixed; reads are batched and coalesced by address. 0, or
 * -errno when the target cannot be read at all (-ESRCH: gone, -EPERM).
 * In a Py_DEBUG build (debug allocator hooks), pass the underlying block
 * for blocks from CPython's allocator functions: addr - 16, size + 24 (a
 * pymalloc block when that is <= 512, and for PyMem_Raw*); a PyObject_ or
 * PyMem_ block over 512 goes through the raw domain's hooks too: addr - 32,
 * size + 48, LB_MALLOC. Blocks from libc's own functions are as they are.
 */
int liveness_check(pid_t pid, const struct live_params *p, const struct live_block *b,
		   size_t n, uint8_t *verdict, struct live_stats *st);

#endif
