// SPDX-License-Identifier: GPL-2.0
/*
 * Runs every TEST() registered by the tests/unit/test_*.c files. Each test
 * runs in a child process with a time limit, so a crash or a hang fails
 * that test and the run goes on. A test that called unit_skip() and failed
 * no check exits with SKIP_STATUS and is counted as skipped; with CI set in
 * the environment a skip fails the run. Optional arguments: run only the
 * tests whose name contains one of them.
 */
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include "unit.h"

#define MAX_TESTS	512
#define TEST_TIMEOUT	20	/* seconds */
#define SKIP_STATUS	77	/* exit status of a skipped test's child */

struct unit_test {
	const char *name;
	const char *file;
	unit_fn fn;
	int order;
};

static struct unit_test tests[MAX_TESTS];
static int ntests;
static const char *current;
static int failures;
static int skips;

void unit_register(const char *name, const char *file, unit_fn fn)
{
	if (ntests >= MAX_TESTS) {
		fprintf(stderr, "unit: more than %d tests\n", MAX_TESTS);
		exit(2);
	}
	tests[ntests] = (struct unit_test){ name, file, fn, ntests };
	ntests++;
}

void unit_fail(const char *file, int line, const char *fmt, ...)
{
	va_list ap;

	failures++;
	printf("%s:%d: %s: ", file, line, current ? current : "?");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
	fflush(stdout);
}

void unit_note(const char *fmt, ...)
{
	va_list ap;

	printf("note: %s: ", current ? current : "?");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
	fflush(stdout);
}

void unit_skip(const char *fmt, ...)
{
	va_list ap;

	skips++;
	printf("SKIP: %s: ", current ? current : "?");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
	fflush(stdout);
}

int unit_failures(void)
{
	return failures;
}

/* By file, then in the order the tests appear in it. */
static int cmp_test(const void *a, const void *b)
{
	const struct unit_test *x = a, *y = b;
	int c = strcmp(x->file, y->file);

	return c ? c : x->order - y->order;
}

static int selected(const struct unit_test *t, int argc, char **argv)
{
	if (argc < 2)
		return 1;
	for (int i = 1; i < argc; i++)
		if (strstr(t->name, argv[i]))
			return 1;
	return 0;
}

enum outcome { PASSED, FAILED, SKIPPED };

static enum outcome run_one(const struct unit_test *t)
{
	int status;
	pid_t pid;

	fflush(stdout);
	fflush(stderr);
	pid = fork();
	if (pid < 0) {
		perror("fork");
		exit(2);
	}
	if (pid == 0) {
		current = t->name;
		failures = 0;
		skips = 0;
		alarm(TEST_TIMEOUT);
		t->fn();
		fflush(stdout);
		_exit(failures ? 1 : skips ? SKIP_STATUS : 0);
	}
	if (waitpid(pid, &status, 0) < 0) {
		perror("waitpid");
		exit(2);
	}
	if (WIFEXITED(status))
		return WEXITSTATUS(status) == 0 ? PASSED :
		       WEXITSTATUS(status) == SKIP_STATUS ? SKIPPED : FAILED;
	if (WIFSIGNALED(status))
		printf("%s: %s: killed by signal %d (%s)%s\n", t->file, t->name,
		       WTERMSIG(status), strsignal(WTERMSIG(status)),
		       WTERMSIG(status) == SIGALRM ? ": timed out" : "");
	return FAILED;
}

int main(int argc, char **argv)
{
	int passed = 0, failed = 0, skipped = 0;
	const char *ci = getenv("CI");

	setvbuf(stdout, NULL, _IOLBF, 0);
	qsort(tests, ntests, sizeof(tests[0]), cmp_test);
	for (int i = 0; i < ntests; i++) {
		if (!selected(&tests[i], argc, argv))
			continue;
		switch (run_one(&tests[i])) {
		case PASSED:
			passed++;
			break;
		case SKIPPED:
			skipped++;
			break;
		default:
			failed++;
		}
	}
	printf("%d passed, %d failed, %d skipped\n", passed, failed, skipped);
	if (skipped && ci && *ci) {
		printf("CI is set: %d skipped test%s fail%s the run\n", skipped,
		       skipped == 1 ? "" : "s", skipped == 1 ? "s" : "");
		return 1;
	}
	return failed ? 1 : 0;
}
