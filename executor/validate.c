/*
 * Model checks beyond the schema, as the runner's workflow converter does
 * them (actions/runner src/Sdk/WorkflowParser/Conversion/
 * WorkflowTemplateConverter.cs, IdBuilder.cs; actions/languageservices
 * workflow-parser/src/model/converter/{jobs,id-builder,cron,events,
 * workflow-dispatch}.ts): job and step ids, the needs graph (unknown
 * targets, cycles, a job without needs), step `uses` references, cron
 * syntax, event filters with their -ignore twin, and dispatch input options.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "workflow_internal.h"

#define ID_MAX 100

/* ---- ids --------------------------------------------------------------- */

static bool is_alpha(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static bool is_valid_id(const char *s)
{
    if (!is_alpha(s[0]) && s[0] != '_')
        return false;
    for (const char *p = s + 1; *p; p++)
        if (!is_alpha(*p) && !(*p >= '0' && *p <= '9') && *p != '_' && *p != '-')
            return false;
    return true;
}

/*
 * IdBuilder.TryAddKnownId; returns false (after reporting) when the id is
 * unusable. The `__` prefix is reserved for step ids only: act accepts
 * `___x` job ids (act-testdata invalid-job-name/valid-2).
 */
static bool check_id(struct ex__vctx *v, const struct ex_node *at, const char *id, bool step)
{
    if (!is_valid_id(id) || strlen(id) >= ID_MAX) {
        ex__verr(v, at,
                 "The identifier '%s' is invalid. IDs may only contain alphanumeric characters, "
                 "'_', and '-'. IDs must start with a letter or '_' and must be less than %d "
                 "characters.",
                 id, ID_MAX);
        return false;
    }
    if (step && strncmp(id, "__", 2) == 0) {
        ex__verr(v, at, "The identifier '%s' is invalid. IDs starting with '__' are reserved.", id);
        return false;
    }
    return true;
}

static void check_job_ids(struct ex__vctx *v, const struct ex_workflow *wf)
{
    const struct ex_node *jobs = ex_node_get(wf->root, "jobs");

    if (!jobs || jobs->kind != EX_NODE_MAP)
        return;
    for (size_t i = 0; i < jobs->n; i++)
        if (!strstr(jobs->keys[i]->str, "${{"))
            (void)check_id(v, jobs->keys[i], jobs->keys[i]->str, false);
}

static void check_step_ids(struct ex__vctx *v, const struct ex_job *j)
{
    for (size_t i = 0; i < j->n_steps; i++) {
        const struct ex_node *id = ex_node_get(j->steps[i].node, "id");
        if (!j->steps[i].id || !check_id(v, id, j->steps[i].id, true))
            continue;
        for (size_t k = 0; k < i; k++)
            if (j->steps[k].id && strcasecmp(j->steps[k].id, j->steps[i].id) == 0) {
                ex__verr(v, id,
                         "The identifier '%s' may not be used more than once within the same "
                         "scope.",
                         j->steps[i].id);
                break;
            }
    }
}

/* ---- step uses --------------------------------------------------------- */

/* {org}/{repo}[/path]@ref, unless docker:// or a local ./ path (ConvertToSteps). */
static void check_step_uses(struct ex__vctx *v, const struct ex_step *s)
{
    const char *u = ex_node_str(s->uses), *at, *slash;

    if (!u || s->uses->type != EX_SCALAR_STRING || u[0] == '\0' || strstr(u, "${{"))
        return;
    if (gr_startswith(u, "docker://") || gr_startswith(u, "./") || gr_startswith(u, ".\\"))
        return;
    at = strchr(u, '@');
    slash = strchr(u, '/');
    if (at && !strchr(at + 1, '@') && at[1] && slash && slash > u && slash + 1 < at &&
        slash[1] != '/')
        return;
    ex__verr(v, s->uses, "Expected format {org}/{repo}[/path]@ref. Actual '%s'", u);
}

/* ---- needs ------------------------------------------------------------- */

struct graph {
    const struct ex_workflow *wf;
    int *need;  /* need[i*max + k]: job index of job i's k-th need, -1 unknown */
    size_t max; /* most needs of one job */
    bool *done; /* job can start (all needs satisfied transitively) */
};

static int job_index(const struct ex_workflow *wf, const char *id)
{
    for (size_t i = 0; i < wf->n_jobs; i++)
        if (strcasecmp(wf->jobs[i].id, id) == 0)
            return (int)i;
    return -1;
}

static const struct ex_node *need_node(const struct ex_job *j, size_t k)
{
    const struct ex_node *n = ex_node_get(j->node, "needs");

    if (n && n->kind == EX_NODE_SEQ) {
        for (size_t i = 0, seen = 0; i < n->n; i++)
            if (n->items[i]->kind == EX_NODE_SCALAR && seen++ == k)
                return n->items[i];
    }
    return n;
}

/* Kahn's algorithm: mark every job whose needs all finish (validateNeeds in jobs.ts). */
static void resolve(struct graph *g)
{
    bool progress = true;

    while (progress) {
        progress = false;
        for (size_t i = 0; i < g->wf->n_jobs; i++) {
            bool ready = !g->done[i];
            for (size_t k = 0; ready && k < g->wf->jobs[i].n_needs; k++) {
                int t = g->need[i * g->max + k];
                ready = t >= 0 && g->done[t];
            }
            if (ready) {
                g->done[i] = true;
                progress = true;
            }
        }
    }
}

/* Path from job `from` back to job `to` along unsatisfied needs, written as "a -> b -> c". */
static bool find_path(const struct graph *g, int from, int to, bool *seen, char *buf, size_t len)
{
    const struct ex_job *j = &g->wf->jobs[from];
    size_t used = strlen(buf);

    if (used + strlen(j->id) + 5 >= len)
        return false;
    snprintf(buf + used, len - used, " -> %s", j->id);
    if (from == to)
        return true;
    if (!seen[from]) {
        seen[from] = true;
        for (size_t k = 0; k < j->n_needs; k++) {
            int t = g->need[(size_t)from * g->max + k];
            if (t >= 0 && !g->done[t] && find_path(g, t, to, seen, buf, len))
                return true;
        }
    }
    buf[used] = '\0';
    return false;
}

static void report_need(struct ex__vctx *v, const struct graph *g, size_t i, size_t k)
{
    const struct ex_job *j = &g->wf->jobs[i];
    int t = g->need[i * g->max + k];
    char path[400];
    bool *seen;

    if (t < 0) {
        ex__verr(v, need_node(j, k), "Job '%s' depends on unknown job '%s'.", j->id, j->needs[k]);
        return;
    }
    if (g->done[t])
        return;
    seen = gr_xcalloc(g->wf->n_jobs, sizeof(*seen));
    snprintf(path, sizeof(path), "%s", j->id);
    if (find_path(g, t, (int)i, seen, path, sizeof(path)))
        ex__verr(v, need_node(j, k),
                 "Job '%s' depends on job '%s' which creates a cycle in the dependency graph "
                 "(%s).",
                 j->id, j->needs[k], path);
    else
        ex__verr(v, need_node(j, k),
                 "Job '%s' depends on job '%s' which depends on a cycle in the dependency graph.",
                 j->id, j->needs[k]);
    free(seen);
}

static void check_needs(struct ex__vctx *v, const struct ex_workflow *wf)
{
    struct graph g = {.wf = wf};
    bool any_root = false;

    for (size_t i = 0; i < wf->n_jobs; i++) {
        if (wf->jobs[i].n_needs > g.max)
            g.max = wf->jobs[i].n_needs;
        any_root |= wf->jobs[i].n_needs == 0;
    }
    if (!any_root) {
        if (!ex_node_get(wf->root, "jobs") || ex_node_get(wf->root, "jobs")->kind != EX_NODE_MAP)
            return;
        ex__verr(v, ex_node_get(wf->root, "jobs"),
                 "The workflow must contain at least one job with no dependencies.");
        return;
    }
    g.need = gr_xcalloc(wf->n_jobs * (g.max + 1), sizeof(*g.need));
    g.done = gr_xcalloc(wf->n_jobs, sizeof(*g.done));
    for (size_t i = 0; i < wf->n_jobs; i++)
        for (size_t k = 0; k < wf->jobs[i].n_needs; k++)
            g.need[i * g.max + k] = job_index(wf, wf->jobs[i].needs[k]);
    resolve(&g);
    for (size_t i = 0; i < wf->n_jobs; i++)
        for (size_t k = 0; !g.done[i] && k < wf->jobs[i].n_needs; k++)
            report_need(v, &g, i, k);
    free(g.need);
    free(g.done);
}

/* ---- cron -------------------------------------------------------------- */

struct cron_range {
    int min, max;
    const char *const *names; /* index + base = value */
    int base;
};

static const char *const months[] = {"jan", "feb", "mar", "apr", "may", "jun", "jul",
                                     "aug", "sep", "oct", "nov", "dec", NULL};
static const char *const days[] = {"sun", "mon", "tue", "wed", "thu", "fri", "sat", NULL};

static int cron_value(const char *s, size_t len, const struct cron_range *r)
{
    char *end;
    long n;

    for (int i = 0; r->names && r->names[i]; i++)
        if (len == 3 && strncasecmp(s, r->names[i], 3) == 0)
            return i + r->base;
    if (len == 0 || len > 4 || s[0] < '0' || s[0] > '9')
        return -1;
    n = strtol(s, &end, 10);
    if ((size_t)(end - s) != len || n < r->min || n > r->max)
        return -1;
    return (int)n;
}

/* One comma-separated element: *, n, a-b, with an optional /step (cron.ts validateCronPart). */
static bool cron_elem(const char *s, size_t len, const struct cron_range *r)
{
    const char *slash = memchr(s, '/', len), *dash;
    size_t body = slash ? (size_t)(slash - s) : len;
    struct cron_range steps = {1, r->max, NULL, 0};

    if (slash && (body == 0 || cron_value(slash + 1, len - body - 1, &steps) < 1))
        return false;
    if (body == 1 && s[0] == '*')
        return true;
    dash = memchr(s, '-', body);
    if (!dash)
        return cron_value(s, body, r) >= 0;
    int a = cron_value(s, (size_t)(dash - s), r);
    int b = cron_value(dash + 1, body - (size_t)(dash - s) - 1, r);
    return a >= 0 && b >= 0 && b >= a;
}

static bool cron_field(const char *s, size_t len, const struct cron_range *r)
{
    const char *end = s + len;

    while (s <= end) {
        const char *comma = memchr(s, ',', (size_t)(end - s));
        const char *e = comma ? comma : end;
        if (!cron_elem(s, (size_t)(e - s), r))
            return false;
        s = e + 1;
    }
    return true;
}

bool ex__cron_valid(const char *cron)
{
    static const struct cron_range ranges[5] = {
        {0, 59, NULL, 0}, {0, 23, NULL, 0}, {1, 31, NULL, 0}, {1, 12, months, 1}, {0, 6, days, 0},
    };
    const char *p = cron;
    int field = 0;

    while (*p) {
        size_t len;
        while (*p == ' ')
            p++;
        if (!*p)
            break;
        len = strcspn(p, " ");
        if (field >= 5 || !cron_field(p, len, &ranges[field]))
            return false;
        field++;
        p += len;
    }
    return field == 5;
}

static void check_schedule(struct ex__vctx *v, const struct ex_workflow *wf)
{
    const struct ex_trigger *t = ex_workflow_trigger(wf, "schedule");

    if (!t || !t->node || t->node->kind != EX_NODE_SEQ)
        return;
    for (size_t i = 0; i < t->node->n; i++) {
        const struct ex_node *cron = ex_node_get(t->node->items[i], "cron");
        if (cron && cron->kind == EX_NODE_SCALAR && !ex__cron_valid(cron->str))
            ex__verr(v, cron,
                     "Invalid cron expression. Expected format: '* * * * *' "
                     "(minute hour day month weekday)");
    }
}

/* ---- event filters ----------------------------------------------------- */

/* A filter and its -ignore twin exclude each other (D:workflow-syntax,
 * onpushbranchestagsbranches-ignoretags-ignore). */
static void check_filters(struct ex__vctx *v, const struct ex_workflow *wf)
{
    static const char *const names[] = {"branches", "tags", "paths"};

    for (size_t i = 0; i < wf->n_triggers; i++) {
        const struct ex_node *cfg = wf->triggers[i].node;
        if (!cfg || cfg->kind != EX_NODE_MAP)
            continue;
        for (size_t k = 0; k < GR_ARRAY_SIZE(names); k++) {
            char ignore[32];
            const struct ex_node *both;
            snprintf(ignore, sizeof(ignore), "%s-ignore", names[k]);
            both = ex_node_get(cfg, ignore);
            if (both && ex_node_get(cfg, names[k]))
                ex__verr(v, cfg, "you may only define one of `%s` and `%s` for a single event",
                         names[k], ignore);
        }
    }
}

/* ---- workflow_dispatch inputs ------------------------------------------ */

static void check_dispatch_input(struct ex__vctx *v, const struct ex_node *in)
{
    const char *type = ex_node_str(ex_node_get(in, "type"));
    const struct ex_node *opts = ex_node_get(in, "options");
    const struct ex_node *def = ex_node_get(in, "default");
    bool choice = type && strcmp(type, "choice") == 0;

    if (choice && (!opts || opts->kind != EX_NODE_SEQ || opts->n == 0))
        ex__verr(v, in, "Missing 'options' for choice input");
    else if (!choice && opts)
        ex__verr(v, in, "Input type is not 'choice', but 'options' is defined");
    if (type && strcmp(type, "boolean") == 0 && def && def->kind == EX_NODE_SCALAR &&
        def->type != EX_SCALAR_BOOL && !strstr(def->str, "${{"))
        ex__verr(v, def, "The default value of a boolean input must be true or false");
}

static void check_dispatch(struct ex__vctx *v, const struct ex_workflow *wf)
{
    const struct ex_trigger *t = ex_workflow_trigger(wf, "workflow_dispatch");
    const struct ex_node *inputs = t ? ex_node_get(t->node, "inputs") : NULL;

    if (!inputs || inputs->kind != EX_NODE_MAP)
        return;
    for (size_t i = 0; i < inputs->n; i++)
        if (inputs->vals[i]->kind == EX_NODE_MAP)
            check_dispatch_input(v, inputs->vals[i]);
}

void ex__validate_model(struct ex__vctx *v, const struct ex_workflow *wf)
{
    check_job_ids(v, wf);
    check_needs(v, wf);
    for (size_t i = 0; i < wf->n_jobs; i++) {
        check_step_ids(v, &wf->jobs[i]);
        for (size_t k = 0; k < wf->jobs[i].n_steps; k++)
            check_step_uses(v, &wf->jobs[i].steps[k]);
    }
    check_schedule(v, wf);
    check_filters(v, wf);
    check_dispatch(v, wf);
}
