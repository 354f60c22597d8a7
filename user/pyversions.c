// SPDX-License-Identifier: GPL-2.0
/*
 * Per-version CPython offsets, as data. Adding a version is adding a row;
 * the walker, the symbolizer, the type reader and the heap scan take
 * everything from here (3.13+: overridden at attach by the target's own
 * _Py_DebugOffsets, see debugoffsets.c).
 */
#include <stddef.h>
#include <stdio.h>
#include <string.h>
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
			.interp_gc_stats = 7528,	/* gc (7400) + generation_stats */
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

unsigned pyversion_newest_minor(void)
{
	return versions[sizeof(versions) / sizeof(versions[0]) - 1].minor;
}

uint32_t pyversion_parse(const char *s)
{
	unsigned major, minor, micro, serial = 0, level = 0xf;
	char rest[8] = "";
	int n = 0;

	if (sscanf(s, "%u.%u.%u%n", &major, &minor, &micro, &n) < 3 ||
	    major != 3 || minor > 99 || micro > 99)
		return 0;
	s += n;
	if (*s == 'a' || *s == 'b' || (s[0] == 'r' && s[1] == 'c')) {
		level = *s == 'a' ? 0xa : *s == 'b' ? 0xb : 0xc;
		s += level == 0xc ? 2 : 1;
		if (sscanf(s, "%u%n", &serial, &n) < 1 || serial > 15)
			return 0;
		s += n;
	}
	/* "+" marks a build from a tree past the tag */
	if (sscanf(s, "%7s", rest) == 1 && strcmp(rest, "+"))
		return 0;
	return major << 24 | minor << 16 | micro << 8 | level << 4 | serial;
}

/*
 * _Py_DebugOffsets layouts (Include/internal/pycore_runtime.h): a cookie,
 * the version, free_threaded, then groups of uint64 offsets, each group
 * starting with the struct's size. Group positions as measured with gdb
 * `ptype /o struct _Py_DebugOffsets` on 3.13.0; 3.14's from its headers
 * (it added fields inside groups, so every later group moved).
 */
struct do_layout {
	unsigned minor;
	size_t size;
	unsigned runtime, interp, tstate, frame, code, object, type, bytes, unicode;
	unsigned in_threads_head, in_gil_locked, in_gil_holder;	/* indices in interp */
};

static const struct do_layout layouts[] = {
	{ 13, 584, 24, 48, 152, 224, 272, 352, 368, 512, 536, 3, 11, 12 },
	{ 14, 760, 24, 48, 176, 248, 312, 400, 416, 592, 616, 3, 12, 13 },
};

struct do_field {
	const char *name;
	unsigned group;		/* offsetof(struct do_layout, group) */
	unsigned index;		/* 8-byte slot in the group */
	size_t field;		/* offsetof(struct pyversion, field), an int32 */
};

#define DF(n, g, i, f)	{ n, offsetof(struct do_layout, g), i, offsetof(struct pyversion, f) }
#define DFI(n, i, f)	{ n, 0, i, offsetof(struct pyversion, f) }	/* interp index */

static const struct do_field do_fields[] = {
	DF("runtime.interpreters_head", runtime, 2, bpf.runtime_interp_head),
	DFI("interp.threads_head", 0, bpf.interp_threads_head),
	DFI("interp.gil_locked", 1, bpf.interp_gil_locked),
	DFI("interp.gil_holder", 2, bpf.interp_gil_holder),
	DF("tstate.next", tstate, 2, bpf.tstate_next),
	DF("tstate.current_frame", tstate, 4, bpf.cframe_current_frame),
	DF("tstate.thread_id", tstate, 5, bpf.tstate_thread_id),
	DF("tstate.native_thread_id", tstate, 6, bpf.tstate_native_tid),
	DF("frame.previous", frame, 1, bpf.frame_previous),
	DF("frame.executable", frame, 2, bpf.frame_code),
	DF("frame.instr_ptr", frame, 3, bpf.frame_instr),
	DF("frame.owner", frame, 5, bpf.frame_owner),
	DF("code.filename", code, 1, code_filename),
	DF("code.name", code, 2, code_name),
	DF("code.qualname", code, 3, code_qualname),
	DF("code.linetable", code, 4, code_linetable),
	DF("code.firstlineno", code, 5, code_firstlineno),
	DF("code.co_code_adaptive", code, 9, code_adaptive),
	DF("object.ob_type", object, 1, bpf.ob_type),
	DF("type.tp_name", type, 1, type_name),
	DF("type.tp_flags", type, 3, bpf.type_flags),
	DF("bytes.ob_size", bytes, 1, bytes_size),
	DF("bytes.ob_sval", bytes, 2, bytes_sval),
	DF("unicode.state", unicode, 1, str_state),
	DF("unicode.length", unicode, 2, str_length),
	DF("unicode.asciiobject_size", unicode, 3, str_ascii_data),
};

#define NFIELDS	(sizeof(do_fields) / sizeof(do_fields[0]))

static uint64_t slot(const uint8_t *buf, unsigned off)
{
	uint64_t v;

	memcpy(&v, buf + off, 8);
	return v;
}

static int32_t *field_of(struct pyversion *pv, const struct do_field *f)
{
	return (int32_t *)((char *)pv + f->field);
}

