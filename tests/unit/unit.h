/* SPDX-License-Identifier: GPL-2.0 */
/*
 * A tiny unit test harness.
 *
 *	TEST(name_of_test)
 *	{
 *		CHECK(x > 0);
 *		CHECK_EQ_INT(f(2), 4);
 *		CHECK_STR(buf, "expected");
 *	}
 *
 * TEST() registers the function from a constructor; test_main.c runs every
 * registered test (each in a child process, so a crash fails one test, not
 * the run), prints one line per failed check and ends with
 * "N passed, M failed, K skipped" (counting tests). A test that could not
 * check all it means to (an interpreter or tool missing) calls unit_skip():
 * it is counted as skipped, never as passed, and with CI set in the
 * environment any skip makes the run fail.
 */
#ifndef UNIT_H
#define UNIT_H

#include <stdint.h>
#include <stdio.h>
#include <string.h>

typedef void (*unit_fn)(void);

void unit_register(const char *name, const char *file, unit_fn fn);
/* Record a failed check; printf-style message. */
void unit_fail(const char *file, int line, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* A note printed under the running test (skips and the like). */
void unit_note(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/*
 * The running test cannot check everything (something it needs is
 * missing): say why. It is counted as skipped unless a check failed; the
 * test itself returns (or goes on with what it can still check).
 */
void unit_skip(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Failed checks so far in the running test. */
int unit_failures(void);

#define TEST(name)							\
	static void name(void);						\
	__attribute__((constructor)) static void name##_register(void)	\
	{								\
		unit_register(#name, __FILE__, name);			\
	}								\
	static void name(void)

#define CHECK(cond)							\
	do {								\
		if (!(cond))						\
			unit_fail(__FILE__, __LINE__, "CHECK(%s)", #cond); \
	} while (0)

/* CHECK with a message of its own, printf-style. */
#define CHECKF(cond, ...)						\
	do {								\
		if (!(cond))						\
			unit_fail(__FILE__, __LINE__, __VA_ARGS__);	\
	} while (0)

#define CHECK_EQ_INT(a, b)						\
	do {								\
		long long _ua = (long long)(a), _ub = (long long)(b);	\
		if (_ua != _ub)						\
			unit_fail(__FILE__, __LINE__,			\
				  "CHECK_EQ_INT(%s, %s): %lld != %lld",	\
				  #a, #b, _ua, _ub);			\
	} while (0)

#define CHECK_EQ_U64(a, b)						\
	do {								\
		uint64_t _ua = (uint64_t)(a), _ub = (uint64_t)(b);	\
		if (_ua != _ub)						\
			unit_fail(__FILE__, __LINE__,			\
				  "CHECK_EQ_U64(%s, %s): 0x%llx != 0x%llx", \
				  #a, #b, (unsigned long long)_ua,	\
				  (unsigned long long)_ub);		\
	} while (0)

/*
 * UNIT_ASAN: built with AddressSanitizer (make unit-asan). UNIT_NO_ASAN on
 * a global keeps ASan's redzone out of its symbol size.
 */
#if defined(__SANITIZE_ADDRESS__)
#define UNIT_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define UNIT_ASAN 1
#endif
#endif
#ifdef UNIT_ASAN
#define UNIT_NO_ASAN __attribute__((no_sanitize("address")))
#else
#define UNIT_ASAN 0
#define UNIT_NO_ASAN
#endif

#define CHECK_STR(a, b)							\
	do {								\
		const char *_ua = (a), *_ub = (b);			\
		if (!_ua || !_ub || strcmp(_ua, _ub))			\
			unit_fail(__FILE__, __LINE__,			\
				  "CHECK_STR(%s, %s): \"%s\" != \"%s\"",\
				  #a, #b, _ua ? _ua : "(null)",		\
				  _ub ? _ub : "(null)");		\
	} while (0)

#endif
