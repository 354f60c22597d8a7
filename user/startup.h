/* SPDX-License-Identifier: GPL-2.0 */
/* Start-up and import memory, set apart from the program's sites. */
#ifndef STARTUP_H
#define STARTUP_H

#include <stdbool.h>

struct session;
struct site;
struct snapshot;

/* Does this site hold start-up or import memory? */
bool startup_site(const struct session *s, const struct site *si);
/* Flag such sites and sum them in snap->startup. */
void startup_split(const struct session *s, struct snapshot *snap);

#endif
