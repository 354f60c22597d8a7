// SPDX-License-Identifier: GPL-2.0
/*
 * Which Python object, if any, each outstanding block holds, read from the
 * target with process_vm_readv(2) at report time.
 *
 * The first bytes of the blocks are read in address order, neighbours
 * sharing a remote iovec, up to IOV_BATCH iovecs per system call. A fault
 * (a block unmapped since the snapshot) ends one read early; the blocks
 * after it are read by the next. Nothing read is trusted on its own: an
 * object is accepted only if its refcount is plausible, its type pointer
 * leads to a ready type object whose metatype chain ends at `type`, the
 * pre-header that type implies is exactly where the object was found, and
 * the object fits the block. A block freed since the snapshot fails these
 * checks (pymalloc puts a free-list pointer, the debug allocator 0xdd
 * bytes, where the refcount was) and comes out as not an object or
 * unreadable.
 *
 * Type objects are read once per objtypes_classify() call and cached by
 * address, invalid addresses too; indexes are handed out per type name.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include "memread.h"
#include "objtypes.h"
#include "pyversions.h"
#include "u64map.h"

#define IOV_BATCH	1024		/* UIO_MAXIOV */
#define WINDOW_MAX	128		/* bytes read per block, at most */
#define TYPE_READ_MAX	512		/* bytes read per type object, at most */
#define MAX_REFCNT	(1ULL << 40)
#define MAX_BASICSIZE	(1 << 20)
#define MAX_ITEMSIZE	(1 << 16)
#define MAX_ITEMS	(1ULL << 40)
#define MAX_META_DEPTH	4		/* type -> metaclass -> ... -> type */
#define MAX_NAME	256
#define PAGE		4096ULL		/* the smallest page there is */

/* A type object that passed every check in classify call `gen`. */
struct ot_type {
	uint64_t flags;
	int64_t basicsize, itemsize;
	uint32_t idx;
	uint32_t gen;
};

/*
 * The type cache maps an address to a struct ot_type * or, for an address
 * that is no type, to an odd word holding the call that found it so.
 */
#define INVALID_AT(gen)		((void *)(((uintptr_t)(gen) << 1) | 1))
#define IS_INVALID(v)		((uintptr_t)(v) & 1)
#define INVALID_GEN(v)		((uint32_t)((uintptr_t)(v) >> 1))

struct objtypes {
	pid_t pid;
	const struct pyversion *pv;
	uint32_t gen;			/* classify calls so far */
	unsigned window;		/* bytes to read per block */
	unsigned type_read;		/* bytes to read per type object */
	unsigned offsets[3];		/* where a raw block's object may sit */
	int err;			/* -ENOMEM seen while caching */
	struct u64map types;
	char **names;			/* by index */
	uint32_t nnames, names_cap;
	uint32_t *slots;		/* name hash: index + 1, 0 if empty */
	uint32_t slots_cap;
};

static uint64_t get_u64(const uint8_t *p)
{
	uint64_t v;

	memcpy(&v, p, sizeof(v));
	return v;
}

static uint32_t get_u32(const uint8_t *p)
{
	uint32_t v;

	memcpy(&v, p, sizeof(v));
	return v;
}

static unsigned max_u(unsigned a, unsigned b)
{
	return a > b ? a : b;
}

/* User-space, 8-aligned and above the zero page: anything else is no type. */
static bool plausible_ptr(uint64_t p)
{
	return p >= 4096 && p < (1ULL << 47) && !(p & 7);
}

/*
 * 3.8-3.11 have no immortal objects; 3.12+ immortal ones hold 0xffffffff
 * (3.14: 0xc0000000 and up) in the low 32 bits, still far below the bound.
 */
static bool plausible_refcnt(uint64_t r)
{
	return (int64_t)r > 0 && r < MAX_REFCNT;
}

static uint64_t hash_name(const char *s)
{
	uint64_t h = 0xcbf29ce484222325ULL;	/* FNV-1a */

	while (*s)
		h = (h ^ (uint8_t)*s++) * 0x100000001b3ULL;
	return h;
}

