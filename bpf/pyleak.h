/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Types shared by the BPF programs and the loader. Everything that crosses
 * the kernel boundary is defined here and only here.
 */
#ifndef PYLEAK_H
#define PYLEAK_H

#ifndef __VMLINUX_H__
#include <linux/types.h>
#endif

#define MAX_FRAMES	127	/* Python frames kept per stack */
#define MAX_NEST	8	/* nested allocator calls tracked per thread */
#define MAX_THREADS_WALK 64	/* thread states looked at for a thread without the GIL */

/* Special stack ids: allocations whose stack could not be stored. */
#define STACK_ID_NONE	0ULL	/* never a real id (ids are forced odd) */
#define STACK_ID_LOST	2ULL	/* stack map was full */

/* Flags of a captured stack. */
#define STACK_TRUNCATED	(1U << 0)	/* deeper than MAX_FRAMES */
#define STACK_NO_TSTATE	(1U << 1)	/* no thread state held the GIL */
#define STACK_READ_ERR	(1U << 2)	/* a frame could not be read */
#define STACK_NO_GIL	(1U << 3)	/* the thread had released the GIL */

/*
 * What a hooked function does; the BPF program is picked by signature, the
 * hook class by the loader (passed as the uprobe cookie).
 */
enum hook_class {
	HC_OBJ = 0,	/* PyObject_* / PyMem_*: pymalloc domain */
	HC_RAW = 1,	/* PyMem_Raw*: called by the pymalloc domain for big blocks */
	HC_SLOT = 2,	/* tp_alloc slot (PyType_GenericAlloc): returns the object */
};

/*
 * A call nested in another hooked call of the same thread less than this
 * long ago is part of the outer call's block (PyObject_Malloc of a big
 * block calls PyMem_RawMalloc, which calls malloc). Older levels are taken
 * for stale: their return was never seen.
 */
#define NEST_RECENT_NS	(1000 * 1000ULL)

/* One row of the per-version offsets table, as the BPF side needs it. */
struct py_offsets {
	/* _PyRuntime -> current thread state */
	__s32 runtime_tstate_current;	/* gilstate.tstate_current; -1: none (3.12+) */
	/* 3.12+: the GIL holder, *(runtime + interp_main) + gil_holder, while locked */
	__s32 runtime_interp_main;	/* interpreters.main; -1: not used */
	__s32 interp_gil_holder;	/* interp->_gil.last_holder; -1: none */
	__s32 interp_gil_locked;	/* interp->_gil.locked (int) */
	__s32 tstate_native_tid;	/* gettid(); -1: none (3.8-3.10) */
	__s32 tstate_thread_id;		/* pthread_self() = fsbase; used without native_tid */
	/* a thread without the GIL: its state in the main interpreter's list */
	__s32 runtime_interp_head;	/* -1: no list walk */
	__s32 interp_threads_head;
	__s32 tstate_next;
	/* thread state -> innermost frame */
	__s32 tstate_cframe;		/* -1: frame pointer hangs off tstate */
	__s32 cframe_current_frame;	/* from cframe, or tstate if no cframe */
	/* frame chain */
	__s32 frame_code;
	__s32 frame_previous;
	__s32 frame_instr;
	__s32 frame_owner;		/* -1: no owner field to check */
	__u32 frame_instr_is_ptr;	/* 1: instruction pointer, 0: int f_lasti */
	__u32 code_tag_bits;		/* tag bits of the code pointer (3.14 _PyStackRef) */
	__u32 owner_skip_min;		/* skip frames with owner >= this (0: none) */
	/* one read covers [frame + read_lo, frame + read_lo + read_len) */
	__u32 frame_read_lo;
	__u32 frame_read_len;
	/* type objects, for the tp_alloc slot */
	__s32 type_basicsize;
	__s32 type_itemsize;
	__s32 type_flags;
	__s32 ob_type;
	__u32 gc_head_size;		/* pre-header for Py_TPFLAGS_HAVE_GC */
	__u32 preheader_flags;		/* tp_flags bits that add 16 more bytes */
};

#define FRAME_READ_MAX	128	/* a power of two */

