// SPDX-License-Identifier: GPL-2.0
/*
 * liveness_check() against real interpreters and against memory made up
 * here. tests/unit/liveness_target.py allocates blocks of every kind, half
 * of them to be freed on command; before the frees all must be LIVE, after
 * them the freed ones DEAD and the rest LIVE, exactly; while the target
 * churns in a thread, no kept block may come out DEAD. Made-up memory is
 * in test_liveness_crafted.c.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include "liveness.h"
#include "unit.h"

#define PY311		"/usr/bin/python3.11"
#define PY311D		"/usr/bin/python3.11d"
#define PYENV311	"/root/.pyenv/versions/3.11.7/bin/python3.11"
#define PYENV39		"/root/.pyenv/versions/3.9.18/bin/python3.9"
#define PYENV38		"/root/.pyenv/versions/3.8.18/bin/python3.8"
#define PYENV313	"/root/.pyenv/versions/3.13.0/bin/python3.13"
#define TARGET_PY	"tests/unit/liveness_target.py"
#define MAX_BLOCKS	4096
#define MANY		1000000
#define DEADLINE_S	120

struct pyproc {
	pid_t pid;
	FILE *out;
	int in;
};

struct listing {
	struct live_block b[MAX_BLOCKS];
	bool drop[MAX_BLOCKS];
	uint32_t pool_size;
	int debug;		/* Py_DEBUG: allocator hooks around every block */
	int n;
};

