/*
 * Action metadata: action.yml / action.yaml into struct ex_action, and the
 * `uses:` reference syntax. Checks follow actions/runner's
 * ActionManifestManager and its schema (action_yaml.json): `runs` and
 * `runs.using` are required; node actions need `main`, docker actions
 * `image`, composite actions a non-empty `steps` list whose items each
 * carry exactly one of `run` (with `shell`, which composite run steps must
 * name) or `uses`.
 *
 * The runtime side follows: a `uses:` step is parsed, its directory found
 * (the workspace for ./path, the resolver for owner/repo), its action.yml
 * loaded and kept for the leg (steps and post stages point into it), its
 * inputs evaluated (`with:` first, then each declared input's default,
 * evaluated in the step's contexts), and it runs as a composite frame or as
 * node stages (steps/). Post stages run after the job's steps, last
 * registered first (actions/runner JobExtension / ExecutionContext
 * RegisterPostJobStep).
 */
#include "action_internal.h"
#include "workflow_internal.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define ACTION_MAX_BYTES (1024 * 1024)

static int perr(const char *path, const struct ex_node *at, struct gr_diag *d, const char *fmt, ...)
    GR_PRINTF(4, 5);

static int perr(const char *path, const struct ex_node *at, struct gr_diag *d, const char *fmt, ...)
{
    char msg[480];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    return gr_diag_set(d, GR_EINVAL_WF, path, at ? at->line : 0, at ? at->col : 0, "%s", msg);
}

/* A scalar string value of key in map, or NULL; non-scalars are errors. */
static int scalar_of(const char *path, const struct ex_node *map, const char *key, const char **ret,
                     struct gr_diag *d)
{
    const struct ex_node *n = ex_node_get(map, key);

    *ret = NULL;
    if (!n || (n->kind == EX_NODE_SCALAR && n->type == EX_SCALAR_NULL))
        return 0;
    if (n->kind != EX_NODE_SCALAR)
        return perr(path, n, d, "'%s' must be a string, not a %s", key, ex_node_kind_name(n));
    *ret = n->str;
    return 0;
}

static int parse_inputs(struct ex_action *a, const struct ex_node *n, struct gr_diag *d)
{
    if (!n || (n->kind == EX_NODE_SCALAR && n->type == EX_SCALAR_NULL))
        return 0;
    if (n->kind != EX_NODE_MAP)
        return perr(a->path, n, d, "'inputs' must be a mapping, not a %s", ex_node_kind_name(n));
    a->inputs = gr_xcalloc(n->n + 1, sizeof(*a->inputs));
    for (size_t i = 0; i < n->n; i++) {
        const struct ex_node *v = n->vals[i];
        struct ex_action_input *in = &a->inputs[a->n_inputs++];

        in->name = n->keys[i]->str;
        if (v->kind == EX_NODE_SCALAR && v->type == EX_SCALAR_NULL)
            continue;
        if (v->kind != EX_NODE_MAP)
            return perr(a->path, v, d, "input '%s' must be a mapping, not a %s", in->name,
                        ex_node_kind_name(v));
        in->default_ = ex_node_get(v, "default");
        in->required = ex_node_get(v, "required");
        in->deprecation = ex_node_get(v, "deprecationMessage");
    }
    return 0;
}

static int parse_outputs(struct ex_action *a, const struct ex_node *n, struct gr_diag *d)
{
    if (!n || (n->kind == EX_NODE_SCALAR && n->type == EX_SCALAR_NULL))
        return 0;
    if (n->kind != EX_NODE_MAP)
        return perr(a->path, n, d, "'outputs' must be a mapping, not a %s", ex_node_kind_name(n));
    a->outputs = gr_xcalloc(n->n + 1, sizeof(*a->outputs));
    for (size_t i = 0; i < n->n; i++) {
        const struct ex_node *v = n->vals[i];
        struct ex_action_output *o = &a->outputs[a->n_outputs++];

        o->name = n->keys[i]->str;
        if (v->kind != EX_NODE_MAP && !(v->kind == EX_NODE_SCALAR && v->type == EX_SCALAR_NULL))
            return perr(a->path, v, d, "output '%s' must be a mapping, not a %s", o->name,
                        ex_node_kind_name(v));
        o->value = ex_node_get(v, "value");
        if (a->kind == EX_ACTION_COMPOSITE && !o->value)
            return perr(a->path, v, d, "output '%s' of a composite action needs 'value'", o->name);
    }
    return 0;
}

static const char *const step_keys[] = {
    "name",
    "id",
    "if",
    "run",
    "shell",
    "uses",
    "with",
    "env",
    "working-directory",
    "continue-on-error",
    "timeout-minutes",
};

static bool step_key_known(const char *k)
{
    for (size_t i = 0; i < GR_ARRAY_SIZE(step_keys); i++) {
        if (strcmp(step_keys[i], k) == 0)
            return true;
    }
    return false;
}

