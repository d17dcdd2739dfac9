/* Internal to runner/: the subcommand table's types and the handlers it names. */
#pragma once

#include <stdarg.h>

#include "gr.h"

struct rn_cli_cmd {
    const char *name;
    int (*fn)(int argc, char **argv); /* argv[0] is the subcommand name */
    const char *summary;
};

/* Print "ghrun CMD: message (see 'ghrun CMD --help')" to stderr; returns 2. */
int rn_cli_usage_error(const char *cmd, const char *fmt, ...) GR_PRINTF(2, 3);

/*
 * Report a getopt_long failure (c is ':' or '?'; the optstring must start
 * with "+:" or ":") as a one-line usage error; returns 2.
 */
int rn_cli_opt_error(const char *cmd, int c, char **argv);

int rn_cmd_expr(int argc, char **argv);
int rn_cmd_replay(int argc, char **argv);
