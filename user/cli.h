/* SPDX-License-Identifier: GPL-2.0 */
/* The command line: its options, parsed, and the usage text. */
#ifndef CLI_H
#define CLI_H

#include <stdbool.h>
#include <stdio.h>
#include <sys/types.h>
#include "session.h"

struct options {
	pid_t pid;
	char **cmd;			/* launch mode: the command after "--" */
	bool malloc_mode;		/* launch with PYTHONMALLOC=malloc */
	bool explain;			/* print the probe plan and stop */
	double duration;
	double interval;
	int count;
	long max_allocs;		/* 0: as many as the budget leaves */
	long max_stacks;
	double map_budget_mib;
	bool verbose;
	double sample_pct;		/* --sample: % of wall time with hooks attached */
	double window_ms;		/* --window */
	const char *outfile;
	struct report_opts rep;
};

/* Fill o (defaults set by the caller); 0, or 1 after an error line. */
int cli_parse(int argc, char **argv, struct options *o);
void cli_usage(FILE *f);

#endif