static int parse_step(struct ex_action *a, const struct ex_node *n, struct ex_step *st,
                      struct gr_diag *d)
{
    if (n->kind != EX_NODE_MAP)
        return perr(a->path, n, d, "a composite step must be a mapping, not a %s",
                    ex_node_kind_name(n));
    for (size_t i = 0; i < n->n; i++) {
        if (!step_key_known(n->keys[i]->str))
            return perr(a->path, n->keys[i], d, "unexpected key '%s' in a composite step",
                        n->keys[i]->str);
    }
    st->node = n;
    st->id = ex_node_str(ex_node_get(n, "id"));
    st->name = ex_node_get(n, "name");
    st->if_ = ex_node_get(n, "if");
    st->uses = ex_node_get(n, "uses");
    st->run = ex_node_get(n, "run");
    st->shell = ex_node_get(n, "shell");
    st->working_directory = ex_node_get(n, "working-directory");
    st->env = ex_node_get(n, "env");
    st->with = ex_node_get(n, "with");
    st->continue_on_error = ex_node_get(n, "continue-on-error");
    st->timeout_minutes = ex_node_get(n, "timeout-minutes");
    if (!st->run && !st->uses)
        return perr(a->path, n, d, "a composite step needs 'run' or 'uses'");
    if (st->run && st->uses)
        return perr(a->path, st->uses, d, "a composite step has both 'run' and 'uses'");
    if (st->run && !st->shell)
        return perr(a->path, st->run, d, "a composite run step needs 'shell'");
    if (st->uses && !ex_node_str(st->uses))
        return perr(a->path, st->uses, d, "'uses' must be a string");
    return 0;
}

static int parse_steps(struct ex_action *a, const struct ex_node *runs, struct gr_diag *d)
{
    const struct ex_node *n = ex_node_get(runs, "steps");
    int r;

    if (!n || (n->kind == EX_NODE_SCALAR && n->type == EX_SCALAR_NULL))
        return perr(a->path, runs, d, "a composite action needs 'runs.steps'");
    if (n->kind != EX_NODE_SEQ)
        return perr(a->path, n, d, "'steps' must be a sequence, not a %s", ex_node_kind_name(n));
    if (n->n == 0)
        return perr(a->path, n, d, "'steps' of a composite action is empty");
    a->steps = gr_xcalloc(n->n, sizeof(*a->steps));
    for (size_t i = 0; i < n->n; i++) {
        a->steps[i].index = (int)i;
        r = parse_step(a, n->items[i], &a->steps[i], d);
        if (r < 0)
            return r;
        a->n_steps++;
    }
    return 0;
}

static int parse_node(struct ex_action *a, const struct ex_node *runs, struct gr_diag *d)
{
    int r = scalar_of(a->path, runs, "main", &a->main, d);

    if (r == 0)
        r = scalar_of(a->path, runs, "pre", &a->pre, d);
    if (r == 0)
        r = scalar_of(a->path, runs, "post", &a->post, d);
    if (r < 0)
        return r;
    if (!a->main || !*a->main)
        return perr(a->path, runs, d, "a %s action needs 'runs.main'", a->using);
    a->pre_if = ex_node_get(runs, "pre-if");
    a->post_if = ex_node_get(runs, "post-if");
    return 0;
}

static int parse_using(struct ex_action *a, const struct ex_node *runs, struct gr_diag *d)
{
    const struct ex_node *u = ex_node_get(runs, "using");
    static const int majors[] = {12, 16, 20, 24};
    int r;

    if (!u || !ex_node_str(u))
        return perr(a->path, u ? u : runs, d,
                    "'runs.using' is required (composite, node12, "
                    "node16, node20, node24 or docker)");
    a->using = u->str;
    if (strcmp(a->using, "composite") == 0) {
        a->kind = EX_ACTION_COMPOSITE;
        return parse_steps(a, runs, d);
    }
    if (strcmp(a->using, "docker") == 0) {
        a->kind = EX_ACTION_DOCKER;
        r = scalar_of(a->path, runs, "image", &a->image, d);
        if (r == 0 && !a->image)
            r = perr(a->path, runs, d, "a docker action needs 'runs.image'");
        return r;
    }
    for (size_t i = 0; i < GR_ARRAY_SIZE(majors); i++) {
        char name[8];

        snprintf(name, sizeof(name), "node%d", majors[i]);
        if (strcmp(a->using, name) == 0) {
            a->kind = EX_ACTION_NODE;
            a->node_major = majors[i];
            return parse_node(a, runs, d);
        }
    }
    return perr(a->path, u, d,
                "unknown runs.using '%s' (expected composite, node12, node16, node20, node24 "
                "or docker)",
                a->using);
}

static int parse_model(struct ex_action *a, struct gr_diag *d)
{
    const struct ex_node *root = ex_doc_root(a->doc);
    const struct ex_node *runs;
    int r;

    if (!root || root->kind != EX_NODE_MAP)
        return perr(a->path, root, d, "an action file must be a mapping");
    a->name = ex_node_get(root, "name");
    runs = ex_node_get(root, "runs");
    if (!runs)
        return perr(a->path, root, d, "'runs' is required");
    if (runs->kind != EX_NODE_MAP)
        return perr(a->path, runs, d, "'runs' must be a mapping, not a %s",
                    ex_node_kind_name(runs));
    r = parse_using(a, runs, d);
    if (r == 0)
        r = parse_inputs(a, ex_node_get(root, "inputs"), d);
    if (r == 0)
        r = parse_outputs(a, ex_node_get(root, "outputs"), d);
    return r;
}

