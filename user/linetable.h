/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Line numbers from CPython line tables: pure decoders of the three formats
 * (3.8/3.9 co_lnotab, 3.10 co_linetable, 3.11+ location table) and the step
 * from what the stack walker records for a frame to the decoder's target.
 */
#ifndef LINETABLE_H
#define LINETABLE_H

#include <stddef.h>
#include <stdint.h>
#include "pyversions.h"

/*
 * Line of the instruction at byte offset `offset` from a 3.8/3.9 co_lnotab
 * (what PyCode_Addr2Line gives: co_firstlineno for offset < 0, the last
 * line for an offset past the end).
 */
int lnotab38_line(const uint8_t *tab, size_t len, int firstlineno, int offset);

/*
 * Line of the instruction at byte offset `offset` from a 3.10 (PEP 626)
 * co_linetable; co_firstlineno for offset < 0, -1 for a range without a
 * line or past the end.
 */
int linetable310_line(const uint8_t *tab, size_t len, int firstlineno, int offset);

/*
 * Line of the instruction at code unit `index` from a 3.11+ location
 * table; co_firstlineno for index < 0, -1 if the table gives no line.
 */
int linetable311_line(const uint8_t *tab, size_t len, int firstlineno, int index);

/*
 * Line of a frame whose walker recorded `instr` (struct pystack.instr):
 * f_lasti in bytes (3.8/3.9) or in code units (3.10), both -1 before the
 * first instruction; 3.11+ the instruction pointer minus the code object's
 * address, which points at the instruction being executed (3.11/3.12: one
 * unit before the first instruction in a frame not started yet).
 */
int linetable_frame_line(enum linetable_kind kind, int code_adaptive,
			 const uint8_t *tab, size_t len, int firstlineno,
			 uint32_t instr);

#endif
