// SPDX-License-Identifier: GPL-2.0
/*
 * Code object address + instruction offset -> qualname, file, line.
 * Code objects are read once through process_vm_readv and cached; a stack
 * is symbolized once, when it is first seen, so a code object freed later
 * does not change what an old stack says.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "linetable.h"
#include "memread.h"
#include "pyleak.h"
#include "pyversions.h"
#include "symbolize.h"
#include "target.h"

#define MAX_STR		4096
#define MAX_LINETABLE	(1 << 20)
#define CODE_MAX	256

void symbolizer_init(struct symbolizer *s, const struct target *t)
{
	memset(s, 0, sizeof(*s));
	s->t = t;
	native_init(&s->native, t->pid);
}

static void free_code(struct code_info *c)
{
	if (c->retired)
		free_code(c->retired);
	free(c->qualname);
	free(c->filename);
	free(c->linetable);
	free(c);
}

void symbolizer_free(struct symbolizer *s)
{
	for (size_t i = 0; i < s->codes.cap; i++)
		if (s->codes.keys[i])
			free_code(s->codes.vals[i]);
	for (size_t i = 0; i < s->stacks.cap; i++) {
		struct sym_stack *st = s->stacks.vals[i];

		if (s->stacks.keys[i]) {
			free(st->native);
			free(st->frames);
			free(st);
		}
	}
	u64map_free(&s->codes);
	u64map_free(&s->stacks);
	native_free(&s->native);
}

static void put_utf8(char *out, size_t *n, uint32_t c)
{
	if (c >= 0xdc80 && c <= 0xdcff) {
		out[(*n)++] = c - 0xdc00;	/* surrogateescape: the raw byte */
		return;
	}
	if (c >= 0xd800 && c <= 0xdfff)
		c = 0xfffd;			/* other lone surrogates */
	if (c < 0x80) {
		out[(*n)++] = c;
	} else if (c < 0x800) {
		out[(*n)++] = 0xc0 | (c >> 6);
		out[(*n)++] = 0x80 | (c & 0x3f);
	} else if (c < 0x10000) {
		out[(*n)++] = 0xe0 | (c >> 12);
		out[(*n)++] = 0x80 | ((c >> 6) & 0x3f);
		out[(*n)++] = 0x80 | (c & 0x3f);
	} else {
		out[(*n)++] = 0xf0 | (c >> 18);
		out[(*n)++] = 0x80 | ((c >> 12) & 0x3f);
		out[(*n)++] = 0x80 | ((c >> 6) & 0x3f);
		out[(*n)++] = 0x80 | (c & 0x3f);
	}
}

char *pystr_read(pid_t pid, const struct pyversion *pv, uint64_t addr)
{
	uint8_t hdr[128];
	int64_t length;
	uint32_t state, kind;
	uint64_t data;
	size_t raw, n = 0;
	uint8_t *buf;
	char *out;

	/* the PyASCIIObject part: present in every str, however short */
	if (!addr || pv->str_ascii_data > (int)sizeof(hdr) ||
	    mem_read(pid, addr, hdr, pv->str_ascii_data))
		return NULL;
	memcpy(&length, hdr + pv->str_length, sizeof(length));
	memcpy(&state, hdr + pv->str_state, sizeof(state));
	kind = (state >> pv->str_kind_shift) & 7;
	if (length < 0 || length > MAX_STR)
		return NULL;
	if (pv->str_ready_mask && !(state & pv->str_ready_mask))
		return NULL;		/* 3.8-3.11 wstr-only string: no data yet */
	if (kind != 1 && kind != 2 && kind != 4)
		return NULL;
	if ((state & pv->str_ascii_mask) && kind != 1)
		return NULL;
	if (state & pv->str_compact_mask)
		data = addr + ((state & pv->str_ascii_mask) ? pv->str_ascii_data
							    : pv->str_compact_data);
	else if (mem_read_u64(pid, addr + pv->str_legacy_data, &data) || !data)
		return NULL;		/* a str subclass: characters elsewhere */
	raw = (size_t)length * kind;
	buf = malloc(raw ? raw : 1);
	out = malloc((size_t)length * 4 + 1);
	if (!buf || !out || (raw && mem_read(pid, data, buf, raw))) {
		free(buf);
		free(out);
		return NULL;
	}
	for (int64_t i = 0; i < length; i++) {
		uint32_t c;

		if (kind == 1)
			c = buf[i];
		else if (kind == 2)
			c = ((uint16_t *)buf)[i];
		else
			c = ((uint32_t *)buf)[i];
		if (c > 0x10ffff)
			c = 0xfffd;
		put_utf8(out, &n, c);
	}
	out[n] = 0;
	free(buf);
	return out;
}

