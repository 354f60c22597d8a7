// SPDX-License-Identifier: GPL-2.0
/*
 * pprof output: a gzipped profile.proto (github.com/google/pprof,
 * proto/profile.proto), as read by `go tool pprof`, Pyroscope and Parca.
 *
 * The protobuf is written by hand: the format needs only varints and
 * length-delimited fields, less code than a library's glue would be.
 * Frames come symbolized, so there are no addresses: a Location is a
 * (function, line) pair and a Function a (name, file) pair. Both are
 * deduplicated, as are the strings, so a profile stays about as small as
 * its distinct frames however many stacks share them.
 *
 * Function.system_name stays unset: go tool pprof "demangles" a name equal
 * to it, and takes "<module>" for a C++ template argument list to drop.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>
#include "profile.h"

/* Field numbers, from profile.proto. */
enum {
	PROFILE_SAMPLE_TYPE = 1,
	PROFILE_SAMPLE = 2,
	PROFILE_MAPPING = 3,
	PROFILE_LOCATION = 4,
	PROFILE_FUNCTION = 5,
	PROFILE_STRING_TABLE = 6,
	PROFILE_TIME_NANOS = 9,
	PROFILE_DURATION_NANOS = 10,
	PROFILE_PERIOD_TYPE = 11,
	PROFILE_PERIOD = 12,
	PROFILE_COMMENT = 13,
	PROFILE_DEFAULT_SAMPLE_TYPE = 14,
};
enum { VALUE_TYPE_TYPE = 1, VALUE_TYPE_UNIT = 2 };
enum { SAMPLE_LOCATION_ID = 1, SAMPLE_VALUE = 2 };
enum {
	MAPPING_ID = 1,
	MAPPING_FILENAME = 5,
	MAPPING_HAS_FUNCTIONS = 7,
	MAPPING_HAS_FILENAMES = 8,
	MAPPING_HAS_LINE_NUMBERS = 9,
};
enum { LOCATION_ID = 1, LOCATION_MAPPING_ID = 2, LOCATION_LINE = 4 };
enum { LINE_FUNCTION_ID = 1, LINE_LINE = 2 };
enum { FUNCTION_ID = 1, FUNCTION_NAME = 2, FUNCTION_FILENAME = 4 };
enum { WIRE_VARINT = 0, WIRE_LEN = 2 };

/* Sample values, in the order of enum prof_value. */
static const struct {
	const char *type, *unit;
} sample_types[] = {
	[PV_INUSE_BYTES] = { "inuse_space", "bytes" },
	[PV_INUSE_COUNT] = { "inuse_objects", "count" },
	[PV_ALLOC_BYTES] = { "alloc_space", "bytes" },
	[PV_ALLOC_COUNT] = { "alloc_objects", "count" },
};
#define NVALUES	(sizeof(sample_types) / sizeof(sample_types[0]))

struct pbuf {
	uint8_t *b;
	size_t len, cap;
	bool oom;		/* sticky: later writes do nothing */
};

static bool pb_reserve(struct pbuf *pb, size_t n)
{
	size_t cap = pb->cap ? pb->cap : 4096;
	uint8_t *b;

	if (pb->oom)
		return false;
	if (pb->len + n <= pb->cap)
		return true;
	while (cap < pb->len + n)
		cap *= 2;
	b = realloc(pb->b, cap);
	if (!b) {
		pb->oom = true;
		return false;
	}
	pb->b = b;
	pb->cap = cap;
	return true;
}

static size_t put_varint(uint8_t *p, uint64_t v)
{
	size_t n = 0;

	for (; v >= 0x80; v >>= 7)
		p[n++] = (uint8_t)v | 0x80;
	p[n++] = v;
	return n;
}

static void pb_varint(struct pbuf *pb, uint64_t v)
{
	if (pb_reserve(pb, 10))
		pb->len += put_varint(pb->b + pb->len, v);
}

static void pb_tag(struct pbuf *pb, int field, int wire)
{
	pb_varint(pb, (uint64_t)field << 3 | wire);
}

/* A varint field; 0 is every field's default and is left out. */
static void pb_int(struct pbuf *pb, int field, uint64_t v)
{
	if (!v)
		return;
	pb_tag(pb, field, WIRE_VARINT);
	pb_varint(pb, v);
}

static void pb_string(struct pbuf *pb, int field, const char *s)
{
	size_t n = strlen(s);

	pb_tag(pb, field, WIRE_LEN);
	pb_varint(pb, n);
	if (pb_reserve(pb, n)) {
		memcpy(pb->b + pb->len, s, n);
		pb->len += n;
	}
}

/*
 * A nested message or packed field. Its length goes in front once it is
 * known, so messages nest in one buffer; the data moved is one message.
 */
static size_t pb_open(struct pbuf *pb, int field)
{
	pb_tag(pb, field, WIRE_LEN);
	return pb->len;
}

static void pb_close(struct pbuf *pb, size_t start)
{
	size_t n = pb->len - start;
	uint8_t len[10];
	size_t k = put_varint(len, n);

	if (!pb_reserve(pb, k))
		return;
	memmove(pb->b + start + k, pb->b + start, n);
	memcpy(pb->b + start, len, k);
	pb->len += k;
}

