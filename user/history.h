/* SPDX-License-Identifier: GPL-2.0 */
/* Each site's outstanding bytes across reports: growth and leak suspects. */
#ifndef HISTORY_H
#define HISTORY_H

#include <stdint.h>

struct session;
struct snapshot;

/* Outstanding bytes of one site at each report: for growth and suspects. */
#define HIST_MAX	9		/* the suspect window (8 intervals) + 1 */
#define SUSPECT_WINDOW	8		/* intervals looked at */

struct site_hist {
	int n;				/* points kept (oldest dropped) */
	int first_report;		/* report in which it was first seen */
	int64_t first_bytes;		/* at that report */
	double t[HIST_MAX];		/* seconds since tracing began */
	int64_t v[HIST_MAX];
};

/*
 * Leak-suspect score from a site's history (see README "Leak suspects"):
 * slope of outstanding bytes over the recent window x share of intervals
 * that grew x share of that growth made in the window's second half.
 * Fills the parts; 0 when there is too little history or no growth.
 */
struct suspect {
	double score;			/* bytes per second, weighted */
	double slope;			/* bytes per second, least squares */
	int intervals, grew;		/* in the window */
	double late;			/* growth share of the window's second half */
};
void suspect_score(const struct site_hist *h, struct suspect *out);
/* Append a point, dropping the oldest beyond HIST_MAX. */
void hist_push(struct site_hist *h, double t, int64_t v);
/* The key of a folded stack in s->hist (never 0). */
uint64_t hist_key(const char *k);
/* Growth since the previous and first reports, and the suspect score. */
void history_update(struct session *s, struct snapshot *snap, double t);

#endif
