// SPDX-License-Identifier: GPL-2.0
/*
 * linetable311_line() against CPython 3.11 itself: linetable_fixtures.h
 * holds, for code objects compiled by CPython, co_linetable and the line
 * code.co_positions() reports for every code unit (see
 * gen_linetable_fixtures.py). No expected line here is written by hand.
 */
#include <limits.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>
#include "linetable.h"
#include "unit.h"
#include "linetable_fixtures.h"

TEST(linetable_fixtures_present)
{
	CHECK(LT_NFIXTURES >= 50);
	for (size_t f = 0; f < LT_NFIXTURES; f++) {
		const struct lt_fixture *fx = &lt_fixtures[f];

		CHECKF(fx->nunits > 0, "%s: no code units", fx->name);
	}
}

/* Every code unit of every fixture gives the line CPython gives. */
TEST(linetable_every_index)
{
	for (size_t f = 0; f < LT_NFIXTURES; f++) {
		const struct lt_fixture *fx = &lt_fixtures[f];
		int bad = 0, first_bad = -1, got_first = 0;

		for (int i = 0; i < fx->nunits; i++) {
			int got = linetable311_line(fx->table, fx->table_len,
						    fx->firstlineno, i);

			if (got != fx->lines[i] && !bad++) {
				first_bad = i;
				got_first = got;
			}
		}
		CHECKF(!bad, "%s (CPython %s): %d of %d code units wrong; first: index %d gives %d, CPython says %d",
		       fx->name, LT_FIXTURES_PYTHON, bad, fx->nunits, first_bad, got_first,
		       first_bad >= 0 ? fx->lines[first_bad] : 0);
	}
}

/* index -1 (before the first instruction) is the function's first line. */
TEST(linetable_index_minus_one)
{
	for (size_t f = 0; f < LT_NFIXTURES; f++) {
		const struct lt_fixture *fx = &lt_fixtures[f];
		int got = linetable311_line(fx->table, fx->table_len, fx->firstlineno, -1);

		CHECKF(got == fx->firstlineno, "%s: index -1 gives %d, want co_firstlineno %d",
		       fx->name, got, fx->firstlineno);
	}
	CHECK_EQ_INT(linetable311_line(NULL, 0, 77, -1), 77);
}

/* Past the last code unit there is no line. */
TEST(linetable_past_end)
{
	static const int past[] = { 0, 1, 2, 7, 8, 100, 65536 };

	for (size_t f = 0; f < LT_NFIXTURES; f++) {
		const struct lt_fixture *fx = &lt_fixtures[f];

		for (size_t k = 0; k < sizeof(past) / sizeof(past[0]); k++) {
			int idx = fx->nunits + past[k];
			int got = linetable311_line(fx->table, fx->table_len,
						    fx->firstlineno, idx);

			CHECKF(got == -1, "%s: index %d (%d code units) gives %d, want -1",
			       fx->name, idx, fx->nunits, got);
		}
		CHECK_EQ_INT(linetable311_line(fx->table, fx->table_len, fx->firstlineno,
					       INT_MAX), -1);
	}
}

TEST(linetable_empty_table)
{
	static const uint8_t none[1];

	CHECK_EQ_INT(linetable311_line(none, 0, 5, 0), -1);
	CHECK_EQ_INT(linetable311_line(none, 0, 5, 3), -1);
	CHECK_EQ_INT(linetable311_line(NULL, 0, 5, 0), -1);
}

/*
 * Entries start with a byte that has bit 7 set (the format's own rule;
 * CPython walks tables backwards by it). A table cut at an entry boundary
 * must answer like the whole table for the code units its complete entries
 * cover, and -1 after them.
 */
TEST(linetable_prefix_at_entry_boundary)
{
	for (size_t f = 0; f < LT_NFIXTURES; f++) {
		const struct lt_fixture *fx = &lt_fixtures[f];
		size_t starts[4096], nstarts = 0;
		int units_before[4096], covered = 0;

		if (fx->table_len > 2000)
			continue;
		for (size_t p = 0; p < fx->table_len; p++) {
			if (!(fx->table[p] & 0x80))
				continue;
			starts[nstarts] = p;
			units_before[nstarts] = covered;
			nstarts++;
			covered += (fx->table[p] & 7) + 1;
		}
		CHECKF(covered == fx->nunits, "%s: entries cover %d code units, co_code has %d",
		       fx->name, covered, fx->nunits);
		/* up to 12 cut points spread over the table */
		for (size_t k = 0; k < 12 && nstarts; k++) {
			size_t s = k * nstarts / 12;
			size_t cut = starts[s];
			int n = units_before[s], bad = 0, first_bad = -1;

			for (int i = 0; i < n + 3; i++) {
				int want = i < n ? fx->lines[i] : -1;
				int got = linetable311_line(fx->table, cut, fx->firstlineno, i);

				if (got != want && !bad++)
					first_bad = i;
			}
			CHECKF(!bad, "%s cut at byte %zu (%d code units): %d wrong, first index %d",
			       fx->name, cut, n, bad, first_bad);
		}
	}
}

/*
 * A table cut anywhere (even inside an entry or a varint) must not be read
 * past its end: each prefix is placed right before an unmapped page, so a
 * stray read faults and fails this test.
 */
TEST(linetable_truncated_no_overread)
{
	long pg = sysconf(_SC_PAGESIZE);
	size_t span = 2 * (size_t)pg + 4096;
	uint8_t *m = mmap(NULL, span, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	uint8_t *guard;

	CHECK(m != MAP_FAILED);
	if (m == MAP_FAILED)
		return;
	/* usable bytes end at guard; guard page itself is PROT_NONE */
	guard = (uint8_t *)(((uintptr_t)m + span - pg) & ~((uintptr_t)pg - 1));
	CHECK(mprotect(guard, pg, PROT_NONE) == 0);
	for (size_t f = 0; f < LT_NFIXTURES; f++) {
		const struct lt_fixture *fx = &lt_fixtures[f];

		if (fx->table_len > (size_t)(guard - m))
			continue;
		for (size_t p = 0; p <= fx->table_len && p <= 2000; p++) {
			uint8_t *t = guard - p;

			memcpy(t, fx->table, p);
			linetable311_line(t, p, fx->firstlineno, fx->nunits - 1);
			linetable311_line(t, p, fx->firstlineno, INT_MAX);
		}
	}
	munmap(m, span);
}