/* The bytes one frame read must cover, from the frame offsets. */
static int frame_span(struct py_offsets *o)
{
	int lo = o->frame_code, hi = o->frame_code + 8;
	int ends[][2] = { { o->frame_previous, 8 }, { o->frame_instr, 8 }, { o->frame_owner, 1 } };

	for (size_t i = 0; i < 3; i++) {
		if (ends[i][0] < 0)
			continue;
		if (ends[i][0] < lo)
			lo = ends[i][0];
		if (ends[i][0] + ends[i][1] > hi)
			hi = ends[i][0] + ends[i][1];
	}
	hi = (hi + 7) & ~7;
	if (lo < 0 || hi - lo > FRAME_READ_MAX)
		return -1;
	o->frame_read_lo = lo;
	o->frame_read_len = hi - lo;
	return 0;
}

/*
 * A target newer than the newest layout known here (3.15+) is refused, not
 * traced with a guess: 3.14 inserted fields inside the groups, moving every
 * later group, so a newer struct cannot be read by position; and what it
 * does not describe (pre-header flags, frame owner values, pointer tags)
 * may change with it. A clear refusal beats a wrong stack.
 */
int pyversion_debug_offsets(struct pyversion *pv, const uint8_t *buf, size_t len,
			    char *note, size_t notelen, char *err, size_t errlen)
{
	const struct do_layout *l = NULL;
	unsigned minor, ndiff = 0;
	uint64_t version;
	size_t n = 0;
	struct pyversion row = *pv;

	note[0] = 0;
	if (len < 24 || memcmp(buf, DEBUG_OFFSETS_COOKIE, 8)) {
		snprintf(err, errlen, "no _Py_DebugOffsets at the start of _PyRuntime "
			 "(cookie \"%s\" not found)", DEBUG_OFFSETS_COOKIE);
		return -1;
	}
	version = slot(buf, 8);
	minor = (version >> 16) & 0xff;
	if (slot(buf, 16)) {
		snprintf(err, errlen, "free-threaded CPython (Py_GIL_DISABLED, _Py_DebugOffsets."
			 "free_threaded = 1) is not supported: objects have another header "
			 "and no GIL orders the allocator calls");
		return -1;
	}
	if ((version >> 24) != 3 || minor > pyversion_newest_minor()) {
		snprintf(err, errlen, "_Py_DebugOffsets of CPython %u.%u (0x%08llx) is newer than "
			 "this pyleakbpf knows (up to 3.%u): its layout cannot be read safely",
			 (unsigned)(version >> 24), minor, (unsigned long long)version,
			 pyversion_newest_minor());
		return -1;
	}
	for (size_t i = 0; i < sizeof(layouts) / sizeof(layouts[0]); i++)
		if (layouts[i].minor == minor)
			l = &layouts[i];
	if (!l || minor != pv->minor) {
		snprintf(err, errlen, "_Py_DebugOffsets say CPython 3.%u, the interpreter 3.%u",
			 minor, pv->minor);
		return -1;
	}
	if (len < l->size) {
		snprintf(err, errlen, "_Py_DebugOffsets cut short (%zu of %zu bytes)", len, l->size);
		return -1;
	}
	for (size_t i = 0; i < NFIELDS; i++) {
		const struct do_field *f = &do_fields[i];
		unsigned off, idx = f->index;
		uint64_t v;
		int32_t *dst = field_of(pv, f);

		if (!f->group) {	/* interp field by its index in the layout */
			unsigned ix[] = { l->in_threads_head, l->in_gil_locked, l->in_gil_holder };

			off = l->interp + 8 * ix[idx];
		} else {
			off = *(const unsigned *)((const char *)l + f->group) + 8 * idx;
		}
		v = slot(buf, off);
		if (v > 1u << 20) {
			snprintf(err, errlen, "_Py_DebugOffsets: %s = %llu is not an offset",
				 f->name, (unsigned long long)v);
			*pv = row;
			return -1;
		}
		if ((int32_t)v != *dst) {
			if (ndiff++ < 4)
				n += snprintf(note + n, n < notelen ? notelen - n : 0, "%s%s %d -> %d",
					      ndiff > 1 ? ", " : "", f->name, *dst, (int)v);
			*dst = (int32_t)v;
		}
	}
	/* interpreters.main is the word after interpreters.head (3.13, 3.14) */
	pv->bpf.runtime_interp_main = pv->bpf.runtime_interp_head +
				      (row.bpf.runtime_interp_main - row.bpf.runtime_interp_head);
	if (frame_span(&pv->bpf)) {
		snprintf(err, errlen, "_Py_DebugOffsets: frame fields too far apart for one read");
		*pv = row;
		return -1;
	}
	if (!ndiff) {
		snprintf(note, notelen, "_Py_DebugOffsets %u.%u.%u: all %zu offsets match the row",
			 (unsigned)(version >> 24), minor, (unsigned)(version >> 8) & 0xff, NFIELDS);
	} else {
		char d[200];

		snprintf(d, sizeof(d), "%s", note);
		snprintf(note, notelen, "_Py_DebugOffsets %u.%u.%u: %u of %zu offsets differ from "
			 "the row (%s%s), the target's used", (unsigned)(version >> 24), minor,
			 (unsigned)(version >> 8) & 0xff, ndiff, NFIELDS, d, ndiff > 4 ? ", ..." : "");
	}
	return 0;
}
