/* SPDX-License-Identifier: GPL-2.0 */
/*
 * pymalloc's heap read from outside: the in-use blocks of every pool found
 * in the target's anonymous memory. This is what sys.getallocatedblocks()
 * counts (less the blocks pymalloc passed to malloc), computed without
 * running code in the target.
 */
#ifndef HEAPSCAN_H
#define HEAPSCAN_H

#include <stdint.h>
#include <sys/types.h>

#define HEAP_CLASSES	64

struct heap_usage {
	uint64_t pools;			/* pools with at least one block in use */
	uint64_t blocks;		/* blocks in use */
	uint64_t bytes;			/* bytes in use, counted by size class */
	uint64_t class_blocks[HEAP_CLASSES];
	uint64_t scanned_bytes;		/* anonymous memory looked at for pools */
	uint64_t read_errors;		/* slots that could not be read */
};

/*
 * Scan pid's pymalloc pools of pool_size bytes (4 KiB in 3.8/3.9, 16 KiB
 * 3.10+: struct pyversion.pool_size); 0 or -errno
 * (-ESRCH: no such process). class_blocks[i] counts blocks of (i + 1) * 16
 * bytes. A running target changes its pools while they are read: stop it
 * first for a snapshot that adds up exactly.
 */
int heapscan_pymalloc_pool(pid_t pid, unsigned int pool_size, struct heap_usage *u);
/* The same with the pool size set for pid (default 16 KiB). */
int heapscan_pymalloc(pid_t pid, struct heap_usage *u);
void heapscan_set_pool_size(pid_t pid, unsigned int pool_size);

#endif
