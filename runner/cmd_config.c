/*
 * `ghrun config`: register this host as a self-hosted runner and write the
 * runner root's files (runner-protocol.md section 3). Missing values are
 * asked for on stdin unless --unattended.
 */
#include "cmd_runner.h"
#include "http.h"
#include "protocol.h"

#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void help(void)
{
    printf("usage: ghrun config --url URL --token TOKEN [options]\n\n"
           "Register this host as a self-hosted runner of a repository, organization or\n"
           "enterprise, and write .runner, .credentials and .credentials_rsaparams (0600)\n"
           "into the runner root.\n\n"
           "options:\n"
           "  --url URL           https://github.com/OWNER[/REPO] or a GHES URL\n"
           "  --token TOKEN       registration token\n"
           "  --name NAME         runner name (default: host name)\n"
           "  --labels A,B        extra labels\n"
           "  --no-default-labels do not add self-hosted, Linux and the architecture\n"
           "  --runnergroup G     runner group (default: the default group)\n"
           "  --work DIR          work folder (default: _work)\n"
           "  --ephemeral         take one job, then the registration is deleted\n"
           "  --replace           replace an existing runner of the same name\n"
           "  --disableupdate     never ask for self-updates (always on: ghrun never updates)\n"
           "  --unattended        never prompt; missing values are errors\n"
           "  --root DIR          runner root (default: $GHRUN_ROOT or the current directory)\n"
           "  --runner-version V  runner version to report (default " RN_RUNNER_VERSION_DEFAULT
           ")\n"
           "  -h, --help          show this help\n");
}

int rn_cmd_usage_error(const char *cmd, const char *fmt, ...)
{
    va_list ap;

    fprintf(stderr, "ghrun %s: ", cmd);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, " (see 'ghrun %s --help')\n", cmd);
    return 2;
}

int rn_cmd_opt_error(const char *cmd, int c, char **argv)
{
    const char *arg = optind > 0 ? argv[optind - 1] : "";

    if (c == ':')
        return rn_cmd_usage_error(cmd, "option '%s' needs a value", arg);
    return rn_cmd_usage_error(cmd, "unknown option '%s'", arg);
}

char *rn_cmd_root(const char *opt)
{
    const char *env = getenv("GHRUN_ROOT");
    const char *p = opt && *opt ? opt : env && *env ? env : NULL;
    char cwd[4096];

    /* absolute, because job processes run in other directories */
    if (!getcwd(cwd, sizeof(cwd)))
        return gr_xstrdup(p ? p : ".");
    if (!p)
        return gr_xstrdup(cwd);
    if (p[0] == '/')
        return gr_xstrdup(p);
    return gr_path_join(cwd, p);
}

/* Ask on stdin; returns an owned answer, def (copied) on an empty line, NULL at EOF. */
static char *prompt(const char *question, const char *def)
{
    char line[1024];
    size_t n;

    fprintf(stderr, "%s%s%s%s: ", question, def ? " [" : "", def ? def : "", def ? "]" : "");
    if (!fgets(line, sizeof(line), stdin))
        return NULL;
    n = strcspn(line, "\r\n");
    line[n] = '\0';
    if (!n)
        return def ? gr_xstrdup(def) : NULL;
    return gr_xstrdup(line);
}

struct cfg_args {
    struct rn_register_opts o;
    const char *root_opt;
    bool unattended;
    char *owned[4]; /* prompted answers */
};

static int parse(int argc, char **argv, struct cfg_args *a)
{
    static const struct option opts[] = {
        {"url", required_argument, NULL, 'u'},
        {"token", required_argument, NULL, 't'},
        {"name", required_argument, NULL, 'n'},
        {"labels", required_argument, NULL, 'l'},
        {"no-default-labels", no_argument, NULL, 'L'},
        {"runnergroup", required_argument, NULL, 'g'},
        {"work", required_argument, NULL, 'w'},
        {"ephemeral", no_argument, NULL, 'e'},
        {"replace", no_argument, NULL, 'r'},
        {"disableupdate", no_argument, NULL, 'd'},
        {"unattended", no_argument, NULL, 'U'},
        {"root", required_argument, NULL, 'R'},
        {"runner-version", required_argument, NULL, 'V'},
        {"help", no_argument, NULL, 'h'},
        {0},
    };
    int c;

    opterr = 0;
    optind = 1;
    while ((c = getopt_long(argc, argv, "+:h", opts, NULL)) != -1) {
        switch (c) {
        case 'u':
            a->o.url = optarg;
            break;
        case 't':
            a->o.token = optarg;
            break;
        case 'n':
            a->o.name = optarg;
            break;
        case 'l':
            a->o.labels = optarg;
            break;
        case 'L':
            a->o.no_default_labels = true;
            break;
        case 'g':
            a->o.group = optarg;
            break;
        case 'w':
            a->o.work = optarg;
            break;
        case 'e':
            a->o.ephemeral = true;
            break;
        case 'r':
            a->o.replace = true;
            break;
        case 'd':
            break;
        case 'U':
            a->unattended = true;
            break;
        case 'R':
            a->root_opt = optarg;
            break;
        case 'V':
            a->o.version = optarg;
            break;
        case 'h':
            help();
            return 1;
        default:
            return rn_cmd_opt_error("config", c, argv);
        }
    }
    if (optind < argc)
        return rn_cmd_usage_error("config", "unexpected argument '%s'", argv[optind]);
    return 0;
}

