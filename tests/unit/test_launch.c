// SPDX-License-Identifier: GPL-2.0
/*
 * launch.c without BPF: exit statuses, the pause signal, doubles of
 * forwarded signals, and real commands under it (/bin/sh): execs
 * followed, a signal forwarded, a pause, and the tracer dying in a pause.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include "launch.h"
#include "unit.h"

static char proc_state(pid_t pid)
{
	char fn[64], buf[512], *p;
	FILE *f;
	char st = 0;

	snprintf(fn, sizeof(fn), "/proc/%d/stat", pid);
	f = fopen(fn, "re");
	if (!f)
		return 0;
	if (fgets(buf, sizeof(buf), f) && (p = strrchr(buf, ')')))
		st = p[2];
	fclose(f);
	return st;
}

static uint64_t caught(pid_t pid)
{
	char fn[64], line[256];
	uint64_t v = 0;
	FILE *f;

	snprintf(fn, sizeof(fn), "/proc/%d/status", pid);
	f = fopen(fn, "re");
	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f))
		if (!strncmp(line, "SigCgt:", 7))
			v = strtoull(line + 7, NULL, 16);
	fclose(f);
	return v;
}

static bool any_exe(const char *exe, void *arg)
{
	return true;
}

/* the image whose name ends in arg */
static bool exe_is(const char *exe, void *arg)
{
	size_t n = strlen(exe), m = strlen(arg);

	return n >= m && !strcmp(exe + n - m, arg);
}

static bool yes(void *arg)
{
	return true;
}

TEST(launch_exit_code_is_the_shells)
{
	CHECK_EQ_INT(launch_exit_code(3 << 8), 3);
	CHECK_EQ_INT(launch_exit_code(SIGTERM), 128 + SIGTERM);
	CHECK_EQ_INT(launch_exit_code(SIGSEGV | 0x80), 128 + SIGSEGV);	/* core dumped */
}

TEST(launch_pause_signal_neither_blocked_nor_caught)
{
	uint64_t urg = 1ULL << (SIGURG - 1), winch = 1ULL << (SIGWINCH - 1);

	CHECK_EQ_INT(launch_pick_pause_sig(0, 0), SIGURG);
	CHECK_EQ_INT(launch_pick_pause_sig(urg, 0), SIGWINCH);
	CHECK_EQ_INT(launch_pick_pause_sig(0, urg), SIGWINCH);
	CHECK_EQ_INT(launch_pick_pause_sig(0, urg | winch), SIGURG);
	CHECK_EQ_INT(launch_pick_pause_sig(urg | winch, 0), 0);
}

TEST(launch_forwarded_signal_not_doubled)
{
	struct launch l = { 0 };
	uint64_t now = 10000000000ULL;

	CHECK(launch_seen_it(&l, SIGINT, 0, 42, 1ULL << (SIGINT - 1), now));	/* pending */
	CHECK(!launch_seen_it(&l, SIGINT, 0, 42, 0, now));
	l.seen[0] = (struct launch_seen){ SIGINT, 0, 42, now - 1000 };
	l.seen[1] = (struct launch_seen){ SIGTERM, 0, 42, now - 5000000000ULL };	/* stale */
	l.nseen = 2;
	CHECK(!launch_seen_it(&l, SIGINT, 0, 43, 0, now));	/* other sender */
	CHECK(launch_seen_it(&l, SIGINT, 0, 42, 0, now));
	CHECK(!launch_seen_it(&l, SIGINT, 0, 42, 0, now));	/* one delivery, one match */
	CHECK(!launch_seen_it(&l, SIGTERM, 0, 42, 0, now));
}

TEST(launch_follows_execs_pauses_and_lets_go)
{
	char *cmd[] = { "/bin/sh", "-c", "exec /bin/sleep 0.5", NULL };
	struct launch l;
	char err[256];

	if (launch_spawn(&l, cmd, err, sizeof(err))) {
		unit_note("skipped: %s", err);
		return;
	}
	CHECK_EQ_INT(launch_follow(&l, exe_is, "/sleep"), 0);
	CHECK_EQ_INT(l.execs, 2);
	CHECK_EQ_INT(proc_state(l.pid), 't');	/* held at the exec */
	CHECK_EQ_INT(launch_start(&l), 0);
	CHECK_EQ_INT(launch_pause(&l), 0);
	CHECK_EQ_INT(proc_state(l.pid), 't');
	launch_release(&l);
	CHECK(!l.traced);
	CHECK(proc_state(l.pid) == 'S' || proc_state(l.pid) == 'R');
	CHECK_EQ_INT(launch_wait(&l), 0);
}

TEST(launch_signal_to_us_reaches_the_command)
{
	char *cmd[] = { "/bin/sh", "-c", "trap 'exit 7' TERM; while :; do sleep 0.02; done",
			NULL };
	struct launch l;
	char err[256];

	if (launch_spawn(&l, cmd, err, sizeof(err))) {
		unit_note("skipped: %s", err);
		return;
	}
	CHECK_EQ_INT(launch_follow(&l, any_exe, NULL), 0);
	CHECK_EQ_INT(launch_start(&l), 0);
	for (time_t end = time(NULL) + 10; !(caught(l.pid) & (1ULL << (SIGTERM - 1))) &&
	     time(NULL) < end;)
		launch_poll(&l, -1, 10);	/* until its trap is set */
	kill(getpid(), SIGTERM);	/* blocked: read from the signalfd */
	CHECK_EQ_INT(launch_wait(&l), 7);
}

/*
 * A tracer that dies while the command is trapped for the shutdown report:
 * the command (ours as subreaper) runs on and exits as it would have.
 */
TEST(launch_tracer_death_in_the_pause_lets_the_command_go)
{
	char *cmd[] = { "/bin/sh", "-c", "kill -URG $$; exit 5", NULL };
	struct { pid_t pid; char state; bool paused; } got = { 0 };
	int fds[2], st;
	pid_t tracer;
	time_t end;

	CHECK(!prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0));
	CHECK(!pipe(fds));
	tracer = fork();
	if (tracer == 0) {
		struct launch l;
		char err[256];

		if (launch_spawn(&l, cmd, err, sizeof(err)))
			_exit(2);
		l.finalizing = yes;
		if (launch_follow(&l, any_exe, NULL) || launch_start(&l))
			_exit(2);
		got.pid = l.pid;
		for (end = time(NULL) + 10; !(l.paused && l.final) && !l.exited &&
		     time(NULL) < end;)
			launch_poll(&l, -1, 100);
		got.paused = l.paused && l.final;
		got.state = proc_state(l.pid);
		if (write(fds[1], &got, sizeof(got)) != sizeof(got))
			_exit(2);
		_exit(0);	/* dies with the command trapped */
	}
	close(fds[1]);
	CHECK(read(fds[0], &got, sizeof(got)) == sizeof(got));
	CHECK(waitpid(tracer, &st, 0) == tracer && WIFEXITED(st) && !WEXITSTATUS(st));
	CHECK(got.paused);
	CHECK_EQ_INT(got.state, 't');
	if (!got.pid)
		return;
	st = -1;
	for (end = time(NULL) + 10; time(NULL) < end;) {
		pid_t r = waitpid(got.pid, &st, WNOHANG);

		if (r == got.pid)
			break;
		CHECK(proc_state(got.pid) != 'T');
		usleep(10000);
	}
	CHECK(WIFEXITED(st));
	CHECK_EQ_INT(WEXITSTATUS(st), 5);
}
