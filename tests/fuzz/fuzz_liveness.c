// SPDX-License-Identifier: GPL-2.0
/*
 * Fuzzes the liveness check, liveness_check() (user/liveness.c and
 * liveness_glibc.c): pymalloc pools and their free lists, glibc chunk
 * headers, the tcache and the arenas' fastbins, objects' refcounts and
 * types, all read from a fake target. Built only where user/liveness.c
 * exists. /proc/PID/maps is served by an interposed fopen(3).
 *
 * Input layout (little-endian):
 *	u8   flags: bit 0 glibc, bit 1 4 KiB pools, bit 2 maps has [heap],
 *	     bit 3 maps has libc's rw-p data
 *	u64  tcache key (0: learn it)
 *	u32  bit i set: page i of the image is unmapped
 *	u16  pages of the image that are [heap] (from FM_BASE); the pages
 *	     after them, to the image's end, are libc.so.6's rw-p data
 *	32 x { s32 address - FM_BASE, u32 size, u8 kind (mod 3),
 *	       u32 type address - FM_BASE (0: any type) }
 *	...  the memory image, mapped at FM_BASE (FM_PAGE-rounded, zero-filled)
 *
 * Every verdict must be one of the three and the stats must add up to the
 * blocks. FUZZ_PRINT=1 in the environment prints the stats.
 */
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "fakemem.h"
#include "liveness.h"

#define NBLOCKS		32

static char maps_text[512], maps_path[64];
static size_t maps_len;

FILE *fopen(const char *path, const char *mode)
{
	static FILE *(*real)(const char *, const char *);

	if (maps_path[0] && !strcmp(path, maps_path))
		return fmemopen(maps_text, maps_len ? maps_len : 1, "r");
	if (!real)
		real = (FILE *(*)(const char *, const char *))dlsym(RTLD_NEXT, "fopen");
	return real(path, mode);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct live_block b[NBLOCKS];
	uint8_t verdict[NBLOCKS];
	struct fz in = { data, size };
	struct live_params p = { 0 };
	struct live_stats st;
	uint32_t holes;
	uint64_t heap_end, img_end;
	uint8_t flags;
	size_t len;

	if (!maps_path[0])
		snprintf(maps_path, sizeof(maps_path), "/proc/%d/maps", FM_PID);
	flags = fz_u8(&in);
	p.glibc = flags & 1;
	p.pool_size = flags & 2 ? 4096 : 16384;
	p.tcache_key = fz_u64(&in);
	holes = fz_u32(&in);
	heap_end = FM_BASE + fz_u16(&in) * FM_PAGE;
	for (int i = 0; i < NBLOCKS; i++) {
		int32_t off = (int32_t)fz_u32(&in);
		uint32_t sz = fz_u32(&in);
		uint8_t kind = fz_u8(&in) % 3;
		uint32_t type = fz_u32(&in);

		b[i] = (struct live_block){ FM_BASE + (int64_t)off, sz, kind,
					    type ? FM_BASE + type : 0 };
	}
	len = in.n;
	img_end = (FM_BASE + len + FM_PAGE - 1) & ~(FM_PAGE - 1);
	if (heap_end > img_end)
		heap_end = img_end;
	maps_len = 0;
	if ((flags & 4) && heap_end > FM_BASE)
		maps_len += snprintf(maps_text + maps_len, sizeof(maps_text) - maps_len,
				     "%llx-%llx rw-p 00000000 00:00 0 [heap]\n",
				     (unsigned long long)FM_BASE, (unsigned long long)heap_end);
	if ((flags & 8) && img_end > heap_end)
		maps_len += snprintf(maps_text + maps_len, sizeof(maps_text) - maps_len,
				     "%llx-%llx rw-p 001d3000 fd:01 4242 "
				     "/usr/lib/x86_64-linux-gnu/libc.so.6\n",
				     (unsigned long long)heap_end, (unsigned long long)img_end);
	fm_reset();
	fm_add(FM_BASE, in.p, len);
	for (unsigned i = 0; i < 32; i++)
		if (holes & (1u << i))
			fm_unmap_page(FM_BASE + i * FM_PAGE);
	memset(verdict, 0xff, sizeof(verdict));
	if (liveness_check(FM_PID, &p, b, NBLOCKS, verdict, &st))
		return 0;
	if (getenv("FUZZ_PRINT"))
		fprintf(stderr, "%llu live, %llu dead, %llu unknown (pool %llu, chunk %llu, kind %llu)\n",
			(unsigned long long)st.live, (unsigned long long)st.dead,
			(unsigned long long)st.unknown, (unsigned long long)st.unknown_pool,
			(unsigned long long)st.unknown_chunk, (unsigned long long)st.unknown_kind);
	for (int i = 0; i < NBLOCKS; i++)
		if (verdict[i] > LV_UNKNOWN)
			fz_fail("block %d: verdict %u", i, verdict[i]);
	if (st.live + st.dead + st.unknown != NBLOCKS)
		fz_fail("%llu live + %llu dead + %llu unknown != %d blocks",
			(unsigned long long)st.live, (unsigned long long)st.dead,
			(unsigned long long)st.unknown, NBLOCKS);
	return 0;
}