static int grow_slots(struct objtypes *ot)
{
	uint32_t cap = ot->slots_cap ? ot->slots_cap * 2 : 256;
	uint32_t *s = calloc(cap, sizeof(*s));

	if (!s)
		return -ENOMEM;
	for (uint32_t i = OT_FIRST_TYPE; i < ot->nnames; i++) {
		uint32_t j = hash_name(ot->names[i]) & (cap - 1);

		while (s[j])
			j = (j + 1) & (cap - 1);
		s[j] = i + 1;
	}
	free(ot->slots);
	ot->slots = s;
	ot->slots_cap = cap;
	return 0;
}

static int add_name(struct objtypes *ot, const char *name)
{
	if (ot->nnames == ot->names_cap) {
		uint32_t cap = ot->names_cap * 2;
		char **n = realloc(ot->names, cap * sizeof(*n));

		if (!n)
			return -ENOMEM;
		ot->names = n;
		ot->names_cap = cap;
	}
	ot->names[ot->nnames] = strdup(name);
	if (!ot->names[ot->nnames])
		return -ENOMEM;
	ot->nnames++;
	return 0;
}

/*
 * The index of a type name, new or not. Two classes with the same name
 * share an index, as they would in a report grouped by name.
 */
static int name_index(struct objtypes *ot, const char *name, uint32_t *idx)
{
	uint32_t j;

	if ((ot->nnames + 1) * 2 > ot->slots_cap && grow_slots(ot))
		return -ENOMEM;
	j = hash_name(name) & (ot->slots_cap - 1);
	for (; ot->slots[j]; j = (j + 1) & (ot->slots_cap - 1)) {
		if (!strcmp(ot->names[ot->slots[j] - 1], name)) {
			*idx = ot->slots[j] - 1;
			return 0;
		}
	}
	if (add_name(ot, name))
		return -ENOMEM;
	ot->slots[j] = ot->nnames;
	*idx = ot->nnames - 1;
	return 0;
}

/* Printable, possibly UTF-8: what a class name can be, and no garbage. */
static bool printable(const char *s)
{
	if (!*s)
		return false;
	for (; *s; s++)
		if ((uint8_t)*s < 0x20 || *s == 0x7f)
			return false;
	return true;
}

/* A NUL-terminated string, read a page at a time so its end may be anywhere. */
static int read_name(pid_t pid, uint64_t addr, char *out, size_t max)
{
	size_t n = 0;

	while (n < max) {
		size_t chunk = PAGE - ((addr + n) & (PAGE - 1));

		if (chunk > max - n)
			chunk = max - n;
		if (mem_read(pid, addr + n, out + n, chunk))
			return -EFAULT;
		if (memchr(out + n, 0, chunk))
			return printable(out) ? 0 : -EINVAL;
		n += chunk;
	}
	return -E2BIG;
}

static const struct ot_type *type_get(struct objtypes *ot, uint64_t addr,
				      int depth, bool *deep);

/*
 * `type` is its own type; any other metatype is a type whose own chain
 * gets there. Either way it must be flagged as a subclass of type.
 */
static bool meta_ok(struct objtypes *ot, uint64_t addr, uint64_t flags,
		    uint64_t meta, int depth, bool *deep)
{
	const struct ot_type *m;

	if (meta == addr)
		return flags & ot->pv->tpflags_metatype;
	if (!plausible_ptr(meta))
		return false;
	m = type_get(ot, meta, depth + 1, deep);
	return m && (m->flags & ot->pv->tpflags_metatype);
}

/* Read and check the type object at addr; fill t. 0 or -errno. */
static int type_read(struct objtypes *ot, uint64_t addr, struct ot_type *t,
		     char *name, int depth, bool *deep)
{
	const struct pyversion *pv = ot->pv;
	uint8_t hdr[TYPE_READ_MAX];

	if (mem_read(ot->pid, addr, hdr, ot->type_read))
		return -EFAULT;
	t->flags = get_u64(hdr + pv->bpf.type_flags);
	t->basicsize = (int64_t)get_u64(hdr + pv->bpf.type_basicsize);
	t->itemsize = (int64_t)get_u64(hdr + pv->bpf.type_itemsize);
	if (!plausible_refcnt(get_u64(hdr + pv->ob_refcnt)) ||
	    !(t->flags & pv->tpflags_ready) ||
	    t->basicsize < pv->bpf.ob_type + 8 || t->basicsize > MAX_BASICSIZE ||
	    t->itemsize < 0 || t->itemsize > MAX_ITEMSIZE)
		return -EINVAL;
	if (!meta_ok(ot, addr, t->flags, get_u64(hdr + pv->bpf.ob_type), depth, deep))
		return -EINVAL;
	return read_name(ot->pid, get_u64(hdr + pv->type_name), name, MAX_NAME);
}

