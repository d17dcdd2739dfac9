/*
 * Internal to runner/: the self-hosted runner subcommands. Each takes the
 * subcommand's argv (argv[0] is its name) and returns the exit code: 0 ok,
 * 1 operation or job failed, 2 usage or validation error.
 */
#pragma once

int rn_cmd_config(int argc, char **argv);
int rn_cmd_run(int argc, char **argv);
int rn_cmd_remove(int argc, char **argv);

/*
 * The same one-line usage errors as the CLI table's (these commands do not
 * depend on cli.c, so they can be driven on their own). Both return 2.
 */
int rn_cmd_usage_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int rn_cmd_opt_error(const char *cmd, int c, char **argv);

/* The runner root: --root, else $GHRUN_ROOT, else the current directory. Owned. */
char *rn_cmd_root(const char *opt);