/* Where the code object's name is: co_qualname (3.11+), else co_name (0 or -1: none). */
static int name_off(const struct pyversion *pv)
{
	return pv->code_qualname > 0 ? pv->code_qualname : pv->code_name;
}

/* Bytes of a code object read: up to its last field used here. */
static size_t code_len(const struct pyversion *pv)
{
	int m = pv->code_filename;

	if (name_off(pv) > m)
		m = name_off(pv);
	if (pv->code_linetable > m)
		m = pv->code_linetable;
	if (pv->code_firstlineno > m)
		m = pv->code_firstlineno;
	return m + 8;
}

/*
 * What identifies a code object at an address: its type, first line and
 * the pointers to its name, file and line table. Code objects are freed and
 * their addresses reused (quickly with glibc malloc); a cached entry is
 * trusted only while these still match.
 */
static void ident(const struct pyversion *pv, const uint8_t *co, uint8_t *out)
{
	memset(out, 0, 80);
	memcpy(out, co + 8, 8);
	memcpy(out + 8, co + pv->code_firstlineno, 4);
	memcpy(out + 16, co + pv->code_filename, 8);
	memcpy(out + 24, co + pv->code_name, 8);
	memcpy(out + 32, co + name_off(pv), 8);
	memcpy(out + 40, co + pv->code_linetable, 8);
}

static struct code_info *read_code(struct symbolizer *s, uint64_t addr)
{
	const struct target *t = s->t;
	const struct pyversion *pv = t->pv;
	struct code_info *c = calloc(1, sizeof(*c));
	uint8_t co[CODE_MAX];
	uint64_t type, fn, qn, lt;
	int32_t first;
	int64_t ltlen;

	if (!c)
		return NULL;
	c->addr = addr;
	if (code_len(pv) > sizeof(co) || mem_read(t->pid, addr, co, code_len(pv)))
		goto bad;
	memcpy(&type, co + 8, 8);
	ident(pv, co, c->ident);
	if (type != t->pycode_type)
		goto bad;
	memcpy(&fn, co + pv->code_filename, 8);
	memcpy(&qn, co + name_off(pv), 8);
	memcpy(&lt, co + pv->code_linetable, 8);
	memcpy(&first, co + pv->code_firstlineno, 4);
	c->firstlineno = first;
	c->filename = pystr_read(t->pid, pv, fn);
	c->qualname = pystr_read(t->pid, pv, qn);
	if (!c->filename || !c->qualname)
		goto bad;
	if (lt && !mem_read(t->pid, lt + pv->bytes_size, &ltlen, 8) &&
	    ltlen >= 0 && ltlen < MAX_LINETABLE) {
		/* an empty table is a table: 3.8/3.9 code on one line has one */
		c->linetable = malloc(ltlen ? ltlen : 1);
		if (c->linetable &&
		    (!ltlen || !mem_read(t->pid, lt + pv->bytes_sval, c->linetable, ltlen))) {
			c->linetable_len = ltlen;
			c->linetable_ok = true;
		}
	}
	c->ok = 1;
	return c;
bad:
	s->code_reads_failed++;
	c->ok = 0;
	return c;
}

static const struct code_info *code_info(struct symbolizer *s, uint64_t addr)
{
	struct code_info *old = u64map_get(&s->codes, addr), *c;
	const struct pyversion *pv = s->t->pv;
	uint8_t co[CODE_MAX], id[80];

	if (old && old->checked_epoch == s->epoch)
		return old;	/* checked in this batch already */
	if (old) {
		old->checked_epoch = s->epoch;
		/* still the same code object? */
		if (code_len(pv) > sizeof(co) || mem_read(s->t->pid, addr, co, code_len(pv)))
			return old;	/* gone: the cached reading is the best left */
		ident(pv, co, id);
		if (!memcmp(id, old->ident, sizeof(id)))
			return old;
	}
	c = read_code(s, addr);
	if (!c)
		return old;
	if (old && !c->ok) {
		/*
		 * No code object there any more: it died after the stack was
		 * taken, and the cached reading is the right one.
		 */
		free_code(c);
		return old;
	}
	if (old)
		s->code_reused++;
	c->retired = old;	/* stacks symbolized earlier still point at it */
	c->checked_epoch = s->epoch;
	if (u64map_put(&s->codes, addr, c)) {
		c->retired = NULL;
		free_code(c);
		return old;
	}
	return c;
}

