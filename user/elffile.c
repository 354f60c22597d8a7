// SPDX-License-Identifier: GPL-2.0
/* ELF files of the target: symbols, segments, PLT stubs (libelf). */
#include <errno.h>
#include <fcntl.h>
#include <gelf.h>
#include <libelf.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "elffile.h"

struct sym {
	const char *name;
	uint64_t value;
	uint64_t size;
	bool func;
};

struct plt_slot {
	uint64_t got;		/* r_offset of the relocation */
	const char *name;
};

struct elf_file {
	int fd;
	Elf *elf;
	GElf_Ehdr ehdr;
	bool has_symtab;
	struct sym *syms;	/* .dynsym entries first, then .symtab */
	size_t nsyms;
	struct plt_slot *plt;
	size_t nplt;
	char build_id[41];
	struct elf_file *debug;	/* separate debug file holding .symtab */
	char debug_path[512];
	struct sym **by_addr;	/* functions sorted by address, built on demand */
	size_t nby_addr;
};

static struct elf_file *elf_file_open_flags(const char *path, bool want_debug,
					    char *err, size_t errlen);
static struct elf_file *elf_file_open_nodebug(const char *path, char *err, size_t errlen);

static int add_symbols(struct elf_file *ef, Elf *elf, Elf_Scn *scn, GElf_Shdr *sh)
{
	Elf_Data *data = elf_getdata(scn, NULL);
	size_t n, i;
	struct sym *s;

	/* n from the bytes read, not the header; none: realloc(p, 0) would free p */
	if (!data || !sh->sh_entsize || !(n = data->d_size / sh->sh_entsize))
		return 0;
	s = realloc(ef->syms, (ef->nsyms + n) * sizeof(*s));
	if (!s)
		return -ENOMEM;
	ef->syms = s;
	for (i = 0; i < n; i++) {
		GElf_Sym sym;
		const char *name;

		if (!gelf_getsym(data, i, &sym) || sym.st_shndx == SHN_UNDEF)
			continue;
		name = elf_strptr(elf, sh->sh_link, sym.st_name);
		if (!name || !*name)
			continue;
		s[ef->nsyms].name = name;
		s[ef->nsyms].value = sym.st_value;
		s[ef->nsyms].size = sym.st_size;
		s[ef->nsyms].func = GELF_ST_TYPE(sym.st_info) == STT_FUNC ||
				    GELF_ST_TYPE(sym.st_info) == STT_GNU_IFUNC;
		ef->nsyms++;
	}
	return 0;
}

static void add_plt(struct elf_file *ef, Elf_Scn *scn, GElf_Shdr *sh)
{
	Elf_Data *data = elf_getdata(scn, NULL);
	Elf_Scn *dynsym = elf_getscn(ef->elf, sh->sh_link);
	struct plt_slot *slots;
	GElf_Shdr dsh;
	Elf_Data *ddata;
	size_t n, i;

	if (!data || !dynsym || !gelf_getshdr(dynsym, &dsh) || !sh->sh_entsize)
		return;
	ddata = elf_getdata(dynsym, NULL);
	if (!ddata || !(n = data->d_size / sh->sh_entsize))
		return;
	slots = realloc(ef->plt, (ef->nplt + n) * sizeof(*ef->plt));
	if (!slots)
		return;
	ef->plt = slots;
	for (i = 0; i < n; i++) {
		GElf_Rela r;
		GElf_Sym sym;

		if (!gelf_getrela(data, i, &r) || !GELF_R_SYM(r.r_info) ||
		    !gelf_getsym(ddata, GELF_R_SYM(r.r_info), &sym))
			continue;
		ef->plt[ef->nplt].got = r.r_offset;
		ef->plt[ef->nplt].name = elf_strptr(ef->elf, dsh.sh_link, sym.st_name);
		ef->nplt++;
	}
}

