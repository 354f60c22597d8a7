// SPDX-License-Identifier: GPL-2.0
#include <errno.h>
#include "profile.h"

int flamegraph_write(const struct profile *p, const struct flamegraph_opts *o, FILE *out)
{
	return -ENOSYS;
}
