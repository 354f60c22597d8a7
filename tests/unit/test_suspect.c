// SPDX-License-Identifier: GPL-2.0
/*
 * A site's history of outstanding bytes (hist_push) and the leak-suspect
 * score made from it (suspect_score), on histories worked out by hand:
 * score = least-squares slope x share of intervals that grew x share of
 * the window's growth made in its second half (README "Leak suspects").
 */
#include <math.h>
#include "history.h"
#include "unit.h"

#define CHECK_NEAR(a, b)						\
	CHECKF(fabs((double)(a) - (double)(b)) < 1e-6,			\
	       "%s = %.9g, want %.9g", #a, (double)(a), (double)(b))

/* A history from n (t, v) pairs, pushed in order. */
static struct site_hist hist(const double *t, const int64_t *v, int n)
{
	struct site_hist h = { 0 };

	for (int i = 0; i < n; i++)
		hist_push(&h, t[i], v[i]);
	return h;
}

TEST(hist_push_appends_in_order)
{
	struct site_hist h = { 0 };

	hist_push(&h, 0.5, 10);
	hist_push(&h, 1.5, -3);
	CHECK_EQ_INT(h.n, 2);
	CHECK_NEAR(h.t[0], 0.5);
	CHECK_EQ_INT(h.v[0], 10);
	CHECK_NEAR(h.t[1], 1.5);
	CHECK_EQ_INT(h.v[1], -3);
}

TEST(hist_push_drops_the_oldest_beyond_max)
{
	struct site_hist h = { .first_report = 4, .first_bytes = 77 };

	for (int i = 0; i < HIST_MAX + 3; i++)
		hist_push(&h, i, 100 * i);
	CHECK_EQ_INT(h.n, HIST_MAX);
	for (int i = 0; i < HIST_MAX; i++) {
		CHECK_NEAR(h.t[i], i + 3);
		CHECK_EQ_INT(h.v[i], 100 * (i + 3));
	}
	/* what the site was when first seen is not history: kept */
	CHECK_EQ_INT(h.first_report, 4);
	CHECK_EQ_INT(h.first_bytes, 77);
}

TEST(suspect_too_little_history)
{
	struct site_hist h = { 0 };
	struct suspect s = { .score = 9, .slope = 9, .grew = 9 };

	suspect_score(&h, &s);
	CHECK_NEAR(s.score, 0);
	CHECK_EQ_INT(s.intervals, 0);
	hist_push(&h, 1, 1000);
	suspect_score(&h, &s);
	CHECK_NEAR(s.score, 0);
	CHECK_NEAR(s.slope, 0);
	CHECK_EQ_INT(s.intervals, 0);
	CHECK_EQ_INT(s.grew, 0);
}

/* 100 bytes a second, every interval: slope 100, half of it late. */
TEST(suspect_steady_leak)
{
	const double t[] = { 0, 1, 2, 3, 4 };
	const int64_t v[] = { 0, 100, 200, 300, 400 };
	struct site_hist h = hist(t, v, 5);
	struct suspect s;

	suspect_score(&h, &s);
	CHECK_NEAR(s.slope, 100);
	CHECK_EQ_INT(s.intervals, 4);
	CHECK_EQ_INT(s.grew, 4);
	CHECK_NEAR(s.late, 0.5);
	CHECK_NEAR(s.score, 50);
}

/* A cache that filled in two intervals and stopped: no late growth. */
TEST(suspect_plateau_scores_zero)
{
	const double t[] = { 0, 1, 2, 3, 4 };
	const int64_t v[] = { 0, 1000, 2000, 2000, 2000 };
	struct site_hist h = hist(t, v, 5);
	struct suspect s;

	suspect_score(&h, &s);
	CHECK_NEAR(s.slope, 500);	/* sum dt*dv = 5000 over sum dt^2 = 10 */
	CHECK_EQ_INT(s.grew, 2);
	CHECK_NEAR(s.late, 0);
	CHECK_NEAR(s.score, 0);
}

/* Growth only in the last interval: all of it late, 1 of 4 grew. */
TEST(suspect_late_jump)
{
	const double t[] = { 0, 1, 2, 3, 4 };
	const int64_t v[] = { 0, 0, 0, 0, 400 };
	struct site_hist h = hist(t, v, 5);
	struct suspect s;

	suspect_score(&h, &s);
	CHECK_NEAR(s.slope, 80);	/* 800 / 10 */
	CHECK_EQ_INT(s.grew, 1);
	CHECK_NEAR(s.late, 1);
	CHECK_NEAR(s.score, 80 * 0.25 * 1);
}

/* Grew, then shrank below the midpoint: late share clamped to 0. */
TEST(suspect_shrinking_late_scores_zero)
{
	const double t[] = { 0, 1, 2 };
	const int64_t v[] = { 0, 500, 300 };
	struct site_hist h = hist(t, v, 3);
	struct suspect s;

	suspect_score(&h, &s);
	CHECK_NEAR(s.slope, 150);	/* 300 / 2 */
	CHECK_EQ_INT(s.intervals, 2);
	CHECK_EQ_INT(s.grew, 1);
	CHECK_NEAR(s.late, 0);
	CHECK_NEAR(s.score, 0);
}

/* A site that only shrank: negative slope, score 0, never negative. */
TEST(suspect_shrinking_site_scores_zero)
{
	const double t[] = { 0, 1, 2 };
	const int64_t v[] = { 1000, 600, 200 };
	struct site_hist h = hist(t, v, 3);
	struct suspect s;

	suspect_score(&h, &s);
	CHECK_NEAR(s.slope, -400);
	CHECK_EQ_INT(s.grew, 0);
	CHECK_NEAR(s.score, 0);
}

/*
 * Only the last 8 intervals count: an early plateau pushed out of the
 * history no longer lowers the share of intervals that grew.
 */
TEST(suspect_window_is_the_last_8_intervals)
{
	struct site_hist h = { 0 };
	struct suspect s;

	for (int i = 0; i < 4; i++)
		hist_push(&h, i, 0);		/* flat: 3 intervals that did not grow */
	for (int i = 4; i < 13; i++)
		hist_push(&h, i, 100 * (i - 3));
	suspect_score(&h, &s);
	CHECK_EQ_INT(h.n, HIST_MAX);
	CHECK_EQ_INT(s.intervals, 8);
	CHECK_EQ_INT(s.grew, 8);
	CHECK_NEAR(s.slope, 100);
	/* kept: v = 100..900; the midpoint (index 4) holds 500 */
	CHECK_NEAR(s.late, 0.5);
	CHECK_NEAR(s.score, 50);
}

/* Uneven report times: the slope is per second, not per report. */
TEST(suspect_slope_is_per_second)
{
	const double t[] = { 0, 0.5, 2.5 };
	const int64_t v[] = { 0, 100, 500 };
	struct site_hist h = hist(t, v, 3);
	struct suspect s;

	suspect_score(&h, &s);
	CHECK_NEAR(s.slope, 200);
	CHECK_EQ_INT(s.grew, 2);
	/* midpoint index 1 (100): late = 400 / 500 */
	CHECK_NEAR(s.late, 0.8);
	CHECK_NEAR(s.score, 200 * 1.0 * 0.8);
}
