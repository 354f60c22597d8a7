/* SPDX-License-Identifier: GPL-2.0 */
#ifndef SYMBOLIZE_H
#define SYMBOLIZE_H

#include <stddef.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include "native.h"
#include "u64map.h"

struct target;
struct pyversion;
struct pystack;

/* A code object read from the target, cached by address. */
struct code_info {
	uint64_t addr;
	int ok;				/* 0: could not be read: [unknown] */
	uint8_t ident[80];		/* raw fields it was read from (see code_info) */
	struct code_info *retired;	/* older object at the same address */
	uint64_t checked_epoch;		/* last batch in which ident was re-checked */
	char *qualname;
	char *filename;
	int firstlineno;
	uint8_t *linetable;
	size_t linetable_len;
	bool linetable_ok;		/* read, even if empty (3.8/3.9: one line) */
};

struct sym_frame {
	const struct code_info *code;
	int line;			/* -1: no line */
};

/* A stack as symbolized when it was first seen. */
struct sym_stack {
	uint64_t id;
	uint16_t nframes, flags;
	struct sym_frame *frames;	/* innermost first */
	char *native;			/* native caller ("lib.so!symbol"), below frames[0] */
};

struct symbolizer {
	const struct target *t;
	struct u64map codes;		/* code address -> struct code_info */
	struct u64map stacks;		/* stack id -> struct sym_stack */
	uint64_t frames_unknown;	/* frames that printed as [unknown] */
	uint64_t code_reused;		/* code object addresses seen reused */
	uint64_t epoch;			/* bumped per batch of new stacks */
	uint64_t code_reads_failed;
	struct native_syms native;	/* native leaf frames */
};

void symbolizer_init(struct symbolizer *s, const struct target *t);
void symbolizer_free(struct symbolizer *s);
/* Symbolize a raw stack now (once per id) and keep the result. */
const struct sym_stack *symbolize_stack(struct symbolizer *s, uint64_t id,
					const struct pystack *st);
const struct sym_stack *symbolized(const struct symbolizer *s, uint64_t id);

/*
 * The str object at addr in process pid as a NUL-terminated UTF-8 string
 * (malloc'd), or NULL when it cannot be read or is longer than 4096 code
 * points. Every offset and state bit comes from the version row; lone
 * surrogates from surrogateescape become their raw byte again (as
 * os.fsencode does), other lone surrogates U+FFFD.
 */
char *pystr_read(pid_t pid, const struct pyversion *pv, uint64_t addr);

/* "qualname (file.py:LINE)", written to buf; returns buf. */
char *frame_format(const struct sym_frame *f, int full_path, char *buf, size_t len);
/* The short file name shown in frames: base name, or dir/base for __init__.py. */
const char *short_filename(const char *path, char *buf, size_t len);

#endif
