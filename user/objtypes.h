/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Object types of outstanding blocks, read from the target at report time.
 * A block recorded by an allocator hook may hold a Python object after a
 * pre-header (GC head, managed-dict pointers); the type found there is
 * validated before it is trusted, and blocks that do not hold an object
 * are classified as such.
 */
#ifndef OBJTYPES_H
#define OBJTYPES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct pyversion;

/* Type indexes returned by objtypes_classify(). */
#define OT_NOT_OBJECT	0	/* the block holds no valid Python object */
#define OT_UNREADABLE	1	/* the block could not be read (freed, unmapped) */
#define OT_FIRST_TYPE	2

/* One block to classify. */
struct ot_block {
	uint64_t addr;
	uint64_t size;
	bool is_object;		/* addr is a PyObject * (tp_alloc slot), not a raw block */
};

struct objtypes;

struct objtypes *objtypes_new(pid_t pid, const struct pyversion *pv);
void objtypes_free(struct objtypes *ot);
/*
 * Classify n blocks: out[i] is OT_NOT_OBJECT, OT_UNREADABLE or a type index
 * (>= OT_FIRST_TYPE, stable for the life of ot). 0 or -errno.
 */
int objtypes_classify(struct objtypes *ot, const struct ot_block *b, size_t n, uint32_t *out);
/* "Connection", "dict", ...; for the two special indexes a bracketed label. */
const char *objtypes_name(const struct objtypes *ot, uint32_t idx);
/* Number of type indexes handed out so far (including the two special ones). */
uint32_t objtypes_count(const struct objtypes *ot);

#endif
