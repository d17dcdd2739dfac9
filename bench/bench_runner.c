/*
 * bench_runner: the costs of `ghrun run` against a fake GitHub written in C.
 *
 * The fake (rn_httpd on this process's loop) answers OAuth, sessions, the
 * long-poll (held like GitHub's, default 50 s), message deletes and the run
 * service (acquire, renew, complete) in microseconds, and stamps each request
 * as it arrives, so that the server is not what gets measured.
 *
 *   1. Start-up to the first long-poll (median of -r runs), split at the
 *      server-side arrival of the OAuth, session and poll requests, with the
 *      runner's CPU time when its first poll arrives (/proc/PID/schedstat).
 *      Baselines in the same run: `ghrun-listener --version` (exec and dynamic
 *      loading of the listener program alone; `ghrun run` is the launcher
 *      `ghrun` exec'ing it), `ghrun-engine --version` (the same for the full
 *      program, which `ghrun` was before the split), `curl`
 *      getting its first request to the same server, bench-curl-empty (a
 *      program that only links libcurl: spawn to exit is loading libcurl and
 *      its libraries), and, in this process, loading the runner files and key
 *      and signing one JWT.
 *   2. Idle: RSS, PSS and private memory 2 s after the first poll and again
 *      after the idle period (the largest mappings listed), the pre-started
 *      worker's memory separately, and CPU time over -i seconds of
 *      long-polling. Baseline in the same run, side by side: `curl` holding the
 *      same kind of long-poll.
 *   3. Job latency (median of -j jobs): from the held poll being answered with
 *      a job message to the first step, with where the time goes (delete,
 *      acquire, renewal as the server sees them); each job comes -w ms after
 *      the runner is back to an idle long-poll. Two kinds of first step: one
 *      whose shell is bench-stamp (`shell: bench-stamp {0}`, a static program
 *      without libc that reads CLOCK_REALTIME as its first instruction: the
 *      moment the step's process starts), then a bash script writing
 *      $EPOCHREALTIME (bash's own start-up included). Baselines: bench-stamp
 *      posix_spawn'ed directly, and bash started directly on the same script.
 *      Measured with the pre-started worker (the default) and then with a
 *      runner started with GHRUN_PRESTART=0. With -T the runner runs with
 *      GHRUN_TRACE_LATENCY=1 and the marks it writes to its log (listener,
 *      worker and job set-up) are printed as medians after the job message.
 *
 * usage: bench_runner [-r runs] [-j jobs] [-i idle_s] [-H hold_s] [-w settle_ms] [-L] [-T] [ghrun]
 * -L puts "localhost" in the runner's URLs (a name lookup, as with GitHub) instead of 127.0.0.1.
 * ghrun defaults to $GHRUN, then ghrun next to this executable.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <spawn.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <uv.h>

#include "gr.h"
#include "httpd.h"
#include "protocol.h"

#define MAX_SAMPLES 256

struct samples {
    double v[MAX_SAMPLES];
    int n;
};

struct fake {
    uv_loop_t *loop;
    struct rn_httpd *httpd;
    int port;
    const char *host; /* in the runner's URLs: 127.0.0.1, or localhost with -L (a DNS lookup) */
    char *root, *stamp;
    const char *stamp_prog; /* the job's step: this program as its shell (NULL: bash, as before) */
    unsigned hold_ms;
    unsigned settle_ms; /* -w: idle this long before each job message */
    /* monotonic arrival times of the current run, 0 until seen */
    uint64_t t_oauth, t_session, t_poll, t_delete, t_acquire, t_renew, t_complete, t_base;
    uint64_t cpu_at_poll; /* runner CPU ns when its first poll arrived */
    uint64_t cpu_at_base; /* baseline curl's CPU ns when its request arrived */
    int runner_pid, base_pid;
    struct rn_http_req *held, *held_base;
    uv_timer_t hold_timer;
    long long next_msg;
    bool job_ready;   /* a job message waits for the next poll */
    bool held_online; /* the held poll says status=Online (no job running) */
    int completions, unknown;
    uint64_t t_sent_mono;
    double t_sent_real;
    int log_fd; /* the runner's stdout and stderr */
    bool trace; /* -T: GHRUN_TRACE_LATENCY=1, the runner's marks per job */
};

/* -T: the runner's latency marks (ms after the job message), by label in order of appearance. */
#define MAX_MARKS 40
struct marks {
    char label[MAX_MARKS][64];
    struct samples s[MAX_MARKS];
    int n;
};

