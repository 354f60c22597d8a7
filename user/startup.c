// SPDX-License-Identifier: GPL-2.0
/*
 * The start-up stage of a report: memory the interpreter retains for its
 * own start-up and for imports is not what a program "does", so it must not
 * outrank the program's sites. A site whose stack runs through the import
 * machinery (a <frozen importlib._bootstrap...> frame), or, in launch mode,
 * one with no Python frame at all (the interpreter's C start-up), is set
 * apart and summed into one line, with the imported module that holds the
 * most of it.
 */
#include <stdlib.h>
#include <string.h>
#include "session.h"
#include "snapshot.h"
#include "startup.h"

#define IMPORTLIB	"<frozen importlib._bootstrap"
#define NO_FRAMES	"[no Python frames]"

/*
 * The module whose top-level code made the allocation: the innermost
 * "<module> (file:line)" frame inside the import machinery. Copied into
 * buf without its line; "" if there is none.
 */
static void imported_module(const char *key, char *buf, size_t len)
{
	const char *p = strstr(key, IMPORTLIB), *m, *end;

	buf[0] = 0;
	while (p && (m = strstr(p, "<module> (")) != NULL) {
		m += strlen("<module> (");
		end = strchr(m, ')');
		if (!end)
			break;
		/* drop ":line" */
		for (const char *c = end; c > m; c--)
			if (*c == ':') {
				end = c;
				break;
			}
		if ((size_t)(end - m) < len && strncmp(m, IMPORTLIB, strlen(IMPORTLIB))) {
			memcpy(buf, m, end - m);
			buf[end - m] = 0;
		}
		p = end;
	}
}

bool startup_site(const struct session *s, const struct site *si)
{
	if (!si->key)
		return false;
	if (strstr(si->key, IMPORTLIB))
		return true;
	return s->launched && !strncmp(si->key, NO_FRAMES, strlen(NO_FRAMES));
}

void startup_split(const struct session *s, struct snapshot *snap)
{
	struct startup_sum *u = &snap->startup;
	struct { char name[256]; int64_t bytes; } top[16];
	int ntop = 0;

	memset(u, 0, sizeof(*u));
	for (size_t i = 0; i < snap->n; i++) {
		struct site *si = &snap->sites[i];
		char mod[256];
		int j;

		si->startup = startup_site(s, si);
		if (!si->startup || si->out_bytes <= 0)
			continue;
		u->bytes += si->out_bytes;
		u->blocks += si->out_count;
		u->sites++;
		imported_module(si->key, mod, sizeof(mod));
		if (!mod[0])
			continue;
		for (j = 0; j < ntop && strcmp(top[j].name, mod); j++)
			;
		if (j == ntop) {
			if (ntop == (int)(sizeof(top) / sizeof(top[0])))
				continue;	/* a rare module past the first 16 */
			memcpy(top[j].name, mod, sizeof(top[j].name));
			top[j].bytes = 0;
			ntop++;
		}
		top[j].bytes += si->out_bytes;
	}
	for (int j = 0; j < ntop; j++)
		if (top[j].bytes > u->top_bytes) {
			u->top_bytes = top[j].bytes;
			memcpy(u->top_module, top[j].name, sizeof(u->top_module));
		}
}
