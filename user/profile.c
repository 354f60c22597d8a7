// SPDX-License-Identifier: GPL-2.0
/*
 * The one value of a profile sample a single-valued format (folded, SVG)
 * shows. The profile itself is built by out_files.c (see profile.h).
 */
#include "profile.h"

int64_t prof_value(const struct prof_sample *s, enum prof_value v)
{
	switch (v) {
	case PV_INUSE_BYTES:
		return s->inuse_bytes;
	case PV_INUSE_COUNT:
		return s->inuse_count;
	case PV_ALLOC_BYTES:
		return s->alloc_bytes;
	case PV_ALLOC_COUNT:
		return s->alloc_count;
	}
	return 0;
}
