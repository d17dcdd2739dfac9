/*
 * bench_native_cache: restore of one cache entry by the native actions/cache/restore step
 * versus the JavaScript side, in the same replay harness and the same run.
 *
 * The JavaScript action itself (actions/cache from GitHub) cannot be fetched without network,
 * so the JavaScript side is the real @actions/cache package from npm (the library the action
 * is built on) called from a `run: node ...` step (tests/integration/cache/native_cross.js)
 * against `ghrun cache serve` on loopback, which serves the same store. Both restore the same
 * entry (saved once by the native save action; same key, paths and version) into the
 * workspace. Measured: the step's duration_ms from `ghrun replay --json` (what a workflow pays
 * for that step), plus `tar -I zstd -xf` of the same archive as a floor.
 *
 * usage: bench_native_cache [FILES [TOTAL_MB [REPS]]]
 *        defaults: $GHRUN_BENCH_FILES, $GHRUN_BENCH_MB, $GHRUN_BENCH_REPS, else the issue's
 *        node_modules size: 50000 files, 500 MB, 3 reps. The work tree goes under $TMPDIR.
 * env:   GHRUN (default: ghrun next to this program), BENCH_NODE_MODULES (default
 *        $GR_BUILD_DIR/test-cache-npm4/node_modules, else ./test-cache-npm4/node_modules).
 * Without node or the npm package, only the native side and tar are measured (said so).
 */
#include "ex.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <libgen.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define MAX_REPS 50

static unsigned rng = 2463534242u;

static unsigned next_rand(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 17;
    rng ^= rng << 5;
    return rng;
}

static void die(const char *what)
{
    fprintf(stderr, "bench_native_cache: %s\n", what);
    exit(1);
}

static void write_text(const char *path, size_t size)
{
    static const char *words[] = {"function", "return", "const", "require", "module",
                                  "exports",  "this",   "var",   "if",      "else",
                                  "null",     "true",   "=>",    "{",       "}"};
    FILE *f = fopen(path, "we");
    size_t n = 0;

    if (!f)
        die(path);
    while (n < size) {
        int len = fprintf(f, "%s%s", words[next_rand() % GR_ARRAY_SIZE(words)],
                          next_rand() % 9 == 0 ? "\n  " : " ");

        if (next_rand() % 50 == 0)
            len += fprintf(f, "%u", next_rand() % 100000);
        n += (size_t)len;
    }
    fclose(f);
}

/* FILES files in FILES/20 packages under root/node_modules. */
static void make_tree(const char *root, int files, size_t total)
{
    int pkgs = files / 20 > 0 ? files / 20 : 1;
    size_t per = total / (size_t)files;
    char path[4096];

    for (int p = 0; p < pkgs; p++) {
        (void)snprintf(path, sizeof(path), "%s/node_modules/pkg-%04d/lib", root, p);
        if (gr_mkdir_p(path, 0755) < 0)
            die(path);
        for (int i = 0; i < 20; i++) {
            (void)snprintf(path, sizeof(path), "%s/node_modules/pkg-%04d/lib/f%02d.js", root, p, i);
            write_text(path, i % 10 == 0 ? per * 5 : per / 2 + 1);
        }
    }
}

static int run(char *const argv[], char *const envp[], const char *cwd)
{
    pid_t pid = fork();
    int st;

    if (pid == 0) {
        int devnull = open("/dev/null", O_WRONLY);

        if (devnull >= 0) {
            dup2(devnull, 1);
            dup2(devnull, 2);
        }
        if (cwd && chdir(cwd) < 0)
            _exit(126);
        if (envp)
            for (char *const *e = envp; *e; e++)
                putenv(*e);
        execvp(argv[0], argv);
        _exit(127);
    }
    if (pid < 0 || waitpid(pid, &st, 0) != pid)
        return -1;
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;

    return x < y ? -1 : x > y;
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof(*v), cmp_double);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* duration_ms of step `step` of the only job in a --json file, or -1. */
static double step_ms(const char *json_path, size_t step)
{
    json_t *doc = json_load_file(json_path, 0, NULL);
    json_t *s = json_array_get(
        json_object_get(json_array_get(json_object_get(doc, "jobs"), 0), "steps"), step);
    double ms = json_is_number(json_object_get(s, "duration_ms"))
                    ? json_number_value(json_object_get(s, "duration_ms"))
                    : -1;
    const char *outcome = json_string_value(json_object_get(s, "outcome"));

    if (!outcome || strcmp(outcome, "success") != 0)
        ms = -1;
    json_decref(doc);
    return ms;
}

static void write_file(const char *path, const char *text)
{
    if (gr_file_write_atomic(path, text, strlen(text), 0644) < 0)
        die(path);
}

