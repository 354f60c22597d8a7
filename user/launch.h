/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Launch mode's hold on the command: started under PTRACE_SEIZE, its execs
 * followed until a CPython interpreter runs, signals sent to pyleakbpf
 * forwarded to it, paused (a ptrace stop, which the kernel ends if
 * pyleakbpf dies) for the report at interpreter shutdown, then let go.
 */
#ifndef LAUNCH_H
#define LAUNCH_H

#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <signal.h>
#include <sys/types.h>

/* What launch_poll() saw. */
enum {
	LAUNCH_SIGNAL = 1,	/* pyleakbpf got SIGINT/TERM/HUP/QUIT (sig) */
	LAUNCH_PAUSED = 2,	/* stopped at shutdown: the BPF pause signal */
	LAUNCH_EXITED = 4,	/* the command is gone */
};

/* A signal the tracee was seen receiving (for forwarding without doubles). */
struct launch_seen {
	int sig, code;
	pid_t sender;
	uint64_t ns;
};

#define LAUNCH_SEEN	8

struct launch {
	pid_t pid;
	int sfd;			/* signalfd: SIGCHLD and the forwarded signals */
	sigset_t oldmask;		/* our mask before launch_spawn */
	bool traced;			/* we are its tracer (until the release) */
	bool exited;
	int wstatus;			/* when exited */
	int pause_sig;			/* what the BPF side sends at shutdown, or 0 */
	bool pausing;			/* PTRACE_INTERRUPT sent, the trap is to come */
	bool paused;			/* in a ptrace stop we hold */
	bool final;			/* ... because the interpreter is shutting down */
	int held_sig;			/* signal-delivery-stop held while paused */
	int sig, sig_code;		/* the last signal pyleakbpf received */
	pid_t sig_sender;
	char exe[PATH_MAX];		/* its image at the last exec */
	int execs;			/* execs seen */
	bool following;			/* in launch_follow() */
	bool at_exec;			/* held at an exec for launch_follow() */
	struct launch_seen seen[LAUNCH_SEEN];
	int nseen;
	/* shutdown check: has the traced interpreter entered Py_FinalizeEx? */
	bool (*finalizing)(void *arg);
	void *arg;
};

/*
 * Fork cmd, PTRACE_SEIZE it before it execs, let it exec. Blocks SIGCHLD,
 * SIGINT, SIGTERM, SIGHUP and SIGQUIT in pyleakbpf (they are read from
 * l->sfd); the command starts with pyleakbpf's original mask.
 */
int launch_spawn(struct launch *l, char **cmd, char *err, size_t errlen);
/*
 * Run the command until it execs an image is_python() accepts; it is then
 * stopped at that exec, before its first instruction, l->pause_sig is
 * chosen (one it does not block), and 0 is returned.
 * 1 if it exited first. Each exec followed is said on stderr.
 */
int launch_follow(struct launch *l, bool (*is_python)(const char *exe, void *arg), void *arg);
/* Copy a variable of the command's environment into ours (or unset it). */
void launch_adopt_env(const struct launch *l, const char *name);
/* Let it run from the exec stop. */
int launch_start(struct launch *l);
/* Wait up to timeout_ms for fd or a launch event, handle it: LAUNCH_* bits. */
int launch_poll(struct launch *l, int fd, int timeout_ms);
/* Stop it (a ptrace trap) for a report; 0 once paused, -1 if it is gone. */
int launch_pause(struct launch *l);
/*
 * Let it go for good: detach (a held signal is delivered as it would have
 * been), then forward the signal pyleakbpf received, if any and if the
 * command did not get it itself.
 */
void launch_release(struct launch *l);
/* Wait for the command to end, forwarding signals; its exit status. */
int launch_wait(struct launch *l);
/* Shell-style exit status of a wait status: code, or 128 + signal. */
int launch_exit_code(int wstatus);
/* The pause signal for blocked (SigBlk) and caught (SigCgt) masks, or 0. */
int launch_pick_pause_sig(uint64_t blocked, uint64_t caught);
/* Did the tracee already get this signal from this sender (seen or pending)? */
bool launch_seen_it(struct launch *l, int sig, int code, pid_t sender, uint64_t pending,
		    uint64_t now);

#endif
