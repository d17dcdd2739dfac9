/*
 * Native actions/checkout through libgit2, with the inputs and outputs of actions/checkout@v4
 * (action.yml; src/input-helper.ts, ref-helper.ts, git-source-provider.ts for the rules).
 *
 * Where the code comes from, in replay:
 * - the replayed repository checked out at the workspace itself (no `repository:` or the
 *   replayed one, `path:` empty or "."): the workspace already is that repository, so nothing
 *   is fetched and the working tree, uncommitted changes included, stays as it is; a `ref:`
 *   other than the replayed one gets a warning saying so;
 * - the replayed repository with a `path:` below the workspace: a clone of the local
 *   repository's committed state (its HEAD, or `ref:`), without uncommitted changes; this is
 *   how a workflow gets a pristine copy;
 * - any other repository: cloned from ex_run_opts.actions_url (as the action resolver clones
 *   actions: BASE/owner/repo, for a local base also BASE/owner/repo.git), default
 *   https://github.com. It cannot go to the workspace itself (that would replace the replayed
 *   repository): it needs a `path:`.
 *
 * Inputs: `ref` (a branch, tag, full SHA or refs/...; default the replayed ref and SHA for the
 * replayed repository, the remote's default branch for another), `token` (sent as the password
 * of x-access-token over HTTP, never logged; with `persist-credentials` kept as the
 * http.<server>/.extraheader the action writes), `path`, `clean` (reset and remove untracked
 * files of an existing checkout), `fetch-depth` (0: every branch and tag with history; N > 0:
 * only the ref, and .git/shallow cuts the history at depth N: libgit2 1.5 has no shallow
 * fetch, so the objects are transferred in full but git sees a shallow clone), `fetch-tags`,
 * `submodules` (false, true, recursive), `sparse-checkout` (only those paths, plus the
 * top-level files in cone mode, are written; the rest is marked skip-worktree in the index
 * and core.sparseCheckout is set, as git sparse-checkout leaves it) and `lfs` (runs `git lfs
 * pull` when git-lfs is on PATH, else the step fails saying so). Outputs: `ref`, `commit`.
 *
 * The git work runs on libuv's thread pool; the step finishes on the loop.
 */
#include "action_internal.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <git2.h>
#include <openssl/evp.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

#define SHALLOW_MAX 100000 /* commits walked to find the depth boundary */

static const char *const inputs_known[] = {"repository",
                                           "ref",
                                           "token",
                                           "ssh-key",
                                           "ssh-known-hosts",
                                           "ssh-strict",
                                           "ssh-user",
                                           "persist-credentials",
                                           "path",
                                           "clean",
                                           "filter",
                                           "sparse-checkout",
                                           "sparse-checkout-cone-mode",
                                           "fetch-depth",
                                           "fetch-tags",
                                           "show-progress",
                                           "lfs",
                                           "submodules",
                                           "set-safe-directory",
                                           "github-server-url"};

enum ref_kind { REF_BRANCH, REF_TAG, REF_COMMIT, REF_OTHER };

struct co_work {
    uv_work_t req;
    struct ex__stepexec *se;
    /* inputs */
    char *repo_name, *url, *dest, *ref, *sha_hint, *token, *lfs_prog;
    json_t *sparse;
    int depth, submodules; /* submodules: 0 no, 1 yes, 2 recursive */
    bool clean, persist, fetch_tags, cone, from_workspace;
    /* results */
    int r;
    char err[1024];
    char commit[GIT_OID_HEXSZ + 1];
    json_t *log; /* lines to show */
};

static uv_once_t git_once = UV_ONCE_INIT;

static void git_setup(void)
{
    git_libgit2_init();
}

/* ---- inputs (loop) ----------------------------------------------------- */

static const char *input(const json_t *with, const char *name, const char *def)
{
    const char *k;
    json_t *v;

    json_object_foreach((json_t *)with, k, v)
    {
        if (strcasecmp(k, name) == 0 && *json_string_value(v))
            return json_string_value(v);
    }
    return def;
}

/* core.getBooleanInput: true/True/TRUE, false/False/FALSE; anything else is an error. */
static int input_bool(const json_t *with, const char *name, bool def, bool *ret, char **msg)
{
    const char *v = input(with, name, NULL);

    if (!v) {
        *ret = def;
        return 0;
    }
    if (!strcmp(v, "true") || !strcmp(v, "True") || !strcmp(v, "TRUE")) {
        *ret = true;
        return 0;
    }
    if (!strcmp(v, "false") || !strcmp(v, "False") || !strcmp(v, "FALSE")) {
        *ret = false;
        return 0;
    }
    *msg = gr_xasprintf("Input does not meet YAML 1.2 \"Core Schema\" specification: %s\n"
                        "Support boolean input list: `true | True | TRUE | false | False | FALSE`",
                        name);
    return -1;
}

static void inputs_warn(struct ex__stepexec *se, const json_t *with)
{
    struct gr_buf bad = GR_BUF_INIT(0), valid = GR_BUF_INIT(0);
    const char *k;
    json_t *v;
    int r = 0;

    json_object_foreach((json_t *)with, k, v)
    {
        size_t i = 0;

        while (i < GR_ARRAY_SIZE(inputs_known) && strcasecmp(k, inputs_known[i]) != 0)
            i++;
        if (i == GR_ARRAY_SIZE(inputs_known))
            r |= gr_buf_addf(&bad, "%s'%s'", bad.len ? ", " : "", k);
    }
    for (size_t i = 0; i < GR_ARRAY_SIZE(inputs_known); i++)
        r |= gr_buf_addf(&valid, "%s'%s'", i ? ", " : "", inputs_known[i]);
    if (bad.len && r == 0) {
        char *m = gr_xasprintf("Unexpected input(s) %s, valid inputs are [%s]", bad.ptr, valid.ptr);

        ex__leg_annotate(se->leg, se, "warning", m, NULL);
        free(m);
    }
    gr_buf_release(&bad);
    gr_buf_release(&valid);
}

