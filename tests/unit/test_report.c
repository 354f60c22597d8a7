// SPDX-License-Identifier: GPL-2.0
/*
 * The text forms of a report: folded stacks, frames, file names, sizes and
 * counts. Stacks are built by hand from struct code_info / sym_frame /
 * sym_stack (symbolize.h); frames of a sym_stack are innermost first.
 */
#include <stdbool.h>
#include <stdlib.h>
#include "fmt.h"
#include "pyleak.h"
#include "gcstats.h"
#include "snapshot.h"
#include "symbolize.h"
#include "unit.h"

#define ARRAY_LEN(a)	(sizeof(a) / sizeof((a)[0]))

static struct code_info code(const char *qualname, const char *filename, int ok)
{
	return (struct code_info){
		.addr = 0x7f0000001000, .ok = ok,
		.qualname = (char *)qualname, .filename = (char *)filename,
		.firstlineno = 1,
	};
}

static struct sym_stack stack(struct sym_frame *frames, int n, unsigned flags)
{
	return (struct sym_stack){ .id = 1, .nframes = n, .flags = flags, .frames = frames };
}

static const char *folded(const struct sym_stack *ss, bool full_path)
{
	static char buf[8192];
	size_t n = folded_frames(ss, full_path, buf, sizeof(buf));

	CHECKF(n == strlen(buf), "folded_frames returned %zu for \"%s\" (length %zu)",
	       n, buf, strlen(buf));
	return buf;
}

TEST(folded_root_first)
{
	struct code_info mod = code("<module>", "/srv/app/main.py", 1);
	struct code_info meth = code("Klass.method", "/srv/app/lib/store.py", 1);
	struct code_info inner = code("Klass.method.<locals>.inner", "/srv/app/lib/util.py", 1);
	struct sym_frame fr[] = {		/* innermost first */
		{ &inner, 12 }, { &meth, 345 }, { &mod, 7 },
	};
	struct sym_stack ss = stack(fr, 3, 0);

	CHECK_STR(folded(&ss, false),
		  "<module> (main.py:7);Klass.method (store.py:345);"
		  "Klass.method.<locals>.inner (util.py:12)");
	CHECK_STR(folded(&ss, true),
		  "<module> (/srv/app/main.py:7);Klass.method (/srv/app/lib/store.py:345);"
		  "Klass.method.<locals>.inner (/srv/app/lib/util.py:12)");
}

TEST(folded_single_frame)
{
	struct code_info f = code("f", "/t/x.py", 1);
	struct sym_frame fr[] = { { &f, 1 } };
	struct sym_stack ss = stack(fr, 1, 0);

	CHECK_STR(folded(&ss, false), "f (x.py:1)");
}

TEST(folded_unknown_frames)
{
	struct code_info bad = code("never", "/never.py", 0);	/* could not be read */
	struct code_info good = code("g", "/t/g.py", 1);
	struct sym_frame fr[] = { { NULL, -1 }, { &bad, 5 }, { &good, 9 }, { NULL, 3 } };
	struct sym_stack ss = stack(fr, 4, 0);

	CHECK_STR(folded(&ss, false), "[unknown];g (g.py:9);[unknown];[unknown]");
	CHECK_STR(folded(&ss, true), "[unknown];g (/t/g.py:9);[unknown];[unknown]");
}

TEST(folded_no_line)
{
	struct code_info a = code("a", "/t/a.py", 1), b = code("b", "/t/b.py", 1);
	struct sym_frame fr[] = { { &a, -1 }, { &b, 0 } };
	struct sym_stack ss = stack(fr, 2, 0);

	/* line 0 is a line (CPython uses it for some module code); -1 is none */
	CHECK_STR(folded(&ss, false), "b (b.py:0);a (a.py:?)");
}

TEST(folded_separators_replaced)
{
	struct code_info a = code("we;ird\nname\r", "/t/d;ir/fi;le\n.py", 1);
	struct sym_frame fr[] = { { &a, 4 } };
	struct sym_stack ss = stack(fr, 1, 0);
	const char *s;

	s = folded(&ss, false);
	CHECK_STR(s, "we_ird_name_ (fi_le_.py:4)");
	CHECK(!strchr(s, ';') && !strchr(s, '\n') && !strchr(s, '\r'));
	s = folded(&ss, true);
	CHECK_STR(s, "we_ird_name_ (/t/d_ir/fi_le_.py:4)");
}

