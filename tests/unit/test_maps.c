// SPDX-License-Identifier: GPL-2.0
/* maps_parse_line(): /proc/PID/maps lines, made up and live. */
#include <errno.h>
#include <stdlib.h>
#include <unistd.h>
#include "target.h"
#include "unit.h"

#define ARRAY_LEN(a)	(sizeof(a) / sizeof((a)[0]))

struct maps_case {
	const char *line;
	uint64_t start, end, offset;
	const char *perms;
	unsigned long inode;
	const char *path;
};

static void check_case(const struct maps_case *c)
{
	struct map_entry e;
	int r;

	memset(&e, 0x55, sizeof(e));
	r = maps_parse_line(c->line, &e);
	CHECKF(r == 0, "maps_parse_line(\"%s\") = %d", c->line, r);
	if (r)
		return;
	CHECKF(e.start == c->start && e.end == c->end,
	       "\"%s\": start-end 0x%llx-0x%llx, want 0x%llx-0x%llx", c->line,
	       (unsigned long long)e.start, (unsigned long long)e.end,
	       (unsigned long long)c->start, (unsigned long long)c->end);
	CHECKF(e.offset == c->offset, "\"%s\": offset 0x%llx, want 0x%llx", c->line,
	       (unsigned long long)e.offset, (unsigned long long)c->offset);
	CHECKF(!strcmp(e.perms, c->perms), "\"%s\": perms \"%.5s\", want \"%s\"", c->line,
	       e.perms, c->perms);
	CHECKF(e.inode == c->inode, "\"%s\": inode %lu, want %lu", c->line, e.inode, c->inode);
	CHECKF(!strcmp(e.path, c->path), "\"%s\": path \"%s\", want \"%s\"", c->line,
	       e.path, c->path);
}

TEST(maps_lines_with_path)
{
	static const struct maps_case cases[] = {
		{ "563653e06000-563653e08000 r--p 00000000 fe:00 247134                     /usr/bin/cat\n",
		  0x563653e06000, 0x563653e08000, 0, "r--p", 247134, "/usr/bin/cat" },
		/* no newline at the end */
		{ "563653e08000-563653e0d000 r-xp 00002000 fe:00 247134 /usr/bin/cat",
		  0x563653e08000, 0x563653e0d000, 0x2000, "r-xp", 247134, "/usr/bin/cat" },
		{ "7f47707df000-7f4770935000 r-xp 0017c000 103:02 332835                     /usr/lib/x86_64-linux-gnu/libc.so.6\n",
		  0x7f47707df000, 0x7f4770935000, 0x17c000, "r-xp", 332835,
		  "/usr/lib/x86_64-linux-gnu/libc.so.6" },
		{ "7f477099e000-7f47709a5000 r--s 00000000 fe:00 332280                     /usr/lib/x86_64-linux-gnu/gconv/gconv-modules.cache\n",
		  0x7f477099e000, 0x7f47709a5000, 0, "r--s", 332280,
		  "/usr/lib/x86_64-linux-gnu/gconv/gconv-modules.cache" },
		/* large inode, large offset */
		{ "7f0000000000-7f0000001000 rw-p 7fffffffff000 08:01 18446744073709551615   /data/big\n",
		  0x7f0000000000, 0x7f0000001000, 0x7fffffffff000, "rw-p", 18446744073709551615UL,
		  "/data/big" },
	};

	for (size_t i = 0; i < ARRAY_LEN(cases); i++)
		check_case(&cases[i]);
}

TEST(maps_lines_without_path)
{
	static const struct maps_case cases[] = {
		/* what the kernel prints for anonymous memory: a trailing space */
		{ "7f4770736000-7f4770758000 rw-p 00000000 00:00 0 \n",
		  0x7f4770736000, 0x7f4770758000, 0, "rw-p", 0, "" },
		{ "7f4770736000-7f4770758000 rw-p 00000000 00:00 0\n",
		  0x7f4770736000, 0x7f4770758000, 0, "rw-p", 0, "" },
		{ "7f4770736000-7f4770758000 ---p 00000000 00:00 0",
		  0x7f4770736000, 0x7f4770758000, 0, "---p", 0, "" },
		{ "7f4770736000-7f4770758000 rw-p 00000000 00:00 0                          \n",
		  0x7f4770736000, 0x7f4770758000, 0, "rw-p", 0, "" },
	};

	for (size_t i = 0; i < ARRAY_LEN(cases); i++)
		check_case(&cases[i]);
}