static json_t *lines(const char *s)
{
    json_t *out = json_array();

    while (s && *s) {
        size_t len = strcspn(s, "\n");
        const char *b = s, *e = s + len;

        while (b < e && isspace((unsigned char)*b))
            b++;
        while (e > b && isspace((unsigned char)e[-1]))
            e--;
        if (e > b) {
            char *l = gr_xstrndup(b, (size_t)(e - b));

            json_array_append_new(out, json_string(l));
            free(l);
        }
        s += len + (s[len] == '\n');
    }
    return out;
}

/* BASE/owner/repo, for a local base BASE/owner/repo.git when that is what exists. */
static char *clone_url(const char *base, const char *repo)
{
    bool file = gr_startswith(base, "file://");
    bool local = file || base[0] == '/' || base[0] == '.';
    size_t bl = strlen(base);
    char *url = gr_xasprintf("%.*s/%s", (int)(bl && base[bl - 1] == '/' ? bl - 1 : bl), base, repo);
    char *git;

    if (!local || gr_path_exists(file ? url + 7 : url))
        return url;
    git = gr_xasprintf("%s.git", url);
    free(url);
    return git;
}

static void work_free(struct co_work *w)
{
    free(w->repo_name);
    free(w->url);
    free(w->dest);
    free(w->ref);
    free(w->sha_hint);
    free(w->token);
    free(w->lfs_prog);
    json_decref(w->sparse);
    json_decref(w->log);
    free(w);
}

/* ---- git work (thread pool) -------------------------------------------- */

static void logf_(struct co_work *w, const char *fmt, ...) GR_PRINTF(2, 3);
static void logf_(struct co_work *w, const char *fmt, ...)
{
    va_list ap;
    char *s = NULL;

    va_start(ap, fmt);
    if (vasprintf(&s, fmt, ap) < 0)
        s = NULL;
    va_end(ap);
    if (s)
        json_array_append_new(w->log, json_string(s));
    free(s);
}

static int fail(struct co_work *w, const char *fmt, ...) GR_PRINTF(2, 3);
static int fail(struct co_work *w, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(w->err, sizeof(w->err), fmt, ap);
    va_end(ap);
    return -1;
}

static int git_fail(struct co_work *w, const char *what)
{
    const git_error *e = git_error_last();

    return fail(w, "%s: %s", what, e && e->message ? e->message : "failed");
}

static int cred_cb(git_credential **out, const char *url, const char *user, unsigned int allowed,
                   void *payload)
{
    struct co_work *w = payload;

    (void)url;
    (void)user;
    if (!w->token || !*w->token || !(allowed & GIT_CREDENTIAL_USERPASS_PLAINTEXT))
        return GIT_PASSTHROUGH;
    return git_credential_userpass_plaintext_new(out, "x-access-token", w->token);
}

static int config_set(struct co_work *w, git_repository *repo, const char *key, const char *val);

static void fetch_opts(struct co_work *w, git_fetch_options *fo)
{
    git_fetch_options_init(fo, GIT_FETCH_OPTIONS_VERSION);
    fo->callbacks.credentials = cred_cb;
    fo->callbacks.payload = w;
    fo->download_tags = GIT_REMOTE_DOWNLOAD_TAGS_NONE;
}

static bool is_sha(const char *s)
{
    size_t n = 0;

    while (isxdigit((unsigned char)s[n]))
        n++;
    return n == GIT_OID_HEXSZ && !s[n];
}

/* What ref names: kind, the full upstream ref (branch/tag/other) and the refspecs to fetch. */
struct target {
    enum ref_kind kind;
    char *name; /* branch or tag name, or the full ref for REF_OTHER */
    char *upstream;
};

static void target_release(struct target *t)
{
    free(t->name);
    free(t->upstream);
}

static bool ls_has(const git_remote_head **heads, size_t n, const char *ref)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(heads[i]->name, ref) == 0)
            return true;
    return false;
}

/* ref-helper.ts: which branch, tag or commit `ref` names on the remote. */
static int target_find(struct co_work *w, git_remote *remote, struct target *t)
{
    const git_remote_head **heads = NULL;
    git_remote_callbacks cb;
    size_t n = 0;
    const char *ref = w->ref;
    char *full;
    int r;

    git_remote_init_callbacks(&cb, GIT_REMOTE_CALLBACKS_VERSION);
    cb.credentials = cred_cb;
    cb.payload = w;
    if (git_remote_connect(remote, GIT_DIRECTION_FETCH, &cb, NULL, NULL) < 0 ||
        git_remote_ls(&heads, &n, remote) < 0)
        return git_fail(w, "cannot list the remote repository");
    if (!*ref) {
        /* another repository's default branch: the remote's HEAD */
        for (size_t i = 0; i < n && !*ref; i++)
            if (!strcmp(heads[i]->name, "HEAD") && heads[i]->symref_target)
                ref = heads[i]->symref_target;
        if (!*ref)
            return fail(w, "the remote repository has no default branch (HEAD)");
        free(w->ref);
        w->ref = gr_xstrdup(ref); /* the action's `ref` output: the default branch */
        ref = w->ref;
    }
    if (is_sha(ref)) {
        t->kind = REF_COMMIT;
        t->name = gr_xstrdup(ref);
        return 0;
    }
    if (gr_startswith(ref, "refs/heads/")) {
        t->kind = REF_BRANCH;
        t->name = gr_xstrdup(ref + 11);
    } else if (gr_startswith(ref, "refs/tags/")) {
        t->kind = REF_TAG;
        t->name = gr_xstrdup(ref + 10);
    } else if (gr_startswith(ref, "refs/")) {
        t->kind = REF_OTHER;
        t->name = gr_xstrdup(ref);
    } else {
        full = gr_xasprintf("refs/heads/%s", ref);
        t->kind = ls_has(heads, n, full) ? REF_BRANCH : REF_TAG;
        free(full);
        t->name = gr_xstrdup(ref);
    }
    t->upstream = t->kind == REF_BRANCH ? gr_xasprintf("refs/heads/%s", t->name)
                  : t->kind == REF_TAG  ? gr_xasprintf("refs/tags/%s", t->name)
                                        : gr_xstrdup(t->name);
    r = ls_has(heads, n, t->upstream) ? 0 : -1;
    if (r < 0 && w->sha_hint && t->kind != REF_OTHER)
        return 0; /* the replayed repository's own ref: the SHA is what counts */
    if (r < 0)
        return fail(w, "A branch or tag with the name '%s' could not be found", w->ref);
    return 0;
}

