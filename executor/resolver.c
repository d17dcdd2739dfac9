/*
 * Remote actions: `owner/repo[/path]@ref` to a directory holding the
 * action. Three sources, tried in the order ex_run_opts.action_sources
 * gives ("dir,download,clone" by default; one that is not configured is
 * left out):
 *   dir       the local actions directory (--action-dir DIR), laid out as
 *             DIR/owner/repo/ref/;
 *   download  for jobs from GitHub: the runner's download-info source
 *             (ex_action_source, runner/actions_dl.c) resolves the ref to a
 *             commit through GitHub's action download info API and fetches
 *             the commit's tarball, which is extracted (resolver_tar.c) into
 *             a temporary directory and renamed to
 *             <state dir>/_actions/owner/repo/<sha>/, so a crash never leaves
 *             a half-made action there (the official runner's
 *             _actions/owner/repo/ref plus its ".completed" marker file, in
 *             src/Runner.Worker/ActionManager.cs, serves the same end). The
 *             first request of a run asks for every remote action of the
 *             plan's steps at once, as PrepareActionsAsync does, and later
 *             ones add the remote `uses:` of composite actions downloaded
 *             before;
 *   clone     a git clone from --actions-url (default https://github.com; a
 *             file:// URL or a local path works too, where
 *             BASE/owner/repo.git is tried after BASE/owner/repo). A bare
 *             mirror per owner/repo under <state dir>/_actions/_git/ is
 *             fetched (branches and tags), the ref is resolved as a tag, a
 *             branch, then a commit SHA (full or short), and the commit's tree
 *             is checked out once into <state dir>/_actions/owner/repo/<sha>/.
 * Both download and clone fill one cache, per owner/repo@commit, which later
 * jobs and runs reuse (a commit already there is neither downloaded nor
 * checked out again). The network and file work runs on libuv's thread pool
 * (uv_queue_work); git under one mutex (the mirrors are shared between
 * legs); only the after-work callback touches the step. A process
 * remembers what it resolved, so the same owner/repo@ref is resolved once
 * per job.
 *
 * An action that no source has fails the step with the action, the ref
 * and every source tried, each with its reason.
 */
#include "action_internal.h"
#include "resolver_internal.h"

#include <errno.h>
#include <git2.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define EX_ACTION_TARBALL_MAX (512u << 20) /* bytes of one downloaded tarball */

enum src_kind {
    SRC_DIR,
    SRC_DOWNLOAD,
    SRC_CLONE,
};

struct resolve_work {
    uv_work_t req;
    ex__resolved_fn *done;
    void *ctx;
    struct ex_action_ref ref;
    char *uses, *base, *state, *adir; /* inputs */
    const struct ex_action_source *src;
    struct ex_action_dl *batch; /* download: [0] is ref, then the others of the request */
    size_t n_batch;
    enum src_kind order[3];
    size_t n_order, next; /* next: the first source not tried yet */
    char **nested;        /* remote uses: of a downloaded composite action */
    size_t n_nested;
    char *tried;     /* sources tried so far (owned text) */
    char *dir, *sha; /* result */
    char err[512];
    int r;
};

static uv_once_t git_once = UV_ONCE_INIT;
static uv_mutex_t git_mu;
/* Loop thread only: */
static json_t *memo;    /* "owner/repo@ref" -> checked-out directory */
static json_t *failed;  /* "owner/repo@ref" -> the sources tried, when none had it */
static json_t *asked;   /* "owner/repo@ref" -> true: sent to the download source already */
static json_t *pending; /* uses: of downloaded composite actions, for the next request */

static void git_setup(void)
{
    git_libgit2_init();
    if (uv_mutex_init(&git_mu) != 0)
        abort();
}

void ex_action_dl_release(struct ex_action_dl *a)
{
    free(a->name_with_owner);
    free(a->ref);
    free(a->path);
    free(a->resolved_sha);
    free(a->error);
    memset(a, 0, sizeof(*a));
}

