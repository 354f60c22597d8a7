// SPDX-License-Identifier: GPL-2.0
/*
 * elffile.h against real files: this test binary (PIE, built with -g, so it
 * has .symtab), Debian's /usr/bin/python3.11 (LTO, stripped, non-PIE), its
 * debug build python3.11d and a pyenv libpython3.11.so; and code_calls()
 * from probes.h on those interpreters. Expected values come from the
 * running process (/proc/self/maps, the function's own address) and from
 * binutils (readelf -n, objdump -d), never from this file.
 */
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>
#include <sys/wait.h>
#include "elffile.h"
#include "probes.h"
#include "target.h"
#include "unit.h"

#define PY311		"/usr/bin/python3.11"
#define PY311D		"/usr/bin/python3.11d"
#define PYENV_LIB	"/root/.pyenv/versions/3.11.7/lib/libpython3.11.so.1.0"

/* Looked up by name in this binary's .symtab. */
int unit_elf_marker_function(int x);
UNIT_NO_ASAN int unit_elf_marker_variable = 0x5eed;

__attribute__((noinline, used)) int unit_elf_marker_function(int x)
{
	return x * 7 + unit_elf_marker_variable;
}

static bool exists(const char *path)
{
	return access(path, R_OK) == 0;
}

static struct elf_file *open_or_fail(const char *path)
{
	char err[512] = "";
	struct elf_file *ef = elf_file_open(path, err, sizeof(err));

	CHECKF(ef != NULL, "elf_file_open(%s): %s", path, err);
	return ef;
}

/* Build ID as `readelf -n` prints it, or "" if it prints none. */
static void readelf_build_id(const char *path, char *out, size_t len)
{
	char cmd[PATH_MAX + 64], line[512];
	FILE *p;

	out[0] = 0;
	snprintf(cmd, sizeof(cmd), "readelf -n '%s' 2>/dev/null", path);
	p = popen(cmd, "r");
	if (!p)
		return;
	while (fgets(line, sizeof(line), p)) {
		char *s = strstr(line, "Build ID: ");

		if (s) {
			snprintf(out, len, "%s", s + strlen("Build ID: "));
			out[strcspn(out, " \n")] = 0;
		}
	}
	pclose(p);
}

static bool is_hex40(const char *s)
{
	if (strlen(s) != 40)
		return false;
	for (int i = 0; i < 40; i++)
		if (!strchr("0123456789abcdef", s[i]))
			return false;
	return true;
}

static void check_build_id(const struct elf_file *ef, const char *path)
{
	char want[128];
	const char *got = elf_file_build_id(ef);

	readelf_build_id(path, want, sizeof(want));
	if (!want[0]) {
		unit_skip("readelf -n shows no build id for %s (is binutils installed?)", path);
		return;
	}
	CHECKF(is_hex40(got), "%s: build id \"%s\" is not 40 hex digits", path, got);
	CHECKF(!strcmp(got, want), "%s: build id \"%s\", readelf -n says \"%s\"", path, got, want);
}

/* e_type straight from the file header. */
static int file_e_type(const char *path)
{
	Elf64_Ehdr eh;
	int fd = open(path, O_RDONLY | O_CLOEXEC), ok;

	if (fd < 0)
		return -1;
	ok = read(fd, &eh, sizeof(eh)) == sizeof(eh);
	close(fd);
	return ok ? eh.e_type : -1;
}

/* Load bias of the object at path in this process, from /proc/self/maps. */
static int self_bias(const struct elf_file *ef, const char *path, uint64_t *bias)
{
	char line[PATH_MAX + 256];
	uint64_t low = UINT64_MAX;
	FILE *f = fopen("/proc/self/maps", "re");

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		struct map_entry e;

		if (maps_parse_line(line, &e) || strcmp(e.path, path))
			continue;
		if (e.start - e.offset < low)
			low = e.start - e.offset;
	}
	fclose(f);
	if (low == UINT64_MAX)
		return -1;
	*bias = low - elf_file_base_vaddr(ef);
	return 0;
}