/* Cache what type_read() found at addr; the entry, or NULL if no type. */
static const struct ot_type *type_store(struct objtypes *ot, uint64_t addr,
					void *old, const struct ot_type *t,
					const char *name)
{
	struct ot_type *e = old && !IS_INVALID(old) ? old : NULL;

	if (!name) {
		/* if this fails, a stale old entry stays and is re-read next call */
		if (u64map_put(&ot->types, addr, INVALID_AT(ot->gen)))
			ot->err = -ENOMEM;
		else
			free(e);
		return NULL;
	}
	if (!e) {
		e = malloc(sizeof(*e));
		if (!e || u64map_put(&ot->types, addr, e)) {
			free(e);
			ot->err = -ENOMEM;
			return NULL;
		}
	}
	*e = *t;
	if (name_index(ot, name, &e->idx)) {
		/* keep the entry valid but stale: it is retried next time */
		e->idx = OT_NOT_OBJECT;
		e->gen = ot->gen - 1;
		ot->err = -ENOMEM;
		return NULL;
	}
	e->gen = ot->gen;
	return e;
}

/*
 * The type object at addr, checked in this classify call, or NULL. A type
 * rejected only because its metatype chain was too long from here (*deep)
 * is not cached as invalid: it may be fine when looked up directly.
 */
static const struct ot_type *type_get(struct objtypes *ot, uint64_t addr,
				      int depth, bool *deep)
{
	void *v = u64map_get(&ot->types, addr);
	struct ot_type t = { 0 };
	char name[MAX_NAME];
	bool too_deep = false;

	if (v && IS_INVALID(v) && INVALID_GEN(v) == ot->gen)
		return NULL;
	if (v && !IS_INVALID(v) && ((struct ot_type *)v)->gen == ot->gen)
		return v;
	if (depth > MAX_META_DEPTH) {
		*deep = true;
		return NULL;
	}
	if (type_read(ot, addr, &t, name, depth, &too_deep)) {
		if (too_deep) {
			*deep = true;
			return NULL;
		}
		return type_store(ot, addr, v, NULL, NULL);
	}
	return type_store(ot, addr, v, &t, name);
}

/*
 * Exact str instances are compact: header and characters in one block
 * smaller than tp_basicsize. Subclass instances are not, and use it.
 */
static uint64_t str_size(const struct objtypes *ot, const struct ot_type *t,
			 const uint8_t *p, size_t len)
{
	const struct pyversion *pv = ot->pv;
	uint32_t state, kind;
	int64_t length;

	if ((size_t)pv->str_state + 4 > len)
		return 0;
	state = get_u32(p + pv->str_state);
	length = (int64_t)get_u64(p + pv->str_length);
	kind = (state >> 2) & 7;
	if (!(state & (1 << 5)))			/* compact */
		return t->basicsize;
	if (length < 0 || (uint64_t)length > MAX_ITEMS)
		return 0;
	if (state & (1 << 6))				/* ascii */
		return pv->str_ascii_data + length + 1;
	if (kind != 1 && kind != 2 && kind != 4)
		return 0;
	return pv->str_compact_data + (length + 1) * kind;
}

/* Bytes the object at p needs (pre-header excluded); 0 if it cannot tell. */
static uint64_t object_size(const struct objtypes *ot, const struct ot_type *t,
			    const uint8_t *p, size_t len)
{
	int64_t n;

	if (t->flags & ot->pv->tpflags_str)
		return str_size(ot, t, p, len);
	if (!t->itemsize)
		return t->basicsize;
	if ((size_t)ot->pv->ob_size + 8 > len)
		return 0;
	n = (int64_t)get_u64(p + ot->pv->ob_size);
	if (n < 0)					/* negative ints */
		n = -n;
	if ((uint64_t)n > MAX_ITEMS)
		return 0;
	return t->basicsize + (uint64_t)n * t->itemsize;
}

