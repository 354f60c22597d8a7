// SPDX-License-Identifier: GPL-2.0
#include <errno.h>
#include <stdlib.h>
#include "objtypes.h"

struct objtypes *objtypes_new(pid_t pid, const struct pyversion *pv)
{
	return NULL;
}

void objtypes_free(struct objtypes *ot)
{
}

int objtypes_classify(struct objtypes *ot, const struct ot_block *b, size_t n, uint32_t *out)
{
	return -ENOSYS;
}

const char *objtypes_name(const struct objtypes *ot, uint32_t idx)
{
	return "[unknown]";
}

uint32_t objtypes_count(const struct objtypes *ot)
{
	return OT_FIRST_TYPE;
}
