// SPDX-License-Identifier: GPL-2.0
/*
 * The probe planner: which of the interpreter's functions get a uprobe.
 *
 * Every hook costs a trap per call, so the plan is the smallest set that
 * sees every allocation this build lets us see:
 *  - the exported PyObject_*, PyMem_* and PyMem_Raw* entry points: they
 *    are what C extensions call, and on builds without LTO what the whole
 *    interpreter calls;
 *  - when GCC inlined pymalloc into its callers (LTO/PGO distro builds),
 *    the exported functions see almost nothing of the interpreter's own
 *    allocations; tp_alloc/tp_free (PyType_GenericAlloc, PyObject_GC_Del)
 *    are called through type slots and so survive: instances of Python
 *    classes are seen through them;
 *  - with symbols for pymalloc's own functions (.symtab, or a debug file
 *    found by build-id or .gnu_debuglink), the out-of-line copies of
 *    _PyObject_Malloc/Calloc/Realloc/Free that LTO left: calls that were
 *    not inlined (str, bytearray, ...) go there;
 *  - libc's malloc/calloc/realloc/free: pymalloc hands blocks over 512
 *    bytes to malloc, C extensions and ctypes call it directly; calls made
 *    inside another hooked call are counted once, by the outermost;
 *  - Py_FinalizeEx, so shutdown frees do not hide what the program held.
 *
 * The cyclic GC is followed through CPython's USDT probes gc__start and
 * gc__done when the build has them (they cost nothing once we detach: libbpf
 * counts the semaphore up and down), else through gc_collect_main when the
 * symbols show it, else not at all, and the report says which.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <unistd.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <bpf/libbpf.h>
#include "elffile.h"
#include "pyleak.skel.h"
#include "probes.h"
#include "target.h"

struct spec {
	const char *func;
	enum prog_kind kind;
	enum hook_class klass;
};

static const struct spec exported[] = {
	{ "PyObject_Malloc", PK_MALLOC, HC_OBJ },
	{ "PyObject_Calloc", PK_CALLOC, HC_OBJ },
	{ "PyObject_Realloc", PK_REALLOC, HC_OBJ },
	{ "PyObject_Free", PK_FREE, HC_OBJ },
	{ "PyMem_Malloc", PK_MALLOC, HC_OBJ },
	{ "PyMem_Calloc", PK_CALLOC, HC_OBJ },
	{ "PyMem_Realloc", PK_REALLOC, HC_OBJ },
	{ "PyMem_Free", PK_FREE, HC_OBJ },
	{ "PyMem_RawMalloc", PK_MALLOC, HC_RAW },
	{ "PyMem_RawCalloc", PK_CALLOC, HC_RAW },
	{ "PyMem_RawRealloc", PK_REALLOC, HC_RAW },
	{ "PyMem_RawFree", PK_FREE, HC_RAW },
};

/* pymalloc itself: static, so only in .symtab or a debug file. */
static const struct spec internal[] = {
	{ "_PyObject_Malloc", PK_MALLOC_CTX, HC_OBJ },
	{ "_PyObject_Calloc", PK_CALLOC_CTX, HC_OBJ },
	{ "_PyObject_Realloc", PK_REALLOC_CTX, HC_OBJ },
	{ "_PyObject_Free", PK_FREE_CTX, HC_OBJ },
};

static const struct spec slots[] = {
	{ "PyType_GenericAlloc", PK_SLOT_ALLOC, HC_SLOT },
	{ "PyObject_GC_Del", PK_GC_DEL, HC_OBJ },
};

bool hook_is_alloc(const struct hook *h)
{
	return h->kind == PK_MALLOC || h->kind == PK_CALLOC ||
	       h->kind == PK_REALLOC || h->kind == PK_SLOT_ALLOC ||
	       h->kind == PK_MALLOC_CTX || h->kind == PK_CALLOC_CTX ||
	       h->kind == PK_REALLOC_CTX;
}

