// SPDX-License-Identifier: GPL-2.0
/*
 * Native leaf frames: the caller of an allocator when it is not the
 * interpreter (a C extension, ctypes' libffi, another library). The file
 * is opened through /proc/PID/map_files, so deleted and namespaced files
 * work; ELF files are kept open per mapping.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "elffile.h"
#include "native.h"
#include "target.h"

struct native_map {
	uint64_t start, end, offset;
	char path[PATH_MAX];
	struct elf_file *ef;	/* opened on first use */
	int tried;
};

void native_init(struct native_syms *ns, pid_t pid)
{
	memset(ns, 0, sizeof(*ns));
	ns->pid = pid;
}

static void drop_maps(struct native_syms *ns)
{
	for (size_t i = 0; i < ns->nmaps; i++)
		elf_file_close(ns->maps[i].ef);
	free(ns->maps);
	ns->maps = NULL;
	ns->nmaps = 0;
}

void native_free(struct native_syms *ns)
{
	drop_maps(ns);
}

static void load_maps(struct native_syms *ns)
{
	char fn[64], line[PATH_MAX + 128];
	struct map_entry e;
	size_t cap = 0;
	FILE *f;

	drop_maps(ns);
	snprintf(fn, sizeof(fn), "/proc/%d/maps", ns->pid);
	f = fopen(fn, "re");
	if (!f)
		return;
	while (fgets(line, sizeof(line), f)) {
		struct native_map *m;

		if (maps_parse_line(line, &e) || e.perms[2] != 'x' || e.path[0] != '/')
			continue;
		if (ns->nmaps == cap) {
			cap = cap ? cap * 2 : 64;
			m = realloc(ns->maps, cap * sizeof(*m));
			if (!m)
				break;
			ns->maps = m;
		}
		m = &ns->maps[ns->nmaps++];
		memset(m, 0, sizeof(*m));
		m->start = e.start;
		m->end = e.end;
		m->offset = e.offset;
		snprintf(m->path, sizeof(m->path), "%s", e.path);
	}
	fclose(f);
}

static struct native_map *find_map(struct native_syms *ns, uint64_t ip)
{
	for (size_t i = 0; i < ns->nmaps; i++)
		if (ip >= ns->maps[i].start && ip < ns->maps[i].end)
			return &ns->maps[i];
	return NULL;
}

static const char *base_of(const char *p)
{
	const char *s = strrchr(p, '/');

	return s ? s + 1 : p;
}

char *native_symbolize(struct native_syms *ns, uint64_t ip, char *buf, size_t len)
{
	struct native_map *m = find_map(ns, ip);
	uint64_t off, vaddr, in;
	const char *name = NULL;

	if (!m) {
		load_maps(ns);		/* a library loaded since */
		m = find_map(ns, ip);
	}
	if (!m) {
		ns->unknown++;
		snprintf(buf, len, "[native 0x%" PRIx64 "]", ip);
		return buf;
	}
	if (!m->tried) {
		char host[PATH_MAX + 64], err[256];

		m->tried = 1;
		snprintf(host, sizeof(host), "/proc/%d/map_files/%" PRIx64 "-%" PRIx64,
			 ns->pid, m->start, m->end);
		m->ef = elf_file_open(host, err, sizeof(err));
		if (!m->ef) {
			snprintf(host, sizeof(host), "/proc/%d/root%s", ns->pid, m->path);
			m->ef = elf_file_open(host, err, sizeof(err));
		}
	}
	off = ip - m->start + m->offset;
	/* the call instruction is just before the return address */
	if (m->ef && !elf_file_offset_to_vaddr(m->ef, off, &vaddr))
		name = elf_file_addr_symbol(m->ef, vaddr - 1, &in);
	if (name) {
		snprintf(buf, len, "%s!%s", base_of(m->path), name);
	} else {
		ns->unknown++;
		snprintf(buf, len, "%s+0x%" PRIx64, base_of(m->path), off);
	}
	return buf;
}