static int do_fetch(struct co_work *w, git_remote *remote, const struct target *t)
{
    char *specs[4];
    size_t n = 0;
    git_strarray arr;
    git_fetch_options fo;
    int r;

    if (w->depth == 0 || t->kind == REF_COMMIT) {
        specs[n++] = gr_xstrdup("+refs/heads/*:refs/remotes/origin/*");
        specs[n++] = gr_xstrdup("+refs/tags/*:refs/tags/*");
    } else {
        if (t->kind == REF_BRANCH)
            specs[n++] = gr_xasprintf("+%s:refs/remotes/origin/%s", t->upstream, t->name);
        else if (t->kind == REF_TAG)
            specs[n++] = gr_xasprintf("+%s:%s", t->upstream, t->upstream);
        else
            specs[n++] = gr_xasprintf("+%s:refs/remotes/%s", t->upstream, t->upstream + 5);
        if (w->fetch_tags && t->kind != REF_TAG)
            specs[n++] = gr_xstrdup("+refs/tags/*:refs/tags/*");
        if (w->sha_hint && t->kind == REF_BRANCH)
            specs[n++] = gr_xstrdup("+HEAD:refs/remotes/origin/HEAD");
    }
    arr = (git_strarray){.strings = specs, .count = n};
    fetch_opts(w, &fo);
    r = git_remote_fetch(remote, &arr, &fo, NULL);
    for (size_t i = 0; i < n; i++)
        free(specs[i]);
    return r < 0 ? git_fail(w, "fetch failed") : 0;
}

/* The commit to check out after the fetch. */
static int target_commit(struct co_work *w, git_repository *repo, const struct target *t,
                         git_oid *ret)
{
    git_object *obj = NULL;
    char *ref = NULL;
    int r;

    if (w->sha_hint && git_oid_fromstr(ret, w->sha_hint) == 0) {
        git_commit *c = NULL;

        if (git_commit_lookup(&c, repo, ret) == 0) {
            git_commit_free(c);
            return 0;
        }
    }
    if (t->kind == REF_COMMIT) {
        git_commit *c = NULL;

        if (git_oid_fromstr(ret, t->name) < 0 || git_commit_lookup(&c, repo, ret) < 0)
            return fail(w, "The commit '%s' was not found in '%s'", t->name, w->repo_name);
        git_commit_free(c);
        return 0;
    }
    ref = t->kind == REF_BRANCH ? gr_xasprintf("refs/remotes/origin/%s", t->name)
          : t->kind == REF_TAG  ? gr_xstrdup(t->upstream)
                                : gr_xasprintf("refs/remotes/%s", t->upstream + 5);
    r = git_revparse_single(&obj, repo, ref);
    if (r == 0) {
        git_object *peeled = NULL;

        r = git_object_peel(&peeled, obj, GIT_OBJECT_COMMIT);
        if (r == 0)
            git_oid_cpy(ret, git_object_id(peeled));
        git_object_free(peeled);
    }
    git_object_free(obj);
    free(ref);
    if (r < 0)
        return fail(w, "A branch or tag with the name '%s' could not be found", w->ref);
    return 0;
}

/* sparse-checkout: the paths to write. Cone mode adds the top-level files. */
static char **sparse_paths(struct co_work *w, git_tree *tree, size_t *ret_n)
{
    size_t n = 0, cap = 0;
    char **v = NULL;
    size_t i;
    json_t *p;

    if (w->cone) {
        for (size_t k = 0; k < git_tree_entrycount(tree); k++) {
            const git_tree_entry *e = git_tree_entry_byindex(tree, k);

            if (git_tree_entry_type(e) == GIT_OBJECT_BLOB) {
                GR_GROW(v, cap, n + 1);
                v[n++] = gr_xstrdup(git_tree_entry_name(e));
            }
        }
    }
    json_array_foreach(w->sparse, i, p)
    {
        const char *s = json_string_value(p);

        while (*s == '/')
            s++;
        GR_GROW(v, cap, n + 1);
        v[n++] = gr_xstrdup(s);
        if (n > 0 && w->cone && v[n - 1][0] && v[n - 1][strlen(v[n - 1]) - 1] == '/')
            v[n - 1][strlen(v[n - 1]) - 1] = '\0';
    }
    *ret_n = n;
    return v;
}

static int file_write(const char *path, const char *data)
{
    FILE *f = fopen(path, "we");
    int r = 0;

    if (!f)
        return -errno;
    if (fputs(data, f) < 0)
        r = -EIO;
    if (fclose(f) != 0 && r == 0)
        r = -errno;
    return r;
}

