/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Native code addresses of the target -> "lib.so!symbol", from the file
 * mapped there (its .dynsym, .symtab or separate debug file).
 */
#ifndef NATIVE_H
#define NATIVE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct native_map;

struct native_syms {
	pid_t pid;
	struct native_map *maps;	/* executable mappings, from /proc/PID/maps */
	size_t nmaps;
	uint64_t unknown;		/* addresses left unsymbolized */
};

void native_init(struct native_syms *ns, pid_t pid);
void native_free(struct native_syms *ns);
/*
 * "libffi.so.8!ffi_call_unix64", or "libfoo.so+0x1234" without a symbol,
 * or "[native 0x7f...]" outside any mapped file. Returns buf.
 */
char *native_symbolize(struct native_syms *ns, uint64_t ip, char *buf, size_t len);

#endif