const char *hook_kind_name(const struct hook *h)
{
	switch (h->kind) {
	case PK_MALLOC: case PK_CALLOC: case PK_SLOT_ALLOC:
	case PK_MALLOC_CTX: case PK_CALLOC_CTX:
		return "alloc";
	case PK_REALLOC: case PK_REALLOC_CTX:
		return "realloc";
	case PK_FREE: case PK_GC_DEL: case PK_FREE_CTX:
		return "free";
	case PK_FINALIZE:
		return "shutdown";
	}
	return "?";
}

static bool is_target(const struct elf_file *ef, uint64_t to, const char *callee,
		      uint64_t callee_addr)
{
	const char *plt;

	if (to == callee_addr)
		return true;
	plt = elf_file_plt_target(ef, to);
	return plt && !strcmp(plt, callee);
}

bool code_calls(const struct elf_file *ef, uint64_t addr, uint64_t len,
		const char *callee, uint64_t callee_addr, int depth)
{
	unsigned char buf[1024];
	uint64_t seen[16];
	int nseen = 0;

	if (len > sizeof(buf))
		len = sizeof(buf);
	if (len < 5 || elf_file_read(ef, addr, buf, len))
		return false;
	for (uint64_t i = 0; i + 5 <= len; i++) {
		int32_t rel;
		uint64_t to;

		if (buf[i] != 0xe8)
			continue;
		memcpy(&rel, buf + i + 1, 4);
		to = addr + i + 5 + (int64_t)rel;
		if (is_target(ef, to, callee, callee_addr))
			return true;
		if (depth > 0 && nseen < 16) {
			int dup = 0;

			for (int j = 0; j < nseen; j++)
				dup |= seen[j] == to;
			if (!dup) {
				seen[nseen++] = to;
				if (code_calls(ef, to, 512, callee, callee_addr, depth - 1))
					return true;
			}
		}
	}
	return false;
}

/*
 * The symbol of a function: its name, or a copy GCC's LTO renamed
 * (".lto_priv.N": same code and calling convention). ".isra"/".constprop"
 * copies take other arguments and ".cold" parts are not entry points, so
 * they are never probed.
 */
static int find_function(const struct elf_file *ef, const char *func, char *sym,
			 size_t len, uint64_t *value)
{
	snprintf(sym, len, "%s", func);
	if (!elf_file_symbol(ef, sym, value, NULL))
		return 0;
	for (int i = 0; i < 4; i++) {
		snprintf(sym, len, "%s.lto_priv.%d", func, i);
		if (!elf_file_symbol(ef, sym, value, NULL))
			return 0;
	}
	return -ENOENT;
}

static struct hook *add_from(struct probe_plan *pl, const struct elf_file *ef,
			     const struct spec *s, const char *why)
{
	uint64_t value, off;
	char sym[64];
	struct hook *h;

	if (pl->n >= MAX_HOOKS || find_function(ef, s->func, sym, sizeof(sym), &value) ||
	    elf_file_vaddr_to_offset(ef, value, &off))
		return NULL;
	h = &pl->hooks[pl->n++];
	memset(h, 0, sizeof(*h));
	h->func = s->func;
	snprintf(h->symbol, sizeof(h->symbol), "%s", sym);
	h->kind = s->kind;
	h->klass = s->klass;
	h->why = why;
	h->file_offset = off;
	h->vaddr = value;
	return h;
}

static struct hook *add(struct probe_plan *pl, const struct target *t, const struct spec *s,
			const char *why)
{
	return add_from(pl, t->elf, s, why);
}

const char *gc_source_name(enum gc_source g)
{
	switch (g) {
	case GC_USDT: return "USDT python:gc__start/gc__done";
	case GC_UPROBE: return "uprobes on the collector";
	case GC_NONE: break;
	}
	return "none";
}

/*
 * 3.8 built with -O2 (pyenv's) has its collector only as GCC clones with
 * constants propagated: collect.constprop.N. The one gc.collect()'s C
 * function gc_collect calls is the general one: with _PyRuntime's GC state
 * propagated, it takes (generation, n_collected, n_uncollectable) and
 * returns collected + uncollectable (gdb "info scope" on the 3.8.18 build
 * here). Its address is found by reading gc_collect's direct calls.
 */
