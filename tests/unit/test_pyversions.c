// SPDX-License-Identifier: GPL-2.0
/*
 * The version rows, the PY_VERSION parser, _Py_DebugOffsets applied to a
 * row (from a real 3.13 libpython's initialised _PyRuntime, then doctored
 * copies of it), and version detection of the pyenv builds from their files.
 */
#include <string.h>
#include <unistd.h>
#include "unit.h"
#include "elffile.h"
#include "pyversions.h"
#include "target.h"

#define LIB313	"/root/.pyenv/versions/3.13.0/lib/libpython3.13.so.1.0"

TEST(pyversions_every_row)
{
	for (unsigned m = 8; m <= 14; m++) {
		const struct pyversion *pv = pyversion_find(3, m);

		CHECKF(pv, "no row for 3.%u", m);
		if (!pv)
			continue;
		CHECK(pv->verified && *pv->verified);
		CHECK(pv->bpf.frame_read_len <= FRAME_READ_MAX);
		CHECK(pv->bpf.frame_code >= (int)pv->bpf.frame_read_lo);
		CHECK(pv->bpf.frame_instr + 8 <= (int)(pv->bpf.frame_read_lo + pv->bpf.frame_read_len));
		CHECK(pv->pool_size == (m < 10 ? 4096u : 16384u));
		CHECK(pv->bpf.preheader_flags == (m < 11 ? 0u : m == 11 ? 0x10u : 0x18u));
		/* a way to the GIL holder, and one to tell this thread's state */
		CHECK(pv->bpf.runtime_tstate_current >= 0 || pv->bpf.interp_gil_holder >= 0);
		CHECK(pv->bpf.tstate_native_tid >= 0 || pv->bpf.tstate_thread_id >= 0);
	}
	CHECK(!pyversion_find(3, 7));
	CHECK(!pyversion_find(3, 15));
	CHECK(strstr(pyversion_supported(), "3.8") && strstr(pyversion_supported(), "3.13"));
	CHECK(strstr(pyversion_find(3, 14)->verified, "UNVERIFIED"));
}

TEST(pyversions_parse)
{
	CHECK_EQ_U64(pyversion_parse("3.9.18"), 0x030912f0);
	CHECK_EQ_U64(pyversion_parse("3.10.0rc2"), 0x030a00c2);
	CHECK_EQ_U64(pyversion_parse("3.8.0b1"), 0x030800b1);
	CHECK_EQ_U64(pyversion_parse("3.11.0a7+"), 0x030b00a7);
	CHECK_EQ_U64(pyversion_parse("3.12.1+"), 0x030c01f0);
	CHECK_EQ_U64(pyversion_parse("3.2.0 x"), 0);
	CHECK_EQ_U64(pyversion_parse("2.7.18"), 0);
	CHECK_EQ_U64(pyversion_parse("3.9"), 0);
	CHECK_EQ_U64(pyversion_parse("%.80s"), 0);
}

/* The first bytes of 3.13.0's _PyRuntime as the file initialises them. */
static int read_debug_offsets(uint8_t *buf, size_t len)
{
	char err[256];
	struct elf_file *ef = elf_file_open(LIB313, err, sizeof(err));
	uint64_t rt;
	int r = -1;

	if (!ef)
		return -1;
	if (!elf_file_symbol(ef, "_PyRuntime", &rt, NULL))
		r = elf_file_read(ef, rt, buf, len);
	elf_file_close(ef);
	return r;
}

static void put64(uint8_t *buf, unsigned off, uint64_t v)
{
	memcpy(buf + off, &v, 8);
}

