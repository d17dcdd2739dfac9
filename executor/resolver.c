/*
 * Remote actions: `owner/repo[/path]@ref` to a directory holding the
 * action. Sources, in order:
 *   1. the local actions directory (--action-dir DIR), laid out as
 *      DIR/owner/repo/ref/;
 *   2. a git clone from --actions-url (default https://github.com; a
 *      file:// URL or a local path works too, where BASE/owner/repo.git is
 *      tried after BASE/owner/repo). A bare mirror per owner/repo under
 *      <state dir>/_actions/_git/ is fetched (branches and tags), the ref
 *      is resolved as a tag, a branch, then a commit SHA (full or short),
 *      and the commit's tree is checked out once into
 *      <state dir>/_actions/owner/repo/<sha>/, which later jobs and runs
 *      reuse (a full SHA that is already there needs no fetch).
 * The git work runs on libuv's thread pool (uv_queue_work) under one
 * mutex (the mirrors are shared between legs); only the after-work
 * callback touches the step. A run remembers what it resolved, so the
 * same owner/repo@ref is fetched once per process.
 *
 * An action that no source has fails the step with the action, the ref
 * and every source tried, each with its reason.
 */
#include "action_internal.h"

#include <errno.h>
#include <git2.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct resolve_work {
    uv_work_t req;
    ex__resolved_fn *done;
    void *ctx;
    struct ex_action_ref ref;
    char *uses, *base, *state; /* inputs */
    char *tried;               /* sources tried so far (owned text) */
    char *dir, *sha;           /* result */
    char err[512];
    int r;
};

static uv_once_t git_once = UV_ONCE_INIT;
static uv_mutex_t git_mu;
static json_t *memo; /* "owner/repo@ref" -> checked-out directory; loop thread only */

static void git_setup(void)
{
    git_libgit2_init();
    if (uv_mutex_init(&git_mu) != 0)
        abort();
}

static void rw_free(struct resolve_work *w)
{
    ex_action_ref_release(&w->ref);
    free(w->uses);
    free(w->base);
    free(w->state);
    free(w->tried);
    free(w->dir);
    free(w->sha);
    free(w);
}

static void tried_add(struct resolve_work *w, const char *fmt, ...) GR_PRINTF(2, 3);

static void tried_add(struct resolve_work *w, const char *fmt, ...)
{
    char *s = NULL, *old = w->tried;
    va_list ap;

    va_start(ap, fmt);
    if (vasprintf(&s, fmt, ap) < 0)
        s = NULL;
    va_end(ap);
    w->tried = old ? gr_xasprintf("%s; %s", old, s ? s : "") : gr_xstrdup(s ? s : "");
    free(old);
    free(s);
}

static void git_errmsg(struct resolve_work *w, const char *what)
{
    const git_error *e = git_error_last();

    snprintf(w->err, sizeof(w->err), "%s: %s", what, e && e->message ? e->message : "failed");
}

/* Local base (path or file://): BASE/owner/repo, else BASE/owner/repo.git. */
static char *clone_url(const struct resolve_work *w)
{
    const char *b = w->base;
    bool file = gr_startswith(b, "file://");
    bool local = file || b[0] == '/' || b[0] == '.';
    char *url = gr_xasprintf("%s/%s/%s", b, w->ref.owner, w->ref.repo);
    char *git;

    if (!local)
        return url;
    if (gr_path_exists(file ? url + 7 : url))
        return url;
    git = gr_xasprintf("%s.git", url);
    free(url);
    return git;
}

static int mirror_open(struct resolve_work *w, git_repository **ret)
{
    char *path = gr_xasprintf("%s/_actions/_git/%s/%s.git", w->state, w->ref.owner, w->ref.repo);
    int r;

    if (gr_path_is_dir(path)) {
        r = git_repository_open_bare(ret, path);
    } else {
        r = gr_mkdir_p(path, 0755);
        if (r == 0)
            r = git_repository_init(ret, path, 1);
    }
    if (r < 0)
        git_errmsg(w, "cannot open the action cache");
    free(path);
    return r;
}