static bool gc_clone(struct probe_plan *pl, const struct target *t, const char *fn,
		     char *clone, size_t len)
{
	uint64_t caller, caller_len, value, off;

	if (t->pv->major != 3 || t->pv->minor != 8 ||
	    elf_file_symbol(t->elf, "gc_collect", &caller, &caller_len))
		return false;
	for (int n = 0; n < 4; n++) {
		snprintf(clone, len, "%s.constprop.%d", fn, n);
		if (elf_file_symbol(t->elf, clone, &value, NULL) ||
		    !code_calls(t->elf, caller, caller_len, clone, value, 0) ||
		    elf_file_vaddr_to_offset(t->elf, value, &off))
			continue;
		pl->gc_collect_offset = off;
		pl->gc_generation_arg0 = true;
		return true;
	}
	return false;
}

/*
 * GC pauses: USDT when the build has them, else the version's collector,
 * fn(tstate, int generation, ...) returning collected + uncollectable
 * (collect in 3.8/3.9, gc_collect_main 3.10-3.13; checked with gdb on the
 * pyenv builds). A collector the compiler cloned (collect.constprop.N, as
 * in the pyenv 3.8 build) has lost or moved arguments: not probed.
 */
static void plan_gc(struct probe_plan *pl, const struct target *t)
{
	const char *fn = t->pv ? t->pv->gc_collector : NULL;
	uint64_t value, off;
	char clone[64];

	if (elf_file_has_usdt(t->elf, "python", "gc__start") &&
	    elf_file_has_usdt(t->elf, "python", "gc__done")) {
		pl->gc = GC_USDT;
		snprintf(pl->gc_why, sizeof(pl->gc_why), "%s probes in %s",
			 gc_source_name(GC_USDT), t->path);
	} else if (fn && !elf_file_symbol(t->elf, fn, &value, NULL) &&
		   !elf_file_vaddr_to_offset(t->elf, value, &off)) {
		pl->gc = GC_UPROBE;
		pl->gc_collect_offset = off;
		snprintf(pl->gc_why, sizeof(pl->gc_why),
			 "no USDT probes; uprobes on the collector %s, found in the symbols of %s",
			 fn, t->path);
	} else if (fn && gc_clone(pl, t, fn, clone, sizeof(clone))) {
		pl->gc = GC_UPROBE;
		snprintf(pl->gc_why, sizeof(pl->gc_why),
			 "no USDT probes; uprobes on %s, the clone of the collector %s that "
			 "gc.collect() calls, in the symbols of %s (the C API's and shutdown's "
			 "collections, through other clones, are not seen)",
			 clone, fn, t->path);
	} else {
		pl->gc = GC_NONE;
		snprintf(clone, sizeof(clone), "%s.constprop.0", fn ? fn : "");
		if (fn && !elf_file_symbol(t->elf, clone, NULL, NULL))
			snprintf(pl->gc_why, sizeof(pl->gc_why),
				 "GC data unavailable: %s has no USDT probes and its collector %s "
				 "exists only as compiler clones (%s...) whose arguments are unknown",
				 t->path, fn, clone);
		else
			snprintf(pl->gc_why, sizeof(pl->gc_why),
				 "GC data unavailable: %s has no USDT probes and no %s symbol",
				 t->path, fn ? fn : "known collector");
	}
}

static const struct spec libc_funcs[] = {
	{ "malloc", PK_MALLOC, HC_RAW },
	{ "calloc", PK_CALLOC, HC_RAW },
	{ "realloc", PK_REALLOC, HC_RAW },
	{ "free", PK_FREE, HC_RAW },
};

/*
 * libc's malloc family. With PYTHONMALLOC=malloc every allocation comes
 * here; otherwise blocks over 512 bytes, C extensions and ctypes do.
 */
