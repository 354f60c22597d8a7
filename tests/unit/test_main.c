// SPDX-License-Identifier: GPL-2.0
/*
 * Runs every TEST() registered by the tests/unit/test_*.c files. Each test
 * runs in a child process with a time limit, so a crash or a hang fails
 * that test and the run goes on. Optional arguments: run only the tests
 * whose name contains one of them.
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

/* 1 if the test passed. */
static int run_one(const struct unit_test *t)
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
		alarm(TEST_TIMEOUT);
		t->fn();
		fflush(stdout);
		_exit(failures ? 1 : 0);
	}
	if (waitpid(pid, &status, 0) < 0) {
		perror("waitpid");
		exit(2);
	}
	if (WIFEXITED(status))
		return WEXITSTATUS(status) == 0;
	if (WIFSIGNALED(status))
		printf("%s: %s: killed by signal %d (%s)%s\n", t->file, t->name,
		       WTERMSIG(status), strsignal(WTERMSIG(status)),
		       WTERMSIG(status) == SIGALRM ? ": timed out" : "");
	return 0;
}

int main(int argc, char **argv)
{
	int passed = 0, failed = 0;

	setvbuf(stdout, NULL, _IOLBF, 0);
	qsort(tests, ntests, sizeof(tests[0]), cmp_test);
	for (int i = 0; i < ntests; i++) {
		if (!selected(&tests[i], argc, argv))
			continue;
		if (run_one(&tests[i]))
			passed++;
		else
			failed++;
	}
	printf("%d passed, %d failed\n", passed, failed);
	return failed ? 1 : 0;
}
