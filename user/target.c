// SPDX-License-Identifier: GPL-2.0
/*
 * PID -> the ELF object holding the interpreter (_PyRuntime), its load
 * bias, and the Python version read from the target's memory. Files are
 * opened through /proc/PID/root, so a target in another mount namespace
 * (a container) is read from its own filesystem.
 */
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "elffile.h"
#include "heapscan.h"
#include "memread.h"
#include "pyversions.h"
#include "target.h"

int maps_parse_line(const char *line, struct map_entry *e)
{
	unsigned int dmaj, dmin;
	int pos = 0;

	memset(e, 0, sizeof(*e));
	if (sscanf(line, "%" SCNx64 "-%" SCNx64 " %4s %" SCNx64 " %x:%x %lu %n",
		   &e->start, &e->end, e->perms, &e->offset, &dmaj, &dmin,
		   &e->inode, &pos) < 7)
		return -EINVAL;
	if (pos > 0) {
		const char *p = line + pos;
		size_t n;

		while (*p == ' ')
			p++;
		n = strcspn(p, "\n");
		if (n >= sizeof(e->path))
			n = sizeof(e->path) - 1;
		memcpy(e->path, p, n);
		e->path[n] = 0;
	}
	return 0;
}

static const char *base_name(const char *p)
{
	const char *s = strrchr(p, '/');

	return s ? s + 1 : p;
}

/* A file mapped in the target that may hold the interpreter. */
struct candidate {
	char path[PATH_MAX];		/* as the target names it */
	uint64_t start, end;		/* its mapping at file offset 0 */
	unsigned long inode;
};

/*
 * The executable and any libpython3*, from /proc/PID/maps, executable
 * first. Deleted or replaced files are found by inode, not by name.
 */
static int candidates(pid_t pid, struct candidate *out, int max)
{
	char fn[64], line[PATH_MAX + 128];
	struct map_entry e;
	struct stat st;
	int n = 1;
	FILE *f;

	memset(out, 0, sizeof(*out));
	snprintf(fn, sizeof(fn), "/proc/%d/exe", pid);
	if (stat(fn, &st))
		return 0;
	snprintf(fn, sizeof(fn), "/proc/%d/maps", pid);
	f = fopen(fn, "re");
	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f)) {
		struct candidate *c = NULL;
		char *del;

		if (maps_parse_line(line, &e) || e.path[0] != '/' || e.offset)
			continue;
		del = strstr(e.path, " (deleted)");
		if (del)
			*del = 0;
		if (e.inode == st.st_ino) {
			if (!out[0].start)
				c = &out[0];
		} else if (!strncmp(base_name(e.path), "libpython3", 10) && n < max) {
			int dup = 0;

			for (int i = 1; i < n; i++)
				dup |= out[i].inode == e.inode;
			if (!dup)
				c = &out[n++];
		}
		if (!c)
			continue;
		snprintf(c->path, sizeof(c->path), "%s", e.path);
		c->start = e.start;
		c->end = e.end;
		c->inode = e.inode;
	}
	fclose(f);
	return out[0].start ? n : 0;
}

/*
 * 3.8-3.10 have no Py_Version: the PY_VERSION string ("3.9.18") that
 * Py_GetVersion() formats into sys.version. The function loads its address
 * (lea rip-relative in a PIC object, mov imm32 in a non-PIE executable);
 * the one operand that points at a complete version string is it.
 * Returns PY_VERSION_HEX, 0 if not found.
 */
static uint32_t version_from_getversion(const struct elf_file *ef)
{
	uint64_t fn, size;
	uint8_t code[256];
	uint32_t found = 0;

	if (elf_file_symbol(ef, "Py_GetVersion", &fn, &size) || !size)
		return 0;
	if (size > sizeof(code))
		size = sizeof(code);
	if (elf_file_read(ef, fn, code, size))
		return 0;
	for (uint64_t i = 0; i + 5 <= size; i++) {
		uint64_t target;
		int32_t d;
		char str[24];

		if (i + 7 <= size && (code[i] & 0xf8) == 0x48 && code[i + 1] == 0x8d &&
		    (code[i + 2] & 0xc7) == 0x05) {
			memcpy(&d, code + i + 3, 4);	/* lea disp32(%rip), %reg */
			target = fn + i + 7 + d;
		} else if (code[i] >= 0xb8 && code[i] <= 0xbf) {
			uint32_t imm;			/* mov $imm32, %reg32 */

			memcpy(&imm, code + i + 1, 4);
			target = imm;
		} else {
			continue;
		}
		memset(str, 0, sizeof(str));
		if (elf_file_read(ef, target, str, sizeof(str) - 1) || !memchr(str, 0, sizeof(str) - 1))
			continue;
		found = pyversion_parse(str);
		if (found)
			break;
	}
	return found;
}