TEST(folded_package_init)
{
	struct code_info a = code("<module>", "/usr/lib/python3.11/json/__init__.py", 1);
	struct code_info b = code("loads", "/usr/lib/python3.11/json/decoder.py", 1);
	struct sym_frame fr[] = { { &b, 337 }, { &a, 346 } };
	struct sym_stack ss = stack(fr, 2, 0);

	CHECK_STR(folded(&ss, false), "<module> (json/__init__.py:346);loads (decoder.py:337)");
}

TEST(folded_truncated)
{
	struct code_info a = code("a", "/t/a.py", 1), b = code("b", "/t/b.py", 1);
	struct sym_frame fr[] = { { &a, 1 }, { &b, 2 } };
	struct sym_stack ss = stack(fr, 2, STACK_TRUNCATED);

	CHECK_STR(folded(&ss, false), "[truncated];b (b.py:2);a (a.py:1)");
	ss.flags = STACK_TRUNCATED | STACK_READ_ERR;
	CHECK_STR(folded(&ss, false), "[truncated];b (b.py:2);a (a.py:1)");
}

TEST(folded_empty_stacks)
{
	struct sym_frame none[1];
	struct sym_stack ss = stack(none, 0, 0);

	CHECK_STR(folded(&ss, false), "[no Python frames]");
	ss.flags = STACK_NO_TSTATE;
	CHECK_STR(folded(&ss, false), "[no Python thread state]");
	ss.flags = STACK_NO_TSTATE | STACK_READ_ERR;
	CHECK_STR(folded(&ss, false), "[no Python thread state]");
	ss.flags = STACK_READ_ERR;	/* the first frame could not be read */
	CHECK_STR(folded(&ss, false), "[unknown]");
	ss.flags = STACK_TRUNCATED;	/* cannot happen, but no "[truncated];" alone */
	CHECK(strncmp(folded(&ss, false), "[truncated];", 12) != 0);
}

/* A full-depth stack: exactly MAX_FRAMES frames, in order. */
TEST(folded_max_frames)
{
	static struct code_info codes[MAX_FRAMES];
	static char names[MAX_FRAMES][16];
	struct sym_frame fr[MAX_FRAMES];
	struct sym_stack ss;
	char want[8192] = "[truncated]", one[64];
	const char *got;

	for (int i = 0; i < MAX_FRAMES; i++) {
		snprintf(names[i], sizeof(names[i]), "f%d", i);
		codes[i] = code(names[i], "/t/deep.py", 1);
		fr[i] = (struct sym_frame){ &codes[i], 1000 + i };
	}
	for (int i = MAX_FRAMES - 1; i >= 0; i--) {
		snprintf(one, sizeof(one), ";f%d (deep.py:%d)", i, 1000 + i);
		strcat(want, one);
	}
	ss = stack(fr, MAX_FRAMES, STACK_TRUNCATED);
	got = folded(&ss, false);
	CHECK_STR(got, want);
}

/* A buffer too small: cut, NUL-terminated, a prefix of the whole. */
TEST(folded_small_buffer)
{
	struct code_info a = code("alpha", "/t/a.py", 1), b = code("beta", "/t/b.py", 1);
	struct sym_frame fr[] = { { &a, 10 }, { &b, 20 }, { &a, 30 } };
	struct sym_stack ss = stack(fr, 3, STACK_TRUNCATED);
	char whole[512], buf[64];
	size_t wn = folded_frames(&ss, false, whole, sizeof(whole));

	CHECK_EQ_INT(wn, strlen(whole));
	for (size_t len = 1; len <= wn + 2 && len <= sizeof(buf); len++) {
		size_t n;

		memset(buf, 'X', sizeof(buf));
		n = folded_frames(&ss, false, buf, len);
		CHECKF(memchr(buf, 0, len) != NULL, "len %zu: not NUL-terminated", len);
		CHECKF(n == strlen(buf), "len %zu: returned %zu, strlen %zu", len, n, strlen(buf));
		CHECKF(n < len, "len %zu: returned %zu", len, n);
		CHECKF(!strncmp(buf, whole, strlen(buf)), "len %zu: \"%s\" not a prefix of \"%s\"",
		       len, buf, whole);
		CHECKF(len >= sizeof(buf) || buf[len] == 'X', "len %zu: wrote past the buffer",
		       len);
		if (len > wn)
			CHECK_STR(buf, whole);
	}
}