/* Mark what the sparse checkout left out as skip-worktree, and set core.sparseCheckout. */
static int sparse_finish(struct co_work *w, git_repository *repo, git_tree *tree)
{
    struct gr_buf b = GR_BUF_INIT(0);
    git_index *idx = NULL;
    git_config *cfg = NULL;
    char *info = gr_xasprintf("%s/.git/info", w->dest), *file;
    size_t i;
    json_t *p;
    int r;

    r = git_repository_index(&idx, repo) == 0 && git_index_read_tree(idx, tree) == 0 ? 0 : -1;
    for (size_t k = 0; r == 0 && k < git_index_entrycount(idx); k++) {
        git_index_entry e = *git_index_get_byindex(idx, k);
        char *wt = gr_path_join(w->dest, e.path);
        struct stat st;

        if (lstat(wt, &st) < 0) {
            e.flags_extended |= GIT_INDEX_ENTRY_SKIP_WORKTREE;
            r = git_index_add(idx, &e);
        }
        free(wt);
    }
    if (r == 0)
        r = git_index_write(idx);
    git_index_free(idx);
    if (r < 0)
        r = git_fail(w, "cannot write the sparse index");
    if (r == 0 && w->cone)
        r |= gr_buf_addf(&b, "/*\n!/*/\n");
    json_array_foreach(w->sparse, i, p)
    {
        const char *s = json_string_value(p);

        r |= w->cone
                 ? gr_buf_addf(&b, "/%s%s\n", s + (s[0] == '/'), s[strlen(s) - 1] == '/' ? "" : "/")
                 : gr_buf_addf(&b, "%s\n", s);
    }
    file = gr_xasprintf("%s/sparse-checkout", info);
    if (r == 0 && (gr_mkdir_p(info, 0755) < 0 || file_write(file, b.ptr ? b.ptr : "") < 0))
        r = fail(w, "cannot write %s", file);
    if (r == 0 && (git_repository_config(&cfg, repo) < 0 ||
                   git_config_set_bool(cfg, "core.sparseCheckout", 1) < 0 ||
                   git_config_set_bool(cfg, "core.sparseCheckoutCone", w->cone) < 0))
        r = git_fail(w, "cannot set core.sparseCheckout");
    git_config_free(cfg);
    free(file);
    free(info);
    gr_buf_release(&b);
    return r;
}

static int do_checkout(struct co_work *w, git_repository *repo, const struct target *t,
                       const git_oid *oid)
{
    git_checkout_options co;
    git_commit *commit = NULL;
    git_tree *tree = NULL;
    git_reference *br = NULL;
    char **paths = NULL, *head = NULL, *key = NULL;
    size_t npaths = 0;
    int r;

    git_checkout_options_init(&co, GIT_CHECKOUT_OPTIONS_VERSION);
    co.checkout_strategy = GIT_CHECKOUT_FORCE;
    if (w->clean)
        co.checkout_strategy |= GIT_CHECKOUT_REMOVE_UNTRACKED;
    r = git_commit_lookup(&commit, repo, oid);
    if (r == 0)
        r = git_commit_tree(&tree, commit);
    if (r < 0) {
        r = git_fail(w, "cannot read the commit");
        goto out;
    }
    if (json_array_size(w->sparse)) {
        paths = sparse_paths(w, tree, &npaths);
        co.paths = (git_strarray){.strings = paths, .count = npaths};
    }
    if (git_checkout_tree(repo, (const git_object *)tree, &co) < 0) {
        r = git_fail(w, "checkout failed");
        goto out;
    }
    if (t->kind == REF_BRANCH) {
        head = gr_xasprintf("refs/heads/%s", t->name);
        r = git_branch_create(&br, repo, t->name, commit, 1);
        if (r == 0)
            r = git_repository_set_head(repo, head);
        /* the upstream, as git branch --set-upstream-to writes it */
        key = gr_xasprintf("branch.%s.remote", t->name);
        if (r == 0 && (r = config_set(w, repo, key, "origin")) < 0)
            goto out;
        free(key);
        key = gr_xasprintf("branch.%s.merge", t->name);
        if (r == 0 && (r = config_set(w, repo, key, head)) < 0)
            goto out;
    } else {
        r = git_repository_set_head_detached(repo, oid);
    }
    if (r < 0) {
        r = git_fail(w, "cannot set HEAD");
        goto out;
    }
    if (json_array_size(w->sparse))
        r = sparse_finish(w, repo, tree);
    if (r == 0)
        logf_(w, "HEAD is now at %.7s %s", git_oid_tostr_s(oid), git_commit_summary(commit));
out:
    for (size_t i = 0; i < npaths; i++)
        free(paths[i]);
    free(paths);
    free(head);
    free(key);
    git_reference_free(br);
    git_tree_free(tree);
    git_commit_free(commit);
    return r;
}

/* Emulated shallow history: .git/shallow lists the commits at depth `depth` from oid. */
static int shallow_write(struct co_work *w, git_repository *repo, const git_oid *oid)
{
    git_oid *level = gr_xmalloc(sizeof(*level)), *next = NULL;
    size_t nl = 1, nn = 0, cap = 0, seen = 0;
    struct gr_buf b = GR_BUF_INIT(0);
    char *path;
    int r = 0;

    level[0] = *oid;
    for (int d = 1; d < w->depth && nl > 0 && seen < SHALLOW_MAX; d++) {
        nn = 0;
        for (size_t i = 0; i < nl; i++) {
            git_commit *c = NULL;

            if (git_commit_lookup(&c, repo, &level[i]) < 0)
                continue;
            for (unsigned p = 0; p < git_commit_parentcount(c); p++) {
                GR_GROW(next, cap, nn + 1);
                next[nn++] = *git_commit_parent_id(c, p);
            }
            git_commit_free(c);
        }
        free(level);
        level = next;
        nl = nn;
        seen += nn;
        next = NULL;
        cap = 0;
    }
    for (size_t i = 0; i < nl; i++) {
        git_commit *c = NULL;

        /* only commits whose history is really cut */
        if (git_commit_lookup(&c, repo, &level[i]) == 0 && git_commit_parentcount(c) > 0)
            r |= gr_buf_addf(&b, "%s\n", git_oid_tostr_s(&level[i]));
        git_commit_free(c);
    }
    free(level);
    path = gr_xasprintf("%s/.git/shallow", w->dest);
    if (r == 0 && b.len && file_write(path, b.ptr) < 0)
        r = fail(w, "cannot write %s", path);
    free(path);
    gr_buf_release(&b);
    return r;
}

