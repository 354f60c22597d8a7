// SPDX-License-Identifier: GPL-2.0
/*
 * Per-version CPython offsets, as data. Adding a version is adding a row;
 * the walker and the symbolizer take everything from here.
 */
#include <stddef.h>
#include "pyversions.h"

#define FRAME_SPAN(lo, hi)	.frame_read_lo = (lo), .frame_read_len = (hi) - (lo)

static const struct pyversion versions[] = {
	{
		.major = 3, .minor = 11,
		.verified = "gdb offsetof on 3.11.2 (Debian, release and debug) and 3.11.7 (pyenv)",
		.bpf = {
			.runtime_tstate_current = 576,	/* gilstate.tstate_current */
			.tstate_native_tid = 160,
			.runtime_interp_head = 40,	/* interpreters.head */
			.interp_threads_head = 16,	/* threads.head */
			.tstate_next = 8,
			.tstate_cframe = 56,
			.cframe_current_frame = 8,
			.frame_code = 32,
			.frame_previous = 48,
			.frame_instr = 56,		/* prev_instr */
			.frame_owner = -1,		/* 3.11 has no shim frames */
			.frame_instr_is_ptr = 1,
			.owner_skip_min = 0,
			FRAME_SPAN(32, 64),
			.type_basicsize = 32,
			.type_itemsize = 40,
			.type_flags = 168,
			.ob_type = 8,
			.gc_head_size = 16,
			.preheader_flags = 1 << 4,	/* Py_TPFLAGS_MANAGED_DICT */
		},
		.code_filename = 112, .code_name = 120, .code_qualname = 128,
		.code_linetable = 136, .code_firstlineno = 72, .code_adaptive = 184,
		.linetable = LT_LOCATIONS_311,
		.bytes_size = 16, .bytes_sval = 32,
		.str_length = 16, .str_state = 32,
		.str_ascii_data = 48, .str_compact_data = 72,
		.str_utf8_length = 48, .str_utf8 = 56,
		.str_legacy_data = 72,
		.str_kind_shift = 2,
		.str_compact_mask = 1 << 5, .str_ascii_mask = 1 << 6,
		.str_ready_mask = 1 << 7,
		.ob_refcnt = 0, .ob_size = 16, .type_name = 24,
		.tpflags_ready = 1ULL << 12,
		.tpflags_gc = 1ULL << 14,
		.tpflags_metatype = 1ULL << 31,
		.tpflags_str = 1ULL << 28,
		.preheader_extra = 16,		/* dict and values pointers */
	},
};

const struct pyversion *pyversion_find(unsigned major, unsigned minor)
{
	for (size_t i = 0; i < sizeof(versions) / sizeof(versions[0]); i++)
		if (versions[i].major == major && versions[i].minor == minor)
			return &versions[i];
	return NULL;
}

const char *pyversion_supported(void)
{
	return "3.11";
}
