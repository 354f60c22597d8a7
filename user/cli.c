// SPDX-License-Identifier: GPL-2.0
/*
 * The command line: usage, the option table and its parsing into struct
 * options, with the checks that options go together and the map sizes
 * fit the kernel memory budget.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cli.h"
#include "fmt.h"
#include "pyversions.h"

void cli_usage(FILE *f)
{
	fprintf(f,
"Usage: pyleakbpf -p PID [options] [interval [count]]\n"
"       pyleakbpf [options] [interval [count]] -- python3 app.py [args]\n"
"Report the allocations of a running CPython process that are still\n"
"outstanding, by Python stack (innermost frame first).\n\n"
"  -p, --pid PID         process to trace\n"
"  -- COMMAND...         launch COMMAND (wrapper scripts and env are followed to\n"
"                        the CPython they exec) with probes attached before its\n"
"                        first Python line; signals sent to pyleakbpf reach it\n"
"                        after the report; its exit status becomes ours\n"
"      --malloc          (launch mode) run it with PYTHONMALLOC=malloc and hook\n"
"                        libc's malloc: complete coverage on LTO builds\n"
"  -d, --duration SECS   stop after SECS seconds and report\n"
"  interval [count]      report every interval seconds, count times\n"
"  -t, --top N           sites in the text report (default 10)\n"
"  -f, --folded          folded stacks (flamegraph.pl input), bytes per stack\n"
"      --count           --folded/--svg: objects per stack instead of bytes\n"
"      --json            one JSON document per report (sites, frames, types,\n"
"                        coverage, hooks, counters)\n"
"      --svg FILE        also write an interactive SVG flame graph to FILE\n"
"      --pprof FILE      also write a gzipped pprof profile to FILE (inuse/alloc\n"
"                        space/objects; go tool pprof, Pyroscope, Parca)\n"
"      --suspects        rank sites by steady growth across reports (leak\n"
"                        suspects; needs an interval, e.g. --suspects 10)\n"
"      --no-types        do not read the type of each outstanding object\n"
"      --gc              GC pauses per generation (count, p50/p99/max, collected)\n"
"      --cycles          rank sites by bytes the cyclic GC freed (reference\n"
"                        cycles); with --folded, stacks weighted by those bytes\n"
"  -o, --output FILE     write reports to FILE instead of stdout\n"
"      --older SECS      only blocks older than SECS count as outstanding\n"
"      --explain         print the probe plan (hooks, why, GC source) and exit\n"
"      --full-path       full file names in frames\n"
"      --max-stacks N    distinct stacks kept (default 16384; each up to\n"
"                        1.7 KiB of kernel memory)\n"
"      --max-allocs N    live blocks tracked (112 bytes each; default: as many\n"
"                        as the map budget leaves: 274,432 at 64 MiB)\n"
"      --map-budget MIB  kernel memory all maps may take at most (default 64)\n"
"      --sample PCT      low overhead: attach the allocator hooks only PCT%% of\n"
"                        the time, in short windows at random moments, and\n"
"                        scale what they saw (estimates with error bounds)\n"
"      --window MS       --sample window length (default 20 ms)\n"
"  -v, --verbose         libbpf messages\n"
"  -h, --help            this help\n"
"Reports are written at Ctrl-C/SIGTERM, at -d, every interval, and when the\n"
"target exits. Launch mode: the signal then goes on to COMMAND, and after -d\n"
"pyleakbpf detaches and waits for COMMAND, forwarding signals to it.\n"
"Supported CPython versions: %s.\n", pyversion_supported());
}

static int parse_num(const char *s, double *v, double min)
{
	char *end;

	errno = 0;
	*v = strtod(s, &end);
	return errno || end == s || *end || *v < min ? -1 : 0;
}

/*
 * Worst-case kernel memory, as bpftool reports it (memlock): a live block
 * takes 112 bytes plus 8 per hash bucket (a power of two); a stack 1.6 KiB
 * at most (its map fills on demand) plus 136 for its aggregates; the rest
 * (in-flight calls, ring buffer, ...) about 3 MiB.
 */
