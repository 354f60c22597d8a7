// SPDX-License-Identifier: GPL-2.0
/*
 * objtypes.h against real interpreters: tests/unit/objtypes_target.py makes
 * objects of known types and prints their addresses and block sizes; they
 * are classified from here, as slot-returned objects and as raw blocks, on
 * every 3.11 build present (Debian release and debug, pyenv). Expected
 * names come from the target's own type(o).__name__.
 */
#include <errno.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include "objtypes.h"
#include "pyversions.h"
#include "unit.h"

#define PY311		"/usr/bin/python3.11"
#define PY311D		"/usr/bin/python3.11d"
#define PYENV311	"/root/.pyenv/versions/3.11.7/bin/python3.11"
#define TARGET_PY	"tests/unit/objtypes_target.py"
#define MANY		1000000
#define MAX_LINES	1024
#define UNMAPPED	0x1000ULL	/* below mmap_min_addr: never mapped */

struct pyproc {
	pid_t pid;
	FILE *out;		/* its stdout */
	int in;			/* its stdin: closing it lets it exit */
};

/* One line of the target's output. */
struct line {
	char kind[8];		/* obj, raw, non, freed, copy, hole */
	char name[64];
	uint64_t addr, size;
};

struct listing {
	struct line l[MAX_LINES];
	int n;
	char kinds[8][64];	/* type names of the "many" records */
	int nkinds;
	char many_path[256];
	long many;
};

static bool py_start(struct pyproc *p, const char *python, const char *many_path)
{
	char many[32];
	int to[2], from[2];

	snprintf(many, sizeof(many), "%d", MANY);
	if (pipe(to) || pipe(from))
		return false;
	p->pid = fork();
	if (p->pid < 0)
		return false;
	if (!p->pid) {
		dup2(to[0], 0);
		dup2(from[1], 1);
		close(to[1]);
		close(from[0]);
		/* isolated: no site-packages .pth code, no PYTHON* variables */
		if (many_path)
			execl(python, python, "-I", "-S", TARGET_PY, many_path, many,
			      (char *)NULL);
		else
			execl(python, python, "-I", "-S", TARGET_PY, (char *)NULL);
		_exit(127);
	}
	close(to[0]);
	close(from[1]);
	p->in = to[1];
	p->out = fdopen(from[0], "r");
	return p->out != NULL;
}

static void py_stop(struct pyproc *p)
{
	close(p->in);
	fclose(p->out);
	waitpid(p->pid, NULL, 0);
}

/* Read the target's lines up to "ready"; false if it never got there. */
static bool py_listing(struct pyproc *p, struct listing *ls)
{
	char buf[1024];

	memset(ls, 0, sizeof(*ls));
	while (fgets(buf, sizeof(buf), p->out)) {
		struct line *l = &ls->l[ls->n];
		char *tok;

		if (!strncmp(buf, "ready", 5))
			return true;
		if (!strncmp(buf, "kinds ", 6)) {
			strtok(buf, " \n");
			while ((tok = strtok(NULL, " \n")) && ls->nkinds < 8)
				snprintf(ls->kinds[ls->nkinds++], 64, "%s", tok);
			continue;
		}
		if (sscanf(buf, "many %255s %ld", ls->many_path, &ls->many) == 2)
			continue;
		if (ls->n < MAX_LINES &&
		    sscanf(buf, "%7s %63s %lx %lu", l->kind, l->name,
			   &l->addr, &l->size) == 4)
			ls->n++;
	}
	return false;
}

static uint32_t classify1(struct objtypes *ot, uint64_t addr, uint64_t size,
			  bool is_object)
{
	struct ot_block b = { .addr = addr, .size = size, .is_object = is_object };
	uint32_t out = 0xffffffff;

	CHECK_EQ_INT(objtypes_classify(ot, &b, 1, &out), 0);
	return out;
}

