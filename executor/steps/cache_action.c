/*
 * Native actions/cache@v3|v4, actions/cache/restore and actions/cache/save over the local
 * store (ex/cache.h), with the inputs, outputs, messages and entry layout of the JavaScript
 * action, so that entries are shared with it through the embedded cache service:
 *
 * - inputs as actions/cache src/utils/actionUtils.ts reads them: `path` and `restore-keys`
 *   split on new lines, trimmed, "! " folded to "!", empty lines dropped; booleans are true only
 *   for "true" (any case); `upload-chunk-size` is accepted and ignored;
 * - keys validated as @actions/cache validates them (at most 10 keys, 512 characters, no
 *   commas); a hit is exact when the matched key equals the primary key ignoring case
 *   (isExactKeyMatch: localeCompare with sensitivity "accent");
 * - the version is getCacheVersion(paths, compression, enableCrossOsArchive) of
 *   @actions/cache (toolkit packages/cache/src/internal/cacheUtils.ts): the patterns as
 *   written, then "zstd-without-long" when a `zstd` program is on the step's PATH, else "gzip"
 *   (getCompressionMethod), and "windows-only" never, since this runner is not on Windows;
 * - paths resolved as resolvePaths does (@actions/glob, implicitDescendants false): `~` is the
 *   HOME the steps see (a sandboxed job's private one, whose files the native action names in
 *   archives as the runner's HOME and hands to the slot's uid on restore, so that entries
 *   restore in later jobs and without sandbox), relative patterns start at the workspace,
 *   `*`, `?`, `[...]` and `**` match hidden files too, a later `!pattern` removes what earlier
 *   ones matched, and each match is archived under its path relative to the workspace (so
 *   "../" for paths outside it). Symbolic links to directories are archived as links and not
 *   followed during the search;
 * - archives are tar + zstd (tar + gzip when the toolkit would use gzip);
 * - restore extracts into the workspace; members outside it ("../") only below the literal
 *   prefix of a `path` pattern (the directories the step asked for);
 * - actions/cache saves in a post step with `post-if: success()` (its action.yml), skipped on
 *   an exact hit; a key that another job saved already is a warning, as are paths that match
 *   nothing.
 *
 * The store is ex_run_opts.cache_dir or the default of `ghrun cache`; the scope is
 * github.repository. The file system and archive work runs on libuv's thread pool; the step
 * finishes on the loop.
 */
#include "action_internal.h"
#include "cache_internal.h"
#include "persist_internal.h"
#include "ex/persist.h"
#include "sb.h"
#include "ex/cache.h"

#include <dirent.h>
#include <errno.h>
#include <fnmatch.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAX_KEYS 10
#define MAX_KEY_LEN 512
#define WALK_DEPTH 64

enum cache_kind { KIND_MAIN, KIND_RESTORE, KIND_SAVE, KIND_POST };

struct cache_job {
    uv_work_t req;
    struct ex__stepexec *se;
    enum cache_kind kind;
    char *store, *scope, *ws, *home, *version;
    json_t *patterns; /* path lines */
    json_t *keys;     /* primary key, then restore keys */
    json_t *post;     /* borrowed: the queued post step's data (KIND_MAIN) */
    bool lookup_only, fail_on_miss, gzip;
    /* the home is the job's private one and steps run as a slot: restored files go to it */
    bool own;
    uid_t own_uid;
    gid_t own_gid;
    /* ... and archives name it as this (the runner's HOME), or NULL (ex_cache_alias) */
    char *named_home;
    /* results */
    int r;
    char *matched;
    struct gr_diag d;
    char note[1024]; /* a warning to show */
};

/* ---- inputs ------------------------------------------------------------ */

static const char *const main_inputs[] = {"path",
                                          "key",
                                          "restore-keys",
                                          "upload-chunk-size",
                                          "enableCrossOsArchive",
                                          "fail-on-cache-miss",
                                          "lookup-only"};