/*
 * An insertion-ordered set, each item's id its position + 1 (pprof ids
 * must not be 0). Items are strings keyed by their hash, or pairs of
 * 32-bit ids packed in the key itself (s NULL).
 */
struct table {
	struct item {
		const char *s;
		uint64_t key;
	} *items;
	size_t n;
	uint32_t *slots;	/* open addressing: ids, 0 for empty */
	size_t nslots;		/* a power of two, at least twice n */
};

static uint64_t mix(uint64_t x)		/* splitmix64's finalizer */
{
	x = (x ^ x >> 30) * 0xbf58476d1ce4e5b9ULL;
	x = (x ^ x >> 27) * 0x94d049bb133111ebULL;
	return x ^ x >> 31;
}

static uint32_t *table_slot(const struct table *t, const char *s, uint64_t key)
{
	size_t mask = t->nslots - 1;

	for (size_t i = mix(key) & mask;; i = (i + 1) & mask) {
		uint32_t id = t->slots[i];

		if (!id)
			return &t->slots[i];
		if (t->items[id - 1].key == key && (!s || !strcmp(t->items[id - 1].s, s)))
			return &t->slots[i];
	}
}

static bool table_grow(struct table *t)
{
	size_t nslots = t->nslots ? t->nslots * 2 : 256;
	uint32_t *slots = calloc(nslots, sizeof(*slots));
	struct item *items = slots ? realloc(t->items, nslots / 2 * sizeof(*items)) : NULL;

	if (!items) {
		free(slots);
		return false;
	}
	free(t->slots);
	t->items = items;
	t->slots = slots;
	t->nslots = nslots;
	for (size_t i = 0; i < t->n; i++)
		*table_slot(t, items[i].s, items[i].key) = i + 1;
	return true;
}

/* The id of (s, key), added if new; 0 when out of memory. */
static uint32_t table_id(struct table *t, const char *s, uint64_t key)
{
	uint32_t *slot;

	if ((t->n + 1) * 2 > t->nslots && !table_grow(t))
		return 0;
	slot = table_slot(t, s, key);
	if (!*slot) {
		t->items[t->n++] = (struct item){ s, key };
		*slot = t->n;
	}
	return *slot;
}

static void table_free(struct table *t)
{
	free(t->items);
	free(t->slots);
}

struct enc {
	struct pbuf pb;
	struct table strs, funcs, locs;
	bool oom;
};

static uint64_t fnv1a(const char *s)
{
	uint64_t h = 0xcbf29ce484222325ULL;

	for (; *s; s++)
		h = (h ^ (uint8_t)*s) * 0x100000001b3ULL;
	return h;
}

static uint32_t id_of(struct enc *e, struct table *t, const char *s, uint64_t key)
{
	uint32_t id = table_id(t, s, key);

	if (!id)
		e->oom = true;
	return id;
}

/* A string's index in string_table: the first string, "", is 0. */
static uint64_t str(struct enc *e, const char *s)
{
	uint32_t id;

	if (!s)
		s = "";
	id = id_of(e, &e->strs, s, fnv1a(s));
	return id ? id - 1 : 0;
}

static uint64_t pair(uint64_t a, uint64_t b)
{
	return a << 32 | b;
}

/* Native frames get line 0: their file is the library, not a source. */
static uint64_t location_id(struct enc *e, const struct prof_frame *f)
{
	uint64_t name = str(e, f->func ? f->func : "[unknown]");
	uint64_t fn = id_of(e, &e->funcs, NULL, pair(name, str(e, f->file)));
	uint32_t line = f->native || f->line < 0 ? 0 : f->line;

	return id_of(e, &e->locs, NULL, pair(fn, line));
}

static void value_type(struct enc *e, int field, const char *type, const char *unit)
{
	size_t m = pb_open(&e->pb, field);

	pb_int(&e->pb, VALUE_TYPE_TYPE, str(e, type));
	pb_int(&e->pb, VALUE_TYPE_UNIT, str(e, unit));
	pb_close(&e->pb, m);
}

/*
 * go tool pprof leaves samples without locations out of its reports, so a
 * stack with no frames gets one, named as in the folded output.
 */
static void stackless(struct enc *e, const struct prof_sample *s)
{
	struct prof_frame f = {
		.func = s->folded && *s->folded ? s->folded : "[unknown]",
		.file = "",
	};

	pb_varint(&e->pb, location_id(e, &f));
}

/* Locations leaf first, as pprof wants them; samples all 0 are left out. */
static void sample(struct enc *e, const struct prof_sample *s)
{
	int64_t v[NVALUES];
	bool any = false;
	size_t m, packed;

	for (size_t i = 0; i < NVALUES; i++) {
		v[i] = prof_value(s, i);
		any |= v[i] != 0;
	}
	if (!any)
		return;
	m = pb_open(&e->pb, PROFILE_SAMPLE);
	packed = pb_open(&e->pb, SAMPLE_LOCATION_ID);
	for (int i = 0; i < s->nframes; i++)
		pb_varint(&e->pb, location_id(e, &s->frames[i]));
	if (!s->nframes)
		stackless(e, s);
	pb_close(&e->pb, packed);
	packed = pb_open(&e->pb, SAMPLE_VALUE);
	for (size_t i = 0; i < NVALUES; i++)
		pb_varint(&e->pb, v[i]);
	pb_close(&e->pb, packed);
	pb_close(&e->pb, m);
}

