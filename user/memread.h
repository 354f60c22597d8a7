/* SPDX-License-Identifier: GPL-2.0 */
#ifndef MEMREAD_H
#define MEMREAD_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* Read len bytes at addr of process pid; 0 on success, -errno on failure. */
int mem_read(pid_t pid, uint64_t addr, void *buf, size_t len);
int mem_read_u64(pid_t pid, uint64_t addr, uint64_t *v);

#endif
