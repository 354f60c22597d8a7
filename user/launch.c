// SPDX-License-Identifier: GPL-2.0
/*
 * Launch mode's hold on the command (see launch.h).
 *
 * The command is our child and PTRACE_SEIZEd (no EXITKILL) before it
 * execs. Every stop it makes for us is resumed as it came: a signal with
 * the same signal (so it behaves as untraced), a group stop with
 * PTRACE_LISTEN (it stays stopped until SIGCONT, as untraced). Its execs
 * are followed until one runs a CPython interpreter: it is held at that
 * exec while the probes go in. At shutdown the BPF side sends it a signal
 * whose default action is to ignore it (SIGURG or SIGWINCH); we swallow
 * it and PTRACE_INTERRUPT, so it waits in a ptrace trap for the report.
 * If pyleakbpf dies the kernel detaches it (exit_ptrace) and a trap just
 * returns: nothing is ever left stopped, nothing is delivered that would
 * not have been. Only the thread that execs is traced: other threads of
 * the interpreter run on during a report.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/ptrace.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include "launch.h"

#define SEEN_NS		2000000000ULL	/* how long a delivery counts as "it got it" */
#define PAUSE_MS	5000		/* a trap comes at once unless it is dying */

static const int fwd_sigs[] = { SIGINT, SIGTERM, SIGHUP, SIGQUIT };

static uint64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + ts.tv_nsec;
}

static uint64_t sigbit(int sig)
{
	return 1ULL << (sig - 1);
}

int launch_exit_code(int wstatus)
{
	if (WIFEXITED(wstatus))
		return WEXITSTATUS(wstatus);
	if (WIFSIGNALED(wstatus))
		return 128 + WTERMSIG(wstatus);
	return 1;
}

int launch_pick_pause_sig(uint64_t blocked, uint64_t caught)
{
	static const int prefer[] = { SIGURG, SIGWINCH };

	for (int i = 0; i < 2; i++)
		if (!(blocked & sigbit(prefer[i])) && !(caught & sigbit(prefer[i])))
			return prefer[i];
	/* caught is fine while we are alive (we swallow it); blocked never comes */
	for (int i = 0; i < 2; i++)
		if (!(blocked & sigbit(prefer[i])))
			return prefer[i];
	return 0;
}

bool launch_seen_it(struct launch *l, int sig, int code, pid_t sender, uint64_t pending,
		    uint64_t now)
{
	if (pending & sigbit(sig))
		return true;
	for (int i = 0; i < l->nseen; i++) {
		struct launch_seen *s = &l->seen[i];

		if (s->sig == sig && s->code == code && s->sender == sender &&
		    now - s->ns < SEEN_NS) {
			s->sig = 0;	/* one delivery matches one signal of ours */
			return true;
		}
	}
	return false;
}

/* One "Name:\thex" mask of /proc/PID/status; 0 if unreadable. */
static uint64_t status_mask(pid_t pid, const char *name)
{
	char fn[64], line[256];
	size_t n = strlen(name);
	uint64_t v = 0;
	FILE *f;

	snprintf(fn, sizeof(fn), "/proc/%d/status", pid);
	f = fopen(fn, "re");
	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f))
		if (!strncmp(line, name, n) && line[n] == ':') {
			v = strtoull(line + n + 1, NULL, 16);
			break;
		}
	fclose(f);
	return v;
}

static void remember(struct launch *l, int sig)
{
	siginfo_t si;
	struct launch_seen *s;

	if (ptrace(PTRACE_GETSIGINFO, l->pid, 0, &si))
		return;
	s = &l->seen[l->nseen < LAUNCH_SEEN ? l->nseen++ : (int)(mono_ns() % LAUNCH_SEEN)];
	*s = (struct launch_seen){ sig, si.si_code, si.si_pid, mono_ns() };
}

static void read_exe(struct launch *l)
{
	char fn[64];
	ssize_t n;

	snprintf(fn, sizeof(fn), "/proc/%d/exe", l->pid);
	n = readlink(fn, l->exe, sizeof(l->exe) - 1);
	l->exe[n > 0 ? n : 0] = 0;
}

