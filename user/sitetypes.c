// SPDX-License-Identifier: GPL-2.0
/*
 * The types stage of a report: the type of the object in each outstanding
 * block, read from the target (objtypes.c), counted per site (its dominant
 * types) and for the whole process (a table by type, with growth since the
 * previous report).
 */
#include <stdlib.h>
#include "objtypes.h"
#include "session.h"
#include "sitetypes.h"
#include "snapshot.h"
#include "target.h"

static int cmp_type_count(const void *a, const void *b)
{
	const struct type_count *x = a, *y = b;

	if (x->bytes != y->bytes)
		return x->bytes < y->bytes ? 1 : -1;
	return x->type < y->type ? -1 : x->type > y->type;
}

static int cmp_type_row(const void *a, const void *b)
{
	const struct type_row *x = a, *y = b;

	if (x->count != y->count)
		return x->count < y->count ? 1 : -1;
	return x->type < y->type ? -1 : x->type > y->type;
}

/* Keep the SITE_TYPES largest types of a site. */
static void site_type_add(struct site *si, uint32_t type, uint64_t count, uint64_t bytes)
{
	struct type_count tc = { type, count, bytes };

	si->typed += count;
	if (si->ntypes < SITE_TYPES) {
		si->types[si->ntypes++] = tc;
	} else if (bytes > si->types[SITE_TYPES - 1].bytes) {
		si->types[SITE_TYPES - 1] = tc;
	} else {
		return;
	}
	qsort(si->types, si->ntypes, sizeof(si->types[0]), cmp_type_count);
}

/*
 * Object types of the outstanding blocks, read from the target: per site,
 * the dominant types; for the process, a table by type with growth.
 */
void sitetypes_read(struct session *s, struct snapshot *snap, struct blocks *bl)
{
	enum { CHUNK = 65536 };
	struct ot_block *ob;
	uint32_t *out, ntypes;
	uint64_t *tc, *tb;

	if (!s->types)
		s->types = objtypes_new(s->t->pid, s->t->pv);
	if (!s->types || !bl->n)
		return;
	ob = malloc(CHUNK * sizeof(*ob));
	out = malloc(CHUNK * sizeof(*out));
	for (size_t i = 0; ob && out && i < bl->n; i += CHUNK) {
		size_t n = bl->n - i < CHUNK ? bl->n - i : CHUNK;

		for (size_t j = 0; j < n; j++)
			ob[j] = (struct ot_block){ bl->b[i + j].addr, bl->b[i + j].size,
						   bl->b[i + j].is_object };
		if (objtypes_classify(s->types, ob, n, out)) {
			free(ob);
			free(out);
			return;
		}
		for (size_t j = 0; j < n; j++)
			bl->b[i + j].type = out[j];
	}
	free(ob);
	free(out);
	snap->types_read = true;

	/* per site and type: counted through a hash, no sort of the blocks */
	ntypes = objtypes_count(s->types);
	tc = calloc(ntypes, sizeof(*tc));
	tb = calloc(ntypes, sizeof(*tb));
	if (!tc || !tb)
		goto out;
	{
		struct pair {
			uint32_t site, type;
			uint64_t count, bytes;
		} *acc = NULL;
		struct u64map idx = { 0 };
		size_t nacc = 0, cap = 0;

		for (size_t i = 0; i < bl->n; i++) {
			const struct block *b = &bl->b[i];
			uint64_t k = ((uint64_t)b->site << 32 | b->type) + 1;
			uintptr_t j = (uintptr_t)u64map_get(&idx, k);

			if (!j) {
				if (nacc == cap) {
					struct pair *na;

					cap = cap ? 2 * cap : 4096;
					na = realloc(acc, cap * sizeof(*acc));
					if (!na)
						break;
					acc = na;
				}
				acc[nacc] = (struct pair){ b->site, b->type, 0, 0 };
				j = ++nacc;
				if (u64map_put(&idx, k, (void *)j))
					break;
			}
			acc[j - 1].count++;
			acc[j - 1].bytes += b->size;
			if (b->type < ntypes) {
				tc[b->type]++;
				tb[b->type] += b->size;
			}
		}
		for (size_t j = 0; j < nacc; j++)
			site_type_add(&snap->sites[acc[j].site], acc[j].type, acc[j].count,
				      acc[j].bytes);
		free(acc);
		u64map_free(&idx);
	}
	snap->types = calloc(ntypes, sizeof(*snap->types));
	for (uint32_t t = 0; snap->types && t < ntypes; t++) {
		int64_t prev = t < s->ntype_prev ? (int64_t)s->type_prev[t] : 0;

		if (t == OT_NOT_OBJECT)
			snap->not_objects = tc[t];
		else if (t == OT_UNREADABLE)
			snap->unreadable = tc[t];
		else
			snap->typed += tc[t];
		if (t < OT_FIRST_TYPE || (!tc[t] && !prev))
			continue;
		snap->types[snap->ntypes++] = (struct type_row){ t, tc[t], tb[t], (int64_t)tc[t] - prev };
	}
	if (snap->types)
		qsort(snap->types, snap->ntypes, sizeof(*snap->types), cmp_type_row);
	/* remember this report's counts for the next one's growth */
	free(s->type_prev);
	s->type_prev = tc;
	s->ntype_prev = ntypes;
	tc = NULL;
out:
	free(tc);
	free(tb);
}

const char *type_name(const struct session *s, uint32_t t)
{
	return s->types ? objtypes_name(s->types, t) : "?";
}