/*
 * go tool pprof gives a profile without mappings a blank one of its own,
 * then complains that it cannot symbolize it; one that says its
 * functions, files and lines are known is left alone.
 */
static void mapping(struct enc *e, const char *comm)
{
	size_t m = pb_open(&e->pb, PROFILE_MAPPING);

	pb_int(&e->pb, MAPPING_ID, 1);
	pb_int(&e->pb, MAPPING_FILENAME, str(e, comm));
	pb_int(&e->pb, MAPPING_HAS_FUNCTIONS, 1);
	pb_int(&e->pb, MAPPING_HAS_FILENAMES, 1);
	pb_int(&e->pb, MAPPING_HAS_LINE_NUMBERS, 1);
	pb_close(&e->pb, m);
}

static void locations(struct enc *e)
{
	for (size_t i = 0; i < e->locs.n; i++) {
		uint64_t key = e->locs.items[i].key;
		size_t m = pb_open(&e->pb, PROFILE_LOCATION), line;

		pb_int(&e->pb, LOCATION_ID, i + 1);
		pb_int(&e->pb, LOCATION_MAPPING_ID, 1);
		line = pb_open(&e->pb, LOCATION_LINE);
		pb_int(&e->pb, LINE_FUNCTION_ID, key >> 32);
		pb_int(&e->pb, LINE_LINE, (uint32_t)key);
		pb_close(&e->pb, line);
		pb_close(&e->pb, m);
	}
}

static void functions(struct enc *e)
{
	for (size_t i = 0; i < e->funcs.n; i++) {
		uint64_t key = e->funcs.items[i].key;
		size_t m = pb_open(&e->pb, PROFILE_FUNCTION);

		pb_int(&e->pb, FUNCTION_ID, i + 1);
		pb_int(&e->pb, FUNCTION_NAME, key >> 32);
		pb_int(&e->pb, FUNCTION_FILENAME, (uint32_t)key);
		pb_close(&e->pb, m);
	}
}

/*
 * The whole Profile message into e->pb. Strings are interned as they are
 * met, so the string table goes last; field order does not matter.
 */
static int encode(struct enc *e, const struct profile *p)
{
	char comment[256];

	str(e, "");
	for (size_t i = 0; i < NVALUES; i++)
		value_type(e, PROFILE_SAMPLE_TYPE, sample_types[i].type, sample_types[i].unit);
	for (size_t i = 0; i < p->n; i++)
		sample(e, &p->samples[i]);
	mapping(e, p->comm);
	locations(e);
	functions(e);
	pb_int(&e->pb, PROFILE_TIME_NANOS, p->start_unix_ns);
	pb_int(&e->pb, PROFILE_DURATION_NANOS, p->duration_ns);
	/* Every allocation is traced: values are exact, not to be scaled. */
	value_type(e, PROFILE_PERIOD_TYPE, "space", "bytes");
	pb_int(&e->pb, PROFILE_PERIOD, 1);
	snprintf(comment, sizeof(comment), "pyleakbpf PID %d (%s), CPython %s",
		 p->pid, p->comm ? p->comm : "?", p->python ? p->python : "?");
	pb_int(&e->pb, PROFILE_COMMENT, str(e, comment));
	pb_int(&e->pb, PROFILE_DEFAULT_SAMPLE_TYPE, str(e, sample_types[PV_INUSE_BYTES].type));
	for (size_t i = 0; i < e->strs.n; i++)
		pb_string(&e->pb, PROFILE_STRING_TABLE, e->strs.items[i].s);
	return e->oom || e->pb.oom ? -ENOMEM : 0;
}

/* gzwrite() takes an int's worth at a time. */
static int write_gz(const char *path, const uint8_t *buf, size_t len)
{
	const size_t chunk = 1 << 20;
	int err = 0;
	gzFile f;

	errno = 0;
	f = gzopen(path, "wb");
	if (!f)
		return errno ? -errno : -ENOMEM;
	errno = 0;
	for (size_t off = 0, n; off < len && !err; off += n) {
		n = len - off < chunk ? len - off : chunk;
		if (gzwrite(f, buf + off, n) != (int)n)
			err = errno ? -errno : -EIO;
	}
	if (gzclose(f) != Z_OK && !err)
		err = errno ? -errno : -EIO;
	return err;
}

int pprof_write(const struct profile *p, const char *path)
{
	struct enc e = { 0 };
	int err = encode(&e, p);

	if (!err)
		err = write_gz(path, e.pb.b, e.pb.len);
	free(e.pb.b);
	table_free(&e.strs);
	table_free(&e.funcs);
	table_free(&e.locs);
	return err;
}
