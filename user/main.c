// SPDX-License-Identifier: GPL-2.0
/*
 * pyleakbpf: which Python code holds the memory that is never freed?
 *
 *   find the interpreter (target.c) -> plan hooks (probes.c) -> load BPF,
 *   attach -> symbolize new stacks as they appear (symbolize.c) -> report
 *   at intervals, at -d, at Ctrl-C or when the target exits (report.c).
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <time.h>
#include <sys/wait.h>
#include <unistd.h>
#include <bpf/libbpf.h>
#include "pyleak.skel.h"
#include "elffile.h"
#include "heapscan.h"
#include "launch.h"
#include "probes.h"
#include "pyversions.h"
#include "report.h"
#include "symbolize.h"
#include "target.h"

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

static volatile sig_atomic_t stop;
static char libbpf_last[512];
static bool verbose;

static void on_signal(int sig)
{
	stop = 1;
}

static int libbpf_log(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	va_list aq;

	va_copy(aq, ap);
	vsnprintf(libbpf_last, sizeof(libbpf_last), fmt, aq);
	va_end(aq);
	libbpf_last[strcspn(libbpf_last, "\n")] = 0;
	if (verbose && level != LIBBPF_DEBUG)
		return vfprintf(stderr, fmt, ap);
	return 0;
}

static void usage(FILE *f)
{
	fprintf(f,
"Usage: pyleakbpf -p PID [options] [interval [count]]\n"
"       pyleakbpf [options] [interval [count]] -- python3 app.py [args]\n"
"Report the allocations of a running CPython process that are still\n"
"outstanding, by Python stack (innermost frame first).\n\n"
"  -p, --pid PID         process to trace\n"
"  -- COMMAND...         launch COMMAND with probes attached before its first\n"
"                        Python line; its exit status becomes ours\n"
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
"target exits. Supported CPython versions: %s.\n", pyversion_supported());
}

static int die(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "pyleakbpf: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	return 1;
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

static int parse_args(int argc, char **argv, struct options *o)
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
			usage(stdout);
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

/* Effective capabilities from /proc/self/status. */
static uint64_t effective_caps(void)
{
	char line[256];
	uint64_t caps = 0;
	FILE *f = fopen("/proc/self/status", "re");

	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "CapEff: %" SCNx64, &caps) == 1)
			break;
	fclose(f);
	return caps;
}

static bool may_trace(void)
{
	uint64_t c = effective_caps();
	const uint64_t sys_admin = 1ULL << 21, bpf = 1ULL << 39, perfmon = 1ULL << 38;

	return (c & sys_admin) || ((c & bpf) && (c & perfmon));
}

/* The executable execvp() would run for cmd, or -1. */
static int find_exe(const char *cmd, char *out, size_t len)
{
	const char *path = getenv("PATH");
	char dirs[4096], *save, *d;

	if (strchr(cmd, '/')) {
		snprintf(out, len, "%s", cmd);
		return access(out, X_OK);
	}
	snprintf(dirs, sizeof(dirs), "%s", path ? path : "/usr/local/bin:/usr/bin:/bin");
	for (d = strtok_r(dirs, ":", &save); d; d = strtok_r(NULL, ":", &save)) {
		snprintf(out, len, "%s/%s", d, cmd);
		if (!access(out, X_OK))
			return 0;
	}
	return -1;
}

/*
 * --sample: a window has every hook attached for window_ns, then only the
 * free hooks for as long again (the tail), so the blocks it saw allocated
 * that die soon are seen dying; then nothing until the next period.
 */
enum win_state { WIN_CLOSED, WIN_OPEN, WIN_TAIL };
#define BPF_WIN_ALL	1	/* in_window values, as in pyleak.bpf.c */
#define BPF_WIN_FREES	2

struct window {
	enum win_state state;
	uint64_t period_start;		/* the current period of window_ns / duty */
	uint64_t start, end;		/* the window in it */
	uint64_t attach_start;		/* when the hooks began to go in */
};

/* Place the window of the period starting at from at a random moment. */
static void sched_window(const struct sampling *sm, struct window *w, uint64_t from)
{
	uint64_t period = (uint64_t)(sm->window_ns / sm->duty);
	uint64_t busy = 2 * sm->window_ns;	/* window and tail */
	uint64_t slack = period > busy ? period - busy : 0;

	w->period_start = from;
	w->start = from + (slack ? (((uint64_t)random() << 31) ^ random()) % slack : 0);
	w->end = w->start + sm->window_ns;
}

