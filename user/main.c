// SPDX-License-Identifier: GPL-2.0
/*
 * pyleakbpf: which Python code holds the memory that is never freed?
 *
 *   parse the command line (cli.c) -> run (run.c): find the interpreter
 *   (target.c) -> plan hooks (probes.c) -> load BPF, attach -> symbolize
 *   new stacks as they appear (symbolize.c) -> report at intervals, at -d,
 *   at Ctrl-C or when the target exits (report.c and its stages).
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include "cli.h"
#include "fmt.h"
#include "run.h"

int main(int argc, char **argv)
{
	struct options o = {
		.max_stacks = 16384,
		.rep = { .top = 10, .out = stdout },
	};
	int ret;

	if (argc < 2) {
		cli_usage(stderr);
		return 1;
	}
	if (cli_parse(argc, argv, &o))
		return 1;
	run_log_init(o.verbose);
	if (o.outfile) {
		o.rep.out = fopen(o.outfile, "w");
		if (!o.rep.out)
			return die("cannot write %s: %s", o.outfile, strerror(errno));
	}
	run_signals_init();
	ret = run(&o);
	if (o.outfile)
		fclose(o.rep.out);
	return ret;
}
