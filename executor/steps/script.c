/*
 * `run:` steps. Shells follow actions/runner's ScriptHandlerHelpers and
 * ScriptHandler (workflow-semantics.md section 4): built-in templates for
 * bash, sh, python, pwsh, powershell and cmd, custom templates holding {0},
 * an unspecified shell meaning `bash -e {0}` when bash is on PATH (else
 * `sh -e {0}`), the script written to $RUNNER_TEMP with the program's
 * extension, and the template split with the Windows command-line rules
 * that .NET applies to the runner's argument string.
 *
 * One deliberate difference: the runner substitutes {0} into the argument
 * string before splitting it; we split first and substitute inside each
 * argument, so a RUNNER_TEMP holding spaces or quotes stays one argument.
 */
#include "engine_internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct builtin_shell {
    const char *name, *args, *ext;
};

/* src/Runner.Worker/Handlers/ScriptHandlerHelpers.cs, _defaultArguments and extensions */
static const struct builtin_shell builtin_shells[] = {
    {"bash", "--noprofile --norc -e -o pipefail {0}", ".sh"},
    {"sh", "-e {0}", ".sh"},
    {"python", "{0}", ".py"},
    {"pwsh", "-command \". '{0}'\"", ".ps1"},
    {"powershell", "-command \". '{0}'\"", ".ps1"},
    {"cmd", "/D /E:ON /V:OFF /S /C \"CALL \"{0}\"\"", ".cmd"},
};

static const struct builtin_shell *builtin_find(const char *prog)
{
    for (size_t i = 0; i < GR_ARRAY_SIZE(builtin_shells); i++) {
        if (strcmp(builtin_shells[i].name, prog) == 0)
            return &builtin_shells[i];
    }
    return NULL;
}

void ex__argv_free(char **argv)
{
    if (!argv)
        return;
    for (size_t i = 0; argv[i]; i++)
        free(argv[i]);
    free(argv);
}

static void argv_push(char ***argv, size_t *n, size_t *cap, char *s)
{
    GR_GROW(*argv, *cap, *n + 2);
    (*argv)[(*n)++] = s;
    (*argv)[*n] = NULL;
}

/* One argument at s; returns the position after it. Rules of CommandLineToArgvW / .NET. */
static const char *split_one(const char *s, struct gr_buf *arg)
{
    bool quoted = false;
    int r = 0;

    while (*s && (quoted || (*s != ' ' && *s != '\t'))) {
        size_t bs = 0;

        while (s[bs] == '\\')
            bs++;
        if (s[bs] == '"') {
            for (size_t i = 0; i < bs / 2; i++)
                r |= gr_buf_addch(arg, '\\');
            if (bs % 2) {
                r |= gr_buf_addch(arg, '"');
            } else if (quoted && s[bs + 1] == '"') {
                r |= gr_buf_addch(arg, '"');
                s++;
            } else {
                quoted = !quoted;
            }
            s += bs + 1;
        } else if (bs) {
            for (size_t i = 0; i < bs; i++)
                r |= gr_buf_addch(arg, '\\');
            s += bs;
        } else {
            r |= gr_buf_addch(arg, *s++);
        }
    }
    (void)r; /* unlimited buffer */
    return s;
}

char **ex__split_args(const char *s)
{
    char **argv = NULL;
    size_t n = 0, cap = 0;

    argv_push(&argv, &n, &cap, NULL);
    n = 0;
    while (s && *s) {
        struct gr_buf arg = GR_BUF_INIT(0);

        while (*s == ' ' || *s == '\t')
            s++;
        if (!*s)
            break;
        s = split_one(s, &arg);
        argv_push(&argv, &n, &cap, gr_buf_detach(&arg, NULL));
    }
    return argv;
}

char *ex__which(const char *prog, const char *path)
{
    const char *p = path ? path : "";

    if (!prog || !*prog)
        return NULL;
    if (strchr(prog, '/'))
        return access(prog, X_OK) == 0 ? gr_xstrdup(prog) : NULL;
    for (;;) {
        const char *end = strchr(p, ':');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        char *cand = gr_xasprintf("%.*s/%s", (int)len, len ? p : ".", prog);

        if (access(cand, X_OK) == 0 && !gr_path_is_dir(cand))
            return cand;
        free(cand);
        if (!end)
            return NULL;
        p = end + 1;
    }
}

static int shell_from(const char *cmdline, const char *ext_prog, struct ex__shell *ret)
{
    const struct builtin_shell *b = builtin_find(ext_prog);

    ret->argv = ex__split_args(cmdline);
    ret->ext = b ? b->ext : "";
    ret->pwsh = b && b->ext[1] == 'p' && b->ext[2] == 's';
    return 0;
}

int ex__shell_parse(const char *shell, const char *path, struct ex__shell *ret,
                    struct gr_diag *reterr)
{
    const struct builtin_shell *b;
    char **words;
    char *cmd, *bash;
    bool has0 = false;
    int r;

