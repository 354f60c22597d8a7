// SPDX-License-Identifier: GPL-2.0
/*
 * --sample: the windows in which the hooks are attached. Each period of
 * window_ns / duty holds one window at a random moment: every hook for
 * window_ns, then the free hooks alone for as long again (the tail).
 */
#include <stdlib.h>
#include "fmt.h"
#include "probes.h"
#include "pyleak.skel.h"
#include "session.h"
#include "window.h"

#define BPF_WIN_ALL	1	/* in_window values, as in pyleak.bpf.c */
#define BPF_WIN_FREES	2

/* Place the window of the period starting at from at a random moment. */
void window_schedule(const struct sampling *sm, struct window *w, uint64_t from)
{
	uint64_t period = (uint64_t)(sm->window_ns / sm->duty);
	uint64_t busy = 2 * sm->window_ns;	/* window and tail */
	uint64_t slack = period > busy ? period - busy : 0;

	w->period_start = from;
	w->start = from + (slack ? (((uint64_t)random() << 31) ^ random()) % slack : 0);
	w->end = w->start + sm->window_ns;
}

int window_poll_ms(const struct window *w)
{
	uint64_t now = now_ns(), at = w->state == WIN_CLOSED ? w->start : w->end;
	int64_t ms = at > now ? (int64_t)((at - now) / 1000000) : 0;

	return ms > 100 ? 100 : (int)ms;
}

/* Detach everything still attached; the window is over. */
void window_close(struct session *s, struct window *w, struct probe_plan *pl,
		  struct pyleak_bpf *skel)
{
	if (w->state == WIN_OPEN)
		s->sample.in_window_ns += now_ns() - w->start;
	skel->bss->in_window = 0;
	w->state = WIN_CLOSED;
	probes_detach_hooks(pl);
}

/* Open a window, start its tail, or close it, when its time has come. */
int window_step(struct session *s, struct window *w, struct probe_plan *pl,
		struct pyleak_bpf *skel, struct target *t)
{
	uint64_t now = now_ns();
	char err[512];

	if (w->state == WIN_CLOSED && now >= w->start) {
		w->attach_start = now;
		skel->bss->window_gen++;
		if (probes_attach_hooks(pl, skel, t, err, sizeof(err))) {
			probes_detach_hooks(pl);
			return die("%s", err);
		}
		w->start = now_ns();	/* the window counts from here */
		w->end = w->start + s->sample.window_ns;
		w->state = WIN_OPEN;
		skel->bss->in_window = BPF_WIN_ALL;
	} else if (w->state == WIN_OPEN && now >= w->end) {
		/* stop recording allocations before their hooks go */
		skel->bss->in_window = BPF_WIN_FREES;
		s->sample.in_window_ns += now - w->start;
		s->sample.windows++;
		probes_detach_alloc_hooks(pl);
		w->state = WIN_TAIL;
		w->end = now_ns() + s->sample.window_ns;
	} else if (w->state == WIN_TAIL && now >= w->end) {
		/*
		 * Hooks trap from the first attach to the last detach, not just
		 * in the window: the duty applies to all of it (attaching the
		 * return probes alone takes about 15 ms here).
		 */
		uint64_t busy = now_ns() - w->attach_start;
		uint64_t period = (uint64_t)(s->sample.window_ns / s->sample.duty);

		if (busy / s->sample.duty > period)
			period = (uint64_t)(busy / s->sample.duty);
		window_close(s, w, pl, skel);
		window_schedule(&s->sample, w, w->period_start + period);
	}
	return 0;
}
