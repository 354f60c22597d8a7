// SPDX-License-Identifier: GPL-2.0
/*
 * pyleakbpf: outstanding CPython allocations by Python stack.
 *
 * Entry uprobes remember the request of an allocator call per thread, the
 * return uprobe records the block (address -> size, stack, time) and adds
 * it to its stack's aggregates; free uprobes take it away again. The loader
 * decides which functions get which program (see user/probes.c) and passes
 * the hook index and class in the attach cookie.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/usdt.bpf.h>
#include "pyleak.h"
#include "pystack.bpf.h"

char LICENSE[] SEC("license") = "GPL";

#define EEXIST	17	/* vmlinux.h has no errno values */

/*
 * The benchmark's floor: built with -DPYLEAK_FLOOR every program returns at
 * once, so the same hooks cost only their traps.
 */
#ifdef PYLEAK_FLOOR
#define FLOOR()	return 0
#else
#define FLOOR()	do { } while (0)
#endif

/*
 * --sample: the loader attaches the allocator hooks for short windows,
 * then keeps the free hooks a while longer (the tail), so blocks that live
 * a short time are seen dying. in_window is WIN_ALL once every hook is
 * attached, WIN_FREES in the tail, 0 before anything is detached;
 * window_gen tells calls cut by a detach from new ones.
 */
#define WIN_ALL		1
#define WIN_FREES	2
const volatile __u32 sampling = 0;
__u32 in_window = 0;
__u32 window_gen = 0;

/* Sizes are set by the loader before load. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 64);
	__type(key, __u32);			/* tgid */
	__type(value, struct proc_info);
} procs SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 524288);
	__type(key, struct alloc_key);
	__type(value, struct alloc_info);
} allocs SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 32768);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, __u64);			/* stack id */
	__type(value, struct pystack);
} stacks SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 32768 + 16);
	__type(key, __u64);			/* stack id */
	__type(value, struct site_stats);
} stats SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 4096);
	__type(key, __u32);			/* tid */
	__type(value, struct inflight);
} inflight SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct walk_scratch);
} scratch SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, COUNTERS_LEN);
	__type(key, __u32);
	__type(value, __u64);
} counters SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 256 * 1024);
} events SEC(".maps");

/* An index into inflight.lv the verifier can see is in range. */
static __always_inline __u32 lv_idx(__u32 i)
{
	asm volatile("" : "+r"(i));	/* keep clang from dropping the mask */
	return i & (MAX_NEST - 1);
}

static __always_inline void count(__u32 idx)
{
	__u64 *v = bpf_map_lookup_elem(&counters, &idx);

	if (v)
		(*v)++;
}

/* Allocations are recorded: always, or inside a --sample window. */
static __always_inline int recording(void)
{
	return !sampling || in_window == WIN_ALL;
}

/* Frees are: always, or in a window and its tail. */
static __always_inline int recording_frees(void)
{
	return !sampling || in_window;
}

/* The target's proc_info, or NULL if this process is not traced. */
static __always_inline struct proc_info *traced(__u32 tgid)
{
	struct proc_info *p = bpf_map_lookup_elem(&procs, &tgid);

	if (p && p->finalizing) {
		count(MAX_HOOKS + CNT_FINAL_IGNORED);
		return NULL;
	}
	return p;
}

static __always_inline void stats_add(__u64 stack_id, __s64 bytes, __s64 n,
				      int is_alloc, int in_gc)
{
	struct site_stats *s = bpf_map_lookup_elem(&stats, &stack_id);

	if (!s) {
		struct site_stats zero = {};

		if (!is_alloc)
			return;
		bpf_map_update_elem(&stats, &stack_id, &zero, BPF_NOEXIST);
		s = bpf_map_lookup_elem(&stats, &stack_id);
		if (!s) {
			count(MAX_HOOKS + CNT_STATS_FULL);
			return;
		}
	}
	__sync_fetch_and_add(&s->out_bytes, bytes);
	__sync_fetch_and_add(&s->out_count, n);
	if (is_alloc) {
		__sync_fetch_and_add(&s->total_bytes, bytes);
		__sync_fetch_and_add(&s->total_count, n);
	} else if (in_gc) {
		__sync_fetch_and_add(&s->gc_bytes, -bytes);
		__sync_fetch_and_add(&s->gc_count, -n);
	}
}