static int plan_libc(struct probe_plan *pl, const char *libc_path, const char *libc_name,
		     bool malloc_mode)
{
	char err[256];
	struct elf_file *ef = elf_file_open(libc_path, err, sizeof(err));

	if (!ef)
		return -ENOENT;
	snprintf(pl->libc_path, sizeof(pl->libc_path), "%s", libc_path);
	snprintf(pl->libc_name, sizeof(pl->libc_name), "%s", libc_name);
	for (size_t i = 0; i < sizeof(libc_funcs) / sizeof(libc_funcs[0]); i++) {
		struct hook *h = add_from(pl, ef, &libc_funcs[i], malloc_mode ?
			"libc allocator: PYTHONMALLOC=malloc sends every allocation here" :
			"libc allocator: blocks > 512 bytes, C extensions, ctypes");

		if (!h)
			continue;
		h->path = pl->libc_path;
		h->vaddr = 0;	/* not in the interpreter: no use for its bias */
		pl->libc_hooked = true;
	}
	elf_file_close(ef);
	return 0;
}

/*
 * Shutdown: Py_FinalizeEx, and where the symbols show it the internal
 * _Py_Finalize that 3.13's Py_Exit (sys.exit) calls without passing
 * through Py_FinalizeEx; the shutdown program takes no arguments, so a
 * compiler clone of it is as good. The first to fire freezes the books.
 */
static void add_finalize(struct probe_plan *pl, const struct target *t)
{
	static const struct spec fin = { "Py_FinalizeEx", PK_FINALIZE, HC_OBJ };
	static const char *inner[] = { "_Py_Finalize", "_Py_Finalize.part.0.constprop.0",
				       "_Py_Finalize.part.0", "_Py_Finalize.constprop.0" };

	add(pl, t, &fin, "freeze the books at interpreter shutdown");
	if (!t->pv || t->pv->minor < 13)
		return;
	for (size_t i = 0; i < sizeof(inner) / sizeof(inner[0]); i++) {
		struct spec s = { inner[i], PK_FINALIZE, HC_OBJ };

		if (!elf_file_symbol(t->elf, inner[i], NULL, NULL)) {
			add(pl, t, &s, "shutdown from Py_Exit (sys.exit), bypassing Py_FinalizeEx");
			return;
		}
	}
}

int probes_plan(struct probe_plan *pl, const struct target *t, const char *libc_path,
		const char *libc_name, bool malloc_mode)
{
	uint64_t ga, ga_size, pm;

	memset(pl, 0, sizeof(*pl));
	if (elf_file_debug_path(t->elf))
		snprintf(pl->symbols_from, sizeof(pl->symbols_from), "%s",
			 elf_file_debug_path(t->elf));
	else if (elf_file_has_symtab(t->elf))
		snprintf(pl->symbols_from, sizeof(pl->symbols_from), ".symtab of %.4000s", t->path);
	if (malloc_mode) {
		if (!libc_path || plan_libc(pl, libc_path, libc_name, true))
			return -ENOENT;
		pl->libc_malloc = true;
		add_finalize(pl, t);
		plan_gc(pl, t);
		return pl->n ? 0 : -ENOENT;
	}
	if (!elf_file_symbol(t->elf, "PyType_GenericAlloc", &ga, &ga_size) &&
	    !elf_file_symbol(t->elf, "PyObject_Malloc", &pm, NULL)) {
		pl->allocator_inlined = !code_calls(t->elf, ga, ga_size ? ga_size : 512,
						    "PyObject_Malloc", pm, 2);
		snprintf(pl->inline_evidence, sizeof(pl->inline_evidence),
			 "PyType_GenericAlloc %s PyObject_Malloc",
			 pl->allocator_inlined ? "does not call" : "calls");
	}
	for (size_t i = 0; i < sizeof(exported) / sizeof(exported[0]); i++)
		add(pl, t, &exported[i], pl->allocator_inlined ?
		    "exported entry point (C extensions)" : "exported entry point");
	if (pl->allocator_inlined) {
		for (size_t i = 0; i < sizeof(slots) / sizeof(slots[0]); i++)
			add(pl, t, &slots[i], "type slot, survives inlining");
		/* only where LTO inlined them: otherwise every call is nested */
		for (size_t i = 0; i < sizeof(internal) / sizeof(internal[0]); i++)
			if (add(pl, t, &internal[i], "pymalloc, out-of-line copy (from symbols)"))
				pl->internal_hooked = true;
	}
	if (libc_path)
		plan_libc(pl, libc_path, libc_name, false);
	add_finalize(pl, t);
	plan_gc(pl, t);
	return pl->n ? 0 : -ENOENT;
}

