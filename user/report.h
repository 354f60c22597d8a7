/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Reports, as the run loop sees them: write one, feed it the ring buffer's
 * events, keep the stack map from filling, show the live status line.
 */
#ifndef REPORT_H
#define REPORT_H

#include <stddef.h>
#include <stdio.h>
#include "session.h"

/*
 * When the stack map is more than 3/4 full, drop stacks that hold nothing
 * outstanding and were idle since the previous sweep (their totals are
 * kept), so stacks seen once (start-up imports) do not crowd out new ones.
 */
void report_recycle_stacks(struct session *s, long max_stacks);

/* The live status line on a terminal, and its erasure before a report. */
void report_status(struct session *s, FILE *tty);
void report_status_clear(FILE *tty);

/* Read the maps and write one report; reason says why it is written. */
int report_write(struct session *s, const struct report_opts *o, const char *reason);

/* Ring buffer events: new stacks are symbolized, GC pauses recorded. */
int report_on_event(void *ctx, void *data, size_t len);
void report_free(struct session *s);

#endif