/* Undo a record entirely (outstanding and totals): it was a nested call's. */
static __always_inline void unrecord(__u64 stack_id, __u64 size)
{
	struct site_stats *s = bpf_map_lookup_elem(&stats, &stack_id);

	if (!s)
		return;
	__sync_fetch_and_add(&s->out_bytes, -(__s64)size);
	__sync_fetch_and_add(&s->out_count, -1);
	__sync_fetch_and_add(&s->total_bytes, -size);
	__sync_fetch_and_add(&s->total_count, -1);
}

/*
 * A block recorded at addr during the current call (since entry_ts) by a
 * call nested in it is the same memory as the current call's: take it back
 * so the outer call's record, with the outer caller, is the one kept.
 * Returns 1 if there was one.
 */
static __always_inline int take_back_nested(__u32 tgid, __u64 addr, __u64 entry_ts)
{
	struct alloc_key k = { .tgid = tgid, .addr = addr };
	struct alloc_info *a = bpf_map_lookup_elem(&allocs, &k);

	if (!a || a->ts_ns < entry_ts)
		return 0;
	unrecord(a->stack_id, a->size);
	bpf_map_delete_elem(&allocs, &k);
	count(MAX_HOOKS + CNT_NESTED_REPLACED);
	return 1;
}

/*
 * Forget a block; returns 1 if it was known. in_gc: freed while the cyclic
 * GC runs on this thread, i.e. garbage only the GC could free.
 */
static __always_inline int drop_block(__u32 tgid, __u64 addr, int in_gc)
{
	struct alloc_key k = { .tgid = tgid, .addr = addr };
	struct alloc_info *a = bpf_map_lookup_elem(&allocs, &k);

	if (!a)
		return 0;
	stats_add(a->stack_id, -(__s64)a->size, -1, 0, in_gc);
	bpf_map_delete_elem(&allocs, &k);
	return 1;
}

static __always_inline __u64 capture_stack(struct proc_info *p,
					   __u32 tgid, __u32 tid, __u64 native_ip)
{
	struct walk_scratch *s;
	struct event *ev;
	__u32 zero = 0;
	__u64 id;

	s = bpf_map_lookup_elem(&scratch, &zero);
	if (!s)
		return STACK_ID_LOST;
	id = walk_python_stack(p, s, tgid, tid, native_ip);
	if (s->st.flags & STACK_NO_TSTATE)
		count(MAX_HOOKS + CNT_NO_TSTATE);
	if (s->st.flags & STACK_READ_ERR)
		count(MAX_HOOKS + CNT_STACK_READ_ERR);
	if (s->st.flags & STACK_TRUNCATED)
		count(MAX_HOOKS + CNT_TRUNCATED);

	if (bpf_map_lookup_elem(&stacks, &id))
		return id;
	if (bpf_map_update_elem(&stacks, &id, &s->st, BPF_NOEXIST)) {
		if (bpf_map_lookup_elem(&stacks, &id))
			return id;	/* another CPU won the race */
		count(MAX_HOOKS + CNT_STACKS_FULL);
		return STACK_ID_LOST;
	}
	ev = bpf_ringbuf_reserve(&events, sizeof(*ev), 0);
	if (ev) {
		ev->type = EV_NEW_STACK;
		ev->a = id;
		bpf_ringbuf_submit(ev, 0);
	} else {
		count(MAX_HOOKS + CNT_NEW_STACK_LOST);
	}
	return id;
}

