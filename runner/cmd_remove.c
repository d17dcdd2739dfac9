/*
 * `ghrun remove`: delete this runner's registration with a removal token,
 * then its local files (runner-protocol.md section 3.6).
 */
#include "cmd_runner.h"
#include "http.h"
#include "protocol.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>

static void help(void)
{
    printf("usage: ghrun remove --token TOKEN [--root DIR]\n\n"
           "Delete this runner's registration and its local files.\n\n"
           "options:\n"
           "  --token TOKEN  removal token\n"
           "  --local        only delete the local files\n"
           "  --root DIR     runner root (default: $GHRUN_ROOT or the current directory)\n"
           "  -h, --help     show this help\n");
}

static int unregister(const char *root, const char *token)
{
    struct rn_settings s = {0};
    struct rn_creds c = {0};
    struct rn_http *http;
    struct gr_diag d = {0};
    char msg[700];
    uv_loop_t loop;
    int r;

    r = rn_config_load(root, &s, &c, NULL, &d);
    if (r < 0) {
        gr_diag_format(&d, msg, sizeof(msg));
        GR_LOG_ERR("cannot read the runner settings: %s", msg);
        return r;
    }
    uv_loop_init(&loop);
    http = rn_http_new(&loop);
    rn_http_set_cafile(http, getenv("GHRUN_CA_FILE"));
    r = rn_proto_unregister(http, &s, token, &d);
    if (r < 0) {
        gr_diag_format(&d, msg, sizeof(msg));
        GR_LOG_ERR("cannot remove runner '%s': %s", s.agent_name, msg);
    } else {
        GR_LOG_INFO("runner '%s' removed from the service", s.agent_name);
    }
    rn_http_free(http);
    uv_run(&loop, UV_RUN_DEFAULT);
    (void)uv_loop_close(&loop);
    rn_settings_release(&s);
    rn_creds_release(&c);
    return r;
}

int rn_cmd_remove(int argc, char **argv)
{
    static const struct option opts[] = {
        {"token", required_argument, NULL, 't'},
        {"local", no_argument, NULL, 'l'},
        {"root", required_argument, NULL, 'R'},
        {"help", no_argument, NULL, 'h'},
        {0},
    };
    const char *token = NULL, *root_opt = NULL;
    bool local = false;
    char *root;
    int c, r;

    opterr = 0;
    optind = 1;
    while ((c = getopt_long(argc, argv, "+:h", opts, NULL)) != -1) {
        switch (c) {
        case 't':
            token = optarg;
            break;
        case 'l':
            local = true;
            break;
        case 'R':
            root_opt = optarg;
            break;
        case 'h':
            help();
            return 0;
        default:
            return rn_cmd_opt_error("remove", c, argv);
        }
    }
    if (optind < argc)
        return rn_cmd_usage_error("remove", "unexpected argument '%s'", argv[optind]);
    if (!token && !local)
        return rn_cmd_usage_error("remove", "missing --token");
    root = rn_cmd_root(root_opt);
    if (!rn_config_exists(root)) {
        GR_LOG_ERR("'%s' holds no configured runner", root);
        free(root);
        return 1;
    }
    r = local ? 0 : unregister(root, token);
    if (r == 0) {
        r = rn_config_remove(root);
        if (r < 0)
            gr_log_err_errno(r, "cannot delete the runner files in '%s'", root);
    }
    free(root);
    return r < 0 ? 1 : 0;
}
