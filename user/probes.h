/* SPDX-License-Identifier: GPL-2.0 */
#ifndef PROBES_H
#define PROBES_H

#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include "pyleak.h"

struct target;
struct pyleak_bpf;
struct bpf_link;

enum prog_kind {
	PK_MALLOC, PK_CALLOC, PK_REALLOC, PK_FREE, PK_SLOT_ALLOC, PK_GC_DEL,
	PK_FINALIZE,
	/* pymalloc's internal functions: (ctx, ...) */
	PK_MALLOC_CTX, PK_CALLOC_CTX, PK_REALLOC_CTX, PK_FREE_CTX,
};

struct hook {
	const char *func;
	char symbol[64];		/* the symbol probed, e.g. "_PyObject_Malloc.lto_priv.0" */
	const char *path;		/* file to probe; NULL: the interpreter */
	enum prog_kind kind;
	enum hook_class klass;
	const char *why;		/* why the planner picked it */
	uint64_t file_offset;
	uint64_t vaddr;			/* link-time address of the function */
	bool attached;
	struct bpf_link *entry, *ret;
};

/* Where GC pauses and "inside a collection" come from. */
enum gc_source {
	GC_NONE,		/* no source: GC data unavailable */
	GC_USDT,		/* python:gc__start / python:gc__done */
	GC_UPROBE,		/* uprobe + uretprobe on gc_collect_main */
};

struct probe_plan {
	struct hook hooks[MAX_HOOKS];
	int n;
	enum gc_source gc;
	char gc_why[PATH_MAX + 320];	/* the source, or why there is none */
	uint64_t gc_collect_offset;
	bool gc_generation_arg0;	/* the collector is a clone taking generation first */
	struct bpf_link *gc_links[2];
	/* pymalloc inlined into its callers (LTO): exported entry points see
	 * only calls from other objects */
	bool allocator_inlined;
	char inline_evidence[160];
	/* launch mode with PYTHONMALLOC=malloc: every allocation goes to libc */
	bool libc_malloc;
	/* libc's malloc family is hooked (big blocks, C extensions, ctypes) */
	bool libc_hooked;
	char libc_path[PATH_MAX];	/* the file probed */
	char libc_name[PATH_MAX];	/* as the target names it */
	/* pymalloc's own functions hooked from symbols (.symtab or debug file) */
	bool internal_hooked;
	char symbols_from[PATH_MAX];	/* where the symbols came from */
	/* multi-uprobe links (kernel 6.6+): one per program and file */
	bool multi;
	int multi_fds[2 * MAX_HOOKS];
	bool multi_free[2 * MAX_HOOKS];	/* the link runs a free program */
	int nmulti;
};

/*
 * Can this kernel attach many uprobes with one link (BPF_TRACE_UPROBE_MULTI,
 * Linux 6.6)? Closing a link then waits for one grace period, not one per
 * probe: detaching 40 probes takes 0.1 s instead of 4 s.
 */
bool probes_multi_supported(void);
/* Before the skeleton is loaded: load hook programs for multi links. */
void probes_prepare(struct pyleak_bpf *skel, bool multi);

/*
 * Decide the hooks for this target's interpreter. libc_path (may be NULL):
 * the libc to hook, libc_name the target's name for it; malloc_mode: the
 * target runs with PYTHONMALLOC=malloc, so libc's malloc family is hooked
 * instead of CPython's allocator entry points.
 */
int probes_plan(struct probe_plan *pl, const struct target *t, const char *libc_path,
		const char *libc_name, bool malloc_mode);
/* Attach the plan; a one-line reason in err on failure. */
int probes_attach(struct probe_plan *pl, struct pyleak_bpf *skel,
		  const struct target *t, char *err, size_t errlen);
void probes_detach(struct probe_plan *pl);
/* --sample: the allocator hooks only (GC and shutdown hooks stay). */
int probes_attach_hooks(struct probe_plan *pl, struct pyleak_bpf *skel,
			const struct target *t, char *err, size_t errlen);
void probes_detach_hooks(struct probe_plan *pl);
/* --sample's tail: detach the allocation hooks, keep the free hooks. */
void probes_detach_alloc_hooks(struct probe_plan *pl);
/* The GC source alone; on failure the plan says GC data is unavailable. */
void probes_attach_gc(struct probe_plan *pl, struct pyleak_bpf *skel, const struct target *t);
/* --explain: the plan and why, without attaching anything. */
void probes_explain(const struct probe_plan *pl, const struct target *t, FILE *out);
bool hook_is_alloc(const struct hook *h);
const char *hook_kind_name(const struct hook *h);
const char *gc_source_name(enum gc_source g);

/*
 * Does the code at addr reach a direct call to `callee` within `depth`
 * levels of direct calls? (x86-64: scans for call rel32; PLT stubs are
 * followed to their symbol.)
 */
struct elf_file;
bool code_calls(const struct elf_file *ef, uint64_t addr, uint64_t len,
		const char *callee, uint64_t callee_addr, int depth);

#endif
