// SPDX-License-Identifier: GPL-2.0
/*
 * --folded: one line per site, "frames;joined;root;first value", the input
 * of flamegraph.pl and speedscope.
 */
#include <inttypes.h>
#include <stdio.h>
#include "out.h"
#include "session.h"
#include "snapshot.h"

/* Outstanding bytes per stack; with --cycles, bytes the cyclic GC freed. */
void out_folded(const struct snapshot *snap, const struct report_opts *o)
{
	for (size_t i = 0; i < snap->n; i++) {
		const struct site *si = &snap->sites[i];
		int64_t v = o->cycles ? (int64_t)(o->count ? si->gc_count : si->gc_bytes) :
			    o->count ? si->out_count : si->out_bytes;

		if (v > 0)
			fprintf(o->out, "%s %" PRId64 "\n", si->key, v);
	}
}