static double real_now(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void add(struct samples *s, double v)
{
    if (s->n < MAX_SAMPLES)
        s->v[s->n++] = v;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;

    return x < y ? -1 : x > y;
}

static double median(struct samples *s)
{
    if (!s->n)
        return 0;
    qsort(s->v, (size_t)s->n, sizeof(double), cmp_double);
    return s->n % 2 ? s->v[s->n / 2] : (s->v[s->n / 2 - 1] + s->v[s->n / 2]) / 2;
}

static uint64_t cpu_ns(int pid)
{
    char path[64], buf[128];
    unsigned long long ns = 0;
    FILE *f;

    snprintf(path, sizeof(path), "/proc/%d/schedstat", pid);
    f = fopen(path, "r");
    if (!f)
        return 0;
    if (fgets(buf, sizeof(buf), f))
        ns = strtoull(buf, NULL, 10);
    fclose(f);
    return ns;
}

/* CPU time of the reaped children of this process, in ns. */
static uint64_t children_cpu_ns(void)
{
    struct rusage ru;

    getrusage(RUSAGE_CHILDREN, &ru);
    return ((uint64_t)ru.ru_utime.tv_sec + (uint64_t)ru.ru_stime.tv_sec) * 1000000000ull +
           ((uint64_t)ru.ru_utime.tv_usec + (uint64_t)ru.ru_stime.tv_usec) * 1000ull;
}

/* ---- the fake GitHub ---- */

static void respond_json(struct rn_http_req *req, int status, json_t *j)
{
    char *s = json_dumps(j, JSON_COMPACT);

    rn_http_respond(req, status, "application/json", s, strlen(s));
    free(s);
    json_decref(j);
}

static char *base_url(const struct fake *f)
{
    return gr_xasprintf("http://%s:%d", f->host, f->port);
}

/* The job message (the shape tests/integration/fake_github.py sends). */
static json_t *job_message(struct fake *f)
{
    char *base = base_url(f), *url = gr_xasprintf("%s/run/", base);
    char *script = f->stamp_prog ? gr_xasprintf("%s\n", f->stamp)
                                 : gr_xasprintf("echo $EPOCHREALTIME >'%s'", f->stamp);
    char *shell = f->stamp_prog ? gr_xasprintf("%s {0}", f->stamp_prog) : NULL;
    json_t *inputs;
    char jid[64];
    json_t *j;

    snprintf(jid, sizeof(jid), "5a1b0e2c-0000-4000-8000-%012lld", f->next_msg);
    j = json_pack("{s:s,s:{s:s,s:s,s:s,s:i},s:{s:s},s:s,s:s,s:s,s:i,"
                  "s:{s:[{s:s,s:s,s:{s:s,s:{s:s}},s:{}}]},"
                  "s:{s:{s:s,s:b},s:{s:s}},s:[],s:{s:{s:i,s:[{s:s,s:s}]}},s:[{s:i,s:[]}],"
                  "s:[{s:s,s:s,s:s,s:s,s:{s:s},s:{s:i,s:[{s:s,s:s}]},s:s}],s:[s]}",
                  "messageType", "RunnerJobRequest", "plan", "scopeIdentifier",
                  "00000000-0000-0000-0000-000000000000", "planType", "actions", "planId",
                  "5a1b0e2c-0000-4000-8000-000000000001", "version", 9, "timeline", "id",
                  "5a1b0e2c-0000-4000-8000-000000000002", "jobId", jid, "jobDisplayName", "bench",
                  "jobName", "__default", "requestId", (int)f->next_msg, "resources", "endpoints",
                  "name", "SystemVssConnection", "url", url, "authorization", "scheme", "OAuth",
                  "parameters", "AccessToken", "jobtok-bench", "data", "variables",
                  "system.github.token", "value", "ghs_bench", "isSecret", 1, "system.github.job",
                  "value", "build", "mask", "contextData", "github", "t", 2, "d", "k", "repository",
                  "v", "acme/widgets", "environmentVariables", "type", 2, "map", "steps", "type",
                  "action", "id", "5a1b0e2c-0000-4000-8000-000000000004", "name", "__run",
                  "contextName", "__run", "reference", "type", "script", "inputs", "type", 2, "map",
                  "Key", "script", "Value", script, "condition", "success()", "fileTable",
                  ".github/workflows/ci.yml");

    free(base);
    free(url);
    free(script);
    if (!j)
        abort();
    /* `shell: PROGRAM {0}`: the step's process is the stamp itself */
    inputs = json_object_get(
        json_object_get(json_array_get(json_object_get(j, "steps"), 0), "inputs"), "map");
    if (shell &&
        json_array_append_new(inputs, json_pack("{s:s,s:s}", "Key", "shell", "Value", shell)) < 0)
        abort();
    free(shell);
    return j;
}

static void answer_poll(struct fake *f, struct rn_http_req *req)
{
    char *base = base_url(f), *run = gr_xasprintf("%s/run/", base);
    char rid[32], jid[64];
    json_t *body;

    snprintf(rid, sizeof(rid), "%lld", f->next_msg + 1);
    snprintf(jid, sizeof(jid), "5a1b0e2c-0000-4000-8000-%012lld", f->next_msg + 1);
    body = json_pack("{s:s,s:s,s:s,s:b,s:s}", "id", jid, "runner_request_id", rid,
                     "run_service_url", run, "should_acknowledge", 0, "billing_owner_id", "o1");
    char *text;

    text = json_dumps(body, JSON_COMPACT);
    f->job_ready = false;
    f->t_sent_mono = gr_now_ns();
    f->t_sent_real = real_now();
    respond_json(req, 200,
                 json_pack("{s:I,s:s,s:n,s:s}", "messageId", (json_int_t)++f->next_msg,
                           "messageType", "RunnerJobRequest", "iv", "body", text));
    free(text);
    json_decref(body);
    free(run);
    free(base);
}

static void release_held(struct fake *f)
{
    uv_timer_stop(&f->hold_timer);
    if (f->held)
        rn_http_respond(f->held, 202, NULL, NULL, 0);
    if (f->held_base)
        rn_http_respond(f->held_base, 202, NULL, NULL, 0);
    f->held = f->held_base = NULL;
}

/* The runner's long-poll ends empty, as GitHub's does after about 50 s. */
static void on_hold_timer(uv_timer_t *t)
{
    struct fake *f = t->data;

    if (f->held)
        rn_http_respond(f->held, 202, NULL, NULL, 0);
    f->held = NULL;
}

static void hold(struct fake *f, struct rn_http_req *req, bool base)
{
    if (base) {
        f->held_base = req; /* held until the idle measurement is over */
        return;
    }
    if (f->held)
        rn_http_respond(f->held, 202, NULL, NULL, 0);
    f->held = req;
    uv_timer_start(&f->hold_timer, on_hold_timer, f->hold_ms, 0);
}

static void handle(struct rn_http_req *req, void *ctx)
{
    struct fake *f = ctx;
    const char *p = req->path, *m = req->method;
    uint64_t now = gr_now_ns();

    if (!strcmp(p, "/baseline")) {
        if (!f->t_base) {
            f->t_base = now;
            f->cpu_at_base = f->base_pid ? cpu_ns(f->base_pid) : 0;
        }
        if (strstr(req->query, "hold"))
            hold(f, req, true);
        else
            rn_http_respond(req, 200, "text/plain", "ok\n", 3);
    } else if (gr_startswith(p, "/oauth/")) {
        if (!f->t_oauth)
            f->t_oauth = now;
        respond_json(req, 200,
                     json_pack("{s:s,s:s,s:i}", "access_token", "at-bench", "token_type", "JWT",
                               "expires_in", 3600));
    } else if (gr_startswith(p, "/tenant/_apis/distributedtask/pools/1/sessions")) {
        if (!strcmp(m, "POST") && !f->t_session)
            f->t_session = now;
        if (!strcmp(m, "POST"))
            respond_json(req, 200, json_pack("{s:s}", "sessionId", "bench-session"));
        else
            rn_http_respond(req, 204, NULL, NULL, 0);
    } else if (gr_startswith(p, "/tenant/_apis/distributedtask/pools/1/messages")) {
        if (strcmp(m, "GET")) {
            if (!f->t_delete)
                f->t_delete = now;
            rn_http_respond(req, 204, NULL, NULL, 0);
            return;
        }
        if (!f->t_poll) {
            f->t_poll = now;
            f->cpu_at_poll = f->runner_pid ? cpu_ns(f->runner_pid) : 0;
        }
        if (f->job_ready) {
            answer_poll(f, req);
        } else {
            hold(f, req, false);
            f->held_online = strstr(req->query, "status=Online") != NULL;
        }
    } else if (!strcmp(p, "/run/acquirejob")) {
        if (!f->t_acquire)
            f->t_acquire = now;
        respond_json(req, 200, job_message(f));
    } else if (!strcmp(p, "/run/renewjob")) {
        if (!f->t_renew)
            f->t_renew = now;
        respond_json(req, 200, json_pack("{s:s}", "lockedUntil", "2099-01-01T00:00:00Z"));
    } else if (!strcmp(p, "/run/completejob")) {
        f->t_complete = now;
        f->completions++;
        respond_json(req, 200, json_object());
    } else {
        /* timeline, logs and anything else a reporter sends: accepted */
        f->unknown++;
        respond_json(req, 200, json_pack("{s:i,s:i,s:[]}", "id", 1, "count", 0, "value"));
    }
}

static const struct rn_httpd_route routes[] = {
    {.method = NULL, .prefix = "/", .max_body = 64u << 20, .fn = handle},
};

/* ---- processes ---- */

struct proc {
    uv_process_t h;
    bool exited;
    int64_t status;
};

static void on_exit_cb(uv_process_t *h, int64_t status, int sig)
{
    struct proc *p = gr_container_of(h, struct proc, h);

    p->exited = true;
    p->status = sig ? 128 + sig : status;
    uv_close((uv_handle_t *)h, NULL);
}

static int spawn(uv_loop_t *loop, struct proc *p, char **argv, int out_fd)
{
    uv_stdio_container_t io[3] = {
        {.flags = UV_IGNORE},
        {.flags = out_fd >= 0 ? UV_INHERIT_FD : UV_IGNORE, .data.fd = out_fd},
        {.flags = out_fd >= 0 ? UV_INHERIT_FD : UV_IGNORE, .data.fd = out_fd},
    };
    uv_process_options_t o = {
        .file = argv[0], .args = argv, .exit_cb = on_exit_cb, .stdio_count = 3, .stdio = io};
    int r;

    memset(p, 0, sizeof(*p));
    r = uv_spawn(loop, &p->h, &o);
    if (r < 0) {
        fprintf(stderr, "bench_runner: cannot start %s: %s\n", argv[0], uv_strerror(r));
        p->exited = true;
    }
    return r;
}

static void on_wake(uv_timer_t *t)
{
    (void)t;
}

/* Run the loop until *flag is true or ms pass; returns whether it became true. */
static bool wait_flag(uv_loop_t *loop, const volatile bool *flag, uint64_t ms)
{
    uv_timer_t t;
    uint64_t end = uv_hrtime() + ms * 1000000ull;

    uv_timer_init(loop, &t);
    uv_timer_start(&t, on_wake, 5, 5);
    while (!*flag && uv_hrtime() < end)
        uv_run(loop, UV_RUN_ONCE);
    uv_close((uv_handle_t *)&t, NULL);
    uv_run(loop, UV_RUN_NOWAIT);
    return *flag;
}

static bool wait_nonzero(uv_loop_t *loop, const uint64_t *v, uint64_t ms)
{
    uv_timer_t t;
    uint64_t end = uv_hrtime() + ms * 1000000ull;

    uv_timer_init(loop, &t);
    uv_timer_start(&t, on_wake, 5, 5);
    while (!*v && uv_hrtime() < end)
        uv_run(loop, UV_RUN_ONCE);
    uv_close((uv_handle_t *)&t, NULL);
    uv_run(loop, UV_RUN_NOWAIT);
    return *v != 0;
}

static void sleep_loop(uv_loop_t *loop, uint64_t ms)
{
    bool never = false;

    wait_flag(loop, &never, ms);
}

static void stop_proc(struct fake *f, struct proc *p)
{
    if (!p->exited)
        uv_process_kill(&p->h, SIGTERM);
    if (!wait_flag(f->loop, &p->exited, 20000)) {
        uv_process_kill(&p->h, SIGKILL);
        wait_flag(f->loop, &p->exited, 5000);
    }
}

static void reset_times(struct fake *f)
{
    f->t_oauth = f->t_session = f->t_poll = f->t_delete = f->t_acquire = f->t_renew = 0;
    f->t_complete = f->t_base = f->cpu_at_poll = f->cpu_at_base = 0;
}

/* ---- memory ---- */

struct mapsum {
    char name[80];
    long rss, pss, priv;
};

/* Sum /proc/PID/smaps by mapping name; fills totals (kB) and up to `max` largest by RSS. */
static int smaps(int pid, struct mapsum *tot, struct mapsum *top, int max)
{
    char path[64], line[512], cur[80] = "[anon]";
    struct mapsum all[512];
    int n = 0, ntop = 0;
    FILE *fp;

    snprintf(path, sizeof(path), "/proc/%d/smaps", pid);
    fp = fopen(path, "r");
    if (!fp)
        return -errno;
    memset(tot, 0, sizeof(*tot));
    while (fgets(line, sizeof(line), fp)) {
        long v;
        char key[64];
        if (sscanf(line, "%63[^:]: %ld kB", key, &v) == 2 && !strchr(key, ' ')) {
            int i;
            for (i = 0; i < n && strcmp(all[i].name, cur); i++)
                ;
            if (i == n && n < 512) {
                memset(&all[n], 0, sizeof(all[n]));
                snprintf(all[n].name, sizeof(all[n].name), "%s", cur);
                n++;
            }
            if (i == n)
                continue;
            if (!strcmp(key, "Rss"))
                all[i].rss += v, tot->rss += v;
            else if (!strcmp(key, "Pss"))
                all[i].pss += v, tot->pss += v;
            else if (!strcmp(key, "Private_Clean") || !strcmp(key, "Private_Dirty"))
                all[i].priv += v, tot->priv += v;
        } else if (strchr(line, '-') && strchr(line, ' ')) {
            char *name = NULL;
            int fields = 0;
            for (char *q = line; *q && fields < 5; q++)
                if (*q == ' ' && q[1] != ' ' && ++fields == 5)
                    name = q + 1;
            if (name && *name && *name != '\n') {
                const char *slash = strrchr(name, '/');
                snprintf(cur, sizeof(cur), "%s", slash ? slash + 1 : name);
                cur[strcspn(cur, "\n")] = '\0';
            } else {
                snprintf(cur, sizeof(cur), "[anon]");
            }
        }
    }
    fclose(fp);
    for (int k = 0; k < max; k++) {
        int best = -1;
        for (int i = 0; i < n; i++)
            if (all[i].rss > 0 && (best < 0 || all[i].rss > all[best].rss))
                best = i;
        if (best < 0)
            break;
        top[ntop++] = all[best];
        all[best].rss = -1;
    }
    return ntop;
}

static void print_mem(const char *who, int pid, int ntop)
{
    struct mapsum tot, top[12];
    int n = smaps(pid, &tot, top, ntop < 12 ? ntop : 12);

    if (n < 0) {
        printf("  %s: cannot read smaps\n", who);
        return;
    }
    printf("  %-18s RSS %6ld kB  PSS %6ld kB  private %6ld kB\n", who, tot.rss, tot.pss, tot.priv);
    for (int i = 0; i < n; i++)
        printf("      %-28s RSS %5ld  PSS %5ld  private %5ld\n", top[i].name, top[i].rss,
               top[i].pss, top[i].priv);
}

/* ---- the runner's files ---- */

static int configure(struct fake *f)
{
    struct rn_settings s = {0};
    struct rn_creds c = {0};
    struct evp_pkey_st *key = NULL;
    int r;

    s.agent_id = 1;
    s.agent_name = gr_xstrdup("bench");
    s.pool_id = 1;
    s.pool_name = gr_xstrdup("Default");
    s.server_url = gr_xasprintf("http://%s:%d/tenant/", f->host, f->port);
    s.github_url = gr_xasprintf("http://%s:%d/acme/widgets", f->host, f->port);
    s.work_folder = gr_xstrdup("_work");
    s.disable_update = true;
    c.client_id = gr_xstrdup("bench-client");
    c.authorization_url = gr_xasprintf("http://%s:%d/oauth/token", f->host, f->port);
    r = rn_key_generate(&key);
    if (r == 0)
        r = rn_config_save(f->root, &s, &c, key);
    rn_key_free(key);
    rn_settings_release(&s);
    rn_creds_release(&c);
    return r;
}

/* In this process: loading the three files with the key, and one JWT signature. */
static void inproc(struct fake *f, struct samples *load, struct samples *sign)
{
    for (int i = 0; i < 30; i++) {
        struct rn_settings s = {0};
        struct rn_creds c = {0};
        struct evp_pkey_st *key = NULL;
        char *jwt = NULL;
        uint64_t t0 = gr_now_ns(), t1, t2;

        if (rn_config_load(f->root, &s, &c, &key, NULL) < 0)
            return;
        t1 = gr_now_ns();
        if (rn_jwt_assertion(key, false, c.client_id, c.authorization_url, (long long)time(NULL),
                             &jwt) == 0) {
            t2 = gr_now_ns();
            add(load, (double)(t1 - t0) / 1e6);
            add(sign, (double)(t2 - t1) / 1e6);
        }
        free(jwt);
        rn_key_free(key);
        rn_settings_release(&s);
        rn_creds_release(&c);
    }
}

/* ---- the measurements ---- */

static double ms_since(uint64_t t0, uint64_t t)
{
    return t ? (double)(t - t0) / 1e6 : -1;
}

static char *find_curl(void)
{
    const char *path = getenv("PATH");
    char *copy = gr_xstrdup(path ? path : "/usr/bin:/bin"), *save = NULL, *found = NULL;

    for (char *d = strtok_r(copy, ":", &save); d && !found; d = strtok_r(NULL, ":", &save)) {
        char *p = gr_path_join(d, "curl");
        if (access(p, X_OK) == 0)
            found = p;
        else
            free(p);
    }
    free(copy);
    return found;
}

/* The program `name` next to ghrun. Owned. */
static char *sibling(const char *ghrun, const char *name)
{
    const char *slash = strrchr(ghrun, '/');

    if (!slash)
        return gr_xstrdup(name);
    return gr_xasprintf("%.*s%s", (int)(slash - ghrun + 1), ghrun, name);
}

/* The program `name` next to this executable, or NULL when it is not there. Owned. */
static char *self_sibling(const char *name)
{
    char self[PATH_MAX], *p;
    ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);

    if (n <= 0)
        return NULL;
    self[n] = '\0';
    p = sibling(self, name);
    if (access(p, X_OK) == 0)
        return p;
    free(p);
    return NULL;
}