/*
 * Submodules without git_submodule_*: libgit2 1.5 reads the configuration through regexes
 * there and leaks the match data (see also resolver.c). .gitmodules is read with
 * git_config_foreach; each submodule is fetched into a repository at its path and checked out
 * at the commit the superproject records; submodule.<name>.url goes to the superproject's
 * configuration as `git submodule init` writes it.
 */
struct sm_entry {
    char *name, *path, *url;
};

struct sm_list {
    struct sm_entry *v;
    size_t n, cap;
};

static struct sm_entry *sm_get(struct sm_list *l, const char *name, size_t len)
{
    for (size_t i = 0; i < l->n; i++)
        if (strlen(l->v[i].name) == len && !strncmp(l->v[i].name, name, len))
            return &l->v[i];
    GR_GROW(l->v, l->cap, l->n + 1);
    l->v[l->n] = (struct sm_entry){.name = gr_xstrndup(name, len)};
    return &l->v[l->n++];
}

static int sm_collect(const git_config_entry *e, void *payload)
{
    const char *name = e->name + 10, *dot = strrchr(e->name, '.');
    struct sm_entry *s;

    if (strncmp(e->name, "submodule.", 10) != 0 || !dot || dot <= name)
        return 0;
    s = sm_get(payload, name, (size_t)(dot - name));
    if (!strcmp(dot, ".path")) {
        free(s->path);
        s->path = gr_xstrdup(e->value);
    } else if (!strcmp(dot, ".url")) {
        free(s->url);
        s->url = gr_xstrdup(e->value);
    }
    return 0;
}

static void sm_list_release(struct sm_list *l)
{
    for (size_t i = 0; i < l->n; i++) {
        free(l->v[i].name);
        free(l->v[i].path);
        free(l->v[i].url);
    }
    free(l->v);
}

/* A relative submodule URL ("../x.git") against the superproject's URL. Owned. */
static char *sm_url(const char *base, const char *url)
{
    char *b;
    size_t len;

    if (!gr_startswith(url, "../") && !gr_startswith(url, "./"))
        return gr_xstrdup(url);
    b = gr_xstrdup(base);
    len = strlen(b);
    while (len > 1 && b[len - 1] == '/')
        b[--len] = '\0';
    for (;;) {
        if (gr_startswith(url, "./")) {
            url += 2;
        } else if (gr_startswith(url, "../")) {
            char *slash = strrchr(b, '/');

            if (slash && slash != b)
                *slash = '\0';
            url += 3;
        } else {
            break;
        }
    }
    len = strlen(b);
    b = gr_xrealloc(b, len + strlen(url) + 2);
    (void)snprintf(b + len, strlen(url) + 2, "/%s", url);
    return b;
}

static int remote_open(struct co_work *w, git_repository *repo, const char *url, git_remote **ret)
{
    git_remote_create_options ro;

    git_remote_create_options_init(&ro, GIT_REMOTE_CREATE_OPTIONS_VERSION);
    ro.repository = repo;
    ro.flags = GIT_REMOTE_CREATE_SKIP_INSTEADOF | GIT_REMOTE_CREATE_SKIP_DEFAULT_FETCHSPEC;
    if (git_remote_create_with_opts(ret, url, &ro) < 0)
        return git_fail(w, "cannot open the remote");
    return 0;
}

static int config_set(struct co_work *w, git_repository *repo, const char *key, const char *val)
{
    git_config *cfg = NULL;
    int r = 0;

    if (git_repository_config(&cfg, repo) < 0 || git_config_set_string(cfg, key, val) < 0)
        r = git_fail(w, "cannot write the git configuration");
    git_config_free(cfg);
    return r;
}

static int sm_checkout(struct co_work *w, git_repository *parent, const char *dir,
                       const char *parent_url, git_tree *tree, bool recursive);