/* Every "obj" and "raw" line: the right name, with its size or none. */
static void check_objects(struct objtypes *ot, const struct listing *ls)
{
	uint32_t str_idx = 0;
	int seen = 0;

	for (int i = 0; i < ls->n; i++) {
		const struct line *l = &ls->l[i];
		bool obj = !strcmp(l->kind, "obj");
		uint32_t idx;

		if (!obj && strcmp(l->kind, "raw"))
			continue;
		seen++;
		idx = classify1(ot, l->addr, l->size, obj);
		CHECKF(!strcmp(objtypes_name(ot, idx), l->name),
		       "%s %s 0x%lx size %lu: got \"%s\"", l->kind, l->name,
		       l->addr, l->size, objtypes_name(ot, idx));
		/* size 0 is "unknown": nothing to check it against */
		CHECK_EQ_INT(classify1(ot, l->addr, 0, obj), idx);
		/* three strs, one index */
		if (!strcmp(l->name, "str") && !str_idx)
			str_idx = idx;
		else if (!strcmp(l->name, "str"))
			CHECK_EQ_INT(idx, str_idx);
		/* one byte short: the object does not fit, so it is not one */
		CHECKF(classify1(ot, l->addr, l->size - 1, obj) == OT_NOT_OBJECT,
		       "%s %s size %lu - 1 still an object", l->kind, l->name, l->size);
	}
	CHECK_EQ_INT(seen, 24);
}

static void check_non_objects(struct objtypes *ot, const struct listing *ls)
{
	int seen = 0, freed = 0, gone = 0;

	for (int i = 0; i < ls->n; i++) {
		const struct line *l = &ls->l[i];

		if (!strcmp(l->kind, "non")) {
			seen++;
			CHECKF(classify1(ot, l->addr, l->size, false) == OT_NOT_OBJECT,
			       "raw 0x%lx classified", l->addr);
			CHECKF(classify1(ot, l->addr, l->size, true) == OT_NOT_OBJECT,
			       "obj 0x%lx classified", l->addr);
		} else if (!strcmp(l->kind, "freed")) {
			uint32_t idx = classify1(ot, l->addr, l->size, false);

			freed++;
			CHECKF(strcmp(objtypes_name(ot, idx), l->name),
			       "freed block 0x%lx still a %s", l->addr, l->name);
			gone += idx < OT_FIRST_TYPE;
		}
	}
	CHECK_EQ_INT(seen, 3);
	CHECK_EQ_INT(freed, 200);
	/* the rest were reused by other objects, which is what they hold now */
	unit_note("freed blocks: %d of %d not an object or unreadable", gone, freed);
	CHECK(gone > freed / 2);
	CHECK_EQ_INT(classify1(ot, UNMAPPED, 64, false), OT_UNREADABLE);
	CHECK_EQ_INT(classify1(ot, UNMAPPED, 64, true), OT_UNREADABLE);
	CHECK_EQ_INT(classify1(ot, 0, 0, true), OT_UNREADABLE);
}

static const struct line *find_line(const struct listing *ls, const char *kind)
{
	for (int i = 0; i < ls->n; i++)
		if (!strcmp(ls->l[i].kind, kind))
			return &ls->l[i];
	return NULL;
}

/* Header copies on both sides of an unmapped page, and blocks inside it. */
static void check_hole(struct objtypes *ot, const struct listing *ls)
{
	const struct line *h = find_line(ls, "hole");
	int copies = 0;

	CHECK(h != NULL);
	if (!h)
		return;
	for (int i = 0; i < ls->n; i++) {
		const struct line *l = &ls->l[i];

		if (strcmp(l->kind, "copy"))
			continue;
		copies++;
		CHECK_STR(objtypes_name(ot, classify1(ot, l->addr, l->size, false)), l->name);
		CHECK_STR(objtypes_name(ot, classify1(ot, l->addr, l->size, true)), l->name);
	}
	CHECK_EQ_INT(copies, 2);
	for (uint64_t off = 0; off < h->size; off += h->size / 4) {
		CHECK_EQ_INT(classify1(ot, h->addr + off, 64, false), OT_UNREADABLE);
		CHECK_EQ_INT(classify1(ot, h->addr + off, 0, true), OT_UNREADABLE);
	}
}

/*
 * All lines in one call, with blocks in the unmapped page between them:
 * a fault ends a batched read early, and the blocks after it, in the same
 * remote iovec or not, must still be read.
 */