TEST(maps_lines_pseudo_paths)
{
	static const struct maps_case cases[] = {
		{ "563690694000-5636906b5000 rw-p 00000000 00:00 0                          [heap]\n",
		  0x563690694000, 0x5636906b5000, 0, "rw-p", 0, "[heap]" },
		{ "7ffc1b5f9000-7ffc1b5fb000 r-xp 00000000 00:00 0                          [vdso]\n",
		  0x7ffc1b5f9000, 0x7ffc1b5fb000, 0, "r-xp", 0, "[vdso]" },
		{ "7ffc1b5d6000-7ffc1b5f7000 rw-p 00000000 00:00 0                          [stack]\n",
		  0x7ffc1b5d6000, 0x7ffc1b5f7000, 0, "rw-p", 0, "[stack]" },
		/* the top of the 64-bit address space */
		{ "ffffffffff600000-ffffffffff601000 --xp 00000000 00:00 0                  [vsyscall]\n",
		  0xffffffffff600000ULL, 0xffffffffff601000ULL, 0, "--xp", 0, "[vsyscall]" },
		{ "7f47709a8000-7f47709ac000 r--p 00000000 00:00 0                          [vvar]\n",
		  0x7f47709a8000, 0x7f47709ac000, 0, "r--p", 0, "[vvar]" },
		{ "7f0000000000-7f0000100000 rw-s 00000000 00:01 1025                       /memfd:jit (deleted)\n",
		  0x7f0000000000, 0x7f0000100000, 0, "rw-s", 1025, "/memfd:jit (deleted)" },
		{ "7f0000000000-7f0000100000 rw-p 00000000 00:00 0                          [anon:scudo:primary]\n",
		  0x7f0000000000, 0x7f0000100000, 0, "rw-p", 0, "[anon:scudo:primary]" },
	};

	for (size_t i = 0; i < ARRAY_LEN(cases); i++)
		check_case(&cases[i]);
}

TEST(maps_lines_spaces_and_deleted)
{
	static const struct maps_case cases[] = {
		{ "7f1000000000-7f1000001000 r-xp 00001000 fe:00 4242                       /tmp/my dir/lib with space.so\n",
		  0x7f1000000000, 0x7f1000001000, 0x1000, "r-xp", 4242,
		  "/tmp/my dir/lib with space.so" },
		/* spaces inside the path are kept, including several in a row */
		{ "7f1000000000-7f1000001000 r--p 00000000 fe:00 4242 /tmp/a  b   c\n",
		  0x7f1000000000, 0x7f1000001000, 0, "r--p", 4242, "/tmp/a  b   c" },
		/* a file unlinked while mapped: the kernel appends " (deleted)" */
		{ "55d0c0a00000-55d0c0a80000 r-xp 00020000 fe:00 99                         /usr/bin/python3.11 (deleted)\n",
		  0x55d0c0a00000, 0x55d0c0a80000, 0x20000, "r-xp", 99,
		  "/usr/bin/python3.11 (deleted)" },
		{ "7f1000000000-7f1000001000 r-xp 00000000 fe:00 77 /opt/my app/libpython3.11.so.1.0 (deleted)",
		  0x7f1000000000, 0x7f1000001000, 0, "r-xp", 77,
		  "/opt/my app/libpython3.11.so.1.0 (deleted)" },
	};

	for (size_t i = 0; i < ARRAY_LEN(cases); i++)
		check_case(&cases[i]);
}

TEST(maps_lines_rejected)
{
	static const char *bad[] = {
		"",
		"\n",
		"garbage\n",
		"7f4770736000-7f4770758000\n",
		"7f4770736000-7f4770758000 rw-p\n",
		"7f4770736000-7f4770758000 rw-p 00000000 00:00\n",
		"7f4770736000 7f4770758000 rw-p 00000000 00:00 0\n",
	};
	struct map_entry e;

	for (size_t i = 0; i < ARRAY_LEN(bad); i++) {
		int r = maps_parse_line(bad[i], &e);

		CHECKF(r != 0, "maps_parse_line(\"%s\") accepted a bad line", bad[i]);
	}
}