#define STACK_BYTES	(1616 + 136)
#define FIXED_BYTES	(3 * 1024 * 1024)

static double allocs_bytes(long n)
{
	double buckets = 1;

	while (buckets < n)
		buckets *= 2;
	return 112.0 * n + 8 * buckets;
}

/* Size the maps to the budget; a clear error if explicit sizes exceed it. */
static int map_sizes(struct options *o)
{
	double budget = (o->map_budget_mib ? o->map_budget_mib : 64) * 1024 * 1024;
	double stacks = (double)o->max_stacks * STACK_BYTES, need;
	long n;

	if (!o->max_allocs) {
		n = (long)((budget - FIXED_BYTES - stacks) / 112) & ~4095L;
		while (n >= 4096 && FIXED_BYTES + stacks + allocs_bytes(n) > budget)
			n -= 4096;
		if (n < 4096)
			return die("--map-budget %.0f MiB leaves no room for live blocks with %ld "
				   "stacks (%.0f MiB): raise it or lower --max-stacks",
				   budget / 1048576, o->max_stacks, stacks / 1048576);
		o->max_allocs = n;
		return 0;
	}
	need = FIXED_BYTES + stacks + allocs_bytes(o->max_allocs);
	if (need > budget)
		return die("--max-allocs %ld and --max-stacks %ld need up to %.0f MiB of kernel "
			   "memory, over --map-budget %.0f MiB", o->max_allocs, o->max_stacks,
			   need / 1048576, budget / 1048576);
	return 0;
}