static struct bpf_program *entry_prog(struct pyleak_bpf *skel, enum prog_kind k)
{
	switch (k) {
	case PK_MALLOC: return skel->progs.malloc_enter;
	case PK_CALLOC: return skel->progs.calloc_enter;
	case PK_REALLOC: return skel->progs.realloc_enter;
	case PK_FREE: return skel->progs.free_enter;
	case PK_SLOT_ALLOC: return skel->progs.slot_alloc_enter;
	case PK_GC_DEL: return skel->progs.gc_del_enter;
	case PK_FINALIZE: return skel->progs.finalize_enter;
	case PK_MALLOC_CTX: return skel->progs.malloc_ctx_enter;
	case PK_CALLOC_CTX: return skel->progs.calloc_ctx_enter;
	case PK_REALLOC_CTX: return skel->progs.realloc_ctx_enter;
	case PK_FREE_CTX: return skel->progs.free_ctx_enter;
	}
	return NULL;
}

#define ATTACH_UPROBE_MULTI	48	/* BPF_TRACE_UPROBE_MULTI (uapi 6.6) */
#define UPROBE_MULTI_RETURN	1	/* BPF_F_UPROBE_MULTI_RETURN */

/* link_create.uprobe_multi of union bpf_attr (uapi 6.6); older headers lack it. */
struct link_create_uprobe_multi {
	__u32 prog_fd;
	__u32 target_fd;
	__u32 attach_type;
	__u32 flags;
	__u64 path;
	__u64 offsets;
	__u64 ref_ctr_offsets;
	__u64 cookies;
	__u32 cnt;
	__u32 mflags;
	__u32 pid;
	__u32 pad[5];
};

bool probes_multi_supported(void)
{
	struct utsname u;
	int major, minor;

	if (getenv("PYLEAKBPF_NO_MULTI") || uname(&u) ||
	    sscanf(u.release, "%d.%d", &major, &minor) != 2)
		return false;
	return major > 6 || (major == 6 && minor >= 6);
}

static struct bpf_program *hook_progs(struct pyleak_bpf *skel, int i)
{
	struct bpf_program *p[] = {
		skel->progs.malloc_enter, skel->progs.calloc_enter, skel->progs.realloc_enter,
		skel->progs.free_enter, skel->progs.slot_alloc_enter, skel->progs.gc_del_enter,
		skel->progs.finalize_enter, skel->progs.malloc_ctx_enter,
		skel->progs.calloc_ctx_enter, skel->progs.realloc_ctx_enter,
		skel->progs.free_ctx_enter, skel->progs.alloc_return,
	};

	return i < (int)(sizeof(p) / sizeof(p[0])) ? p[i] : NULL;
}

void probes_prepare(struct pyleak_bpf *skel, bool multi)
{
	struct bpf_program *p;

	for (int i = 0; multi && (p = hook_progs(skel, i)); i++)
		bpf_program__set_expected_attach_type(p, ATTACH_UPROBE_MULTI);
}

