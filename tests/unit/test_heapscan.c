// SPDX-License-Identifier: GPL-2.0
/*
 * heapscan_pymalloc() against live interpreters and made-up pools.
 *
 * The ground truth is the interpreter's own sys._debugmallocstats(): per
 * size class, the pools with blocks in use and the blocks in use, from the
 * arenas table the scan cannot see. The script prints it, then blocks in
 * os.read(), and is scanned there. Between the two it frees its locals n
 * and msg (an int and a bytes: classes 1 and 2, or 3 with the debug
 * build's 24 bytes of hooks) and os.read() allocates its 64-byte buffer
 * (class 6, or 7): so the scan sees one block less than the statistics,
 * and no class differs by more than two. Measured: exactly that on
 * Debian's python3.11, pyenv's 3.11.7 and python3.11d.
 */
#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>
#include "heapscan.h"
#include "unit.h"

#define PY311		"/usr/bin/python3.11"
#define PY311D		"/usr/bin/python3.11d"
#define PYENV		"/root/.pyenv/versions/3.11.7/bin/python3.11"

#define POOL_SIZE	(16u << 10)
#define RETAINED	100000

/* Blocks appearing or disappearing between the statistics and the scan. */
#define CLASS_SLACK	2
#define TOTAL_SLACK	3

/*
 * Each report: _debugmallocstats() on C stderr, then "blocks N" (N from
 * sys.getallocatedblocks()) on fd 2 as well, so both arrive in order on
 * one pipe. A line "N" on stdin retains N more instances of a class whose
 * objects are 48 bytes (16 header, two slots, 16 GC head; no dict).
 */
static const char script[] =
	"import os, sys\n"
	"class Slot48:\n"
	"    __slots__ = ('a', 'b')\n"
	"kept = []\n"
	"def report():\n"
	"    n = sys.getallocatedblocks()\n"
	"    msg = b'blocks %d\\n' % n\n"
	"    sys._debugmallocstats()\n"
	"    os.write(2, msg)\n"
	"while True:\n"
	"    report()\n"
	"    cmd = os.read(0, 64)\n"
	"    if not cmd:\n"
	"        break\n"
	"    kept.append([Slot48() for _ in range(int(cmd))])\n";

struct py {
	pid_t pid;
	int in;			/* its stdin */
	FILE *out;		/* its stdout and stderr */
};

/* What the interpreter says of itself. */
struct stats {
	long long allocated;	/* sys.getallocatedblocks() */
	uint64_t pools, blocks, bytes;
	uint64_t class_blocks[HEAP_CLASSES];
};

static bool exists(const char *path)
{
	return access(path, X_OK) == 0;
}

extern char **environ;

/* Unset every PYTHON* variable (PYTHONPATH, PYTHONSTARTUP, ...). */
static void scrub_python_env(void)
{
	for (int i = 0; environ[i];) {
		char name[128];
		const char *eq = strchr(environ[i], '=');
		size_t len = eq ? (size_t)(eq - environ[i]) : strlen(environ[i]);

		if (strncmp(environ[i], "PYTHON", 6) || len >= sizeof(name)) {
			i++;
			continue;
		}
		memcpy(name, environ[i], len);
		name[len] = 0;
		unsetenv(name);		/* environ shifts down: same i again */
	}
}

static void child_exec(const char *exe, const char *pymalloc, int in[2], int out[2])
{
	dup2(in[0], 0);
	dup2(out[1], 1);
	dup2(out[1], 2);
	close(in[0]);
	close(in[1]);
	close(out[0]);
	close(out[1]);
	/*
	 * Isolated from the machine: no site module, so no .pth file of an
	 * installed package runs code that leaves lazy imports or caches to
	 * allocate between the statistics and the scan (matplotlib's
	 * nspkg.pth did: 3 blocks more than getallocatedblocks() counted),
	 * and no PYTHON* variable of ours. -I would ignore PYTHONMALLOC too,
	 * so the environment is cleared by hand and -E is not given.
	 */
	scrub_python_env();
	if (pymalloc)
		setenv("PYTHONMALLOC", pymalloc, 1);
	execl(exe, exe, "-S", "-s", "-P", "-c", script, (char *)NULL);
	_exit(127);
}

