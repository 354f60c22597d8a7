// SPDX-License-Identifier: GPL-2.0
/*
 * --svg and --pprof: the profile (profile.h) built from a snapshot, then
 * written to files by out_svg.c and out_pprof.c.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "fmt.h"
#include "out.h"
#include "profile.h"
#include "session.h"
#include "snapshot.h"
#include "symbolize.h"
#include "target.h"

static int build_profile(const struct session *s, const struct snapshot *snap,
			 struct profile *p, struct prof_frame **store)
{
	size_t nf = 0, k = 0;
	struct prof_frame *fr;

	memset(p, 0, sizeof(*p));
	for (size_t i = 0; i < snap->n; i++)
		if (snap->sites[i].ss)
			nf += snap->sites[i].ss->nframes + 1;
	fr = calloc(nf ? nf : 1, sizeof(*fr));
	p->samples = calloc(snap->n ? snap->n : 1, sizeof(*p->samples));
	if (!fr || !p->samples) {
		free(fr);
		free(p->samples);
		return -ENOMEM;
	}
	for (size_t i = 0; i < snap->n; i++) {
		const struct site *si = &snap->sites[i];
		struct prof_sample *ps = &p->samples[p->n++];

		ps->folded = si->key;
		ps->inuse_bytes = si->out_bytes;
		ps->inuse_count = si->out_count;
		ps->alloc_bytes = si->total_bytes;
		ps->alloc_count = si->total_count;
		if (!si->ss || !si->ss->nframes)
			continue;
		ps->frames = fr + k;
		if (si->ss->native)
			fr[k++] = (struct prof_frame){ si->ss->native, "", 0, true };
		for (int j = 0; j < si->ss->nframes; j++) {
			const struct sym_frame *f = &si->ss->frames[j];
			bool ok = f->code && f->code->ok;

			fr[k++] = (struct prof_frame){ ok ? f->code->qualname : "[unknown]",
						       ok ? f->code->filename : "",
						       f->line > 0 ? f->line : 0, false };
		}
		ps->nframes = fr + k - ps->frames;
	}
	p->pid = s->t->pid;
	p->comm = s->t->comm;
	p->python = s->t->version;
	p->start_unix_ns = s->start_unix_ns;
	p->duration_ns = now_ns() - s->start_ns;
	*store = fr;
	return 0;
}

void out_files(struct session *s, const struct report_opts *o,
			const struct snapshot *snap)
{
	struct prof_frame *store = NULL;
	struct profile p;
	int err;

	if (!o->svg_path && !o->pprof_path)
		return;
	if (build_profile(s, snap, &p, &store)) {
		fprintf(stderr, "pyleakbpf: out of memory writing the profile files\n");
		return;
	}
	if (o->pprof_path) {
		err = pprof_write(&p, o->pprof_path);
		if (err)
			fprintf(stderr, "pyleakbpf: cannot write %s: %s\n", o->pprof_path, strerror(-err));
	}
	if (o->svg_path) {
		char title[256];
		struct flamegraph_opts fo = { .title = title,
			.value = o->count ? PV_INUSE_COUNT : PV_INUSE_BYTES };
		FILE *f = fopen(o->svg_path, "w");

		snprintf(title, sizeof(title), "pyleakbpf: outstanding %s, PID %d (%s), CPython %s",
			 o->count ? "objects" : "bytes", s->t->pid, s->t->comm, s->t->version);
		err = f ? flamegraph_write(&p, &fo, f) : -errno;
		if (f && fclose(f) && !err)
			err = -errno;
		if (err)
			fprintf(stderr, "pyleakbpf: cannot write %s: %s\n", o->svg_path, strerror(-err));
	}
	free(store);
	free(p.samples);
}
