// SPDX-License-Identifier: GPL-2.0
/*
 * The line-table decoders against CPython itself, 3.8 to 3.13:
 * linetable_fixtures.h holds, per version, code objects compiled by that
 * version with their line table and the line CPython gives for every code
 * unit (see gen_linetable_fixtures.py). No expected line here is written by
 * hand.
 */
#include <limits.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>
#include "linetable.h"
#include "unit.h"
#include "linetable_fixtures.h"

/* What the decoder of the set's format says for code unit u. */
static int decode(const struct lt_set *set, const struct lt_fixture *fx,
		  const uint8_t *tab, size_t len, long long u)
{
	int off = u > INT_MAX / 2 ? INT_MAX : (int)(u * 2);

	switch (set->kind) {
	case LT_LNOTAB_38:
		return lnotab38_line(tab, len, fx->firstlineno, u < 0 ? -1 : off);
	case LT_LINETABLE_310:
		return linetable310_line(tab, len, fx->firstlineno, u < 0 ? -1 : off);
	case LT_LOCATIONS_311:
		return linetable311_line(tab, len, fx->firstlineno,
					 u > INT_MAX ? INT_MAX : (int)u);
	}
	return -2;
}

TEST(linetable_fixtures_present)
{
	CHECK_EQ_INT(LT_NSETS, 6);
	for (size_t s = 0; s < LT_NSETS; s++) {
		CHECKF(lt_sets[s].n >= 200, "CPython %s: %zu fixtures", lt_sets[s].python,
		       lt_sets[s].n);
		for (size_t f = 0; f < lt_sets[s].n; f++)
			CHECKF(lt_sets[s].fx[f].nunits > 0, "%s: no code units",
			       lt_sets[s].fx[f].name);
	}
}

/* Every code unit of every fixture gives the line CPython gives. */
TEST(linetable_every_index)
{
	for (size_t s = 0; s < LT_NSETS; s++) {
		const struct lt_set *set = &lt_sets[s];
		long total = 0, matched = 0;

		for (size_t f = 0; f < set->n; f++) {
			const struct lt_fixture *fx = &set->fx[f];
			int bad = 0, first_bad = -1, got_first = 0;

			for (int i = 0; i < fx->nunits; i++) {
				int got = decode(set, fx, fx->table, fx->table_len, i);

				total++;
				if (got == fx->lines[i])
					matched++;
				else if (!bad++) {
					first_bad = i;
					got_first = got;
				}
			}
			CHECKF(!bad, "%s (CPython %s): %d of %d code units wrong; first: unit %d gives %d, CPython says %d",
			       fx->name, set->python, bad, fx->nunits, first_bad, got_first,
			       first_bad >= 0 ? fx->lines[first_bad] : 0);
		}
		unit_note("CPython %s: %ld/%ld code units of %zu code objects agree",
			  set->python, matched, total, set->n);
	}
}

/* Before the first instruction is the function's first line. */
TEST(linetable_before_first)
{
	for (size_t s = 0; s < LT_NSETS; s++) {
		for (size_t f = 0; f < lt_sets[s].n; f++) {
			const struct lt_fixture *fx = &lt_sets[s].fx[f];
			int got = decode(&lt_sets[s], fx, fx->table, fx->table_len, -1);

			CHECKF(got == fx->firstlineno, "%s (%s): unit -1 gives %d, want %d",
			       fx->name, lt_sets[s].python, got, fx->firstlineno);
		}
	}
	CHECK_EQ_INT(linetable311_line(NULL, 0, 77, -1), 77);
	CHECK_EQ_INT(linetable310_line(NULL, 0, 77, -1), 77);
	CHECK_EQ_INT(lnotab38_line(NULL, 0, 77, -1), 77);
}

/*
 * Past the last code unit: no line (3.10+). co_lnotab has no end marker;
 * like PyCode_Addr2Line it gives the line its last pair reaches.
 */
TEST(linetable_past_end)
{
	static const long long past[] = { 0, 1, 2, 7, 8, 100, 65536, INT_MAX };

	for (size_t s = 0; s < LT_NSETS; s++) {
		const struct lt_set *set = &lt_sets[s];

		for (size_t f = 0; f < set->n; f++) {
			const struct lt_fixture *fx = &set->fx[f];
			int want = -1;

			if (set->kind == LT_LNOTAB_38) {
				want = fx->firstlineno;
				for (size_t i = 1; i < fx->table_len; i += 2)
					want += (int8_t)fx->table[i];
			}
			for (size_t k = 0; k < sizeof(past) / sizeof(past[0]); k++) {
				long long u = past[k] == INT_MAX ? INT_MAX : fx->nunits + past[k];
				int got = decode(set, fx, fx->table, fx->table_len, u);

				CHECKF(got == want, "%s (%s): unit %lld (%d units) gives %d, want %d",
				       fx->name, set->python, u, fx->nunits, got, want);
			}
		}
	}
}