static void read_build_id(struct elf_file *ef, Elf_Scn *scn)
{
	Elf_Data *data = elf_getdata(scn, NULL);
	size_t off = 0, name_off, desc_off;
	GElf_Nhdr nh;

	while (data && (off = gelf_getnote(data, off, &nh, &name_off, &desc_off)) > 0) {
		if (nh.n_type == NT_GNU_BUILD_ID && nh.n_descsz <= 20) {
			const unsigned char *d = (const unsigned char *)data->d_buf + desc_off;
			for (size_t i = 0; i < nh.n_descsz; i++)
				sprintf(ef->build_id + 2 * i, "%02x", d[i]);
			return;
		}
	}
}

/* Does the debug file at path belong to ef (same build-id), and has symbols? */
static bool take_debug_file(struct elf_file *ef, const char *path)
{
	char err[256];
	struct elf_file *d;
	Elf_Scn *scn = NULL;

	if (access(path, R_OK))
		return false;
	d = elf_file_open_nodebug(path, err, sizeof(err));
	if (!d)
		return false;
	if (!d->has_symtab || (ef->build_id[0] && strcmp(d->build_id, ef->build_id))) {
		elf_file_close(d);
		return false;
	}
	/* the debug file's .symtab, names kept alive by keeping it open */
	while ((scn = elf_nextscn(d->elf, scn))) {
		GElf_Shdr sh;

		if (gelf_getshdr(scn, &sh) && sh.sh_type == SHT_SYMTAB)
			add_symbols(ef, d->elf, scn, &sh);
	}
	ef->debug = d;
	ef->has_symtab = true;
	snprintf(ef->debug_path, sizeof(ef->debug_path), "%s", path);
	return true;
}

/*
 * A stripped file's symbols may live in a separate debug file (Debian's
 * -dbg and -dbgsym packages): by build-id under /usr/lib/debug/.build-id,
 * or by the name in .gnu_debuglink next to the file, in its .debug
 * directory, or under /usr/lib/debug.
 */
static void load_debug_file(struct elf_file *ef, const char *path)
{
	char p[1024], dir[512];
	uint64_t addr, size;
	Elf_Scn *scn = NULL;
	size_t shstrndx;
	const char *link = NULL, *slash;

	if (ef->build_id[0]) {
		snprintf(p, sizeof(p), "/usr/lib/debug/.build-id/%.2s/%s.debug",
			 ef->build_id, ef->build_id + 2);
		if (take_debug_file(ef, p))
			return;
	}
	if (elf_file_section(ef, ".gnu_debuglink", &addr, &size) ||
	    elf_getshdrstrndx(ef->elf, &shstrndx))
		return;
	while ((scn = elf_nextscn(ef->elf, scn))) {
		GElf_Shdr sh;
		const char *n;
		Elf_Data *data;

		if (!gelf_getshdr(scn, &sh))
			continue;
		n = elf_strptr(ef->elf, shstrndx, sh.sh_name);
		if (!n || strcmp(n, ".gnu_debuglink"))
			continue;
		data = elf_getdata(scn, NULL);
		if (data && data->d_size > 1 && memchr(data->d_buf, 0, data->d_size))
			link = data->d_buf;
	}
	if (!link || strchr(link, '/'))
		return;
	slash = strrchr(path, '/');
	snprintf(dir, sizeof(dir), "%.*s", slash ? (int)(slash - path) : 1,
		 slash ? path : ".");
	snprintf(p, sizeof(p), "%s/%s", dir, link);
	if (strcmp(p, path) && take_debug_file(ef, p))
		return;
	snprintf(p, sizeof(p), "%s/.debug/%s", dir, link);
	if (take_debug_file(ef, p))
		return;
	snprintf(p, sizeof(p), "/usr/lib/debug%s/%s", dir, link);
	take_debug_file(ef, p);
}

struct elf_file *elf_file_open(const char *path, char *err, size_t errlen)
{
	return elf_file_open_flags(path, true, err, errlen);
}

static struct elf_file *elf_file_open_nodebug(const char *path, char *err, size_t errlen)
{
	return elf_file_open_flags(path, false, err, errlen);
}