static int sm_one(struct co_work *w, git_repository *parent, const char *dir,
                  const char *parent_url, git_tree *ptree, const struct sm_entry *s, bool recursive)
{
    char *specs[] = {"+refs/heads/*:refs/remotes/origin/*", "+refs/tags/*:refs/tags/*"};
    git_strarray arr = {specs, 2};
    git_tree_entry *te = NULL;
    git_repository *repo = NULL;
    git_remote *remote = NULL;
    git_commit *commit = NULL;
    git_tree *tree = NULL;
    git_checkout_options co;
    git_fetch_options fo;
    char *url = sm_url(parent_url, s->url), *sub = gr_path_join(dir, s->path), *key;
    int r;

    git_checkout_options_init(&co, GIT_CHECKOUT_OPTIONS_VERSION);
    co.checkout_strategy = GIT_CHECKOUT_FORCE;
    fetch_opts(w, &fo);
    r = git_tree_entry_bypath(&te, ptree, s->path) == 0 &&
                git_tree_entry_type(te) == GIT_OBJECT_COMMIT
            ? 0
            : fail(w, "submodule '%s': no commit recorded at '%s'", s->name, s->path);
    if (r == 0 &&
        (gr_rm_rf(sub) < 0 || gr_mkdir_p(sub, 0755) < 0 || git_repository_init(&repo, sub, 0) < 0))
        r = git_fail(w, "cannot create the submodule repository");
    if (r == 0)
        r = remote_open(w, repo, url, &remote);
    if (r == 0 && git_remote_fetch(remote, &arr, &fo, NULL) < 0)
        r = git_fail(w, "submodule fetch failed");
    if (r == 0 && (git_commit_lookup(&commit, repo, git_tree_entry_id(te)) < 0 ||
                   git_commit_tree(&tree, commit) < 0))
        r = fail(w, "submodule '%s': commit %s not found in '%s'", s->name,
                 git_oid_tostr_s(git_tree_entry_id(te)), url);
    if (r == 0 && (git_checkout_tree(repo, (const git_object *)tree, &co) < 0 ||
                   git_repository_set_head_detached(repo, git_commit_id(commit)) < 0))
        r = git_fail(w, "submodule checkout failed");
    if (r == 0)
        r = config_set(w, repo, "remote.origin.url", url);
    key = gr_xasprintf("submodule.%s.url", s->name);
    if (r == 0)
        r = config_set(w, parent, key, url);
    free(key);
    if (r == 0)
        logf_(w, "Submodule path '%s': checked out '%s'", s->path,
              git_oid_tostr_s(git_commit_id(commit)));
    if (r == 0 && recursive)
        r = sm_checkout(w, repo, sub, url, tree, true);
    git_tree_free(tree);
    git_commit_free(commit);
    git_remote_free(remote);
    git_repository_free(repo);
    git_tree_entry_free(te);
    free(url);
    free(sub);
    return r;
}

static int sm_checkout(struct co_work *w, git_repository *parent, const char *dir,
                       const char *parent_url, git_tree *tree, bool recursive)
{
    char *path = gr_path_join(dir, ".gitmodules");
    struct sm_list l = {0};
    git_config *cfg = NULL;
    int r = 0;

    if (gr_path_exists(path)) {
        if (git_config_open_ondisk(&cfg, path) < 0 || git_config_foreach(cfg, sm_collect, &l) < 0)
            r = git_fail(w, "cannot read .gitmodules");
        git_config_free(cfg);
    }
    for (size_t i = 0; i < l.n && r == 0; i++)
        if (l.v[i].path && l.v[i].url)
            r = sm_one(w, parent, dir, parent_url, tree, &l.v[i], recursive);
    sm_list_release(&l);
    free(path);
    return r;
}

/* The Basic header actions/checkout persists for the server of url (not for local URLs). */
static int persist_token(struct co_work *w, git_repository *repo)
{
    const char *p = strstr(w->url, "://");
    char *server, *key, *val, *raw;
    unsigned char b64[512];
    git_config *cfg = NULL;
    int n, r = 0;

    if (!w->persist || !w->token || !*w->token || !p || gr_startswith(w->url, "file://"))
        return 0;
    server = gr_xstrndup(w->url, (size_t)(strchr(p + 3, '/') ? strchr(p + 3, '/') - w->url
                                                             : (ptrdiff_t)strlen(w->url)));
    key = gr_xasprintf("http.%s/.extraheader", server);
    raw = gr_xasprintf("x-access-token:%s", w->token);
    n = strlen(raw) * 4 / 3 + 4 < sizeof(b64)
            ? EVP_EncodeBlock(b64, (const unsigned char *)raw, (int)strlen(raw))
            : -1;
    val = n > 0 ? gr_xasprintf("AUTHORIZATION: basic %s", b64) : NULL;
    if (!val || git_repository_config(&cfg, repo) < 0 || git_config_set_string(cfg, key, val) < 0)
        r = fail(w, "cannot persist the credentials in the local git config");
    git_config_free(cfg);
    free(server);
    free(key);
    free(raw);
    free(val);
    return r;
}

