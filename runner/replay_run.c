/*
 * Running a replay plan: one libuv loop, the terminal reporter on stdout and
 * the engine. The exit code says whether every job succeeded.
 *
 * The job services (the cache and artifact APIs the official toolkit calls) run for the whole
 * run on a second loop in their own thread, on 127.0.0.1: the engine's uv_run() returns when
 * its last job ends, which a listening socket on the same loop would prevent, and uploads of
 * big artifacts do not compete with the steps' output for the engine's loop. Steps find them
 * through ACTIONS_RESULTS_URL, ACTIONS_CACHE_URL and ACTIONS_RUNTIME_TOKEN (ro.step_env).
 */
#include "internal.h"
#include "httpd.h"
#include "sandbox_config.h"
#include "services.h"
#include "ex/artifact.h"
#include "sb.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <uv.h>

#define N_STEP_ENV 7

struct services {
    uv_loop_t loop;
    uv_thread_t thread;
    uv_async_t stop;
    bool loop_ok;
    bool running;
    struct rn_cache_service *cache;
    struct rn_artifact_service *art;
    char *artifact_dir;
    bool artifact_dir_created; /* the default directory, made by this run */
    char *token;
    char *env[N_STEP_ENV + 1];
};

static const char *github_str(const struct ex_plan *plan, const char *key, const char *def)
{
    const char *v = json_string_value(json_object_get(plan->github, key));
    return v && *v ? v : def;
}

static void cache_closed(void *arg)
{
    (void)arg;
}

static void artifacts_closed(void *arg)
{
    struct services *sv = arg;

    if (sv->cache)
        rn_cache_service_close(sv->cache, cache_closed, NULL);
    sv->cache = NULL;
}

/* On the services' loop: close everything; the loop then runs out and the thread ends. */
static void on_stop(uv_async_t *a)
{
    struct services *sv = a->data;

    uv_close((uv_handle_t *)&sv->stop, NULL);
    if (sv->art)
        rn_artifact_service_close(sv->art, artifacts_closed, sv);
    else
        artifacts_closed(sv);
    sv->art = NULL;
}

static void services_thread(void *arg)
{
    struct services *sv = arg;

    (void)uv_run(&sv->loop, UV_RUN_DEFAULT);
}

static int start_cache(struct services *sv, const struct ex_plan *plan,
                       struct rn_httpd_route *routes, size_t *nroutes)
{
    char *dir = ex_cache_store_dir(NULL, NULL);
    struct rn_cache_service_opts co = {
        .dir = dir, .token = sv->token, .scope = github_str(plan, "repository", NULL)};
    struct gr_diag d = {0};
    int r;

    if (!dir) {
        fprintf(stderr, "ghrun replay: no cache directory (set GHRUN_CACHE_DIR or HOME), "
                        "running without the cache service\n");
        return 0;
    }
    r = rn_cache_service_start(&sv->loop, &co, &sv->cache, &d);
    if (r < 0)
        fprintf(stderr, "ghrun replay: cannot start the cache service on '%s': %s\n", dir, d.msg);
    else
        *nroutes = rn_cache_service_routes(sv->cache, routes, RN_ARTIFACT_MAX_EXTRA_ROUTES);
    free(dir);
    return r;
}

static int start_artifacts(struct services *sv, const struct ex_plan *plan,
                           const struct rn_replay_opts *o, const struct rn_httpd_route *routes,
                           size_t nroutes)
{
    const char *run_id = github_str(plan, "run_id", "1");
    struct rn_artifact_service_opts ao = {
        .token = sv->token, .run_backend_id = run_id, .extra = routes, .nextra = nroutes};
    struct gr_diag d = {0};
    int r;

    if (o->artifact_dir)
        sv->artifact_dir = gr_xstrdup(o->artifact_dir);
    else
        sv->artifact_dir =
            gr_xasprintf("%s/.ghrun/artifacts/%s", o->directory ? o->directory : ".", run_id);
    sv->artifact_dir_created = !o->artifact_dir && !gr_path_exists(sv->artifact_dir);
    ao.dir = sv->artifact_dir;
    r = rn_artifact_service_start(&sv->loop, &ao, &sv->art, &d);
    if (r < 0)
        fprintf(stderr, "ghrun replay: cannot start the artifact service: %s\n", d.msg);
    return r;
}

