// SPDX-License-Identifier: GPL-2.0
/*
 * Fuzzes the pymalloc pool scan, heapscan_pymalloc(), over a fake target:
 * its /proc/PID/maps, its /proc/PID/pagemap and the pool headers it reads.
 * heapscan.c opens those files itself, so this file interposes fopen(3)
 * (maps: a memory stream of lines built from the input), open(2), pread(2)
 * and close(2) (pagemap: entries computed from the fake address space);
 * every other path goes to the real calls.
 *
 * Input layout (little-endian):
 *	u8   flags: bit 0 pagemap cannot be opened, bit 1 pagemap reads come
 *	     back short, bit 2 pagemap says every page is present, bit 3 4 KiB
 *	     pools (3.8/3.9), where heapscan_pymalloc_pool() exists
 *	u32  bit i set: the page of pool i's header is unmapped
 *	8 x { s16 first page - FM_BASE / 4096, u16 pages (mod 8193),
 *	      u8 kind: bits 0-1 perms (rw-p r--p rw-s rwxp), bit 2 inode,
 *	      bits 3-5 name ("", [anon:...], [heap], a file, [stack], ...) }
 *	...  48-byte pool headers: header i at FM_BASE + i * pool size (the
 *	     rest of each pool reads as zeros)
 *
 * Checks that the totals add up: blocks is the sum of class_blocks, bytes
 * the sum weighted by size class, no more pools than blocks. FUZZ_PRINT=1
 * in the environment prints the totals.
 */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>
#include "fakemem.h"
#include "heapscan.h"

#define POOL		(16u << 10)
#define SMALL_POOL	(4u << 10)
#define HDR		48u
#define NMAPS		8
#define PM_PRESENT	(1ull << 63)

/* The scan with a pool size, where heapscan.c has it (weak: linked if there). */
int heapscan_pymalloc_pool(pid_t pid, unsigned int pool_size, struct heap_usage *u);
#pragma weak heapscan_pymalloc_pool

static char maps_text[NMAPS * 128];
static size_t maps_len;
static char maps_path[64], pagemap_path[64];
static int pagemap_fd = -1;
static uint8_t flags;

FILE *fopen(const char *path, const char *mode)
{
	static FILE *(*real)(const char *, const char *);

	if (!strcmp(path, maps_path))
		return fmemopen(maps_text, maps_len ? maps_len : 1, "r");
	if (!real)
		real = (FILE *(*)(const char *, const char *))dlsym(RTLD_NEXT, "fopen");
	return real(path, mode);
}

int open(const char *path, int oflag, ...)
{
	mode_t mode = 0;
	va_list ap;

	va_start(ap, oflag);
	if (oflag & (O_CREAT | O_TMPFILE))
		mode = va_arg(ap, mode_t);
	va_end(ap);
	if (!strcmp(path, pagemap_path)) {
		if (flags & 1) {
			errno = EACCES;
			return -1;
		}
		pagemap_fd = syscall(SYS_openat, AT_FDCWD, "/dev/null", O_RDONLY | O_CLOEXEC);
		return pagemap_fd;
	}
	return syscall(SYS_openat, AT_FDCWD, path, oflag, mode);
}

ssize_t pread(int fd, void *buf, size_t count, off_t off)
{
	uint64_t *pm = buf;

	if (fd < 0 || fd != pagemap_fd)
		return syscall(SYS_pread64, fd, buf, count, off);
	/* the kernel refuses reads of pagemap not made of whole entries */
	if ((off | count) % 8) {
		errno = EINVAL;
		return -1;
	}
	if (flags & 2)
		count = count / 16 * 8;
	for (size_t i = 0; i < count / 8; i++) {
		uint64_t page = (uint64_t)off / 8 + i;

		pm[i] = (flags & 4) || fm_page_mapped(page * FM_PAGE) ? PM_PRESENT : 0;
	}
	return count;
}

int close(int fd)
{
	if (fd >= 0 && fd == pagemap_fd)
		pagemap_fd = -1;
	return syscall(SYS_close, fd);
}

static const char *const perms[] = { "rw-p", "r--p", "rw-s", "rwxp" };
static const char *const names[] = {
	"", "[anon:pymalloc]", "[heap]", "/usr/lib/libfoo.so", "[stack]", "[anon:",
	"[vdso]", "",
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fz in = { data, size };
	struct heap_usage u;
	uint64_t blocks = 0, bytes = 0;
	uint32_t holes, pool = POOL;
	size_t npools;
	int err;

	if (!maps_path[0]) {
		snprintf(maps_path, sizeof(maps_path), "/proc/%d/maps", FM_PID);
		snprintf(pagemap_path, sizeof(pagemap_path), "/proc/%d/pagemap", FM_PID);
	}
	flags = fz_u8(&in);
	if ((flags & 8) && heapscan_pymalloc_pool)
		pool = SMALL_POOL;
	holes = fz_u32(&in);
	maps_len = 0;
	for (int i = 0; i < NMAPS; i++) {
		int16_t first = fz_u16(&in);
		uint16_t pages = fz_u16(&in) % 8193;
		uint8_t kind = fz_u8(&in);
		uint64_t start = FM_BASE + (int64_t)first * FM_PAGE;

		if (!pages)
			continue;
		maps_len += snprintf(maps_text + maps_len, sizeof(maps_text) - maps_len,
				     "%llx-%llx %s 00000000 00:00 %d %s\n",
				     (unsigned long long)start,
				     (unsigned long long)(start + pages * FM_PAGE),
				     perms[kind & 3], kind & 4 ? 4242 : 0, names[(kind >> 3) & 7]);
	}
	fm_reset();
	npools = in.n / HDR;
	if (npools > FM_MAX_SEGS)
		npools = FM_MAX_SEGS;
	for (size_t i = 0; i < npools; i++)
		fm_add(FM_BASE + i * pool, in.p + i * HDR, HDR);
	for (unsigned i = 0; i < 32; i++)
		if (holes & (1u << i))
			fm_unmap_page(FM_BASE + i * pool);

	if (pool != POOL)
		err = heapscan_pymalloc_pool(FM_PID, pool, &u);
	else
		err = heapscan_pymalloc(FM_PID, &u);
	if (err)
		return 0;
	if (getenv("FUZZ_PRINT"))
		fprintf(stderr, "%llu pools, %llu blocks, %llu read errors\n",
			(unsigned long long)u.pools, (unsigned long long)u.blocks,
			(unsigned long long)u.read_errors);
	for (int c = 0; c < HEAP_CLASSES; c++) {
		blocks += u.class_blocks[c];
		bytes += u.class_blocks[c] * (c + 1) * 16;
	}
	if (blocks != u.blocks || bytes != u.bytes || u.pools > u.blocks)
		fz_fail("totals do not add up: %llu pools, %llu blocks (classes say %llu), "
			"%llu bytes (classes say %llu)", (unsigned long long)u.pools,
			(unsigned long long)u.blocks, (unsigned long long)blocks,
			(unsigned long long)u.bytes, (unsigned long long)bytes);
	return 0;
}