    memset(ret, 0, sizeof(*ret));
    if (!shell || !*shell) {
        /* Unspecified: bash -e {0} when bash is on PATH, else sh -e {0}. */
        bash = ex__which("bash", path);
        r = shell_from(bash ? "bash -e {0}" : "sh -e {0}", "sh", ret);
        ret->prog = bash; /* found already: the step need not search PATH again */
        return r;
    }
    words = ex__split_args(shell);
    if (!words[0]) {
        ex__argv_free(words);
        return gr_diag_set(reterr, GR_EFAILED, NULL, 0, 0, "invalid shell option: empty");
    }
    b = builtin_find(words[0]);
    if (!words[1] && b) {
        cmd = gr_xasprintf("%s %s", b->name, b->args);
        r = shell_from(cmd, b->name, ret);
        free(cmd);
        ex__argv_free(words);
        return r;
    }
    for (size_t i = 1; words[i]; i++)
        has0 |= strstr(words[i], "{0}") != NULL;
    if (!has0) {
        ex__argv_free(words);
        return gr_diag_set(reterr, GR_EFAILED, NULL, 0, 0,
                           "invalid shell option '%s': shell must be a valid built-in (bash, sh, "
                           "cmd, powershell, pwsh) or a format string containing '{0}'",
                           shell);
    }
    r = shell_from(shell, words[0], ret);
    ex__argv_free(words);
    return r;
}

void ex__shell_release(struct ex__shell *sh)
{
    ex__argv_free(sh->argv);
    sh->argv = NULL;
    free(sh->prog);
    sh->prog = NULL;
}

char *ex__script_text(const struct ex__shell *sh, const char *run)
{
    if (sh->pwsh)
        return gr_xasprintf("$ErrorActionPreference = 'stop'\n%s\nif ((Test-Path -LiteralPath "
                            "variable:\\LASTEXITCODE)) { exit $LASTEXITCODE }",
                            run);
    return gr_xstrdup(run);
}

/* Replace each {0} in s with path; "{{" and "}}" are String.Format escapes. */
static char *format0(const char *s, const char *path)
{
    struct gr_buf b = GR_BUF_INIT(0);
    int r = 0;

    while (*s) {
        if (strncmp(s, "{0}", 3) == 0) {
            r |= gr_buf_adds(&b, path);
            s += 3;
        } else if ((s[0] == '{' && s[1] == '{') || (s[0] == '}' && s[1] == '}')) {
            r |= gr_buf_addch(&b, *s);
            s += 2;
        } else {
            r |= gr_buf_addch(&b, *s++);
        }
    }
    (void)r;
    return gr_buf_detach(&b, NULL);
}

char **ex__shell_argv(const struct ex__shell *sh, const char *script_path)
{
    size_t n = 0;
    char **out;

    while (sh->argv[n])
        n++;
    out = gr_xcalloc(n + 1, sizeof(*out));
    for (size_t i = 0; i < n; i++)
        out[i] = i == 0 ? gr_xstrdup(sh->argv[0]) : format0(sh->argv[i], script_path);
    return out;
}

/* ---- the step ---------------------------------------------------------- */

static const struct ex_node *defaults_get(const struct ex_node *defaults, const char *key)
{
    return ex_node_get(ex_node_get(defaults, "run"), key);
}

/* step value, else job defaults.run, else workflow defaults.run */
static const struct ex_node *run_setting(const struct ex__leg *leg, const struct ex_node *step_v,
                                         const char *key)
{
    const struct ex_node *n = step_v;

    if (!n)
        n = defaults_get(leg->jr->pj->job->defaults, key);
    if (!n)
        n = defaults_get(leg->plan->wf->defaults, key);
    return n;
}

static char *resolve_workdir(const struct ex__leg *leg, const char *wd)
{
    if (!wd || !*wd)
        return gr_xstrdup(leg->run->workdir);
    if (wd[0] == '/')
        return gr_xstrdup(wd);
    return gr_path_join(leg->run->workdir, wd);
}

static char *write_script(struct ex__stepexec *se, const struct ex__shell *sh, const char *run,
                          struct gr_diag *reterr)
{
    static unsigned seq;
    char *text = ex__script_text(sh, run);
    char *path =
        gr_xasprintf("%s/%08x-%04x%s", se->leg->temp_dir, (unsigned)uv_hrtime(), ++seq, sh->ext);
    int r = ex__scratch_new(se->leg, EX__SLOT_SCRIPT, path, text, strlen(text));

    free(text);
    if (r < 0) {
        gr_diag_set(reterr, r, NULL, 0, 0, "cannot write the script file '%s': %s", path,
                    gr_strerror(r));
        free(path);
        return NULL;
    }
    return path;
}

struct script_parts {
    char *run, *shell, *wd, *path;
    char **argv, **wrapped, **envp;
    struct ex__shell sh;
};