static void set_env(struct services *sv)
{
    const char *url = rn_artifact_service_url(sv->art);
    size_t n = 0;

    sv->env[n++] = gr_xasprintf("ACTIONS_RUNTIME_URL=%s", url);
    sv->env[n++] = gr_xasprintf("ACTIONS_RUNTIME_TOKEN=%s", sv->token);
    sv->env[n++] = gr_xasprintf("ACTIONS_RESULTS_URL=%s", url);
    if (sv->cache) {
        /* 3.x speaks v1 to ACTIONS_CACHE_URL; 4.x speaks Twirp v2 to ACTIONS_RESULTS_URL,
         * whose server answers the CacheService too (toolkit packages/cache/src/internal/
         * config.ts getCacheServiceVersion). */
        sv->env[n++] = gr_xasprintf("ACTIONS_CACHE_URL=%s", rn_cache_service_url(sv->cache));
        sv->env[n++] = gr_xstrdup("ACTIONS_CACHE_SERVICE_V2=true");
    }
    sv->env[n] = NULL;
}

/* Start the services on their own loop and thread; fills sv->env for the steps. */
static int services_start(struct services *sv, const struct ex_plan *plan,
                          const struct rn_replay_opts *o)
{
    struct rn_httpd_route routes[RN_ARTIFACT_MAX_EXTRA_ROUTES];
    const char *run_id = github_str(plan, "run_id", "1");
    size_t nroutes = 0;
    int r;

    r = uv_loop_init(&sv->loop);
    if (r < 0)
        return r;
    sv->loop_ok = true;
    sv->token = rn_artifact_token_new(run_id, run_id);
    if (start_cache(sv, plan, routes, &nroutes) < 0)
        sv->cache = NULL;
    r = start_artifacts(sv, plan, o, routes, nroutes);
    if (r == 0) {
        set_env(sv);
        uv_async_init(&sv->loop, &sv->stop, on_stop);
        sv->stop.data = sv;
        r = uv_thread_create(&sv->thread, services_thread, sv);
        if (r < 0)
            uv_close((uv_handle_t *)&sv->stop, NULL);
    }
    if (r < 0) {
        if (sv->art)
            rn_artifact_service_close(sv->art, artifacts_closed, sv);
        else
            artifacts_closed(sv);
        sv->art = NULL;
        (void)uv_run(&sv->loop, UV_RUN_DEFAULT);
        return r;
    }
    sv->running = true;
    return 0;
}

/* Remove the default store again when the run stored nothing in it. */
static void prune_empty_store(struct services *sv)
{
    char *parent;

    if (!sv->artifact_dir_created)
        return;
    if (gr_rm_rf(sv->artifact_dir) < 0)
        return;
    parent = gr_xstrdup(sv->artifact_dir);
    for (int i = 0; i < 2; i++) {
        char *slash = strrchr(parent, '/');
        if (!slash)
            break;
        *slash = '\0';
        if (rmdir(parent) < 0)
            break;
    }
    free(parent);
}

/* "Artifacts of this run" with name and size, or nothing when there are none. */
static void list_artifacts(struct services *sv)
{
    struct ex_artifact_store *st = NULL;
    struct ex_artifact *v = NULL;
    size_t n = 0;

    if (!sv->artifact_dir || ex_artifact_open(sv->artifact_dir, &st, NULL) < 0)
        return;
    if (ex_artifact_list(st, &v, &n) == 0 && n > 0) {
        printf("Artifacts in '%s':\n", sv->artifact_dir);
        for (size_t i = 0; i < n; i++)
            printf("  %-40s %12" PRIu64 " bytes\n", v[i].name, v[i].size);
    }
    ex_artifacts_free(v, n);
    ex_artifact_free(st);
    if (n == 0)
        prune_empty_store(sv);
}

static void services_stop(struct services *sv)
{
    if (sv->running) {
        uv_async_send(&sv->stop);
        uv_thread_join(&sv->thread);
    }
    if (sv->loop_ok && uv_loop_close(&sv->loop) < 0)
        fprintf(stderr, "ghrun replay: the services' loop is still busy at exit, ignoring\n");
    list_artifacts(sv);
    for (size_t i = 0; sv->env[i]; i++)
        free(sv->env[i]);
    free(sv->artifact_dir);
    free(sv->token);
}

static void walk_close(uv_handle_t *h, void *arg)
{
    (void)arg;
    if (!uv_is_closing(h))
        uv_close(h, NULL);
}

static int loop_close(uv_loop_t *loop)
{
    int r = uv_loop_close(loop);

    if (r == UV_EBUSY) {
        uv_walk(loop, walk_close, NULL);
        (void)uv_run(loop, UV_RUN_DEFAULT);
        r = uv_loop_close(loop);
    }
    return r;
}

/* Says once, before the first job, what the sandbox cannot enforce on this host. */
static int sandbox_report(const struct sb_policy *p)
{
    static bool said;
    struct sb_job *probe = NULL;

    if (said)
        return 0;
    said = true;
    if (sb_job_new("probe", p, &probe) < 0) {
        fprintf(stderr, "ghrun replay: %s\n", sb_last_error());
        return -1;
    }
    for (const char *const *d = sb_job_degraded(probe); *d; d++)
        fprintf(stderr, "ghrun replay: sandbox protection off: %s\n", *d);
    sb_job_free(probe);
    return 0;
}

