/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The line-table fixtures of every CPython version present: one generated
 * header per version (linetable_fixtures_3X.h, written by
 * gen_linetable_fixtures.py under that version), gathered here with the
 * table format each one is in.
 */
#ifndef LINETABLE_FIXTURES_H
#define LINETABLE_FIXTURES_H

#include <stddef.h>
#include <stdint.h>
#include "pyversions.h"

struct lt_fixture {
	const char *name;
	int firstlineno;
	const uint8_t *table;
	size_t table_len;
	const int *lines;	/* one per code unit (2 bytes of co_code) */
	int nunits;
};

#include "linetable_fixtures_38.h"
#include "linetable_fixtures_39.h"
#include "linetable_fixtures_310.h"
#include "linetable_fixtures_311.h"
#include "linetable_fixtures_312.h"
#include "linetable_fixtures_313.h"

#define LT_SET(v, k) { LT##v##_PYTHON, k, lt##v##_fixtures, \
		       sizeof(lt##v##_fixtures) / sizeof(lt##v##_fixtures[0]) }

struct lt_set {
	const char *python;		/* version that made the fixtures */
	enum linetable_kind kind;
	const struct lt_fixture *fx;
	size_t n;
};

static const struct lt_set lt_sets[] = {
	LT_SET(38, LT_LNOTAB_38),
	LT_SET(39, LT_LNOTAB_38),
	LT_SET(310, LT_LINETABLE_310),
	LT_SET(311, LT_LOCATIONS_311),
	LT_SET(312, LT_LOCATIONS_311),
	LT_SET(313, LT_LOCATIONS_311),
};

#define LT_NSETS (sizeof(lt_sets) / sizeof(lt_sets[0]))

#endif