static struct elf_file *elf_file_open_flags(const char *path, bool want_debug,
					    char *err, size_t errlen)
{
	struct elf_file *ef;
	Elf_Scn *scn = NULL;
	size_t shstrndx;

	elf_version(EV_CURRENT);
	ef = calloc(1, sizeof(*ef));
	if (!ef)
		return NULL;
	ef->fd = open(path, O_RDONLY | O_CLOEXEC);
	if (ef->fd < 0) {
		snprintf(err, errlen, "cannot open %s: %s", path, strerror(errno));
		goto fail;
	}
	ef->elf = elf_begin(ef->fd, ELF_C_READ_MMAP, NULL);
	if (!ef->elf || elf_kind(ef->elf) != ELF_K_ELF || !gelf_getehdr(ef->elf, &ef->ehdr) ||
	    elf_getshdrstrndx(ef->elf, &shstrndx)) {
		snprintf(err, errlen, "%s is not an ELF file", path);
		goto fail;
	}
	while ((scn = elf_nextscn(ef->elf, scn))) {
		GElf_Shdr sh;
		const char *name;

		if (!gelf_getshdr(scn, &sh))
			continue;
		name = elf_strptr(ef->elf, shstrndx, sh.sh_name);
		if (sh.sh_type == SHT_DYNSYM)
			add_symbols(ef, ef->elf, scn, &sh);
		else if (sh.sh_type == SHT_NOTE)
			read_build_id(ef, scn);
		else if (sh.sh_type == SHT_RELA && name &&
			 (!strcmp(name, ".rela.plt") || !strcmp(name, ".rela.dyn")))
			add_plt(ef, scn, &sh);	/* .plt and .plt.got stubs */
	}
	/* .symtab after .dynsym so exported names win on lookup */
	while ((scn = elf_nextscn(ef->elf, scn))) {
		GElf_Shdr sh;

		if (gelf_getshdr(scn, &sh) && sh.sh_type == SHT_SYMTAB) {
			ef->has_symtab = true;
			add_symbols(ef, ef->elf, scn, &sh);
		}
	}
	if (!ef->has_symtab && want_debug)
		load_debug_file(ef, path);
	return ef;
fail:
	elf_file_close(ef);
	return NULL;
}

void elf_file_close(struct elf_file *ef)
{
	if (!ef)
		return;
	if (ef->elf)
		elf_end(ef->elf);
	if (ef->fd >= 0)
		close(ef->fd);
	free(ef->syms);
	free(ef->plt);
	free(ef->by_addr);
	elf_file_close(ef->debug);
	free(ef);
}

const char *elf_file_debug_path(const struct elf_file *ef)
{
	return ef->debug ? ef->debug_path : NULL;
}

static int cmp_sym_addr(const void *a, const void *b)
{
	const struct sym *x = *(struct sym *const *)a, *y = *(struct sym *const *)b;

	if (x->value != y->value)
		return x->value < y->value ? -1 : 1;
	/* prefer the sized symbol, then the shorter (exported) name */
	if (x->size != y->size)
		return x->size > y->size ? -1 : 1;
	return (int)strlen(x->name) - (int)strlen(y->name);
}

const char *elf_file_addr_symbol(struct elf_file *ef, uint64_t vaddr, uint64_t *offset)
{
	size_t lo = 0, hi;
	const struct sym *s;

	if (!ef->by_addr) {
		ef->by_addr = malloc((ef->nsyms + 1) * sizeof(*ef->by_addr));
		if (!ef->by_addr)
			return NULL;
		for (size_t i = 0; i < ef->nsyms; i++)
			if (ef->syms[i].func && ef->syms[i].value)
				ef->by_addr[ef->nby_addr++] = &ef->syms[i];
		qsort(ef->by_addr, ef->nby_addr, sizeof(*ef->by_addr), cmp_sym_addr);
	}
	/* the last function starting at or below vaddr */
	hi = ef->nby_addr;
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;

		if (ef->by_addr[mid]->value <= vaddr)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (!lo)
		return NULL;
	s = ef->by_addr[lo - 1];
	while (lo > 1 && ef->by_addr[lo - 2]->value == s->value)
		s = ef->by_addr[--lo - 1];	/* first of equal addresses: sorted best */
	if (s->size && vaddr >= s->value + s->size)
		return NULL;
	if (offset)
		*offset = vaddr - s->value;
	return s->name;
}