/* Fold the position into the message: the path dies with the call. */
static int diag_detach(struct gr_diag *d, int r)
{
    char msg[sizeof(d->msg)];

    if (!d)
        return r;
    gr_diag_format(d, msg, sizeof(msg));
    return gr_diag_set(d, r, NULL, 0, 0, "%s", msg);
}

int ex_action_parse(const char *path, const char *src, size_t len, struct ex_action **ret,
                    struct gr_diag *reterr)
{
    struct ex_action *a = gr_xcalloc(1, sizeof(*a));
    const char *slash = strrchr(path, '/');
    int r;

    a->path = gr_xstrdup(path);
    a->dir = slash ? gr_xstrndup(path, (size_t)(slash - path)) : gr_xstrdup(".");
    r = ex_yaml_parse(path, src, len, &a->doc, reterr);
    if (r == 0)
        r = parse_model(a, reterr);
    if (r < 0) {
        r = diag_detach(reterr, r); /* a->path dies here */
        ex_action_free(a);
        return r;
    }
    *ret = a;
    return 0;
}

int ex_action_load(const char *dir, struct ex_action **ret, struct gr_diag *reterr)
{
    static const char *const names[] = {"action.yml", "action.yaml"};
    char *path = NULL, *src = NULL;
    size_t len = 0;
    int r = -ENOENT;

    for (size_t i = 0; i < GR_ARRAY_SIZE(names) && r == -ENOENT; i++) {
        free(path);
        path = gr_path_join(dir, names[i]);
        r = gr_file_read(path, ACTION_MAX_BYTES, &src, &len);
    }
    if (r == -ENOENT) {
        r = gr_diag_set(reterr, -ENOENT, NULL, 0, 0, "no action.yml or action.yaml in '%s'", dir);
    } else if (r < 0) {
        r = gr_diag_set(reterr, r, NULL, 0, 0, "cannot read '%s': %s", path, gr_strerror(r));
    } else {
        r = ex_action_parse(path, src, len, ret, reterr);
    }
    free(src);
    free(path);
    return r;
}

void ex_action_free(struct ex_action *a)
{
    if (!a)
        return;
    free(a->inputs);
    free(a->outputs);
    free(a->steps);
    ex_doc_free(a->doc);
    free(a->path);
    free(a->dir);
    free(a);
}

char *ex_action_input_env(const char *name)
{
    char *s = gr_xasprintf("INPUT_%s", name);

    for (char *p = s + 6; *p; p++)
        *p = *p == ' ' ? '_' : (char)toupper((unsigned char)*p);
    return s;
}

/* ---- uses: syntax ------------------------------------------------------ */

void ex_action_ref_release(struct ex_action_ref *r)
{
    free(r->owner);
    free(r->repo);
    free(r->path);
    free(r->ref);
    free(r->local);
    memset(r, 0, sizeof(*r));
}

static int remote_parse(const char *uses, struct ex_action_ref *ret, struct gr_diag *d)
{
    const char *at = strrchr(uses, '@');
    const char *s1 = strchr(uses, '/');
    const char *s2;

    if (!at || !at[1] || !s1 || s1 == uses || s1 > at || s1 + 1 == at || s1[1] == '/')
        return gr_diag_set(d, GR_EINVAL_WF, NULL, 0, 0,
                           "Expected format {owner}/{repo}[/path]@{ref}. Actual '%s'", uses);
    s2 = memchr(s1 + 1, '/', (size_t)(at - s1 - 1));
    ret->kind = EX_USES_REMOTE;
    ret->owner = gr_xstrndup(uses, (size_t)(s1 - uses));
    ret->repo = gr_xstrndup(s1 + 1, (size_t)((s2 ? s2 : at) - s1 - 1));
    ret->path = s2 ? gr_xstrndup(s2 + 1, (size_t)(at - s2 - 1)) : gr_xstrdup("");
    ret->ref = gr_xstrdup(at + 1);
    if (strstr(ret->path, "..") || strstr(ret->ref, "..") || strchr(ret->repo, '.') == ret->repo) {
        ex_action_ref_release(ret);
        return gr_diag_set(d, GR_EINVAL_WF, NULL, 0, 0, "invalid action reference '%s'", uses);
    }
    return 0;
}

int ex_action_ref_parse(const char *uses, struct ex_action_ref *ret, struct gr_diag *reterr)
{
    memset(ret, 0, sizeof(*ret));
    if (!uses || !*uses)
        return gr_diag_set(reterr, GR_EINVAL_WF, NULL, 0, 0, "'uses' is empty");
    if (gr_startswith(uses, "docker://")) {
        ret->kind = EX_USES_DOCKER;
        ret->local = gr_xstrdup(uses + 9);
        return 0;
    }
    if (gr_startswith(uses, "./") || gr_startswith(uses, "../") || strcmp(uses, ".") == 0) {
        ret->kind = EX_USES_LOCAL;
        ret->local = gr_xstrdup(uses);
        return 0;
    }
    return remote_parse(uses, ret, reterr);
}

/* ---- running a uses: step ---------------------------------------------- */

struct ex__actleg *ex__actleg_get(struct ex__leg *leg)
{
    if (!leg->act)
        leg->act = gr_xcalloc(1, sizeof(*leg->act));
    return leg->act;
}

static void post_release(struct ex__post *p);

