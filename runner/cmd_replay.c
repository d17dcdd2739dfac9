/*
 * `ghrun replay`: load the workflows of a local repository, plan an event and
 * list (-l), dry-run (-n) or run the jobs. Flags follow act's names. Running
 * lives in replay_run.c; this file only parses, loads, plans and prints.
 *
 * Exit status: 0 ok; 2 for usage errors and for any workflow or plan error
 * (every message printed as file:line:col), in which case nothing runs.
 */
#include "internal.h"
#include "ex/persist.h"

#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define REPLAY_MAX_FILE (16 * 1024 * 1024) /* dotenv and event files */
#define REPLAY_MAX_WORKFLOWS 1000

enum {
    OPT_INPUT = 256,
    OPT_SECRET_FILE,
    OPT_VAR,
    OPT_VAR_FILE,
    OPT_ENV,
    OPT_ENV_FILE,
    OPT_MATRIX,
    OPT_JSON,
    OPT_JOBS,
    OPT_IGNORE_FILTERS,
    OPT_NODE,
    OPT_ACTION_DIR,
    OPT_ACTIONS_URL,
    OPT_SANDBOX,
    OPT_NO_NATIVE,
    OPT_ARTIFACT_DIR,
    OPT_PERSIST,
};

static const struct option long_opts[] = {
    {"workflows", required_argument, NULL, 'W'},
    {"job", required_argument, NULL, 'j'},
    {"eventpath", required_argument, NULL, 'e'},
    {"input", required_argument, NULL, OPT_INPUT},
    {"secret", required_argument, NULL, 's'},
    {"secret-file", required_argument, NULL, OPT_SECRET_FILE},
    {"var", required_argument, NULL, OPT_VAR},
    {"var-file", required_argument, NULL, OPT_VAR_FILE},
    {"env", required_argument, NULL, OPT_ENV},
    {"env-file", required_argument, NULL, OPT_ENV_FILE},
    {"matrix", required_argument, NULL, OPT_MATRIX},
    {"list", no_argument, NULL, 'l'},
    {"dryrun", no_argument, NULL, 'n'},
    {"directory", required_argument, NULL, 'C'},
    {"verbose", no_argument, NULL, 'v'},
    {"json", required_argument, NULL, OPT_JSON},
    {"jobs", required_argument, NULL, OPT_JOBS},
    {"ignore-filters", no_argument, NULL, OPT_IGNORE_FILTERS},
    {"node", required_argument, NULL, OPT_NODE},
    {"action-dir", required_argument, NULL, OPT_ACTION_DIR},
    {"actions-url", required_argument, NULL, OPT_ACTIONS_URL},
    {"sandbox", required_argument, NULL, OPT_SANDBOX},
    {"no-native", optional_argument, NULL, OPT_NO_NATIVE},
    {"artifact-dir", required_argument, NULL, OPT_ARTIFACT_DIR},
    {"persist", required_argument, NULL, OPT_PERSIST},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

static void help(void)
{
    printf("usage: ghrun replay [options] [EVENT]\n\n"
           "Plan and run the workflows of a local repository for EVENT (default: push when a\n"
           "workflow has it, else its first trigger).\n\n"
           "  -W, --workflows PATH   workflow file or directory of *.yml/*.yaml\n"
           "                         (default: .github/workflows under -C)\n"
           "  -C, --directory DIR    the repository to replay (default: .)\n"
           "  -j, --job ID           only this job and the jobs it needs\n"
           "  -e, --eventpath FILE   event payload (JSON); default: generated from the repo\n"
           "      --input K=V        workflow_dispatch / workflow_call input (repeatable)\n"
           "  -s, --secret K[=V]     secret; K alone reads the value from the environment\n"
           "      --secret-file F    secrets from a dotenv file\n"
           "      --var K=V          configuration variable (vars context)\n"
           "      --var-file F       variables from a dotenv file\n"
           "      --env K=V          extra environment for every step\n"
           "      --env-file F       environment from a dotenv file\n"
           "      --matrix K:V       run only matrix legs whose K is V (repeatable)\n"
           "      --ignore-filters   ignore branch, tag and path filters of the event\n"
           "  -l, --list             list jobs by stage\n"
           "  -n, --dryrun           print the plan: jobs, matrix legs and steps\n"
           "      --json FILE        write the plan (or the results) as JSON\n"
           "      --jobs N           run at most N jobs at a time\n"
           "      --node PATH        node for JavaScript actions (default: node on PATH)\n"
           "      --action-dir DIR   actions as DIR/owner/repo/ref/ (tried first)\n"
           "      --actions-url URL  where owner/repo is cloned from (default https://github.com)\n"
           "      --sandbox MODE     best-effort (default), strict or off: run every step in\n"
           "                         the gr-sandbox helper (namespaces, seccomp, cgroups);\n"
           "                         best-effort says once which protections are missing\n"
           "      --no-native[=LIST] run actions/checkout, cache and artifact actions through\n"
           "                         their JavaScript actions instead of natively: all, or\n"
           "                         those in LIST (actions/checkout,actions/cache); default:\n"
           "                         $GHRUN_NO_NATIVE\n"
           "      --artifact-dir DIR where artifacts are stored\n"
           "                         (default: .ghrun/artifacts/<run_id>/ in the workspace)\n"
           "      --persist DIR      keep DIR of the job's HOME (e.g. ~/.cache/pip, ~/.npm)\n"
           "                         from one job of the repository to the next, through the\n"
           "                         cache store (repeatable, or DIR,DIR; default:\n"
           "                         $GHRUN_PERSIST; off when neither is set)\n"
           "  -v, --verbose          more output\n"
           "  -h, --help             show this help\n\n"
           "Exit status: 0 success, 1 a job failed, 2 usage, workflow or plan error.\n");
}

/* ---- option values ----------------------------------------------------- */

struct cli {
    struct rn_replay_opts o;
    const char *workflows;
    const char *eventpath;
    bool list, dryrun;
    json_t *secret_files, *var_files, *env_files; /* arrays of paths, applied before flags */
    struct gr_buf persist;                        /* --persist DIR,... */
};

static int bad_value(const char *opt, const char *val, const char *why)
{
    return rn_cli_usage_error("replay", "invalid value '%s' for %s: %s", val, opt, why);
}

/* "K=V" into obj; K must be non-empty. */
static int add_kv(json_t *obj, const char *opt, const char *arg, char sep)
{
    const char *eq = strchr(arg, sep);
    char *k;

    if (!eq || eq == arg)
        return bad_value(opt, arg, sep == '=' ? "expected KEY=VALUE" : "expected KEY:VALUE");
    k = gr_xstrndup(arg, (size_t)(eq - arg));
    json_object_set_new(obj, k, json_string(eq + 1));
    free(k);
    return 0;
}

static int add_secret(json_t *obj, const char *arg)
{
    const char *v;

    if (strchr(arg, '='))
        return add_kv(obj, "--secret", arg, '=');
    if (!*arg)
        return bad_value("--secret", arg, "expected KEY or KEY=VALUE");
    v = getenv(arg);
    if (!v)
        return rn_cli_usage_error("replay", "secret '%s' is not set in the environment", arg);
    json_object_set_new(obj, arg, json_string(v));
    return 0;
}

static int add_matrix(json_t *filter, const char *arg)
{
    const char *c = strchr(arg, ':');
    json_t *list;
    char *k;

    if (!c || c == arg)
        return bad_value("--matrix", arg, "expected KEY:VALUE");
    k = gr_xstrndup(arg, (size_t)(c - arg));
    list = json_object_get(filter, k);
    if (!list) {
        list = json_array();
        json_object_set_new(filter, k, list);
    }
    json_array_append_new(list, json_string(c + 1));
    free(k);
    return 0;
}

static int parse_jobs(struct cli *c, const char *arg)
{
    char *end = NULL;
    long n = strtol(arg, &end, 10);

    if (!*arg || *end || n < 1 || n > 1024)
        return bad_value("--jobs", arg, "expected a number from 1 to 1024");
    c->o.jobs = (int)n;
    return 0;
}

/* --no-native[=LIST] (arg NULL: all) or GHRUN_NO_NATIVE (where "1", "true" mean all). */
static int set_no_native(struct cli *c, const char *what, const char *arg)
{
    struct gr_diag d = {0};

    if (!arg || !strcmp(arg, "1") || !strcasecmp(arg, "true")) {
        c->o.no_native = true;
        return 0;
    }
    if (ex_native_list_check(arg, &d) < 0)
        return rn_cli_usage_error("replay", "%s: %s", what, d.msg);
    c->o.native_off = arg;
    return 0;
}

/* --persist DIR (or DIR,DIR): checked now, so that a bad one is a usage error. */
static int add_persist(struct cli *c, const char *arg)
{
    struct gr_diag d = {0};
    char **dirs = NULL;
    size_t n = 0;

    if (ex_persist_parse(arg, &dirs, &n, &d) < 0)
        return rn_cli_usage_error("replay", "--persist: %s", d.msg);
    ex_persist_dirs_free(dirs);
    if (gr_buf_addf(&c->persist, "%s%s", c->persist.len ? "," : "", arg) < 0)
        return rn_cli_usage_error("replay", "--persist: too many directories");
    return 0;
}

/* GHRUN_PERSIST when no --persist was given: checked as the option is. */
static int persist_env(struct cli *c)
{
    const char *env = getenv("GHRUN_PERSIST");
    struct gr_diag d = {0};
    char **dirs = NULL;
    size_t n = 0;

    if (c->persist.len) {
        c->o.persist = c->persist.ptr;
        return 0;
    }
    if (!env || !*env)
        return 0;
    if (ex_persist_parse(env, &dirs, &n, &d) < 0)
        return rn_cli_usage_error("replay", "GHRUN_PERSIST: %s", d.msg);
    ex_persist_dirs_free(dirs);
    c->o.persist = env;
    return 0;
}

static int one_opt(struct cli *c, int ch, char **argv)
{
    switch (ch) {
    case 'W':
        c->workflows = optarg;
        return 0;
    case 'j':
        c->o.job_id = optarg;
        return 0;
    case 'e':
        c->eventpath = optarg;
        return 0;
    case OPT_INPUT:
        return add_kv(c->o.inputs, "--input", optarg, '=');
    case 's':
        return add_secret(c->o.secrets, optarg);
    case OPT_SECRET_FILE:
        json_array_append_new(c->secret_files, json_string(optarg));
        return 0;
    case OPT_VAR:
        return add_kv(c->o.vars, "--var", optarg, '=');
    case OPT_VAR_FILE:
        json_array_append_new(c->var_files, json_string(optarg));
        return 0;
    case OPT_ENV:
        return add_kv(c->o.env, "--env", optarg, '=');
    case OPT_ENV_FILE:
        json_array_append_new(c->env_files, json_string(optarg));
        return 0;
    case OPT_MATRIX:
        return add_matrix(c->o.matrix_filter, optarg);
    case 'l':
        c->list = true;
        return 0;
    case 'n':
        c->dryrun = true;
        return 0;
    case 'C':
        c->o.directory = optarg;
        return 0;
    case 'v':
        c->o.verbose = true;
        return 0;
    case OPT_JSON:
        c->o.json_path = optarg;
        return 0;
    case OPT_JOBS:
        return parse_jobs(c, optarg);
    case OPT_IGNORE_FILTERS:
        c->o.ignore_filters = true;
        return 0;
    case OPT_NODE:
        c->o.node = optarg;
        return 0;
    case OPT_ACTION_DIR:
        c->o.action_dir = optarg;
        return 0;
    case OPT_ACTIONS_URL:
        c->o.actions_url = optarg;
        return 0;
    case OPT_SANDBOX:
        if (strcmp(optarg, "off") && strcmp(optarg, "best-effort") && strcmp(optarg, "strict"))
            return rn_cli_usage_error(
                "replay", "--sandbox takes off, best-effort or strict, not '%s'", optarg);
        c->o.sandbox = strcmp(optarg, "off") ? optarg : NULL;
        return 0;
    case OPT_NO_NATIVE:
        return set_no_native(c, "--no-native", optarg);
    case OPT_ARTIFACT_DIR:
        c->o.artifact_dir = optarg;
        return 0;
    case OPT_PERSIST:
        return add_persist(c, optarg);
    default:
        return rn_cli_opt_error("replay", ch, argv);
    }
}

static int set_event(struct cli *c, const char *arg)
{
    if (c->o.event_name)
        return rn_cli_usage_error("replay", "unexpected argument '%s'", arg);
    if (!*arg)
        return rn_cli_usage_error("replay", "empty event name");
    c->o.event_name = arg;
    return 0;
}

/* Returns 0 to go on, 1 after --help, 2 on a usage error. */
static int parse_args(struct cli *c, int argc, char **argv)
{
    int ch, r;

    optind = 0;
    opterr = 0;
    while (optind < argc || optind == 0) {
        ch = getopt_long(argc, argv, "+:W:j:e:s:lnC:vh", long_opts, NULL);
        if (ch == -1) {
            if (optind >= argc || strcmp(argv[optind - 1], "--") == 0)
                break;
            r = set_event(c, argv[optind++]); /* options may follow the event name */
        } else if (ch == 'h') {
            help();
            return 1;
        } else {
            r = one_opt(c, ch, argv);
        }
        if (r)
            return r;
    }
    for (; optind < argc; optind++) {
        r = set_event(c, argv[optind]);
        if (r)
            return r;
    }
    return 0;
}

/* ---- dotenv files (as act reads them with godotenv) -------------------- */

static const char *skip_ws(const char *p)
{
    while (*p == ' ' || *p == '\t')
        p++;
    return p;
}

/* A double-quoted value: \n, \r, \t, \\ and \" unescaped; may span lines. */
static const char *dq_value(const char *p, struct gr_buf *v)
{
    int r = 0;

    for (p++; *p && *p != '"' && r == 0; p++) {
        if (*p == '\\' && p[1]) {
            p++;
            r = gr_buf_addch(v, *p == 'n' ? '\n' : *p == 'r' ? '\r' : *p == 't' ? '\t' : *p);
        } else {
            r = gr_buf_addch(v, *p);
        }
    }
    return *p == '"' ? p + 1 : NULL;
}

static const char *sq_value(const char *p, struct gr_buf *v)
{
    const char *e = strchr(p + 1, '\'');

    if (!e || gr_buf_add(v, p + 1, (size_t)(e - p - 1)) < 0)
        return NULL;
    return e + 1;
}

static const char *plain_value(const char *p, struct gr_buf *v)
{
    const char *e = p + strcspn(p, "\n"), *hash = p;

    /* " #" starts a comment */
    while ((hash = strchr(hash, '#')) != NULL && hash < e) {
        if (hash > p && (hash[-1] == ' ' || hash[-1] == '\t')) {
            e = hash;
            break;
        }
        hash++;
    }
    while (e > p && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r'))
        e--;
    if (gr_buf_add(v, p, (size_t)(e - p)) < 0)
        return NULL;
    return p + strcspn(p, "\n");
}

/* One "KEY=VALUE" (or "KEY: VALUE", "export KEY=VALUE") entry at p; returns the rest or NULL. */
static const char *dotenv_entry(const char *p, json_t *into)
{
    struct gr_buf v = GR_BUF_INIT(REPLAY_MAX_FILE);
    const char *k = p, *sep;
    char *key;

    if (strncmp(p, "export ", 7) == 0)
        k = p = skip_ws(p + 7);
    p += strcspn(p, "=:\n");
    if (*p != '=' && *p != ':')
        return NULL;
    sep = p;
    while (sep > k && (sep[-1] == ' ' || sep[-1] == '\t'))
        sep--;
    if (sep == k)
        return NULL;
    key = gr_xstrndup(k, (size_t)(sep - k));
    p = skip_ws(p + 1);
    if (*p == '"')
        p = dq_value(p, &v);
    else if (*p == '\'')
        p = sq_value(p, &v);
    else
        p = plain_value(p, &v);
    if (p)
        json_object_set_new(into, key, json_string(v.ptr));
    free(key);
    gr_buf_release(&v);
    return p;
}

static int load_dotenv(const char *path, json_t *into)
{
    char *text = NULL;
    const char *p;
    int line = 1, r;

    r = gr_file_read(path, REPLAY_MAX_FILE, &text, NULL);
    if (r < 0) {
        fprintf(stderr, "ghrun replay: cannot read '%s': %s\n", path, gr_strerror(r));
        return 2;
    }
    for (p = text; *p;) {
        const char *start = p = skip_ws(p);
        if (*p == '\n' || *p == '\r' || *p == '#' || !*p) {
            p += strcspn(p, "\n");
        } else {
            p = dotenv_entry(p, into);
            if (!p) {
                fprintf(stderr, "%s:%d: invalid line (expected KEY=VALUE)\n", path, line);
                free(text);
                return 2;
            }
        }
        for (; start < p; start++)
            line += *start == '\n';
        if (*p == '\n') {
            p++;
            line++;
        } else if (*p) {
            p += strcspn(p, "\n");
        }
    }
    free(text);
    return 0;
}

/* Files first, then the K=V flags, so that flags win. */
static int apply_files(json_t *files, json_t *obj)
{
    json_t *merged = json_object(), *f;
    size_t i;
    int r = 0;

    json_array_foreach(files, i, f)
    {
        r = load_dotenv(json_string_value(f), merged);
        if (r)
            break;
    }
    json_object_update(merged, obj);
    json_object_clear(obj);
    json_object_update(obj, merged);
    json_decref(merged);
    return r;
}

static int load_event(const char *path, json_t **ret)
{
    json_error_t e;
    json_t *v;

    v = json_load_file(path, 0, &e);
    if (!v) {
        fprintf(stderr, "%s:%d:%d: invalid event payload: %s\n", path, e.line, e.column, e.text);
        return 2;
    }
    if (!json_is_object(v)) {
        fprintf(stderr, "%s: invalid event payload: not a JSON object\n", path);
        json_decref(v);
        return 2;
    }
    *ret = v;
    return 0;
}

/* ---- workflow files ---------------------------------------------------- */

static int str_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static bool is_workflow_name(const char *n)
{
    return n[0] != '.' && (gr_endswith(n, ".yml") || gr_endswith(n, ".yaml"));
}

/* *.yml / *.yaml of a directory in name order, or the file itself. */
static int list_workflows(const char *path, char ***ret, size_t *ret_n)
{
    char **files = NULL;
    size_t n = 0, cap = 0;
    struct dirent *de;
    DIR *d;

    if (!gr_path_is_dir(path)) {
        if (!gr_path_exists(path)) {
            fprintf(stderr, "ghrun replay: '%s': no such file or directory\n", path);
            return 2;
        }
        files = gr_xcalloc(1, sizeof(*files));
        files[n++] = gr_xstrdup(path);
        goto out;
    }
    d = opendir(path);
    if (!d) {
        fprintf(stderr, "ghrun replay: cannot open '%s': %s\n", path, strerror(errno));
        return 2;
    }
    while ((de = readdir(d)) != NULL && n < REPLAY_MAX_WORKFLOWS) {
        char *full;
        if (!is_workflow_name(de->d_name))
            continue;
        full = gr_path_join(path, de->d_name);
        if (gr_path_is_dir(full)) {
            free(full);
            continue;
        }
        GR_GROW(files, cap, n + 1);
        files[n++] = full;
    }
    closedir(d);
    qsort(files, n, sizeof(*files), str_cmp);
out:
    *ret = files;
    *ret_n = n;
    return 0;
}

static char *workflows_path(const struct cli *c)
{
    const char *dir = c->o.directory ? c->o.directory : ".";

    if (!c->workflows)
        return gr_path_join(dir, ".github/workflows");
    /* a relative -W is taken from the current directory when it exists there, else from -C */
    if (c->workflows[0] == '/' || !c->o.directory || gr_path_exists(c->workflows))
        return gr_xstrdup(c->workflows);
    return gr_path_join(dir, c->workflows);
}

static void print_diag(const struct gr_diag *d)
{
    char line[1024];

    gr_diag_format(d, line, sizeof(line));
    fprintf(stderr, "%s\n", line);
}

/* Load one workflow; on error print every problem and return 2. */
static int load_one(const char *path, struct ex_workflow **ret)
{
    struct ex_diags diags = {0};
    struct gr_diag d = {0};
    size_t i;
    int r;

    r = ex_workflow_load(path, ret, &diags, &d);
    if (r < 0) {
        if (diags.n == 0) {
            if (!d.file)
                d.file = path;
            print_diag(&d);
        }
        for (i = 0; i < diags.n; i++)
            print_diag(&diags.items[i]);
    }
    ex_diags_release(&diags);
    return r < 0 ? 2 : 0;
}

/* ---- planning ---------------------------------------------------------- */

struct loaded {
    struct ex_workflow **wfs;
    struct ex_plan **plans;
    size_t n; /* workflows loaded */
    size_t n_plans;
    bool failed;    /* some file or plan had an error (already printed) */
    bool job_found; /* -j named a job of some workflow */
};

static void loaded_release(struct loaded *l)
{
    size_t i;

    for (i = 0; i < l->n_plans; i++)
        ex_plan_free(l->plans[i]);
    for (i = 0; i < l->n; i++)
        ex_workflow_free(l->wfs[i]);
    free(l->plans);
    free(l->wfs);
}

static void plan_opts(const struct rn_replay_opts *o, struct ex_plan_opts *po)
{
    *po = (struct ex_plan_opts){
        .event_name = o->event_name,
        .event_payload = o->event_payload,
        .inputs = o->inputs,
        .secrets = o->secrets,
        .vars = o->vars,
        .env = o->env,
        .matrix_filter = json_object_size(o->matrix_filter) ? o->matrix_filter : NULL,
        .job_id = o->job_id,
        .repo_dir = o->directory ? o->directory : ".",
        .ignore_filters = o->ignore_filters,
    };
}

static void plan_one(struct loaded *l, struct ex_workflow *wf, const struct ex_plan_opts *po)
{
    struct gr_diag d = {0};
    struct ex_plan *p = NULL;
    int r;

    r = ex_plan_build(wf, po, &p, &d);
    if (r == GR_ENOTFOUND && po->job_id)
        return; /* -j: this workflow does not have the job */
    if (r < 0) {
        if (!d.file)
            d.file = wf->path;
        print_diag(&d);
        l->failed = true;
        return;
    }
    l->job_found = true;
    l->plans[l->n_plans++] = p;
}

static int load_and_plan(const struct cli *c, struct loaded *l)
{
    struct ex_plan_opts po;
    char *path = workflows_path(c), **files = NULL;
    size_t n = 0, i;
    int r;

    r = list_workflows(path, &files, &n);
    free(path);
    if (r)
        return r;
    l->wfs = gr_xcalloc(n + 1, sizeof(*l->wfs));
    l->plans = gr_xcalloc(n + 1, sizeof(*l->plans));
    plan_opts(&c->o, &po);
    for (i = 0; i < n; i++) {
        if (load_one(files[i], &l->wfs[l->n]) != 0) {
            l->failed = true;
            continue;
        }
        plan_one(l, l->wfs[l->n++], &po);
    }
    for (i = 0; i < n; i++)
        free(files[i]);
    free(files);
    if (n == 0) {
        fprintf(stderr, "ghrun replay: no workflow files (*.yml, *.yaml) found\n");
        return 2;
    }
    if (c->o.job_id && !l->job_found && !l->failed) {
        fprintf(stderr, "ghrun replay: job '%s' not found in any workflow\n", c->o.job_id);
        return 2;
    }
    return 0;
}

/* ---- output ------------------------------------------------------------ */

static json_t *plan_json(const struct ex_plan *p)
{
    json_t *jobs = json_array();
    size_t i, k;

    for (i = 0; i < p->n_jobs; i++) {
        const struct ex_plan_job *j = &p->jobs[i];
        json_t *legs = json_array();
        for (k = 0; k < j->n_legs; k++)
            json_array_append_new(legs, json_pack("{s:s, s:O?}", "name", j->legs[k].display_name,
                                                  "matrix", j->legs[k].matrix));
        json_array_append_new(jobs,
                              json_pack("{s:s, s:i, s:b, s:o}", "id", j->id, "stage", j->stage,
                                        "matrix_deferred", j->matrix_deferred, "legs", legs));
    }
    return json_pack("{s:s, s:s, s:b, s:s?, s:i, s:o}", "workflow", p->wf->path ? p->wf->path : "",
                     "event", p->event_name, "triggered", p->triggered, "not_triggered",
                     p->not_triggered, "stages", p->n_stages, "jobs", jobs);
}

static int write_json(const char *path, const struct loaded *l)
{
    json_t *arr = json_array(), *doc;
    size_t i;
    char *text;
    int r;

    for (i = 0; i < l->n_plans; i++)
        json_array_append_new(arr, plan_json(l->plans[i]));
    doc = json_pack("{s:o}", "plans", arr);
    text = json_dumps(doc, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    json_decref(doc);
    r = gr_file_write_atomic(path, text, strlen(text), 0644);
    free(text);
    if (r < 0) {
        fprintf(stderr, "ghrun replay: cannot write '%s': %s\n", path, gr_strerror(r));
        return 2;
    }
    return 0;
}

static int show(const struct cli *c, const struct loaded *l)
{
    size_t i;

    if (c->list)
        ex_plan_print_list_many((const struct ex_plan *const *)l->plans, l->n_plans, stdout);
    for (i = 0; c->dryrun && i < l->n_plans; i++) {
        if (i > 0 || c->list)
            printf("\n");
        ex_plan_print_dryrun(l->plans[i], stdout);
    }
    fflush(stdout);
    return 0;
}

static int run_plans(const struct cli *c, const struct loaded *l)
{
    size_t i;
    int r, worst = 0;

    for (i = 0; i < l->n_plans; i++) {
        if (!l->plans[i]->triggered) {
            fprintf(stderr, "ghrun replay: %s: not triggered by '%s': %s\n", l->plans[i]->wf->path,
                    l->plans[i]->event_name,
                    l->plans[i]->not_triggered ? l->plans[i]->not_triggered : "filtered");
            continue;
        }
        r = rn_replay_run(l->plans[i], &c->o);
        if (r > worst)
            worst = r;
        if (r == 2)
            break;
    }
    return worst;
}

/* ---- the command ------------------------------------------------------- */

static void cli_init(struct cli *c)
{
    *c = (struct cli){0};
    c->o.inputs = json_object();
    c->o.secrets = json_object();
    c->o.vars = json_object();
    c->o.env = json_object();
    c->o.matrix_filter = json_object();
    c->secret_files = json_array();
    c->var_files = json_array();
    c->env_files = json_array();
    c->o.sandbox = "best-effort"; /* steps run in gr-sandbox unless --sandbox off */
    c->persist = GR_BUF_INIT(64 * 1024);
}

static void cli_release(struct cli *c)
{
    json_decref(c->o.event_payload);
    json_decref(c->o.inputs);
    json_decref(c->o.secrets);
    json_decref(c->o.vars);
    json_decref(c->o.env);
    json_decref(c->o.matrix_filter);
    json_decref(c->secret_files);
    json_decref(c->var_files);
    json_decref(c->env_files);
    gr_buf_release(&c->persist);
}

/* GHRUN_NO_NATIVE when no --no-native flag was given. */
static int no_native_env(struct cli *c)
{
    const char *env = getenv("GHRUN_NO_NATIVE");

    if (c->o.no_native || c->o.native_off || !env || !*env)
        return 0;
    return set_no_native(c, "GHRUN_NO_NATIVE", env);
}

static int prepare(struct cli *c)
{
    int r;

    if (c->o.directory && !gr_path_is_dir(c->o.directory))
        return rn_cli_usage_error("replay", "'%s' is not a directory", c->o.directory);
    r = no_native_env(c);
    if (!r)
        r = persist_env(c);
    if (!r)
        r = apply_files(c->secret_files, c->o.secrets);
    if (!r)
        r = apply_files(c->var_files, c->o.vars);
    if (!r)
        r = apply_files(c->env_files, c->o.env);
    if (!r && c->eventpath)
        r = load_event(c->eventpath, &c->o.event_payload);
    return r;
}

int rn_cmd_replay(int argc, char **argv)
{
    struct loaded l = {0};
    struct cli c;
    int r;

    cli_init(&c);
    r = parse_args(&c, argc, argv);
    if (r == 1) {
        r = 0;
        goto out;
    }
    if (r == 0)
        r = prepare(&c);
    if (r)
        goto out;
    if (c.o.verbose)
        gr_log_set_level(GR_LOG_DEBUG);
    r = load_and_plan(&c, &l);
    if (r)
        goto out;
    if (c.list || c.dryrun) {
        (void)show(&c, &l);
        if (c.o.json_path)
            r = write_json(c.o.json_path, &l);
        if (l.failed)
            r = 2;
        goto out;
    }
    r = l.failed ? 2 : run_plans(&c, &l);
out:
    loaded_release(&l);
    cli_release(&c);
    return r;
}