TEST(pyversions_debug_offsets)
{
	uint8_t buf[DEBUG_OFFSETS_MAX], doc[DEBUG_OFFSETS_MAX];
	struct pyversion pv;
	char note[300], err[300];

	if (access(LIB313, R_OK) || read_debug_offsets(buf, sizeof(buf))) {
		unit_note("%s not installed: skipped", LIB313);
		return;
	}
	CHECK(!memcmp(buf, DEBUG_OFFSETS_COOKIE, 8));
	/* the real one: every offset as in the gdb-checked row */
	pv = *pyversion_find(3, 13);
	CHECK_EQ_INT(pyversion_debug_offsets(&pv, buf, sizeof(buf), note, sizeof(note),
					     err, sizeof(err)), 0);
	CHECKF(strstr(note, "all 26 offsets match"), "note: %s", note);
	CHECK(!memcmp(&pv, pyversion_find(3, 13), sizeof(pv)));

	/* co_code_adaptive (code_object group at 272, slot 9) moved: target wins */
	memcpy(doc, buf, sizeof(doc));
	put64(doc, 272 + 9 * 8, 208);
	pv = *pyversion_find(3, 13);
	CHECK_EQ_INT(pyversion_debug_offsets(&pv, doc, sizeof(doc), note, sizeof(note),
					     err, sizeof(err)), 0);
	CHECK_EQ_INT(pv.code_adaptive, 208);
	CHECKF(strstr(note, "1 of 26 offsets differ") &&
	       strstr(note, "code.co_code_adaptive 200 -> 208"), "note: %s", note);

	/* frame owner moved (interpreter_frame at 224, slot 5): the read grows */
	memcpy(doc, buf, sizeof(doc));
	put64(doc, 224 + 5 * 8, 90);
	pv = *pyversion_find(3, 13);
	CHECK_EQ_INT(pyversion_debug_offsets(&pv, doc, sizeof(doc), note, sizeof(note),
					     err, sizeof(err)), 0);
	CHECK_EQ_INT(pv.bpf.frame_owner, 90);
	CHECK(pv.bpf.frame_read_lo + pv.bpf.frame_read_len >= 91);

	/* a 3.15 target: refused, not guessed */
	memcpy(doc, buf, sizeof(doc));
	put64(doc, 8, 0x030f00f0);
	pv = *pyversion_find(3, 13);
	CHECK_EQ_INT(pyversion_debug_offsets(&pv, doc, sizeof(doc), note, sizeof(note),
					     err, sizeof(err)), -1);
	CHECKF(strstr(err, "CPython 3.15") && strstr(err, "newer than this pyleakbpf"),
	       "err: %s", err);

	/* a 3.14 struct where the interpreter says 3.13: inconsistent */
	put64(doc, 8, 0x030e00f0);
	CHECK_EQ_INT(pyversion_debug_offsets(&pv, doc, sizeof(doc), note, sizeof(note),
					     err, sizeof(err)), -1);
	CHECKF(strstr(err, "say CPython 3.14, the interpreter 3.13"), "err: %s", err);

	/* free-threaded */
	memcpy(doc, buf, sizeof(doc));
	put64(doc, 16, 1);
	CHECK_EQ_INT(pyversion_debug_offsets(&pv, doc, sizeof(doc), note, sizeof(note),
					     err, sizeof(err)), -1);
	CHECKF(strstr(err, "free-threaded"), "err: %s", err);

	/* no cookie */
	memcpy(doc, buf, sizeof(doc));
	doc[0] = 'y';
	CHECK_EQ_INT(pyversion_debug_offsets(&pv, doc, sizeof(doc), note, sizeof(note),
					     err, sizeof(err)), -1);
	CHECK(strstr(err, "cookie"));
}

TEST(pyversions_detect_from_file)
{
	static const char *builds[][2] = {
		{ "/root/.pyenv/versions/3.8.18/bin/python3.8", "3.8.18" },
		{ "/root/.pyenv/versions/3.9.18/bin/python3.9", "3.9.18" },
		{ "/root/.pyenv/versions/3.10.13/bin/python3.10", "3.10.13" },
		{ "/root/.pyenv/versions/3.12.1/bin/python3.12", "3.12.1" },
		{ "/root/.pyenv/versions/3.13.0/bin/python3.13", "3.13.0" },
		{ "/usr/bin/python3.11", "3.11.2" },
	};

	for (size_t i = 0; i < sizeof(builds) / sizeof(builds[0]); i++) {
		struct target t;
		char err[512];

		if (access(builds[i][0], X_OK)) {
			unit_note("%s not installed: skipped", builds[i][0]);
			continue;
		}
		CHECKF(!target_open_exec(&t, builds[i][0], err, sizeof(err)), "%s: %s",
		       builds[i][0], err);
		CHECK_STR(t.version, builds[i][1]);
		CHECK(t.pv == &t.pvbuf && t.pv->minor == t.pvbuf.minor);
		CHECK(strstr(t.offsets_note, "offsets: row 3."));
		target_close(&t);
	}
}