static void check_batch(struct objtypes *ot, const struct listing *ls)
{
	static struct ot_block b[3 * MAX_LINES];
	static uint32_t out[3 * MAX_LINES], want[3 * MAX_LINES];
	const struct line *h = find_line(ls, "hole");
	size_t n = 0;

	if (!h)
		return;
	for (int i = 0; i < ls->n; i++) {
		const struct line *l = &ls->l[i];
		bool obj = !strcmp(l->kind, "obj");

		b[n] = (struct ot_block){ l->addr, l->size, obj };
		want[n++] = classify1(ot, l->addr, l->size, obj);
		if (i % 3 == 0) {
			b[n] = (struct ot_block){ h->addr + (64 * i) % (h->size - 64), 64, false };
			want[n++] = OT_UNREADABLE;
		}
	}
	CHECK_EQ_INT(objtypes_classify(ot, b, n, out), 0);
	for (size_t i = 0; i < n; i++)
		CHECKF(out[i] == want[i], "block %zu (0x%lx): %s, alone %s", i,
		       b[i].addr, objtypes_name(ot, out[i]), objtypes_name(ot, want[i]));
}

/* The target has exited: an error, and every block unreadable. */
static void check_gone(struct objtypes *ot, const struct listing *ls)
{
	struct ot_block b[2] = {
		{ ls->l[0].addr, ls->l[0].size, true },
		{ ls->l[1].addr, ls->l[1].size, false },
	};
	uint32_t out[2] = { 0, 0 };

	CHECK_EQ_INT(objtypes_classify(ot, b, 2, out), -ESRCH);
	CHECK_EQ_INT(out[0], OT_UNREADABLE);
	CHECK_EQ_INT(out[1], OT_UNREADABLE);
}

static bool present(const char *python)
{
	if (access(python, X_OK) == 0)
		return true;
	unit_skip("%s not installed", python);
	return false;
}

static void known_objects(const char *python)
{
	static struct listing ls;
	struct objtypes *ot;
	struct pyproc p;

	if (!present(python))
		return;
	if (!py_start(&p, python, NULL)) {
		CHECK(!"cannot start the target");
		return;
	}
	CHECK(py_listing(&p, &ls));
	ot = objtypes_new(p.pid, pyversion_find(3, 11));
	CHECK(ot != NULL);
	if (ot && !unit_failures()) {
		check_objects(ot, &ls);
		check_non_objects(ot, &ls);
		check_hole(ot, &ls);
		check_batch(ot, &ls);
		/* Connection, dict, ... float; freed blocks may add more */
		CHECK(objtypes_count(ot) >= OT_FIRST_TYPE + 9);
	}
	py_stop(&p);
	if (ot && !unit_failures())
		check_gone(ot, &ls);
	objtypes_free(ot);
}

TEST(objtypes_known_release)
{
	known_objects(PY311);
}

TEST(objtypes_known_debug)
{
	known_objects(PY311D);
}