/* Start exe on the script, with PYTHONMALLOC=pymalloc if not NULL. */
static int py_start(struct py *p, const char *exe, const char *pymalloc)
{
	int in[2], out[2];

	if (pipe(in) || pipe(out))
		return -errno;
	p->pid = fork();
	if (p->pid < 0)
		return -errno;
	if (!p->pid)
		child_exec(exe, pymalloc, in, out);
	close(in[0]);
	close(out[1]);
	p->in = in[1];
	p->out = fdopen(out[0], "r");
	return p->out ? 0 : -errno;
}

static void py_stop(struct py *p)
{
	kill(p->pid, SIGKILL);
	waitpid(p->pid, NULL, 0);
	close(p->in);
	fclose(p->out);
}

/* Read one report; 0 once "blocks N" has been read. */
static int py_report(struct py *p, struct stats *st)
{
	char line[256];

	memset(st, 0, sizeof(*st));
	while (fgets(line, sizeof(line), p->out)) {
		unsigned int cls, size, pools, used, avail;

		if (sscanf(line, "blocks %lld", &st->allocated) == 1)
			return 0;
		if (sscanf(line, "%u %u %u %u %u", &cls, &size, &pools, &used, &avail) != 5 ||
		    cls >= HEAP_CLASSES || size != (cls + 1) * 16)
			continue;
		st->pools += pools;
		st->blocks += used;
		st->bytes += (uint64_t)used * size;
		st->class_blocks[cls] = used;
	}
	return -EIO;
}

static int py_retain(struct py *p, int n, struct stats *st)
{
	char cmd[32];
	int len = snprintf(cmd, sizeof(cmd), "%d\n", n);

	if (write(p->in, cmd, len) != len)
		return -errno;
	return py_report(p, st);
}

static long long diff(uint64_t a, uint64_t b)
{
	return (long long)(a - b);
}

static void check_against_stats(const char *exe, const struct heap_usage *u,
				const struct stats *st)
{
	CHECKF(llabs(diff(u->blocks, st->blocks)) <= TOTAL_SLACK,
	       "%s: scan %llu blocks, interpreter %llu", exe,
	       (unsigned long long)u->blocks, (unsigned long long)st->blocks);
	CHECKF(llabs(diff(u->pools, st->pools)) <= TOTAL_SLACK,
	       "%s: scan %llu pools, interpreter %llu", exe,
	       (unsigned long long)u->pools, (unsigned long long)st->pools);
	/* the blocks that came and went are at most 128 bytes each */
	CHECKF(llabs(diff(u->bytes, st->bytes)) <= TOTAL_SLACK * 128,
	       "%s: scan %llu bytes, interpreter %llu", exe,
	       (unsigned long long)u->bytes, (unsigned long long)st->bytes);
	for (int i = 0; i < HEAP_CLASSES; i++)
		CHECKF(llabs(diff(u->class_blocks[i], st->class_blocks[i])) <= CLASS_SLACK,
		       "%s: class %d (%d bytes): scan %llu blocks, interpreter %llu", exe,
		       i, (i + 1) * 16, (unsigned long long)u->class_blocks[i],
		       (unsigned long long)st->class_blocks[i]);
	CHECKF(u->read_errors == 0, "%s: %llu read errors", exe,
	       (unsigned long long)u->read_errors);
	CHECK(u->scanned_bytes >= u->pools * POOL_SIZE);
}

/* Within pct percent of want. */
static bool near(uint64_t got, uint64_t want, double pct)
{
	double d = (double)got - (double)want;

	return (d < 0 ? -d : d) <= want * pct / 100;
}

/*
 * From u0 to u1 the script retained RETAINED objects of class_size bytes,
 * and sys.getallocatedblocks() grew by allocated.
 */
