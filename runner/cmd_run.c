/*
 * `ghrun run`: listen for jobs and run them (runner-protocol.md sections
 * 4-7, 15). With --jitconfig the runner's files come from a JIT blob and the
 * runner takes exactly one job.
 */
#include "cmd_runner.h"
#include "listener.h"
#include "protocol.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void help(void)
{
    printf("usage: ghrun run [--once] [--jitconfig BLOB] [--root DIR]\n\n"
           "Connect to GitHub as the configured self-hosted runner and run jobs until\n"
           "stopped (SIGINT/SIGTERM end it gracefully: a running job is cancelled and\n"
           "reported, and the session is deleted).\n\n"
           "options:\n"
           "  --once              take one job, then exit\n"
           "  --jitconfig BLOB    just-in-time configuration (implies one job)\n"
           "  --root DIR          runner root (default: $GHRUN_ROOT or the current directory)\n"
           "  --runner-version V  runner version to report (default " RN_RUNNER_VERSION_DEFAULT
           ")\n"
           "  --no-prestart       start each job's worker when the job comes, not ahead\n"
           "                      (also GHRUN_PRESTART=0)\n"
           "  -h, --help          show this help\n\n"
           "environment:\n"
           "  GHRUN_NO_NATIVE     actions that run through their JavaScript action instead of\n"
           "                      natively: 1/true (all) or a list (actions/checkout,...);\n"
           "                      replaces \"no_native\" of <root>/.sandbox\n"
           "  GHRUN_PERSIST       directories of the job's HOME kept per repository through\n"
           "                      the cache store, e.g. ~/.cache/pip,~/.npm; replaces\n"
           "                      \"persist\" of <root>/.sandbox (default: none)\n");
}

int rn_cmd_run(int argc, char **argv)
{
    static const struct option opts[] = {
        {"once", no_argument, NULL, 'o'},
        {"jitconfig", required_argument, NULL, 'j'},
        {"root", required_argument, NULL, 'R'},
        {"runner-version", required_argument, NULL, 'V'},
        {"help", no_argument, NULL, 'h'},
        {"no-prestart", no_argument, NULL, 'P'},
        {0},
    };
    struct rn_listener_opts lo = {.version = RN_RUNNER_VERSION_DEFAULT, .prestart = true};
    const char *jit = NULL, *root_opt = NULL, *env_version = getenv("GHRUN_RUNNER_VERSION");
    bool ephemeral_done = false;
    struct gr_diag d = {0};
    char *root, msg[700];
    int c, rc;

    opterr = 0;
    optind = 1;
    while ((c = getopt_long(argc, argv, "+:h", opts, NULL)) != -1) {
        switch (c) {
        case 'o':
            lo.once = true;
            break;
        case 'j':
            jit = optarg;
            break;
        case 'R':
            root_opt = optarg;
            break;
        case 'V':
            lo.version = optarg;
            break;
        case 'h':
            help();
            return 0;
        case 'P':
            lo.prestart = false;
            break;
        default:
            return rn_cli_opt_error("run", c, argv);
        }
    }
    if (optind < argc)
        return rn_cli_usage_error("run", "unexpected argument '%s'", argv[optind]);
    if (getenv("GHRUN_PRESTART") && !strcmp(getenv("GHRUN_PRESTART"), "0"))
        lo.prestart = false;
    if (env_version && *env_version && lo.version == (const char *)RN_RUNNER_VERSION_DEFAULT)
        lo.version = env_version;
    root = rn_cmd_root(root_opt);
    if (jit) {
        if (rn_config_exists(root)) {
            rc = rn_cli_usage_error("run",
                                    "'%s' is configured already; --jitconfig needs an "
                                    "empty runner root",
                                    root);
            goto out;
        }
        if (gr_mkdir_p(root, 0700) < 0 || rn_jit_write(root, jit, &d) < 0) {
            gr_diag_format(&d, msg, sizeof(msg));
            GR_LOG_ERR("cannot use the JIT configuration: %s", msg[0] ? msg : "cannot write it");
            if (rn_config_remove(root) < 0)
                GR_LOG_WARN("cannot delete the partial JIT files in '%s'", root);
            rc = 2;
            goto out;
        }
        lo.once = true;
    }
    lo.root = root;
    lo.ret_ephemeral_done = &ephemeral_done;
    rc = rn_listener_run(&lo);
    /* A JIT or ephemeral runner is single-use: the service deletes it after its job. */
    if ((jit || ephemeral_done) && rn_config_remove(root) < 0)
        GR_LOG_WARN("cannot delete the single-use runner's files in '%s'", root);
out:
    free(root);
    return rc;
}
