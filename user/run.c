// SPDX-License-Identifier: GPL-2.0
/*
 * One tracing run: open the target (or launch it, held at the exec of its
 * interpreter: launch.c), plan and load the BPF programs, attach, then poll
 * the ring buffer and write reports at intervals, at -d, at Ctrl-C/SIGTERM
 * or when the target exits or starts shutting down. Also libbpf's log and
 * the signals.
 */
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <bpf/libbpf.h>
#include "pyleak.skel.h"
#include "cli.h"
#include "coverage.h"
#include "elffile.h"
#include "fmt.h"
#include "heapscan.h"
#include "launch.h"
#include "probes.h"
#include "pyversions.h"
#include "report.h"
#include "run.h"
#include "symbolize.h"
#include "target.h"
#include "window.h"

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
		/* a CPython we cannot trace is the end: open_target() says why */
		return !strstr(err, " is not CPython") && !strstr(err, " is not an ELF file");
	target_close(&t);
	return true;
}

/*
 * The target: the command's interpreter (launched and followed through
 * its execs into l, unless --explain), or the process; its libc. 0, or
 * the exit status.
 */
static int open_target(const struct options *o, struct target *t, struct launch *l,
		       char *libc, char *libc_name, bool *have_libc)
{
	char err[512];

	if (o->cmd) {
		char exe[PATH_MAX];

		if (find_exe(o->cmd[0], exe, sizeof(exe)))
			return die("cannot run %s: not found", o->cmd[0]);
		if (!o->explain) {
			if (o->malloc_mode)
				setenv("PYTHONMALLOC", "malloc", 1);	/* inherited */
			if (launch_spawn(l, o->cmd, err, sizeof(err)))
				return die("%s", err);
			if (launch_follow(l, is_cpython, l)) {
				int st = launch_wait(l);

				if (l->execs)	/* else it said why it could not run */
					die("%s is not CPython and exec'ed no CPython interpreter "
					    "(last ran %s)", o->cmd[0], l->exe);
				return st ? st : 1;
			}
			snprintf(exe, sizeof(exe), "%s", l->exe);
		}
		if (target_open_exec(t, exe, err, sizeof(err)))
			return die("%s", err);
		t->pid = l->pid;	/* held at the exec of its interpreter */
		*have_libc = !resolve_library(exe, "libc.so.6", libc, PATH_MAX);
		if (o->malloc_mode && !*have_libc)
			return die("cannot find the libc.so.6 of %s", exe);
		snprintf(libc_name, PATH_MAX, "%s", libc);
	} else if (target_open(t, o->pid, err, sizeof(err))) {
		return die("%s", err);
	} else {
		*have_libc = !target_find_library(t, "libc.so.6", libc, PATH_MAX,
						 libc_name, PATH_MAX);
	}
	return 0;
}

/* Open the BPF object, size its maps and load it; *skelp even on error. */
static int load_bpf(const struct options *o, struct probe_plan *plan,
		    struct pyleak_bpf **skelp)
{
	struct pyleak_bpf *skel = pyleak_bpf__open();

	*skelp = skel;
	if (!skel)
		return die("cannot open the BPF object: %s", strerror(errno));
	plan->multi = probes_multi_supported();
	/* a classic uprobe link takes 0.1 s to close, one after another */
	if (o->sample_pct && !plan->multi)
		return die("--sample needs multi-uprobe links (Linux 6.6 or later)");
	probes_prepare(skel, plan->multi);
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
		return 1;
	}
	return 0;
}

/*
 * Poll the ring buffer and write the reports until the run ends; the last
 * report says why it ended. 0, or 1 when a --sample window failed.
 */
static int trace(const struct options *o, struct session *s, struct ring_buffer *rb,
		 struct probe_plan *plan, struct launch *l, const char **why)
{
	uint64_t deadline = 0, next = 0, next_status = 0, next_recycle = 0;
	bool live = false, paused = false;
	struct window win = { 0 };
	int ret = 0;

	if (s->sample.on)
		window_schedule(&s->sample, &win, s->start_ns);
	if (o->duration)
		deadline = s->start_ns + (uint64_t)(o->duration * 1e9);
	if (o->interval)
		next = s->start_ns + (uint64_t)(o->interval * 1e9);