TEST(elf_self_symbols)
{
	char exe[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	uint64_t value = 0, size = 0, bias = 0, vvalue = 0, vsize = 0, off;
	uintptr_t fn = (uintptr_t)&unit_elf_marker_function;
	uintptr_t var = (uintptr_t)&unit_elf_marker_variable;
	struct elf_file *ef;
	unsigned char file_bytes[32];
	int32_t file_var = 0;

	CHECK(unit_elf_marker_function(0) == unit_elf_marker_variable);
	CHECK(n > 0);
	if (n <= 0)
		return;
	exe[n] = 0;
	ef = open_or_fail("/proc/self/exe");
	if (!ef)
		return;
	CHECK(elf_file_has_symtab(ef));
	CHECK_EQ_INT(elf_file_is_exec(ef), file_e_type(exe) == ET_EXEC);
	CHECK_EQ_INT(self_bias(ef, exe, &bias), 0);
	if (!elf_file_is_exec(ef))
		CHECKF(bias != 0, "PIE test binary with load bias 0");
	else
		CHECK_EQ_U64(bias, 0);

	CHECK_EQ_INT(elf_file_symbol(ef, "unit_elf_marker_function", &value, &size), 0);
	CHECK_EQ_U64(value, fn - bias);
	CHECK(size > 0 && size < 4096);
	/* the bytes of the file at that address are the code we are running */
	CHECK_EQ_INT(elf_file_vaddr_to_offset(ef, value, &off), 0);
	CHECK_EQ_INT(elf_file_read(ef, value, file_bytes, sizeof(file_bytes)), 0);
	CHECK(!memcmp(file_bytes, (const void *)fn, sizeof(file_bytes)));

	CHECK_EQ_INT(elf_file_symbol(ef, "unit_elf_marker_variable", &vvalue, &vsize), 0);
	CHECK_EQ_U64(vvalue, var - bias);
	CHECK_EQ_U64(vsize, sizeof(unit_elf_marker_variable));
	CHECK_EQ_INT(elf_file_read(ef, vvalue, &file_var, sizeof(file_var)), 0);
	CHECK_EQ_INT(file_var, 0x5eed);

	/* NULL out-parameters are allowed */
	CHECK_EQ_INT(elf_file_symbol(ef, "unit_elf_marker_function", NULL, NULL), 0);
	CHECK_EQ_INT(elf_file_symbol(ef, "no_such_symbol_in_this_binary_xyz", &value, NULL),
		     -ENOENT);
	check_build_id(ef, exe);
	elf_file_close(ef);
}

TEST(elf_self_sections)
{
	uint64_t addr = 0, size = 0, value = 0, off = 0;
	struct elf_file *ef = open_or_fail("/proc/self/exe");

	if (!ef)
		return;
	CHECK_EQ_INT(elf_file_section(ef, ".text", &addr, &size), 0);
	CHECK_EQ_INT(elf_file_symbol(ef, "unit_elf_marker_function", &value, NULL), 0);
	CHECKF(value >= addr && value < addr + size,
	       "function at 0x%llx outside .text [0x%llx, +0x%llx)",
	       (unsigned long long)value, (unsigned long long)addr, (unsigned long long)size);
	CHECK_EQ_INT(elf_file_section(ef, ".no_such_section", &addr, &size), -ENOENT);
	/* addresses outside every PT_LOAD */
	CHECK(elf_file_vaddr_to_offset(ef, 0xffffffffff000000ULL, &off) != 0);
	CHECK(elf_file_read(ef, 0xffffffffff000000ULL, &off, sizeof(off)) != 0);
	elf_file_close(ef);
}

TEST(elf_open_errors)
{
	char err[512] = "", path[] = "/tmp/unit_not_elf_XXXXXX";
	struct elf_file *ef;
	int fd;

	ef = elf_file_open("/nonexistent/dir/file.so", err, sizeof(err));
	CHECK(ef == NULL);
	CHECKF(strstr(err, "/nonexistent/dir/file.so") != NULL, "err: \"%s\"", err);
	elf_file_close(NULL);

	fd = mkstemp(path);
	CHECK(fd >= 0);
	if (fd < 0)
		return;
	CHECK(write(fd, "#!/bin/sh\necho not an ELF file at all\n", 38) == 38);
	close(fd);
	err[0] = 0;
	ef = elf_file_open(path, err, sizeof(err));
	CHECK(ef == NULL);
	CHECKF(err[0] != 0, "no error message for a non-ELF file");
	elf_file_close(ef);
	unlink(path);
}

TEST(elf_python311_symbols)
{
	static const char *names[] = {
		"_PyRuntime", "Py_Version", "PyCode_Type", "PyObject_Malloc",
		"PyType_GenericAlloc", "Py_FinalizeEx",
	};
	struct elf_file *ef;
	uint64_t value, size, ver_addr = 0;
	uint32_t hexversion = 0;

	if (!exists(PY311)) {
		unit_skip("%s absent", PY311);
		return;
	}
	ef = open_or_fail(PY311);
	if (!ef)
		return;
	CHECK(elf_file_is_exec(ef));
	CHECK_EQ_INT(file_e_type(PY311), ET_EXEC);
	/* stripped: symbols only from a debug file (python3.11-dbg ships one) */
	CHECK(elf_file_has_symtab(ef) == (elf_file_debug_path(ef) != NULL));
	CHECK(elf_file_base_vaddr(ef) != 0);	/* non-PIE: linked at a fixed address */
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		uint64_t off;

		value = 0;
		CHECKF(!elf_file_symbol(ef, names[i], &value, &size), "%s: no %s", PY311, names[i]);
		CHECKF(value >= elf_file_base_vaddr(ef) && !elf_file_vaddr_to_offset(ef, value, &off),
		       "%s: %s at 0x%llx not in the file image", PY311, names[i],
		       (unsigned long long)value);
	}
	/* Py_Version is a const in the file: 3.11.x */
	CHECK_EQ_INT(elf_file_symbol(ef, "Py_Version", &ver_addr, NULL), 0);
	CHECK_EQ_INT(elf_file_read(ef, ver_addr, &hexversion, sizeof(hexversion)), 0);
	CHECKF((hexversion >> 16) == 0x030b, "Py_Version 0x%08x is not 3.11", hexversion);
	check_build_id(ef, PY311);
	elf_file_close(ef);
}