/* "libpython3.9.so.1.0" / "python3.9" -> 9; -1 if the name says nothing. */
static int minor_from_name(const char *path)
{
	const char *b = base_name(path);
	unsigned minor;

	if (sscanf(b, "libpython3.%u", &minor) == 1 || sscanf(b, "python3.%u", &minor) == 1)
		return (int)minor;
	return -1;
}

/* A free-threaded build's library or executable: "3.13t" in its name. */
static bool name_says_free_threaded(const char *path)
{
	const char *b = base_name(path);
	unsigned minor;
	char t = 0;

	return (sscanf(b, "libpython3.%u%c", &minor, &t) == 2 ||
		sscanf(b, "python3.%u%c", &minor, &t) == 2) && t == 't';
}

/*
 * The PY_VERSION_HEX of the interpreter: Py_Version (3.11+) read through
 * rd (the target's memory, or the file), else Py_GetVersion's string,
 * checked against the version in the file's name when it has one.
 */
static int read_version(struct target *t, int (*rd)(struct target *, uint64_t, uint64_t *),
			uint64_t *hex, char *err, size_t errlen)
{
	uint64_t pyver;
	int named = minor_from_name(t->path);

	if (!elf_file_symbol(t->elf, "Py_Version", &pyver, NULL)) {
		if (rd(t, pyver, hex)) {
			snprintf(err, errlen, "cannot read Py_Version of %.200s: %s", t->path,
				 strerror(errno));
			return -1;
		}
		t->version_from = "Py_Version";
		return 0;
	}
	*hex = version_from_getversion(t->elf);
	if (!*hex) {
		snprintf(err, errlen, "unsupported Python %.200s: no Py_Version and no version string "
			 "in Py_GetVersion; supported: %s", t->path, pyversion_supported());
		return -1;
	}
	t->version_from = "Py_GetVersion's PY_VERSION string";
	if (named >= 0 && (unsigned)named != ((*hex >> 16) & 0xff)) {
		snprintf(err, errlen, "%.200s: its version string says %u.%u, its name 3.%d: "
			 "not tracing an interpreter of unknown version", t->path,
			 (unsigned)(*hex >> 24), (unsigned)(*hex >> 16) & 0xff, named);
		return -1;
	}
	return 0;
}

static int rd_mem(struct target *t, uint64_t vaddr, uint64_t *v)
{
	return mem_read_u64(t->pid, vaddr + t->bias, v);
}

static int rd_file(struct target *t, uint64_t vaddr, uint64_t *v)
{
	return elf_file_read(t->elf, vaddr, v, sizeof(*v));
}

/*
 * 3.13+: the target's _Py_DebugOffsets (first member of _PyRuntime), from
 * its memory (attach) or the file's initialised data (launch).
 */
static int apply_debug_offsets(struct target *t, bool from_mem, char *err, size_t errlen)
{
	uint8_t buf[DEBUG_OFFSETS_MAX];
	char note[300], e2[300];

	if (from_mem ? mem_read(t->pid, t->runtime_vaddr + t->bias, buf, sizeof(buf))
		     : elf_file_read(t->elf, t->runtime_vaddr, buf, sizeof(buf))) {
		snprintf(err, errlen, "cannot read _Py_DebugOffsets of %.200s", t->path);
		return -1;
	}
	if (pyversion_debug_offsets(&t->pvbuf, buf, sizeof(buf), note, sizeof(note),
				    e2, sizeof(e2))) {
		snprintf(err, errlen, "CPython %s (%.200s): %s", t->version, t->path, e2);
		return -1;
	}
	snprintf(t->offsets_note, sizeof(t->offsets_note), "offsets: row 3.%u (%s); %s",
		 t->pv->minor, t->pv->verified, note);
	return 0;
}

