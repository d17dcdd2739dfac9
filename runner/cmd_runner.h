/*
 * Internal to runner/: the self-hosted runner subcommands. Each takes the
 * subcommand's argv (argv[0] is its name) and returns the exit code: 0 ok,
 * 1 operation or job failed, 2 usage or validation error.
 */
#pragma once

int rn_cmd_config(int argc, char **argv);
int rn_cmd_run(int argc, char **argv);
int rn_cmd_remove(int argc, char **argv);

/* One-line usage errors come from the CLI table's helpers. */
#include "cli.h"

/* The runner root: --root, else $GHRUN_ROOT, else the current directory. Owned. */
char *rn_cmd_root(const char *opt);