static void post_release(struct ex__post *p)
{
    for (size_t i = 0; i < p->n_nested; i++)
        post_release(&p->nested[i]);
    free(p->nested);
    json_decref(p->env);
    json_decref(p->inputs_env);
    json_decref(p->state);
    json_decref(p->gh);
    free(p->name);
    free(p->key);
}

void ex__action_leg_free(struct ex__leg *leg)
{
    struct ex__actleg *al = leg->act;

    if (!al)
        return;
    for (size_t i = 0; i < al->n_posts; i++)
        post_release(&al->posts[i]);
    free(al->posts);
    if (al->postrun) {
        post_release(&al->postrun->group);
        free(al->postrun);
    }
    for (size_t i = 0; i < al->n_pres; i++) {
        json_decref(al->pres[i].state);
        free(al->pres[i].key);
    }
    free(al->pres);
    for (size_t i = 0; i < al->n_actions; i++)
        ex_action_free(al->actions[i]);
    free(al->actions);
    free(al);
    leg->act = NULL;
}

static const char *const gh_keys[] = {"action_path", "action_repository", "action_ref"};

json_t *ex__action_gh_swap(struct ex__leg *leg, const json_t *gh)
{
    json_t *ctx = json_object_get(leg->ctx, "github");
    json_t *old = json_object();

    for (size_t i = 0; i < GR_ARRAY_SIZE(gh_keys); i++) {
        json_t *v = json_object_get(ctx, gh_keys[i]);

        json_object_set(old, gh_keys[i], v ? v : json_string(""));
        json_object_set(ctx, gh_keys[i], json_object_get(gh, gh_keys[i]));
    }
    return old;
}

int ex__action_fail(struct ex__stepexec *se, const char *fmt, ...)
{
    va_list ap;
    char *msg = NULL, *full;

    va_start(ap, fmt);
    if (vasprintf(&msg, fmt, ap) < 0)
        msg = NULL;
    va_end(ap);
    full = gr_xasprintf("step '%s': %s", se->name ? se->name : se->ctx_name, msg ? msg : "");
    ex__leg_annotate(se->leg, se, "error", full, NULL);
    free(full);
    free(msg);
    ex__step_finished(se, EX_RESULT_FAILURE);
    return 1;
}

static char *value_string(const json_t *v)
{
    if (!v || json_is_null(v))
        return gr_xstrdup("");
    return json_is_string(v) ? gr_xstrdup(json_string_value(v)) : ex_value_to_string(v);
}

static const struct ex_action_input *input_find(const struct ex_action *a, const char *name)
{
    for (size_t i = 0; i < a->n_inputs; i++) {
        if (strcasecmp(a->inputs[i].name, name) == 0)
            return &a->inputs[i];
    }
    return NULL;
}

/* Warnings of ActionRunner: unexpected and deprecated inputs. */
static void inputs_warn(struct ex__stepexec *se, const struct ex_action *a, const json_t *with)
{
    struct gr_buf unexpected = GR_BUF_INIT(0), valid = GR_BUF_INIT(0);
    const char *k;
    json_t *v;
    int r = 0;

    json_object_foreach((json_t *)with, k, v)
    {
        const struct ex_action_input *in = input_find(a, k);
        const char *dep = in ? ex_node_str(in->deprecation) : NULL;

        if (!in) {
            r |= gr_buf_addf(&unexpected, "%s'%s'", unexpected.len ? ", " : "", k);
        } else if (dep && *dep) {
            char *m = gr_xasprintf("Input '%s' has been deprecated with message: %s", k, dep);

            ex__leg_annotate(se->leg, se, "warning", m, NULL);
            free(m);
        }
    }
    for (size_t i = 0; i < a->n_inputs; i++)
        r |= gr_buf_addf(&valid, "%s'%s'", i ? ", " : "", a->inputs[i].name);
    if (unexpected.len) {
        char *m = gr_xasprintf("Unexpected input(s) %s, valid inputs are [%s]", unexpected.ptr,
                               valid.ptr);

        ex__leg_annotate(se->leg, se, "warning", m, NULL);
        free(m);
    }
    (void)r;
    gr_buf_release(&unexpected);
    gr_buf_release(&valid);
}

/* `with:` values, then defaults of declared inputs not given. New object of strings. */
static int inputs_eval(struct ex__stepexec *se, const struct ex_action *a, json_t **ret,
                       struct gr_diag *d)
{
    struct ex_eval_env ev;
    json_t *with = NULL, *out = json_object(), *v;
    const char *k;
    int r = 0;

    ex__leg_eval_env(se->leg, &ev);
    if (se->step->with) {
        r = ex_node_eval(se->step->with, &ev, &with, d);
        if (r < 0)
            goto out;
    }
    if (with && !json_is_object(with)) {
        r = gr_diag_set(d, GR_EEXPR, NULL, 0, 0, "'with' must be a mapping");
        goto out;
    }
    json_object_foreach(with, k, v)
    {
        char *sv = value_string(v);

        json_object_set_new(out, k, json_string(sv));
        free(sv);
    }
    for (size_t i = 0; i < a->n_inputs && r == 0; i++) {
        const struct ex_action_input *in = &a->inputs[i];
        char *s = NULL;

        if (with && json_object_get(with, in->name))
            continue;
        r = ex__eval_string(in->default_, &ev, "", &s, d);
        if (r == 0)
            json_object_set_new(out, in->name, json_string(s));
        free(s);
    }
    if (r == 0 && with)
        inputs_warn(se, a, with);
out:
    json_decref(with);
    if (r < 0) {
        json_decref(out);
        return r;
    }
    *ret = out;
    return 0;
}

