// SPDX-License-Identifier: GPL-2.0
/*
 * Fuzzes maps_parse_line() (user/target.c), the parser of /proc/PID/maps
 * lines every reader of the target's mappings uses; the path part is
 * whatever the target named its files and anonymous mappings. The input is
 * one line (NUL-terminated copy; the real reader's buffer is PATH_MAX + 128
 * bytes, so longer inputs are cut there). The parsed path must be a
 * terminated string within its field.
 */
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include "fakemem.h"
#include "target.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t n = size < PATH_MAX + 127 ? size : PATH_MAX + 127;
	struct map_entry e;
	char *line = malloc(n + 1);

	if (!line)
		return 0;
	memcpy(line, data, n);
	line[n] = 0;
	if (!maps_parse_line(line, &e)) {
		if (strnlen(e.path, sizeof(e.path)) == sizeof(e.path))
			fz_fail("path not terminated");
		if (strnlen(e.perms, sizeof(e.perms)) == sizeof(e.perms))
			fz_fail("perms not terminated");
	}
	free(line);
	return 0;
}