static void rw_free(struct resolve_work *w)
{
    ex_action_ref_release(&w->ref);
    for (size_t i = 0; i < w->n_batch; i++)
        ex_action_dl_release(&w->batch[i]);
    free(w->batch);
    for (size_t i = 0; i < w->n_nested; i++)
        free(w->nested[i]);
    free(w->nested);
    free(w->uses);
    free(w->base);
    free(w->state);
    free(w->adir);
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

static int clone_try(struct resolve_work *w)
{
    char *url = clone_url(w);
    int r;

    uv_once(&git_once, git_setup);
    uv_mutex_lock(&git_mu);
    r = clone_resolve(w, url);
    uv_mutex_unlock(&git_mu);
    if (r < 0)
        tried_add(w, "clone of '%s' (%s)", url, w->err);
    free(url);
    return r;
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

/* ---- download: GitHub's action download info and tarballs ---------------- */

/* A commit as GitHub names it (SHA-1 or SHA-256 hex): it becomes a directory name. */
static bool sha_ok(const char *s)
{
    size_t n = s ? strlen(s) : 0;

    return (n == 40 || n == 64) && strspn(s, "0123456789abcdef") == n;
}

/* The remote uses: of the composite action at dir (downloaded just now), for the next request. */
static void nested_scan(struct resolve_work *w)
{
    char *dir = *w->ref.path ? gr_path_join(w->dir, w->ref.path) : gr_xstrdup(w->dir);
    struct ex_action *a = NULL;
    struct gr_diag d = {0};

    if (ex_action_load(dir, &a, &d) == 0 && a->kind == EX_ACTION_COMPOSITE) {
        for (size_t i = 0; i < a->n_steps; i++) {
            const char *u = a->steps[i].uses ? ex_node_str(a->steps[i].uses) : NULL;

            if (!u || gr_startswith(u, "./") || gr_startswith(u, "../") ||
                gr_startswith(u, "docker://"))
                continue;
            w->nested = gr_xrealloc(w->nested, (w->n_nested + 1) * sizeof(*w->nested));
            w->nested[w->n_nested++] = gr_xstrdup(u);
        }
    }
    ex_action_free(a);
    free(dir);
}

/* Download the tarball of w->batch[0] and extract it to dest through a temporary directory. */
static int tarball_fetch(struct resolve_work *w, const char *dest)
{
    const struct ex_action_dl *me = &w->batch[0];
    struct gr_buf buf = GR_BUF_INIT(EX_ACTION_TARBALL_MAX);
    char *parent = gr_xasprintf("%s/_actions/%s/%s", w->state, w->ref.owner, w->ref.repo);
    char *tmp = gr_xasprintf("%s/.tmp-%s-XXXXXX", parent, me->resolved_sha), *into = NULL;
    struct gr_diag d = {0};
    int r = gr_mkdir_p(parent, 0755);

    if (r == 0 && !mkdtemp(tmp))
        r = -errno;
    if (r < 0) {
        tried_add(w, "download (cannot create '%s': %s)", tmp, gr_strerror(r));
        goto out;
    }
    into = gr_path_join(tmp, "action");
    r = w->src->download(w->src->ctx, me, &buf, &d);
    if (r < 0) {
        tried_add(w, "download of the tarball of %s@%s (%s)", me->name_with_owner, me->resolved_sha,
                  d.msg);
        goto out;
    }
    r = ex__action_tar_extract(buf.ptr, buf.len, into, &d);
    if (r < 0) {
        tried_add(w, "the tarball of %s@%s (%s)", me->name_with_owner, me->resolved_sha, d.msg);
        goto out;
    }
    if (rename(into, dest) < 0 && !gr_path_is_dir(dest)) {
        r = -errno;
        tried_add(w, "download (cannot move the action to '%s': %s)", dest, gr_strerror(r));
    }
out:
    if (gr_path_exists(tmp) && gr_rm_rf(tmp) < 0)
        GR_LOG_DEBUG("cannot remove '%s'", tmp);
    gr_buf_release(&buf);
    free(into);
    free(tmp);
    free(parent);
    return r;
}

static int download_try(struct resolve_work *w)
{
    struct ex_action_dl *me = &w->batch[0];
    struct gr_diag d = {0};
    char *dest;
    int r;

    r = w->src->resolve(w->src->ctx, w->batch, w->n_batch, &d);
    if (r < 0) {
        tried_add(w, "GitHub's action download info (%s)", d.msg);
        return r;
    }
    if (me->error || !sha_ok(me->resolved_sha)) {
        tried_add(w, "GitHub's action download info (%s)",
                  me->error ? me->error : "no commit SHA in the answer");
        return -1;
    }
    dest =
        gr_xasprintf("%s/_actions/%s/%s/%s", w->state, w->ref.owner, w->ref.repo, me->resolved_sha);
    r = gr_path_is_dir(dest) ? 0 : tarball_fetch(w, dest);
    if (r < 0) {
        free(dest);
        return r;
    }
    w->dir = dest;
    w->sha = gr_xstrdup(me->resolved_sha);
    nested_scan(w);
    return 0;
}

static void work_cb(uv_work_t *req)
{
    struct resolve_work *w = gr_container_of(req, struct resolve_work, req);

    w->r = -1;
    for (; w->next < w->n_order && w->r < 0; w->next++) {
        switch (w->order[w->next]) {
        case SRC_DIR:
            w->r = action_dir_try(w, w->adir, &w->dir) ? 0 : -1;
            break;
        case SRC_DOWNLOAD:
            w->r = download_try(w);
            break;
        case SRC_CLONE:
            w->r = clone_try(w);
            break;
        }
    }
}

static char *memo_key(const struct ex_action_ref *ref)
{
    return gr_xasprintf("%s/%s@%s", ref->owner, ref->repo, ref->ref);
}

static void after_cb(uv_work_t *req, int status)
{
    struct resolve_work *w = gr_container_of(req, struct resolve_work, req);
    char *key = memo_key(&w->ref);

    for (size_t i = 0; i < w->n_nested; i++)
        json_object_set_new(pending, w->nested[i], json_true());
    if (status == 0 && w->r == 0) {
        json_object_set_new(memo, key, json_string(w->dir));
        (void)w->done(w->ctx, &w->ref, w->dir, NULL, true);
    } else {
        json_object_set_new(failed, key, json_string(w->tried ? w->tried : "no source"));
        (void)w->done(w->ctx, &w->ref, NULL, w->tried ? w->tried : "no source", true);
    }
    free(key);
    rw_free(w);
}

/* ---- the request of the download source ----------------------------------- */

static bool batch_has(const struct resolve_work *w, const struct ex_action_ref *r)
{
    for (size_t i = 0; i < w->n_batch; i++) {
        const struct ex_action_dl *b = &w->batch[i];
        size_t ol = strlen(r->owner);

        if (!strncmp(b->name_with_owner, r->owner, ol) && b->name_with_owner[ol] == '/' &&
            !strcmp(b->name_with_owner + ol + 1, r->repo) && !strcmp(b->ref, r->ref))
            return true;
    }
    return false;
}

static void batch_add(struct resolve_work *w, const struct ex_action_ref *r)
{
    struct ex_action_dl *b;
    char *key;

    if (batch_has(w, r))
        return;
    key = memo_key(r);
    if (w->n_batch > 0 && (json_object_get(asked, key) || json_object_get(memo, key))) {
        free(key);
        return;
    }
    json_object_set_new(asked, key, json_true());
    free(key);
    w->batch = gr_xrealloc(w->batch, (w->n_batch + 1) * sizeof(*w->batch));
    b = &w->batch[w->n_batch++];
    *b = (struct ex_action_dl){.name_with_owner = gr_xasprintf("%s/%s", r->owner, r->repo),
                               .ref = gr_xstrdup(r->ref),
                               .path = gr_xstrdup(r->path)};
}

static void batch_add_uses(struct resolve_work *w, const struct ex_run_opts *o, const char *uses)
{
    struct ex_action_ref r = {0};
    struct gr_diag d = {0};

    if (!uses || ex__native_for(o, uses))
        return;
    if (ex_action_ref_parse(uses, &r, &d) == 0 && r.kind == EX_USES_REMOTE)
        batch_add(w, &r);
    ex_action_ref_release(&r);
}

/*
 * The request: the action asked for, every remote action of the plan's steps and those
 * of the composite actions downloaded so far, less what was asked before.
 */
static void batch_build(struct resolve_work *w, const struct ex__run *run)
{
    const struct ex_plan *plan = run->plan;
    const char *u;
    json_t *v;
    void *tmp;

    batch_add(w, &w->ref);
    for (size_t i = 0; plan && i < plan->n_jobs; i++) {
        const struct ex_job *job = plan->jobs[i].job;

        for (size_t j = 0; job && j < job->n_steps; j++)
            if (job->steps[j].uses)
                batch_add_uses(w, run->opts, ex_node_str(job->steps[j].uses));
    }
    json_object_foreach_safe(pending, tmp, u, v)
    {
        batch_add_uses(w, run->opts, u);
        json_object_del(pending, u);
    }
}

/* ---- the resolver ----------------------------------------------------------- */

static void order_add(struct resolve_work *w, enum src_kind k)
{
    for (size_t i = 0; i < w->n_order; i++)
        if (w->order[i] == k)
            return;
    w->order[w->n_order++] = k;
}

/* ex_run_opts.action_sources, less the sources not configured. *ret_why: an unknown name. */
static int order_parse(struct resolve_work *w, const struct ex_run_opts *o, char **ret_why)
{
    const char *p =
        o->action_sources && *o->action_sources ? o->action_sources : "dir,download,clone";

    while (*p) {
        size_t n;

        p += strspn(p, " \t,");
        n = strcspn(p, " \t,");
        if (n == 3 && !strncmp(p, "dir", n)) {
            if (o->action_dir && *o->action_dir)
                order_add(w, SRC_DIR);
        } else if (n == 8 && !strncmp(p, "download", n)) {
            if (o->action_source)
                order_add(w, SRC_DOWNLOAD);
        } else if (n == 5 && !strncmp(p, "clone", n)) {
            order_add(w, SRC_CLONE);
        } else if (n) {
            *ret_why = gr_xasprintf("unknown action source '%.*s' (known: dir, download, clone)",
                                    (int)n, p);
            return -EINVAL;
        }
        p += n;
    }
    if (w->n_order == 0) {
        *ret_why = gr_xasprintf("no action source is configured (action sources '%s')",
                                o->action_sources ? o->action_sources : "");
        return -ENOENT;
    }
    return 0;
}

static struct resolve_work *rw_new(const struct ex_action_ref *ref, const char *uses,
                                   ex__resolved_fn *done, void *ctx)
{
    struct resolve_work *w = gr_xcalloc(1, sizeof(*w));

    w->done = done;
    w->ctx = ctx;
    w->uses = gr_xstrdup(uses);
    w->ref = (struct ex_action_ref){.kind = ref->kind,
                                    .owner = gr_xstrdup(ref->owner),
                                    .repo = gr_xstrdup(ref->repo),
                                    .path = gr_xstrdup(ref->path),
                                    .ref = gr_xstrdup(ref->ref)};
    if (!memo) {
        memo = json_object();
        failed = json_object();
        asked = json_object();
        pending = json_object();
    }
    return w;
}

/* Answer inside ex__resolve (async false) and free w. */
static int finish_sync(struct resolve_work *w, const char *dir, const char *why)
{
    int r = w->done(w->ctx, &w->ref, dir, dir ? NULL : why, false);

    rw_free(w);
    return r;
}

static const char *memo_hit(const struct ex_action_ref *ref)
{
    char *key = memo_key(ref);
    const char *hit = json_string_value(json_object_get(memo, key));

    free(key);
    return hit && gr_path_is_dir(hit) ? hit : NULL;
}

int ex__resolve(struct ex__run *run, const struct ex_action_ref *ref, const char *uses,
                ex__resolved_fn *done, void *ctx)
{
    const struct ex_run_opts *o = run->opts;
    struct resolve_work *w = rw_new(ref, uses, done, ctx);
    const char *hit = memo_hit(ref), *before;
    char *dir = NULL, *why = NULL, *key;
    int r;

    if (hit)
        return finish_sync(w, hit, NULL);
    key = memo_key(ref);
    before = json_string_value(json_object_get(failed, key));
    free(key);
    if (before) /* the sources answered once already in this process (the job) */
        return finish_sync(w, NULL, before);
    r = order_parse(w, o, &why);
    for (; r == 0 && w->next < w->n_order && w->order[w->next] == SRC_DIR; w->next++)
        if (action_dir_try(w, o->action_dir, &dir))
            break;
    if (r < 0 || dir || w->next == w->n_order) {
        r = finish_sync(w, dir, why ? why : w->tried ? w->tried : "no source");
        free(why);
        free(dir);
        return r;
    }
    w->base = gr_xstrdup(o->actions_url && *o->actions_url ? o->actions_url : "https://github.com");
    w->state = gr_xstrdup(run->state_dir);
    w->adir = o->action_dir ? gr_xstrdup(o->action_dir) : NULL;
    w->src = o->action_source;
    for (size_t i = w->next; i < w->n_order; i++)
        if (w->order[i] == SRC_DOWNLOAD)
            batch_build(w, run);
    r = uv_queue_work(run->loop, &w->req, work_cb, after_cb);
    if (r < 0) {
        why = gr_xasprintf("cannot start the fetch: %s", uv_strerror(r));
        r = finish_sync(w, NULL, why);
        free(why);
    }
    return r;
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
