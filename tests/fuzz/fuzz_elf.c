// SPDX-License-Identifier: GPL-2.0
/*
 * Fuzzes the ELF reader (user/elffile.c) on crafted files: the files of
 * the target's mappings, which the target may have written itself.
 *
 * Input layout: u32 LE n, then the ELF file (n bytes, or all that is
 * left), then an optional second file. Both are written to a private
 * directory made at start-up: the first as "t.so", which is opened, the
 * second as "d.debug", where a .gnu_debuglink naming "d.debug" finds it
 * (the separate debug file path). Then every query elffile.h offers is
 * made: symbols, segments, address <-> offset, reads, PLT stubs of
 * .plt/.plt.sec/.plt.got, DT_NEEDED/RUNPATH, USDT notes, symbol by address.
 * FUZZ_PRINT=1 in the environment prints what was found.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "elffile.h"
#include "fakemem.h"

static volatile size_t sink;	/* keeps string reads from being optimized out */
static char dir[64] = "/tmp/pyleak-fuzz-elf-XXXXXX";
static char path[128], dbg[128];

static void put(const char *p, const uint8_t *d, size_t n)
{
	int fd;

	if (!n) {
		unlink(p);
		return;
	}
	fd = open(p, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		fz_fail("cannot write %s", p);
	if (write(fd, d, n) != (ssize_t)n)
		fz_fail("short write to %s", p);
	close(fd);
}

static void cleanup(void)
{
	unlink(path);
	unlink(dbg);
	rmdir(dir);
}

static void stubs(struct elf_file *ef, const char *sec)
{
	uint64_t addr, size;

	if (elf_file_section(ef, sec, &addr, &size))
		return;
	for (uint64_t i = 0; i < 64 && i * 16 < size; i++)
		elf_file_plt_target(ef, addr + i * 16);
}

static void lookups(struct elf_file *ef, const uint8_t *data, size_t size)
{
	static const char *const syms[] = { "_PyRuntime", "PyCode_Type", "Py_Version", "main", "f" };
	const char *needed[16];
	uint64_t lo, hi, v, sz, off, in;
	uint8_t buf[64];
	int n;

	elf_file_is_exec(ef);
	elf_file_has_symtab(ef);
	if (strlen(elf_file_build_id(ef)) > 40)
		fz_fail("build id too long");
	elf_file_debug_path(ef);
	for (size_t i = 0; i < sizeof(syms) / sizeof(syms[0]); i++)
		elf_file_symbol(ef, syms[i], &v, &sz);
	elf_file_base_vaddr(ef);
	elf_file_load_range(ef, &lo, &hi);
	n = elf_file_needed(ef, needed, 16);
	for (int i = 0; i < n; i++)
		sink += strlen(needed[i]);
	sink += strlen(elf_file_runpath(ef));
	elf_file_has_usdt(ef, "python", "function__entry");
	elf_file_has_usdt(ef, "libc", "memory_malloc_retry");
	stubs(ef, ".plt");
	stubs(ef, ".plt.sec");
	stubs(ef, ".plt.got");
	/* addresses: the load range, and words of the input itself */
	for (int i = 0; i < 8 + (int)(size / 8 < 24 ? size / 8 : 24); i++) {
		uint64_t a;

		if (i < 8)
			a = lo + (hi - lo) / 8 * i;
		else
			memcpy(&a, data + (i - 8) * 8, 8);
		const char *name = elf_file_addr_symbol(ef, a, &in);

		if (name)
			sink += strlen(name);
		if (!elf_file_vaddr_to_offset(ef, a, &off))
			elf_file_offset_to_vaddr(ef, off, &v);
		elf_file_offset_to_vaddr(ef, a & 0xffffff, &v);
		elf_file_read(ef, a, buf, sizeof(buf));
		elf_file_plt_target(ef, a);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct elf_file *ef;
	char err[256];
	uint32_t n;

	if (!path[0]) {
		if (!mkdtemp(dir))
			fz_fail("mkdtemp failed");
		snprintf(path, sizeof(path), "%s/t.so", dir);
		snprintf(dbg, sizeof(dbg), "%s/d.debug", dir);
		atexit(cleanup);
	}
	if (size < 4)
		return 0;
	memcpy(&n, data, 4);
	data += 4;
	size -= 4;
	if (n > size)
		n = size;
	put(path, data, n);
	put(dbg, data + n, size - n);
	ef = elf_file_open(path, err, sizeof(err));
	if (!ef)
		return 0;
	lookups(ef, data, n);
	if (getenv("FUZZ_PRINT")) {
		uint64_t v = 0;

		fprintf(stderr, "build id %s, symtab %d, debug file %s, api_entry %s\n",
			elf_file_build_id(ef), elf_file_has_symtab(ef),
			elf_file_debug_path(ef) ? elf_file_debug_path(ef) : "none",
			elf_file_symbol(ef, "api_entry", &v, NULL) ? "absent" : "found");
	}
	elf_file_close(ef);
	return 0;
}