static void keep_action(struct ex__leg *leg, struct ex_action *a)
{
    struct ex__actleg *al = ex__actleg_get(leg);

    GR_GROW(al->actions, al->cap_actions, al->n_actions + 1);
    al->actions[al->n_actions++] = a;
}

int ex__action_start(struct ex__stepexec *se, const struct ex_action_ref *ref, const char *dir,
                     json_t *gh)
{
    const char *uses = ex_node_str(se->step->uses);
    struct ex_action *a = NULL;
    struct gr_diag d = {0};
    json_t *inputs = NULL;
    int r;

    (void)ref;
    r = ex_action_load(dir, &a, &d);
    if (r < 0) {
        json_decref(gh);
        return ex__action_fail(se, "cannot load action '%s': %s", uses, d.msg);
    }
    keep_action(se->leg, a);
    json_object_set_new(gh, "action_path", json_string(a->dir));
    if (a->kind == EX_ACTION_DOCKER) {
        json_decref(gh);
        return ex__action_fail(se,
                               "action '%s' is a docker action (runs.using: docker), which "
                               "ghrun does not run (no container support)",
                               uses);
    }
    r = inputs_eval(se, a, &inputs, &d);
    if (r < 0) {
        char msg[700];

        json_decref(gh);
        gr_diag_format(&d, msg, sizeof(msg));
        return ex__action_fail(se, "inputs of action '%s': %s", uses, msg);
    }
    if (a->kind == EX_ACTION_COMPOSITE)
        return ex__composite_start(se, a, inputs, gh);
    return ex__node_start(se, a, inputs, gh);
}

/* ./path: inside the workspace, as the runner requires. */
static char *local_dir(struct ex__stepexec *se, const char *path)
{
    const char *ws = se->leg->run->workdir;
    char *joined = gr_path_join(ws, path);
    char *real = realpath(joined, NULL);
    char *realws = realpath(ws, NULL);
    char *out = NULL;
    size_t wl = realws ? strlen(realws) : 0;

    if (real && realws && strncmp(real, realws, wl) == 0 && (real[wl] == '/' || !real[wl]))
        out = gr_xstrdup(real);
    else if (!real)
        out = gr_xstrdup(joined); /* the load names the missing directory */
    free(joined);
    free(real);
    free(realws);
    return out;
}

int ex__action_run(struct ex__stepexec *se)
{
    const char *uses = ex_node_str(se->step->uses);
    struct ex_action_ref ref;
    struct gr_diag d = {0};
    char *dir;
    int r;

    if (ex_action_ref_parse(uses, &ref, &d) < 0)
        return ex__action_fail(se, "%s", d.msg);
    if (ref.kind == EX_USES_DOCKER) {
        r = ex__action_fail(se,
                            "'uses: %s' is a docker action, which ghrun does not run (no "
                            "container support)",
                            uses);
    } else if (ref.kind == EX_USES_REMOTE) {
        r = ex__resolve_start(se, &ref);
    } else {
        dir = local_dir(se, ref.local);
        if (!dir)
            r = ex__action_fail(se, "action '%s' is outside the workspace", uses);
        else
            r = ex__action_start(se, &ref, dir,
                                 json_pack("{s:s,s:s}", "action_repository", "", "action_ref", ""));
        free(dir);
    }
    ex_action_ref_release(&ref);
    return r;
}

/* ---- step keys --------------------------------------------------------- */

char *ex__action_step_key(const struct ex__stepexec *se)
{
    size_t idx[EX_ACTION_MAX_DEPTH + 2], n = 0;
    const struct ex__stepexec *top = se;
    struct gr_buf b = GR_BUF_INIT(0);
    int r;

    for (const struct ex__frame *f = se->frame; f; f = f->up) {
        if (n < GR_ARRAY_SIZE(idx))
            idx[n++] = f->i;
        top = f->se;
    }
    r = gr_buf_addf(&b, "%d", top->step->index);
    while (n > 0)
        r |= gr_buf_addf(&b, "/%zu", idx[--n]);
    (void)r;
    return gr_buf_detach(&b, NULL);
}

/* "3/10/2" against "3/9": component by component, as numbers. */
static int key_cmp(const char *a, const char *b)
{
    while (*a && *b) {
        unsigned long x = strtoul(a, (char **)&a, 10), y = strtoul(b, (char **)&b, 10);

        if (x != y)
            return x < y ? -1 : 1;
        a += *a == '/';
        b += *b == '/';
    }
    return *a ? 1 : *b ? -1 : 0;
}

/* ---- post steps -------------------------------------------------------- */

/*
 * As the runner: a job step's action registers its post step when its pre
 * or main stage starts (ActionRunner: HasPost and Stage Pre or Main; once
 * per step, StepsWithPostRegistered), and post steps run after the job's
 * steps, last registered first (ExecutionContext.RegisterPostJobStep). A
 * nested action's post joins the post step of its job step's composite
 * action ("Post <name>", EmbeddedStepsWithPostRegistered), which runs the
 * registered nested post stages in reverse step order, depth first (the
 * Stack of CachedEmbeddedPostSteps), each with its post-if evaluated then.
 */

