/* SPDX-License-Identifier: GPL-2.0 */
#ifndef TARGET_H
#define TARGET_H

#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include "pyversions.h"

struct elf_file;
struct pyversion;

/* One line of /proc/PID/maps. */
struct map_entry {
	uint64_t start, end, offset;
	char perms[5];
	unsigned long inode;
	char path[PATH_MAX];
};

/* Parse a /proc/PID/maps line; 0 on success. */
int maps_parse_line(const char *line, struct map_entry *e);

/* A traced CPython process. */
struct target {
	pid_t pid;
	char comm[64];
	char path[PATH_MAX];		/* object holding _PyRuntime, target's view */
	char host_path[PATH_MAX + 32];	/* same file seen from here (/proc/PID/root) */
	bool shared_lib;		/* libpython.so rather than the executable */
	bool debug_build;		/* Py_DEBUG */
	uint64_t bias;			/* load bias of that object */
	bool bias_known;
	uint64_t runtime_vaddr;		/* _PyRuntime's link-time address */
	uint64_t pycode_vaddr;
	struct elf_file *elf;
	uint64_t runtime_addr;		/* &_PyRuntime */
	uint64_t pycode_type;		/* &PyCode_Type */
	uint32_t hexversion;		/* PY_VERSION_HEX of the target */
	char version[32];		/* "3.11.2" */
	const char *version_from;	/* where the version was read */
	const struct pyversion *pv;	/* = &pvbuf */
	struct pyversion pvbuf;		/* the row, with the target's _Py_DebugOffsets */
	/* "offsets: ..." one line for the report header and --explain */
	char offsets_note[400];
};

/*
 * Find the interpreter of process pid. On failure returns -1 and a one-line
 * reason in err.
 */
int target_open(struct target *t, pid_t pid, char *err, size_t errlen);
/*
 * Launch mode: the interpreter of an executable that has not run yet (the
 * executable itself, or the libpython3* it needs). The load bias is not
 * known until it runs (bias_known false for PIE/shared objects).
 */
int target_open_exec(struct target *t, const char *exe, char *err, size_t errlen);
/* Fill in the load bias once the object is mapped; true when known. */
bool target_refresh(struct target *t);
/* Path of a DT_NEEDED library of exe, resolved as the dynamic loader would. */
int resolve_library(const char *exe, const char *name, char *out, size_t len);
/*
 * A library mapped in the target by its file name ("libc.so.6"): host is a
 * path we can open and probe (through /proc/PID/map_files or root), path
 * the target's name for it. 0 if found.
 */
int target_find_library(const struct target *t, const char *soname, char *host,
			size_t hostlen, char *path, size_t pathlen);
void target_close(struct target *t);
bool target_alive(const struct target *t);
/* Stopped (SIGSTOP): state T in /proc/PID/stat. */
bool target_stopped(const struct target *t);

#endif