/* A wait status of the command: resume what we do not keep. LAUNCH_* bits. */
static int on_status(struct launch *l, int st)
{
	int sig = WSTOPSIG(st), event = (unsigned)st >> 16;

	if (WIFEXITED(st) || WIFSIGNALED(st)) {
		l->exited = true;
		l->wstatus = st;
		l->traced = l->paused = l->pausing = false;
		return LAUNCH_EXITED;
	}
	if (!WIFSTOPPED(st))
		return 0;
	if (event == PTRACE_EVENT_EXEC) {
		l->execs++;
		read_exe(l);
		if (l->following)
			l->at_exec = true;	/* launch_follow() looks at it */
		else
			ptrace(PTRACE_CONT, l->pid, 0, 0);
		return 0;
	}
	if (event == PTRACE_EVENT_STOP) {
		if (l->pausing) {
			/* our trap, or a group stop: either way it is stopped */
			l->pausing = false;
			l->paused = true;
			return l->final ? LAUNCH_PAUSED : 0;
		}
		if (sig == SIGTRAP)
			ptrace(PTRACE_CONT, l->pid, 0, 0);
		else
			ptrace(PTRACE_LISTEN, l->pid, 0, 0);	/* stopped until SIGCONT */
		return 0;
	}
	if (event)	/* no other event was asked for */
		return ptrace(PTRACE_CONT, l->pid, 0, 0), 0;
	/* signal-delivery-stop */
	if (sig == l->pause_sig && l->finalizing && l->finalizing(l->arg)) {
		l->final = true;
		if (!l->pausing && !ptrace(PTRACE_INTERRUPT, l->pid, 0, 0))
			l->pausing = true;
		ptrace(PTRACE_CONT, l->pid, 0, 0);	/* swallowed: the trap comes next */
		return 0;
	}
	remember(l, sig);
	if (l->pausing) {
		/* held for the report; PTRACE_DETACH delivers it */
		l->held_sig = sig;
		l->pausing = false;
		l->paused = true;
		return l->final ? LAUNCH_PAUSED : 0;
	}
	ptrace(PTRACE_CONT, l->pid, 0, sig);
	return 0;
}

static int step(struct launch *l)
{
	int ev = 0, st;

	if (l->pid <= 0)
		return 0;
	while (!l->exited && waitpid(l->pid, &st, __WALL | WNOHANG) > 0)
		ev |= on_status(l, st);
	return ev;
}

/* Read what signalfd has; the last forwardable signal is kept in l->sig. */
static int drain_signals(struct launch *l)
{
	struct signalfd_siginfo si;
	int ev = 0;

	while (read(l->sfd, &si, sizeof(si)) == sizeof(si)) {
		if (si.ssi_signo == SIGCHLD)
			continue;
		l->sig = si.ssi_signo;
		l->sig_code = si.ssi_code;
		l->sig_sender = si.ssi_pid;
		ev |= LAUNCH_SIGNAL;
	}
	return ev;
}

int launch_poll(struct launch *l, int fd, int timeout_ms)
{
	struct pollfd p[2] = { { .fd = l->sfd, .events = POLLIN }, { .fd = fd, .events = POLLIN } };

	if (poll(p, fd >= 0 ? 2 : 1, timeout_ms) < 0 && errno != EINTR)
		return 0;
	return drain_signals(l) | step(l);
}

/* Send it the signal pyleakbpf got, unless it got that one itself. */
static void forward(struct launch *l)
{
	int sig = l->sig;
	uint64_t pending;

	l->sig = 0;
	if (!sig || l->exited || l->pid <= 0)
		return;
	/* from the terminal (SI_KERNEL), to our process group: it has it too */
	if (l->sig_code == SI_KERNEL && getpgid(l->pid) == getpgrp())
		return;
	pending = status_mask(l->pid, "SigPnd") | status_mask(l->pid, "ShdPnd");
	if (launch_seen_it(l, sig, l->sig_code, l->sig_sender, pending, mono_ns()))
		return;
	kill(l->pid, sig);
}