static struct ex__post *post_find_in(struct ex__post *list, size_t n, const char *key)
{
    for (size_t i = 0; i < n; i++) {
        struct ex__post *p = &list[i], *q;

        if (p->key && strcmp(p->key, key) == 0 && !p->group)
            return p;
        q = post_find_in(p->nested, p->n_nested, key);
        if (q)
            return q;
    }
    return NULL;
}

struct ex__post *ex__action_post_find(struct ex__leg *leg, const char *key)
{
    struct ex__actleg *al = leg->act;

    return al && key ? post_find_in(al->posts, al->n_posts, key) : NULL;
}

/* A display name without the "Pre " of a set-up step. */
static char *post_base_name(const struct ex__stepexec *se)
{
    const char *n = se->name ? se->name : se->ctx_name;

    return gr_xstrdup(se->pre && gr_startswith(n, "Pre ") ? n + 4 : n);
}

struct ex__post *ex__action_post_group(struct ex__stepexec *top)
{
    struct ex__actleg *al = ex__actleg_get(top->leg);
    char *key = ex__action_step_key(top);
    struct ex__post *p;

    for (size_t i = 0; i < al->n_posts; i++) {
        if (al->posts[i].group && strcmp(al->posts[i].key, key) == 0) {
            free(key);
            return &al->posts[i];
        }
    }
    GR_GROW(al->posts, al->cap_posts, al->n_posts + 1);
    p = &al->posts[al->n_posts++];
    *p = (struct ex__post){
        .step = top->step,
        .key = key,
        .group = true,
        .name = post_base_name(top),
        .env = ex__post_env(top),
    };
    return p;
}

struct ex__post *ex__action_post_register(struct ex__stepexec *se, struct ex_action *a,
                                          const json_t *inputs_env, const json_t *gh)
{
    char *key = ex__action_step_key(se);
    struct ex__post *p = ex__action_post_find(se->leg, key), *g;
    struct ex__actleg *al;

    if (p) {
        free(key);
        return p;
    }
    if (se->frame) {
        g = ex__action_post_group(ex__frame_top(se));
        GR_GROW(g->nested, g->cap_nested, g->n_nested + 1);
        p = &g->nested[g->n_nested++];
    } else {
        al = ex__actleg_get(se->leg);
        GR_GROW(al->posts, al->cap_posts, al->n_posts + 1);
        p = &al->posts[al->n_posts++];
    }
    *p = (struct ex__post){
        .step = se->step,
        .key = key,
        .act = a,
        .inputs_env = json_incref((json_t *)inputs_env),
        .state = json_object(),
        .gh = json_incref((json_t *)gh),
        .name = post_base_name(se),
        .env = ex__post_env(se),
    };
    return p;
}

/* The job's env now, then the registering step's own env (ActionRunner evaluates
 * Action.Environment for every stage). */
static void post_env_set(struct ex__stepexec *se, const struct ex__post *p)
{
    struct ex__leg *leg = se->leg;

    json_decref(se->env);
    se->env = json_deep_copy(leg->job_env);
    if (p->env)
        json_object_update(se->env, p->env);
    json_object_set(leg->ctx, "env", se->env);
}

/* post-if of p (default always()), over the job's status. */
static int post_cond(struct ex__leg *leg, const struct ex__post *p, bool *run, struct gr_diag *d)
{
    const struct ex_node *pif = p->native ? NULL : p->act->post_if;
    const char *cond = p->native ? p->post_if : pif ? ex_node_str(pif) : NULL;
    struct ex_eval_env ev;

    ex__leg_eval_env(leg, &ev);
    return ex_if_eval(cond && *cond ? cond : "always()", &ev, run, d);
}

static int post_run_one(struct ex__leg *leg, struct ex__post *p)
{
    struct ex__stepexec *se = ex__stepexec_new(leg, p->step);
    struct gr_diag d = {0};
    bool run = false;

    se->post = true;
    leg->cur = se;
    se->name = gr_xasprintf("Post %s", p->name);
    post_env_set(se, p);
    ex__step_report_start(se);
    if (post_cond(leg, p, &run, &d) < 0) {
        ex__leg_annotate(leg, se, "error", d.msg, NULL);
        ex__step_finished(se, EX_RESULT_FAILURE);
        return 1;
    }
    if (!run) {
        ex__step_finished(se, EX_RESULT_SKIPPED);
        return 1;
    }
    if (p->native)
        return p->native(se, p->state);
    if (ex__node_post_spawn(se, p, &d) < 0)
        return ex__action_fail(se, "%s", d.msg);
    return 0;
}

static int nested_cmp(const void *a, const void *b)
{
    const struct ex__post *x = a, *y = b;

    return key_cmp(y->key, x->key); /* the last step first */
}

