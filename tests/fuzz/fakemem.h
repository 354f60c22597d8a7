/* SPDX-License-Identifier: GPL-2.0 */
/*
 * A fake target address space for the fuzz harnesses, and a reader of the
 * fuzz input.
 *
 * The harnesses are linked without build/memread.o: fakemem.c defines
 * mem_read(), mem_read_u64() and process_vm_readv(2) itself (the libc and
 * sanitizer definitions are weak or in a shared library, so these win),
 * and serves reads of process FM_PID from segments the harness adds.
 * A page is mapped if any segment overlaps it and it is not punched out
 * with fm_unmap_page(); bytes of a mapped page outside every segment read
 * as zero. Reads fault at page granularity, as the kernel's do: a transfer
 * stops at the start of the first page that is not mapped.
 */
#ifndef FAKEMEM_H
#define FAKEMEM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* No such process can exist (pid_max is at most 2^22): real /proc paths fail. */
#define FM_PID		0x3ffffff0
#define FM_BASE		0x10000000ULL	/* where harnesses put their memory image */
#define FM_PAGE		4096ULL
#define FM_MAX_SEGS	2048
#define FM_MAX_HOLES	64

void fm_reset(void);
/* data must stay valid (and may change) until the next fm_reset(). */
void fm_add(uint64_t addr, const void *data, size_t len);
void fm_unmap_page(uint64_t addr);
bool fm_page_mapped(uint64_t addr);
/* Copy from the fake space; bytes copied before the first unmapped page. */
size_t fm_copy(uint64_t addr, void *dst, size_t len);

/* Sequential reader of the fuzz input; reads past its end give zeros. */
struct fz {
	const uint8_t *p;
	size_t n;
};

uint8_t fz_u8(struct fz *in);
uint16_t fz_u16(struct fz *in);
uint32_t fz_u32(struct fz *in);
uint64_t fz_u64(struct fz *in);

/* CPython 3.<sel> if pyversions.c knows it, else one it knows, picked by sel. */
const struct pyversion *fz_pyversion(uint8_t sel);

/* Abort with a message: a harness check failed (libFuzzer reports it). */
void fz_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

#endif
