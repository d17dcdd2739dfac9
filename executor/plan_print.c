/*
 * Printing a plan: `ghrun replay -l` (act's table: Stage, Job ID, Job name,
 * Workflow name, Workflow file, Events) and `-n` (every job by stage with
 * its legs and steps). Step names follow the runner's generated names
 * (ActionRunner.GenerateDisplayName): `name:` when given, else
 * "Run <first non-blank line of run>", "Run owner/repo@ref", "Run ./path" or
 * "Run <image>" for docker:// steps.
 *
 * Nothing here evaluates env, with or run, so no secret value can reach the
 * output: templates are shown as written.
 */
#include "ex/plan.h"

#include <stdlib.h>
#include <string.h>

#include "ex/expr.h"

/* ---- helpers ----------------------------------------------------------- */

static const char *base_name(const char *path)
{
    const char *s = path ? strrchr(path, '/') : NULL;

    return s ? s + 1 : (path ? path : "");
}

static const char *wf_name(const struct ex_workflow *wf)
{
    const char *n = wf->name ? ex_node_str(wf->name) : NULL;

    return n && *n ? n : base_name(wf->path);
}

static char *events_str(const struct ex_workflow *wf)
{
    struct gr_buf b = GR_BUF_INIT(0);
    size_t i;

    for (i = 0; i < wf->n_triggers; i++)
        if ((i > 0 && gr_buf_adds(&b, ",") < 0) || gr_buf_adds(&b, wf->triggers[i].event) < 0)
            break;
    return gr_buf_detach(&b, NULL);
}

/* A node as one line: scalars as written, sequences joined with ", ". */
static char *node_line(const struct ex_node *n)
{
    struct gr_buf b = GR_BUF_INIT(0);
    char *s;
    size_t i;

    if (!n)
        return gr_xstrdup("");
    if (n->kind == EX_NODE_SCALAR)
        return gr_xstrndup(n->str, strcspn(n->str, "\n"));
    if (n->kind == EX_NODE_SEQ) {
        for (i = 0; i < n->n; i++) {
            s = node_line(n->items[i]);
            if ((i > 0 && gr_buf_adds(&b, ", ") < 0) || gr_buf_adds(&b, s) < 0)
                i = n->n;
            free(s);
        }
        return gr_buf_detach(&b, NULL);
    }
    json_t *j = ex_node_to_json(n);
    s = json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(j);
    return s ? s : gr_xstrdup("");
}

/* ---- step names -------------------------------------------------------- */

static char *first_line(const char *s)
{
    while (*s) {
        const char *e = s + strcspn(s, "\n");
        const char *a = s, *z = e;
        while (a < z && (*a == ' ' || *a == '\t' || *a == '\r'))
            a++;
        while (z > a && (z[-1] == ' ' || z[-1] == '\t' || z[-1] == '\r'))
            z--;
        if (z > a)
            return gr_xstrndup(a, (size_t)(z - a));
        s = *e ? e + 1 : e;
    }
    return gr_xstrdup("");
}

char *ex_plan_step_name(const struct ex_step *st)
{
    const char *name = st->name ? ex_node_str(st->name) : NULL;
    const char *uses = st->uses ? ex_node_str(st->uses) : NULL;
    const char *run = st->run ? ex_node_str(st->run) : NULL;
    char *line, *r;

    if (name && *name)
        return first_line(name);
    if (run) {
        line = first_line(run);
        r = gr_xasprintf("Run %s", line);
        free(line);
        return r;
    }
    if (uses && gr_startswith(uses, "docker://"))
        return gr_xasprintf("Run %s", uses + strlen("docker://"));
    if (uses)
        return gr_xasprintf("Run %s", uses);
    return gr_xasprintf("Step %d", st->index + 1);
}

/* ---- -l ---------------------------------------------------------------- */

struct row {
    char *col[6];
};

/*
 * Rows of a plan; jobs of a called workflow follow their caller as
 * "caller/job" at its stage, once per leg of the caller, named as GitHub
 * names them ("caller (a, b) / Job").
 */
static void add_rows(const struct ex_plan *p, const char *prefix, const char *caller, int stage,
                     struct row **rows, size_t *n, size_t *cap)
{
    char *events = events_str(p->wf);
    size_t i;