static int mirror_fetch(struct resolve_work *w, git_repository *repo, const char *url)
{
    char *specs[] = {"+refs/heads/*:refs/remotes/origin/*", "+refs/tags/*:refs/tags/*"};
    git_strarray refspecs = {specs, 2};
    git_remote_create_options ro;
    git_fetch_options fo;
    git_remote *remote = NULL;
    int r = git_fetch_options_init(&fo, GIT_FETCH_OPTIONS_VERSION);

    /*
     * An anonymous remote without url.<base>.insteadOf rewriting: libgit2
     * 1.5 matches every config entry against a regex for it and leaks the
     * match data of each entry that does not match.
     */
    if (r == 0)
        r = git_remote_create_options_init(&ro, GIT_REMOTE_CREATE_OPTIONS_VERSION);
    ro.repository = repo;
    ro.flags = GIT_REMOTE_CREATE_SKIP_INSTEADOF | GIT_REMOTE_CREATE_SKIP_DEFAULT_FETCHSPEC;
    if (r == 0)
        r = git_remote_create_with_opts(&remote, url, &ro);

    if (r == 0)
        r = git_remote_fetch(remote, &refspecs, &fo, NULL);
    if (r < 0)
        git_errmsg(w, "fetch failed");
    git_remote_free(remote);
    return r;
}

static int ref_commit(git_repository *repo, const char *ref, git_oid *ret)
{
    const char *forms[] = {"refs/tags/", "refs/remotes/origin/"};
    git_object *obj = NULL, *peeled = NULL;
    int r = -1;

    for (size_t i = 0; i < GR_ARRAY_SIZE(forms) && r < 0; i++) {
        char *name = gr_xasprintf("%s%s", forms[i], ref);

        r = git_revparse_single(&obj, repo, name);
        free(name);
    }
    if (r < 0 && strspn(ref, "0123456789abcdefABCDEF") == strlen(ref) && strlen(ref) >= 7)
        r = git_revparse_single(&obj, repo, ref);
    if (r == 0)
        r = git_object_peel(&peeled, obj, GIT_OBJECT_COMMIT);
    if (r == 0)
        git_oid_cpy(ret, git_object_id(peeled));
    git_object_free(peeled);
    git_object_free(obj);
    return r;
}

static int checkout(struct resolve_work *w, git_repository *repo, const git_oid *oid,
                    const char *dest)
{
    git_checkout_options co;
    git_commit *commit = NULL;
    char *tmp = gr_xasprintf("%s.tmp%ld", dest, (long)getpid());
    int r = git_checkout_options_init(&co, GIT_CHECKOUT_OPTIONS_VERSION);

    if (r == 0)
        r = gr_mkdir_p(tmp, 0755);
    co.checkout_strategy = GIT_CHECKOUT_FORCE;
    co.target_directory = tmp;
    if (r == 0)
        r = git_commit_lookup(&commit, repo, oid);
    if (r == 0)
        r = git_checkout_tree(repo, (git_object *)commit, &co);
    if (r < 0)
        git_errmsg(w, "checkout failed");
    else if (rename(tmp, dest) < 0 && !gr_path_is_dir(dest))
        r = -errno;
    if (gr_rm_rf(tmp) < 0)
        GR_LOG_DEBUG("cannot remove '%s'", tmp);
    git_commit_free(commit);
    free(tmp);
    return r;
}

static bool full_sha(const char *ref)
{
    return strlen(ref) == 40 && strspn(ref, "0123456789abcdef") == 40;
}

static int clone_resolve(struct resolve_work *w, const char *url)
{
    git_repository *repo = NULL;
    char hex[GIT_OID_HEXSZ + 1];
    char *dest = NULL;
    git_oid oid;
    int r;

    if (full_sha(w->ref.ref)) {
        dest =
            gr_xasprintf("%s/_actions/%s/%s/%s", w->state, w->ref.owner, w->ref.repo, w->ref.ref);
        if (gr_path_is_dir(dest)) {
            w->dir = dest;
            w->sha = gr_xstrdup(w->ref.ref);
            return 0;
        }
        free(dest);
    }
    r = mirror_open(w, &repo);
    if (r == 0)
        r = mirror_fetch(w, repo, url);
    if (r == 0 && ref_commit(repo, w->ref.ref, &oid) < 0) {
        snprintf(w->err, sizeof(w->err), "no tag, branch or commit '%s'", w->ref.ref);
        r = -1;
    }
    if (r == 0) {
        git_oid_tostr(hex, sizeof(hex), &oid);
        dest = gr_xasprintf("%s/_actions/%s/%s/%s", w->state, w->ref.owner, w->ref.repo, hex);
        if (!gr_path_is_dir(dest))
            r = checkout(w, repo, &oid, dest);
    }
    if (r == 0) {
        w->dir = dest;
        w->sha = gr_xstrdup(hex);
    } else {
        free(dest);
    }
    git_repository_free(repo);
    return r;
}

