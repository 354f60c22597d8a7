/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The Python frame walker. Driven entirely by struct py_offsets, so a new
 * CPython version is a new table row in user space, not code here.
 *
 * Per frame it does one bpf_probe_read_user() of the few bytes that hold
 * the code pointer, the previous-frame pointer, the instruction and (when
 * the version has one) the owner byte, and records the code object address
 * and the instruction offset. Names and lines are resolved in user space.
 */
#ifndef PYSTACK_BPF_H
#define PYSTACK_BPF_H

#include "pyleak.h"

struct walk_scratch {
	struct pystack st;
	__u8 fbuf[FRAME_READ_MAX * 2];	/* masked read sizes stay inside */
};

static __always_inline __u64 fbuf_u64(const __u8 *buf, __s32 off, __u32 lo)
{
	__u32 i = (__u32)(off - (__s32)lo);

	if (i > FRAME_READ_MAX - 8)
		return 0;
	return *(const __u64 *)(buf + i);
}

static __always_inline __u8 fbuf_u8(const __u8 *buf, __s32 off, __u32 lo)
{
	__u32 i = (__u32)(off - (__s32)lo);

	if (i > FRAME_READ_MAX - 1)
		return 0;
	return buf[i];
}

struct find_ctx {
	__u64 tstate;
	__u64 key;			/* tid, or fsbase (pthread_self) */
	__u64 key_mask;
	__s32 next_off, key_off;
	__u64 found;
};

static int find_one(__u32 i, void *arg)
{
	struct find_ctx *c = arg;
	__u64 v = 0;

	if (!c->tstate)
		return 1;
	if (bpf_probe_read_user(&v, sizeof(v), (void *)(c->tstate + c->key_off)))
		return 1;
	if ((v & c->key_mask) == c->key) {
		c->found = c->tstate;
		return 1;
	}
	if (bpf_probe_read_user(&c->tstate, sizeof(c->tstate), (void *)(c->tstate + c->next_off)))
		return 1;
	return 0;
}

/*
 * What identifies this thread in its thread state: the native thread id
 * (3.11+), or thread_id = pthread_self(), which on x86-64 glibc is the
 * thread pointer, the task's fsbase (3.8-3.10). Returns the offset to
 * compare, or -1.
 */
static __always_inline __s32 thread_key(const struct py_offsets *o, __u32 tid,
					__u64 *key, __u64 *mask)
{
	if (o->tstate_native_tid >= 0) {
		*key = tid;
		*mask = 0xffffffffULL;
		return o->tstate_native_tid;
	}
	if (o->tstate_thread_id >= 0) {
		struct task_struct *task = bpf_get_current_task_btf();

		*key = task->thread.fsbase;
		*mask = ~0ULL;
		return *key ? o->tstate_thread_id : -1;
	}
	return -1;
}

/*
 * The thread state of a thread that does not hold the GIL (a ctypes call,
 * a C extension that released it): the main interpreter's list of thread
 * states, matched by thread key. Its frame pointer still shows the
 * Python code that made the call.
 */
static __always_inline __u64 find_tstate(const struct proc_info *p, __s32 key_off,
					 __u64 key, __u64 mask)
{
	const struct py_offsets *o = &p->off;
	struct find_ctx c = { .key = key, .key_mask = mask, .next_off = o->tstate_next,
			      .key_off = key_off };
	__u64 interp = 0;

	if (o->runtime_interp_head < 0 || key_off < 0 ||
	    bpf_probe_read_user(&interp, sizeof(interp),
				(void *)(p->runtime_addr + o->runtime_interp_head)) || !interp ||
	    bpf_probe_read_user(&c.tstate, sizeof(c.tstate),
				(void *)(interp + o->interp_threads_head)))
		return 0;
	bpf_loop(MAX_THREADS_WALK, find_one, &c, 0);
	return c.found;
}

/*
 * The thread state holding the GIL, or 0: gilstate.tstate_current
 * (3.8-3.11), else the main interpreter's GIL last_holder while the GIL is
 * locked (3.12+; last_holder is not cleared on release).
 */
static __always_inline __u64 gil_holder(const struct proc_info *p)
{
	const struct py_offsets *o = &p->off;
	__u64 tstate = 0, interp = 0;
	__s32 locked = 0;

	if (o->runtime_tstate_current >= 0) {
		bpf_probe_read_user(&tstate, sizeof(tstate),
				    (void *)(p->runtime_addr + o->runtime_tstate_current));
		return tstate;
	}
	if (o->runtime_interp_main < 0 || o->interp_gil_holder < 0 ||
	    bpf_probe_read_user(&interp, sizeof(interp),
				(void *)(p->runtime_addr + o->runtime_interp_main)) || !interp ||
	    bpf_probe_read_user(&locked, sizeof(locked), (void *)(interp + o->interp_gil_locked)) ||
	    !locked ||
	    bpf_probe_read_user(&tstate, sizeof(tstate), (void *)(interp + o->interp_gil_holder)))
		return 0;
	return tstate;
}