	live = isatty(STDERR_FILENO) && !verbose;
	while (!stop) {
		int wait_ms = s->sample.on ? window_poll_ms(&win) : 100;
		uint64_t now;

		if (l) {
			/* its stops and our signals, with the ring buffer */
			int ev = launch_poll(l, ring_buffer__epoll_fd(rb), wait_ms);

			ring_buffer__consume(rb);
			if (ev & LAUNCH_SIGNAL) {
				/* report from a stopped target, then it gets the signal */
				launch_pause(l);
				*why = "interrupted";
				break;
			}
			if (l->paused && l->final) {
				paused = true;	/* trapped at Py_FinalizeEx */
				break;
			}
		} else if (ring_buffer__poll(rb, wait_ms) < 0 && errno != EINTR) {
			break;
		}
		if (s->sample.on && window_step(s, &win, plan, s->skel, s->t)) {
			ret = 1;
			break;
		}
		s->sym->epoch++;	/* code objects are re-checked once per batch */
		target_refresh(s->t);
		now = now_ns();
		if (!target_alive(s->t)) {
			ring_buffer__consume(rb);
			s->target_exited = true;
			break;
		}
		if (deadline && now >= deadline) {
			*why = "duration reached";
			break;
		}
		if (now >= next_recycle) {
			report_recycle_stacks(s, o->max_stacks);
			next_recycle = now + 200000000ULL;
		}
		if (live && now >= next_status) {
			report_status(s, stderr);
			next_status = now + 1000000000ULL;
		}
		if (next && now >= next) {
			if (live)
				report_status_clear(stderr);
			report_write(s, &o->rep, "interval");
			if (o->count && s->reports >= o->count) {
				*why = "report count reached";
				return ret;
			}
			next += (uint64_t)(o->interval * 1e9);
		}
	}
	ring_buffer__consume(rb);
	if (s->sample.on && win.state != WIN_CLOSED)
		window_close(s, &win, plan, s->skel);
	if (live)
		report_status_clear(stderr);
	report_write(s, &o->rep, paused ? "interpreter shutting down; paused for this report" :
		     s->target_exited ? "target exited" :
		     stop ? "interrupted" : *why ? *why : "duration reached");
	*why = paused || s->target_exited ? NULL : *why;
	return ret;
}

/* Launch mode: let the command go (probes gone), say what we do next. */
static void let_go(struct launch *l, const char *why)
{
	int sig = l->sig;

	if (!l->pid || l->exited)
		return;
	launch_release(l);	/* detached; it gets the signal we got */
	if (sig)
		fprintf(stderr, "pyleakbpf: SIG%s passed on to PID %d; detached, waiting for "
			"it to exit\n", sigabbrev_np(sig), l->pid);
	else if (why)
		fprintf(stderr, "pyleakbpf: %s: detached, waiting for PID %d to exit (signals "
			"to pyleakbpf are forwarded to it)\n", why, l->pid);
}

int run(struct options *o)
{
	struct target t = { 0 };
	struct probe_plan plan;
	struct symbolizer sym;
	struct session s = { 0 };
	struct pyleak_bpf *skel = NULL;
	struct ring_buffer *rb = NULL;
	struct proc_info pi = { 0 };
	char err[512], libc[PATH_MAX], libc_name[PATH_MAX];
	bool have_libc = false;
	int ret = 1, tgid;
	struct launch l = { .sfd = -1 };
	struct final_check fc;
	bool started = false;
	const char *why = NULL;

	if (!o->explain && !may_trace())
		return die("permission denied: tracing needs root (CAP_BPF and CAP_PERFMON, "
			   "or CAP_SYS_ADMIN, plus CAP_SYS_PTRACE)");
	ret = open_target(o, &t, &l, libc, libc_name, &have_libc);
	if (ret)
		goto out_target;
	ret = 1;
	if (probes_plan(&plan, &t, have_libc ? libc : NULL, libc_name, o->malloc_mode)) {
		die("%s exports none of the allocator entry points", t.path);
		goto out_target;
	}
	if (o->explain) {
		probes_explain(&plan, &t, stdout);
		ret = 0;
		goto out_target;
	}
	if (load_bpf(o, &plan, &skel))
		goto out_skel;

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
	pi.stop_at_final = !!o->cmd;
	pi.stop_sig = l.pause_sig;
	if (bpf_map__update_elem(skel->maps.procs, &tgid, sizeof(tgid), &pi, sizeof(pi), 0)) {
		die("cannot register process %d: %s", t.pid, strerror(errno));
		goto out_skel;
	}

	symbolizer_init(&sym, &t);
	s.t = &t;
	s.launched = !!o->cmd;
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
		coverage_baseline(&s);
	else if (!plan.libc_malloc)
		s.heap0 = calloc(1, sizeof(*s.heap0));	/* nothing in use before the start */
	if (o->cmd) {
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
	ret = trace(o, &s, rb, &plan, o->cmd ? &l : NULL, &why);
done:
	probes_detach(&plan);
	let_go(&l, why);
out_rb:
	ring_buffer__free(rb);
out_sym:
	symbolizer_free(&sym);
	report_free(&s);
out_skel:
	pyleak_bpf__destroy(skel);
out_target:
	target_close(&t);
	if (l.pid) {
		int st;

		if (!started && !l.exited)	/* held at its exec: never untraced */
			kill(l.pid, SIGKILL);
		launch_release(&l);
		st = launch_wait(&l);
		if (!ret)
			ret = st;
	}
	return ret;
}

void run_log_init(bool v)
{
	verbose = v;
	libbpf_set_print(libbpf_log);
}

void run_signals_init(void)
{
	struct sigaction sa = { .sa_handler = on_signal };

	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
}