static void check_growth(const char *exe, const struct heap_usage *u0,
			 const struct heap_usage *u1, long long allocated,
			 unsigned int class_size)
{
	int cls = class_size / 16 - 1;
	uint64_t blocks = u1->blocks - u0->blocks;
	uint64_t bytes = u1->bytes - u0->bytes;
	uint64_t in_class = u1->class_blocks[cls] - u0->class_blocks[cls];

	/* less the list's item array: one block > 512 bytes, not in a pool */
	CHECKF(llabs((long long)blocks - (allocated - 1)) <= TOTAL_SLACK,
	       "%s: scan grew by %llu blocks, getallocatedblocks() by %lld", exe,
	       (unsigned long long)blocks, allocated);
	CHECKF(near(blocks, RETAINED, 1), "%s: scan grew by %llu blocks", exe,
	       (unsigned long long)blocks);
	CHECKF(near(bytes, (uint64_t)RETAINED * class_size, 1),
	       "%s: scan grew by %llu bytes, want %llu", exe, (unsigned long long)bytes,
	       (unsigned long long)RETAINED * class_size);
	CHECKF(near(in_class, RETAINED, 1), "%s: class of %u bytes grew by %llu blocks",
	       exe, class_size, (unsigned long long)in_class);
}

/*
 * Scan exe's interpreter at startup and after it retains RETAINED objects
 * of class_size bytes (48 bytes plus the debug hooks' 24, rounded to 16).
 */
static void check_interpreter(const char *exe, unsigned int class_size)
{
	struct heap_usage u0, u1;
	struct stats s0, s1;
	struct py p;
	int r;

	if (py_start(&p, exe, NULL)) {
		unit_fail(__FILE__, __LINE__, "%s: cannot start", exe);
		return;
	}
	r = py_report(&p, &s0);
	CHECKF(r == 0, "%s: no report from the script", exe);
	if (r)
		goto out;
	CHECK_EQ_INT(heapscan_pymalloc(p.pid, &u0), 0);
	check_against_stats(exe, &u0, &s0);

	r = py_retain(&p, RETAINED, &s1);
	CHECKF(r == 0, "%s: no report after retaining", exe);
	if (r)
		goto out;
	CHECK_EQ_INT(heapscan_pymalloc(p.pid, &u1), 0);
	check_against_stats(exe, &u1, &s1);
	check_growth(exe, &u0, &u1, s1.allocated - s0.allocated, class_size);
out:
	py_stop(&p);
}

TEST(heapscan_debian_python)
{
	CHECKF(exists(PY311), "%s missing (make deps installs it)", PY311);
	if (exists(PY311))
		check_interpreter(PY311, 48);
}

TEST(heapscan_pyenv_python)
{
	if (!exists(PYENV)) {
		unit_skip("%s absent", PYENV);
		return;
	}
	check_interpreter(PYENV, 48);
}

/* Debug hooks put 24 bytes around every block: 48-byte objects take 80. */
TEST(heapscan_debug_python)
{
	if (!exists(PY311D)) {
		unit_skip("%s absent", PY311D);
		return;
	}
	check_interpreter(PY311D, 80);
}

/*
 * The same script with pymalloc replaced by malloc: a heap full of
 * pointers and object headers, arenas of glibc rather than of pymalloc,
 * and no pool anywhere.
 */
TEST(heapscan_no_pools_under_malloc)
{
	struct heap_usage u;
	struct stats st;
	struct py p;

	if (!exists(PY311)) {
		unit_skip("%s absent", PY311);
		return;
	}
	if (py_start(&p, PY311, "malloc")) {
		unit_fail(__FILE__, __LINE__, "%s: cannot start", PY311);
		return;
	}
	CHECK_EQ_INT(py_report(&p, &st), 0);
	CHECK_EQ_INT(py_retain(&p, RETAINED, &st), 0);
	CHECK_EQ_U64(st.pools, 0);	/* no statistics: pymalloc is off */
	CHECK_EQ_INT(heapscan_pymalloc(p.pid, &u), 0);
	CHECK_EQ_U64(u.pools, 0);
	CHECK_EQ_U64(u.blocks, 0);
	CHECK(u.scanned_bytes > 0);
	py_stop(&p);
}