/* Returns the innermost frame address of the current thread, or 0. */
static __always_inline __u64 current_frame(const struct proc_info *p,
					   __u32 tid, __u16 *flags)
{
	const struct py_offsets *o = &p->off;
	__u64 tstate, cframe = 0, frame = 0, v = 0, key = 0, mask = 0;
	__s32 key_off = thread_key(o, tid, &key, &mask);

	tstate = gil_holder(p);
	/* the GIL holder: make sure that is this thread */
	if (tstate && key_off >= 0 &&
	    (bpf_probe_read_user(&v, sizeof(v), (void *)(tstate + key_off)) ||
	     (v & mask) != key))
		tstate = 0;
	if (!tstate) {
		tstate = find_tstate(p, key_off, key, mask);
		if (!tstate) {
			*flags |= STACK_NO_TSTATE;
			return 0;
		}
		*flags |= STACK_NO_GIL;
	}
	if (o->tstate_cframe >= 0) {
		if (bpf_probe_read_user(&cframe, sizeof(cframe),
					(void *)(tstate + o->tstate_cframe)) || !cframe)
			goto err;
	} else {
		cframe = tstate;
	}
	if (bpf_probe_read_user(&frame, sizeof(frame),
				(void *)(cframe + o->cframe_current_frame)))
		goto err;
	return frame;
err:
	*flags |= STACK_READ_ERR;
	return 0;
}

struct walk_ctx {
	struct walk_scratch *s;
	__u64 frame;
	__u64 h;
	__u64 code_mask;
	__s32 code_off, instr_off, prev_off, owner_off;
	__u32 lo, len, skip_min, instr_is_ptr;
	__u16 n, flags;
};

/* One frame per call; bpf_loop keeps the verifier's work to one pass. */
static int walk_one(__u32 i, void *arg)
{
	struct walk_ctx *c = arg;
	struct walk_scratch *s = c->s;
	__u64 code, instr;
	__u32 n;

	if (!c->frame)
		return 1;
	if (bpf_probe_read_user(s->fbuf, c->len & (FRAME_READ_MAX * 2 - 1),
				(void *)(c->frame + c->lo))) {
		c->flags |= STACK_READ_ERR;
		return 1;
	}
	code = fbuf_u64(s->fbuf, c->code_off, c->lo) & c->code_mask;
	instr = fbuf_u64(s->fbuf, c->instr_off, c->lo);
	c->frame = fbuf_u64(s->fbuf, c->prev_off, c->lo);
	if (c->skip_min && c->owner_off >= 0 &&
	    fbuf_u8(s->fbuf, c->owner_off, c->lo) >= c->skip_min)
		return 0;
	if (c->instr_is_ptr)
		instr = instr ? instr - code : 0;
	n = c->n;
	if (n >= MAX_FRAMES) {
		c->flags |= STACK_TRUNCATED;
		return 1;
	}
	s->st.code[n] = code;
	s->st.instr[n] = (__u32)instr;
	c->n = n + 1;
	c->h = (c->h ^ code) * 0x100000001b3ULL;
	c->h = (c->h ^ (__u32)instr) * 0x100000001b3ULL;
	return 0;
}

/*
 * Fill s->st with the current thread's Python stack. Returns the stack
 * hash (the stack id, native caller included): odd, so never
 * STACK_ID_NONE or STACK_ID_LOST.
 */
static __always_inline __u64 walk_python_stack(const struct proc_info *p,
					       struct walk_scratch *s,
					       __u32 tgid, __u32 tid, __u64 native_ip)
{
	const struct py_offsets *o = &p->off;
	struct walk_ctx c = {
		.s = s,
		.h = (0xcbf29ce484222325ULL ^ tgid ^ native_ip) * 0x100000001b3ULL,
		.code_off = o->frame_code,
		.instr_off = o->frame_instr,
		.prev_off = o->frame_previous,
		.owner_off = o->frame_owner,
		.lo = o->frame_read_lo,
		.len = o->frame_read_len > FRAME_READ_MAX ? FRAME_READ_MAX : o->frame_read_len,
		.skip_min = o->owner_skip_min,
		.instr_is_ptr = o->frame_instr_is_ptr,
		.code_mask = ~(__u64)o->code_tag_bits,
	};

	c.frame = current_frame(p, tid, &c.flags);
	/* one more turn than frames kept, to tell a full stack from a cut one */
	if (c.frame)
		bpf_loop(MAX_FRAMES + 1, walk_one, &c, 0);

	s->st.tgid = tgid;
	s->st.native_ip = native_ip;
	s->st.nframes = c.n;
	s->st.flags = c.flags;
	c.h ^= ((__u64)c.flags << 48) ^ c.n;
	return (c.h << 1) | 1;
}

#endif /* PYSTACK_BPF_H */