/*
 * Given the PY_VERSION_HEX read from the target (where names it in
 * messages): the version row, debug build or not, PyCode_Type's address.
 */
static int identify(struct target *t, uint64_t hexversion, const char *where,
		    bool from_mem, char *err, size_t errlen)
{
	unsigned int major = (hexversion >> 24) & 0xff, minor = (hexversion >> 16) & 0xff;
	const struct pyversion *row;

	t->hexversion = (uint32_t)hexversion;
	snprintf(t->version, sizeof(t->version), "%u.%u.%u", major, minor,
		 (unsigned int)(hexversion >> 8) & 0xff);
	t->debug_build = !elf_file_symbol(t->elf, "_Py_RefTotal", NULL, NULL) ||
			 !elf_file_symbol(t->elf, "_Py_GetRefTotal", NULL, NULL);
	if (name_says_free_threaded(t->path)) {
		snprintf(err, errlen, "free-threaded CPython %st (%.200s) is not supported: objects "
			 "have another header and no GIL orders the allocator calls", t->version,
			 t->path);
		return -1;
	}
	row = pyversion_find(major, minor);
	if (!row && major == 3 && minor > pyversion_newest_minor()) {
		/* a newer _Py_DebugOffsets: refused (see pyversion_debug_offsets) */
		snprintf(err, errlen, "unsupported Python version %s in %.200s: newer than this "
			 "pyleakbpf knows, whose _Py_DebugOffsets layout cannot be read safely; "
			 "supported: %s", t->version, where, pyversion_supported());
		return -1;
	}
	if (!row) {
		snprintf(err, errlen, "unsupported Python version %s in %.200s; supported: %s",
			 t->version, where, pyversion_supported());
		return -1;
	}
	t->pvbuf = *row;
	t->pv = &t->pvbuf;
	snprintf(t->offsets_note, sizeof(t->offsets_note), "offsets: row 3.%u (%s)", minor,
		 row->verified);
	if (row->debug_offsets && apply_debug_offsets(t, from_mem, err, errlen))
		return -1;
	if (elf_file_symbol(t->elf, "PyCode_Type", &t->pycode_vaddr, NULL)) {
		snprintf(err, errlen, "%.200s has no PyCode_Type symbol", t->path);
		return -1;
	}
	return 0;
}

int target_open(struct target *t, pid_t pid, char *err, size_t errlen)
{
	char fn[64], exe[PATH_MAX], where[32];
	static struct candidate cand[8];
	uint64_t runtime = 0, v;
	ssize_t n;
	int nc;
	FILE *f;

	memset(t, 0, sizeof(*t));
	t->pid = pid;
	if (pid <= 0 || (kill(pid, 0) < 0 && errno == ESRCH)) {
		snprintf(err, errlen, "no such process: %d", pid);
		return -1;
	}
	snprintf(fn, sizeof(fn), "/proc/%d/comm", pid);
	f = fopen(fn, "re");
	if (!f) {
		snprintf(err, errlen, "no such process: %d", pid);
		return -1;
	}
	if (fgets(t->comm, sizeof(t->comm), f))
		t->comm[strcspn(t->comm, "\n")] = 0;
	fclose(f);

	snprintf(fn, sizeof(fn), "/proc/%d/exe", pid);
	n = readlink(fn, exe, sizeof(exe) - 1);
	if (n < 0) {
		int e = errno;

		snprintf(err, errlen, "cannot read /proc/%d/exe: %s%s", pid, strerror(e),
			 (e == EACCES || e == EPERM) && geteuid() ? " (run as root)" : "");
		return -1;
	}
	exe[n] = 0;

	nc = candidates(pid, cand, 8);
	for (int i = 0; i < nc && !t->elf; i++) {
		char e2[256];
		struct elf_file *ef;

		/* the mapped file itself, even if deleted or replaced on disk */
		snprintf(t->host_path, sizeof(t->host_path), "/proc/%d/map_files/%" PRIx64 "-%" PRIx64,
			 pid, cand[i].start, cand[i].end);
		ef = elf_file_open(t->host_path, e2, sizeof(e2));
		if (!ef) {
			snprintf(t->host_path, sizeof(t->host_path), "/proc/%d/root%.4000s", pid,
				 cand[i].path);
			ef = elf_file_open(t->host_path, e2, sizeof(e2));
		}
		if (!ef)
			continue;
		if (elf_file_symbol(ef, "_PyRuntime", &runtime, NULL)) {
			elf_file_close(ef);
			continue;
		}
		t->elf = ef;
		snprintf(t->path, sizeof(t->path), "%.4000s", cand[i].path);
		t->shared_lib = i > 0;
		if (!elf_file_is_exec(ef))
			t->bias = cand[i].start - elf_file_base_vaddr(ef);
	}
	if (!t->elf) {
		snprintf(err, errlen, "process %d (%s) is not CPython: no _PyRuntime in %s or a libpython",
			 pid, t->comm, exe);
		return -1;
	}
	t->bias_known = true;
	t->runtime_vaddr = runtime;
	t->runtime_addr = runtime + t->bias;

	if (read_version(t, rd_mem, &v, err, errlen))
		goto fail;
	snprintf(where, sizeof(where), "process %d", pid);
	if (identify(t, v, where, true, err, errlen))
		goto fail;
	t->pycode_type = t->pycode_vaddr + t->bias;
	heapscan_set_pool_size(pid, t->pv->pool_size);
	return 0;
fail:
	target_close(t);
	return -1;
}

