// SPDX-License-Identifier: GPL-2.0
/*
 * Fuzzes the type reader: objtypes_classify() over blocks of a fake target
 * whose objects, type objects, metatypes and tp_name strings are all the
 * fuzz input (its batched process_vm_readv reads, the page-fault handling
 * of a batch, the type cache across calls).
 *
 * Input layout (little-endian):
 *	u8   CPython minor version (fz_pyversion)
 *	u8   number of blocks (mod 65)
 *	u32  bit i set: page i of the image is unmapped
 *	u32  flip: between the two classify calls,
 *	     image[flip % len] ^= (flip >> 24) | 1
 *	64 x { s32 address - FM_BASE, u16 size, u8 bit 0: is_object }
 *	...  the memory image, mapped at FM_BASE (FM_PAGE-rounded, zero-filled)
 *
 * Every index handed out must be below objtypes_count() and name a
 * non-empty string. FUZZ_PRINT=1 in the environment prints each block's
 * type (to check what a seed resolves to).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "fakemem.h"
#include "objtypes.h"

#define HDR_BLOCKS	64

static void check(const struct objtypes *ot, const uint32_t *out, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		const char *name;

		if (out[i] >= objtypes_count(ot))
			fz_fail("block %zu: index %u, only %u handed out", i, out[i],
				objtypes_count(ot));
		name = objtypes_name(ot, out[i]);
		if (!name || !*name)
			fz_fail("block %zu: index %u has no name", i, out[i]);
		if (getenv("FUZZ_PRINT"))
			fprintf(stderr, "block %zu: %s\n", i, name);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ot_block b[HDR_BLOCKS];
	uint32_t out[HDR_BLOCKS];
	struct fz in = { data, size };
	const struct pyversion *pv;
	struct objtypes *ot;
	uint32_t holes, flip;
	unsigned n;
	uint8_t *img;
	size_t len;

	pv = fz_pyversion(fz_u8(&in));
	n = fz_u8(&in) % (HDR_BLOCKS + 1);
	holes = fz_u32(&in);
	flip = fz_u32(&in);
	for (unsigned i = 0; i < HDR_BLOCKS; i++) {
		int32_t off = (int32_t)fz_u32(&in);
		uint16_t sz = fz_u16(&in);
		uint8_t fl = fz_u8(&in);

		b[i] = (struct ot_block){ FM_BASE + (int64_t)off, sz, fl & 1 };
	}
	len = in.n;
	img = malloc(len ? len : 1);
	if (!img)
		return 0;
	memcpy(img, in.p, len);
	fm_reset();
	fm_add(FM_BASE, img, len);
	for (unsigned i = 0; i < 32; i++)
		if (holes & (1u << i))
			fm_unmap_page(FM_BASE + i * FM_PAGE);

	ot = objtypes_new(FM_PID, pv);
	if (!ot)
		fz_fail("objtypes_new failed for 3.%u", fz_u8(&(struct fz){ data, size }));
	memset(out, 0xff, sizeof(out));
	if (!objtypes_classify(ot, b, n, out))
		check(ot, out, n);
	if (len)
		img[flip % len] ^= (flip >> 24) | 1;
	memset(out, 0xff, sizeof(out));
	if (!objtypes_classify(ot, b, n, out))
		check(ot, out, n);
	objtypes_free(ot);
	free(img);
	return 0;
}
