// SPDX-License-Identifier: GPL-2.0
/*
 * Fuzzes the symbolizer's reads of the target: code objects, their str
 * objects (qualname, filename: ASCII and 1/2/4-byte kinds) and line-table
 * bytes objects, through symbolize_stack() and frame_format().
 *
 * Input layout (little-endian):
 *	u8   CPython minor version (fz_pyversion)
 *	u8   number of frames (mod 9)
 *	u32  bit i set: page i of the image is unmapped
 *	u32  flip: after the first batch, image[flip % len] ^= (flip >> 24) | 1
 *	u64  &PyCode_Type in the fake target
 *	8 x { u32 code object offset from FM_BASE (0xffffffff: NULL), u32 instr }
 *	...  the memory image, mapped at FM_BASE (FM_PAGE-rounded, zero-filled)
 *
 * The stack is symbolized twice (two ids, the epoch bumped in between, the
 * image changed by one byte so a code object may look reused), and the
 * first stack is formatted again afterwards: frames keep pointing at the
 * code they were read from. No native_ip: native frames open files of the
 * target (the ELF reader has its own harness). FUZZ_PRINT=1 in the
 * environment prints the frames (to check what a seed resolves to).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "fakemem.h"
#include "pyleak.h"
#include "pyversions.h"
#include "symbolize.h"
#include "target.h"

#define HDR_FRAMES	8

static void format_all(const struct sym_stack *ss)
{
	char buf[300];

	if (!ss)
		return;
	for (unsigned i = 0; i < ss->nframes; i++) {
		frame_format(&ss->frames[i], 0, buf, sizeof(buf));
		if (strlen(buf) >= sizeof(buf))
			fz_fail("frame_format overran its buffer");
		frame_format(&ss->frames[i], 1, buf, sizeof(buf));
		if (getenv("FUZZ_PRINT"))
			fprintf(stderr, "stack %llu frame %u: %s\n",
				(unsigned long long)ss->id, i, buf);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct pystack st;
	struct fz in = { data, size };
	struct symbolizer s;
	struct target t;
	uint32_t holes, flip;
	unsigned nframes;
	uint8_t *img;
	size_t len;

	memset(&t, 0, sizeof(t));
	t.pv = fz_pyversion(fz_u8(&in));
	nframes = fz_u8(&in) % (HDR_FRAMES + 1);
	holes = fz_u32(&in);
	flip = fz_u32(&in);
	t.pycode_type = fz_u64(&in);
	t.pid = FM_PID;
	memset(&st, 0, sizeof(st));
	for (unsigned i = 0; i < HDR_FRAMES; i++) {
		uint32_t off = fz_u32(&in), instr = fz_u32(&in);

		if (i < nframes) {
			st.code[i] = off == 0xffffffff ? 0 : FM_BASE + off;
			st.instr[i] = instr;
		}
	}
	st.nframes = nframes;
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

	symbolizer_init(&s, &t);
	format_all(symbolize_stack(&s, 1, &st));
	s.epoch++;
	if (len)
		img[flip % len] ^= (flip >> 24) | 1;
	format_all(symbolize_stack(&s, 3, &st));
	format_all(symbolized(&s, 1));
	symbolizer_free(&s);
	free(img);
	return 0;
}