static bool py_start(struct pyproc *p, const char *python)
{
	int to[2], from[2];

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
		execl(python, python, TARGET_PY, (char *)NULL);
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

/* Lines up to `until`; block lines go to ls when it is not NULL. */
static bool py_read(struct pyproc *p, const char *until, struct listing *ls)
{
	char buf[512], kind[8], group[8], from[8];
	unsigned long long addr, size, type;
	unsigned pool;

	while (fgets(buf, sizeof(buf), p->out)) {
		if (!strncmp(buf, until, strlen(until)))
			return true;
		if (ls && sscanf(buf, "pool %u", &pool) == 1)
			ls->pool_size = pool;
		if (ls && sscanf(buf, "debug %d", &ls->debug) == 1)
			continue;
		if (!ls || ls->n == MAX_BLOCKS ||
		    sscanf(buf, "%7s %7s %llx %llu %llx %7s", kind, group, &addr, &size, &type,
			   from) != 6)
			continue;
		/*
		 * What the debug hooks asked of the allocator underneath: 16
		 * bytes before, 8 after; past 512 bytes pymalloc passes that
		 * to PyMem_RawMalloc, whose hooks add as much again.
		 */
		if (ls->debug && strcmp(kind, "obj") && !strcmp(from, "py")) {
			addr -= 16;
			size += 24;
			if (size > 512) {
				addr -= 16;
				size += 24;
			}
			snprintf(kind, sizeof(kind), size <= 512 ? "pym" : "mal");
		}
		ls->b[ls->n] = (struct live_block){
			.addr = addr, .size = size, .type = type,
			.kind = !strcmp(kind, "pym") ? LB_PYMALLOC :
				!strcmp(kind, "mal") ? LB_MALLOC : LB_OBJECT,
		};
		ls->drop[ls->n++] = !strcmp(group, "drop");
	}
	return false;
}

static bool py_cmd(struct pyproc *p, const char *cmd)
{
	return write(p->in, cmd, strlen(cmd)) == (ssize_t)strlen(cmd);
}

static double now(clockid_t clk)
{
	struct timespec ts;

	clock_gettime(clk, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Verdicts per kind and group against what each should be. */
static void check_listing(pid_t pid, const struct live_params *lp, const struct listing *ls,
			  bool freed)
{
	static uint8_t v[MAX_BLOCKS];
	int got[2][3][3] = { 0 }, want[2][3] = { 0 };
	struct live_stats st;

	CHECK_EQ_INT(liveness_check(pid, lp, ls->b, ls->n, v, &st), 0);
	for (int i = 0; i < ls->n; i++) {
		got[ls->drop[i]][ls->b[i].kind][v[i] < 3 ? v[i] : 2]++;
		want[ls->drop[i]][ls->b[i].kind]++;
		CHECKF(v[i] == (freed && ls->drop[i] ? LV_DEAD : LV_LIVE),
		       "%s kind %d 0x%lx size %lu: verdict %d", ls->drop[i] ? "drop" : "keep",
		       ls->b[i].kind, ls->b[i].addr, ls->b[i].size, v[i]);
	}
	for (int g = 0; g < 2; g++)
		for (int k = 0; k < 3; k++) {
			int expect = freed && g ? LV_DEAD : LV_LIVE;

			CHECK(want[g][k] > 0);
			CHECK_EQ_INT(got[g][k][expect], want[g][k]);
		}
	CHECK_EQ_U64(st.live + st.dead + st.unknown, ls->n);
	CHECK(st.tcache_key != 0);
	CHECK(st.fastbins_known);
	unit_note("%s: %u in fastbins; %lu live, %lu dead (%lu pool, %lu chunk, %lu object, %lu unmapped), "
		  "%lu syscalls, %lu bytes", freed ? "after frees" : "before", st.fastbin_chunks, st.live, st.dead,
		  st.dead_pool, st.dead_chunk, st.dead_object, st.dead_unmapped, st.syscalls,
		  st.bytes_read);
}

/*
 * The target allocating and freeing in a thread while it is read: pools
 * and chunks change under the reads. A kept block may come out unknown
 * (a torn pool), never dead.
 */
static void check_churn(pid_t pid, const struct live_params *lp, const struct listing *ls)
{
	static uint8_t v[MAX_BLOCKS];
	uint64_t unknown = 0, rounds = 50;
	struct live_stats st;

	for (uint64_t r = 0; r < rounds; r++) {
		CHECK_EQ_INT(liveness_check(pid, lp, ls->b, ls->n, v, &st), 0);
		for (int i = 0; i < ls->n; i++) {
			CHECKF(ls->drop[i] || v[i] != LV_DEAD, "kept kind %d 0x%lx size %lu: dead",
			       ls->b[i].kind, ls->b[i].addr, ls->b[i].size);
			unknown += !ls->drop[i] && v[i] == LV_UNKNOWN;
		}
	}
	unit_note("churning: %lu of %lu kept verdicts unknown", unknown,
		  rounds * ls->n / 2);
}

/* Records that lie: wrong size, wrong type, nowhere. All dead. */
static void check_lies(pid_t pid, const struct live_params *lp, const struct listing *ls)
{
	struct live_block b[3 * 3];
	int n = 0, seen[3] = { 0 };
	uint8_t v[9];

	for (int i = 0; i < ls->n && n < 6; i++) {
		struct live_block x = ls->b[i];

		if (ls->drop[i] || seen[x.kind] || (x.kind == LB_MALLOC && x.size < 2048))
			continue;
		seen[x.kind] = 1;
		if (x.kind == LB_OBJECT)
			x.type += 8;
		else
			x.size += x.kind == LB_PYMALLOC ? 64 : 100;
		b[n++] = x;
		b[n++] = (struct live_block){ .addr = 0x1000, .size = 64, .kind = x.kind,
					      .type = x.type };
	}
	b[n++] = (struct live_block){ .addr = 0, .size = 64, .kind = LB_MALLOC };
	CHECK_EQ_INT(n, 7);
	CHECK_EQ_INT(liveness_check(pid, lp, b, n, v, NULL), 0);
	for (int i = 0; i < n; i++)
		CHECKF(v[i] == LV_DEAD, "lie %d (kind %d 0x%lx): verdict %d", i, b[i].kind,
		       b[i].addr, v[i]);
}

/* A million blocks, all alive: how long the check takes. */
static void check_many(pid_t pid, struct pyproc *p, const struct live_params *lp)
{
	char path[] = "/tmp/liveness-many-XXXXXX", cmd[128];
	struct live_block *b = calloc(MANY, sizeof(*b));
	uint8_t *v = malloc(MANY);
	uint64_t (*rec)[4] = malloc(MANY * sizeof(*rec));
	struct live_stats st;
	int fd = mkstemp(path);
	double t, cpu;
	FILE *f;

	CHECK(fd >= 0 && b && v && rec);
	if (fd < 0 || !b || !v || !rec)
		goto out;
	close(fd);
	snprintf(cmd, sizeof(cmd), "many %s %d\n", path, MANY);
	CHECK(py_cmd(p, cmd) && py_read(p, "many", NULL));
	f = fopen(path, "rb");
	CHECK(f && fread(rec, sizeof(*rec), MANY, f) == MANY);
	if (f)
		fclose(f);
	for (int i = 0; i < MANY; i++)
		b[i] = (struct live_block){ .addr = rec[i][0], .size = rec[i][1],
					    .kind = rec[i][2], .type = rec[i][3] };
	/*
	 * CPU time is what is checked (the reads are copies made by our
	 * thread in the kernel): the wall clock also counts the time other
	 * processes had the CPU.
	 */
	t = now(CLOCK_MONOTONIC);
	cpu = now(CLOCK_THREAD_CPUTIME_ID);
	CHECK_EQ_INT(liveness_check(pid, lp, b, MANY, v, &st), 0);
	cpu = now(CLOCK_THREAD_CPUTIME_ID) - cpu;
	t = now(CLOCK_MONOTONIC) - t;
	CHECK_EQ_U64(st.live, MANY);
	unit_note("%d blocks: %.3f s CPU, %.3f s wall, %lu syscalls, %lu iovecs, %lu MB read",
		  MANY, cpu, t, st.syscalls, st.iovecs, st.bytes_read >> 20);
	/* typically 0.2 s; the margin is for the other processes on the CPUs */
	CHECKF(cpu < 1.0, "%d blocks took %.3f s of CPU", MANY, cpu);
out:
	unlink(path);
	free(rec);
	free(v);
	free(b);
}

static void run_target(const char *python, bool many)
{
	static struct listing ls;
	struct live_params lp = { .glibc = 1 };
	struct pyproc p = { 0 };

	if (access(python, X_OK)) {
		unit_note("%s missing: skipped", python);
		return;
	}
	alarm(DEADLINE_S);
	memset(&ls, 0, sizeof(ls));
	CHECK(py_start(&p, python));
	if (!p.out)
		return;
	CHECK(py_read(&p, "ready", &ls));
	CHECK_EQ_INT(ls.pool_size, strstr(python, "3.9") || strstr(python, "3.8") ? 4096 : 16384);
	lp.pool_size = ls.pool_size;
	CHECK(ls.n > 100);
	check_listing(p.pid, &lp, &ls, false);
	CHECK(py_cmd(&p, "free\n") && py_read(&p, "freed", NULL));
	check_listing(p.pid, &lp, &ls, true);
	check_lies(p.pid, &lp, &ls);
	if (many)
		check_many(p.pid, &p, &lp);
	CHECK(py_cmd(&p, "churn\n") && py_read(&p, "churning", NULL));
	check_churn(p.pid, &lp, &ls);
	py_stop(&p);
	CHECK_EQ_INT(liveness_check(p.pid, &lp, ls.b, 1, (uint8_t[1]){ 0 }, NULL), -ESRCH);
	alarm(0);
}

TEST(liveness_debian_311)
{
	run_target(PY311, true);
}

TEST(liveness_debug_311)
{
	run_target(PY311D, false);
}

TEST(liveness_pyenv_311)
{
	run_target(PYENV311, false);
}

TEST(liveness_pyenv_39_small_pools)
{
	run_target(PYENV39, true);
}

TEST(liveness_pyenv_38)
{
	run_target(PYENV38, false);
}

TEST(liveness_pyenv_313)
{
	run_target(PYENV313, false);
}