static uint64_t preheader(const struct objtypes *ot, uint64_t flags)
{
	const struct pyversion *pv = ot->pv;
	uint64_t pre = 0;

	if (flags & pv->tpflags_gc)
		pre += pv->bpf.gc_head_size;
	if (flags & pv->bpf.preheader_flags)
		pre += pv->preheader_extra;
	return pre;
}

/*
 * The type index of an object at offset off of the bytes read (len of
 * them), or OT_NOT_OBJECT. For a raw block the type must put its
 * pre-header exactly at off; a slot-returned object is at 0 and its
 * recorded size covers the pre-header in front of it.
 */
static uint32_t object_at(struct objtypes *ot, const struct ot_block *blk,
			  const uint8_t *p, size_t len, unsigned off)
{
	const struct pyversion *pv = ot->pv;
	const struct ot_type *t;
	uint64_t tp, pre, need;
	bool deep = false;

	if ((size_t)off + pv->bpf.ob_type + 8 > len)
		return OT_NOT_OBJECT;
	p += off;
	len -= off;
	tp = get_u64(p + pv->bpf.ob_type);
	if (!plausible_refcnt(get_u64(p + pv->ob_refcnt)) || !plausible_ptr(tp))
		return OT_NOT_OBJECT;
	t = type_get(ot, tp, 0, &deep);
	if (!t)
		return OT_NOT_OBJECT;
	pre = preheader(ot, t->flags);
	if (!blk->is_object && pre != off)
		return OT_NOT_OBJECT;
	need = object_size(ot, t, p, len);
	if (!need || (blk->size && pre + need > blk->size))
		return OT_NOT_OBJECT;
	return t->idx;
}

static uint32_t classify_one(struct objtypes *ot, const struct ot_block *blk,
			     const uint8_t *p, size_t len)
{
	uint32_t idx;

	if (blk->is_object)
		return object_at(ot, blk, p, len, 0);
	for (int i = 0; i < 3; i++) {
		idx = object_at(ot, blk, p, len, ot->offsets[i]);
		if (idx != OT_NOT_OBJECT)
			return idx;
	}
	return OT_NOT_OBJECT;
}

/*
 * Bytes to read for a block: its size (0: unknown) capped at the window.
 * A slot-returned object's size counts the pre-header, so this may run
 * past the object's end; a read cut short there is still used.
 */
static size_t read_len(const struct objtypes *ot, const struct ot_block *blk)
{
	return blk->size && blk->size < ot->window ? blk->size : ot->window;
}

/*
 * Blocks are read in address order so that neighbours share one remote
 * iovec: the kernel pins pages per iovec, and that, not copying, is what
 * a read of a few dozen bytes costs. A chunk of at most 2^CHUNK_BITS
 * blocks is sorted at a time by keys that hold the address above the
 * block's index in the chunk.
 */
#define CHUNK_BITS	20
#define CHUNK		(1UL << CHUNK_BITS)
#define KEY(addr, j)	((((addr) >> 3) << CHUNK_BITS) | (j))
#define KEY_INDEX(k)	((k) & (CHUNK - 1))
#define GAP		1024		/* bytes between blocks read anyway */
#define SPAN_MAX	(64 << 10)	/* bytes per remote iovec */
#define BUF_MAX		(1 << 20)	/* bytes per system call */

/* Scratch space of one classify call. */
struct ot_scratch {
	uint64_t *keys, *tmp;
	uint32_t *boff;			/* by sorted position: offset in buf */
	uint32_t count[1 << 16];	/* radix sort buckets */
	struct iovec riov[IOV_BATCH];
	uint8_t buf[BUF_MAX];
};

/* LSD radix sort on the address bits; passes where all agree are skipped. */
static void sort_keys(struct ot_scratch *s, size_t n)
{
	uint64_t *keys = s->keys, *src = s->keys, *dst = s->tmp, *t;
	uint32_t *count = s->count;

	for (unsigned shift = CHUNK_BITS; shift < 64; shift += 16) {
		uint32_t sum = 0;

		memset(count, 0, sizeof(s->count));
		for (size_t i = 0; i < n; i++)
			count[(src[i] >> shift) & 0xffff]++;
		if (!n || count[(src[0] >> shift) & 0xffff] == n)
			continue;
		for (size_t d = 0; d < 1 << 16; d++) {
			uint32_t c = count[d];

			count[d] = sum;
			sum += c;
		}
		for (size_t i = 0; i < n; i++)
			dst[count[(src[i] >> shift) & 0xffff]++] = src[i];
		t = src;
		src = dst;
		dst = t;
	}
	if (src != keys)
		memcpy(keys, src, n * sizeof(*keys));
}

