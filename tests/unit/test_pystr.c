// SPDX-License-Identifier: GPL-2.0
/*
 * pystr_read() and frame symbolization against live interpreters, every
 * CPython 3.8 .. 3.13 build present: tests/unit/pystr_target.py prints the
 * addresses of str objects of every kind (ASCII, latin-1, UCS-2, UCS-4,
 * legacy str-subclass objects, names of a code object) with the UTF-8 a
 * reader must give, and the frames of a thread blocked in a call with
 * their f_lineno. They are read from here through process_vm_readv, the
 * frames the way the BPF walker records them, using only the version row.
 */
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include "memread.h"
#include "pyleak.h"
#include "pyversions.h"
#include "symbolize.h"
#include "target.h"
#include "unit.h"

#define TARGET_PY	"tests/unit/pystr_target.py"
#define DEADLINE_S	20
#define MAX_ITEMS	64

static const char *const pythons[] = {
	"/root/.pyenv/versions/3.8.18/bin/python3.8",
	"/root/.pyenv/versions/3.9.18/bin/python3.9",
	"/root/.pyenv/versions/3.10.13/bin/python3.10",
	"/usr/bin/python3.11",
	"/usr/bin/python3.11d",
	"/root/.pyenv/versions/3.11.7/bin/python3.11",
	"/root/.pyenv/versions/3.12.1/bin/python3.12",
	"/root/.pyenv/versions/3.13.0/bin/python3.13",
};

struct item {
	char kind[8];		/* str, none, frame, gen */
	char name[256];		/* str: name; frame: qualname */
	char want[8200];	/* str: hex UTF-8; frame: file name */
	uint64_t addr, iframe;
	int line;
};

struct run {
	pid_t pid;
	int in, out;
	unsigned major, minor;
	uint64_t codetype;
	struct item it[MAX_ITEMS];
	int n;
};

/* One line from fd within the deadline; false at EOF or timeout. */
static bool read_line(int fd, char *buf, size_t len, time_t deadline)
{
	size_t n = 0;

	while (n + 1 < len) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		int left = (int)(deadline - time(NULL));
		char c;

		if (left <= 0 || poll(&p, 1, left * 1000) <= 0 || read(fd, &c, 1) != 1)
			return false;
		if (c == '\n')
			break;
		buf[n++] = c;
	}
	buf[n] = 0;
	return true;
}

static bool start(struct run *r, const char *python)
{
	int to[2], from[2];
	time_t deadline = time(NULL) + DEADLINE_S;
	static char buf[9000];

	memset(r, 0, sizeof(*r));
	if (pipe(to) || pipe(from))
		return false;
	r->pid = fork();
	if (r->pid < 0)
		return false;
	if (!r->pid) {
		dup2(to[0], 0);
		dup2(from[1], 1);
		close(to[1]);
		close(from[0]);
		execl(python, python, TARGET_PY, (char *)NULL);
		_exit(127);
	}
	close(to[0]);
	close(from[1]);
	r->in = to[1];
	r->out = from[0];
	while (read_line(r->out, buf, sizeof(buf), deadline)) {
		struct item *it = &r->it[r->n];

		if (!strcmp(buf, "ready"))
			return true;
		if (sscanf(buf, "version %u %u", &r->major, &r->minor) == 2 ||
		    sscanf(buf, "codetype %lx", &r->codetype) == 1 || r->n >= MAX_ITEMS)
			continue;
		if (sscanf(buf, "str %255s %lx %8199s", it->name, &it->addr, it->want) >= 2) {
			strcpy(it->kind, "str");
			r->n++;
		} else if (sscanf(buf, "none %255s %lx", it->name, &it->addr) == 2) {
			strcpy(it->kind, "none");
			r->n++;
		} else if (sscanf(buf, "%7s %lx %lx %d %255s %8199s", it->kind, &it->addr,
				  &it->iframe, &it->line, it->name, it->want) == 6) {
			r->n++;
		}
	}
	return false;
}

static void stop(struct run *r)
{
	close(r->in);
	close(r->out);
	waitpid(r->pid, NULL, 0);
}

static void hex(const char *s, char *out)
{
	for (; *s; s++, out += 2)
		sprintf(out, "%02x", (unsigned char)*s);
	*out = 0;
}

static void check_strings(struct run *r, const struct pyversion *pv, const char *python)
{
	static char got_hex[8200];
	int strs = 0, ok = 0;

	for (int i = 0; i < r->n; i++) {
		struct item *it = &r->it[i];
		char *got;

		if (strcmp(it->kind, "str") && strcmp(it->kind, "none"))
			continue;
		strs++;
		got = pystr_read(r->pid, pv, it->addr);
		if (!strcmp(it->kind, "none")) {
			CHECKF(!got, "%s: %s: read \"%.40s\", want refused", python, it->name, got);
			ok += !got;
		} else {
			CHECKF(got, "%s: %s at 0x%lx: not read", python, it->name, it->addr);
			if (got) {
				hex(got, got_hex);
				CHECKF(!strcmp(got_hex, it->want), "%s: %s: read %.80s, want %.80s",
				       python, it->name, got_hex, it->want);
				ok += !strcmp(got_hex, it->want);
			}
		}
		free(got);
	}
	CHECKF(strs >= 16, "%s: only %d strings", python, strs);
	unit_note("%s: %d/%d strings read right", python, ok, strs);
}