TEST(heapscan_not_python)
{
	struct heap_usage u;
	pid_t pid = fork();

	if (!pid) {
		execl("/bin/sleep", "sleep", "20", (char *)NULL);
		_exit(127);
	}
	usleep(100 * 1000);	/* let it exec */
	CHECK_EQ_INT(heapscan_pymalloc(pid, &u), 0);
	CHECK_EQ_U64(u.pools, 0);
	CHECK_EQ_U64(u.blocks, 0);
	CHECK_EQ_U64(u.bytes, 0);
	CHECK(u.scanned_bytes > 0);
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
}

TEST(heapscan_no_such_process)
{
	struct heap_usage u;
	pid_t pid = fork();

	if (!pid)
		_exit(0);
	waitpid(pid, NULL, 0);		/* reaped: the pid is free */
	CHECK_EQ_INT(heapscan_pymalloc(pid, &u), -ESRCH);
}

/* struct pool_header of Objects/obmalloc.c, as gdb's ptype /o shows it. */
struct fake_pool {
	uint32_t count, pad;
	uint64_t freeblock, nextpool, prevpool;
	uint32_t arenaindex, szidx, nextoffset, maxnextoffset;
};

/* A pool of class szidx, count blocks in use, carved blocks handed out. */
static struct fake_pool fake(uint64_t at, uint32_t szidx, uint32_t count, uint32_t carved)
{
	uint32_t size = (szidx + 1) * 16;

	return (struct fake_pool){
		.count = count,
		.freeblock = count < carved ? at + 48 + (uint64_t)count * size : 0,
		.nextpool = at + POOL_SIZE, .prevpool = at - POOL_SIZE,
		.arenaindex = 3, .szidx = szidx,
		.nextoffset = 48 + carved * size, .maxnextoffset = POOL_SIZE - size,
	};
}

#define FAKE_SLOTS	16

static uint64_t slot(uint64_t base, int i)
{
	return base + (uint64_t)i * POOL_SIZE;
}

/* Headers a pool can have (kept) and near misses (dropped), one a slot. */
static void fake_pools(uint64_t base)
{
	struct fake_pool f[FAKE_SLOTS];

	/* unless changed below: 5 of 10 carved 48-byte blocks in use */
	for (int i = 0; i < FAKE_SLOTS; i++)
		f[i] = fake(slot(base, i), 2, 5, 10);
	/* kept: 0 as is, 1 full of 512-byte blocks, 2 one 16-byte block */
	f[1] = fake(slot(base, 1), 31, 31, 31);
	f[2] = fake(slot(base, 2), 0, 1, 2);
	/* valid but empty, as in an arena's freepools: nothing in use */
	f[3].count = 0;
	/* dropped: one thing wrong in each */
	f[4] = fake(slot(base, 4), 32, 5, 10);		/* class 32: 528 bytes */
	f[5].maxnextoffset -= 16;
	f[6].nextoffset += 16;				/* not at a block boundary */
	f[7].nextoffset = 48 + 48;			/* not initialised ... */
	f[7].count = 1;
	f[7].freeblock = 0;				/* ... else consistent */
	f[8].nextoffset = 48 + 341 * 48;		/* past the end */
	f[9].count = 11;				/* more than carved */
	f[10].freeblock += 8;				/* inside a block */
	f[11].freeblock = slot(base, 11) + 32;		/* in the header */
	f[12].freeblock += 10 * 48;			/* past nextoffset */
	f[13].nextpool = 0;
	f[14].prevpool |= 4;
	f[15].arenaindex = 1u << 30;
	for (int i = 0; i < FAKE_SLOTS; i++)
		memcpy((void *)(uintptr_t)slot(base, i), &f[i], sizeof(f[i]));
}