    for (i = 0; i < p->n_jobs; i++) {
        const struct ex_plan_job *j = &p->jobs[i];
        const char *jn = j->job->name ? ex_node_str(j->job->name) : NULL;
        char *id = prefix ? gr_xasprintf("%s/%s", prefix, j->id) : gr_xstrdup(j->id);
        struct row *r;
        GR_GROW(*rows, *cap, *n + 1);
        r = &(*rows)[(*n)++];
        r->col[0] = gr_xasprintf("%d", stage >= 0 ? stage : j->stage);
        r->col[1] = id;
        /* a called job by GitHub's name, "caller / job" */
        r->col[2] = caller ? gr_xasprintf("%s / %s", caller, jn && *jn ? jn : j->id)
                           : gr_xstrdup(jn && *jn ? jn : j->id);
        r->col[3] = gr_xstrdup(wf_name(p->wf));
        r->col[4] = gr_xstrdup(base_name(p->wf->path));
        r->col[5] = gr_xstrdup(prefix ? "workflow_call" : events);
        if (!j->called)
            continue;
        /* one set of called jobs per leg of the caller, named after the leg */
        if (j->n_legs == 0)
            add_rows(j->called, id, r->col[2], stage >= 0 ? stage : j->stage, rows, n, cap);
        for (size_t k = 0; k < j->n_legs; k++)
            add_rows(j->called, id, j->legs[k].display_name, stage >= 0 ? stage : j->stage, rows, n,
                     cap);
    }
    free(events);
}

static int row_cmp(const void *a, const void *b)
{
    const struct row *x = a, *y = b;
    int sx = (int)strtol(x->col[0], NULL, 10), sy = (int)strtol(y->col[0], NULL, 10);

    return (sx > sy) - (sx < sy);
}

static void print_row(FILE *out, char *const *cols, const size_t *w)
{
    int k;

    for (k = 0; k < 6; k++) {
        if (k < 5)
            fprintf(out, "%-*s  ", (int)w[k], cols[k]);
        else
            fprintf(out, "%s\n", cols[k]);
    }
}

void ex_plan_print_list_many(const struct ex_plan *const *plans, size_t n, FILE *out)
{
    static char *const head[6] = {"Stage",         "Job ID",        "Job name",
                                  "Workflow name", "Workflow file", "Events"};
    struct row *rows = NULL;
    size_t nr = 0, cap = 0, i, w[6];
    int k;

    for (i = 0; i < n; i++)
        add_rows(plans[i], NULL, NULL, -1, &rows, &nr, &cap);
    /* a stable sort keeps workflow order within a stage */
    for (i = 1; i < nr; i++)
        for (size_t j = i; j > 0 && row_cmp(&rows[j - 1], &rows[j]) > 0; j--) {
            struct row t = rows[j];
            rows[j] = rows[j - 1];
            rows[j - 1] = t;
        }
    for (k = 0; k < 6; k++)
        w[k] = strlen(head[k]);
    for (i = 0; i < nr; i++)
        for (k = 0; k < 6; k++)
            if (strlen(rows[i].col[k]) > w[k])
                w[k] = strlen(rows[i].col[k]);
    print_row(out, head, w);
    for (i = 0; i < nr; i++) {
        print_row(out, rows[i].col, w);
        for (k = 0; k < 6; k++)
            free(rows[i].col[k]);
    }
    free(rows);
    for (i = 0; i < n; i++)
        if (!plans[i]->triggered)
            fprintf(out, "# %s: not triggered by '%s': %s\n", base_name(plans[i]->wf->path),
                    plans[i]->event_name,
                    plans[i]->not_triggered ? plans[i]->not_triggered : "filtered out");
}

void ex_plan_print_list(const struct ex_plan *plan, FILE *out)
{
    ex_plan_print_list_many(&plan, 1, out);
}

/* ---- -n ---------------------------------------------------------------- */

static void print_header(const struct ex_plan *p, FILE *out)
{
    const json_t *g = p->github;
    const char *sha = json_string_value(json_object_get(g, "sha"));
    const char *ref = json_string_value(json_object_get(g, "ref"));

    fprintf(out, "Workflow: %s (%s)\n", wf_name(p->wf), p->wf->path ? p->wf->path : "");
    fprintf(out, "Event: %s, ref %s, sha %.12s, repository %s, actor %s\n", p->event_name,
            ref && *ref ? ref : "(none)", sha ? sha : "",
            json_string_value(json_object_get(g, "repository")),
            json_string_value(json_object_get(g, "actor")));
    if (p->inputs) {
        char *s = json_dumps(p->inputs, JSON_COMPACT | JSON_PRESERVE_ORDER);
        fprintf(out, "Inputs: %s\n", s ? s : "{}");
        free(s);
    }
}