static __always_inline void record_block(struct proc_info *p, __u32 tgid,
					 __u32 tid, __u64 addr, __u64 size,
					 __u32 hook, __u64 native_ip)
{
	struct alloc_key k = { .tgid = tgid, .addr = addr };
	struct alloc_info a = {
		.size = size,
		.hook = hook,
	};
	/*
	 * int, not long: before Linux 6.4 the map helpers return an int,
	 * so a 64-bit view of -EEXIST is 4294967279 and never compares equal.
	 */
	int err;

	a.stack_id = capture_stack(p, tgid, tid, native_ip);
	a.ts_ns = bpf_ktime_get_ns();
	err = bpf_map_update_elem(&allocs, &k, &a, BPF_NOEXIST);
	if (err == -EEXIST) {
		/* a live entry at this address: its free was never seen */
		drop_block(tgid, addr, 0);
		count(MAX_HOOKS + CNT_REUSED);
		err = bpf_map_update_elem(&allocs, &k, &a, BPF_NOEXIST);
	}
	if (err) {
		count(MAX_HOOKS + CNT_ALLOCS_FULL);
		return;
	}
	stats_add(a.stack_id, (__s64)size, 1, 1, 0);
}

/* --- entry side ------------------------------------------------------ */

/*
 * Forget pending levels below `limit` on the stack (deeper than the call
 * at hand): their return was never seen, e.g. the probe was attached
 * mid-call. A level at the same stack pointer is kept: a tail call
 * (_PyObject_Realloc jumps to PyMem_RawRealloc) enters with the caller's
 * stack pointer, and both return probes fire on the one return.
 */
static __always_inline __u32 pop_stale(struct inflight *f, __u64 limit)
{
	__u32 d = f->depth;
	int i;

	if (d > MAX_NEST)
		d = MAX_NEST;
	for (i = 0; i < MAX_NEST && d > 0; i++) {
		if (f->lv[lv_idx(d - 1)].sp >= limit)
			break;
		count(MAX_HOOKS + CNT_UNMATCHED);
		d--;
	}
	f->depth = d;
	return d;
}

static __always_inline int enter(struct pt_regs *ctx, __u64 size, __u64 arg,
				 __u64 nitems)
{
	__u64 sp = PT_REGS_SP(ctx);
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	__u64 cookie = bpf_get_attach_cookie(ctx);
	__u32 tgid = pid_tgid >> 32, tid = (__u32)pid_tgid;
	struct proc_info *p;
	struct inflight *f;
	struct nest_level *l;
	__u32 d;

	if (!recording())
		return 0;
	p = traced(tgid);
	if (!p)
		return 0;
	count(cookie & 0xff & (MAX_HOOKS - 1));
	/*
	 * Launch mode: the interpreter was mapped after we attached. The probed
	 * address minus the function's link-time address is its load bias.
	 */
	if (!p->runtime_addr && p->runtime_vaddr && (cookie >> COOKIE_VADDR_SHIFT))
		p->runtime_addr = PT_REGS_IP(ctx) - (cookie >> COOKIE_VADDR_SHIFT) +
				  p->runtime_vaddr;

	f = bpf_map_lookup_elem(&inflight, &tid);
	if (!f) {
		struct inflight zero = {};

		bpf_map_update_elem(&inflight, &tid, &zero, BPF_NOEXIST);
		f = bpf_map_lookup_elem(&inflight, &tid);
		if (!f) {
			count(MAX_HOOKS + CNT_INFLIGHT_FULL);
			return 0;
		}
	}
	if (f->gen != window_gen) {
		f->gen = window_gen;
		f->depth = 0;
	}
	d = pop_stale(f, sp);
	if (d >= MAX_NEST) {
		count(MAX_HOOKS + CNT_NEST_OVERFLOW);
		return 0;
	}
	f->depth = d + 1;
	l = &f->lv[lv_idx(d)];
	l->sp = sp;
	l->size = size;
	l->arg = arg;
	l->nitems = nitems;
	l->ts_ns = bpf_ktime_get_ns();
	l->ret_ip = 0;
	bpf_probe_read_user(&l->ret_ip, sizeof(l->ret_ip), (void *)sp);
	l->hook = cookie & 0xff;
	l->klass = (cookie >> 8) & 0xff;
	l->nested = 0;
	return 0;
}

