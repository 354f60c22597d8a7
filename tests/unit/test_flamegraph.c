// SPDX-License-Identifier: GPL-2.0
/*
 * The SVG flame graph: profiles built by hand, written to a memory stream
 * and read back as text. Frames are found by their <title>, which holds
 * the escaped name followed by " (value, share)".
 */
#include <stdlib.h>
#include <unistd.h>
#include "profile.h"
#include "unit.h"

#define ARRAY_LEN(a)	(sizeof(a) / sizeof((a)[0]))
#define FG_INNER_W	1180.0	/* width of the root frame, px */

static char *render(struct prof_sample *s, size_t n, enum prof_value v, const char *title)
{
	struct profile p = { .samples = s, .n = n, .pid = 42 };
	struct flamegraph_opts o = { .title = title, .value = v };
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	CHECK(f != NULL);
	CHECK_EQ_INT(flamegraph_write(&p, &o, f), 0);
	fclose(f);
	CHECKF(strstr(buf, "</svg>\n"), "no closing </svg>");
	return buf;
}

static struct prof_sample sample(const char *folded, int64_t bytes)
{
	return (struct prof_sample){ .folded = folded, .inuse_bytes = bytes, .inuse_count = bytes };
}

/* The <g> of the frame whose escaped name is name; NULL if not drawn. */
static const char *frame(const char *svg, const char *name)
{
	char key[512];
	const char *t;

	snprintf(key, sizeof(key), "<title>%s (", name);
	t = strstr(svg, key);
	if (!t)
		return NULL;
	while (t > svg && strncmp(t, "<g ", 3))
		t--;
	return t;
}

static double attr(const char *g, const char *name)
{
	char key[64];
	const char *a;

	snprintf(key, sizeof(key), " %s=\"", name);
	a = g ? strstr(g, key) : NULL;
	return a ? atof(a + strlen(key)) : -1;
}

static int count(const char *s, const char *what)
{
	int n = 0;

	for (; (s = strstr(s, what)); s++)
		n++;
	return n;
}

static bool near(double a, double b)
{
	return a > b - 0.01 && a < b + 0.01;
}

TEST(flamegraph_widths)
{
	struct prof_sample s[] = {
		sample("a;b", 300), sample("a;c", 100), sample("d", 600),
	};
	char *svg = render(s, ARRAY_LEN(s), PV_INUSE_BYTES, "Leaks");
	const char *want[] = { "all", "a", "b", "c", "d" };
	const double value[] = { 1000, 400, 300, 100, 600 };

	for (size_t i = 0; i < ARRAY_LEN(want); i++) {
		const char *g = frame(svg, want[i]);

		CHECKF(g, "frame %s missing", want[i]);
		CHECKF(near(attr(g, "width"), FG_INNER_W * value[i] / 1000),
		       "%s: width %.2f, want %.2f", want[i], attr(g, "width"),
		       FG_INNER_W * value[i] / 1000);
		CHECK(near(attr(g, "data-v"), value[i]));
	}
	/* children left to right in name order, each after its elder sibling */
	CHECK(near(attr(frame(svg, "c"), "data-o"), 300));
	CHECK(near(attr(frame(svg, "d"), "data-o"), 400));
	CHECK(near(attr(frame(svg, "d"), "x"), 10 + FG_INNER_W * 0.4));
	/* root at the bottom: deeper frames higher up */
	CHECK(attr(frame(svg, "b"), "y") < attr(frame(svg, "a"), "y"));
	CHECK(strstr(svg, "<title>a (400 B, 40.00%)</title>"));
	CHECK(strstr(svg, ">Leaks</text>"));
	CHECK(strstr(svg, "Total: 1000 B outstanding in 3 stacks"));
	CHECK(strstr(svg, "<script><![CDATA["));
	CHECK(!strstr(svg, "http://www.w3.org/1999/xlink"));	/* nothing linked */
	free(svg);
}

TEST(flamegraph_merges_prefixes)
{
	struct prof_sample s[] = {
		sample("a;b;d", 20), sample("a;b;c", 10), sample("a;b", 5), sample("a;b;c", 1),
	};
	char *svg = render(s, ARRAY_LEN(s), PV_INUSE_BYTES, NULL);
	const char *d = frame(svg, "d");

	CHECK_EQ_INT(count(svg, "<title>a ("), 1);
	CHECK_EQ_INT(count(svg, "<title>b ("), 1);
	CHECK_EQ_INT(count(svg, "<title>c ("), 1);
	CHECK(near(attr(frame(svg, "b"), "data-v"), 36));
	CHECK(near(attr(frame(svg, "c"), "data-v"), 11));
	CHECK(near(attr(d, "data-o"), 11));
	CHECK(near(attr(d, "data-d"), 3));
	CHECK(strstr(svg, "in 4 stacks"));
	free(svg);
}

TEST(flamegraph_escapes_names)
{
	struct prof_sample s[] = {
		sample("<module>;x<&\">'y", 10), sample("lib&co.so!f", 10),
	};
	char *svg = render(s, ARRAY_LEN(s), PV_INUSE_BYTES, "a < b & \"c\"");

	CHECK(frame(svg, "&lt;module&gt;"));
	CHECK(frame(svg, "x&lt;&amp;&quot;&gt;&apos;y"));
	CHECK(frame(svg, "lib&amp;co.so!f"));
	CHECK(strstr(svg, ">a &lt; b &amp; &quot;c&quot;</text>"));
	CHECK(!strstr(svg, "x<&"));
	CHECK(!strstr(svg, "<module>"));
	free(svg);
}