void target_close(struct target *t)
{
	elf_file_close(t->elf);
	t->elf = NULL;
}

static char proc_state(pid_t pid)
{
	char fn[64], buf[512], *p, st = 0;
	FILE *f;

	snprintf(fn, sizeof(fn), "/proc/%d/stat", pid);
	f = fopen(fn, "re");
	if (!f)
		return 0;
	if (fgets(buf, sizeof(buf), f) && (p = strrchr(buf, ')')) && p[1] && p[2])
		st = p[2];
	fclose(f);
	return st;
}

bool target_stopped(const struct target *t)
{
	return proc_state(t->pid) == 'T';
}

bool target_alive(const struct target *t)
{
	char fn[64], buf[512], *p;
	FILE *f;
	bool alive = false;

	snprintf(fn, sizeof(fn), "/proc/%d/stat", t->pid);
	f = fopen(fn, "re");
	if (!f)
		return false;
	if (fgets(buf, sizeof(buf), f) && (p = strrchr(buf, ')')) && p[1] && p[2])
		alive = p[2] != 'Z' && p[2] != 'X';
	fclose(f);
	return alive;
}

int resolve_library(const char *exe, const char *name, char *out, size_t len)
{
	static const char *std[] = { "/lib/x86_64-linux-gnu", "/usr/lib/x86_64-linux-gnu",
				     "/usr/local/lib", "/lib64", "/usr/lib64", "/lib", "/usr/lib" };
	char dirs[3 * PATH_MAX] = "", err[256], origin[PATH_MAX];
	const char *env = getenv("LD_LIBRARY_PATH"), *rp;
	struct elf_file *ef = elf_file_open(exe, err, sizeof(err));
	char *save, *d;

	if (!ef)
		return -1;
	snprintf(origin, sizeof(origin), "%s", exe);
	if (strrchr(origin, '/'))
		*strrchr(origin, '/') = 0;
	rp = elf_file_runpath(ef);
	/* $ORIGIN expands to the executable's directory */
	for (const char *p = rp; *p && strlen(dirs) < sizeof(dirs) - PATH_MAX; p++) {
		if (!strncmp(p, "$ORIGIN", 7)) {
			strcat(dirs, origin);
			p += 6;
		} else {
			strncat(dirs, p, 1);
		}
	}
	elf_file_close(ef);
	if (env && strlen(dirs) + strlen(env) + 2 < sizeof(dirs)) {
		strcat(dirs, ":");
		strcat(dirs, env);
	}
	for (size_t i = 0; i < sizeof(std) / sizeof(std[0]); i++) {
		strcat(dirs, ":");
		strcat(dirs, std[i]);
	}
	for (d = strtok_r(dirs, ":", &save); d; d = strtok_r(NULL, ":", &save)) {
		snprintf(out, len, "%s/%s", d, name);
		if (!access(out, R_OK))
			return 0;
	}
	return -1;
}