/*
 * Limits, masks and network for a sandboxed replay come from the runner's
 * sandbox settings file named by GHRUN_SANDBOX_CONFIG (sandbox_config.h);
 * --sandbox sets the strictness. As root, steps run as a job slot's uid (the
 * file's slot_uid is the base), the project bound idmapped for it.
 */
static int sandbox_settings(struct rn_sandbox_config *sc, struct sb_policy *policy)
{
    const char *path = getenv("GHRUN_SANDBOX_CONFIG");
    struct gr_diag d = {0};
    bool strict = policy->strict;
    char msg[700];

    if (!path || !*path)
        return 0;
    if (rn_sandbox_config_load_file(path, NULL, sc, &d) < 0) {
        gr_diag_format(&d, msg, sizeof(msg));
        fprintf(stderr, "ghrun replay: %s\n", msg);
        return -1;
    }
    rn_config_sandbox_policy(sc, policy);
    policy->strict = strict;
    return 0;
}

/* The per-job rules and GPU slots of the settings (sandboxed replays only). */
static void job_settings(const struct rn_sandbox_config *sc, struct ex_gpu_slots *gpus,
                         struct ex_run_opts *ro)
{
    ro->limit_rules = sc->rules;
    ro->n_limit_rules = sc->n_rules;
    if (rn_config_gpu_slots(sc, gpus) > 0)
        ro->gpus = gpus;
}

int rn_replay_run(struct ex_plan *plan, const struct rn_replay_opts *o)
{
    struct ex_run_opts ro = {
        .max_jobs = o->jobs,
        .verbose = o->verbose,
        .workdir = o->directory ? o->directory : ".",
        .json_path = o->json_path,
        .node = o->node,
        .action_dir = o->action_dir,
        .actions_url = o->actions_url,
        /* the resolver's source order, as for a registered runner (runner/actions_dl.c) */
        .action_sources = getenv("GHRUN_ACTION_SOURCES"),
        .no_native = o->no_native,
        .no_native_list = o->native_off,
        .persist = o->persist ? o->persist : "", /* checked by the CLI (GHRUN_PERSIST too) */
    };
    /* Replay (sandboxed by default, best-effort) runs steps as a job slot's uid when root, else
     * as the invoking user, and
     * adds only the workspace and state directory as writable paths (the engine does that);
     * the rest of / is read-only, /tmp and $HOME are private to each job. */
    struct sb_policy policy = {.strict = o->sandbox && !strcmp(o->sandbox, "strict"),
                               .slot_auto = true};
    struct rn_sandbox_config sc = {0};
    struct ex_gpu_slots gpus;
    struct ex_term_reporter *term = NULL;
    struct services sv = {0};
    uv_loop_t loop;
    bool ok = false;
    int r;

    if (o->sandbox)
        ro.sandbox = &policy;
    ro.quiet_sandbox = true; /* sandbox_report() says it once for the run */
    if (o->sandbox && (sandbox_settings(&sc, &policy) < 0 || sandbox_report(&policy) < 0)) {
        rn_sandbox_config_release(&sc);
        return 2;
    }
    if (o->sandbox)
        job_settings(&sc, &gpus, &ro);
    r = uv_loop_init(&loop);
    if (r < 0) {
        fprintf(stderr, "ghrun replay: cannot create the event loop: %s\n", uv_strerror(r));
        rn_sandbox_config_release(&sc);
        return 2;
    }
    if (services_start(&sv, plan, o) < 0)
        fprintf(stderr, "ghrun replay: running without the cache and artifact services\n");
    else
        ro.step_env = (const char *const *)sv.env;
    ro.artifact_dir = sv.artifact_dir;
    term = ex_term_reporter_new(stdout, isatty(STDOUT_FILENO) == 1, o->verbose);
    r = ex_run_plan(&loop, plan, &ro, ex_term_reporter_get(term), &ok);
    ex_term_reporter_finish(term);
    ex_term_reporter_free(term);
    services_stop(&sv);
    fflush(stdout);
    rn_sandbox_config_release(&sc);
    if (loop_close(&loop) < 0)
        fprintf(stderr, "ghrun replay: event loop still busy at exit, ignoring\n");
    if (r < 0) {
        fprintf(stderr, "ghrun replay: %s: %s\n", plan->wf && plan->wf->path ? plan->wf->path : "",
                gr_strerror(r));
        return 2;
    }
    return ok ? 0 : 1;
}