TEST(frame_format_forms)
{
	struct code_info a = code("Outer.inner", "/home/u/proj/pkg/__init__.py", 1);
	struct code_info z = code("z", "/x/y/z.py", 0);
	struct sym_frame f1 = { &a, 42 }, f2 = { &a, -1 }, f3 = { &z, 1 }, f4 = { NULL, 1 };
	char buf[256], *r;

	r = frame_format(&f1, 0, buf, sizeof(buf));
	CHECK(r == buf);
	CHECK_STR(buf, "Outer.inner (pkg/__init__.py:42)");
	CHECK_STR(frame_format(&f1, 1, buf, sizeof(buf)),
		  "Outer.inner (/home/u/proj/pkg/__init__.py:42)");
	CHECK_STR(frame_format(&f2, 0, buf, sizeof(buf)), "Outer.inner (pkg/__init__.py:?)");
	CHECK_STR(frame_format(&f3, 0, buf, sizeof(buf)), "[unknown]");
	CHECK_STR(frame_format(&f4, 1, buf, sizeof(buf)), "[unknown]");
}

TEST(frame_format_small_buffer)
{
	struct code_info a = code("function_name", "/t/file.py", 1);
	struct sym_frame f = { &a, 12345 };
	char buf[16];

	memset(buf, 'X', sizeof(buf));
	frame_format(&f, 0, buf, 10);
	CHECK_STR(buf, "function_");
	CHECK(buf[10] == 'X');
}

/* Names longer than the formatting buffers are cut, never overflowed. */
TEST(frame_format_long_names)
{
	char qn[3000], fn[3000], buf[4096];
	struct code_info a;
	struct sym_frame f;

	memset(qn, 'q', sizeof(qn) - 1);
	qn[sizeof(qn) - 1] = 0;
	fn[0] = '/';
	memset(fn + 1, 'd', sizeof(fn) - 1);
	memcpy(fn + sizeof(fn) - 5, ".py", 4);
	a = code(qn, fn, 1);
	f = (struct sym_frame){ &a, 7 };
	frame_format(&f, 1, buf, sizeof(buf));
	CHECK(strlen(buf) < sizeof(buf));
	CHECK(!strncmp(buf, "qqqq", 4));
	CHECK(strchr(buf, '(') != NULL);
	frame_format(&f, 0, buf, sizeof(buf));
	CHECK(strlen(buf) < sizeof(buf));
}

TEST(short_filename_forms)
{
	static const struct { const char *in, *want; } cases[] = {
		{ "/usr/lib/python3.11/json/decoder.py", "decoder.py" },
		{ "/usr/lib/python3.11/json/__init__.py", "json/__init__.py" },
		{ "json/__init__.py", "json/__init__.py" },
		{ "a/b/c/__init__.py", "c/__init__.py" },
		{ "/__init__.py", "__init__.py" },
		{ "__init__.py", "__init__.py" },
		{ "plain.py", "plain.py" },
		{ "<frozen importlib._bootstrap>", "<frozen importlib._bootstrap>" },
		{ "<string>", "<string>" },
		{ "/tmp/my dir/with space.py", "with space.py" },
		{ "/x/not__init__.py", "not__init__.py" },
		{ "/x/__init__.pyc", "__init__.pyc" },
	};
	char buf[256];

	for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
		const char *got = short_filename(cases[i].in, buf, sizeof(buf));

		CHECKF(got && !strcmp(got, cases[i].want), "short_filename(\"%s\") = \"%s\", want \"%s\"",
		       cases[i].in, got ? got : "(null)", cases[i].want);
	}
}

TEST(human_bytes_units)
{
	static const struct { double in; const char *want; } cases[] = {
		{ 0, "0 B" },
		{ 1, "1 B" },
		{ 1023, "1023 B" },
		{ 1024, "1.0 KiB" },
		{ 1536, "1.5 KiB" },
		{ 10 * 1024 + 512, "10.5 KiB" },
		{ 1048576, "1.0 MiB" },
		{ 1.2 * 1048576, "1.2 MiB" },
		{ 1073741824.0, "1.0 GiB" },
		{ 1.5 * 1073741824.0, "1.5 GiB" },
		{ 1099511627776.0, "1.0 TiB" },
		{ 1024 * 1099511627776.0, "1024.0 TiB" },	/* no unit past TiB */
		{ -1, "-1 B" },
		{ -2048, "-2.0 KiB" },
		{ -3 * 1048576.0, "-3.0 MiB" },
	};
	char buf[32];

	for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
		char *r = human_bytes(cases[i].in, buf, sizeof(buf));

		CHECK(r == buf);
		CHECKF(!strcmp(buf, cases[i].want), "human_bytes(%.17g) = \"%s\", want \"%s\"",
		       cases[i].in, buf, cases[i].want);
	}
	human_bytes(1e30, buf, 8);
	CHECK(strlen(buf) < 8);
}