static int poll_ms(const struct window *w)
{
	uint64_t now = now_ns(), at = w->state == WIN_CLOSED ? w->start : w->end;
	int64_t ms = at > now ? (int64_t)((at - now) / 1000000) : 0;

	return ms > 100 ? 100 : (int)ms;
}

/* Detach everything still attached; the window is over. */
static void window_close(struct session *s, struct window *w, struct probe_plan *pl,
			 struct pyleak_bpf *skel)
{
	if (w->state == WIN_OPEN)
		s->sample.in_window_ns += now_ns() - w->start;
	skel->bss->in_window = 0;
	w->state = WIN_CLOSED;
	probes_detach_hooks(pl);
}

/* Open a window, start its tail, or close it, when its time has come. */
static int window_step(struct session *s, struct window *w, struct probe_plan *pl,
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
		sched_window(&s->sample, w, w->period_start + period);
	}
	return 0;
}

/* Has the target entered Py_FinalizeEx (the BPF side's flag)? */
static bool finalizing(struct pyleak_bpf *skel, int tgid)
{
	struct proc_info pi;

	return !bpf_map__lookup_elem(skel->maps.procs, &tgid, sizeof(tgid), &pi, sizeof(pi), 0) &&
	       pi.finalizing;
}

struct final_check {
	struct pyleak_bpf *skel;
	int tgid;
};

static bool launch_finalizing(void *arg)
{
	struct final_check *fc = arg;

	return finalizing(fc->skel, fc->tgid);
}

/* launch_follow(): is this exec a CPython we can trace? */
static bool is_cpython(const char *exe, void *arg)
{
	struct target t;
	char err[512];

	/* a shared libpython is found as the command's loader will find it */
	launch_adopt_env(arg, "LD_LIBRARY_PATH");
	if (target_open_exec(&t, exe, err, sizeof(err)))
		/* a CPython we cannot trace is the end: run() says why */
		return !strstr(err, " is not CPython") && !strstr(err, " is not an ELF file");
	target_close(&t);
	return true;
}