static const char workflow[] =
    "on: push\n"
    "jobs:\n"
    "  save:\n"
    "    runs-on: ubuntu-latest\n"
    "    steps:\n"
    "      - uses: actions/cache/save@v4\n"
    "        with: {path: node_modules, key: bench-key}\n"
    "  native:\n"
    "    runs-on: ubuntu-latest\n"
    "    steps:\n"
    "      - uses: actions/cache/restore@v4\n"
    "        with: {path: node_modules, key: bench-key}\n"
    "  js:\n"
    "    runs-on: ubuntu-latest\n"
    "    steps:\n"
    "      - run: node \"$BENCH_SCRIPT\" restore bench-key node_modules | grep -q '^restored'\n";

struct ctx {
    char *ghrun, *tmp, *ws, *store, *json, *script, *modules;
    char url[128];
    pid_t server;
};

static int replay(struct ctx *c, const char *job, bool js)
{
    char store_env[4200], tok[] = "--env", e1[256], e2[4200], e3[4200], e4[64], e5[64], e6[4200];
    char *envp[] = {store_env, NULL};
    char *argv[24] = {c->ghrun, "replay", "push",      "-W",     "wf.yml", "-C",
                      ".",      "-j",     (char *)job, "--json", c->json};
    int n = 11;

    (void)snprintf(store_env, sizeof(store_env), "GHRUN_CACHE_DIR=%s", c->store);
    if (js) {
        (void)snprintf(e1, sizeof(e1), "ACTIONS_RESULTS_URL=%s", c->url);
        (void)snprintf(e2, sizeof(e2), "NODE_PATH=%s", c->modules);
        (void)snprintf(e3, sizeof(e3), "BENCH_SCRIPT=%s", c->script);
        (void)snprintf(e4, sizeof(e4), "ACTIONS_CACHE_SERVICE_V2=true");
        (void)snprintf(e5, sizeof(e5), "ACTIONS_RUNTIME_TOKEN=bench");
        (void)snprintf(e6, sizeof(e6), "RUNNER_TEMP=%s", c->tmp);
        char *extra[] = {e1, e2, e3, e4, e5, e6};

        for (size_t i = 0; i < GR_ARRAY_SIZE(extra); i++) {
            argv[n++] = tok;
            argv[n++] = extra[i];
        }
    }
    argv[n] = NULL;
    return run(argv, envp, c->ws);
}

static void server_start(struct ctx *c)
{
    char *port_file = gr_path_join(c->tmp, "port"), *port = NULL;
    size_t len = 0;

    c->server = fork();
    if (c->server == 0) {
        char *argv[] = {c->ghrun, "cache",   "--dir",    c->store,      "serve",   "--token",
                        "bench",  "--scope", "local/ws", "--port-file", port_file, NULL};
        int devnull = open("/dev/null", O_WRONLY);

        if (devnull >= 0) {
            dup2(devnull, 1);
            dup2(devnull, 2);
        }
        execv(argv[0], argv);
        _exit(127);
    }
    for (int i = 0; i < 100 && gr_file_read(port_file, 64, &port, &len) < 0; i++)
        usleep(100000);
    if (!port || !len)
        die("ghrun cache serve did not start");
    (void)snprintf(c->url, sizeof(c->url), "http://127.0.0.1:%d/", atoi(port));
    free(port);
    free(port_file);
}

static char *self_dir(const char *argv0)
{
    char *real = realpath(argv0, NULL), *dir;

    if (!real)
        return gr_xstrdup(".");
    dir = gr_xstrdup(dirname(real));
    free(real);
    return dir;
}

static bool have_js(struct ctx *c)
{
    char *pkg = gr_path_join(c->modules, "@actions/cache/package.json");
    char *argv[] = {"node", "--version", NULL};
    bool ok = gr_path_exists(pkg) && gr_path_exists(c->script) && run(argv, NULL, NULL) == 0;

    free(pkg);
    return ok;
}

/* argv[i] when given, else the environment variable, else def. */
static long long_arg(int argc, char **argv, int i, const char *env, long def)
{
    const char *s = i < argc ? argv[i] : getenv(env);

    return s && *s ? strtol(s, NULL, 10) : def;
}