/* One link for every hook of plan that runs prog in file path. */
static int attach_multi(struct probe_plan *pl, struct bpf_program *prog, const char *path,
			bool ret, const struct target *t, struct pyleak_bpf *skel)
{
	unsigned long offsets[MAX_HOOKS];
	__u64 cookies[MAX_HOOKS];
	struct link_create_uprobe_multi a;
	__u32 cnt = 0;
	int fd;

	for (int i = 0; i < pl->n; i++) {
		const struct hook *h = &pl->hooks[i];
		const char *hp = h->path ? h->path : t->host_path;

		if (strcmp(hp, path) || (ret ? (!hook_is_alloc(h) || prog != skel->progs.alloc_return) :
					      entry_prog(skel, h->kind) != prog))
			continue;
		offsets[cnt] = h->file_offset;
		cookies[cnt] = i | (h->klass << 8) | (h->vaddr << COOKIE_VADDR_SHIFT);
		cnt++;
	}
	if (!cnt)
		return 0;
	memset(&a, 0, sizeof(a));
	a.prog_fd = bpf_program__fd(prog);
	a.attach_type = ATTACH_UPROBE_MULTI;
	a.path = (unsigned long)path;
	a.offsets = (unsigned long)offsets;
	a.cookies = (unsigned long)cookies;
	a.cnt = cnt;
	a.mflags = ret ? UPROBE_MULTI_RETURN : 0;
	a.pid = t->pid;
	fd = syscall(__NR_bpf, 28 /* BPF_LINK_CREATE */, &a, sizeof(a));
	if (fd < 0)
		return -errno;
	pl->multi_free[pl->nmulti] = prog == skel->progs.free_enter ||
				     prog == skel->progs.free_ctx_enter ||
				     prog == skel->progs.gc_del_enter ||
				     prog == skel->progs.finalize_enter;
	pl->multi_fds[pl->nmulti++] = fd;
	return 0;
}

static int attach_hooks_multi(struct probe_plan *pl, struct pyleak_bpf *skel,
			      const struct target *t, char *err, size_t errlen)
{
	const char *paths[2] = { t->host_path, pl->libc_hooked ? pl->libc_path : NULL };
	struct bpf_program *p;

	/* return probes first, as in attach_hooks_each() */
	for (int f = 0; f < 2; f++) {
		if (!paths[f])
			continue;
		int e = attach_multi(pl, skel->progs.alloc_return, paths[f], true, t, skel);

		for (int i = 0; !e && (p = hook_progs(skel, i)); i++)
			if (p != skel->progs.alloc_return)
				e = attach_multi(pl, p, paths[f], false, t, skel);
		if (e) {
			snprintf(err, errlen, "cannot attach uprobes to %s: %s",
				 f ? pl->libc_name : t->path, strerror(-e));
			return -1;
		}
	}
	for (int i = 0; i < pl->n; i++)
		pl->hooks[i].attached = true;
	return 0;
}

int probes_attach_hooks(struct probe_plan *pl, struct pyleak_bpf *skel,
			const struct target *t, char *err, size_t errlen)
{
	if (pl->multi)
		return attach_hooks_multi(pl, skel, t, err, errlen);
	for (int i = 0; i < pl->n; i++) {
		struct hook *h = &pl->hooks[i];
		LIBBPF_OPTS(bpf_uprobe_opts, o, .bpf_cookie = i | (h->klass << 8) |
			    (h->vaddr << COOKIE_VADDR_SHIFT));

		const char *path = h->path ? h->path : t->host_path;

		/*
		 * The return probe first: an entry seen before its return probe
		 * existed would stay pending and look like an outer call.
		 */
		if (hook_is_alloc(h)) {
			o.retprobe = true;
			h->ret = bpf_program__attach_uprobe_opts(skel->progs.alloc_return, t->pid,
								 path, h->file_offset, &o);
			if (!h->ret) {
				snprintf(err, errlen, "cannot attach uretprobe to %s in %s: %s",
					 h->symbol, h->path ? h->path : t->path, strerror(errno));
				return -1;
			}
			o.retprobe = false;
		}
		h->entry = bpf_program__attach_uprobe_opts(entry_prog(skel, h->kind), t->pid,
							   path, h->file_offset, &o);
		if (!h->entry) {
			snprintf(err, errlen, "cannot attach uprobe to %s in %s: %s", h->symbol,
				 h->path ? h->path : t->path, strerror(errno));
			return -1;
		}
		h->attached = true;
	}
	return 0;
}

int probes_attach(struct probe_plan *pl, struct pyleak_bpf *skel,
		  const struct target *t, char *err, size_t errlen)
{
	if (probes_attach_hooks(pl, skel, t, err, errlen))
		return -1;
	probes_attach_gc(pl, skel, t);
	return 0;
}