static int lfs_pull(struct co_work *w)
{
    char *argv[] = {w->lfs_prog, "pull", NULL};
    posix_spawn_file_actions_t fa;
    pid_t pid;
    int st = 0, r;

    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addchdir_np(&fa, w->dest);
    r = posix_spawn(&pid, w->lfs_prog, &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    if (r != 0)
        return fail(w, "cannot run '%s': %s", w->lfs_prog, strerror(r));
    while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
        ;
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
        return fail(w, "'%s pull' failed (status %d)", w->lfs_prog, st);
    return 0;
}

/* An existing directory: reuse a checkout of the same URL, else empty it (as the action). */
static int dest_prepare(struct co_work *w, git_repository **ret)
{
    git_repository *repo = NULL;
    git_config *cfg = NULL;
    git_buf url = {0};
    bool same = false;
    DIR *d;
    struct dirent *de;
    int r = 0;

    if (git_repository_open_ext(&repo, w->dest, GIT_REPOSITORY_OPEN_NO_SEARCH, NULL) == 0) {
        same = git_repository_config(&cfg, repo) == 0 &&
               git_config_get_string_buf(&url, cfg, "remote.origin.url") == 0 &&
               strcmp(url.ptr, w->url) == 0;
        git_buf_dispose(&url);
        git_config_free(cfg);
        if (same) {
            *ret = repo;
            return 0;
        }
        git_repository_free(repo);
    }
    d = opendir(w->dest);
    if (d) {
        logf_(w, "Deleting the contents of '%s'", w->dest);
        while (r == 0 && (de = readdir(d)) != NULL) {
            char *p;

            if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
                continue;
            p = gr_path_join(w->dest, de->d_name);
            r = gr_rm_rf(p);
            free(p);
        }
        closedir(d);
        if (r < 0)
            return fail(w, "cannot empty '%s': %s", w->dest, gr_strerror(r));
    }
    if (gr_mkdir_p(w->dest, 0755) < 0 || git_repository_init(&repo, w->dest, 0) < 0)
        return git_fail(w, "cannot create the repository");
    if (config_set(w, repo, "remote.origin.url", w->url) < 0 ||
        config_set(w, repo, "remote.origin.fetch", "+refs/heads/*:refs/remotes/origin/*") < 0) {
        git_repository_free(repo);
        return -1;
    }
    *ret = repo;
    return 0;
}

static int submodules(struct co_work *w, git_repository *repo, const git_oid *oid)
{
    git_commit *c = NULL;
    git_tree *tree = NULL;
    int r;

    if (git_commit_lookup(&c, repo, oid) < 0 || git_commit_tree(&tree, c) < 0)
        r = git_fail(w, "cannot read the commit");
    else
        r = sm_checkout(w, repo, w->dest, w->url, tree, w->submodules == 2);
    git_tree_free(tree);
    git_commit_free(c);
    return r;
}

static int checkout_work(struct co_work *w)
{
    git_repository *repo = NULL;
    git_remote *remote = NULL;
    struct target t = {0};
    git_oid oid;
    int r;

    logf_(w, "Syncing repository: %s", w->repo_name);
    r = dest_prepare(w, &repo);
    if (r == 0)
        r = remote_open(w, repo, w->url, &remote);
    if (r == 0)
        r = target_find(w, remote, &t);
    if (r == 0) {
        logf_(w, "Fetching the repository (%s)",
              w->depth == 0 ? "all branches and tags"
              : t.upstream  ? t.upstream
                            : t.name);
        r = do_fetch(w, remote, &t);
    }
    if (r == 0)
        r = target_commit(w, repo, &t, &oid);
    if (r == 0)
        r = do_checkout(w, repo, &t, &oid);
    if (r == 0 && w->depth > 0)
        r = shallow_write(w, repo, &oid);
    if (r == 0 && w->submodules)
        r = submodules(w, repo, &oid);
    if (r == 0)
        r = persist_token(w, repo);
    if (r == 0 && w->lfs_prog)
        r = lfs_pull(w);
    if (r == 0)
        git_oid_tostr(w->commit, sizeof(w->commit), &oid);
    target_release(&t);
    git_remote_free(remote);
    git_repository_free(repo);
    return r;
}

static void work_cb(uv_work_t *req)
{
    struct co_work *w = gr_container_of(req, struct co_work, req);

    w->r = checkout_work(w);
}

/* ---- results (loop) ---------------------------------------------------- */

static void after_cb(uv_work_t *req, int status)
{
    struct co_work *w = gr_container_of(req, struct co_work, req);
    struct ex__stepexec *se = w->se;
    struct ex__leg *leg = se->leg;
    struct ex__frame *frame = se->frame;
    size_t i;
    json_t *l;

    json_array_foreach(w->log, i, l) ex__leg_log(leg, "%s", json_string_value(l));
    if (status < 0 || w->r < 0) {
        (void)ex__action_fail(se, "%s", status < 0 ? uv_strerror(status) : w->err);
    } else {
        json_object_set_new(se->outputs, "ref", json_string(w->ref));
        json_object_set_new(se->outputs, "commit", json_string(w->commit));
        ex__step_finished(se, EX_RESULT_SUCCESS);
    }
    work_free(w);
    ex__step_advance(leg, frame);
}

/* ---- the step (loop) --------------------------------------------------- */

static int parse_submodules(const char *s, int *ret)
{
    if (!strcasecmp(s, "recursive"))
        *ret = 2;
    else if (!strcasecmp(s, "true"))
        *ret = 1;
    else if (!strcasecmp(s, "false"))
        *ret = 0;
    else
        return -1;
    return 0;
}

static char *lfs_find(struct ex__stepexec *se)
{
    const char *pv = json_string_value(json_object_get(se->env, "PATH"));
    char *path = ex__path_value(se->leg->path_list, pv ? pv : getenv("PATH"));
    char *prog = ex__which("git-lfs", path);

    free(path);
    return prog;
}

static const char *str_or(const json_t *v, const char *def)
{
    return json_is_string(v) && *json_string_value(v) ? json_string_value(v) : def;
}

/* The workspace itself: the replayed repository, left as is. */
static int workspace_noop(struct ex__stepexec *se, const char *uses, const char *ref)
{
    const json_t *gh = json_object_get(se->leg->ctx, "github");
    const char *own_ref = json_string_value(json_object_get(gh, "ref"));
    const char *sha = json_string_value(json_object_get(gh, "sha"));
    const char *ref_name = json_string_value(json_object_get(gh, "ref_name"));

    if (*ref && !(own_ref && !strcmp(ref, own_ref)) && !(sha && !strcmp(ref, sha)) &&
        !(ref_name && !strcmp(ref, ref_name))) {
        char *m = gr_xasprintf("%s: the workspace is the replayed repository, so ref '%s' is not "
                               "checked out there; use `path:` to get a clone of that ref",
                               uses, ref);

        ex__leg_annotate(se->leg, se, "warning", m, NULL);
        free(m);
    }
    ex__leg_log(se->leg, "%s: using the workspace '%s' as is", uses, se->leg->run->workdir);
    json_object_set_new(se->outputs, "ref", json_string(*ref ? ref : own_ref ? own_ref : ""));
    json_object_set_new(se->outputs, "commit", json_string(sha ? sha : ""));
    ex__step_finished(se, EX_RESULT_SUCCESS);
    return 1;
}

static int settings(struct co_work *w, const json_t *with, char **msg)
{
    const char *depth = input(with, "fetch-depth", "1");
    char *end = NULL;
    long n = strtol(depth, &end, 10);
    bool lfs = false;

    if (!*depth || *end || n < 0) {
        *msg = gr_xasprintf("fetch-depth must be a number >= 0, not '%s'", depth);
        return -1;
    }
    w->depth = (int)(n > 1000000 ? 1000000 : n);
    if (parse_submodules(input(with, "submodules", "false"), &w->submodules) < 0) {
        *msg = gr_xasprintf("submodules must be false, true or recursive, not '%s'",
                            input(with, "submodules", ""));
        return -1;
    }
    if (input_bool(with, "clean", true, &w->clean, msg) < 0 ||
        input_bool(with, "persist-credentials", true, &w->persist, msg) < 0 ||
        input_bool(with, "fetch-tags", false, &w->fetch_tags, msg) < 0 ||
        input_bool(with, "sparse-checkout-cone-mode", true, &w->cone, msg) < 0 ||
        input_bool(with, "lfs", false, &lfs, msg) < 0)
        return -1;
    if (lfs) {
        w->lfs_prog = lfs_find(w->se);
        if (!w->lfs_prog) {
            *msg = gr_xstrdup("lfs: true needs git-lfs, which is not installed (no git-lfs on "
                              "PATH)");
            return -1;
        }
    }
    w->sparse = lines(input(with, "sparse-checkout", ""));
    w->token = gr_xstrdup(input(with, "token", ""));
    return 0;
}

/* dest = workspace/path, normalized; NULL when it leaves the workspace. */
static char *dest_of(const char *ws, const char *path)
{
    char *joined = path[0] == '/' ? gr_xstrdup(path) : gr_path_join(ws, path);
    char *real = realpath(joined, NULL), *out = NULL;
    size_t wl = strlen(ws);

    if (!real) {
        /* not there yet: its existing parent decides */
        char *slash = strrchr(joined, '/');

        if (slash && slash != joined) {
            char *parent = gr_xstrndup(joined, (size_t)(slash - joined));
            char *rp = realpath(parent, NULL);

            if (rp)
                real = gr_xasprintf("%s%s", rp, slash);
            free(rp);
            free(parent);
        }
    }
    if (real && strncmp(real, ws, wl) == 0 && (real[wl] == '/' || !real[wl]))
        out = gr_xstrdup(real);
    free(real);
    free(joined);
    return out;
}

int ex__checkout_run(struct ex__stepexec *se, const char *uses)
{
    const struct ex_run_opts *o = se->leg->run->opts;
    const json_t *gh = json_object_get(se->leg->ctx, "github");
    const char *own = json_string_value(json_object_get(gh, "repository"));
    const char *ws = se->leg->run->workdir;
    struct gr_diag d = {0};
    json_t *with = NULL;
    const char *repo, *ref, *path;
    struct co_work *w;
    char *msg = NULL;
    bool is_own, online = o->checkout_clones;
    int r;

    if (ex__native_with(se, &with, &d) < 0)
        return ex__action_fail(se, "%s", d.msg);
    inputs_warn(se, with);
    repo = input(with, "repository", own ? own : "");
    ref = input(with, "ref", "");
    path = input(with, "path", ".");
    is_own = own && strcasecmp(repo, own) == 0;
    w = gr_xcalloc(1, sizeof(*w));
    w->se = se;
    w->log = json_array();
    w->dest = dest_of(ws, path);
    if (!w->dest) {
        r = ex__action_fail(se, "Repository path '%s' is not under '%s'", path, ws);
        goto out;
    }
    if (settings(w, with, &msg) < 0) {
        r = ex__action_fail(se, "%s", msg);
        goto out;
    }
    if (online && !*w->token) { /* the action's default: token: ${{ github.token }} */
        free(w->token);
        w->token = gr_xstrdup(str_or(json_object_get(gh, "token"), ""));
    }
    if (!online && strcmp(w->dest, ws) == 0) {
        if (is_own) {
            r = workspace_noop(se, uses, ref);
            goto out;
        }
        r = ex__action_fail(se,
                            "checking out '%s' into the workspace would replace the replayed "
                            "repository; give it a `path:`",
                            repo);
        goto out;
    }
    if (!*repo || !strchr(repo, '/')) {
        r = ex__action_fail(se, "Invalid repository '%s'. Expected format {owner}/{repo}.", repo);
        goto out;
    }
    w->repo_name = gr_xstrdup(repo);
    if (is_own && online) {
        const char *own_ref = json_string_value(json_object_get(gh, "ref"));
        const char *sha = json_string_value(json_object_get(gh, "sha"));

        w->url = clone_url(o->actions_url && *o->actions_url
                               ? o->actions_url
                               : str_or(json_object_get(gh, "server_url"), "https://github.com"),
                           repo);
        if (!*ref && sha && *sha) {
            w->sha_hint = gr_xstrdup(sha);
            ref = own_ref && *own_ref ? own_ref : sha;
        }
    } else if (is_own) {
        const char *own_ref = json_string_value(json_object_get(gh, "ref"));
        const char *sha = json_string_value(json_object_get(gh, "sha"));

        w->url = gr_xstrdup(ws);
        w->from_workspace = true;
        if (!*ref && sha && strspn(sha, "0") != strlen(sha)) {
            w->sha_hint = gr_xstrdup(sha);
            ref = own_ref && *own_ref ? own_ref : sha;
        }
    } else {
        w->url = clone_url(
            o->actions_url && *o->actions_url ? o->actions_url : "https://github.com", repo);
    }
    w->ref = gr_xstrdup(ref);
    uv_once(&git_once, git_setup);
    r = uv_queue_work(se->leg->run->loop, &w->req, work_cb, after_cb);
    if (r < 0) {
        r = ex__action_fail(se, "cannot start the checkout: %s", uv_strerror(r));
        goto out;
    }
    w = NULL;
    r = 0;
out:
    if (w)
        work_free(w);
    free(msg);
    json_decref(with);
    return r;
}