/*
 * Every "<name@plt>:" stub objdump shows in .plt/.plt.sec resolves to name;
 * returns how many were checked, and the address of want's stub in *addr.
 */
static int check_plt_against_objdump(const struct elf_file *ef, const char *path,
				     const char *want, uint64_t *addr)
{
	char cmd[PATH_MAX + 128], line[1024];
	int checked = 0, bad = 0;
	FILE *p;

	*addr = 0;
	snprintf(cmd, sizeof(cmd), "objdump -d -j .plt -j .plt.sec '%s' 2>/dev/null", path);
	p = popen(cmd, "r");
	CHECK(p != NULL);
	if (!p)
		return 0;
	while (fgets(line, sizeof(line), p)) {
		char name[512], *at;
		unsigned long long a;
		const char *got;

		/* 00000000000f83f0 <PyObject_Malloc@plt>: */
		if (sscanf(line, "%llx <%511[^>]>:", &a, name) != 2)
			continue;
		at = strstr(name, "@plt");
		if (!at || at[4])		/* "x@plt-0x10" is PLT0 */
			continue;
		*at = 0;
		got = elf_file_plt_target(ef, a);
		checked++;
		if ((!got || strcmp(got, name)) && bad++ < 5)	/* the first few */
			unit_fail(__FILE__, __LINE__, "%s: PLT stub at 0x%llx: \"%s\", objdump says \"%s\"",
				  path, a, got ? got : "(null)", name);
		if (!strcmp(name, want))
			*addr = a;
	}
	pclose(p);
	CHECKF(!bad, "%s: %d of %d PLT stubs wrong", path, bad, checked);
	return checked;
}

