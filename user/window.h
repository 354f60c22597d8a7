/* SPDX-License-Identifier: GPL-2.0 */
/* --sample: the attach windows of the allocator hooks. */
#ifndef WINDOW_H
#define WINDOW_H

#include <stdint.h>

struct session;
struct sampling;
struct probe_plan;
struct pyleak_bpf;
struct target;

/*
 * --sample: a window has every hook attached for window_ns, then only the
 * free hooks for as long again (the tail), so the blocks it saw allocated
 * that die soon are seen dying; then nothing until the next period.
 */
enum win_state { WIN_CLOSED, WIN_OPEN, WIN_TAIL };

struct window {
	enum win_state state;
	uint64_t period_start;		/* the current period of window_ns / duty */
	uint64_t start, end;		/* the window in it */
	uint64_t attach_start;		/* when the hooks began to go in */
};

/* Place the window of the period starting at from at a random moment. */
void window_schedule(const struct sampling *sm, struct window *w, uint64_t from);
/* How long to poll before the window's next step (at most 100 ms). */
int window_poll_ms(const struct window *w);
/* Detach everything still attached; the window is over. */
void window_close(struct session *s, struct window *w, struct probe_plan *pl,
		  struct pyleak_bpf *skel);
/* Open a window, start its tail, or close it, when its time has come. */
int window_step(struct session *s, struct window *w, struct probe_plan *pl,
		struct pyleak_bpf *skel, struct target *t);

#endif