bool elf_file_is_exec(const struct elf_file *ef)
{
	return ef->ehdr.e_type == ET_EXEC;
}

bool elf_file_has_symtab(const struct elf_file *ef)
{
	return ef->has_symtab;
}

const char *elf_file_build_id(const struct elf_file *ef)
{
	return ef->build_id;
}

int elf_file_symbol(const struct elf_file *ef, const char *name,
		    uint64_t *value, uint64_t *size)
{
	for (size_t i = 0; i < ef->nsyms; i++) {
		if (strcmp(ef->syms[i].name, name))
			continue;
		if (value)
			*value = ef->syms[i].value;
		if (size)
			*size = ef->syms[i].size;
		return 0;
	}
	return -ENOENT;
}

uint64_t elf_file_base_vaddr(const struct elf_file *ef)
{
	uint64_t base = UINT64_MAX;
	size_t n;

	if (elf_getphdrnum(ef->elf, &n))
		return 0;
	for (size_t i = 0; i < n; i++) {
		GElf_Phdr ph;

		if (gelf_getphdr(ef->elf, i, &ph) && ph.p_type == PT_LOAD) {
			uint64_t v = ph.p_vaddr & ~(ph.p_align ? ph.p_align - 1 : 0);
			if (v < base)
				base = v;
		}
	}
	return base == UINT64_MAX ? 0 : base;
}

void elf_file_load_range(const struct elf_file *ef, uint64_t *lo, uint64_t *hi)
{
	size_t n;

	*lo = UINT64_MAX;
	*hi = 0;
	if (elf_getphdrnum(ef->elf, &n))
		n = 0;
	for (size_t i = 0; i < n; i++) {
		GElf_Phdr ph;

		if (!gelf_getphdr(ef->elf, i, &ph) || ph.p_type != PT_LOAD)
			continue;
		if (ph.p_vaddr < *lo)
			*lo = ph.p_vaddr;
		if (ph.p_vaddr + ph.p_memsz > *hi)
			*hi = ph.p_vaddr + ph.p_memsz;
	}
	if (*lo > *hi)
		*lo = *hi = 0;
}

/*
 * Translate through the PT_LOAD segment holding x: by virtual address
 * (to_offset) or by file offset (the other way).
 */
static int segment_translate(const struct elf_file *ef, uint64_t x, bool to_offset,
			     uint64_t *out)
{
	size_t n;

	if (elf_getphdrnum(ef->elf, &n))
		return -EINVAL;
	for (size_t i = 0; i < n; i++) {
		GElf_Phdr ph;
		uint64_t from, to;

		if (!gelf_getphdr(ef->elf, i, &ph) || ph.p_type != PT_LOAD)
			continue;
		from = to_offset ? ph.p_vaddr : ph.p_offset;
		to = to_offset ? ph.p_offset : ph.p_vaddr;
		if (x >= from && x < from + ph.p_filesz) {
			*out = x - from + to;
			return 0;
		}
	}
	return -ENOENT;
}

int elf_file_vaddr_to_offset(const struct elf_file *ef, uint64_t vaddr,
			     uint64_t *off)
{
	return segment_translate(ef, vaddr, true, off);
}

int elf_file_offset_to_vaddr(const struct elf_file *ef, uint64_t off, uint64_t *vaddr)
{
	return segment_translate(ef, off, false, vaddr);
}

int elf_file_read(const struct elf_file *ef, uint64_t vaddr, void *buf,
		  size_t len)
{
	uint64_t off;
	ssize_t n;

	if (elf_file_vaddr_to_offset(ef, vaddr, &off))
		return -ENOENT;
	n = pread(ef->fd, buf, len, off);
	return n == (ssize_t)len ? 0 : -EIO;
}