static void parts_release(struct script_parts *p)
{
    free(p->run);
    free(p->shell);
    free(p->wd);
    free(p->path);
    ex__argv_free(p->argv);
    sb_argv_free(p->wrapped);
    ex__argv_free(p->envp);
    ex__shell_release(&p->sh);
}

static int script_eval(struct ex__stepexec *se, struct script_parts *p, struct gr_diag *d)
{
    struct ex__leg *leg = se->leg;
    const struct ex_step *st = se->step;
    struct ex_eval_env ev;
    char *wd = NULL;
    int r;

    ex__leg_eval_env(leg, &ev);
    r = ex__eval_string(st->run, &ev, "", &p->run, d);
    if (r < 0)
        return r;
    r = ex__eval_string(run_setting(leg, st->shell, "shell"), &ev, "", &p->shell, d);
    if (r < 0)
        return r;
    r = ex__eval_string(run_setting(leg, st->working_directory, "working-directory"), &ev, "", &wd,
                        d);
    if (r < 0)
        return r;
    p->wd = resolve_workdir(leg, wd);
    free(wd);
    if (!gr_path_is_dir(p->wd))
        return gr_diag_set(d, GR_EFAILED, NULL, 0, 0, "working directory '%s' does not exist",
                           p->wd);
    return 0;
}

static void script_line(void *ctx, const char *line, size_t len);
static void script_done(void *ctx, int status, bool timed_out);

/* A step the run's options keep out of the sandbox (ex_run_opts.host_steps). */
static bool host_step(const struct ex__stepexec *se)
{
    for (const char *const *s = se->leg->run->opts->host_steps; s && *s; s++)
        if (!se->frame && strcmp(*s, se->ctx_name) == 0)
            return true;
    return false;
}

static int script_prepare(struct ex__stepexec *se, struct script_parts *p, struct gr_diag *d)
{
    const json_t *pathv = json_object_get(se->env, "PATH");
    const char *base = pathv ? json_string_value(pathv) : getenv("PATH");
    char *prog;
    int r;

    r = script_eval(se, p, d);
    if (r < 0)
        return r;
    p->path = ex__path_value(se->leg->path_list, base);
    r = ex__shell_parse(p->shell, p->path, &p->sh, d);
    if (r < 0)
        return r;
    prog = p->sh.prog ? gr_xstrdup(p->sh.prog) : ex__which(p->sh.argv[0], p->path);
    if (!prog)
        return gr_diag_set(d, GR_EFAILED, NULL, 0, 0,
                           "shell '%s' cannot run: '%s' was not found on PATH",
                           *p->shell ? p->shell : "bash", p->sh.argv[0]);
    se->script = write_script(se, &p->sh, p->run, d);
    if (!se->script) {
        free(prog);
        return GR_EFAILED;
    }
    p->argv = ex__shell_argv(&p->sh, se->script);
    free(p->argv[0]);
    p->argv[0] = prog;
    r = sb_wrap_command(host_step(se) ? NULL : se->leg->sb, p->argv, &p->wrapped);
    if (r < 0)
        return gr_diag_set(d, r, NULL, 0, 0, "sandbox cannot wrap the step: %s", gr_strerror(r));
    p->envp = ex__step_process_env(se);
    return 0;
}

int ex__script_run(struct ex__stepexec *se)
{
    struct script_parts p = {0};
    struct gr_diag d = {0};
    struct ex__proc_opts o;
    int r;

    r = script_prepare(se, &p, &d);
    if (r < 0)
        goto fail;
    o = (struct ex__proc_opts){
        .argv = p.wrapped,
        .envp = p.envp,
        .cwd = p.wd,
        .timeout_s = se->timeout_min * 60.0,
        .on_line = script_line,
        .on_done = script_done,
        .ctx = se,
        .step_socket = host_step(se) ? NULL : sb_job_step_socket(se->leg->sb),
        .step_argv = p.argv,
    };
    r = ex__proc_start(se->leg->run->loop, &o, &se->leg->proc);
    if (r < 0) {
        gr_diag_set(&d, r, NULL, 0, 0, "cannot start '%s': %s", p.argv[0], gr_strerror(r));
        goto fail;
    }
    if (ex__proc_pgid(se->leg->proc) > 0) { /* 0: the job's init started it */
        GR_GROW(se->leg->pgids, se->leg->cap_pgids, se->leg->n_pgids + 1);
        se->leg->pgids[se->leg->n_pgids++] = ex__proc_pgid(se->leg->proc);
    }
    parts_release(&p);
    return 0;
fail:
    ex__leg_annotate(se->leg, se, "error", d.msg, NULL);
    parts_release(&p);
    ex__step_finished(se, EX_RESULT_FAILURE);
    return 1;
}

static void script_line(void *ctx, const char *line, size_t len)
{
    ex__step_line(ctx, line, len);
}

static void script_done(void *ctx, int status, bool timed_out)
{
    ex__step_proc_done(ctx, status, timed_out);
}