TEST(flamegraph_skips_nonpositive)
{
	struct prof_sample s[] = {
		sample("zero", 0), sample("kept", 7), sample("negative", -5),
	};
	char *svg = render(s, ARRAY_LEN(s), PV_INUSE_BYTES, NULL);

	CHECK(frame(svg, "kept"));
	CHECK(!strstr(svg, "zero"));
	CHECK(!strstr(svg, "negative"));
	CHECK(strstr(svg, "Total: 7 B outstanding in 1 stack<"));
	CHECK(near(attr(frame(svg, "kept"), "width"), FG_INNER_W));
	free(svg);
}

TEST(flamegraph_empty)
{
	struct prof_sample s[] = { sample("gone", 0), sample("freed", -1) };
	char *none = render(NULL, 0, PV_INUSE_BYTES, NULL);
	char *zero = render(s, ARRAY_LEN(s), PV_ALLOC_BYTES, NULL);

	for (char *svg = none; svg; svg = svg == none ? zero : NULL) {
		CHECK(!strncmp(svg, "<?xml ", 6));
		CHECK(strstr(svg, "<svg xmlns=\"http://www.w3.org/2000/svg\""));
		CHECK(strstr(svg, "Nothing to show"));
		CHECK(!strstr(svg, "<g class=\"f\""));
		CHECK(!strstr(svg, "narrower than"));
	}
	CHECK(strstr(none, "Total: 0 B outstanding in 0 stacks"));
	CHECK(strstr(zero, "Total: 0 B allocated while tracing in 0 stacks"));
	free(none);
	free(zero);
}

TEST(flamegraph_counts)
{
	struct prof_sample s[] = { sample("a", 1234567), sample("b", 1) };
	char *svg = render(s, ARRAY_LEN(s), PV_INUSE_COUNT, NULL);

	CHECK(strstr(svg, "Total: 1,234,568 blocks outstanding in 2 stacks"));
	CHECK(strstr(svg, "<title>a (1,234,567 blocks, 100.00%)</title>"));
	CHECK(!frame(svg, "b"));	/* far narrower than 0.1% */
	CHECK(strstr(svg, "bytes: false"));
	free(svg);
}

TEST(flamegraph_elides_narrow_frames)
{
	struct prof_sample s[] = {
		sample("big", 100000), sample("big;tiny;tinier", 50), sample("small", 200),
	};
	char *svg = render(s, ARRAY_LEN(s), PV_INUSE_BYTES, NULL);

	CHECK(frame(svg, "big"));
	CHECK(frame(svg, "small"));	/* 0.2% */
	CHECK(!frame(svg, "tiny"));
	CHECK(!frame(svg, "tinier"));
	CHECK(strstr(svg, ">2 frames narrower than 0.1% of the total not drawn<"));
	free(svg);
}

/* Labels are cut to their frame; colours tell native frames apart. */
TEST(flamegraph_labels_and_colours)
{
	struct prof_sample s[] = {
		sample("wide_python_function (app.py:1);libc.so.6!malloc", 940),
		sample("a_rather_long_function_name_in_a_narrow_frame (x.py:2)", 60),
	};
	char *svg = render(s, ARRAY_LEN(s), PV_INUSE_BYTES, NULL);
	const char *py = frame(svg, "wide_python_function (app.py:1)");
	const char *native = frame(svg, "libc.so.6!malloc");
	const char *narrow = frame(svg, "a_rather_long_function_name_in_a_narrow_frame (x.py:2)");
	int r, g, b;

	CHECK(py && strstr(py, ">wide_python_function (app.py:1)</text>"));
	CHECK(narrow && strstr(narrow, "..</text>"));
	CHECK(py && sscanf(strstr(py, "fill=\"rgb("), "fill=\"rgb(%d,%d,%d)", &r, &g, &b) == 3);
	CHECKF(r > 200 && b < 80, "python frame not warm: %d,%d,%d", r, g, b);
	CHECK(native && sscanf(strstr(native, "fill=\"rgb("), "fill=\"rgb(%d,%d,%d)",
				&r, &g, &b) == 3);
	CHECKF(b > r + 60, "native frame not blue: %d,%d,%d", r, g, b);
	free(svg);
}

/* Bytes XML cannot hold: control characters and broken UTF-8 become '?'. */
TEST(flamegraph_bad_bytes)
{
	struct prof_sample s[] = {
		sample("ctl\x01\x1f;bad\xff\xc3(;cut\xe2\x82;caf\xc3\xa9 \xe2\x82\xac", 10),
	};
	char *svg = render(s, ARRAY_LEN(s), PV_INUSE_BYTES, NULL);
	char path[] = "/tmp/fg_unit_XXXXXX";
	int fd;

	/* "?" "?" as two literals: "??(" would be a trigraph */
	CHECK(frame(svg, "ctl?" "?"));
	CHECK(frame(svg, "bad?" "?("));
	CHECK(frame(svg, "cut?" "?"));
	CHECK(frame(svg, "caf\xc3\xa9 \xe2\x82\xac"));
	if (access("/usr/bin/xmllint", X_OK)) {
		unit_skip("no xmllint: well-formedness not checked");
	} else if ((fd = mkstemp(path)) >= 0) {
		char cmd[128];

		CHECK(write(fd, svg, strlen(svg)) == (ssize_t)strlen(svg));
		close(fd);
		snprintf(cmd, sizeof(cmd), "/usr/bin/xmllint --noout %s", path);
		CHECK_EQ_INT(system(cmd), 0);
		unlink(path);
	}
	free(svg);
}