/* The first child process of pid (the pre-started worker), or 0. */
static int first_child(int pid)
{
    char path[64];
    int child = 0;
    FILE *fp;

    snprintf(path, sizeof(path), "/proc/%d/task/%d/children", pid, pid);
    fp = fopen(path, "r");
    if (!fp)
        return 0;
    if (fscanf(fp, "%d", &child) != 1)
        child = 0;
    fclose(fp);
    return child;
}

static void startup(struct fake *f, const char *ghrun, int runs, int log_fd)
{
    struct samples oauth = {0}, sess = {0}, poll = {0}, cpu = {0}, ver = {0}, curl = {0};
    struct samples vercpu = {0}, curlcpu = {0}, eng = {0}, engcpu = {0};
    struct samples load = {0}, sign = {0};
    char *argv[] = {(char *)ghrun, "run", "--root", f->root, NULL};
    char *listener = sibling(ghrun, "ghrun-listener");
    char *vargv[] = {listener, "--version", NULL};
    char *engine = sibling(ghrun, "ghrun-engine");
    char *eargv[] = {engine, "--version", NULL};
    char *curl_path = find_curl();
    char *burl = gr_xasprintf("http://%s:%d/baseline", f->host, f->port);
    char *cargv[] = {curl_path, "-s", "-o", "/dev/null", burl, NULL};
    char *empty = self_sibling("bench-curl-empty");
    char *xargv[] = {empty, NULL};
    struct samples lib = {0}, libcpu = {0};
    struct proc p;

    for (int i = 0; i < runs; i++) {
        uint64_t t0, c0;
        reset_times(f);
        t0 = gr_now_ns();
        if (spawn(f->loop, &p, argv, log_fd) < 0)
            break;
        f->runner_pid = p.h.pid;
        if (!wait_nonzero(f->loop, &f->t_poll, 30000)) {
            fprintf(stderr, "bench_runner: no poll within 30 s (see the runner log)\n");
            stop_proc(f, &p);
            break;
        }
        add(&oauth, ms_since(t0, f->t_oauth));
        add(&sess, ms_since(t0, f->t_session));
        add(&poll, ms_since(t0, f->t_poll));
        add(&cpu, (double)f->cpu_at_poll / 1e6);
        stop_proc(f, &p);
        release_held(f);

        t0 = gr_now_ns();
        c0 = children_cpu_ns();
        if (spawn(f->loop, &p, vargv, -1) == 0) {
            wait_flag(f->loop, &p.exited, 10000);
            add(&ver, ms_since(t0, gr_now_ns()));
            add(&vercpu, (double)(children_cpu_ns() - c0) / 1e6);
        }
        t0 = gr_now_ns();
        c0 = children_cpu_ns();
        if (access(engine, X_OK) == 0 && spawn(f->loop, &p, eargv, -1) == 0) {
            wait_flag(f->loop, &p.exited, 10000);
            add(&eng, ms_since(t0, gr_now_ns()));
            add(&engcpu, (double)(children_cpu_ns() - c0) / 1e6);
        }
        t0 = gr_now_ns();
        c0 = children_cpu_ns();
        if (empty && spawn(f->loop, &p, xargv, -1) == 0) {
            wait_flag(f->loop, &p.exited, 10000);
            add(&lib, ms_since(t0, gr_now_ns()));
            add(&libcpu, (double)(children_cpu_ns() - c0) / 1e6);
        }
        if (curl_path) {
            reset_times(f);
            t0 = gr_now_ns();
            if (spawn(f->loop, &p, cargv, -1) == 0) {
                f->base_pid = p.h.pid;
                wait_flag(f->loop, &p.exited, 10000);
                add(&curl, ms_since(t0, f->t_base));
                add(&curlcpu, (double)f->cpu_at_base / 1e6);
                f->base_pid = 0;
            }
        }
    }
    f->runner_pid = 0;
    inproc(f, &load, &sign);
    printf("start-up to first poll (median of %d, ms since spawn, server-side arrival):\n", poll.n);
    printf("  OAuth request %.2f, session request %.2f, first poll %.2f (target < 20)\n",
           median(&oauth), median(&sess), median(&poll));
    printf("  runner CPU time when its first poll arrived: %.2f ms\n", median(&cpu));
    printf("  baseline `ghrun-listener --version` (exec, dynamic loading, exit): %.2f ms, CPU %.2f "
           "ms\n",
           median(&ver), median(&vercpu));
    if (eng.n)
        printf("  baseline `ghrun-engine --version` (the full program): %.2f ms, CPU %.2f ms\n",
               median(&eng), median(&engcpu));
    if (lib.n)
        printf("  baseline an empty program linked against libcurl (spawn to exit): %.2f ms, CPU"
               " %.2f ms\n",
               median(&lib), median(&libcpu));
    if (curl.n)
        printf("  baseline `curl URL` (spawn to its request's arrival): %.2f ms, CPU %.2f ms;"
               " ratio ghrun/curl %.2f (wall), %.2f (CPU)\n",
               median(&curl), median(&curlcpu),
               median(&curl) > 0 ? median(&poll) / median(&curl) : 0,
               median(&curlcpu) > 0 ? median(&cpu) / median(&curlcpu) : 0);
    printf("  in-process: load .runner/.credentials/key %.3f ms, sign the JWT %.3f ms\n",
           median(&load), median(&sign));
    free(burl);
    free(curl_path);
    free(empty);
    free(engine);
    free(listener);
}