/* The group's next nested post stage: 0 when one runs on the loop, 1 when the group ended. */
static int group_next(struct ex__leg *leg)
{
    struct ex__postrun *pr = leg->act->postrun;
    struct ex__stepexec *se = pr->se;

    while (pr->i < pr->group.n_nested && !leg->abandoned) {
        struct ex__post *p = &pr->group.nested[pr->i++];
        struct gr_diag d = {0};
        bool run = false;

        post_env_set(se, p);
        se->failed_cmd = false;
        if (post_cond(leg, p, &run, &d) < 0) {
            ex__leg_annotate(leg, se, "error", d.msg, NULL);
            pr->worst = EX_RESULT_FAILURE;
            continue;
        }
        if (!run)
            continue;
        if (ex__node_post_spawn(se, p, &d) == 0)
            return 0;
        ex__leg_annotate(leg, se, "error", d.msg, NULL);
        pr->worst = EX_RESULT_FAILURE;
    }
    leg->act->postrun = NULL;
    ex__step_finished(se, pr->worst);
    post_release(&pr->group);
    free(pr);
    return 1;
}

/* Run post group g (taken). Returns like ex__step_run. */
static int group_start(struct ex__leg *leg, struct ex__post *g)
{
    struct ex__postrun *pr = gr_xcalloc(1, sizeof(*pr));
    struct ex__stepexec *se = ex__stepexec_new(leg, g->step);

    se->post = true;
    leg->cur = se;
    se->name = gr_xasprintf("Post %s", g->name);
    post_env_set(se, g);
    ex__step_report_start(se);
    qsort(g->nested, g->n_nested, sizeof(*g->nested), nested_cmp);
    *pr = (struct ex__postrun){.se = se, .group = *g, .worst = EX_RESULT_SUCCESS};
    leg->act->postrun = pr;
    return group_next(leg);
}

void ex__action_post_group_done(struct ex__leg *leg, enum ex_result outcome)
{
    struct ex__postrun *pr = leg->act->postrun;

    if (outcome == EX_RESULT_FAILURE ||
        (outcome == EX_RESULT_CANCELLED && pr->worst == EX_RESULT_SUCCESS))
        pr->worst = outcome;
    if (group_next(leg) == 1)
        ex__leg_next(leg);
}

int ex__action_post_next(struct ex__leg *leg)
{
    struct ex__actleg *al = leg->act;

    while (al && al->n_posts > 0 && !leg->abandoned) {
        struct ex__post p = al->posts[--al->n_posts];
        int r;

        if (p.group)
            return group_start(leg, &p) == 0 ? 0 : ex__action_post_next(leg);
        r = post_run_one(leg, &p);
        post_release(&p);
        if (r == 0)
            return 0;
    }
    return 1;
}

/* ---- pre steps (the job's set-up phase) -------------------------------- */

/*
 * As the runner's JobExtension.InitializeJob: every job step using a
 * repository action that has a pre stage gets a "Pre <name>" step before
 * the first step, in step order: a node action whose runs.pre is set (with
 * pre-if, default always(), evaluated then), and a composite action with
 * such an action nested in it through repository actions (steps/
 * composite.c, pre frames). Actions from the workspace (./path) get none:
 * the runner cannot load them before the repository is checked out
 * (actions/runner docs/adrs/0361-wrapper-action.md; ActionManager skips
 * SelfAlias), so their pre never runs and ActionRunner warns.
 */

json_t *ex__action_pre_state(struct ex__leg *leg, const char *key)
{
    struct ex__actleg *al = leg->act;

    for (size_t i = 0; al && i < al->n_pres; i++) {
        if (strcmp(al->pres[i].key, key) == 0)
            return al->pres[i].state;
    }
    return NULL;
}

void ex__action_pre_save(struct ex__leg *leg, const char *key, const json_t *state)
{
    struct ex__actleg *al = ex__actleg_get(leg);

    GR_GROW(al->pres, al->cap_pres, al->n_pres + 1);
    al->pres[al->n_pres].key = gr_xstrdup(key);
    al->pres[al->n_pres].state = state ? json_deep_copy(state) : json_object();
    al->n_pres++;
}

/* The pre step's env: the job's (and its frames'), then the step's env: evaluated over it. */
static int pre_env(struct ex__stepexec *se, struct gr_diag *d)
{
    struct ex__leg *leg = se->leg;
    struct ex_eval_env ev;
    json_t *v = NULL;
    int r = 0;

    se->env = se->frame ? ex__frame_env(se->frame) : json_deep_copy(leg->job_env);
    json_object_set(leg->ctx, "env", se->env);
    if (se->step->env) {
        ex__leg_eval_env(leg, &ev);
        r = ex_node_eval(se->step->env, &ev, &v, d);
        if (r == 0)
            ex__env_merge(se->env, v);
        json_decref(v);
    }
    return r;
}

/* The outermost pre frame of the leg, or NULL outside pre frames. */
static struct ex__frame *pre_top_frame(struct ex__leg *leg)
{
    struct ex__frame *f = leg->frame;

    while (f && f->up)
        f = f->up;
    return f && f->pre ? f : NULL;
}

/* A pre stage was found under the job step: its "Pre" step shows from now on. */
static void pre_reveal(struct ex__stepexec *se)
{
    struct ex__stepexec *top = ex__frame_top(se);

    if (!top->quiet)
        return;
    top->quiet = false;
    ex__step_report_start(top);
}

struct pre_ctx {
    struct ex__leg *leg;
    const struct ex_step *st;
    struct ex__frame *frame; /* the pre frame of a nested step, or NULL */
};

static json_t *pre_gh(const struct ex_action_ref *ref, const struct ex_action *a)
{
    return json_pack("{s:s++,s:s,s:s}", "action_repository", ref->owner, "/", ref->repo,
                     "action_ref", ref->ref, "action_path", a->dir);
}