/* Fill missing values by prompting (or fail when unattended). */
static int complete(struct cfg_args *a)
{
    char host[256] = "runner";
    struct {
        const char **slot;
        const char *question, *flag;
    } asks[] = {
        {&a->o.url, "Enter the URL of your repository, organization or enterprise", "--url"},
        {&a->o.token, "Enter the registration token", "--token"},
    };

    for (size_t i = 0; i < GR_ARRAY_SIZE(asks); i++) {
        if (*asks[i].slot)
            continue;
        if (a->unattended)
            return rn_cmd_usage_error("config", "missing %s", asks[i].flag);
        a->owned[i] = prompt(asks[i].question, NULL);
        if (!a->owned[i])
            return rn_cmd_usage_error("config", "missing %s", asks[i].flag);
        *asks[i].slot = a->owned[i];
    }
    (void)gethostname(host, sizeof(host) - 1);
    if (!a->o.name && !a->unattended)
        a->o.name = a->owned[2] = prompt("Enter the name of the runner", host);
    if (!a->o.name)
        a->o.name = a->owned[2] = gr_xstrdup(host);
    if (!a->o.labels && !a->unattended)
        a->o.labels = a->owned[3] = prompt("Enter additional labels (comma separated)", NULL);
    return 0;
}

static int configure(struct cfg_args *a, const char *root)
{
    struct rn_http *http = NULL;
    struct evp_pkey_st *key = NULL;
    struct rn_settings s = {0};
    struct rn_creds c = {0};
    struct gr_diag d = {0};
    char msg[700];
    uv_loop_t loop;
    int r;

    r = gr_mkdir_p(root, 0700);
    if (r < 0)
        return gr_log_err_errno(r, "cannot create runner root '%s'", root);
    r = rn_key_generate(&key);
    if (r < 0)
        return gr_log_err_errno(r, "cannot generate an RSA key");
    uv_loop_init(&loop);
    http = rn_http_new(&loop);
    rn_http_set_cafile(http, getenv("GHRUN_CA_FILE"));
    r = rn_proto_register(http, &a->o, key, &s, &c, &d);
    if (r == 0)
        r = rn_config_save(root, &s, &c, key);
    if (r < 0) {
        gr_diag_format(&d, msg, sizeof(msg));
        if (!d.msg[0])
            snprintf(msg, sizeof(msg), "cannot write the runner files in '%s': %s", root,
                     gr_strerror(r));
        GR_LOG_ERR("registration failed: %s", msg);
    } else {
        GR_LOG_INFO("runner '%s' (id %lld) registered; settings saved in '%s'", s.agent_name,
                    s.agent_id, root);
    }
    rn_http_free(http);
    uv_run(&loop, UV_RUN_DEFAULT);
    (void)uv_loop_close(&loop);
    rn_settings_release(&s);
    rn_creds_release(&c);
    rn_key_free(key);
    return r;
}

int rn_cmd_config(int argc, char **argv)
{
    struct cfg_args a = {.o = {.version = RN_RUNNER_VERSION_DEFAULT, .disable_update = true}};
    char *root = NULL;
    int r, rc;

    r = parse(argc, argv, &a);
    if (r)
        return r == 1 ? 0 : r;
    root = rn_cmd_root(a.root_opt);
    if (rn_config_exists(root)) {
        rc = rn_cmd_usage_error("config", "'%s' is configured already; run 'ghrun remove' first",
                                root);
        goto out;
    }
    rc = complete(&a);
    if (rc)
        goto out;
    rc = configure(&a, root) < 0 ? 1 : 0;
out:
    for (size_t i = 0; i < GR_ARRAY_SIZE(a.owned); i++)
        free(a.owned[i]);
    free(root);
    return rc;
}