static int run(struct options *o)
{
	struct target t = { 0 };
	struct probe_plan plan;
	struct symbolizer sym;
	struct session s = { 0 };
	struct pyleak_bpf *skel = NULL;
	struct ring_buffer *rb = NULL;
	struct proc_info pi = { 0 };
	char err[512], libc[PATH_MAX], libc_name[PATH_MAX];
	bool have_libc;
	uint64_t deadline = 0, next = 0, next_status = 0, next_recycle = 0;
	bool live = false, paused = false;
	struct window win = { 0 };
	int ret = 1, tgid;
	struct launch l = { .sfd = -1 };
	struct final_check fc;
	bool launched = false, started = false;
	const char *why = NULL;

	if (!o->explain && !may_trace())
		return die("permission denied: tracing needs root (CAP_BPF and CAP_PERFMON, "
			   "or CAP_SYS_ADMIN, plus CAP_SYS_PTRACE)");
	if (o->cmd) {
		char exe[PATH_MAX];

		if (find_exe(o->cmd[0], exe, sizeof(exe)))
			return die("cannot run %s: not found", o->cmd[0]);
		if (!o->explain) {
			/* run it up to the exec of its interpreter (it may be a wrapper) */
			if (o->malloc_mode)
				setenv("PYTHONMALLOC", "malloc", 1);	/* inherited */
			if (launch_spawn(&l, o->cmd, err, sizeof(err)))
				return die("%s", err);
			launched = true;
			if (launch_follow(&l, is_cpython, &l)) {
				int st = launch_wait(&l);

				if (l.execs)	/* else it said why it could not run */
					die("%s is not CPython and exec'ed no CPython interpreter "
					    "(last ran %s)", o->cmd[0], l.exe);
				return st ? st : 1;
			}
			snprintf(exe, sizeof(exe), "%s", l.exe);
		}
		if (target_open_exec(&t, exe, err, sizeof(err))) {
			die("%s", err);
			goto out_target;
		}
		have_libc = !resolve_library(exe, "libc.so.6", libc, sizeof(libc));
		if (o->malloc_mode && !have_libc) {
			die("cannot find the libc.so.6 of %s", exe);
			goto out_target;
		}
		snprintf(libc_name, sizeof(libc_name), "%s", libc);
	} else if (target_open(&t, o->pid, err, sizeof(err))) {
		return die("%s", err);
	} else {
		have_libc = !target_find_library(&t, "libc.so.6", libc, sizeof(libc),
						 libc_name, sizeof(libc_name));
	}
	if (probes_plan(&plan, &t, have_libc ? libc : NULL, libc_name, o->malloc_mode)) {
		die("%s exports none of the allocator entry points", t.path);
		goto out_target;
	}
	if (o->explain) {
		probes_explain(&plan, &t, stdout);
		ret = 0;
		goto out_target;
	}
	if (launched)
		t.pid = l.pid;	/* held at the exec of its interpreter */

	skel = pyleak_bpf__open();
	if (!skel) {
		die("cannot open the BPF object: %s", strerror(errno));
		goto out_target;
	}
	plan.multi = probes_multi_supported();
	if (o->sample_pct && !plan.multi) {
		/* a classic uprobe link takes 0.1 s to close, one after another */
		die("--sample needs multi-uprobe links (Linux 6.6 or later)");
		goto out_skel;
	}
	probes_prepare(skel, plan.multi);
	skel->rodata->sampling = o->sample_pct > 0;
	bpf_map__set_max_entries(skel->maps.allocs, o->max_allocs);
	bpf_map__set_max_entries(skel->maps.stacks, o->max_stacks);
	/* room beyond the stacks for the [lost stack] site */
	bpf_map__set_max_entries(skel->maps.stats, o->max_stacks + 16);
	if (pyleak_bpf__load(skel)) {
		int e = errno;

		if (e == EPERM)
			die("permission denied loading BPF programs: run as root "
			    "(needs CAP_BPF, CAP_PERFMON, CAP_SYS_PTRACE)");
		else if (e == EACCES)
			die("the kernel's BPF verifier rejected the programs (%s); "
			    "run with -v for its log", libbpf_last);
		else if (e == ENOSYS)
			die("this kernel has no BPF support (bpf(2): ENOSYS)");
		else
			die("cannot load the BPF programs: %s (%s)", strerror(e), libbpf_last);
		goto out_skel;
	}

	tgid = t.pid;
	pi.runtime_addr = t.runtime_addr;	/* 0 until mapped (launch mode) */
	pi.runtime_vaddr = t.runtime_vaddr;
	{
		uint64_t lo, hi;

		elf_file_load_range(t.elf, &lo, &hi);
		pi.text_lo = lo;
		pi.text_hi = hi;
	}
	pi.pycode_type = t.pycode_type;
	pi.off = t.pv->bpf;
	pi.stop_at_final = launched;
	pi.stop_sig = l.pause_sig;
	if (bpf_map__update_elem(skel->maps.procs, &tgid, sizeof(tgid), &pi, sizeof(pi), 0)) {
		die("cannot register process %d: %s", t.pid, strerror(errno));
		goto out_skel;
	}

	symbolizer_init(&sym, &t);
	s.t = &t;
	s.mode = !o->cmd ? "attached to a running process" :
		 o->malloc_mode ? "launched with PYTHONMALLOC=malloc (--malloc)" :
		 "launched, probes attached before its first line";
	s.plan = &plan;
	s.skel = skel;
	s.sym = &sym;
	rb = ring_buffer__new(bpf_map__fd(skel->maps.events), report_on_event, &s, NULL);
	if (!rb) {
		die("cannot open the ring buffer: %s", strerror(errno));
		goto out_sym;
	}
	if (o->sample_pct) {
		s.sample = (struct sampling){
			.on = true, .duty = o->sample_pct / 100,
			.window_ns = (uint64_t)((o->window_ms ? o->window_ms : 20) * 1e6),
		};
		probes_attach_gc(&plan, skel, &t);
	} else if (probes_attach(&plan, skel, &t, err, sizeof(err))) {
		die("%s", err);
		goto out_rb;
	}
	s.start_ns = now_ns();
	{
		struct timespec ts;

		clock_gettime(CLOCK_REALTIME, &ts);
		s.start_unix_ns = (uint64_t)ts.tv_sec * 1000000000ULL + ts.tv_nsec;
	}
	if (!o->cmd)
		report_heap_baseline(&s);
	else if (!plan.libc_malloc)
		s.heap0 = calloc(1, sizeof(*s.heap0));	/* nothing in use before the start */
	if (launched) {
		fc = (struct final_check){ skel, tgid };
		l.finalizing = launch_finalizing;
		l.arg = &fc;
		if (launch_start(&l)) {
			die("cannot start %s: %s", o->cmd[0], strerror(errno));
			goto done;
		}
		started = true;
	}
	fprintf(stderr, "pyleakbpf: tracing PID %d (CPython %s, %s) with %d hooks%s, GC: %s; "
		"Ctrl-C to report\n", t.pid, t.version, t.path, plan.n,
		plan.libc_malloc ? " [PYTHONMALLOC=malloc: libc malloc hooked]" :
		plan.allocator_inlined ? " [pymalloc inlined: partial coverage]" : "",
		gc_source_name(plan.gc));
	if (s.sample.on)
		sched_window(&s.sample, &win, s.start_ns);
	if (o->duration)
		deadline = s.start_ns + (uint64_t)(o->duration * 1e9);
	if (o->interval)
		next = s.start_ns + (uint64_t)(o->interval * 1e9);

	ret = 0;
	live = isatty(STDERR_FILENO) && !verbose;
	while (!stop) {
		uint64_t now;

		if (launched) {
			/* its stops and our signals, with the ring buffer */
			int ev = launch_poll(&l, ring_buffer__epoll_fd(rb),
					     s.sample.on ? poll_ms(&win) : 100);

			ring_buffer__consume(rb);
			if (ev & LAUNCH_SIGNAL) {
				/* report from a stopped target, then it gets the signal */
				launch_pause(&l);
				why = "interrupted";
				break;
			}
			if (l.paused && l.final) {
				paused = true;	/* trapped at Py_FinalizeEx */
				break;
			}
		} else if (ring_buffer__poll(rb, s.sample.on ? poll_ms(&win) : 100) < 0 &&
			   errno != EINTR) {
			break;
		}
		if (s.sample.on && window_step(&s, &win, &plan, skel, &t)) {
			ret = 1;
			break;
		}
		sym.epoch++;	/* code objects are re-checked once per batch */
		target_refresh(&t);
		now = now_ns();
		if (!target_alive(&t)) {
			ring_buffer__consume(rb);
			s.target_exited = true;
			break;
		}
		if (deadline && now >= deadline) {
			why = "duration reached";
			break;
		}
		if (now >= next_recycle) {
			report_recycle_stacks(&s, o->max_stacks);
			next_recycle = now + 200000000ULL;
		}
		if (live && now >= next_status) {
			report_status(&s, stderr);
			next_status = now + 1000000000ULL;
		}
		if (next && now >= next) {
			if (live)
				report_status_clear(stderr);
			report_write(&s, &o->rep, "interval");
			if (o->count && s.reports >= o->count) {
				why = "report count reached";
				goto done;
			}
			next += (uint64_t)(o->interval * 1e9);
		}
	}
	ring_buffer__consume(rb);
	if (s.sample.on && win.state != WIN_CLOSED)
		window_close(&s, &win, &plan, skel);
	if (live)
		report_status_clear(stderr);
	report_write(&s, &o->rep, paused ? "interpreter shutting down; paused for this report" :
		     s.target_exited ? "target exited" :
		     stop ? "interrupted" : why ? why : "duration reached");
done:
	probes_detach(&plan);
	if (launched && !l.exited) {
		int sig = l.sig;

		launch_release(&l);	/* detached; it gets the signal we got */
		if (sig)
			fprintf(stderr, "pyleakbpf: SIG%s passed on to PID %d; detached, waiting "
				"for it to exit\n", sigabbrev_np(sig), l.pid);
		else if (!paused)
			fprintf(stderr, "pyleakbpf: %s: detached, waiting for PID %d to exit "
				"(signals to pyleakbpf are forwarded to it)\n", why, l.pid);
	}
out_rb:
	ring_buffer__free(rb);
out_sym:
	symbolizer_free(&sym);
	report_free(&s);
out_skel:
	pyleak_bpf__destroy(skel);
out_target:
	target_close(&t);
	if (launched) {
		int st;

		if (!started)	/* held at its exec: it must not run untraced */
			kill(l.pid, SIGKILL);
		launch_release(&l);
		st = launch_wait(&l);
		if (!ret)
			ret = st;
	}
	return ret;
}

int main(int argc, char **argv)
{
	struct options o = {
		.max_stacks = 16384,
		.rep = { .top = 10, .out = stdout },
	};
	struct sigaction sa = { .sa_handler = on_signal };
	int ret;

	if (argc < 2) {
		usage(stderr);
		return 1;
	}
	if (parse_args(argc, argv, &o))
		return 1;
	verbose = o.verbose;
	libbpf_set_print(libbpf_log);
	if (o.outfile) {
		o.rep.out = fopen(o.outfile, "w");
		if (!o.rep.out)
			return die("cannot write %s: %s", o.outfile, strerror(errno));
	}
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	ret = run(&o);
	if (o.outfile)
		fclose(o.rep.out);
	return ret;
}
