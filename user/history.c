// SPDX-License-Identifier: GPL-2.0
/*
 * Each site's history across reports, keyed by its folded stack: growth
 * since the previous and the first report, and the leak-suspect score
 * (see README "Leak suspects").
 */
#include <stdlib.h>
#include <string.h>
#include "history.h"
#include "session.h"
#include "snapshot.h"

uint64_t hist_key(const char *k)
{
	uint64_t h = 0xcbf29ce484222325ULL;

	while (*k)
		h = (h ^ (unsigned char)*k++) * 0x100000001b3ULL;
	return h | 1;	/* u64map keys are never 0 */
}

/* Growth since the previous and first reports, and the suspect score. */
void history_update(struct session *s, struct snapshot *snap, double t)
{
	for (size_t i = 0; i < snap->n; i++) {
		struct site *si = &snap->sites[i];
		uint64_t k = hist_key(si->key);
		struct site_hist *h = u64map_get(&s->hist, k);

		if (!h) {
			h = calloc(1, sizeof(*h));
			if (!h || u64map_put(&s->hist, k, h)) {
				free(h);
				continue;
			}
			h->first_report = s->reports + 1;
			h->first_bytes = si->out_bytes;
			/* before it was first seen it had nothing outstanding */
			hist_push(h, 0, 0);
		} else {
			si->seen_before = true;
		}
		si->d_prev = si->out_bytes - (h->n ? h->v[h->n - 1] : 0);
		si->d_first = si->out_bytes - h->first_bytes;
		hist_push(h, t, si->out_bytes);
		suspect_score(h, &si->sus);
	}
}

void hist_push(struct site_hist *h, double t, int64_t v)
{
	if (h->n == HIST_MAX) {
		memmove(h->t, h->t + 1, (HIST_MAX - 1) * sizeof(h->t[0]));
		memmove(h->v, h->v + 1, (HIST_MAX - 1) * sizeof(h->v[0]));
		h->n--;
	}
	h->t[h->n] = t;
	h->v[h->n] = v;
	h->n++;
}

void suspect_score(const struct site_hist *h, struct suspect *out)
{
	int first = h->n - 1 - SUSPECT_WINDOW, k, mid;
	double st = 0, sv = 0, stt = 0, stv = 0, m, var, total, late;

	memset(out, 0, sizeof(*out));
	if (first < 0)
		first = 0;
	k = h->n - 1 - first;		/* intervals in the window */
	if (k < 1)
		return;
	for (int i = first; i <= h->n - 1; i++) {
		st += h->t[i];
		sv += h->v[i];
	}
	m = k + 1;
	for (int i = first; i <= h->n - 1; i++) {
		stt += (h->t[i] - st / m) * (h->t[i] - st / m);
		stv += (h->t[i] - st / m) * (h->v[i] - sv / m);
	}
	var = stt;
	out->slope = var > 0 ? stv / var : 0;
	out->intervals = k;
	for (int i = first + 1; i <= h->n - 1; i++)
		out->grew += h->v[i] > h->v[i - 1];
	total = (double)(h->v[h->n - 1] - h->v[first]);
	mid = first + (k + 1) / 2;
	late = (double)(h->v[h->n - 1] - h->v[mid]);
	out->late = total > 0 ? late / total : 0;
	if (out->late < 0)
		out->late = 0;
	if (out->late > 1)
		out->late = 1;
	if (out->slope <= 0 || total <= 0)
		return;
	out->score = out->slope * ((double)out->grew / k) * out->late;
}
