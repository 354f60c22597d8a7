// SPDX-License-Identifier: GPL-2.0
/*
 * CPython line-table decoders (see linetable.h). They read only the bytes
 * they are given: a table cut anywhere is never read past its end.
 */
#include <limits.h>
#include "linetable.h"

/* A line summed from a target's deltas; -1 if it does not fit an int. */
static int line_or_none(int64_t line)
{
	return line >= INT_MIN && line <= INT_MAX ? (int)line : -1;
}

int lnotab38_line(const uint8_t *tab, size_t len, int firstlineno, int offset)
{
	int64_t line = firstlineno;
	int addr = 0;

	/* pairs: (address increment, signed line increment) */
	for (size_t i = 0; i + 1 < len; i += 2) {
		addr += tab[i];
		if (addr > offset)
			break;
		line += (int8_t)tab[i + 1];
	}
	return line_or_none(line);
}

int linetable310_line(const uint8_t *tab, size_t len, int firstlineno, int offset)
{
	int64_t line = firstlineno;
	int start = 0;

	if (offset < 0)
		return firstlineno;
	/* pairs: (range length in bytes, signed line delta; -128: no line) */
	for (size_t i = 0; i + 1 < len; i += 2) {
		int end = start + tab[i], delta = (int8_t)tab[i + 1], range_line = -1;

		if (delta != -128) {
			line += delta;
			range_line = line_or_none(line);
		}
		if (offset >= start && offset < end)
			return range_line;
		start = end;
	}
	return -1;
}

static unsigned int read_varint(const uint8_t *tab, size_t len, size_t *i)
{
	unsigned int v = 0, shift = 0;
	uint8_t b;

	do {
		if (*i >= len)
			return v;
		b = tab[(*i)++];
		v |= (unsigned int)(b & 63) << shift;
		shift += 6;
	} while ((b & 64) && shift < 32);
	return v;
}

static int read_svarint(const uint8_t *tab, size_t len, size_t *i)
{
	unsigned int u = read_varint(tab, len, i);

	return (u & 1) ? -(int)(u >> 1) : (int)(u >> 1);
}

int linetable311_line(const uint8_t *tab, size_t len, int firstlineno, int index)
{
	int64_t line = firstlineno;
	int addr = 0;
	size_t i = 0;

	if (index < 0)
		return firstlineno;
	while (i < len) {
		uint8_t b = tab[i++];
		int code = (b >> 3) & 15, n = (b & 7) + 1, has_line = 1;

		switch (code) {
		case 15:			/* no location */
			has_line = 0;
			break;
		case 14:			/* long form */
			line += read_svarint(tab, len, &i);
			read_varint(tab, len, &i);
			read_varint(tab, len, &i);
			read_varint(tab, len, &i);
			break;
		case 13:			/* no columns */
			line += read_svarint(tab, len, &i);
			break;
		case 12: case 11: case 10:	/* one line, two column bytes */
			line += code - 10;
			i += 2;
			break;
		default:			/* short form, one column byte */
			i += 1;
			break;
		}
		if (index >= addr && index < addr + n)
			return has_line ? line_or_none(line) : -1;
		addr += n;
	}
	return -1;
}

int linetable_frame_line(enum linetable_kind kind, int code_adaptive,
			 const uint8_t *tab, size_t len, int firstlineno,
			 uint32_t instr)
{
	int lasti = (int32_t)instr;	/* f_lasti is an int; -1 stays -1 */

	switch (kind) {
	case LT_LNOTAB_38:
		return lnotab38_line(tab, len, firstlineno, lasti);
	case LT_LINETABLE_310:
		if (lasti < 0 || lasti > (1 << 29))
			return lasti < 0 ? firstlineno : -1;
		return linetable310_line(tab, len, firstlineno, lasti * 2);
	case LT_LOCATIONS_311:
		/* below the bytecode start: a frame not started (index -1) */
		if (instr < (uint32_t)code_adaptive)
			return firstlineno;
		return linetable311_line(tab, len, firstlineno,
					 (int)((instr - code_adaptive) / 2));
	}
	return -1;
}