SEC("uprobe")
int BPF_KPROBE(malloc_enter, __u64 size)
{
	FLOOR();
	return enter(ctx, size, 0, 0);
}

SEC("uprobe")
int BPF_KPROBE(calloc_enter, __u64 nelem, __u64 elsize)
{
	FLOOR();
	return enter(ctx, nelem * elsize, 0, 0);
}

SEC("uprobe")
int BPF_KPROBE(realloc_enter, __u64 ptr, __u64 size)
{
	FLOOR();
	return enter(ctx, size, ptr, 0);
}

/* pymalloc's own functions take the allocator context first. */
SEC("uprobe")
int BPF_KPROBE(malloc_ctx_enter, void *actx, __u64 size)
{
	FLOOR();
	return enter(ctx, size, 0, 0);
}

SEC("uprobe")
int BPF_KPROBE(calloc_ctx_enter, void *actx, __u64 nelem, __u64 elsize)
{
	FLOOR();
	return enter(ctx, nelem * elsize, 0, 0);
}

SEC("uprobe")
int BPF_KPROBE(realloc_ctx_enter, void *actx, __u64 ptr, __u64 size)
{
	FLOOR();
	return enter(ctx, size, ptr, 0);
}

SEC("uprobe")
int BPF_KPROBE(slot_alloc_enter, __u64 type, __s64 nitems)
{
	FLOOR();
	return enter(ctx, 0, type, nitems);
}

/*
 * tp_alloc's request: _PyObject_VAR_SIZE(type, nitems + 1) + pre-header;
 * *pre gets the pre-header size (the block starts that far before the
 * object).
 */
static __always_inline __u64 slot_size(const struct py_offsets *o, __u64 type,
				       __u64 nitems, __u64 *pre)
{
	__s64 basic = 0, item = 0;
	__u64 flags = 0, size;

	*pre = 0;
	if (bpf_probe_read_user(&basic, sizeof(basic), (void *)(type + o->type_basicsize)) ||
	    bpf_probe_read_user(&item, sizeof(item), (void *)(type + o->type_itemsize)) ||
	    bpf_probe_read_user(&flags, sizeof(flags), (void *)(type + o->type_flags)))
		return 0;
	size = ((__u64)basic + (nitems + 1) * (__u64)item + 7) & ~7ULL;
	if (flags & (1ULL << 14))	/* Py_TPFLAGS_HAVE_GC */
		*pre += o->gc_head_size;
	if (flags & o->preheader_flags)
		*pre += 16;
	return size + *pre;
}

/* The caller, when it is not the interpreter itself: a native leaf frame. */
static __always_inline __u64 native_caller(const struct proc_info *p, __u64 ip)
{
	__u64 v = ip - (p->runtime_addr - p->runtime_vaddr);

	if (!p->text_hi || (v >= p->text_lo && v < p->text_hi))
		return 0;
	return ip;
}