TEST(objtypes_known_pyenv)
{
	known_objects(PYENV311);
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* The "many" records as blocks: even ones by object, odd ones raw. */
static struct ot_block *many_blocks(const struct listing *ls, uint8_t **kind)
{
	struct ot_block *b = calloc(ls->many, sizeof(*b));
	uint64_t *rec = calloc(ls->many, 4 * sizeof(*rec));
	FILE *f = fopen(ls->many_path, "rb");
	long got = 0;

	*kind = calloc(ls->many, 1);
	if (f)
		got = fread(rec, 4 * sizeof(*rec), ls->many, f);
	CHECK_EQ_INT(got, ls->many);
	for (long i = 0; i < got; i++) {
		uint64_t *r = rec + 4 * i;
		bool obj = !(i & 1);

		b[i] = (struct ot_block){ obj ? r[0] : r[0] - r[1], r[1] + r[2], obj };
		(*kind)[i] = r[3];
	}
	if (f)
		fclose(f);
	unlink(ls->many_path);
	free(rec);
	return b;
}

/* Fisher-Yates with a fixed seed: the same order every run. */
static void shuffle(struct ot_block *b, uint8_t *kind, long n)
{
	uint64_t x = 0x9e3779b97f4a7c15ULL;

	for (long i = n - 1; i > 0; i--) {
		long j;
		struct ot_block t = b[i];
		uint8_t k = kind[i];

		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		j = x % (i + 1);
		b[i] = b[j];
		b[j] = t;
		kind[i] = kind[j];
		kind[j] = k;
	}
}

static void million(const char *python)
{
	static struct listing ls;
	char path[] = "/tmp/objtypes-many-XXXXXX";
	struct ot_block *b;
	struct objtypes *ot;
	struct pyproc p;
	uint8_t *kind;
	uint32_t *out;
	long wrong = 0;
	double t0, t1, t2, t3, limit = UNIT_ASAN ? 6.0 : 2.0;
	int fd;

	if (!present(python))
		return;
	fd = mkstemp(path);
	CHECK(fd >= 0);
	close(fd);
	if (!py_start(&p, python, path)) {
		CHECK(!"cannot start the target");
		return;
	}
	CHECK(py_listing(&p, &ls));
	CHECK_EQ_INT(ls.many, MANY);
	CHECK_EQ_INT(ls.nkinds, 5);
	if (unit_failures()) {
		py_stop(&p);
		return;
	}
	b = many_blocks(&ls, &kind);
	out = calloc(MANY, sizeof(*out));
	ot = objtypes_new(p.pid, pyversion_find(3, 11));
	t0 = now();
	CHECK_EQ_INT(objtypes_classify(ot, b, MANY, out), 0);
	t1 = now() - t0;
	for (long i = 0; i < MANY; i++)
		if (strcmp(objtypes_name(ot, out[i]), ls.kinds[kind[i]]) && wrong++ < 5)
			unit_fail(__FILE__, __LINE__, "block %ld (0x%lx): %s, not %s",
				  i, b[i].addr, objtypes_name(ot, out[i]),
				  ls.kinds[kind[i]]);
	CHECK_EQ_INT(wrong, 0);
	/* again: types are re-checked once per call, blocks all re-read */
	t0 = now();
	CHECK_EQ_INT(objtypes_classify(ot, b, MANY, out), 0);
	t2 = now() - t0;
	/* in hash-map order, as the live-block map hands them out */
	shuffle(b, kind, MANY);
	t0 = now();
	CHECK_EQ_INT(objtypes_classify(ot, b, MANY, out), 0);
	t3 = now() - t0;
	wrong = 0;
	for (long i = 0; i < MANY; i++)
		wrong += !!strcmp(objtypes_name(ot, out[i]), ls.kinds[kind[i]]);
	CHECK_EQ_INT(wrong, 0);
	unit_note("%s: %d blocks in %.3f s, again %.3f s, shuffled %.3f s",
		  python, MANY, t1, t2, t3);
	/* ASan's checks make every read of the batch several times dearer */
	CHECKF(t1 < limit && t2 < limit && t3 < limit, "too slow (limit %.0f s)", limit);
	objtypes_free(ot);
	free(out);
	free(kind);
	free(b);
	py_stop(&p);
}

TEST(objtypes_million_release)
{
	million(PY311);
}

TEST(objtypes_million_debug)
{
	million(PY311D);
}

TEST(objtypes_million_pyenv)
{
	million(PYENV311);
}

TEST(objtypes_labels)
{
	struct objtypes *ot = objtypes_new(getpid(), pyversion_find(3, 11));

	CHECK(objtypes_new(getpid(), NULL) == NULL);
	CHECK(ot != NULL);
	CHECK_STR(objtypes_name(ot, OT_NOT_OBJECT), "[not an object]");
	CHECK_STR(objtypes_name(ot, OT_UNREADABLE), "[unreadable]");
	CHECK_STR(objtypes_name(ot, 1000), "[unknown]");
	CHECK_EQ_INT(objtypes_count(ot), OT_FIRST_TYPE);
	CHECK_EQ_INT(objtypes_classify(ot, NULL, 0, NULL), 0);
	CHECK_EQ_INT(objtypes_classify(ot, NULL, 1, NULL), -EINVAL);
	objtypes_free(ot);
}
