/*
 * The command-line front end: one table of subcommands, each with its own
 * --help. A subcommand's handler parses its own flags and returns the exit
 * code (0 ok, 1 a job failed, 2 usage or validation error).
 */
#include "rn.h"
#include "cli.h"
#include "cmd_cache.h"
#include "cmd_doctor.h"
#include "cmd_runner.h"

#include <getopt.h>
#include <stdio.h>
#include <string.h>

static int cmd_version(int argc, char **argv);
static int cmd_help(int argc, char **argv);

static const struct rn_cli_cmd commands[] = {
    {"replay", rn_cmd_replay, "run workflows of a local repository on this host"},
    {"expr", rn_cmd_expr, "evaluate a GitHub Actions expression"},
    {"config", rn_cmd_config, "register this machine as a self-hosted runner"},
    {"run", rn_cmd_run, "listen for jobs from GitHub and run them"},
    {"remove", rn_cmd_remove, "deregister the runner and delete its local files"},
    {"cache", rn_cmd_cache, "inspect and manage the local dependency cache"},
    {"doctor", rn_cmd_doctor, "report which sandbox features this host supports"},
    {"version", cmd_version, "print the version"},
    {"help", cmd_help, "show help for a command"},
};

static void usage(FILE *out)
{
    fprintf(out, "usage: ghrun <command> [options]\n\n"
                 "ghrun is a sandboxed, self-hosted GitHub Actions runner.\n\ncommands:\n");
    for (size_t i = 0; i < GR_ARRAY_SIZE(commands); i++)
        fprintf(out, "  %-10s %s\n", commands[i].name, commands[i].summary);
    fprintf(out, "\nRun 'ghrun <command> --help' for the options of a command.\n");
}

static const struct rn_cli_cmd *find(const char *name)
{
    for (size_t i = 0; i < GR_ARRAY_SIZE(commands); i++)
        if (strcmp(commands[i].name, name) == 0)
            return &commands[i];
    return NULL;
}

static int cmd_version(int argc, char **argv)
{
    if (argc > 1 && (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help"))) {
        printf("usage: ghrun version\n\nPrint the version of ghrun.\n");
        return 0;
    }
    if (argc > 1)
        return rn_cli_usage_error("version", "unexpected argument '%s'", argv[1]);
    printf("ghrun %s\n", GHRUN_VERSION);
    return 0;
}

static int cmd_help(int argc, char **argv)
{
    const struct rn_cli_cmd *c;
    char *sub[] = {NULL, "--help", NULL};

    if (argc < 2) {
        usage(stdout);
        return 0;
    }
    if (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")) {
        printf("usage: ghrun help [COMMAND]\n\nShow the commands, or the help of one command.\n");
        return 0;
    }
    c = find(argv[1]);
    if (!c)
        return rn_cli_usage_error("help", "unknown command '%s'", argv[1]);
    sub[0] = argv[1];
    return c->fn(2, sub);
}

int rn_cli_main(int argc, char **argv)
{
    const struct rn_cli_cmd *c;

    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    if (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")) {
        usage(stdout);
        return 0;
    }
    if (!strcmp(argv[1], "--version"))
        return cmd_version(1, argv + 1);
    c = find(argv[1]);
    if (!c) {
        fprintf(stderr, "ghrun: unknown command '%s' (see 'ghrun --help')\n", argv[1]);
        return 2;
    }
    return c->fn(argc - 1, argv + 1);
}
