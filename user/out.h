/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The output formats of a report, each written from one snapshot:
 * out_text.c, out_folded.c, out_json.c, and out_files.c for --svg and
 * --pprof (out_svg.c, out_pprof.c, through profile.h).
 */
#ifndef OUT_H
#define OUT_H

struct session;
struct report_opts;
struct snapshot;

void out_text(struct session *s, const struct report_opts *o,
	      const struct snapshot *snap, const char *reason);
void out_folded(const struct snapshot *snap, const struct report_opts *o);
void out_json(struct session *s, const struct report_opts *o,
	      const struct snapshot *snap, const char *reason);
/* --svg and --pprof files, if asked for; errors are reported on stderr */
void out_files(struct session *s, const struct report_opts *o,
	       const struct snapshot *snap);

#endif
