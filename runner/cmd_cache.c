/*
 * `ghrun cache`: list, show, prune and clear the local dependency cache (prune also cleans
 * artifact stores named with --artifact-dir: expired artifacts and abandoned uploads), and
 * `serve`, which runs
 * the cache API (the one @actions/cache calls) on loopback until SIGINT or SIGTERM: used by
 * tests and by anything that wants to point ACTIONS_CACHE_URL at this store.
 */
#include "cmd_cache.h"
#include "cli.h"
#include "services.h"
#include "ex.h"
#include "ex/artifact.h"

#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <uv.h>

struct opts {
    char *dir;
    const char *artifact_dir;
    uint64_t max_size;
    bool yes;
    const char *port_file;
    const char *token;
    const char *scope;
    int port;
};

static void help(void)
{
    printf("usage: ghrun cache [--dir DIR] list\n"
           "       ghrun cache [--dir DIR] show KEY\n"
           "       ghrun cache [--dir DIR] prune [--max-size SIZE] [--artifact-dir DIR]\n"
           "       ghrun cache [--dir DIR] clear --yes\n"
           "       ghrun cache [--dir DIR] serve --token TOKEN [--port-file FILE] [--port N]\n"
           "                                     [--scope OWNER/REPO] [--max-size SIZE]\n\n"
           "Manage the local dependency cache (what actions/cache saves and restores).\n\n"
           "  list              every entry: id, size, last use, scope, key\n"
           "  show KEY          the entries saved under KEY, with versions and checksums\n"
           "  prune             evict least recently used entries down to the size limit and\n"
           "                    delete unused archives and abandoned uploads; with\n"
           "                    --artifact-dir, also delete expired artifacts and abandoned\n"
           "                    artifact uploads there\n"
           "  clear             remove every entry (needs --yes)\n"
           "  serve             serve the cache API of @actions/cache on 127.0.0.1 until\n"
           "                    SIGINT/SIGTERM; prints the ACTIONS_CACHE_URL\n\n"
           "  -d, --dir DIR         the store (default: $GHRUN_CACHE_DIR, else\n"
           "                        ~/.cache/ghrun/cache)\n"
           "  -m, --max-size SIZE   size limit in bytes, or with K, M, G suffix (default 10G)\n"
           "  -a, --artifact-dir DIR  an artifact store (a run's, e.g. .ghrun/artifacts/RUN_ID),\n"
           "                        or a directory of them such as .ghrun/artifacts (prune)\n"
           "  -y, --yes             confirm 'clear'\n"
           "  -t, --token TOKEN     the bearer token requests must carry (serve)\n"
           "  -f, --port-file FILE  write the listening port to FILE (serve)\n"
           "  -p, --port N          listen on port N (serve; default: an ephemeral port)\n"
           "  -s, --scope SCOPE     the repository the entries belong to (serve; default local)\n"
           "  -h, --help            show this help\n");
}

static int parse_size(const char *s, uint64_t *ret)
{
    char *end;
    unsigned long long n;
    uint64_t mul = 1;

    errno = 0;
    n = strtoull(s, &end, 10);
    if (errno || end == s || s[0] == '-')
        return -EINVAL;
    if (*end == 'K' || *end == 'k')
        mul = 1024ULL;
    else if (*end == 'M' || *end == 'm')
        mul = 1024ULL * 1024;
    else if (*end == 'G' || *end == 'g')
        mul = 1024ULL * 1024 * 1024;
    else if (*end)
        return -EINVAL;
    if (*end && end[1] && strcmp(end + 1, "iB") && strcmp(end + 1, "B"))
        return -EINVAL;
    if (n == 0 || n > UINT64_MAX / mul)
        return -EINVAL;
    *ret = n * mul;
    return 0;
}

static void human(uint64_t n, char *out, size_t len)
{
    const char *units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    double v = (double)n;
    size_t u = 0;

    while (v >= 1024 && u + 1 < GR_ARRAY_SIZE(units)) {
        v /= 1024;
        u++;
    }
    if (u == 0)
        (void)snprintf(out, len, "%" PRIu64 " B", n);
    else
        (void)snprintf(out, len, "%.1f %s", v, units[u]);
}