void probes_attach_gc(struct probe_plan *pl, struct pyleak_bpf *skel, const struct target *t)
{
	if (pl->gc == GC_USDT) {
		pl->gc_links[0] = bpf_program__attach_usdt(skel->progs.usdt_gc_start, t->pid,
							   t->host_path, "python", "gc__start", NULL);
		pl->gc_links[1] = bpf_program__attach_usdt(skel->progs.usdt_gc_done, t->pid,
							   t->host_path, "python", "gc__done", NULL);
	} else if (pl->gc == GC_UPROBE) {
		LIBBPF_OPTS(bpf_uprobe_opts, o, .bpf_cookie = pl->gc_generation_arg0);

		pl->gc_links[0] = bpf_program__attach_uprobe_opts(skel->progs.collect_enter, t->pid,
								  t->host_path,
								  pl->gc_collect_offset, &o);
		o.retprobe = true;
		o.bpf_cookie = 0;
		pl->gc_links[1] = bpf_program__attach_uprobe_opts(skel->progs.collect_return, t->pid,
								  t->host_path,
								  pl->gc_collect_offset, &o);
	}
	if (pl->gc != GC_NONE && (!pl->gc_links[0] || !pl->gc_links[1])) {
		int e = errno;

		bpf_link__destroy(pl->gc_links[0]);
		bpf_link__destroy(pl->gc_links[1]);
		pl->gc_links[0] = pl->gc_links[1] = NULL;
		snprintf(pl->gc_why, sizeof(pl->gc_why), "GC data unavailable: attaching %s failed: %s",
			 gc_source_name(pl->gc), strerror(e));
		pl->gc = GC_NONE;
	}
}

/*
 * Classic uprobe links: each close waits for a grace period, and the
 * kernel serializes them (strace: 0.08-0.12 s each, one after another,
 * even from parallel threads), so they are simply closed in turn.
 */
static void destroy_links(struct bpf_link **links, int n)
{
	for (int i = 0; i < n; i++)
		bpf_link__destroy(links[i]);
}

static void *close_fd(void *fd)
{
	close((int)(long)fd);
	return NULL;
}

/*
 * Closing a multi link removes its breakpoints at once, then waits for a
 * grace period (0.1 s here). The wait is left to a detached thread, so a
 * --sample window ends when its time is up, not 0.1 s later with its free
 * hooks still trapping. allocs_only: close the links of allocation
 * programs, keep the others.
 */
static void close_multi(struct probe_plan *pl, bool allocs_only)
{
	pthread_attr_t attr;
	int keep = 0;

	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	for (int i = 0; i < pl->nmulti; i++) {
		pthread_t th;

		if (allocs_only && pl->multi_free[i]) {
			pl->multi_fds[keep] = pl->multi_fds[i];
			pl->multi_free[keep++] = true;
			continue;
		}
		if (pthread_create(&th, &attr, close_fd, (void *)(long)pl->multi_fds[i]))
			close(pl->multi_fds[i]);
	}
	pthread_attr_destroy(&attr);
	pl->nmulti = keep;
}

static void detach_each(struct probe_plan *pl, bool allocs_only)
{
	struct bpf_link *links[2 * MAX_HOOKS];
	int n = 0;

	for (int i = 0; i < pl->n; i++) {
		if (allocs_only && !hook_is_alloc(&pl->hooks[i]))
			continue;
		links[n++] = pl->hooks[i].entry;
		links[n++] = pl->hooks[i].ret;
		pl->hooks[i].entry = pl->hooks[i].ret = NULL;
		pl->hooks[i].attached = false;
	}
	destroy_links(links, n);
}

void probes_detach_alloc_hooks(struct probe_plan *pl)
{
	close_multi(pl, true);
	detach_each(pl, true);
	for (int i = 0; i < pl->n; i++)
		if (hook_is_alloc(&pl->hooks[i]))
			pl->hooks[i].attached = false;
}