static int frame_line(const struct pyversion *pv, const struct code_info *c,
		      uint32_t instr)
{
	if (!c->linetable_ok)
		return -1;
	return linetable_frame_line(pv->linetable, pv->code_adaptive, c->linetable,
				    c->linetable_len, c->firstlineno, instr);
}

const struct sym_stack *symbolize_stack(struct symbolizer *s, uint64_t id,
					const struct pystack *st)
{
	struct sym_stack *ss = u64map_get(&s->stacks, id);
	unsigned int n;

	if (ss)
		return ss;
	ss = calloc(1, sizeof(*ss));
	if (!ss)
		return NULL;
	n = st->nframes > MAX_FRAMES ? MAX_FRAMES : st->nframes;
	ss->id = id;
	ss->flags = st->flags;
	ss->frames = calloc(n ? n : 1, sizeof(*ss->frames));
	if (!ss->frames) {
		free(ss);
		return NULL;
	}
	for (unsigned int i = 0; i < n; i++) {
		/*
		 * The walker untags 3.14's _PyStackRef (code_tag_bits); should a
		 * tagged reference come here anyway, the object is 8-aligned
		 * and instr was taken from the tagged value.
		 */
		uint64_t tag = st->code[i] & 3;
		const struct code_info *c = code_info(s, st->code[i] - tag);

		ss->frames[i].code = c;
		ss->frames[i].line = -1;
		if (!c || !c->ok)
			s->frames_unknown++;
		else
			ss->frames[i].line = frame_line(s->t->pv, c, st->instr[i] + (uint32_t)tag);
	}
	ss->nframes = n;
	if (st->native_ip) {
		char nb[512];

		if (!s->native.pid)
			s->native.pid = s->t->pid;	/* launch mode: known only now */
		ss->native = strdup(native_symbolize(&s->native, st->native_ip, nb, sizeof(nb)));
	}
	if (u64map_put(&s->stacks, id, ss)) {
		free(ss->native);
		free(ss->frames);
		free(ss);
		return NULL;
	}
	return ss;
}

const struct sym_stack *symbolized(const struct symbolizer *s, uint64_t id)
{
	return u64map_get(&s->stacks, id);
}

const char *short_filename(const char *path, char *buf, size_t len)
{
	const char *base = strrchr(path, '/');

	if (!base)
		return path;
	if (!strcmp(base, "/__init__.py") || !strcmp(base, "/__main__.py")) {
		const char *p = base;

		while (p > path && p[-1] != '/')
			p--;
		if (p != base) {
			snprintf(buf, len, "%s", p);
			return buf;
		}
	}
	return base + 1;
}

/* Folded stacks use ';' between frames and a space before the count. */
static void copy_clean(char *dst, size_t len, const char *src)
{
	size_t i;

	for (i = 0; src[i] && i + 1 < len; i++)
		dst[i] = (src[i] == ';' || src[i] == '\n' || src[i] == '\r') ? '_' : src[i];
	dst[i] = 0;
}

char *frame_format(const struct sym_frame *f, int full_path, char *buf, size_t len)
{
	char fb[512], qn[512], tmp[512];
	const char *file;

	if (!f->code || !f->code->ok) {
		snprintf(buf, len, "[unknown]");
		return buf;
	}
	file = full_path ? f->code->filename : short_filename(f->code->filename, tmp, sizeof(tmp));
	copy_clean(fb, sizeof(fb), file);
	copy_clean(qn, sizeof(qn), f->code->qualname);
	if (f->line >= 0)
		snprintf(buf, len, "%s (%s:%d)", qn, fb, f->line);
	else
		snprintf(buf, len, "%s (%s:?)", qn, fb);
	return buf;
}