static void work_cb(uv_work_t *req)
{
    struct resolve_work *w = gr_container_of(req, struct resolve_work, req);
    char *url = clone_url(w);

    uv_mutex_lock(&git_mu);
    w->r = clone_resolve(w, url);
    uv_mutex_unlock(&git_mu);
    if (w->r < 0)
        tried_add(w, "clone of '%s' (%s)", url, w->err);
    free(url);
}

static char *memo_key(const struct ex_action_ref *ref)
{
    return gr_xasprintf("%s/%s@%s", ref->owner, ref->repo, ref->ref);
}

static void after_cb(uv_work_t *req, int status)
{
    struct resolve_work *w = gr_container_of(req, struct resolve_work, req);
    char *key = memo_key(&w->ref);

    if (status == 0 && w->r == 0) {
        json_object_set_new(memo, key, json_string(w->dir));
        (void)w->done(w->ctx, &w->ref, w->dir, NULL, true);
    } else {
        (void)w->done(w->ctx, &w->ref, NULL, w->tried ? w->tried : "no source", true);
    }
    free(key);
    rw_free(w);
}

static bool action_dir_try(struct resolve_work *w, const char *adir, char **ret)
{
    char *dir;

    if (!adir || !*adir)
        return false;
    dir = gr_xasprintf("%s/%s/%s/%s", adir, w->ref.owner, w->ref.repo, w->ref.ref);
    if (gr_path_is_dir(dir)) {
        *ret = dir;
        return true;
    }
    tried_add(w, "--action-dir '%s' (no such directory)", dir);
    free(dir);
    return false;
}

int ex__resolve(struct ex__run *run, const struct ex_action_ref *ref, const char *uses,
                ex__resolved_fn *done, void *ctx)
{
    const struct ex_run_opts *o = run->opts;
    struct resolve_work *w = gr_xcalloc(1, sizeof(*w));
    char *dir = NULL, *key, *why;
    const char *hit;
    int r;

    w->done = done;
    w->ctx = ctx;
    w->uses = gr_xstrdup(uses);
    w->ref = (struct ex_action_ref){.kind = ref->kind,
                                    .owner = gr_xstrdup(ref->owner),
                                    .repo = gr_xstrdup(ref->repo),
                                    .path = gr_xstrdup(ref->path),
                                    .ref = gr_xstrdup(ref->ref)};
    if (!memo)
        memo = json_object();
    key = memo_key(ref);
    hit = json_string_value(json_object_get(memo, key));
    free(key);
    if (hit && !gr_path_is_dir(hit))
        hit = NULL;
    if (hit || action_dir_try(w, o->action_dir, &dir)) {
        r = done(ctx, &w->ref, hit ? hit : dir, NULL, false);
        free(dir);
        rw_free(w);
        return r;
    }
    w->base = gr_xstrdup(o->actions_url && *o->actions_url ? o->actions_url : "https://github.com");
    w->state = gr_xstrdup(run->state_dir);
    uv_once(&git_once, git_setup);
    r = uv_queue_work(run->loop, &w->req, work_cb, after_cb);
    if (r < 0) {
        why = gr_xasprintf("cannot start the fetch: %s", uv_strerror(r));
        r = done(ctx, &w->ref, NULL, why, false);
        free(why);
        rw_free(w);
        return r;
    }
    return 0;
}

/* ---- actions ----------------------------------------------------------- */

static int step_resolved(void *ctx, const struct ex_action_ref *ref, const char *root,
                         const char *tried, bool async)
{
    struct ex__stepexec *se = ctx;
    struct ex__leg *leg = se->leg;
    struct ex__frame *frame = se->frame;
    char *dir;
    json_t *gh;
    int r;

    if (!root) {
        r = ex__action_fail(se, "action '%s' (ref '%s') was not found: tried %s",
                            ex_node_str(se->step->uses), ref->ref, tried);
    } else {
        dir = *ref->path ? gr_path_join(root, ref->path) : gr_xstrdup(root);
        gh = json_pack("{s:s++,s:s}", "action_repository", ref->owner, "/", ref->repo, "action_ref",
                       ref->ref);
        r = ex__action_start(se, ref, dir, gh);
        free(dir);
    }
    if (async && r == 1)
        ex__step_advance(leg, frame);
    return r;
}

int ex__resolve_start(struct ex__stepexec *se, const struct ex_action_ref *ref)
{
    return ex__resolve(se->leg->run, ref, ex_node_str(se->step->uses), step_resolved, se);
}