/* What the BPF walker records for the frame whose instruction is in iframe. */
static bool walker_record(pid_t pid, const struct pyversion *pv, const struct item *it,
			  uint64_t *code, uint32_t *instr)
{
	uint64_t v;

	if (mem_read_u64(pid, it->iframe + pv->bpf.frame_code, code) ||
	    mem_read_u64(pid, it->iframe + pv->bpf.frame_instr, &v))
		return false;
	*code &= ~(uint64_t)pv->bpf.code_tag_bits;
	if (pv->bpf.frame_instr_is_ptr)
		v = v ? v - *code : 0;
	*instr = (uint32_t)v;
	return true;
}

static void check_frames(struct run *r, const struct pyversion *pv, const char *python)
{
	struct target t = { .pid = r->pid, .pv = pv, .pycode_type = r->codetype };
	struct symbolizer s;
	int frames = 0, ok = 0;

	CHECK(r->codetype != 0);
	symbolizer_init(&s, &t);
	for (int i = 0; i < r->n; i++) {
		struct item *it = &r->it[i];
		struct pystack st = { .tgid = r->pid, .nframes = 1 };
		const struct sym_stack *ss;
		uint64_t code;
		char fb[512];

		if (strcmp(it->kind, "frame") && strcmp(it->kind, "gen"))
			continue;
		frames++;
		if (!walker_record(r->pid, pv, it, &code, &st.instr[0])) {
			CHECKF(0, "%s: %s: frame at 0x%lx not readable", python, it->name, it->iframe);
			continue;
		}
		CHECKF((code & ~3ULL) == it->addr, "%s: %s: code 0x%lx in the frame, id() 0x%lx",
		       python, it->name, code, it->addr);
		st.code[0] = code;
		ss = symbolize_stack(&s, 1000 + i, &st);
		CHECK(ss && ss->nframes == 1);
		if (!ss || ss->nframes != 1 || !ss->frames[0].code || !ss->frames[0].code->ok) {
			CHECKF(0, "%s: %s: not symbolized", python, it->name);
			continue;
		}
		CHECKF(ss->frames[0].line == it->line, "%s: %s %s: line %d (instr %u), f_lineno %d",
		       python, it->kind, it->name, ss->frames[0].line, st.instr[0], it->line);
		CHECK_STR(ss->frames[0].code->qualname, it->name);
		CHECK_STR(ss->frames[0].code->filename, it->want);
		ok += ss->frames[0].line == it->line &&
		      !strcmp(ss->frames[0].code->qualname, it->name);
		frame_format(&ss->frames[0], 0, fb, sizeof(fb));
	}
	CHECKF(frames >= 6, "%s: only %d frames", python, frames);
	unit_note("%s: %d/%d frames: line and name as CPython says", python, ok, frames);
	symbolizer_free(&s);
}

TEST(pystr_and_frames_live)
{
	int ran = 0;

	for (size_t p = 0; p < sizeof(pythons) / sizeof(pythons[0]); p++) {
		const struct pyversion *pv;
		struct target opened;
		char err[256];
		bool attached;
		struct run r;

		if (access(pythons[p], X_OK)) {
			unit_note("%s: not installed, skipped", pythons[p]);
			continue;
		}
		if (!start(&r, pythons[p])) {
			CHECKF(0, "%s: target did not get ready", pythons[p]);
			stop(&r);
			continue;
		}
		pv = pyversion_find(r.major, r.minor);
		if (!pv) {
			unit_note("%s: no row for %u.%u, skipped", pythons[p], r.major, r.minor);
			stop(&r);
			continue;
		}
		/*
		 * What attaching finds must be what the target says of itself;
		 * its row (3.13+: with the target's _Py_DebugOffsets) is then
		 * the one used, as in a real run.
		 */
		attached = !target_open(&opened, r.pid, err, sizeof(err));
		CHECKF(attached, "%s: target_open: %s", pythons[p], err);
		if (attached) {
			CHECKF(opened.pv->major == r.major && opened.pv->minor == r.minor,
			       "%s: attached as %u.%u", pythons[p], opened.pv->major,
			       opened.pv->minor);
			CHECK_EQ_U64(opened.pycode_type, r.codetype);
			pv = opened.pv;
		}
		check_strings(&r, pv, pythons[p]);
		check_frames(&r, pv, pythons[p]);
		if (attached)
			target_close(&opened);
		stop(&r);
		ran++;
	}
	CHECK(ran >= 1);
}
