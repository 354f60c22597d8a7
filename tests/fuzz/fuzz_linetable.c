// SPDX-License-Identifier: GPL-2.0
/*
 * Fuzzes the line-table decoders: a code object's line table is bytes of
 * the target (co_linetable / co_lnotab), and so is co_firstlineno.
 *
 * Input: byte 0 picks the table format (FMT_* below), then firstlineno
 * (s32 LE), then the index asked about (s32 LE), then the table itself to
 * the end of the input. No fake address space: the decoders take a buffer.
 * Each input is decoded at the given index, at -1 and at every code unit
 * the table can cover (8 per byte at most, capped), so a table is walked to
 * its end. Index -1 must give firstlineno (before the first instruction).
 *
 * Adding a decoder is adding a row to decoders[]: the function, or an
 * adapter with the decode_fn signature around it, under its format number.
 * Where user/linetable.h exists (the decoders of 3.8-3.10 beside 3.11's)
 * its decoders and linetable_frame_line() are fuzzed too.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "fakemem.h"
#include "symbolize.h"
#if __has_include("linetable.h")
#include "linetable.h"		/* the decoders of every supported version */
#define HAVE_LINETABLE_H 1
#endif

enum {
	FMT_LOCATIONS_311 = 0,	/* 3.11+ location table (PEP 657) */
	FMT_LINETABLE_310 = 1,	/* 3.10 co_linetable (PEP 626) */
	FMT_LNOTAB_38 = 2,	/* 3.8, 3.9 co_lnotab */
	FMT_FRAME = 3,		/* the frame -> line step, over a 3.11+ table */
};

typedef int (*decode_fn)(const uint8_t *tab, size_t len, int firstlineno, int index);

#ifdef HAVE_LINETABLE_H
/* index as the walker's instr; 3.11's code_adaptive, the table as 3.11+ */
static int frame_line311(const uint8_t *tab, size_t len, int firstlineno, int index)
{
	return linetable_frame_line(LT_LOCATIONS_311, 184, tab, len, firstlineno,
				    (uint32_t)index);
}
#endif

static const struct decoder {
	int fmt;
	const char *name;
	decode_fn fn;
} decoders[] = {
	{ FMT_LOCATIONS_311, "linetable311_line", linetable311_line },
#ifdef HAVE_LINETABLE_H
	{ FMT_LINETABLE_310, "linetable310_line", linetable310_line },
	{ FMT_LNOTAB_38, "lnotab38_line", lnotab38_line },
	{ FMT_FRAME, "linetable_frame_line", frame_line311 },
#endif
};

#define NDECODERS	(sizeof(decoders) / sizeof(decoders[0]))
#define MAX_UNITS	256

static const struct decoder *pick(uint8_t fmt)
{
	for (size_t i = 0; i < NDECODERS; i++)
		if (decoders[i].fmt == fmt % 4)
			return &decoders[i];
	return &decoders[0];	/* a format without a decoder yet */
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const struct decoder *d;
	int32_t first, index;
	size_t len, units;
	uint8_t *tab;

	if (size < 9)
		return 0;
	d = pick(data[0]);
	memcpy(&first, data + 1, 4);
	memcpy(&index, data + 5, 4);
	len = size - 9;
	/* an exact-size copy, so a read past the table's end is caught */
	tab = malloc(len ? len : 1);
	if (!tab)
		return 0;
	memcpy(tab, data + 9, len);
	d->fn(tab, len, first, index);
	if (d->fmt != FMT_FRAME && d->fn(tab, len, first, -1) != first)
		fz_fail("%s: index -1 is not firstlineno %d", d->name, first);
	units = len * 8 < MAX_UNITS ? len * 8 : MAX_UNITS;
	for (size_t i = 0; i <= units; i++)
		d->fn(tab, len, first, (int)i);
	free(tab);
	return 0;
}