SEC("uretprobe")
int BPF_KRETPROBE(alloc_return, __u64 ret)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	__u32 tgid = pid_tgid >> 32, tid = (__u32)pid_tgid;
	struct proc_info *p;
	struct inflight *f;
	struct nest_level lv;
	__u32 d;

	FLOOR();
	if (!recording())
		return 0;
	p = traced(tgid);
	if (!p || !p->runtime_addr)
		return 0;
	f = bpf_map_lookup_elem(&inflight, &tid);
	if (!f)
		return 0;
	/* the return address was popped: sp is 8 above the entry's */
	d = pop_stale(f, PT_REGS_SP(ctx) - 8);
	if (!d || f->lv[lv_idx(d - 1)].sp != PT_REGS_SP(ctx) - 8) {
		count(MAX_HOOKS + CNT_UNMATCHED);
		return 0;
	}
	f->depth = --d;
	lv = f->lv[lv_idx(d)];

	/*
	 * An allocator called by another hooked allocator for the same block
	 * (PyObject_Malloc of a big block calls PyMem_RawMalloc, which calls
	 * malloc): counted once, by the outer call. Not under tp_alloc: it
	 * can run the cyclic GC, and so any Python code, before it returns;
	 * those blocks are told apart when tp_alloc returns.
	 */
	if (d > 0 && lv.klass != HC_SLOT) {
		struct nest_level *up = &f->lv[lv_idx(d - 1)];

		if (up->klass != HC_SLOT && lv.ts_ns - up->ts_ns < NEST_RECENT_NS) {
			count(MAX_HOOKS + CNT_NESTED_SKIPPED);
			return 0;
		}
	}
	if (!ret)
		return 0;
	/* this record may have to be taken back by the call around it */
	if (d > 0)
		f->lv[lv_idx(d - 1)].nested = 1;
	if (lv.klass == HC_SLOT) {
		__u64 pre;

		lv.size = slot_size(&p->off, lv.arg, lv.nitems, &pre);
		if (pre && lv.nested)
			take_back_nested(tgid, ret - pre, lv.ts_ns);
	} else if (lv.arg) {		/* realloc: the old block is gone */
		drop_block(tgid, lv.arg, 0);
	}
	/* only a call with a nested record can have one to take back */
	if (lv.nested)
		take_back_nested(tgid, ret, lv.ts_ns);
	record_block(p, tgid, tid, ret, lv.size, lv.hook, native_caller(p, lv.ret_ip));
	return 0;
}

/* --- free side ------------------------------------------------------- */

static __always_inline int free_block(struct pt_regs *ctx, __u64 ptr)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	__u32 tgid = pid_tgid >> 32;
	struct proc_info *p;

	if (!ptr || !recording_frees())
		return 0;
	p = traced(tgid);
	if (!p)
		return 0;
	count(bpf_get_attach_cookie(ctx) & 0xff & (MAX_HOOKS - 1));
	if (!drop_block(tgid, ptr, p->gc_tid == (__u32)pid_tgid))
		count(MAX_HOOKS + CNT_FREE_UNKNOWN);
	return 0;
}

SEC("uprobe")
int BPF_KPROBE(free_enter, __u64 ptr)
{
	FLOOR();
	return free_block(ctx, ptr);
}

SEC("uprobe")
int BPF_KPROBE(free_ctx_enter, void *actx, __u64 ptr)
{
	FLOOR();
	return free_block(ctx, ptr);
}

/*
 * tp_free of GC objects (PyObject_GC_Del) gets the object, which sits after
 * its pre-header. Blocks recorded by tp_alloc are keyed by the object, those
 * recorded by PyObject_Malloc by the block start: try both.
 */
SEC("uprobe")
int BPF_KPROBE(gc_del_enter, __u64 op)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	__u32 tgid = pid_tgid >> 32;
	struct proc_info *p;
	__u64 type = 0, flags = 0, pre;
	int in_gc;

	FLOOR();
	if (!op || !recording_frees())
		return 0;
	p = traced(tgid);
	if (!p)
		return 0;
	count(bpf_get_attach_cookie(ctx) & 0xff & (MAX_HOOKS - 1));
	in_gc = p->gc_tid == (__u32)pid_tgid;
	if (drop_block(tgid, op, in_gc))
		return 0;
	if (bpf_probe_read_user(&type, sizeof(type), (void *)(op + p->off.ob_type)) ||
	    bpf_probe_read_user(&flags, sizeof(flags),
				(void *)(type + p->off.type_flags)))
		goto unknown;
	pre = p->off.gc_head_size;
	if (flags & p->off.preheader_flags)
		pre += 16;
	if (drop_block(tgid, op - pre, in_gc))
		return 0;
unknown:
	count(MAX_HOOKS + CNT_FREE_UNKNOWN);
	return 0;
}