void probes_detach_hooks(struct probe_plan *pl)
{
	close_multi(pl, false);
	detach_each(pl, false);
	for (int i = 0; i < pl->n; i++)
		pl->hooks[i].attached = false;
}

void probes_detach(struct probe_plan *pl)
{
	struct bpf_link *links[2 * MAX_HOOKS + 2];
	int n = 0;

	close_multi(pl, false);
	for (int i = 0; i < pl->n; i++) {
		links[n++] = pl->hooks[i].entry;
		links[n++] = pl->hooks[i].ret;
		pl->hooks[i].entry = pl->hooks[i].ret = NULL;
		pl->hooks[i].attached = false;
	}
	for (int i = 0; i < 2; i++) {
		links[n++] = pl->gc_links[i];
		pl->gc_links[i] = NULL;
	}
	destroy_links(links, n);
}

void probes_explain(const struct probe_plan *pl, const struct target *t, FILE *out)
{
	const char *bid = elf_file_build_id(t->elf);

	if (t->pid)
		fprintf(out, "target: PID %d (%s), CPython %s%s\n", t->pid, t->comm, t->version,
			t->debug_build ? " debug build" : "");
	else
		fprintf(out, "target: %s, to be launched, CPython %s%s\n", t->comm, t->version,
			t->debug_build ? " debug build" : "");
	fprintf(out, "version: %s, from %s\n", t->version,
		t->version_from ? t->version_from : "?");
	fprintf(out, "%s\n", t->offsets_note);
	fprintf(out, "interpreter: %s (%s, %s%s%s)\n", t->path,
		t->shared_lib ? "shared libpython" : "executable",
		elf_file_debug_path(t->elf) ? "stripped" :
		elf_file_has_symtab(t->elf) ? ".symtab" : "stripped",
		*bid ? ", build-id " : "", bid);
	fprintf(out, "symbols: %s\n", pl->symbols_from[0] ? pl->symbols_from :
		"exported only (no .symtab, no debug file by build-id or .gnu_debuglink)");
	if (pl->libc_malloc)
		fprintf(out, "allocator: PYTHONMALLOC=malloc, every allocation goes through %s\n",
			pl->libc_path);
	else
		fprintf(out, "allocator: pymalloc %s (%s)\n",
			pl->allocator_inlined ? "inlined into its callers" : "called through its entry points",
			pl->inline_evidence[0] ? pl->inline_evidence : "no evidence either way");
	fprintf(out, "hooks (each call of a hooked function is a trap into the kernel):\n"
		"  %-28s %-8s %-16s %-8s %-10s %s\n", "symbol", "does", "probes", "in",
		"offset", "why");
	for (int i = 0; i < pl->n; i++) {
		const struct hook *h = &pl->hooks[i];

		fprintf(out, "  %-28s %-8s %-16s %-8s 0x%-8" PRIx64 " %s\n", h->symbol,
			hook_kind_name(h), hook_is_alloc(h) ? "uprobe+uretprobe" : "uprobe",
			h->path ? "libc" : "python", h->file_offset, h->why);
	}
	if (pl->libc_hooked)
		fprintf(out, "libc: %s\n", pl->libc_name);
	else if (!pl->libc_malloc)
		fprintf(out, "libc: not found in the target: blocks over 512 bytes, C extensions' "
			"malloc and ctypes are not seen\n");
	if (!pl->libc_malloc && !pl->allocator_inlined)
		fprintf(out, "not hooked: PyType_GenericAlloc, PyObject_GC_Del (they call the "
			"exported allocator, which is hooked: hooking them too would double the traps)\n");
	if (!pl->libc_malloc && pl->allocator_inlined)
		fprintf(out, "not seen on this build: small objects the interpreter's C code "
			"allocates with inlined pymalloc (%s); launch with --malloc to see them\n",
			pl->internal_hooked ? "dicts, lists, tuples, ints, floats, small bytes; "
			"str and bytearray go through the out-of-line copy" :
			"dicts, lists, tuples, str, ints, floats, small bytes");
	fprintf(out, "GC: %s\n", pl->gc_why);
}