static void when(int64_t ms, char *out, size_t len)
{
    time_t t = (time_t)(ms / 1000);
    struct tm tm;

    gmtime_r(&t, &tm);
    strftime(out, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static int open_store(const struct opts *o, struct ex_cache **ret)
{
    struct gr_diag d = {0};
    int r = ex_cache_open(o->dir, o->max_size, ret, &d);

    if (r < 0)
        fprintf(stderr, "ghrun cache: %s: %s\n", o->dir, d.msg);
    return r;
}

/* Whether an earlier entry has the same archive (identical archives are stored once). */
static bool shares_blob(const struct ex_cache_entry *v, size_t i)
{
    for (size_t j = 0; j < i; j++)
        if (!strcmp(v[j].sha256, v[i].sha256))
            return true;
    return false;
}

static int do_list(const struct opts *o)
{
    struct ex_cache *c = NULL;
    struct ex_cache_entry *v = NULL;
    size_t n = 0;
    uint64_t total = 0;
    char sz[32], used[32];
    int r;

    if (open_store(o, &c) < 0)
        return 1;
    r = ex_cache_list(c, &v, &n);
    if (r < 0) {
        fprintf(stderr, "ghrun cache: cannot read '%s': %s\n", o->dir, gr_strerror(r));
        ex_cache_free(c);
        return 1;
    }
    if (n)
        printf("%-6s %10s  %-20s  %-24s %s\n", "ID", "SIZE", "LAST USED", "SCOPE", "KEY");
    for (size_t i = 0; i < n; i++) {
        human(v[i].size, sz, sizeof(sz));
        when(v[i].accessed_ms, used, sizeof(used));
        printf("%-6" PRIu64 " %10s  %-20s  %-24s %s\n", v[i].id, sz, used, v[i].scope, v[i].key);
        total += shares_blob(v, i) ? 0 : v[i].size;
    }
    human(total, sz, sizeof(sz));
    printf("%zu entr%s, %s of archives\n", n, n == 1 ? "y" : "ies", sz);
    ex_cache_entries_free(v, n);
    ex_cache_free(c);
    return 0;
}

static int do_show(const struct opts *o, const char *key)
{
    struct ex_cache *c = NULL;
    struct ex_cache_entry *v = NULL;
    size_t n = 0, shown = 0;
    char created[32], used[32];
    int r;

    if (open_store(o, &c) < 0)
        return 1;
    r = ex_cache_list(c, &v, &n);
    for (size_t i = 0; r == 0 && i < n; i++) {
        if (strcmp(v[i].key, key))
            continue;
        when(v[i].created_ms, created, sizeof(created));
        when(v[i].accessed_ms, used, sizeof(used));
        printf("%skey:       %s\nid:        %" PRIu64 "\nscope:     %s\nversion:   %s\n"
               "size:      %" PRIu64 "\nsha256:    %s\ncreated:   %s\nlast used: %s\n",
               shown ? "\n" : "", v[i].key, v[i].id, v[i].scope, v[i].version, v[i].size,
               v[i].sha256, created, used);
        shown++;
    }
    ex_cache_entries_free(v, n);
    ex_cache_free(c);
    if (r < 0) {
        fprintf(stderr, "ghrun cache: cannot read '%s': %s\n", o->dir, gr_strerror(r));
        return 1;
    }
    if (!shown) {
        fprintf(stderr, "ghrun cache: no entry with key '%s'\n", key);
        return 1;
    }
    return 0;
}

/* Prune one artifact store (dir holds .meta): adds to the totals; -errno on failure. */
static int prune_artifact_store(const char *dir, struct ex_artifact_prune *total)
{
    struct ex_artifact_store *s = NULL;
    struct ex_artifact_prune p = {0};
    struct gr_diag d = {0};
    int r = ex_artifact_open(dir, &s, &d);

    if (r == 0)
        r = ex_artifact_prune(s, 0, &p);
    ex_artifact_free(s);
    if (r < 0) {
        fprintf(stderr, "ghrun cache: cannot prune artifacts in '%s': %s\n", dir,
                d.msg[0] ? d.msg : gr_strerror(r));
        return r;
    }
    total->expired += p.expired;
    total->temp_files += p.temp_files;
    return 0;
}

static bool is_artifact_store(const char *dir)
{
    char *meta = gr_path_join(dir, ".meta");
    bool r = gr_path_exists(meta);

    free(meta);
    return r;
}

/*
 * Prune the artifact store at dir, or every store one level below it. Only directories that
 * are stores already (they hold .meta) are opened: opening creates the layout.
 */
static int prune_artifacts(const char *dir)
{
    struct ex_artifact_prune total = {0};
    size_t stores = 0;
    int r = 0;

    if (is_artifact_store(dir)) {
        r = prune_artifact_store(dir, &total);
        stores++;
    } else {
        DIR *d = opendir(dir);
        struct dirent *de;

        if (!d) {
            fprintf(stderr, "ghrun cache: cannot read '%s': %s\n", dir, strerror(errno));
            return -errno;
        }
        while ((de = readdir(d)) != NULL) {
            char *sub;
            if (de->d_name[0] == '.')
                continue;
            sub = gr_path_join(dir, de->d_name);
            if (is_artifact_store(sub)) {
                stores++;
                if (prune_artifact_store(sub, &total) < 0)
                    r = -EIO;
            }
            free(sub);
        }
        closedir(d);
    }
    printf("artifacts: removed %zu expired artifact%s and %zu abandoned temp file%s in %zu "
           "store%s\n",
           total.expired, total.expired == 1 ? "" : "s", total.temp_files,
           total.temp_files == 1 ? "" : "s", stores, stores == 1 ? "" : "s");
    return r;
}

static int do_prune(const struct opts *o)
{
    struct ex_cache *c = NULL;
    size_t removed = 0;
    int r;

    if (open_store(o, &c) < 0)
        return 1;
    r = ex_cache_prune(c, o->max_size, &removed);
    ex_cache_free(c);
    if (r < 0) {
        fprintf(stderr, "ghrun cache: cannot prune '%s': %s\n", o->dir, gr_strerror(r));
        return 1;
    }
    printf("removed %zu entr%s\n", removed, removed == 1 ? "y" : "ies");
    if (o->artifact_dir && prune_artifacts(o->artifact_dir) < 0)
        return 1;
    return 0;
}

static int do_clear(const struct opts *o)
{
    struct ex_cache *c = NULL;
    int r;

    if (!o->yes)
        return rn_cli_usage_error("cache", "'clear' removes every entry; add --yes to confirm");
    if (open_store(o, &c) < 0)
        return 1;
    r = ex_cache_clear(c);
    ex_cache_free(c);
    if (r < 0) {
        fprintf(stderr, "ghrun cache: cannot clear '%s': %s\n", o->dir, gr_strerror(r));
        return 1;
    }
    printf("cache cleared\n");
    return 0;
}

/* ---- serve ---------------------------------------------------------------- */

struct serve {
    uv_signal_t sigint, sigterm;
    struct rn_cache_service *svc;
};

static void on_signal(uv_signal_t *h, int signum)
{
    struct serve *sv = h->data;

    (void)signum;
    if (!sv->svc)
        return;
    rn_cache_service_close(sv->svc, NULL, NULL);
    sv->svc = NULL;
    uv_close((uv_handle_t *)&sv->sigint, NULL);
    uv_close((uv_handle_t *)&sv->sigterm, NULL);
}

static int write_port_file(const char *path, int port)
{
    char text[16];
    int n = snprintf(text, sizeof(text), "%d\n", port);
    return gr_file_write_atomic(path, text, (size_t)n, 0644);
}

static int do_serve(const struct opts *o)
{
    struct rn_cache_service_opts so = {.dir = o->dir,
                                       .max_size = o->max_size,
                                       .token = o->token,
                                       .scope = o->scope,
                                       .port = o->port};
    struct serve sv = {0};
    struct gr_diag d = {0};
    uv_loop_t loop;
    int r, rc = 0;

    if (!o->token)
        return rn_cli_usage_error("cache", "'serve' needs --token");
    if (uv_loop_init(&loop) < 0)
        return 1;
    r = rn_cache_service_start(&loop, &so, &sv.svc, &d);
    if (r < 0) {
        fprintf(stderr, "ghrun cache: cannot serve '%s': %s\n", o->dir, d.msg);
        rc = 1;
        goto out;
    }
    if (o->port_file && write_port_file(o->port_file, rn_cache_service_port(sv.svc)) < 0) {
        fprintf(stderr, "ghrun cache: cannot write '%s'\n", o->port_file);
        rn_cache_service_close(sv.svc, NULL, NULL);
        rc = 1;
        goto out;
    }
    uv_signal_init(&loop, &sv.sigint);
    uv_signal_init(&loop, &sv.sigterm);
    sv.sigint.data = sv.sigterm.data = &sv;
    uv_signal_start(&sv.sigint, on_signal, SIGINT);
    uv_signal_start(&sv.sigterm, on_signal, SIGTERM);
    printf("ACTIONS_CACHE_URL=%s\n", rn_cache_service_url(sv.svc));
    fflush(stdout);
out:
    uv_run(&loop, UV_RUN_DEFAULT);
    if (uv_loop_close(&loop) < 0)
        rc = 1;
    return rc;
}

/* ---- options -------------------------------------------------------------- */

static int parse_int_opt(const char *s, int *ret)
{
    char *end;
    long v;

    errno = 0;
    v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < 0 || v > 65535)
        return -EINVAL;
    *ret = (int)v;
    return 0;
}

static int parse_opts(int argc, char **argv, struct opts *o, int *ret_pos)
{
    static const struct option lo[] = {
        {"dir", required_argument, NULL, 'd'},      {"artifact-dir", required_argument, NULL, 'a'},
        {"max-size", required_argument, NULL, 'm'}, {"yes", no_argument, NULL, 'y'},
        {"token", required_argument, NULL, 't'},    {"port-file", required_argument, NULL, 'f'},
        {"port", required_argument, NULL, 'p'},     {"scope", required_argument, NULL, 's'},
        {"help", no_argument, NULL, 'h'},           {NULL, 0, NULL, 0},
    };
    int c;

    optind = 1;
    while ((c = getopt_long(argc, argv, ":d:a:m:yt:f:p:s:h", lo, NULL)) != -1) {
        switch (c) {
        case 'd':
            free(o->dir);
            o->dir = gr_xstrdup(optarg);
            break;
        case 'a':
            o->artifact_dir = optarg;
            break;
        case 'm':
            if (parse_size(optarg, &o->max_size) < 0)
                return rn_cli_usage_error("cache", "invalid size '%s'", optarg);
            break;
        case 'y':
            o->yes = true;
            break;
        case 't':
            o->token = optarg;
            break;
        case 'f':
            o->port_file = optarg;
            break;
        case 'p':
            if (parse_int_opt(optarg, &o->port) < 0)
                return rn_cli_usage_error("cache", "invalid port '%s'", optarg);
            break;
        case 's':
            o->scope = optarg;
            break;
        case 'h':
            help();
            return 1;
        default:
            return rn_cli_opt_error("cache", c, argv);
        }
    }
    *ret_pos = optind;
    return 0;
}

static int run_action(struct opts *o, int npos, char **pos)
{
    const char *act = pos[0];
    int want = !strcmp(act, "show") ? 2 : 1;

    if (strcmp(act, "list") && strcmp(act, "show") && strcmp(act, "prune") &&
        strcmp(act, "clear") && strcmp(act, "serve"))
        return rn_cli_usage_error("cache", "unknown action '%s'", act);
    if (npos < want)
        return rn_cli_usage_error("cache", "'show' needs a KEY");
    if (npos > want)
        return rn_cli_usage_error("cache", "unexpected argument '%s'", pos[want]);
    if (o->artifact_dir && strcmp(act, "prune"))
        return rn_cli_usage_error("cache", "--artifact-dir goes with 'prune'");
    if (!o->dir) {
        fprintf(stderr, "ghrun cache: no cache directory: set --dir, GHRUN_CACHE_DIR or HOME\n");
        return 2;
    }
    if (!strcmp(act, "list"))
        return do_list(o);
    if (!strcmp(act, "show"))
        return do_show(o, pos[1]);
    if (!strcmp(act, "prune"))
        return do_prune(o);
    if (!strcmp(act, "clear"))
        return do_clear(o);
    return do_serve(o);
}

int rn_cmd_cache(int argc, char **argv)
{
    struct opts o = {0};
    int pos = 0, r;

    r = parse_opts(argc, argv, &o, &pos);
    if (r == 1) {
        r = 0;
        goto out;
    }
    if (r)
        goto out;
    if (pos >= argc) {
        r = rn_cli_usage_error("cache", "missing action (list, show, prune, clear, serve)");
        goto out;
    }
    if (!o.dir)
        o.dir = ex_cache_store_dir(NULL, NULL);
    r = run_action(&o, argc - pos, argv + pos);
out:
    free(o.dir);
    return r;
}