static int read_stamp(const char *path, double *ret)
{
    char *text = NULL;
    size_t len = 0;
    int r = gr_file_read(path, 4096, &text, &len);

    if (r < 0)
        return r;
    *ret = strtod(text, NULL);
    free(text);
    return *ret > 0 ? 0 : -EINVAL;
}

/* The "ghrun-trace: LABEL NS" lines the runner wrote from offset `from` of its log. */
static void read_marks(struct fake *f, off_t from, struct marks *m)
{
    char line[256];
    bool seen[MAX_MARKS] = {0};
    FILE *fp;
    int fd = dup(f->log_fd);

    if (fd < 0 || lseek(fd, from, SEEK_SET) < 0 || !(fp = fdopen(fd, "r"))) {
        if (fd >= 0)
            close(fd);
        return;
    }
    while (fgets(line, sizeof(line), fp)) {
        char *sp = strrchr(line, ' ');
        unsigned long long ns;
        int i;

        if (!gr_startswith(line, "ghrun-trace: ") || !sp || sscanf(sp, " %llu", &ns) != 1)
            continue;
        *sp = '\0';
        for (i = 0; i < m->n && strcmp(m->label[i], line + 13); i++)
            ;
        if (i == m->n && m->n < MAX_MARKS)
            snprintf(m->label[m->n++], sizeof(m->label[0]), "%.63s", line + 13);
        if (i < m->n && !seen[i] && ns >= f->t_sent_mono) {
            seen[i] = true; /* the first of each in this job */
            add(&m->s[i], (double)(ns - f->t_sent_mono) / 1e6);
        }
    }
    fclose(fp);
}

