/* SPDX-License-Identifier: GPL-2.0 */
#ifndef ELF_H_PYLEAK
#define ELF_H_PYLEAK

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct elf_file;

struct elf_file *elf_file_open(const char *path, char *err, size_t errlen);
void elf_file_close(struct elf_file *ef);

bool elf_file_is_exec(const struct elf_file *ef);	/* ET_EXEC, not PIE */
bool elf_file_has_symtab(const struct elf_file *ef);	/* own or from a debug file */
const char *elf_file_build_id(const struct elf_file *ef); /* hex or "" */

/* Symbol value and size, from .dynsym then .symtab; 0 if found. */
int elf_file_symbol(const struct elf_file *ef, const char *name,
		    uint64_t *value, uint64_t *size);
/* Lowest PT_LOAD p_vaddr rounded down to its alignment. */
uint64_t elf_file_base_vaddr(const struct elf_file *ef);
/* [lo, hi): the virtual addresses its PT_LOAD segments span. */
void elf_file_load_range(const struct elf_file *ef, uint64_t *lo, uint64_t *hi);
/* File offset of a virtual address inside a PT_LOAD segment; 0 if found. */
int elf_file_vaddr_to_offset(const struct elf_file *ef, uint64_t vaddr,
			     uint64_t *off);
/* Virtual address of a file offset inside a PT_LOAD segment; 0 if found. */
int elf_file_offset_to_vaddr(const struct elf_file *ef, uint64_t off, uint64_t *vaddr);
/* Bytes of the file image at a virtual address; 0 if all were read. */
int elf_file_read(const struct elf_file *ef, uint64_t vaddr, void *buf,
		  size_t len);
/*
 * Name of the function a PLT stub at vaddr jumps to (through .rela.plt),
 * or NULL if vaddr is not a PLT stub.
 */
const char *elf_file_plt_target(const struct elf_file *ef, uint64_t vaddr);
/*
 * Dynamic section: DT_NEEDED names (up to max, returns the count) and the
 * DT_RUNPATH or DT_RPATH string ("" if none).
 */
int elf_file_needed(const struct elf_file *ef, const char **names, int max);
const char *elf_file_runpath(const struct elf_file *ef);
/* Does the file carry the USDT probe provider:name (.note.stapsdt)? */
bool elf_file_has_usdt(const struct elf_file *ef, const char *provider,
		       const char *name);
/*
 * Name of the function containing vaddr (and vaddr's offset in it), from
 * .dynsym, .symtab or the separate debug file; NULL if none.
 */
const char *elf_file_addr_symbol(struct elf_file *ef, uint64_t vaddr, uint64_t *offset);
/* Path of the separate debug file whose symbols were loaded, or NULL. */
const char *elf_file_debug_path(const struct elf_file *ef);
/* Address of a section by name; 0 if found. */
int elf_file_section(const struct elf_file *ef, const char *name,
		     uint64_t *addr, uint64_t *size);

#endif
