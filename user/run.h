/* SPDX-License-Identifier: GPL-2.0 */
/* One tracing run, from the parsed options to the last report. */
#ifndef RUN_H
#define RUN_H

#include <stdbool.h>

struct options;

/* libbpf's messages: on stderr with -v, else only the last one kept. */
void run_log_init(bool verbose);
/* SIGINT and SIGTERM end the run with a report. */
void run_signals_init(void);
/* The exit status: 0, 1 after an error, or a launched command's status. */
int run(struct options *o);

#endif
