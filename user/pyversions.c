// SPDX-License-Identifier: GPL-2.0
/*
 * Per-version CPython offsets, as data. Adding a version is adding a row;
 * the walker, the symbolizer, the type reader and the heap scan take
 * everything from here (3.13+: overridden at attach by the target's own
 * _Py_DebugOffsets, see debugoffsets.c).
 */
#include <stddef.h>
#include "pyversions.h"

#define FRAME_SPAN(lo, hi)	.frame_read_lo = (lo), .frame_read_len = (hi) - (lo)

/* Unchanged 3.8-3.14 (GIL builds): PyObject, PyVarObject, PyTypeObject. */
#define OBJ_TYPE_BPF						\
	.type_basicsize = 32,					\
	.type_itemsize = 40,					\
	.type_flags = 168,					\
	.ob_type = 8,						\
	.gc_head_size = 16

#define OBJ_TYPE_USER						\
	.bytes_size = 16, .bytes_sval = 32,			\
	.ob_refcnt = 0, .ob_size = 16, .type_name = 24,		\
	.tpflags_ready = 1ULL << 12,				\
	.tpflags_gc = 1ULL << 14,				\
	.tpflags_metatype = 1ULL << 31,				\
	.tpflags_str = 1ULL << 28

/*
 * PyASCIIObject with wstr (3.8-3.11) and without (3.12+). State bits
 * (GIL builds, 3.8-3.14): interned 0-1, kind 2-4, compact 5, ascii 6, then
 * ready (3.8-3.11) or statically_allocated (3.12+) 7.
 */
#define STR_STATE_BITS						\
	.str_kind_shift = 2,					\
	.str_compact_mask = 1 << 5, .str_ascii_mask = 1 << 6
#define STR_WSTR						\
	.str_length = 16, .str_state = 32,			\
	.str_ascii_data = 48, .str_compact_data = 72,		\
	.str_utf8_length = 48, .str_utf8 = 56,			\
	.str_legacy_data = 72, STR_STATE_BITS,			\
	.str_ready_mask = 1 << 7
#define STR_NOWSTR						\
	.str_length = 16, .str_state = 32,			\
	.str_ascii_data = 40, .str_compact_data = 56,		\
	.str_utf8_length = 40, .str_utf8 = 48,			\
	.str_legacy_data = 56, STR_STATE_BITS,			\
	.str_ready_mask = 0		/* no wstr: always ready */

/* 3.8-3.10: heap PyFrameObject chain from tstate->frame, int f_lasti. */
#define FRAME_OBJECTS(lasti)					\
	.tstate_cframe = -1,					\
	.cframe_current_frame = 24,	/* tstate->frame */	\
	.frame_code = 32,		/* f_code */		\
	.frame_previous = 24,		/* f_back */		\
	.frame_instr = (lasti),		/* f_lasti */		\
	.frame_owner = -1,					\
	.frame_instr_is_ptr = 0,				\
	.owner_skip_min = 0,					\
	FRAME_SPAN(24, (lasti) + 8)

/* 3.8-3.10 code objects: no co_qualname (its name stands in), no adaptive code */
#define CODE_38							\
	.code_filename = 104, .code_name = 112, .code_qualname = 112, \
	.code_linetable = 120, .code_firstlineno = 40,		\
	.code_adaptive = 176		/* sizeof(PyCodeObject) */