TEST(elf_plt_target_pyenv_libpython)
{
	struct elf_file *ef;
	uint64_t stub = 0, fn = 0, plt = 0, plt_size = 0;
	int n;

	if (!exists(PYENV_LIB)) {
		unit_skip("%s absent", PYENV_LIB);
		return;
	}
	ef = open_or_fail(PYENV_LIB);
	if (!ef)
		return;
	CHECK(!elf_file_is_exec(ef));
	n = check_plt_against_objdump(ef, PYENV_LIB, "PyObject_Malloc", &stub);
	if (!n) {
		unit_skip("objdump shows no PLT stubs in %s (is binutils installed?)", PYENV_LIB);
		elf_file_close(ef);
		return;
	}
	CHECKF(stub != 0, "objdump shows no <PyObject_Malloc@plt> in %s", PYENV_LIB);
	CHECK_STR(elf_file_plt_target(ef, stub), "PyObject_Malloc");
	/* not stubs: the function itself, PLT0, the middle of a stub */
	CHECK_EQ_INT(elf_file_symbol(ef, "PyObject_Malloc", &fn, NULL), 0);
	CHECK(elf_file_plt_target(ef, fn) == NULL);
	CHECK_EQ_INT(elf_file_section(ef, ".plt", &plt, &plt_size), 0);
	CHECK(elf_file_plt_target(ef, plt) == NULL);
	CHECK(elf_file_plt_target(ef, stub + 6) == NULL);
	CHECK(elf_file_plt_target(ef, 0xffffffffff000000ULL) == NULL);
	check_build_id(ef, PYENV_LIB);
	elf_file_close(ef);
}

TEST(elf_plt_target_system_pythons)
{
	static const char *paths[] = { PY311, PY311D };

	for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
		struct elf_file *ef;
		uint64_t stub;

		if (!exists(paths[i])) {
			unit_skip("%s absent", paths[i]);
			continue;
		}
		ef = open_or_fail(paths[i]);
		if (!ef)
			continue;
		if (!check_plt_against_objdump(ef, paths[i], "malloc", &stub))
			unit_skip("objdump shows no PLT stubs in %s", paths[i]);
		else
			CHECKF(stub != 0, "%s: no <malloc@plt>", paths[i]);
		elf_file_close(ef);
	}
}

/*
 * Calls through .plt.got (GLOB_DAT in .rela.dyn, used when a function's
 * address is also taken) resolve too. In the pyenv libpython PyMem_Malloc,
 * PyObject_Free, PyMem_Free, ... are called that way.
 */
TEST(elf_plt_got_stub)
{
	char line[512];
	FILE *p;
	struct elf_file *ef;
	int found = 0;

	if (!exists(PYENV_LIB))
		return unit_skip("%s absent", PYENV_LIB);
	ef = open_or_fail(PYENV_LIB);
	p = popen("objdump -d -j .plt.got '" PYENV_LIB "' 2>/dev/null", "r");
	while (ef && p && fgets(line, sizeof(line), p)) {
		unsigned long long a;

		if (sscanf(line, "%llx <PyMem_Malloc@plt>:", &a) == 1 && strstr(line, "<PyMem_Malloc@plt>")) {
			found = 1;
			CHECK_STR(elf_file_plt_target(ef, a), "PyMem_Malloc");
		}
	}
	CHECK(found);
	if (p)
		pclose(p);
	elf_file_close(ef);
}

