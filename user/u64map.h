/* SPDX-License-Identifier: GPL-2.0 */
/* A small open-addressing hash table from u64 keys to pointers. */
#ifndef U64MAP_H
#define U64MAP_H

#include <stdint.h>
#include <stdlib.h>

struct u64map {
	uint64_t *keys;
	void **vals;
	size_t cap, len;	/* cap is a power of two; key 0 is "empty" */
};

static inline size_t u64map_slot(uint64_t k, size_t cap)
{
	k ^= k >> 33;
	k *= 0xff51afd7ed558ccdULL;
	k ^= k >> 33;
	return k & (cap - 1);
}

static inline void *u64map_get(const struct u64map *m, uint64_t k)
{
	if (!m->cap || !k)
		return NULL;
	for (size_t i = u64map_slot(k, m->cap);; i = (i + 1) & (m->cap - 1)) {
		if (m->keys[i] == k)
			return m->vals[i];
		if (!m->keys[i])
			return NULL;
	}
}

static inline int u64map_put(struct u64map *m, uint64_t k, void *v)
{
	size_t i;

	if (!k)
		return -1;
	if ((m->len + 1) * 2 > m->cap) {
		struct u64map n = { .cap = m->cap ? m->cap * 2 : 1024 };

		n.keys = calloc(n.cap, sizeof(*n.keys));
		n.vals = calloc(n.cap, sizeof(*n.vals));
		if (!n.keys || !n.vals) {
			free(n.keys);
			free(n.vals);
			return -1;
		}
		for (size_t j = 0; j < m->cap; j++)
			if (m->keys[j])
				u64map_put(&n, m->keys[j], m->vals[j]);
		free(m->keys);
		free(m->vals);
		*m = n;
	}
	for (i = u64map_slot(k, m->cap); m->keys[i] && m->keys[i] != k;
	     i = (i + 1) & (m->cap - 1))
		;
	if (!m->keys[i])
		m->len++;
	m->keys[i] = k;
	m->vals[i] = v;
	return 0;
}

static inline void u64map_free(struct u64map *m)
{
	free(m->keys);
	free(m->vals);
	m->keys = NULL;
	m->vals = NULL;
	m->cap = m->len = 0;
}

#endif
