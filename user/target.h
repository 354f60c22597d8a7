/* SPDX-License-Identifier: GPL-2.0 */
#ifndef TARGET_H
#define TARGET_H

#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

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
	struct elf_file *elf;
	uint64_t runtime_addr;		/* &_PyRuntime */
	uint64_t pycode_type;		/* &PyCode_Type */
	uint32_t hexversion;		/* Py_Version */
	char version[32];		/* "3.11.2" */
	const struct pyversion *pv;
};

/*
 * Find the interpreter of process pid. On failure returns -1 and a one-line
 * reason in err.
 */
int target_open(struct target *t, pid_t pid, char *err, size_t errlen);
void target_close(struct target *t);
bool target_alive(const struct target *t);

#endif
