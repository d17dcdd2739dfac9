/*
 * The one-line usage errors every subcommand prints (cli.h). Apart from the
 * command table in cli.c, so that the lean `ghrun run` front links them alone.
 */
#include "cli.h"

#include <getopt.h>
#include <stdio.h>

int rn_cli_usage_error(const char *cmd, const char *fmt, ...)
{
    va_list ap;

    fprintf(stderr, "ghrun %s: ", cmd);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, " (see 'ghrun %s --help')\n", cmd);
    return 2;
}

int rn_cli_opt_error(const char *cmd, int c, char **argv)
{
    const char *arg = optind > 0 ? argv[optind - 1] : "";

    if (c == ':') {
        if (optopt && arg[0] == '-' && arg[1] != '-')
            return rn_cli_usage_error(cmd, "option '-%c' needs a value", optopt);
        return rn_cli_usage_error(cmd, "option '%s' needs a value", arg);
    }
    if (optopt)
        return rn_cli_usage_error(cmd, "unknown option '-%c'", optopt);
    return rn_cli_usage_error(cmd, "unknown option '%s'", arg);
}
