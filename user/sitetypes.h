/* SPDX-License-Identifier: GPL-2.0 */
/* The object types of a snapshot's outstanding blocks. */
#ifndef SITETYPES_H
#define SITETYPES_H

#include <stdint.h>

struct session;
struct snapshot;
struct blocks;

/* Types of the blocks bl, per site and for the process (snap->types). */
void sitetypes_read(struct session *s, struct snapshot *snap, struct blocks *bl);
/* The name of objtypes index t, or "?" when no type was read. */
const char *type_name(const struct session *s, uint32_t t);

#endif