static const struct pyversion versions[] = {
	{
		.major = 3, .minor = 8,
		.verified = "gdb offsetof on 3.8.18 (pyenv libpython3.8.so.1.0, DWARF); "
			    "tp_flags bits from its headers",
		.bpf = {
			.runtime_tstate_current = 1368,	/* gilstate.tstate_current */
			.runtime_interp_main = -1,
			.interp_gil_holder = -1, .interp_gil_locked = -1,
			.tstate_native_tid = -1,	/* 3.8-3.10 have none */
			.tstate_thread_id = 176,	/* thread_id = pthread_self() */
			.runtime_interp_head = 32,	/* interpreters.head */
			.interp_threads_head = 8,	/* tstate_head */
			.tstate_next = 8,
			FRAME_OBJECTS(104),
			OBJ_TYPE_BPF,
			.preheader_flags = 0,
		},
		CODE_38,			/* co_linetable here is co_lnotab */
		.linetable = LT_LNOTAB_38,
		STR_WSTR, OBJ_TYPE_USER,
		.preheader_extra = 0,
		.pool_size = 4 << 10,
		.gc_collector = "collect",
	},
	{
		.major = 3, .minor = 9,
		.verified = "gdb offsetof on 3.9.18 (pyenv libpython3.9.so.1.0, DWARF); "
			    "tp_flags bits from its headers",
		.bpf = {
			.runtime_tstate_current = 568,
			.runtime_interp_main = -1,
			.interp_gil_holder = -1, .interp_gil_locked = -1,
			.tstate_native_tid = -1,
			.tstate_thread_id = 176,
			.runtime_interp_head = 32,
			.interp_threads_head = 8,
			.tstate_next = 8,
			FRAME_OBJECTS(104),
			OBJ_TYPE_BPF,
			.preheader_flags = 0,
		},
		CODE_38,
		.linetable = LT_LNOTAB_38,
		STR_WSTR, OBJ_TYPE_USER,
		.preheader_extra = 0,
		.pool_size = 4 << 10,
		.gc_collector = "collect",
	},
	{
		.major = 3, .minor = 10,
		.verified = "gdb offsetof on 3.10.13 (pyenv libpython3.10.so.1.0, DWARF); "
			    "tp_flags bits from its headers",
		.bpf = {
			.runtime_tstate_current = 568,
			.runtime_interp_main = -1,
			.interp_gil_holder = -1, .interp_gil_locked = -1,
			.tstate_native_tid = -1,
			.tstate_thread_id = 176,
			.runtime_interp_head = 32,
			.interp_threads_head = 8,
			.tstate_next = 8,
			FRAME_OBJECTS(96),
			OBJ_TYPE_BPF,
			.preheader_flags = 0,
		},
		CODE_38,			/* co_linetable at 120 (PEP 626) */
		.linetable = LT_LINETABLE_310,
		STR_WSTR, OBJ_TYPE_USER,
		.preheader_extra = 0,
		.pool_size = 16 << 10,
		.gc_collector = "gc_collect_main",
	},
	{
		.major = 3, .minor = 11,
		.verified = "gdb offsetof on 3.11.2 (Debian, release and debug) and 3.11.7 (pyenv)",
		.bpf = {
			.runtime_tstate_current = 576,	/* gilstate.tstate_current */
			.runtime_interp_main = -1,
			.interp_gil_holder = -1, .interp_gil_locked = -1,
			.tstate_native_tid = 160,
			.tstate_thread_id = 152,
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
			OBJ_TYPE_BPF,
			.preheader_flags = 1 << 4,	/* Py_TPFLAGS_MANAGED_DICT */
		},
		.code_filename = 112, .code_name = 120, .code_qualname = 128,
		.code_linetable = 136, .code_firstlineno = 72, .code_adaptive = 184,
		.linetable = LT_LOCATIONS_311,
		STR_WSTR, OBJ_TYPE_USER,
		.preheader_extra = 16,		/* dict and values pointers */
		.pool_size = 16 << 10,
		.gc_collector = "gc_collect_main",
	},
	{
		.major = 3, .minor = 12,
		.verified = "gdb offsetof on 3.12.1 (pyenv libpython3.12.so.1.0, DWARF); "
			    "tp_flags bits and FRAME_OWNED_BY_CSTACK from its headers",
		.bpf = {
			.runtime_tstate_current = -1,	/* gone in 3.12 */
			.runtime_interp_main = 48,	/* interpreters.main */
			.interp_gil_holder = 1048,	/* _gil.last_holder */
			.interp_gil_locked = 1056,	/* _gil.locked */
			.tstate_native_tid = 144,
			.tstate_thread_id = 136,
			.runtime_interp_head = 40,
			.interp_threads_head = 72,	/* threads.head */
			.tstate_next = 8,
			.tstate_cframe = 56,
			.cframe_current_frame = 0,
			.frame_code = 0,		/* f_code */
			.frame_previous = 8,
			.frame_instr = 56,		/* prev_instr */
			.frame_owner = 70,
			.frame_instr_is_ptr = 1,
			.owner_skip_min = 3,		/* FRAME_OWNED_BY_CSTACK */
			FRAME_SPAN(0, 72),
			OBJ_TYPE_BPF,
			.preheader_flags = 0x18,	/* MANAGED_DICT | MANAGED_WEAKREF */
		},
		.code_filename = 112, .code_name = 120, .code_qualname = 128,
		.code_linetable = 136, .code_firstlineno = 68, .code_adaptive = 192,
		.linetable = LT_LOCATIONS_311,
		STR_NOWSTR, OBJ_TYPE_USER,
		.preheader_extra = 16,		/* dict and weakref slots */
		.immortal = 1,
		.pool_size = 16 << 10,
		.gc_collector = "gc_collect_main",
	},
	{
		.major = 3, .minor = 13,
		.verified = "gdb offsetof on 3.13.0 (pyenv libpython3.13.so.1.0, DWARF); "
			    "tp_flags bits and FRAME_OWNED_BY_CSTACK from its headers; "
			    "the target's _Py_DebugOffsets win at attach",
		.bpf = {
			.runtime_tstate_current = -1,
			.runtime_interp_main = 640,
			.interp_gil_holder = 7760,
			.interp_gil_locked = 7768,
			.tstate_native_tid = 160,
			.tstate_thread_id = 152,
			.runtime_interp_head = 632,
			.interp_threads_head = 7344,
			.tstate_next = 8,
			.tstate_cframe = -1,
			.cframe_current_frame = 72,	/* tstate->current_frame */
			.frame_code = 0,		/* f_executable */
			.frame_previous = 8,
			.frame_instr = 56,		/* instr_ptr */
			.frame_owner = 70,
			.frame_instr_is_ptr = 1,
			.owner_skip_min = 3,		/* FRAME_OWNED_BY_CSTACK */
			FRAME_SPAN(0, 72),
			OBJ_TYPE_BPF,
			.preheader_flags = 0x18,
		},
		.code_filename = 112, .code_name = 120, .code_qualname = 128,
		.code_linetable = 136, .code_firstlineno = 68, .code_adaptive = 200,
		.linetable = LT_LOCATIONS_311,
		STR_NOWSTR, OBJ_TYPE_USER,
		.preheader_extra = 16,
		.immortal = 1,
		.pool_size = 16 << 10,
		.gc_collector = "gc_collect_main",
		.debug_offsets = 1,
	},
	{
		.major = 3, .minor = 14,
		.verified = "headers only, UNVERIFIED (3.14.7/3.14.10 layouts; no 3.14 "
			    "build here); the target's _Py_DebugOffsets win at attach",
		.bpf = {
			.runtime_tstate_current = -1,
			.runtime_interp_main = 816,
			.interp_gil_holder = 7792,
			.interp_gil_locked = 7800,
			.tstate_native_tid = 160,
			.tstate_thread_id = 152,
			.runtime_interp_head = 808,
			.interp_threads_head = 7344,
			.tstate_next = 8,
			.tstate_cframe = -1,
			.cframe_current_frame = 72,
			.frame_code = 0,		/* f_executable, a _PyStackRef */
			.code_tag_bits = 3,
			.frame_previous = 8,
			.frame_instr = 56,
			.frame_owner = 74,
			.frame_instr_is_ptr = 1,
			.owner_skip_min = 3,		/* INTERPRETER 3, CSTACK 4 */
			FRAME_SPAN(0, 80),
			OBJ_TYPE_BPF,
			.preheader_flags = 0x18,
		},
		.code_filename = 112, .code_name = 120, .code_qualname = 128,
		.code_linetable = 136, .code_firstlineno = 68, .code_adaptive = 208,
		.linetable = LT_LOCATIONS_311,
		STR_NOWSTR, OBJ_TYPE_USER,
		.preheader_extra = 16,
		.immortal = 1,
		.pool_size = 16 << 10,
		.gc_collector = NULL,		/* incremental GC: USDT only */
		.debug_offsets = 1,
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
	return "3.8, 3.9, 3.10, 3.11, 3.12, 3.13, 3.14 (3.14 unverified); GIL builds only";
}