/* getInputAsArray: lines, "!<spaces>" -> "!", trimmed, no empty ones. */
static json_t *input_lines(const json_t *with, const char *name)
{
    const char *s = ex__native_input(with, name);
    json_t *out = json_array();

    while (*s) {
        size_t len = strcspn(s, "\n");
        const char *b = s, *e = s + len;
        char *line;

        while (b < e && (*b == ' ' || *b == '\t' || *b == '\r'))
            b++;
        while (e > b && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r'))
            e--;
        if (b < e && *b == '!') {
            const char *q = b + 1;

            while (q < e && (*q == ' ' || *q == '\t'))
                q++;
            line = gr_xasprintf("!%.*s", (int)(e - q), q);
        } else {
            line = gr_xstrndup(b, (size_t)(e - b));
        }
        if (*line)
            json_array_append_new(out, json_string(line));
        free(line);
        s += len + (s[len] == '\n');
    }
    return out;
}

/* The runner's warning for inputs an action does not declare. */
static void inputs_warn(struct ex__stepexec *se, const json_t *with, const char *const *names,
                        size_t n)
{
    struct gr_buf bad = GR_BUF_INIT(0), valid = GR_BUF_INIT(0);
    const char *k;
    json_t *v;
    int r = 0;

    json_object_foreach((json_t *)with, k, v)
    {
        size_t i = 0;

        while (i < n && strcasecmp(k, names[i]) != 0)
            i++;
        if (i == n)
            r |= gr_buf_addf(&bad, "%s'%s'", bad.len ? ", " : "", k);
    }
    for (size_t i = 0; i < n; i++)
        r |= gr_buf_addf(&valid, "%s'%s'", i ? ", " : "", names[i]);
    if (bad.len && r == 0) {
        char *m = gr_xasprintf("Unexpected ex__native_input(s) %s, valid inputs are [%s]", bad.ptr,
                               valid.ptr);

        ex__leg_annotate(se->leg, se, "warning", m, NULL);
        free(m);
    }
    gr_buf_release(&bad);
    gr_buf_release(&valid);
}

/* validateKey of @actions/cache, for each key. NULL when valid, else an owned message. */
static char *keys_check(const json_t *keys)
{
    size_t i;
    json_t *k;

    if (json_array_size(keys) > MAX_KEYS)
        return gr_xasprintf("Key Validation Error: Keys are limited to a maximum of %d.", MAX_KEYS);
    json_array_foreach(keys, i, k)
    {
        const char *s = json_string_value(k);

        if (strlen(s) > MAX_KEY_LEN)
            return gr_xasprintf("Key Validation Error: %s cannot be larger than %d characters.", s,
                                MAX_KEY_LEN);
        if (strchr(s, ','))
            return gr_xasprintf("Key Validation Error: %s cannot contain commas.", s);
    }
    return NULL;
}

/* ---- the job's settings ------------------------------------------------ */

/* A value of the step's environment (env context), else of the runner's. */
static const char *step_getenv(struct ex__stepexec *se, const char *name)
{
    const char *v = json_string_value(json_object_get(se->env, name));

    return v ? v : getenv(name);
}

/* The compression @actions/cache would pick on this step's PATH. */
static bool use_gzip(struct ex__stepexec *se)
{
    char *path = ex__path_value(se->leg->path_list, step_getenv(se, "PATH"));
    char *zstd = ex__which("zstd", path);
    bool gzip = zstd == NULL;

    free(zstd);
    free(path);
    return gzip;
}

static void version_of(const json_t *patterns, bool gzip, char out[EX_CACHE_HEX_LEN])
{
    size_t n = json_array_size(patterns);
    const char **v = gr_xcalloc(n + 1, sizeof(*v));

    for (size_t i = 0; i < n; i++)
        v[i] = json_string_value(json_array_get(patterns, i));
    ex_cache_version(v, n, gzip ? "gzip" : "zstd-without-long", false, out);
    free(v);
}

/*
 * The name of the job's private HOME in archives: the runner's HOME, where the steps' `~` is
 * without a sandbox, so that an entry restores in the next job (whose private HOME is another
 * directory) and in a job without sandbox. NULL when home is not the private one. Owned.
 */
static char *named_home(const struct ex__leg *leg, const char *home)
{
    const char *priv = sb_job_home(leg->sb), *runner = getenv("HOME");

    if (!priv || strcmp(priv, home) != 0 || !runner || runner[0] != '/' || !runner[1])
        return NULL;
    return ex__cache_norm_path("/", runner);
}

static struct cache_job *job_new(struct ex__stepexec *se, enum cache_kind kind, json_t *patterns)
{
    struct cache_job *j = gr_xcalloc(1, sizeof(*j));
    const char *repo =
        json_string_value(json_object_get(json_object_get(se->leg->ctx, "github"), "repository"));
    /* `~` is the HOME the steps see (the job's private one when sandboxed), not the runner's */
    const char *home = ex__leg_home(se->leg, se->env);
    char version[EX_CACHE_HEX_LEN];

    j->se = se;
    j->kind = kind;
    j->store = ex_cache_store_dir(se->leg->run->opts->cache_dir, "/tmp");
    j->scope = gr_xstrdup(repo && *repo ? repo : "local");
    j->ws = gr_xstrdup(se->leg->run->workdir);
    j->home = gr_xstrdup(home && *home ? home : "/");
    j->own = ex__leg_home_owner(se->leg, j->home, &j->own_uid, &j->own_gid);
    j->named_home = named_home(se->leg, j->home);
    j->patterns = patterns;
    j->gzip = use_gzip(se);
    version_of(patterns, j->gzip, version);
    j->version = gr_xstrdup(version);
    return j;
}

static void job_free(struct cache_job *j)
{
    free(j->store);
    free(j->scope);
    free(j->ws);
    free(j->home);
    free(j->named_home);
    free(j->version);
    free(j->matched);
    json_decref(j->patterns);
    json_decref(j->keys);
    free(j);
}

/* ---- paths (thread pool) ----------------------------------------------- */

struct pat {
    char *abs;    /* normalized absolute pattern */
    char **segs;  /* its components */
    size_t nsegs; /* ... and how many */
    size_t lit;   /* leading components without glob characters */
    bool negate, dir_only;
};

static bool has_glob(const char *s)
{
    return strpbrk(s, "*?[") != NULL;
}

static char *pattern_abs(const char *p, const char *ws, const char *home)
{
    char *joined, *out;

    if (p[0] == '~' && (p[1] == '/' || !p[1]))
        joined = gr_xasprintf("%s/%s", home, p + 1);
    else
        joined = p[0] == '/' ? gr_xstrdup(p) : gr_xasprintf("%s/%s", ws, p);
    out = ex__cache_norm_path("/", joined);
    free(joined);
    return out;
}

static void pat_init(struct pat *pt, const char *line, const char *ws, const char *home)
{
    size_t len, cap = 0;

    pt->negate = line[0] == '!';
    if (pt->negate)
        line++;
    len = strlen(line);
    pt->dir_only = len > 1 && line[len - 1] == '/';
    pt->abs = pattern_abs(line, ws, home);
    for (char *s = pt->abs + 1; *s;) {
        size_t n = strcspn(s, "/");

        GR_GROW(pt->segs, cap, pt->nsegs + 1);
        pt->segs[pt->nsegs++] = gr_xstrndup(s, n);
        s += n + (s[n] == '/');
    }
    while (pt->lit < pt->nsegs && !has_glob(pt->segs[pt->lit]))
        pt->lit++;
}

static void pat_release(struct pat *pt)
{
    for (size_t i = 0; i < pt->nsegs; i++)
        free(pt->segs[i]);
    free(pt->segs);
    free(pt->abs);
}

static bool seg_match(char *const *pat, size_t np, char *const *path, size_t nx)
{
    if (np == 0)
        return nx == 0;
    if (strcmp(pat[0], "**") == 0) {
        for (size_t k = 0; k <= nx; k++)
            if (seg_match(pat + 1, np - 1, path + k, nx - k))
                return true;
        return false;
    }
    return nx > 0 && fnmatch(pat[0], path[0], 0) == 0 &&
           seg_match(pat + 1, np - 1, path + 1, nx - 1);
}

struct resolve {
    struct pat *pats;
    size_t npats;
    json_t *found; /* absolute path -> true, in order found */
};

/* Whether the last pattern that matches path (components segs) includes it. */
static bool included(const struct resolve *rs, char *const *segs, size_t n, bool is_dir)
{
    bool in = false;

    for (size_t i = 0; i < rs->npats; i++) {
        const struct pat *pt = &rs->pats[i];

        if ((pt->dir_only && !is_dir) || !seg_match(pt->segs, pt->nsegs, segs, n))
            continue;
        in = !pt->negate;
    }
    return in;
}

/* Record path when the patterns include it; returns whether they did. */
static bool consider(struct resolve *rs, const char *path, bool is_dir)
{
    char *copy = gr_xstrdup(path), *segs[WALK_DEPTH * 4 + 64];
    size_t n = 0;

    for (char *s = copy + 1; *s && n < GR_ARRAY_SIZE(segs);) {
        size_t len = strcspn(s, "/");

        segs[n++] = s;
        s += len;
        if (*s)
            *s++ = '\0';
    }
    bool in = included(rs, segs, n, is_dir);

    if (in)
        json_object_set_new(rs->found, path, json_true());
    free(copy);
    return in;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Visit what is below dir (depth levels deep at most), in name order. */
static void walk(struct resolve *rs, const char *dir, int depth)
{
    DIR *d = depth > 0 ? opendir(dir) : NULL;
    char **names;
    size_t n;

    if (!d)
        return;
    names = gr_dir_names(d, &n);
    closedir(d);
    for (size_t i = 0; i < n; i++) {
        char *p =
            strcmp(dir, "/") ? gr_xasprintf("%s/%s", dir, names[i]) : gr_xasprintf("/%s", names[i]);
        struct stat st;

        /* an included directory is archived whole: nothing below it can add to that */
        if (lstat(p, &st) == 0 && !consider(rs, p, S_ISDIR(st.st_mode)) && S_ISDIR(st.st_mode))
            walk(rs, p, depth - 1);
        free(p);
        free(names[i]);
    }
    free(names);
}

/* The search root of a pattern: its literal leading components. Owned. */
static char *pat_root(const struct pat *pt)
{
    struct gr_buf b = GR_BUF_INIT(0);
    int r = 0;

    for (size_t i = 0; i < pt->lit; i++)
        r |= gr_buf_addf(&b, "/%s", pt->segs[i]);
    if (r < 0 || b.len == 0) {
        gr_buf_release(&b);
        return gr_xstrdup("/");
    }
    return gr_buf_detach(&b, NULL);
}

static void resolve_init(struct resolve *rs, const json_t *patterns, const char *ws,
                         const char *home)
{
    rs->npats = json_array_size(patterns);
    rs->pats = gr_xcalloc(rs->npats + 1, sizeof(*rs->pats));
    for (size_t i = 0; i < rs->npats; i++)
        pat_init(&rs->pats[i], json_string_value(json_array_get(patterns, i)), ws, home);
    rs->found = json_object();
}

static void resolve_release(struct resolve *rs)
{
    for (size_t i = 0; i < rs->npats; i++)
        pat_release(&rs->pats[i]);
    free(rs->pats);
    json_decref(rs->found);
}

/* Roots that restore may write below: the literal prefixes of the include patterns. */
static char **restore_roots(const struct resolve *rs, size_t *ret_n)
{
    char **v = gr_xcalloc(rs->npats + 1, sizeof(*v));
    size_t n = 0;

    for (size_t i = 0; i < rs->npats; i++)
        if (!rs->pats[i].negate)
            v[n++] = pat_root(&rs->pats[i]);
    *ret_n = n;
    return v;
}

/* path relative to ws as Node's path.relative computes it (both normalized, absolute). */
static char *relative(const char *ws, const char *path)
{
    size_t i = 0, common = 0;
    struct gr_buf b = GR_BUF_INIT(0);
    int r = 0;

    if (strcmp(ws, "/") == 0)
        return gr_xstrdup(path[1] ? path + 1 : ".");
    while (ws[i] && ws[i] == path[i]) {
        i++;
        if (ws[i] == '/' && path[i] == '/')
            common = i;
    }
    if ((!ws[i] && (path[i] == '/' || !path[i])) || (!path[i] && ws[i] == '/'))
        common = i;
    for (const char *p = ws + common; *p; p++)
        if (*p == '/')
            r |= gr_buf_addf(&b, "%s..", b.len ? "/" : "");
    if (path[common] == '/' && path[common + 1])
        r |= gr_buf_addf(&b, "%s%s", b.len ? "/" : "", path + common + 1);
    if (r < 0 || b.len == 0) {
        gr_buf_release(&b);
        return gr_xstrdup(".");
    }
    return gr_buf_detach(&b, NULL);
}

char **ex__cache_members(const json_t *patterns, const char *ws, const char *home, size_t *ret_n)
{
    struct resolve rs = {0};
    char **v = NULL;
    size_t n = 0, cap = 0, kept = 0;
    const char *k;
    json_t *val;

    resolve_init(&rs, patterns, ws, home);
    for (size_t i = 0; i < rs.npats; i++) {
        const struct pat *pt = &rs.pats[i];
        char *root;
        struct stat st;

        if (pt->negate)
            continue;
        root = pat_root(pt);
        if (lstat(root, &st) == 0 && !consider(&rs, root, S_ISDIR(st.st_mode)) &&
            pt->lit < pt->nsegs && S_ISDIR(st.st_mode))
            walk(&rs, root, WALK_DEPTH);
        free(root);
    }
    json_object_foreach(rs.found, k, val)
    {
        GR_GROW(v, cap, n + 1);
        v[n++] = relative(ws, k);
    }
    resolve_release(&rs);
    if (n)
        qsort(v, n, sizeof(*v), cmp_str);
    for (size_t i = 0; i < n; i++) {
        const char *prev = kept ? v[kept - 1] : NULL;
        size_t pl = prev ? strlen(prev) : 0;
        bool below = prev && ((strcmp(prev, ".") == 0 && strncmp(v[i], "..", 2) != 0) ||
                              (strncmp(v[i], prev, pl) == 0 && v[i][pl] == '/'));

        if (below)
            free(v[i]);
        else
            v[kept++] = v[i];
    }
    *ret_n = kept;
    return v;
}

static void strv_free(char **v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

/* ---- work (thread pool) ------------------------------------------------ */

static void restore_work(struct cache_job *j, struct ex_cache *c)
{
    size_t nkeys = json_array_size(j->keys), nroots = 0;
    const char **keys = gr_xcalloc(nkeys + 1, sizeof(*keys));
    struct ex_cache_entry e = {0};
    struct gr_diag d = {0};
    struct resolve rs = {0};
    struct ex_cache_alias alias = {.named = j->named_home, .real = j->home};
    char **roots;

    for (size_t i = 0; i < nkeys; i++)
        keys[i] = json_string_value(json_array_get(j->keys, i));
    j->r = ex_cache_lookup(c, j->scope, keys, nkeys, j->version, &e, &j->d);
    free(keys);
    if (j->r < 0) {
        if (j->r != GR_ENOTFOUND)
            snprintf(j->note, sizeof(j->note), "Failed to restore: %s", j->d.msg);
        return;
    }
    if (!j->lookup_only) {
        resolve_init(&rs, j->patterns, j->ws, j->home);
        roots = restore_roots(&rs, &nroots);
        resolve_release(&rs);
        j->r = ex_cache_restore_members_alias(c, &e, j->ws, (const char *const *)roots, nroots,
                                              j->named_home ? &alias : NULL, &d);
        strv_free(roots, nroots);
        /* the workspace goes to the slot after the step (ex__slot_claim); the home here */
        if (j->own)
            (void)gr_chown_tree(j->home, NULL, geteuid(), j->own_uid, j->own_gid);
        if (j->r < 0) {
            /* the action warns and goes on as a miss */
            snprintf(j->note, sizeof(j->note), "Failed to restore: %s", d.msg);
            ex_cache_entry_release(&e);
            return;
        }
    }
    j->matched = gr_xstrdup(e.key);
    ex_cache_entry_release(&e);
}

/*
 * Members under the private home get the names they have under j->named_home; the returned
 * array (NULL when nothing is renamed; n entries, NULL for the others) says where they are.
 */
static char **rename_home(struct cache_job *j, char **members, size_t n)
{
    size_t hl = strlen(j->home);
    char **from = NULL;

    for (size_t i = 0; j->named_home && i < n; i++) {
        char *full = ex__cache_norm_path(j->ws, members[i]);

        if (strncmp(full, j->home, hl) == 0 && (full[hl] == '/' || !full[hl])) {
            char *named = gr_xasprintf("%s%s", j->named_home, full + hl);

            if (!from)
                from = gr_xcalloc(n, sizeof(*from));
            from[i] = full;
            free(members[i]);
            members[i] = relative(j->ws, named);
            free(named);
        } else {
            free(full);
        }
    }
    return from;
}

static void save_work(struct cache_job *j, struct ex_cache *c)
{
    const char *key = json_string_value(json_array_get(j->keys, 0));
    struct gr_diag d = {0};
    size_t n = 0;
    char **members = ex__cache_members(j->patterns, j->ws, j->home, &n), **from;

    if (n == 0) {
        j->r = GR_ENOTFOUND;
        snprintf(j->note, sizeof(j->note),
                 "Path Validation Error: Path(s) specified in the action for caching do(es) not "
                 "exist, hence no cache is being saved.");
        free(members);
        return;
    }
    from = rename_home(j, members, n);
    j->r = ex_cache_save_members_from(c, j->scope, key, j->version, j->ws,
                                      (const char *const *)members, (const char *const *)from, n,
                                      j->gzip, NULL, &d);
    strv_free(members, n);
    if (from)
        strv_free(from, n);
    if (j->r == -EEXIST)
        snprintf(j->note, sizeof(j->note),
                 "Failed to save: Unable to reserve cache with key %s, another job may be "
                 "creating this cache.",
                 key);
    else if (j->r < 0)
        snprintf(j->note, sizeof(j->note), "Failed to save: %s", d.msg);
}

static void work_cb(uv_work_t *req)
{
    struct cache_job *j = gr_container_of(req, struct cache_job, req);
    struct ex_cache *c = NULL;
    struct gr_diag d = {0};

    j->r = ex_cache_open(j->store, 0, &c, &d);
    if (j->r < 0) {
        snprintf(j->note, sizeof(j->note), "cache store '%s': %s", j->store, d.msg);
        return;
    }
    if (j->kind == KIND_MAIN || j->kind == KIND_RESTORE)
        restore_work(j, c);
    else
        save_work(j, c);
    ex_cache_free(c);
}

/* ---- results (loop) ---------------------------------------------------- */

static void out_set(struct ex__stepexec *se, const char *name, const char *value)
{
    json_object_set_new(se->outputs, name, json_string(value));
}

static void log_not_found(struct cache_job *j)
{
    struct gr_buf b = GR_BUF_INIT(0);
    int r = 0;

    for (size_t i = 0; i < json_array_size(j->keys); i++)
        r |= gr_buf_addf(&b, "%s%s", i ? ", " : "", json_string_value(json_array_get(j->keys, i)));
    ex__leg_log(j->se->leg, "Cache not found for input keys: %s", r == 0 ? b.ptr : "");
    gr_buf_release(&b);
}

static enum ex_result restore_done(struct cache_job *j)
{
    struct ex__stepexec *se = j->se;
    const char *primary = json_string_value(json_array_get(j->keys, 0));
    bool exact = j->matched && strcasecmp(j->matched, primary) == 0;

    if (j->note[0])
        ex__leg_annotate(se->leg, se, "warning", j->note, NULL);
    if (!j->matched) {
        out_set(se, "cache-hit", "false");
        if (j->fail_on_miss) {
            char *m = gr_xasprintf("Failed to restore cache entry. Exiting as fail-on-cache-miss "
                                   "is set. Input key: %s",
                                   primary);

            ex__leg_annotate(se->leg, se, "error", m, NULL);
            free(m);
            return EX_RESULT_FAILURE;
        }
        log_not_found(j);
        return EX_RESULT_SUCCESS;
    }
    if (j->post)
        json_object_set_new(j->post, "matched", json_string(j->matched));
    if (j->kind == KIND_RESTORE)
        out_set(se, "cache-matched-key", j->matched);
    out_set(se, "cache-hit", exact ? "true" : "false");
    ex__leg_log(se->leg, "%s: %s",
                j->lookup_only ? "Cache found and can be restored from key"
                               : "Cache restored from key",
                j->matched);
    return EX_RESULT_SUCCESS;
}

static enum ex_result save_done(struct cache_job *j)
{
    struct ex__stepexec *se = j->se;

    if (j->note[0]) {
        ex__leg_annotate(se->leg, se, "warning", j->note, NULL);
        return EX_RESULT_SUCCESS;
    }
    ex__leg_log(se->leg, "Cache saved with key: %s", json_string_value(json_array_get(j->keys, 0)));
    return EX_RESULT_SUCCESS;
}

static void after_cb(uv_work_t *req, int status)
{
    struct cache_job *j = gr_container_of(req, struct cache_job, req);
    struct ex__stepexec *se = j->se;
    struct ex__leg *leg = se->leg;
    struct ex__frame *frame = se->frame;
    enum ex_result res;

    if (status < 0)
        snprintf(j->note, sizeof(j->note), "cache work was cancelled: %s", uv_strerror(status));
    if (j->kind == KIND_MAIN || j->kind == KIND_RESTORE)
        res = restore_done(j);
    else
        res = save_done(j);
    job_free(j);
    ex__step_finished(se, res);
    ex__step_advance(leg, frame);
}

static int job_start(struct cache_job *j)
{
    struct ex__stepexec *se = j->se;
    int r = uv_queue_work(se->leg->run->loop, &j->req, work_cb, after_cb);

    if (r < 0) {
        job_free(j);
        return ex__action_fail(se, "cannot start the cache work: %s", uv_strerror(r));
    }
    return 0;
}

/* ---- the steps --------------------------------------------------------- */

static int save_post(struct ex__stepexec *se, const json_t *data);

/* actions/cache@v1 and @v2 have other inputs: they run as the JavaScript action. */
static bool old_major(const char *uses)
{
    const char *at = strchr(uses, '@');

    return at && (strcmp(at, "@v1") == 0 || strcmp(at, "@v2") == 0 || gr_startswith(at, "@v1.") ||
                  gr_startswith(at, "@v2."));
}

static int restore_start(struct ex__stepexec *se, enum cache_kind kind)
{
    struct gr_diag d = {0};
    json_t *with = NULL, *patterns, *keys, *rk;
    struct cache_job *j;
    const char *key;
    char *msg;

    if (ex__native_with(se, &with, &d) < 0)
        return ex__action_fail(se, "%s", d.msg);
    inputs_warn(se, with, main_inputs, GR_ARRAY_SIZE(main_inputs));
    patterns = input_lines(with, "path");
    key = ex__native_input(with, "key");
    if (json_array_size(patterns) == 0 || !*key) {
        json_decref(patterns);
        json_decref(with);
        return ex__action_fail(se, "Input required and not supplied: %s", *key ? "path" : "key");
    }
    keys = json_array();
    json_array_append_new(keys, json_string(key));
    rk = input_lines(with, "restore-keys");
    json_array_extend(keys, rk);
    json_decref(rk);
    msg = keys_check(keys);
    if (msg) {
        json_decref(keys);
        json_decref(patterns);
        json_decref(with);
        ex__action_fail(se, "%s", msg);
        free(msg);
        return 1;
    }
    if (kind == KIND_RESTORE)
        out_set(se, "cache-primary-key", key);
    j = job_new(se, kind, patterns);
    j->keys = keys;
    j->lookup_only = ex__native_input_bool(with, "lookup-only");
    j->fail_on_miss = ex__native_input_bool(with, "fail-on-cache-miss");
    if (kind == KIND_MAIN) {
        /* registered before main runs, as the runner does; it reads the result at the end */
        j->post = json_pack("{s:O,s:s}", "path", patterns, "key", key);
        ex__native_post_add(se, save_post, "success()", j->post);
    }
    json_decref(with);
    return job_start(j);
}

int ex__cache_run(struct ex__stepexec *se, const char *uses)
{
    if (old_major(uses))
        return ex__action_run(se);
    return restore_start(se, KIND_MAIN);
}

int ex__cache_restore_run(struct ex__stepexec *se, const char *uses)
{
    (void)uses;
    return restore_start(se, KIND_RESTORE);
}

static int save_start(struct ex__stepexec *se, enum cache_kind kind, json_t *patterns,
                      const char *key)
{
    struct cache_job *j;
    char *msg;

    j = job_new(se, kind, patterns);
    j->keys = json_pack("[s]", key);
    msg = keys_check(j->keys);
    if (msg) {
        /* saveImpl reports failures of the save as warnings */
        ex__leg_annotate(se->leg, se, "warning", msg, NULL);
        free(msg);
        job_free(j);
        ex__step_finished(se, EX_RESULT_SUCCESS);
        return 1;
    }
    return job_start(j);
}

static int save_post(struct ex__stepexec *se, const json_t *data)
{
    const char *key = json_string_value(json_object_get(data, "key"));
    const char *matched = json_string_value(json_object_get(data, "matched"));

    if (matched && strcasecmp(matched, key) == 0) {
        ex__leg_log(se->leg, "Cache hit occurred on the primary key %s, not saving cache.", key);
        ex__step_finished(se, EX_RESULT_SUCCESS);
        return 1;
    }
    return save_start(se, KIND_POST, json_incref(json_object_get(data, "path")), key);
}

int ex__cache_save_run(struct ex__stepexec *se, const char *uses)
{
    static const char *const names[] = {"path", "key", "upload-chunk-size", "enableCrossOsArchive"};
    struct gr_diag d = {0};
    json_t *with = NULL, *patterns;
    const char *key;
    int r;

    (void)uses;
    if (ex__native_with(se, &with, &d) < 0)
        return ex__action_fail(se, "%s", d.msg);
    inputs_warn(se, with, names, GR_ARRAY_SIZE(names));
    patterns = input_lines(with, "path");
    key = ex__native_input(with, "key");
    if (json_array_size(patterns) == 0 || !*key) {
        r = ex__action_fail(se, "Input required and not supplied: %s", *key ? "path" : "key");
        json_decref(patterns);
        json_decref(with);
        return r;
    }
    r = save_start(se, KIND_SAVE, patterns, key);
    json_decref(with);
    return r;
}