/* Spawns argv directly (posix_spawn, stdio to /dev/null) and waits for it; 0 or -errno. */
static int spawn_wait(char **argv)
{
    posix_spawn_file_actions_t fa;
    extern char **environ;
    pid_t pid;
    int r, st;

    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
    posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
    r = -posix_spawn(&pid, argv[0], &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    if (r < 0)
        return r;
    while (waitpid(pid, &st, 0) < 0)
        if (errno != EINTR)
            return -errno;
    return WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : -ECHILD;
}

/*
 * The baseline of the current kind of step, started directly: bash on the same script (as
 * before, through the loop's uv_spawn), or the stamp program posix_spawn'ed on its script.
 */
static void job_baseline(struct fake *f, int n, struct samples *ret)
{
    char *script = gr_path_join(f->root, "baseline.sh");
    char *text = f->stamp_prog ? gr_xasprintf("%s\n", f->stamp)
                               : gr_xasprintf("echo $EPOCHREALTIME >'%s'\n", f->stamp);
    char *bargv[] = {"/bin/bash", "--noprofile", "--norc", "-eo", "pipefail", script, NULL};
    char *sargv[] = {(char *)f->stamp_prog, script, NULL};
    struct proc p;

    if (gr_file_write_atomic(script, text, strlen(text), 0644) < 0)
        n = 0;
    for (int i = 0; i < n; i++) {
        double t, t0;

        unlink(f->stamp);
        t0 = real_now();
        if (f->stamp_prog) {
            if (spawn_wait(sargv) < 0)
                break;
        } else {
            if (spawn(f->loop, &p, bargv, -1) < 0)
                break;
            wait_flag(f->loop, &p.exited, 10000);
        }
        if (read_stamp(f->stamp, &t) == 0)
            add(ret, (t - t0) * 1e3);
    }
    free(text);
    free(script);
}

static void jobs(struct fake *f, int njobs, const char *label, bool baseline)
{
    struct samples lat = {0}, del = {0}, acq = {0}, ren = {0}, done = {0}, base = {0};
    struct marks *mk = gr_xcalloc(1, sizeof(*mk));
    const char *what = f->stamp_prog ? "step process started (bench-stamp as its shell)"
                                     : "step script running (bash)";

    for (int i = 0; i < njobs; i++) {
        double t;
        off_t log_off;
        int want = f->completions + 1;
        bool complete = false;
        uint64_t end = uv_hrtime() + 60000000000ull;

        /* wait until the runner is back to an idle long-poll */
        while (!(f->held && f->held_online) && uv_hrtime() < end)
            sleep_loop(f->loop, 1);
        if (!f->held) {
            fprintf(stderr, "bench_runner: the runner is not polling\n");
            break;
        }
        sleep_loop(f->loop, f->settle_ms); /* a runner idle a moment, as between real jobs */
        if (!f->held)
            continue;
        unlink(f->stamp);
        reset_times(f);
        f->t_poll = 1;
        log_off = lseek(f->log_fd, 0, SEEK_END);
        {
            struct rn_http_req *req = f->held;
            f->held = NULL;
            answer_poll(f, req);
        }
        while (!complete && uv_hrtime() < end) {
            sleep_loop(f->loop, 2);
            complete = f->completions >= want;
        }
        if (!complete || read_stamp(f->stamp, &t) < 0) {
            fprintf(stderr, "bench_runner: job %d did not run its step\n", i + 1);
            break;
        }
        add(&lat, (t - f->t_sent_real) * 1e3);
        if (f->trace && log_off >= 0)
            read_marks(f, log_off, mk);
        add(&del, ms_since(f->t_sent_mono, f->t_delete));
        add(&acq, ms_since(f->t_sent_mono, f->t_acquire));
        add(&ren, ms_since(f->t_sent_mono, f->t_renew));
        add(&done, ms_since(f->t_sent_mono, f->t_complete));
    }
    if (baseline)
        job_baseline(f, njobs, &base);
    printf("job message to first step, %s (median of %d, ms; each job %u ms after the"
           " runner is idle):\n",
           label, lat.n, f->settle_ms);
    if (baseline)
        printf("  %s %.2f (target < 10); %s %.2f; difference %.2f\n", what, median(&lat),
               f->stamp_prog ? "baseline posix_spawn of bench-stamp alone"
                             : "baseline bash alone on the same script",
               median(&base), median(&lat) - median(&base));
    else
        printf("  %s %.2f\n", what, median(&lat));
    printf("  server-side: message delete %.2f, acquire %.2f, first renewal %.2f, "
           "completion %.2f\n",
           median(&del), median(&acq), median(&ren), median(&done));
    for (int i = 0; i < mk->n; i++)
        printf("  runner mark %-48s %7.2f (median of %d)\n", mk->label[i], median(&mk->s[i]),
               mk->s[i].n);
    if (f->unknown)
        printf("  (%d requests to other endpoints were answered 200)\n", f->unknown);
    free(mk);
}

/* The jobs of one runner: with bench-stamp as the step's shell (when built), then bash. */
static void job_kinds(struct fake *f, int njobs, const char *label, bool baseline)
{
    const char *prog = f->stamp_prog;

    if (prog)
        jobs(f, njobs, label, baseline);
    f->stamp_prog = NULL;
    jobs(f, njobs, label, baseline);
    f->stamp_prog = prog;
}

static void idle(struct fake *f, const char *ghrun, int idle_s, int njobs, int log_fd)
{
    char *argv[] = {(char *)ghrun, "run", "--root", f->root, NULL};
    char *curl_path = find_curl();
    char *burl = gr_xasprintf("http://%s:%d/baseline?hold=1", f->host, f->port);
    char *cargv[] = {curl_path, "-s", "-o", "/dev/null", "-H", "Authorization: Bearer x",
                     burl,      NULL};
    struct proc p, c = {.exited = true};
    uint64_t c0, c1, b0 = 0, b1 = 0;
    int worker;

    reset_times(f);
    if (spawn(f->loop, &p, argv, log_fd) < 0)
        goto out;
    f->runner_pid = p.h.pid;
    if (!wait_nonzero(f->loop, &f->t_poll, 30000)) {
        fprintf(stderr, "bench_runner: no poll within 30 s\n");
        stop_proc(f, &p);
        goto out;
    }
    if (curl_path)
        (void)spawn(f->loop, &c, cargv, -1);
    sleep_loop(f->loop, 2000);
    printf("idle, long-polling (memory 2 s after the first poll; largest mappings):\n");
    print_mem("ghrun run", p.h.pid, 8);
    worker = first_child(p.h.pid);
    if (worker)
        print_mem("pre-started worker", worker, 4);
    if (!c.exited)
        print_mem("baseline curl", c.h.pid, 4);
    c0 = cpu_ns(p.h.pid);
    if (!c.exited)
        b0 = cpu_ns(c.h.pid);
    sleep_loop(f->loop, (uint64_t)idle_s * 1000);
    c1 = cpu_ns(p.h.pid);
    if (!c.exited)
        b1 = cpu_ns(c.h.pid);
    printf("  CPU over %d s idle (polls answered empty every %u s): ghrun %.2f ms (target < 50);"
           " baseline curl holding one request %.2f ms\n",
           idle_s, f->hold_ms / 1000, (double)(c1 - c0) / 1e6,
           b1 >= b0 ? (double)(b1 - b0) / 1e6 : 0);
    print_mem("ghrun run, end", p.h.pid, 0);
    if (worker && first_child(p.h.pid) == worker)
        printf("  pre-started worker CPU since it started (its start-up, then waiting): %.2f ms\n",
               (double)cpu_ns(worker) / 1e6);
    if (!c.exited)
        stop_proc(f, &c);
    if (f->held_base)
        rn_http_respond(f->held_base, 202, NULL, NULL, 0);
    f->held_base = NULL;
    if (njobs > 0) {
        job_kinds(f, njobs, "pre-started worker (default)", true);
        sleep_loop(f->loop, 1500);
        print_mem("ghrun after jobs", p.h.pid, 0);
    }
    stop_proc(f, &p);
    release_held(f);
    if (njobs > 0) {
        /* the same without the pre-started worker: each job starts its own */
        reset_times(f);
        setenv("GHRUN_PRESTART", "0", 1);
        if (spawn(f->loop, &p, argv, log_fd) == 0) {
            f->runner_pid = p.h.pid;
            if (wait_nonzero(f->loop, &f->t_poll, 30000))
                job_kinds(f, njobs, "GHRUN_PRESTART=0", false);
            stop_proc(f, &p);
            release_held(f);
        }
        unsetenv("GHRUN_PRESTART");
    }
out:
    f->runner_pid = 0;
    free(burl);
    free(curl_path);
}

static char *default_ghrun(void)
{
    char self[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
    char *dir, *p;

    if (getenv("GHRUN") && *getenv("GHRUN"))
        return gr_xstrdup(getenv("GHRUN"));
    if (n <= 0)
        return gr_xstrdup("ghrun");
    self[n] = '\0';
    dir = gr_xstrndup(self, (size_t)(strrchr(self, '/') - self));
    p = gr_path_join(dir, "ghrun");
    free(dir);
    return p;
}

static void httpd_closed(void *arg)
{
    *(bool *)arg = true;
}

int main(int argc, char **argv)
{
    int runs = 15, njobs = 20, idle_s = 60, hold_s = 50, c, log_fd;
    char tmpl[] = "/tmp/ghrun-bench-runner.XXXXXX", *ghrun, *log_path, *stamp_prog;
    struct fake f = {0};
    uv_loop_t loop;
    bool closed = false;

    f.host = "127.0.0.1";
    f.settle_ms = 300;
    while ((c = getopt(argc, argv, "r:j:i:H:w:LT")) != -1) {
        switch (c) {
        case 'T':
            f.trace = true;
            setenv("GHRUN_TRACE_LATENCY", "1", 1);
            break;
        case 'L':
            f.host = "localhost";
            break;
        case 'r':
            runs = atoi(optarg);
            break;
        case 'j':
            njobs = atoi(optarg);
            break;
        case 'i':
            idle_s = atoi(optarg);
            break;
        case 'H':
            hold_s = atoi(optarg);
            break;
        case 'w':
            f.settle_ms = (unsigned)atoi(optarg);
            break;
        default:
            fprintf(stderr, "usage: bench_runner [-r runs] [-j jobs] [-i idle_s] [-H hold_s] "
                            "[-w settle_ms] [-L] [-T] [ghrun]\n");
            return 2;
        }
    }
    ghrun = optind < argc ? gr_xstrdup(argv[optind]) : default_ghrun();
    runs = runs < 1 ? 1 : runs > MAX_SAMPLES ? MAX_SAMPLES : runs;
    njobs = njobs < 0 ? 0 : njobs > MAX_SAMPLES ? MAX_SAMPLES : njobs;
    if (!mkdtemp(tmpl)) {
        perror("bench_runner: mkdtemp");
        return 1;
    }
    signal(SIGPIPE, SIG_IGN);
    uv_loop_init(&loop);
    f.loop = &loop;
    f.root = gr_path_join(tmpl, "root");
    /*
     * steps run in the runner's sandbox as the job slot's uid: the job's workspace
     * (_work/<repo>/<repo>, handed to the slot for the job) is where a step can write
     */
    f.stamp = gr_path_join(tmpl, "root/_work/widgets/widgets/bench-stamp");
    f.hold_ms = (unsigned)hold_s * 1000;
    uv_timer_init(&loop, &f.hold_timer);
    f.hold_timer.data = &f;
    log_path = gr_path_join(tmpl, "runner.log");
    log_fd = open(log_path, O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    f.log_fd = log_fd;
    if (gr_mkdir_p(f.root, 0700) < 0 || log_fd < 0 || gr_mkdir_p(f.stamp, 0755) < 0 ||
        rmdir(f.stamp) < 0 ||
        rn_httpd_start(&loop, "127.0.0.1", 0, routes, GR_ARRAY_SIZE(routes), &f, &f.httpd) < 0) {
        fprintf(stderr, "bench_runner: cannot set up in %s\n", tmpl);
        return 1;
    }
    f.port = rn_httpd_port(f.httpd);
    /* a step's process must be able to run it: in the job's sandbox /tmp is private */
    stamp_prog = self_sibling("bench-stamp");
    if (stamp_prog && gr_startswith(stamp_prog, "/tmp/")) {
        fprintf(stderr,
                "bench_runner: %s is under /tmp, which steps do not see; the"
                " bench-stamp measure is left out\n",
                stamp_prog);
        free(stamp_prog);
        stamp_prog = NULL;
    }
    f.stamp_prog = stamp_prog;
    if (configure(&f) < 0) {
        fprintf(stderr, "bench_runner: cannot write the runner's files\n");
        return 1;
    }
    printf("bench_runner: %s against a C fake GitHub on %s:%d, polls held %d s\n", ghrun, f.host,
           f.port, hold_s);
    startup(&f, ghrun, runs, log_fd);
    idle(&f, ghrun, idle_s, njobs, log_fd);
    release_held(&f);
    uv_close((uv_handle_t *)&f.hold_timer, NULL);
    rn_httpd_close(f.httpd, httpd_closed, &closed);
    wait_flag(&loop, &closed, 5000);
    uv_run(&loop, UV_RUN_DEFAULT);
    uv_loop_close(&loop);
    close(log_fd);
    if (getenv("BENCH_KEEP"))
        printf("files kept in %s\n", tmpl);
    else if (gr_rm_rf(tmpl) < 0)
        fprintf(stderr, "bench_runner: cannot remove %s\n", tmpl);
    free(log_path);
    free(f.root);
    free(f.stamp);
    free(stamp_prog);
    free(ghrun);
    return 0;
}