/* Py_FinalizeEx: what is outstanding now is what the program held. */
SEC("uprobe")
int BPF_KPROBE(finalize_enter)
{
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;
	struct proc_info *p = bpf_map_lookup_elem(&procs, &tgid);

	FLOOR();
	if (p) {
		count(bpf_get_attach_cookie(ctx) & 0xff & (MAX_HOOKS - 1));
		if (p->finalizing)
			return 0;	/* Py_FinalizeEx, then the _Py_Finalize it calls */
		p->finalizing = 1;
		/* launch mode: a signal that is ignored unless we trace the
		 * thread (then it becomes a ptrace stop for the last report) */
		if (p->stop_at_final && p->stop_sig)
			bpf_send_signal_thread(p->stop_sig);
	}
	return 0;
}

/* --- the cyclic GC ---------------------------------------------------- */

/* &generation_stats[0].collections of the main interpreter, or 0. */
static __always_inline __u64 gc_stats_addr(const struct proc_info *p)
{
	__u64 interp = 0;

	if (p->off.interp_gc_stats <= 0 || p->off.runtime_interp_main < 0 ||
	    bpf_probe_read_user(&interp, sizeof(interp),
				(void *)(p->runtime_addr + p->off.runtime_interp_main)) || !interp)
		return 0;
	return interp + p->off.interp_gc_stats;
}

static __always_inline void gc_colls(const struct proc_info *p, __u64 *c)
{
	__u64 st[9] = {}, a = gc_stats_addr(p);

	if (a)
		bpf_probe_read_user(st, sizeof(st), (void *)a);
	c[0] = st[0];
	c[1] = st[3];
	c[2] = st[6];
}

static __always_inline int gc_start(int generation)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	struct proc_info *p = traced(pid_tgid >> 32);

	if (!p)
		return 0;
	p->gc_generation = generation;
	/* 3.13 automatic collections pass -1 and choose inside */
	if (generation < 0) {
		p->gc_generation = GC_GEN_AUTO;
		gc_colls(p, p->gc_colls);
	}
	p->gc_start_ns = bpf_ktime_get_ns();
	p->gc_tid = (__u32)pid_tgid;
	return 0;
}

static __always_inline int gc_done(long collected)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	struct proc_info *p = traced(pid_tgid >> 32);
	struct event *ev;
	__u64 now = bpf_ktime_get_ns(), c[3];

	if (!p)
		return 0;
	if (p->gc_tid != (__u32)pid_tgid) {
		count(MAX_HOOKS + CNT_GC_UNMATCHED);
		return 0;
	}
	p->gc_tid = 0;
	if (p->gc_generation == GC_GEN_AUTO) {
		/* the generation whose collection count went up */
		gc_colls(p, c);
		for (int i = 2; i >= 0; i--)
			if (c[i] != p->gc_colls[i]) {
				p->gc_generation = i;
				break;
			}
	}
	ev = bpf_ringbuf_reserve(&events, sizeof(*ev), 0);
	if (!ev) {
		count(MAX_HOOKS + CNT_GC_EVENT_LOST);
		return 0;
	}
	ev->type = EV_GC;
	ev->generation = p->gc_generation;
	ev->a = now - p->gc_start_ns;
	ev->b = collected;
	ev->ts_ns = now;
	bpf_ringbuf_submit(ev, 0);
	return 0;
}

/* CPython's USDT probes (--with-dtrace builds, e.g. Debian's). */
SEC("usdt")
int BPF_USDT(usdt_gc_start, int generation)
{
	return gc_start(generation);
}

SEC("usdt")
int BPF_USDT(usdt_gc_done, long collected)
{
	return gc_done(collected);
}

/*
 * Without USDT: the collector itself, gc_collect_main(tstate, generation,
 * ...) returning collected + uncollectable, when symbols show it.
 */
SEC("uprobe")
int BPF_KPROBE(collect_enter, void *tstate, int generation)
{
	/* cookie 1: a clone that takes the generation first (3.8) */
	return gc_start(bpf_get_attach_cookie(ctx) ? (int)(long)tstate : generation);
}

SEC("uretprobe")
int BPF_KRETPROBE(collect_return, long ret)
{
	return gc_done(ret);
}