int launch_spawn(struct launch *l, char **cmd, char *err, size_t errlen)
{
	struct sigaction dfl = { .sa_handler = SIG_DFL }, chld;
	sigset_t set;
	int fds[2], e;
	pid_t pid;
	char go;

	memset(l, 0, sizeof(*l));
	l->sfd = -1;
	sigemptyset(&set);
	sigaddset(&set, SIGCHLD);
	for (size_t i = 0; i < sizeof(fwd_sigs) / sizeof(fwd_sigs[0]); i++)
		sigaddset(&set, fwd_sigs[i]);
	sigaction(SIGCHLD, &dfl, &chld);	/* an inherited SIG_IGN would reap it */
	if (sigprocmask(SIG_BLOCK, &set, &l->oldmask) ||
	    (l->sfd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK)) < 0 ||
	    pipe2(fds, O_CLOEXEC)) {
		snprintf(err, errlen, "cannot start %s: %s", cmd[0], strerror(errno));
		return -1;
	}
	pid = fork();
	if (pid < 0) {
		snprintf(err, errlen, "cannot start %s: %s", cmd[0], strerror(errno));
		return -1;
	}
	if (pid == 0) {
		close(fds[1]);
		sigaction(SIGCHLD, &chld, NULL);	/* it starts as we did */
		sigprocmask(SIG_SETMASK, &l->oldmask, NULL);
		if (read(fds[0], &go, 1) != 1)
			_exit(127);	/* pyleakbpf gave up: do not run untraced */
		execvp(cmd[0], cmd);
		fprintf(stderr, "pyleakbpf: cannot run %s: %s\n", cmd[0], strerror(errno));
		_exit(127);
	}
	close(fds[0]);
	l->pid = pid;	/* set only for a real child: kill() and waitpid() take it */
	if (ptrace(PTRACE_SEIZE, l->pid, 0, PTRACE_O_TRACEEXEC)) {
		e = errno;
		close(fds[1]);
		waitpid(l->pid, NULL, 0);
		l->exited = true;
		snprintf(err, errlen, "cannot trace %s: ptrace: %s (launch mode needs "
			 "CAP_SYS_PTRACE and ptrace allowed)", cmd[0], strerror(e));
		return -1;
	}
	l->traced = true;
	if (write(fds[1], "g", 1) != 1) {
		e = errno;
		close(fds[1]);
		snprintf(err, errlen, "cannot start %s: %s", cmd[0], strerror(e));
		return -1;
	}
	close(fds[1]);
	return 0;
}

int launch_follow(struct launch *l, bool (*is_python)(const char *exe, void *arg), void *arg)
{
	l->following = true;
	while (!l->exited) {
		if (launch_poll(l, -1, 1000) & LAUNCH_SIGNAL)
			forward(l);	/* nothing traced yet: straight to it */
		if (!l->at_exec)
			continue;
		l->at_exec = false;
		if (is_python(l->exe, arg)) {
			l->pause_sig = launch_pick_pause_sig(status_mask(l->pid, "SigBlk"),
							     status_mask(l->pid, "SigCgt"));
			if (l->execs > 1)
				fprintf(stderr, "pyleakbpf: PID %d exec'ed %s, a CPython interpreter\n",
					l->pid, l->exe);
			l->following = false;
			return 0;
		}
		fprintf(stderr, "pyleakbpf: PID %d runs %s, not CPython: following its execs\n",
			l->pid, l->exe);
		ptrace(PTRACE_CONT, l->pid, 0, 0);
	}
	l->following = false;
	return 1;
}

void launch_adopt_env(const struct launch *l, const char *name)
{
	char fn[64], buf[65536];
	size_t n = strlen(name), len;
	int fd;

	snprintf(fn, sizeof(fn), "/proc/%d/environ", l->pid);
	fd = open(fn, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return;
	len = 0;
	for (ssize_t r; len < sizeof(buf) - 1 && (r = read(fd, buf + len, sizeof(buf) - 1 - len)) > 0;)
		len += r;
	close(fd);
	buf[len] = 0;
	unsetenv(name);
	for (char *p = buf; p < buf + len; p += strlen(p) + 1)
		if (!strncmp(p, name, n) && p[n] == '=')
			setenv(name, p + n + 1, 1);
}

int launch_start(struct launch *l)
{
	return ptrace(PTRACE_CONT, l->pid, 0, 0) ? -1 : 0;
}

int launch_pause(struct launch *l)
{
	uint64_t deadline = mono_ns() + PAUSE_MS * 1000000ULL;

	if (!l->traced || l->exited)
		return -1;
	if (!l->paused && !l->pausing) {
		if (ptrace(PTRACE_INTERRUPT, l->pid, 0, 0))
			return -1;
		l->pausing = true;
	}
	while (!l->paused && !l->exited && mono_ns() < deadline)
		launch_poll(l, -1, 100);
	return l->paused ? 0 : -1;
}

void launch_release(struct launch *l)
{
	l->finalizing = NULL;	/* the BPF maps it reads go away next */
	if (l->traced && !l->exited && !launch_pause(l) &&
	    !ptrace(PTRACE_DETACH, l->pid, 0, l->held_sig)) {
		l->traced = false;
		l->paused = false;
		l->held_sig = 0;
	}
	forward(l);
}

int launch_wait(struct launch *l)
{
	while (!l->exited && l->pid > 0) {
		if (launch_poll(l, -1, 1000) & LAUNCH_SIGNAL)
			forward(l);
		if (l->traced && l->paused)
			launch_release(l);	/* a trap that came late */
	}
	if (l->sfd >= 0) {
		close(l->sfd);
		l->sfd = -1;
	}
	return launch_exit_code(l->wstatus);
}