/*
 * Lay out the remote iovecs for sorted positions from i on: a block joins
 * the current span if it starts inside it or at most GAP bytes after it.
 * The position after the last block planned.
 */
static size_t plan_batch(const struct objtypes *ot, struct ot_scratch *s,
			 const struct ot_block *b, size_t i, size_t m,
			 unsigned long *nspans)
{
	struct iovec *sp = NULL;
	size_t used = 0, sp_off = 0, j;
	unsigned long k = 0;

	for (j = i; j < m; j++) {
		const struct ot_block *blk = &b[KEY_INDEX(s->keys[j])];
		uint64_t start = blk->addr, end = start + read_len(ot, blk);
		uint64_t sp_start = sp ? (uintptr_t)sp->iov_base : 0;
		uint64_t sp_end = sp_start + (sp ? sp->iov_len : 0);
		uint64_t grow = end > sp_end ? end - sp_end : 0;

		if (sp && start >= sp_start && start <= sp_end + GAP &&
		    end - sp_start <= SPAN_MAX && used + grow <= BUF_MAX) {
			sp->iov_len += grow;
			used += grow;
			s->boff[j] = sp_off + (start - sp_start);
			continue;
		}
		if (k == IOV_BATCH || used + (end - start) > BUF_MAX)
			break;
		sp = &s->riov[k++];
		sp->iov_base = (void *)(uintptr_t)start;
		sp->iov_len = end - start;
		sp_off = used;
		used += end - start;
		s->boff[j] = sp_off;
	}
	*nspans = k;
	return j;
}

/*
 * Classify the blocks planned at positions [i, j) from the got bytes
 * that arrived. A fault ends a read at the start of the page it hit:
 * the block it hit is classified from its bytes before that page (or is
 * unreadable), so are the next blocks that start in that page, and the
 * blocks after them wait for the next read. The first position not done.
 */
static size_t finish_batch(struct objtypes *ot, const struct ot_scratch *s,
			   const struct ot_block *b, uint32_t *out,
			   size_t i, size_t j, size_t m, size_t got)
{
	size_t min = ot->pv->bpf.ob_type + 8, p;
	uint64_t fault = 0;

	for (p = i; p < j; p++) {
		size_t idx = KEY_INDEX(s->keys[p]), off = s->boff[p];
		size_t len = read_len(ot, &b[idx]);

		if (off > got)
			break;
		if (off + len > got) {
			len = got - off;
			fault = (b[idx].addr + len) & ~(PAGE - 1);
		}
		out[idx] = len < min ? OT_UNREADABLE :
			   classify_one(ot, &b[idx], s->buf + off, len);
	}
	for (; fault && p < m; p++) {
		size_t idx = KEY_INDEX(s->keys[p]);

		if (b[idx].addr < fault || b[idx].addr >= fault + PAGE)
			break;
		out[idx] = OT_UNREADABLE;
	}
	return p;
}

/*
 * Sort one chunk's readable blocks by address and classify them; what
 * cannot be an object's address or is too small for one is settled here.
 * 0 or -errno if the target cannot be read at all (blocks not read yet
 * are left unreadable).
 */
static int classify_chunk(struct objtypes *ot, struct ot_scratch *s,
			  const struct ot_block *b, size_t n, uint32_t *out)
{
	size_t min = ot->pv->bpf.ob_type + 8, m = 0;

	for (size_t j = 0; j < n; j++) {
		if (!plausible_ptr(b[j].addr & ~7ULL)) {
			out[j] = OT_UNREADABLE;
		} else if (read_len(ot, &b[j]) < min) {
			out[j] = OT_NOT_OBJECT;
		} else {
			out[j] = OT_UNREADABLE;		/* until it is read */
			s->keys[m++] = KEY(b[j].addr, j);
		}
	}
	sort_keys(s, m);
	for (size_t i = 0; i < m;) {
		struct iovec liov = { .iov_base = s->buf };
		unsigned long nspans;
		size_t j = plan_batch(ot, s, b, i, m, &nspans);
		ssize_t got;

		for (unsigned long k = 0; k < nspans; k++)
			liov.iov_len += s->riov[k].iov_len;
		got = process_vm_readv(ot->pid, &liov, 1, s->riov, nspans, 0);
		if (got < 0 && errno != EFAULT)
			return -errno;
		i = finish_batch(ot, s, b, out, i, j, m, got < 0 ? 0 : got);
	}
	return 0;
}