/* A composite action in the set-up phase: a pre frame over its steps. */
static int pre_run_composite(struct ex__stepexec *se, struct ex_action *a,
                             const struct ex_action_ref *ref)
{
    struct gr_diag d = {0};
    json_t *inputs = NULL;

    if (!se->frame)
        se->quiet = true; /* shown once a nested pre stage is found */
    if (pre_env(se, &d) < 0 || inputs_eval(se, a, &inputs, &d) < 0) {
        ex__step_finished(se, EX_RESULT_SKIPPED); /* main reports it */
        return 1;
    }
    return ex__composite_pre_start(se, a, inputs, pre_gh(ref, a));
}

/* Run the pre stage (or pre frame) of the loaded action a for step st. Returns like
 * ex__step_run. */
static int pre_run(struct ex__leg *leg, const struct ex_step *st, struct ex_action *a,
                   const struct ex_action_ref *ref)
{
    struct ex__stepexec *se = ex__stepexec_new(leg, st);
    const char *cond = a->pre_if ? ex_node_str(a->pre_if) : NULL;
    char *name = ex_plan_step_name(st);
    struct gr_diag d = {0};
    struct ex_eval_env ev;
    json_t *inputs = NULL;
    bool run = false;
    int r;

    se->pre = true;
    leg->cur = se;
    se->name = se->frame ? name : gr_xasprintf("Pre %s", name);
    if (!se->frame)
        free(name);
    if (a->kind == EX_ACTION_COMPOSITE)
        return pre_run_composite(se, a, ref);
    pre_reveal(se);
    r = pre_env(se, &d);
    ex__step_report_start(se);
    if (r == 0) {
        ex__leg_eval_env(leg, &ev);
        r = ex_if_eval(cond && *cond ? cond : "always()", &ev, &run, &d);
    }
    if (r == 0 && !run) {
        ex__step_finished(se, EX_RESULT_SKIPPED);
        return 1;
    }
    if (r == 0)
        r = inputs_eval(se, a, &inputs, &d);
    if (r < 0)
        return ex__action_fail(se, "%s", d.msg);
    return ex__node_pre_start(se, a, inputs, pre_gh(ref, a));
}

static int pre_resolved(void *ctx, const struct ex_action_ref *ref, const char *root,
                        const char *tried, bool async)
{
    struct pre_ctx *pc = ctx;
    struct ex__leg *leg = pc->leg;
    struct ex__frame *frame = pc->frame;
    struct ex__frame *top = pre_top_frame(leg);
    struct ex_action *a = NULL;
    struct gr_diag d = {0};
    char *dir;
    int r = 1;

    (void)tried; /* the main step reports a missing action */
    if (root) {
        dir = *ref->path ? gr_path_join(root, ref->path) : gr_xstrdup(root);
        if (ex_action_load(dir, &a, &d) == 0) {
            keep_action(leg, a);
            if (top && a->kind == EX_ACTION_NODE && a->post && *a->post)
                top->has_post = true;
            if (leg->cancelled)
                r = 1;
            else if (a->kind == EX_ACTION_NODE && a->pre && *a->pre)
                r = pre_run(leg, pc->st, a, ref);
            else if (a->kind == EX_ACTION_COMPOSITE)
                r = pre_run(leg, pc->st, a, ref);
        }
        free(dir);
    }
    free(pc);
    if (async && r == 1) {
        if (frame)
            ex__composite_next(frame);
        else
            ex__leg_next(leg);
    }
    return r;
}

/* Resolve step st's repository action and run its pre stage. Returns like ex__step_run. */
static int pre_step(struct ex__leg *leg, const struct ex_step *st)
{
    const char *uses = st->uses ? ex_node_str(st->uses) : NULL;
    struct ex__frame *top = pre_top_frame(leg);
    struct ex_action_ref ref = {0};
    struct pre_ctx *pc;
    struct gr_diag d = {0};
    int r = 1;

    if (!uses || ex__native_for(leg->run->opts, uses))
        return 1;
    if (ex_action_ref_parse(uses, &ref, &d) < 0) {
        ex_action_ref_release(&ref);
        return 1; /* main reports it */
    }
    if (ref.kind == EX_USES_LOCAL && top)
        top->has_post = true; /* ActionManager assumes a post for a nested ./ action */
    if (ref.kind == EX_USES_REMOTE) {
        pc = gr_xcalloc(1, sizeof(*pc));
        *pc = (struct pre_ctx){.leg = leg, .st = st, .frame = leg->frame};
        r = ex__resolve(leg->run, &ref, uses, pre_resolved, pc);
    }
    ex_action_ref_release(&ref);
    return r;
}

int ex__action_pre_child(struct ex__leg *leg, const struct ex_step *st)
{
    if (leg->cancelled || leg->abandoned)
        return 1;
    return pre_step(leg, st);
}

int ex__action_pre_next(struct ex__leg *leg)
{
    const struct ex_job *job = leg->jr->pj->job;

    while (leg->pre_i < job->n_steps && !leg->abandoned && !leg->cancelled) {
        if (pre_step(leg, &job->steps[leg->pre_i++]) == 0)
            return 0;
    }
    return 1;
}