/*
 * Values just under a unit boundary must not print as "1024.0 KiB": the
 * unit is chosen after rounding.
 */
TEST(human_bytes_rounding_at_boundary)
{
	char buf[32];

	CHECK_STR(human_bytes(1048575, buf, sizeof(buf)), "1.0 MiB");
	CHECK_STR(human_bytes(1073741823.0, buf, sizeof(buf)), "1.0 GiB");
}

TEST(thousands_groups)
{
	static const struct { uint64_t in; const char *want; } cases[] = {
		{ 0, "0" },
		{ 7, "7" },
		{ 999, "999" },
		{ 1000, "1,000" },
		{ 12345, "12,345" },
		{ 123456, "123,456" },
		{ 1234567, "1,234,567" },
		{ 1000000000ULL, "1,000,000,000" },
		{ UINT64_MAX, "18,446,744,073,709,551,615" },
	};
	char buf[64];

	for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
		char *r = thousands(cases[i].in, buf, sizeof(buf));

		CHECK(r == buf);
		CHECKF(!strcmp(buf, cases[i].want), "thousands(%llu) = \"%s\", want \"%s\"",
		       (unsigned long long)cases[i].in, buf, cases[i].want);
	}
}

TEST(thousands_small_buffer)
{
	char buf[32];

	for (size_t len = 1; len <= 12; len++) {
		memset(buf, 'X', sizeof(buf));
		thousands(1234567890ULL, buf, len);
		CHECKF(strlen(buf) < len, "len %zu: \"%s\"", len, buf);
		/* too small for separators: plain digits, never a wrong number */
		CHECKF(!strcmp("1,234,567,890", buf) ||
		       !strncmp("1234567890", buf, strlen(buf)), "len %zu: \"%s\"", len, buf);
		CHECKF(buf[len] == 'X', "len %zu: wrote past the buffer", len);
	}
	CHECK_STR(thousands(1234567890ULL, buf, 15), "1,234,567,890");
}

/*
 * A buffer of exactly strlen + 1 bytes holds the whole number.
 */
TEST(thousands_exact_buffer)
{
	char buf[32];

	CHECK_STR(thousands(1234567890ULL, buf, 14), "1,234,567,890");
	CHECK_STR(thousands(7, buf, 2), "7");
	CHECK_STR(thousands(1000, buf, 6), "1,000");
}

TEST(gc_hist_bucket_edges)
{
	/* bucket i holds [2^i, 2^(i+1)) microseconds; bucket 0 also < 1 us */
	CHECK_EQ_INT(gc_hist_bucket(0), 0);
	CHECK_EQ_INT(gc_hist_bucket(1999), 0);
	CHECK_EQ_INT(gc_hist_bucket(2000), 1);
	CHECK_EQ_INT(gc_hist_bucket(3999), 1);
	CHECK_EQ_INT(gc_hist_bucket(4000), 2);
	CHECK_EQ_INT(gc_hist_bucket(8192000), 13);
	CHECK_EQ_INT(gc_hist_bucket(16383999), 13);
	CHECK_EQ_INT(gc_hist_bucket(16384000), 14);
	CHECK_EQ_INT(gc_hist_bucket(UINT64_MAX), GC_HIST - 1);
}

TEST(percentile_nearest_rank)
{
	uint64_t v[100];

	for (int i = 0; i < 100; i++)
		v[i] = i + 1;
	CHECK_EQ_U64(percentile(v, 100, 50), 50);
	CHECK_EQ_U64(percentile(v, 100, 99), 99);
	CHECK_EQ_U64(percentile(v, 100, 100), 100);
	CHECK_EQ_U64(percentile(v, 1, 99), 1);
	CHECK_EQ_U64(percentile(v, 0, 50), 0);
	CHECK_EQ_U64(percentile(v, 3, 50), 2);
}