static void scratch_free(struct ot_scratch *s)
{
	if (!s)
		return;
	free(s->keys);
	free(s->tmp);
	free(s->boff);
	free(s);
}

static struct ot_scratch *scratch_new(size_t n)
{
	struct ot_scratch *s = malloc(sizeof(*s));
	size_t cap = n < CHUNK ? n : CHUNK;

	if (!s)
		return NULL;
	s->keys = malloc(cap * sizeof(*s->keys));
	s->tmp = malloc(cap * sizeof(*s->tmp));
	s->boff = malloc(cap * sizeof(*s->boff));
	if (!s->keys || !s->tmp || !s->boff) {
		scratch_free(s);
		return NULL;
	}
	return s;
}

int objtypes_classify(struct objtypes *ot, const struct ot_block *b, size_t n,
		      uint32_t *out)
{
	struct ot_scratch *s;
	int err = 0;

	if (!ot || (n && (!b || !out)))
		return -EINVAL;
	if (!n)
		return 0;
	/* types are re-read once per call: heap types die and addresses get reused */
	ot->gen++;
	ot->err = 0;
	s = scratch_new(n);
	if (!s)
		return -ENOMEM;
	for (size_t i = 0; i < n && !err; i += CHUNK)
		err = classify_chunk(ot, s, b + i, n - i < CHUNK ? n - i : CHUNK, out + i);
	scratch_free(s);
	return err ? err : ot->err;
}

struct objtypes *objtypes_new(pid_t pid, const struct pyversion *pv)
{
	const struct py_offsets *o;
	struct objtypes *ot;
	unsigned gc, extra;

	if (!pv)
		return NULL;
	o = &pv->bpf;
	ot = calloc(1, sizeof(*ot));
	if (!ot)
		return NULL;
	ot->pid = pid;
	ot->pv = pv;
	gc = o->gc_head_size;
	extra = pv->preheader_extra;
	/* object at 0 (no GC), gc (GC), gc + extra (GC and managed dict) */
	ot->offsets[0] = 0;
	ot->offsets[1] = gc;
	ot->offsets[2] = gc + extra;
	/* the object's header at the farthest offset, and str's state word */
	ot->window = max_u(gc + extra + pv->ob_size + 8, pv->str_state + 4);
	ot->type_read = max_u(max_u(o->type_flags, o->type_basicsize),
			      max_u(o->type_itemsize, pv->type_name)) + 8;
	ot->names_cap = 64;
	ot->names = calloc(ot->names_cap, sizeof(*ot->names));
	if (!ot->names || ot->window > WINDOW_MAX || ot->type_read > TYPE_READ_MAX) {
		free(ot->names);
		free(ot);
		return NULL;
	}
	ot->names[OT_NOT_OBJECT] = "[not an object]";
	ot->names[OT_UNREADABLE] = "[unreadable]";
	ot->nnames = OT_FIRST_TYPE;
	return ot;
}

void objtypes_free(struct objtypes *ot)
{
	if (!ot)
		return;
	for (size_t i = 0; i < ot->types.cap; i++)
		if (ot->types.keys[i] && !IS_INVALID(ot->types.vals[i]))
			free(ot->types.vals[i]);
	u64map_free(&ot->types);
	for (uint32_t i = OT_FIRST_TYPE; i < ot->nnames; i++)
		free(ot->names[i]);
	free(ot->names);
	free(ot->slots);
	free(ot);
}

const char *objtypes_name(const struct objtypes *ot, uint32_t idx)
{
	if (!ot || idx >= ot->nnames)
		return "[unknown]";
	return ot->names[idx];
}

uint32_t objtypes_count(const struct objtypes *ot)
{
	return ot ? ot->nnames : OT_FIRST_TYPE;
}