/* What probes_plan() asks: does PyType_GenericAlloc reach PyObject_Malloc? */
static int generic_alloc_calls_malloc(const char *path)
{
	uint64_t ga = 0, ga_size = 0, pm = 0;
	struct elf_file *ef = open_or_fail(path);
	int r;

	if (!ef)
		return -1;
	CHECKF(!elf_file_symbol(ef, "PyType_GenericAlloc", &ga, &ga_size),
	       "%s: no PyType_GenericAlloc", path);
	CHECKF(!elf_file_symbol(ef, "PyObject_Malloc", &pm, NULL), "%s: no PyObject_Malloc", path);
	CHECKF(ga_size > 0, "%s: PyType_GenericAlloc has size 0", path);
	r = code_calls(ef, ga, ga_size ? ga_size : 512, "PyObject_Malloc", pm, 2);
	elf_file_close(ef);
	return r;
}

TEST(code_calls_pyenv_libpython)
{
	if (!exists(PYENV_LIB)) {
		unit_skip("%s absent", PYENV_LIB);
		return;
	}
	CHECK_EQ_INT(generic_alloc_calls_malloc(PYENV_LIB), 1);
}

TEST(code_calls_python311_lto)
{
	if (!exists(PY311)) {
		unit_skip("%s absent", PY311);
		return;
	}
	CHECK_EQ_INT(generic_alloc_calls_malloc(PY311), 0);
}

TEST(code_calls_python311d)
{
	if (!exists(PY311D)) {
		unit_skip("%s absent", PY311D);
		return;
	}
	CHECK_EQ_INT(generic_alloc_calls_malloc(PY311D), 1);
}

/* code_calls() on this binary: a direct call, depth 0 and through a caller. */
__attribute__((noinline, used)) int unit_elf_caller1(int x);
__attribute__((noinline, used)) int unit_elf_caller2(int x);

__attribute__((noinline, used)) int unit_elf_caller1(int x)
{
	__asm__ volatile("" ::: "memory");
	return unit_elf_marker_function(x) + 1;
}

__attribute__((noinline, used)) int unit_elf_caller2(int x)
{
	__asm__ volatile("" ::: "memory");
	return unit_elf_caller1(x) * 2;
}

TEST(code_calls_self)
{
	struct elf_file *ef = open_or_fail("/proc/self/exe");
	uint64_t m = 0, ms = 0, c1 = 0, c1s = 0, c2 = 0, c2s = 0;

	if (!ef)
		return;
	CHECK(unit_elf_caller2(1) == (unit_elf_marker_function(1) + 1) * 2);
	CHECK_EQ_INT(elf_file_symbol(ef, "unit_elf_marker_function", &m, &ms), 0);
	CHECK_EQ_INT(elf_file_symbol(ef, "unit_elf_caller1", &c1, &c1s), 0);
	CHECK_EQ_INT(elf_file_symbol(ef, "unit_elf_caller2", &c2, &c2s), 0);
	CHECK(code_calls(ef, c1, c1s, "unit_elf_marker_function", m, 0));
	CHECK(code_calls(ef, c2, c2s, "unit_elf_marker_function", m, 1));
	CHECK(!code_calls(ef, c2, c2s, "unit_elf_marker_function", m, 0));
	/* the callee itself calls nothing */
	CHECK(!code_calls(ef, m, ms, "unit_elf_caller1", c1, 2));
	CHECK(!code_calls(ef, c1, 4, "unit_elf_marker_function", m, 2));	/* < one call */
	elf_file_close(ef);
}

/*
 * A stripped object whose symbols are in a separate debug file, found by
 * .gnu_debuglink next to it or in its .debug directory; and the address to
 * symbol lookup that native leaf frames use.
 */