int cli_parse(int argc, char **argv, struct options *o)
{
	enum { OPT_FULL = 256, OPT_MAXA, OPT_MAXS, OPT_GC, OPT_CYCLES, OPT_MALLOC, OPT_EXPLAIN,
	       OPT_OLDER, OPT_COUNT, OPT_JSON, OPT_SVG, OPT_PPROF, OPT_SUSPECTS, OPT_NOTYPES,
	       OPT_SAMPLE, OPT_WINDOW, OPT_BUDGET };
	static const struct option lo[] = {
		{ "pid", required_argument, 0, 'p' },
		{ "duration", required_argument, 0, 'd' },
		{ "top", required_argument, 0, 't' },
		{ "folded", no_argument, 0, 'f' },
		{ "count", no_argument, 0, OPT_COUNT },
		{ "json", no_argument, 0, OPT_JSON },
		{ "svg", required_argument, 0, OPT_SVG },
		{ "pprof", required_argument, 0, OPT_PPROF },
		{ "suspects", no_argument, 0, OPT_SUSPECTS },
		{ "no-types", no_argument, 0, OPT_NOTYPES },
		{ "sample", required_argument, 0, OPT_SAMPLE },
		{ "map-budget", required_argument, 0, OPT_BUDGET },
		{ "window", required_argument, 0, OPT_WINDOW },
		{ "output", required_argument, 0, 'o' },
		{ "full-path", no_argument, 0, OPT_FULL },
		{ "gc", no_argument, 0, OPT_GC },
		{ "cycles", no_argument, 0, OPT_CYCLES },
		{ "malloc", no_argument, 0, OPT_MALLOC },
		{ "explain", no_argument, 0, OPT_EXPLAIN },
		{ "older", required_argument, 0, OPT_OLDER },
		{ "max-allocs", required_argument, 0, OPT_MAXA },
		{ "max-stacks", required_argument, 0, OPT_MAXS },
		{ "verbose", no_argument, 0, 'v' },
		{ "help", no_argument, 0, 'h' },
		{ 0 },
	};
	double v;
	int c;

	/* everything after "--" is the command to launch */
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--")) {
			if (i + 1 == argc)
				return die("nothing to launch after --");
			o->cmd = argv + i + 1;
			argv[i] = NULL;
			argc = i;
			break;
		}
	}
	opterr = 0;	/* one line of our own instead of getopt's */
	while ((c = getopt_long(argc, argv, ":p:d:t:fo:vh", lo, NULL)) != -1) {
		switch (c) {
		case 'p':
			if (parse_num(optarg, &v, 1) || v != (pid_t)v)
				return die("invalid PID: %s", optarg);
			o->pid = (pid_t)v;
			break;
		case 'd':
			if (parse_num(optarg, &v, 0) || v == 0)
				return die("invalid duration: %s", optarg);
			o->duration = v;
			break;
		case 't':
			if (parse_num(optarg, &v, 1) || v != (int)v)
				return die("invalid --top: %s", optarg);
			o->rep.top = (int)v;
			break;
		case 'f':
			o->rep.folded = true;
			break;
		case 'o':
			o->outfile = optarg;
			break;
		case OPT_FULL:
			o->rep.full_path = true;
			break;
		case OPT_COUNT:
			o->rep.count = true;
			break;
		case OPT_JSON:
			o->rep.json = true;
			break;
		case OPT_SVG:
			o->rep.svg_path = optarg;
			break;
		case OPT_PPROF:
			o->rep.pprof_path = optarg;
			break;
		case OPT_SUSPECTS:
			o->rep.suspects = true;
			break;
		case OPT_NOTYPES:
			o->rep.no_types = true;
			break;
		case OPT_SAMPLE:
			if (parse_num(optarg, &v, 0) || v <= 0 || v > 50)
				return die("invalid --sample: %s (a percentage, above 0 and at most 50)",
					   optarg);
			o->sample_pct = v;
			break;
		case OPT_BUDGET:
			if (parse_num(optarg, &v, 1) || v > 1 << 20)
				return die("invalid --map-budget: %s (MiB, at least 1)", optarg);
			o->map_budget_mib = v;
			break;
		case OPT_WINDOW:
			if (parse_num(optarg, &v, 1) || v > 10000)
				return die("invalid --window: %s (milliseconds, 1 to 10000)", optarg);
			o->window_ms = v;
			break;
		case OPT_GC:
			o->rep.gc = true;
			break;
		case OPT_CYCLES:
			o->rep.cycles = true;
			break;
		case OPT_MALLOC:
			o->malloc_mode = true;
			break;
		case OPT_EXPLAIN:
			o->explain = true;
			break;
		case OPT_OLDER:
			if (parse_num(optarg, &v, 0) || v == 0)
				return die("invalid --older: %s", optarg);
			o->rep.older_ns = (uint64_t)(v * 1e9);
			break;
		case OPT_MAXA:
		case OPT_MAXS:
			if (parse_num(optarg, &v, 1) || v != (long)v || v > (1L << 26))
				return die("invalid %s: %s", c == OPT_MAXA ? "--max-allocs" : "--max-stacks",
					   optarg);
			*(c == OPT_MAXA ? &o->max_allocs : &o->max_stacks) = (long)v;
			break;
		case 'v':
			o->verbose = true;
			break;
		case 'h':
			cli_usage(stdout);
			exit(0);
		case ':':
			return die("option %s needs a value (see --help)", argv[optind - 1]);
		default:
			return die("unknown option %s (see --help)", argv[optind - 1]);
		}
	}
	if (optind < argc) {
		if (parse_num(argv[optind], &v, 0) || v == 0)
			return die("invalid interval: %s", argv[optind]);
		o->interval = v;
		o->rep.interval = v;
		optind++;
	}
	if (optind < argc) {
		if (parse_num(argv[optind], &v, 1) || v != (int)v)
			return die("invalid count: %s", argv[optind]);
		o->count = (int)v;
		optind++;
	}
	if (optind < argc)
		return die("unexpected argument: %s", argv[optind]);
	if (o->pid && o->cmd)
		return die("give -p PID or a command after --, not both");
	if (!o->pid && !o->cmd)
		return die("no target: give -p PID or -- COMMAND (see --help)");
	if (o->rep.json && o->rep.folded)
		return die("--json and --folded are two formats: pick one");
	if (o->rep.suspects && o->rep.cycles)
		return die("--suspects and --cycles rank sites differently: pick one");
	if (map_sizes(o))
		return 1;
	if (o->window_ms && !o->sample_pct)
		return die("--window goes with --sample");
	if (o->malloc_mode && !o->cmd)
		return die("--malloc needs launch mode (-- COMMAND): PYTHONMALLOC is read at startup");
	return 0;
}