int target_open_exec(struct target *t, const char *exe, char *err, size_t errlen)
{
	const char *needed[64];
	char e2[256], lib[PATH_MAX];
	uint64_t runtime = 0, v = 0;
	struct elf_file *ef;
	int n;

	memset(t, 0, sizeof(*t));
	ef = elf_file_open(exe, e2, sizeof(e2));
	if (!ef) {
		snprintf(err, errlen, "%s", e2);
		return -1;
	}
	snprintf(t->comm, sizeof(t->comm), "%.63s", strrchr(exe, '/') ? strrchr(exe, '/') + 1 : exe);
	if (!elf_file_symbol(ef, "_PyRuntime", &runtime, NULL)) {
		t->elf = ef;
		snprintf(t->path, sizeof(t->path), "%.4000s", exe);
	} else {
		n = elf_file_needed(ef, needed, 64);
		for (int i = 0; i < n && !t->elf; i++) {
			struct elf_file *lf;

			if (strncmp(needed[i], "libpython3", 10) ||
			    resolve_library(exe, needed[i], lib, sizeof(lib)))
				continue;
			lf = elf_file_open(lib, e2, sizeof(e2));
			if (lf && !elf_file_symbol(lf, "_PyRuntime", &runtime, NULL)) {
				t->elf = lf;
				t->shared_lib = true;
				snprintf(t->path, sizeof(t->path), "%.4000s", lib);
			} else {
				elf_file_close(lf);
			}
		}
		elf_file_close(ef);
	}
	if (!t->elf) {
		snprintf(err, errlen, "%s is not CPython: no _PyRuntime in it or a libpython it needs",
			 exe);
		return -1;
	}
	snprintf(t->host_path, sizeof(t->host_path), "%s", t->path);
	t->runtime_vaddr = runtime;
	if (read_version(t, rd_file, &v, err, errlen) ||
	    identify(t, v, t->path, false, err, errlen))
		goto fail;
	t->runtime_vaddr = runtime;
	if (elf_file_is_exec(t->elf)) {
		t->bias_known = true;
		t->runtime_addr = runtime;
		t->pycode_type = t->pycode_vaddr;
	}
	return 0;
fail:
	target_close(t);
	return -1;
}

bool target_refresh(struct target *t)
{
	static struct candidate cand[8];
	int n;

	if (t->pid > 0 && t->pv)
		heapscan_set_pool_size(t->pid, t->pv->pool_size);
	if (t->bias_known)
		return true;
	n = candidates(t->pid, cand, 8);
	for (int i = 0; i < n; i++) {
		if (strcmp(cand[i].path, t->path))
			continue;
		t->bias = cand[i].start - elf_file_base_vaddr(t->elf);
		t->runtime_addr = t->runtime_vaddr + t->bias;
		t->pycode_type = t->pycode_vaddr + t->bias;
		t->bias_known = true;
	}
	return t->bias_known;
}

int target_find_library(const struct target *t, const char *soname, char *host,
			size_t hostlen, char *path, size_t pathlen)
{
	char fn[64], line[PATH_MAX + 128];
	struct map_entry e;
	FILE *f;
	int ret = -ENOENT;

	snprintf(fn, sizeof(fn), "/proc/%d/maps", t->pid);
	f = fopen(fn, "re");
	if (!f)
		return -errno;
	while (ret && fgets(line, sizeof(line), f)) {
		char *del;

		if (maps_parse_line(line, &e) || e.path[0] != '/' || e.offset)
			continue;
		del = strstr(e.path, " (deleted)");
		if (del)
			*del = 0;
		if (strcmp(base_name(e.path), soname))
			continue;
		snprintf(path, pathlen, "%s", e.path);
		snprintf(host, hostlen, "/proc/%d/map_files/%" PRIx64 "-%" PRIx64, t->pid,
			 e.start, e.end);
		if (access(host, R_OK))
			snprintf(host, hostlen, "/proc/%d/root%.4000s", t->pid, e.path);
		ret = 0;
	}
	fclose(f);
	return ret;
}