struct proc_info {
	__u64 runtime_addr;		/* &_PyRuntime in the target, 0 until known */
	__u64 runtime_vaddr;		/* its link-time address (launch mode) */
	__u64 pycode_type;		/* &PyCode_Type in the target (unused by BPF) */
	struct py_offsets off;
	__u32 finalizing;		/* set when Py_FinalizeEx was entered */
	/* the collection in progress (one at a time: it holds the GIL) */
	__u32 gc_tid;			/* thread collecting, 0 if none */
	__u64 gc_start_ns;
	__u32 gc_generation;
	__u32 pad;
	/* link-time range of the interpreter's object: calls from elsewhere
	 * get the caller as a native leaf frame */
	__u64 text_lo, text_hi;
	/* launch mode (we are the parent): stop the target at Py_FinalizeEx
	 * so the last report can still read its memory */
	__u32 stop_at_final;
	__u32 pad2;
};

/* A captured Python stack, innermost frame first. */
struct pystack {
	__u32 tgid;
	__u16 nframes;
	__u16 flags;
	__u64 native_ip;		/* caller outside the interpreter, or 0 */
	__u64 code[MAX_FRAMES];		/* code object address */
	__u32 instr[MAX_FRAMES];	/* ptr - code (3.11+) or f_lasti */
};

struct alloc_key {
	__u32 tgid;
	__u32 pad;
	__u64 addr;
};

struct alloc_info {
	__u64 size;
	__u64 stack_id;
	__u64 ts_ns;
	__u32 hook;			/* index of the hook that recorded it */
	__u32 pad;
};

/* Per-stack aggregates. */
struct site_stats {
	__s64 out_bytes;
	__s64 out_count;
	__u64 total_bytes;
	__u64 total_count;
	__u64 gc_bytes;			/* freed while the cyclic GC ran on that thread */
	__u64 gc_count;
};

/* In-flight allocator calls of one thread (uprobe -> uretprobe). */
struct nest_level {
	__u64 sp;			/* stack pointer at entry: matches the return */
	__u64 size;
	__u64 arg;			/* realloc: old pointer; slot: type */
	__u64 nitems;			/* slot: nitems */
	__u64 ret_ip;			/* return address: the caller */
	__u64 ts_ns;			/* entry time */
	__u32 hook;
	__u16 klass;
	__u16 nested;			/* a call inside this one recorded a block */
};

struct inflight {
	__u32 depth;
	__u32 gen;			/* window it was filled in (--sample) */
	struct nest_level lv[MAX_NEST];
};

/*
 * Hooks the loader can attach. The uprobe cookie holds the hook index (bits
 * 0-7), its class (8-15) and the hooked function's link-time address (16-63),
 * from which a hook learns the load bias of an object mapped after attach.
 */
#define COOKIE_VADDR_SHIFT	16
#define MAX_HOOKS	32

/* Counters (per-CPU array indices) besides the per-hook event counts. */
enum counter {
	CNT_ALLOCS_FULL,	/* allocation dropped: live-allocation map full */
	CNT_STACKS_FULL,	/* stack map full: allocation kept as [lost stack] */
	CNT_STATS_FULL,		/* per-stack aggregate map full */
	CNT_INFLIGHT_FULL,	/* in-flight map full: call not followed */
	CNT_NEST_OVERFLOW,	/* nesting deeper than MAX_NEST */
	CNT_STACK_READ_ERR,	/* a frame read failed: stack cut there */
	CNT_NO_TSTATE,		/* no Python thread state held the GIL */
	CNT_TRUNCATED,		/* stack deeper than MAX_FRAMES */
	CNT_REUSED,		/* address returned again: its free was unseen */
	CNT_NESTED_SKIPPED,	/* inner call of the same memory, counted once */
	CNT_NESTED_REPLACED,	/* inner record superseded by the outer call's */
	CNT_FREE_UNKNOWN,	/* free of a block allocated before tracing */
	CNT_FINAL_IGNORED,	/* events after Py_FinalizeEx started */
	CNT_UNMATCHED,		/* entry or return seen alone (attach/detach race) */
	CNT_NEW_STACK_LOST,	/* new-stack notification dropped (ring full) */
	CNT_GC_EVENT_LOST,	/* GC event dropped (ring full) */
	CNT_GC_UNMATCHED,	/* gc done without a start (attached mid-collection) */
	CNT__MAX,
};

#define COUNTERS_LEN	(MAX_HOOKS + CNT__MAX)

/* Ring buffer events. */
enum event_type {
	EV_NEW_STACK = 1,	/* a = stack id */
	EV_GC = 2,		/* a = pause in ns, b = collected + uncollectable */
};

struct event {
	__u32 type;
	__u32 generation;
	__u64 a;
	__s64 b;
	__u64 ts_ns;
};

#endif /* PYLEAK_H */