/* A path as long as PATH_MAX allows is cut and stays NUL-terminated. */
TEST(maps_line_long_path)
{
	static char line[PATH_MAX + 256];
	struct map_entry e;
	int n = snprintf(line, sizeof(line), "7f1000000000-7f1000001000 r--p 00000000 fe:00 1 /");

	memset(line + n, 'p', PATH_MAX + 100);
	line[n + PATH_MAX + 100] = '\n';
	line[n + PATH_MAX + 101] = 0;
	CHECK_EQ_INT(maps_parse_line(line, &e), 0);
	CHECK(memchr(e.path, 0, sizeof(e.path)) != NULL);
	CHECK(e.path[0] == '/' && e.path[1] == 'p');
}

/* The live maps of this process; the parser against a split of our own. */
__attribute__((noinline)) static int maps_local_function(int x)
{
	return x * 3 + 1;
}

struct fields {
	uint64_t start, end, offset;
	char perms[8];
	unsigned long inode;
	const char *path;
};

/* An independent split: five fields, then the rest is the path. */
static int split_line(char *line, struct fields *f)
{
	char *save, *tok[5];
	char *p = line;

	line[strcspn(line, "\n")] = 0;
	for (int i = 0; i < 5; i++) {
		while (*p == ' ')
			p++;
		tok[i] = p;
		p += strcspn(p, " ");
		if (*p)
			*p++ = 0;
	}
	while (*p == ' ')
		p++;
	f->path = p;
	f->start = strtoull(strtok_r(tok[0], "-", &save), NULL, 16);
	f->end = strtoull(strtok_r(NULL, "-", &save), NULL, 16);
	snprintf(f->perms, sizeof(f->perms), "%s", tok[1]);
	f->offset = strtoull(tok[2], NULL, 16);
	f->inode = strtoul(tok[4], NULL, 10);
	return 0;
}

TEST(maps_live_self)
{
	char line[PATH_MAX + 256], copy[PATH_MAX + 256], exe[PATH_MAX];
	uintptr_t fn = (uintptr_t)&maps_local_function;
	uintptr_t stk = (uintptr_t)&line[0];
	int lines = 0, fn_found = 0, stk_found = 0;
	ssize_t n;
	FILE *f;

	CHECK(maps_local_function(1) == 4);
	n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	CHECK(n > 0);
	exe[n > 0 ? n : 0] = 0;
	f = fopen("/proc/self/maps", "re");
	CHECK(f != NULL);
	if (!f)
		return;
	while (fgets(line, sizeof(line), f)) {
		struct map_entry e;
		struct fields want;
		int r = maps_parse_line(line, &e), len;

		lines++;
		len = strcspn(line, "\n");
		CHECKF(r == 0, "live line not parsed: %.*s", len, line);
		if (r)
			continue;
		snprintf(copy, sizeof(copy), "%s", line);
		split_line(copy, &want);
		CHECKF(e.start == want.start && e.end == want.end && e.offset == want.offset &&
		       e.inode == want.inode && !strcmp(e.perms, want.perms) &&
		       !strcmp(e.path, want.path), "live line misparsed: %.*s", len, line);
		CHECKF(e.start < e.end, "start >= end: %.*s", len, line);
		CHECKF(strlen(e.perms) == 4, "perms: %.*s", len, line);
		if (fn >= e.start && fn < e.end) {
			fn_found++;
			CHECKF(e.perms[0] == 'r' && e.perms[2] == 'x',
			       "the mapping holding a function is not r-x: %.*s", len, line);
			CHECKF(!strcmp(e.path, exe), "function in \"%s\", not in %s", e.path, exe);
		}
		if (stk >= e.start && stk < e.end) {
			stk_found++;
			CHECKF(e.perms[0] == 'r' && e.perms[1] == 'w' && e.perms[2] != 'x',
			       "the mapping holding the stack is not rw-: %.*s", len, line);
			CHECK_STR(e.path, "[stack]");
		}
	}
	fclose(f);
	CHECK(lines > 5);
	CHECK_EQ_INT(fn_found, 1);
	CHECK_EQ_INT(stk_found, 1);
}