const char *elf_file_plt_target(const struct elf_file *ef, uint64_t vaddr)
{
	unsigned char b[16];
	const unsigned char *p = b;
	uint64_t got;
	int32_t disp;

	if (elf_file_read(ef, vaddr, b, sizeof(b)))
		return NULL;
	if (p[0] == 0xf3 && p[1] == 0x0f && p[2] == 0x1e && p[3] == 0xfa)
		p += 4;				/* endbr64 */
	if (p[0] == 0xf2)
		p++;				/* bnd prefix */
	if (p[0] != 0xff || p[1] != 0x25)	/* jmp *disp32(%rip) */
		return NULL;
	memcpy(&disp, p + 2, 4);
	got = vaddr + (p - b) + 6 + disp;
	for (size_t i = 0; i < ef->nplt; i++)
		if (ef->plt[i].got == got)
			return ef->plt[i].name;
	return NULL;
}

int elf_file_section(const struct elf_file *ef, const char *name,
		     uint64_t *addr, uint64_t *size)
{
	Elf_Scn *scn = NULL;
	size_t shstrndx;

	if (elf_getshdrstrndx(ef->elf, &shstrndx))
		return -EINVAL;
	while ((scn = elf_nextscn(ef->elf, scn))) {
		GElf_Shdr sh;
		const char *n;

		if (!gelf_getshdr(scn, &sh))
			continue;
		n = elf_strptr(ef->elf, shstrndx, sh.sh_name);
		if (n && !strcmp(n, name)) {
			*addr = sh.sh_addr;
			*size = sh.sh_size;
			return 0;
		}
	}
	return -ENOENT;
}

bool elf_file_has_usdt(const struct elf_file *ef, const char *provider,
		       const char *name)
{
	Elf_Scn *scn = NULL;

	while ((scn = elf_nextscn(ef->elf, scn))) {
		Elf_Data *data;
		GElf_Shdr sh;
		GElf_Nhdr nh;
		size_t off = 0, name_off, desc_off;

		if (!gelf_getshdr(scn, &sh) || sh.sh_type != SHT_NOTE)
			continue;
		data = elf_getdata(scn, NULL);
		while (data && (off = gelf_getnote(data, off, &nh, &name_off, &desc_off)) > 0) {
			const char *d = (const char *)data->d_buf + desc_off;
			size_t plen;

			/* NT_STAPSDT: pc, base, semaphore, "provider\0name\0args\0" */
			if (nh.n_type != 3 || nh.n_namesz != 8 ||
			    memcmp((const char *)data->d_buf + name_off, "stapsdt", 8) ||
			    nh.n_descsz < 3 * 8 + 2)
				continue;
			d += 3 * 8;
			plen = strnlen(d, nh.n_descsz - 3 * 8);
			if (!strcmp(d, provider) && plen + 1 < nh.n_descsz - 3 * 8 &&
			    !strncmp(d + plen + 1, name, nh.n_descsz - 3 * 8 - plen - 1))
				return true;
		}
	}
	return false;
}

static int dynamic_strings(const struct elf_file *ef, int64_t tag, const char **out, int max)
{
	Elf_Scn *scn = NULL;
	int n = 0;

	while ((scn = elf_nextscn(ef->elf, scn))) {
		GElf_Shdr sh;
		Elf_Data *data;

		if (!gelf_getshdr(scn, &sh) || sh.sh_type != SHT_DYNAMIC || !sh.sh_entsize)
			continue;
		data = elf_getdata(scn, NULL);
		for (size_t i = 0; data && i < sh.sh_size / sh.sh_entsize && n < max; i++) {
			GElf_Dyn d;
			const char *str;

			if (!gelf_getdyn(data, i, &d) || d.d_tag != tag)
				continue;
			str = elf_strptr(ef->elf, sh.sh_link, d.d_un.d_val);
			if (str)
				out[n++] = str;
		}
	}
	return n;
}

int elf_file_needed(const struct elf_file *ef, const char **names, int max)
{
	return dynamic_strings(ef, DT_NEEDED, names, max);
}

const char *elf_file_runpath(const struct elf_file *ef)
{
	const char *s;

	if (dynamic_strings(ef, DT_RUNPATH, &s, 1) || dynamic_strings(ef, DT_RPATH, &s, 1))
		return s;
	return "";
}