TEST(linetable_empty_table)
{
	static const uint8_t none[1];

	CHECK_EQ_INT(linetable311_line(none, 0, 5, 0), -1);
	CHECK_EQ_INT(linetable311_line(none, 0, 5, 3), -1);
	CHECK_EQ_INT(linetable311_line(NULL, 0, 5, 0), -1);
	CHECK_EQ_INT(linetable310_line(none, 0, 5, 0), -1);
	CHECK_EQ_INT(linetable310_line(NULL, 0, 5, 4), -1);
	CHECK_EQ_INT(lnotab38_line(none, 0, 5, 0), 5);
	CHECK_EQ_INT(lnotab38_line(NULL, 0, 5, 40), 5);
}

/*
 * 3.11+ entries start with a byte that has bit 7 set (the format's own
 * rule; CPython walks tables backwards by it). A table cut at an entry
 * boundary must answer like the whole table for the code units its complete
 * entries cover, and -1 after them.
 */
TEST(linetable_prefix_at_entry_boundary)
{
	for (size_t s = 0; s < LT_NSETS; s++) {
		if (lt_sets[s].kind != LT_LOCATIONS_311)
			continue;
		for (size_t f = 0; f < lt_sets[s].n; f++) {
			const struct lt_fixture *fx = &lt_sets[s].fx[f];
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
				size_t cut = starts[k * nstarts / 12];
				int n = units_before[k * nstarts / 12], bad = 0, first_bad = -1;

				for (int i = 0; i < n + 3; i++) {
					int want = i < n ? fx->lines[i] : -1;
					int got = linetable311_line(fx->table, cut, fx->firstlineno, i);

					if (got != want && !bad++)
						first_bad = i;
				}
				CHECKF(!bad, "%s (%s) cut at byte %zu (%d code units): %d wrong, first index %d",
				       fx->name, lt_sets[s].python, cut, n, bad, first_bad);
			}
		}
	}
}

/*
 * A 3.10 table cut after any pair answers like the whole table for the
 * bytes the pairs before the cut cover, and -1 after them.
 */
TEST(linetable310_prefix_at_pair)
{
	for (size_t s = 0; s < LT_NSETS; s++) {
		if (lt_sets[s].kind != LT_LINETABLE_310)
			continue;
		for (size_t f = 0; f < lt_sets[s].n; f++) {
			const struct lt_fixture *fx = &lt_sets[s].fx[f];
			int covered = 0, bad = 0;

			for (size_t cut = 0; cut + 1 < fx->table_len && cut < 400; cut += 2) {
				for (int u = 0; u < covered / 2 + 2 && u < fx->nunits + 2; u++) {
					int want = u < covered / 2 ? fx->lines[u] : -1;

					if (linetable310_line(fx->table, cut, fx->firstlineno, 2 * u) != want)
						bad++;
				}
				covered += fx->table[cut];
			}
			CHECKF(!bad, "%s: %d answers of cut tables wrong", fx->name, bad);
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
	for (size_t s = 0; s < LT_NSETS; s++) {
		for (size_t f = 0; f < lt_sets[s].n; f++) {
			const struct lt_fixture *fx = &lt_sets[s].fx[f];

			if (fx->table_len > (size_t)(guard - m))
				continue;
			for (size_t p = 0; p <= fx->table_len && p <= 600; p++) {
				uint8_t *t = guard - p;

				memcpy(t, fx->table, p);
				decode(&lt_sets[s], fx, t, p, fx->nunits - 1);
				decode(&lt_sets[s], fx, t, p, INT_MAX);
			}
		}
	}
	munmap(m, span);
}

/*
 * From what the walker records to the line, per format: f_lasti in bytes
 * (3.8/3.9), f_lasti in code units (3.10), both -1 before the first
 * instruction; pointer minus code object (3.11+), co_code_adaptive + 2 *
 * unit, one unit below the bytecode before the first instruction.
 */
TEST(linetable_frame_instr)
{
	const int adaptive = 192;

	for (size_t s = 0; s < LT_NSETS; s++) {
		const struct lt_set *set = &lt_sets[s];

		for (size_t f = 0; f < set->n; f++) {
			const struct lt_fixture *fx = &set->fx[f];
			int bad = 0;
			uint32_t before = set->kind == LT_LOCATIONS_311 ? adaptive - 2 : (uint32_t)-1;

			for (int u = 0; u < fx->nunits; u++) {
				uint32_t instr = set->kind == LT_LNOTAB_38 ? 2 * u :
						 set->kind == LT_LINETABLE_310 ? u :
						 adaptive + 2 * u;

				if (linetable_frame_line(set->kind, adaptive, fx->table,
							 fx->table_len, fx->firstlineno,
							 instr) != fx->lines[u])
					bad++;
			}
			CHECKF(!bad, "%s (%s): %d units wrong", fx->name, set->python, bad);
			CHECK_EQ_INT(linetable_frame_line(set->kind, adaptive, fx->table,
							  fx->table_len, fx->firstlineno,
							  before), fx->firstlineno);
		}
	}
}
