/* SPDX-License-Identifier: GPL-2.0 */
#ifndef PYVERSIONS_H
#define PYVERSIONS_H

#include <stddef.h>
#include <stdint.h>
#include "pyleak.h"

enum linetable_kind {
	LT_LOCATIONS_311,	/* 3.11+ co_linetable (PEP 657 location table) */
	LT_LNOTAB_38,		/* 3.8/3.9 co_lnotab; f_lasti in bytes */
	LT_LINETABLE_310,	/* 3.10 co_linetable (PEP 626); f_lasti in code units */
};

/* Everything pyleakbpf knows about one CPython minor version. */
struct pyversion {
	unsigned major, minor;
	const char *verified;		/* what the row was checked against */
	struct py_offsets bpf;		/* handed to the BPF walker */
	/*
	 * code objects. code_adaptive: 3.11+ the bytecode's offset in the code
	 * object (instruction pointers are relative to it); 3.8-3.10, whose
	 * bytecode is a separate bytes object, sizeof(PyCodeObject): both are
	 * also how much of a code object to read. 3.8-3.10 have no
	 * co_qualname: code_qualname is co_name's offset there.
	 */
	int code_filename, code_name, code_qualname, code_linetable;
	int code_firstlineno, code_adaptive;
	enum linetable_kind linetable;
	/* bytes and str */
	int bytes_size, bytes_sval;
	int str_length, str_state, str_ascii_data, str_compact_data;
	int str_utf8_length, str_utf8;
	int str_legacy_data;		/* PyUnicodeObject.data (not compact) */
	int str_kind_shift;		/* state: kind = (state >> shift) & 7 */
	uint32_t str_compact_mask, str_ascii_mask;
	uint32_t str_ready_mask;	/* 0: every string is ready (3.12+) */
	/* objects and type objects (ob_type and type_* are in bpf) */
	int ob_refcnt, ob_size, type_name;
	uint64_t tpflags_ready;		/* Py_TPFLAGS_READY */
	uint64_t tpflags_gc;		/* Py_TPFLAGS_HAVE_GC */
	uint64_t tpflags_metatype;	/* Py_TPFLAGS_TYPE_SUBCLASS */
	uint64_t tpflags_str;		/* Py_TPFLAGS_UNICODE_SUBCLASS */
	unsigned preheader_extra;	/* bytes that bpf.preheader_flags add */
	/* immortal objects (3.12+): the low 32 bits of ob_refcnt, as int32, < 0 */
	int immortal;
	unsigned pool_size;		/* pymalloc POOL_SIZE */
	/*
	 * The collector to probe without USDT: fn(tstate, int generation, ...)
	 * returning collected + uncollectable; NULL: none known.
	 */
	const char *gc_collector;
	int debug_offsets;		/* _Py_DebugOffsets at _PyRuntime + 0 (3.13+) */
};

const struct pyversion *pyversion_find(unsigned major, unsigned minor);
/* The newest minor version with a row (3.x). */
unsigned pyversion_newest_minor(void);

#define DEBUG_OFFSETS_COOKIE	"xdebugpy"
#define DEBUG_OFFSETS_MAX	1024	/* bytes to read at _PyRuntime + 0 */

/*
 * 3.13+: apply the _Py_DebugOffsets read at the start of the target's
 * _PyRuntime (buf, len bytes) to *pv, a copy of the row. Every offset the
 * struct describes replaces the row's; note gets a one-line account ("all
 * N match the row" or which differ). Returns 0, or -1 with a one-line
 * reason in err: a free-threaded build, a version that is not the row's,
 * or a layout newer than this program knows (see pyversions.c).
 */
int pyversion_debug_offsets(struct pyversion *pv, const uint8_t *buf, size_t len,
			    char *note, size_t notelen, char *err, size_t errlen);
/* PY_VERSION_HEX from a "3.9.18" / "3.10.0rc2" string; 0 if not one. */
uint32_t pyversion_parse(const char *s);
/* "3.10, 3.11" style list of the supported versions. */
const char *pyversion_supported(void);

#endif