static int sh(const char *cmd)
{
	int st = system(cmd);

	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

TEST(elf_debuglink_and_addr_symbol)
{
	char dir[] = "/tmp/pyleak-dbg-XXXXXX", cmd[1024], err[256], so[300], dbg[300];
	struct elf_file *ef;
	uint64_t v1, v2, off, vaddr;
	const char *name;

	if (!mkdtemp(dir)) {
		unit_fail(__FILE__, __LINE__, "mkdtemp: %s", strerror(errno));
		return;
	}
	snprintf(so, sizeof(so), "%s/libt.so", dir);
	snprintf(cmd, sizeof(cmd),
		 "cd %s && printf 'static int __attribute__((noinline)) hidden_fn(int x)"
		 "{return x*3+1;}\nint exported_fn(int x){return hidden_fn(x)+2;}\n' > t.c && "
		 "cc -O1 -g -shared -fPIC -o libt.so t.c && "
		 "objcopy --only-keep-debug libt.so libt.so.debug && strip libt.so && "
		 "objcopy --add-gnu-debuglink=libt.so.debug libt.so", dir);
	CHECKF(sh(cmd) == 0, "building %s failed", so);
	/* next to the file */
	ef = elf_file_open(so, err, sizeof(err));
	CHECKF(ef != NULL, "%s", err);
	if (!ef)
		return;
	CHECK(elf_file_debug_path(ef) != NULL);
	CHECK(elf_file_has_symtab(ef));
	CHECK(!elf_file_symbol(ef, "hidden_fn", &v1, NULL));
	CHECK(!elf_file_symbol(ef, "exported_fn", &v2, NULL));
	name = elf_file_addr_symbol(ef, v1 + 1, &off);
	CHECK_STR(name ? name : "(null)", "hidden_fn");
	CHECK_EQ_INT(off, 1);
	name = elf_file_addr_symbol(ef, v2, &off);
	CHECK_STR(name ? name : "(null)", "exported_fn");
	CHECK_EQ_INT(off, 0);
	CHECK(elf_file_addr_symbol(ef, 0x10, NULL) == NULL);
	CHECK(!elf_file_vaddr_to_offset(ef, v2, &off) && !elf_file_offset_to_vaddr(ef, off, &vaddr));
	CHECK_EQ_INT(vaddr, v2);
	elf_file_close(ef);
	/* in .debug/ beside it */
	snprintf(dbg, sizeof(dbg), "mkdir %s/.debug && mv %s/libt.so.debug %s/.debug/", dir, dir, dir);
	CHECK(sh(dbg) == 0);
	ef = elf_file_open(so, err, sizeof(err));
	CHECK(ef && elf_file_debug_path(ef) && strstr(elf_file_debug_path(ef), "/.debug/"));
	CHECK(ef && !elf_file_symbol(ef, "hidden_fn", &v1, NULL));
	elf_file_close(ef);
	/* gone: exported symbols only */
	snprintf(dbg, sizeof(dbg), "rm -rf %s/.debug", dir);
	CHECK(sh(dbg) == 0);
	ef = elf_file_open(so, err, sizeof(err));
	CHECK(ef && !elf_file_debug_path(ef) && !elf_file_has_symtab(ef));
	CHECK(ef && elf_file_symbol(ef, "hidden_fn", &v1, NULL) == -ENOENT);
	CHECK(ef && !elf_file_symbol(ef, "exported_fn", &v1, NULL));
	elf_file_close(ef);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	sh(cmd);
}

/* Debian's python3.11-dbg ships the debug file of the stripped python3.11. */
TEST(elf_python311_debug_file_by_build_id)
{
	char err[256], want[128];
	struct elf_file *ef;
	uint64_t v;

	ef = elf_file_open(PY311, err, sizeof(err));
	if (!ef)
		return unit_skip("%s absent", PY311);
	snprintf(want, sizeof(want), "/usr/lib/debug/.build-id/%.2s/%s.debug",
		 elf_file_build_id(ef), elf_file_build_id(ef) + 2);
	if (!exists(want)) {
		unit_skip("no %s (python3.11-dbg not installed)", want);
		elf_file_close(ef);
		return;
	}
	CHECK_STR(elf_file_debug_path(ef) ? elf_file_debug_path(ef) : "(null)", want);
	CHECK(!elf_file_symbol(ef, "_PyObject_Malloc.lto_priv.0", &v, NULL));
	CHECK(!elf_file_symbol(ef, "PyObject_Malloc", &v, NULL));
	elf_file_close(ef);
}
