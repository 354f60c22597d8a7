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
#include <unistd.h>
#include "elffile.h"
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

/* Lowest mapped address of path in the target, or 0. */
static uint64_t lowest_mapping(pid_t pid, const char *path)
{
	char fn[64], line[PATH_MAX + 128];
	struct map_entry e;
	uint64_t low = 0;
	FILE *f;

	snprintf(fn, sizeof(fn), "/proc/%d/maps", pid);
	f = fopen(fn, "re");
	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f)) {
		if (maps_parse_line(line, &e) || strcmp(e.path, path))
			continue;
		if (!low || e.start < low)
			low = e.start - e.offset;
	}
	fclose(f);
	return low;
}

/* Candidate objects: the executable first, then any libpython3*. */
static int candidates(pid_t pid, const char *exe, char (*out)[PATH_MAX], int max)
{
	char fn[64], line[PATH_MAX + 128];
	struct map_entry e;
	int n = 0;
	FILE *f;

	snprintf(out[n++], PATH_MAX, "%s", exe);
	snprintf(fn, sizeof(fn), "/proc/%d/maps", pid);
	f = fopen(fn, "re");
	if (!f)
		return n;
	while (n < max && fgets(line, sizeof(line), f)) {
		int dup = 0;

		if (maps_parse_line(line, &e) || e.path[0] != '/' ||
		    strncmp(base_name(e.path), "libpython3", 10))
			continue;
		for (int i = 0; i < n; i++)
			dup |= !strcmp(out[i], e.path);
		if (!dup)
			snprintf(out[n++], PATH_MAX, "%s", e.path);
	}
	fclose(f);
	return n;
}

int target_open(struct target *t, pid_t pid, char *err, size_t errlen)
{
	char fn[64], exe[PATH_MAX], cand[8][PATH_MAX];
	uint64_t runtime = 0, pyver = 0, codetype = 0, v;
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
		snprintf(err, errlen, "cannot read /proc/%d/exe: %s%s", pid, strerror(errno),
			 errno == EACCES || errno == EPERM ? " (run as root)" : "");
		return -1;
	}
	exe[n] = 0;
	if (strstr(exe, " (deleted)"))
		*strstr(exe, " (deleted)") = 0;

	nc = candidates(pid, exe, cand, 8);
	for (int i = 0; i < nc && !t->elf; i++) {
		char e2[256];
		struct elf_file *ef;

		snprintf(t->host_path, sizeof(t->host_path), "/proc/%d/root%.4000s", pid, cand[i]);
		ef = elf_file_open(t->host_path, e2, sizeof(e2));
		if (!ef)
			continue;
		if (elf_file_symbol(ef, "_PyRuntime", &runtime, NULL)) {
			elf_file_close(ef);
			continue;
		}
		t->elf = ef;
		snprintf(t->path, sizeof(t->path), "%.4000s", cand[i]);
		t->shared_lib = i > 0;
	}
	if (!t->elf) {
		snprintf(err, errlen, "process %d (%s) is not CPython: no _PyRuntime in %s or a libpython",
			 pid, t->comm, exe);
		return -1;
	}
	if (!elf_file_is_exec(t->elf)) {
		uint64_t low = lowest_mapping(pid, t->path);

		if (!low) {
			snprintf(err, errlen, "%s is not mapped in process %d", t->path, pid);
			goto fail;
		}
		t->bias = low - elf_file_base_vaddr(t->elf);
	}
	t->runtime_addr = runtime + t->bias;
	t->debug_build = !elf_file_symbol(t->elf, "_Py_RefTotal", NULL, NULL) ||
			 !elf_file_symbol(t->elf, "_Py_GetRefTotal", NULL, NULL);

	if (elf_file_symbol(t->elf, "Py_Version", &pyver, NULL)) {
		snprintf(err, errlen, "unsupported Python in process %d: no Py_Version symbol "
			 "(CPython older than 3.11); supported: %s", pid, pyversion_supported());
		goto fail;
	}
	if (mem_read_u64(pid, pyver + t->bias, &v)) {
		snprintf(err, errlen, "cannot read the memory of process %d: %s (run as root)",
			 pid, strerror(errno));
		goto fail;
	}
	t->hexversion = (uint32_t)v;
	snprintf(t->version, sizeof(t->version), "%u.%u.%u", (t->hexversion >> 24) & 0xff,
		 (t->hexversion >> 16) & 0xff, (t->hexversion >> 8) & 0xff);
	t->pv = pyversion_find((t->hexversion >> 24) & 0xff, (t->hexversion >> 16) & 0xff);
	if (!t->pv) {
		snprintf(err, errlen, "unsupported Python version %s in process %d; supported: %s",
			 t->version, pid, pyversion_supported());
		goto fail;
	}
	if (elf_file_symbol(t->elf, "PyCode_Type", &codetype, NULL)) {
		snprintf(err, errlen, "%s has no PyCode_Type symbol", t->path);
		goto fail;
	}
	t->pycode_type = codetype + t->bias;
	return 0;
fail:
	elf_file_close(t->elf);
	t->elf = NULL;
	return -1;
}

void target_close(struct target *t)
{
	elf_file_close(t->elf);
	t->elf = NULL;
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