static void print_legs(const struct ex_plan_job *j, FILE *out, const char *ind)
{
    size_t i;

    if (j->matrix_deferred) {
        char *m = node_line(j->job->matrix);
        fprintf(out, "%s    matrix: expanded when its needs finish: %s\n", ind, m);
        free(m);
        return;
    }
    if (!j->job->matrix)
        return;
    if (j->max_parallel > 0)
        fprintf(out, "%s    strategy: fail-fast %s, max-parallel %d\n", ind,
                j->fail_fast ? "true" : "false", j->max_parallel);
    else
        fprintf(out, "%s    strategy: fail-fast %s, max-parallel unlimited\n", ind,
                j->fail_fast ? "true" : "false");
    fprintf(out, "%s    legs (%zu):\n", ind, j->n_legs);
    for (i = 0; i < j->n_legs; i++) {
        char *m = json_dumps(j->legs[i].matrix, JSON_COMPACT | JSON_PRESERVE_ORDER);
        fprintf(out, "%s      - %s %s\n", ind, j->legs[i].display_name, m ? m : "{}");
        free(m);
    }
}

static void print_field(FILE *out, const char *ind, const char *key, const struct ex_node *n)
{
    char *s;

    if (!n)
        return;
    s = node_line(n);
    fprintf(out, "%s    %s: %s\n", ind, key, s);
    free(s);
}

static void print_jobs(const struct ex_plan *plan, FILE *out, const char *ind);

/* A called workflow: its inputs (never its secrets) and its jobs, indented. */
static void print_called(const struct ex_plan *sub, FILE *out, const char *ind)
{
    char *in = json_dumps(sub->inputs, JSON_COMPACT | JSON_PRESERVE_ORDER);
    char *ind2 = gr_xasprintf("%s    | ", ind);

    fprintf(out, "%s    calls: %s (%s)\n", ind, wf_name(sub->wf), sub->wf->path);
    fprintf(out, "%s    inputs: %s%s\n", ind, in ? in : "{}",
            sub->inputs_deferred ? " (with: is evaluated when the job starts)" : "");
    print_jobs(sub, out, ind2);
    free(ind2);
    free(in);
}

static void print_job(const struct ex_plan_job *j, FILE *out, const char *ind)
{
    const struct ex_job *job = j->job;
    size_t i;
    char *s;

    fprintf(out, "%s  Job %s\n", ind, j->id);
    if (!job->matrix && j->n_legs == 1 && strcmp(j->legs[0].display_name, j->id) != 0)
        fprintf(out, "%s    name: %s\n", ind, j->legs[0].display_name);
    else
        print_field(out, ind, "name", job->name);
    if (job->n_needs) {
        fprintf(out, "%s    needs: ", ind);
        for (i = 0; i < job->n_needs; i++)
            fprintf(out, "%s%s", i ? ", " : "", job->needs[i]);
        fprintf(out, "\n");
    }
    print_field(out, ind, "runs-on", job->runs_on);
    print_field(out, ind, "uses", job->uses);
    print_legs(j, out, ind);
    if (j->called)
        print_called(j->called, out, ind);
    if (job->n_steps)
        fprintf(out, "%s    steps:\n", ind);
    for (i = 0; i < job->n_steps; i++) {
        s = ex_plan_step_name(&job->steps[i]);
        fprintf(out, "%s      %zu. %s\n", ind, i + 1, s);
        free(s);
    }
}

static void print_jobs(const struct ex_plan *plan, FILE *out, const char *ind)
{
    size_t i;
    int stage = -1;

    for (i = 0; i < plan->n_jobs; i++) {
        if (plan->jobs[i].stage != stage) {
            stage = plan->jobs[i].stage;
            fprintf(out, "%sStage %d:\n", ind, stage);
        }
        print_job(&plan->jobs[i], out, ind);
    }
}

void ex_plan_print_dryrun(const struct ex_plan *plan, FILE *out)
{
    print_header(plan, out);
    if (!plan->triggered) {
        fprintf(out, "Not triggered: %s\n",
                plan->not_triggered ? plan->not_triggered : "filtered out");
        return;
    }
    print_jobs(plan, out, "");
}