int main(int argc, char **argv)
{
    int files = (int)long_arg(argc, argv, 1, "GHRUN_BENCH_FILES", 50000);
    long mbl = long_arg(argc, argv, 2, "GHRUN_BENCH_MB", 500);
    size_t mb = mbl > 0 ? (size_t)mbl : 0;
    int reps = (int)long_arg(argc, argv, 3, "GHRUN_BENCH_REPS", 3);
    const char *tmpdir = getenv("TMPDIR");
    double nat[MAX_REPS], js[MAX_REPS], tar[MAX_REPS];
    char *tmpl = gr_xasprintf("%s/bench-native-cache-XXXXXX", tmpdir && *tmpdir ? tmpdir : "/tmp");
    char *dir = self_dir(argv[0]), *nm, *blob = NULL;
    const char *env_ghrun = getenv("GHRUN"), *env_mod = getenv("BENCH_NODE_MODULES");
    const char *bd = getenv("GR_BUILD_DIR");
    struct ctx c = {0};
    char *src_dir = gr_xstrdup(__FILE__);
    bool js_ok;
    int nj = 0;

    if (files <= 0 || mb == 0 || reps <= 0 || reps > MAX_REPS)
        die("usage: bench_native_cache [FILES [TOTAL_MB [REPS]]] (REPS <= 50)");
    if (!mkdtemp(tmpl))
        die("mkdtemp");
    c.tmp = gr_xstrdup(tmpl);
    c.ghrun = env_ghrun ? gr_xstrdup(env_ghrun) : gr_path_join(dir, "ghrun");
    c.modules = env_mod ? gr_xstrdup(env_mod)
                        : gr_xasprintf("%s/test-cache-npm4/node_modules",
                                       bd ? bd : (const char *)gr_path_join(dir, ".."));
    c.script = gr_xasprintf("%s/../tests/integration/cache/native_cross.js", dirname(src_dir));
    c.ws = gr_path_join(c.tmp, "ws");
    c.store = gr_path_join(c.tmp, "store");
    c.json = gr_path_join(c.tmp, "out.json");
    nm = gr_path_join(c.ws, "node_modules");
    if (gr_mkdir_p(c.ws, 0755) < 0)
        die(c.ws);
    {
        char *init[] = {"git", "init", "-q", c.ws, NULL};
        char *wf = gr_path_join(c.ws, "wf.yml");

        if (run(init, NULL, NULL) != 0)
            die("git init");
        write_file(wf, workflow);
        free(wf);
    }
    make_tree(c.ws, files, mb * 1024 * 1024);
    if (replay(&c, "save", false) != 0)
        die("the native save failed");
    js_ok = have_js(&c);
    if (js_ok)
        server_start(&c);
    printf("native actions/cache restore vs @actions/cache (npm, in a node step): %d files, "
           "%zu MB, %d reps\n",
           files, mb, reps);
    for (int i = 0; i < reps; i++) {
        struct ex_cache *st = NULL;
        struct ex_cache_entry *v = NULL;
        size_t n = 0;
        struct gr_diag d = {0};
        char *tar_argv[] = {"tar", "-I", "zstd", "-xf", NULL, "-C", c.ws, NULL};
        uint64_t t0;

        if (gr_rm_rf(nm) < 0 || replay(&c, "native", false) != 0 || !gr_path_is_dir(nm))
            die("the native restore failed");
        nat[i] = step_ms(c.json, 0) / 1000.0;
        if (js_ok) {
            if (gr_rm_rf(nm) < 0 || replay(&c, "js", true) != 0 || !gr_path_is_dir(nm))
                die("the @actions/cache restore failed");
            js[nj++] = step_ms(c.json, 0) / 1000.0;
        }
        if (!blob) {
            if (ex_cache_open(c.store, 0, &st, &d) < 0 || ex_cache_list(st, &v, &n) < 0 || n == 0)
                die("cannot read the store");
            blob = ex_cache_blob_path(st, &v[0]);
            ex_cache_entries_free(v, n);
            ex_cache_free(st);
        }
        tar_argv[4] = blob;
        if (gr_rm_rf(nm) < 0)
            die(nm);
        t0 = gr_now_ns();
        if (run(tar_argv, NULL, NULL) != 0)
            die("tar -I zstd -xf failed");
        tar[i] = (double)(gr_now_ns() - t0) / 1e9;
    }
    printf("  native restore step        %8.3f s (median)\n", median(nat, reps));
    if (js_ok) {
        double mj = median(js, nj);

        printf("  @actions/cache node step   %8.3f s (median)\n", mj);
        printf("  ratio native / js          %8.2f\n", median(nat, reps) / mj);
    } else {
        printf("  @actions/cache: not measured (no node, or no @actions/cache under '%s')\n",
               c.modules);
    }
    printf("  tar -I zstd -xf (floor)    %8.3f s (median)\n", median(tar, reps));
    printf("  ratio native / tar         %8.2f\n", median(nat, reps) / median(tar, reps));
    if (c.server > 0) {
        kill(c.server, SIGTERM);
        waitpid(c.server, NULL, 0);
    }
    if (gr_rm_rf(c.tmp) < 0)
        fprintf(stderr, "cannot remove %s\n", c.tmp);
    free(tmpl);
    return 0;
}