TEST(heapscan_made_up_pools)
{
	struct heap_usage u;
	int ready[2];
	char c = 0;
	pid_t pid;

	if (UNIT_ASAN) {
		/* the child is a fork of this process: its shadow memory, terabytes
		 * of anonymous read-write mapping, would all be scanned */
		unit_note("built with ASan: skipped");
		return;
	}
	CHECK_EQ_INT(sizeof(struct fake_pool), 48);
	if (pipe(ready))
		return;
	pid = fork();
	if (!pid) {
		size_t len = (FAKE_SLOTS + 1) * POOL_SIZE;
		char *m = mmap(NULL, len, PROT_READ | PROT_WRITE,
			       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		uint64_t base = ((uintptr_t)m + POOL_SIZE - 1) & ~(uint64_t)(POOL_SIZE - 1);

		fake_pools(base);
		if (write(ready[1], &c, 1) != 1)
			_exit(1);
		pause();
		_exit(0);
	}
	close(ready[1]);
	CHECK_EQ_INT(read(ready[0], &c, 1), 1);
	CHECK_EQ_INT(heapscan_pymalloc(pid, &u), 0);
	CHECK_EQ_U64(u.pools, 3);
	CHECK_EQ_U64(u.blocks, 5 + 31 + 1);
	CHECK_EQ_U64(u.bytes, 5 * 48 + 31 * 512 + 1 * 16);
	CHECK_EQ_U64(u.class_blocks[2], 5);
	CHECK_EQ_U64(u.class_blocks[31], 31);
	CHECK_EQ_U64(u.class_blocks[0], 1);
	CHECK_EQ_U64(u.read_errors, 0);
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	close(ready[0]);
}

/* VmPTE of pid in kB: the size of its page tables; -1 if unknown. */
static long vm_pte_kb(pid_t pid)
{
	char fn[64], line[256];
	long kb = -1;
	FILE *f;

	snprintf(fn, sizeof(fn), "/proc/%d/status", pid);
	f = fopen(fn, "re");
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "VmPTE: %ld", &kb) == 1)
			break;
	fclose(f);
	return kb;
}

/*
 * 4 GiB reserved and never touched but for one pool near its end. Reading
 * all 262,144 slots would build about 8 MB of page tables in the target
 * (measured without the pagemap check); the pool must still be found.
 */
TEST(heapscan_sparse_mapping)
{
	const size_t len = 4ul << 30;
	struct heap_usage u;
	long pte0, pte1;
	int ready[2];
	char c = 0;
	pid_t pid;

	if (UNIT_ASAN) {
		/* the child is a fork of this process: its shadow memory, terabytes
		 * of anonymous read-write mapping, would all be scanned */
		unit_note("built with ASan: skipped");
		return;
	}

	if (pipe(ready))
		return;
	pid = fork();
	if (!pid) {
		char *m = mmap(NULL, len, PROT_READ | PROT_WRITE,
			       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
		uint64_t at = ((uintptr_t)m + len - 2 * POOL_SIZE) & ~(uint64_t)(POOL_SIZE - 1);
		struct fake_pool f = fake(at, 2, 5, 10);

		if (m == MAP_FAILED)
			_exit(1);
		memcpy((void *)(uintptr_t)at, &f, sizeof(f));
		if (write(ready[1], &c, 1) != 1)
			_exit(1);
		pause();
		_exit(0);
	}
	close(ready[1]);
	CHECK_EQ_INT(read(ready[0], &c, 1), 1);
	pte0 = vm_pte_kb(pid);
	CHECK_EQ_INT(heapscan_pymalloc(pid, &u), 0);
	pte1 = vm_pte_kb(pid);
	CHECK_EQ_U64(u.pools, 1);
	CHECK_EQ_U64(u.class_blocks[2], 5);
	CHECK(u.scanned_bytes >= len);
	CHECKF(pte0 >= 0 && pte1 - pte0 < 256, "page tables grew from %ld to %ld kB",
	       pte0, pte1);
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	close(ready[0]);
}
