/*
 * The github context of a replay, read from the local repository with
 * libgit2 (workflow-semantics.md section 9; docs: contexts#github-context).
 *
 * Sources, in order of preference:
 * - the event payload (-e FILE): ref, repository.full_name, sender.login,
 *   pull_request.head/base, as GitHub derives them from the payload;
 * - the repository: HEAD (sha, branch or a tag pointing at a detached HEAD),
 *   the `origin` remote (else the first remote) for owner/name and host,
 *   git config user.name for the actor;
 * - defaults: without a remote the repository is "local/<directory name>"
 *   (act uses "nektos/act"; we keep the user's own directory name so that
 *   scripts see something recognisable), actor from $USER, and an all-zero
 *   sha when the directory is not a repository or has no commits.
 *
 * When no payload is given a default one is generated for the event: push
 * gets ref/before/after/created/deleted/forced/base_ref/commits/head_commit/
 * pusher/repository/sender; pull_request gets action/number/pull_request
 * (head and base with ref, sha, repo)/repository/sender; workflow_dispatch
 * gets inputs/ref/repository/sender/workflow; others get repository/sender.
 */
#include "ex/plan.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <git2.h>

#define ZERO_SHA "0000000000000000000000000000000000000000"

/* ---- remote URLs ------------------------------------------------------- */

static bool split_path(const char *path, char **ret_owner, char **ret_name)
{
    const char *slash, *end;
    size_t len;

    while (*path == '/')
        path++;
    slash = strchr(path, '/');
    if (!slash || slash == path)
        return false;
    end = slash + 1 + strcspn(slash + 1, "/");
    len = (size_t)(end - slash - 1);
    if (len >= 4 && strncmp(end - 4, ".git", 4) == 0)
        len -= 4;
    if (len == 0 || (*end && strcmp(end, "/") != 0))
        return false;
    *ret_owner = gr_xstrndup(path, (size_t)(slash - path));
    *ret_name = gr_xstrndup(slash + 1, len);
    return true;
}

bool ex_github_parse_remote(const char *url, char **ret_host, char **ret_owner, char **ret_name)
{
    const char *host, *rest, *at, *colon;
    char *h;

    if (!url)
        return false;
    rest = strstr(url, "://");
    if (rest) {
        host = rest + 3;
        rest = strchr(host, '/');
        if (!rest)
            return false;
    } else {
        /* scp-like: [user@]host:owner/repo */
        colon = strchr(url, ':');
        if (!colon || strchr(url, '/') < colon)
            return false;
        host = url;
        rest = colon + 1;
    }
    at = memchr(host, '@', (size_t)(rest - host));
    if (at)
        host = at + 1;
    h = gr_xstrndup(host, (size_t)(rest - host));
    h[strcspn(h, ":/")] = '\0'; /* drop a port */
    if (!split_path(rest, ret_owner, ret_name)) {
        free(h);
        return false;
    }
    *ret_host = h;
    return true;
}

/* ---- repository facts -------------------------------------------------- */

struct repo_facts {
    char sha[GIT_OID_HEXSZ + 1];
    char parent[GIT_OID_HEXSZ + 1];
    char base[GIT_OID_HEXSZ + 1]; /* default pull_request base: default branch tip, else parent */
    char *ref;                    /* refs/heads/x, refs/tags/x or "" */
    char *default_branch;         /* from origin/HEAD, else main/master, else the current branch */
    char *host, *owner, *name;
    char *actor, *email;
    char *workspace;
    json_t *head_commit; /* object or NULL */
};

static void facts_release(struct repo_facts *f)
{
    free(f->ref);
    free(f->default_branch);
    free(f->host);
    free(f->owner);
    free(f->name);
    free(f->actor);
    free(f->email);
    free(f->workspace);
    json_decref(f->head_commit);
}

static int open_repo(const char *dir, git_repository **ret)
{
    git_repository *repo = NULL;

    if (git_repository_open_ext(&repo, dir, 0, NULL) < 0)
        return GR_ENOTFOUND;
    if (git_repository_is_bare(repo)) {
        git_repository_free(repo);
        return GR_ENOTFOUND;
    }
    *ret = repo;
    return 0;
}

static void time_iso(git_time_t t, int offset_min, char *out, size_t outlen)
{
    time_t tt = (time_t)t + (time_t)offset_min * 60;
    struct tm tm;
    int off = offset_min < 0 ? -offset_min : offset_min;

    gmtime_r(&tt, &tm);
    snprintf(out, outlen, "%04d-%02d-%02dT%02d:%02d:%02d%c%02d:%02d", tm.tm_year + 1900,
             tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
             offset_min < 0 ? '-' : '+', off / 60, off % 60);
}

static json_t *person_json(const git_signature *sig)
{
    return json_pack("{s:s, s:s, s:s}", "name", sig->name ? sig->name : "", "email",
                     sig->email ? sig->email : "", "username", sig->name ? sig->name : "");
}

static json_t *commit_json(git_commit *c)
{
    char id[GIT_OID_HEXSZ + 1], tree[GIT_OID_HEXSZ + 1], ts[64];
    const git_signature *a = git_commit_author(c), *cm = git_commit_committer(c);

    git_oid_tostr(id, sizeof(id), git_commit_id(c));
    git_oid_tostr(tree, sizeof(tree), git_commit_tree_id(c));
    time_iso(cm->when.time, cm->when.offset, ts, sizeof(ts));
    return json_pack("{s:s, s:s, s:s, s:s, s:o, s:o, s:b}", "id", id, "tree_id", tree, "message",
                     git_commit_message(c) ? git_commit_message(c) : "", "timestamp", ts, "author",
                     person_json(a), "committer", person_json(cm), "distinct", 1);
}

static char *tag_at(git_repository *repo, const git_oid *oid)
{
    git_reference_iterator *it = NULL;
    git_reference *ref = NULL;
    char *found = NULL;

    if (git_reference_iterator_glob_new(&it, repo, "refs/tags/*") < 0)
        return NULL;
    while (!found && git_reference_next(&ref, it) == 0) {
        git_object *obj = NULL;
        if (git_reference_peel(&obj, ref, GIT_OBJECT_COMMIT) == 0 &&
            git_oid_equal(git_object_id(obj), oid))
            found = gr_xstrdup(git_reference_name(ref));
        git_object_free(obj);
        git_reference_free(ref);
    }
    git_reference_iterator_free(it);
    return found;
}

static void read_head(git_repository *repo, struct repo_facts *f)
{
    git_reference *head = NULL;
    git_commit *c = NULL;
    const git_oid *oid;

    if (git_repository_head(&head, repo) < 0) {
        /* unborn branch: HEAD names it, there is no commit */
        git_reference *sym = NULL;
        if (git_reference_lookup(&sym, repo, "HEAD") == 0 && git_reference_symbolic_target(sym))
            f->ref = gr_xstrdup(git_reference_symbolic_target(sym));
        git_reference_free(sym);
        return;
    }
    oid = git_reference_target(head);
    if (oid) {
        git_oid_tostr(f->sha, sizeof(f->sha), oid);
        if (git_repository_head_detached(repo))
            f->ref = tag_at(repo, oid);
        else
            f->ref = gr_xstrdup(git_reference_name(head));
        if (git_commit_lookup(&c, repo, oid) == 0) {
            f->head_commit = commit_json(c);
            if (git_commit_parentcount(c) > 0)
                git_oid_tostr(f->parent, sizeof(f->parent), git_commit_parent_id(c, 0));
        }
    }
    git_commit_free(c);
    git_reference_free(head);
}

static bool branch_exists(git_repository *repo, const char *name)
{
    git_reference *ref = NULL;
    char *full = gr_xasprintf("refs/heads/%s", name);
    bool r = git_reference_lookup(&ref, repo, full) == 0;

    git_reference_free(ref);
    free(full);
    return r;
}

static void read_default_branch(git_repository *repo, struct repo_facts *f)
{
    git_reference *ref = NULL;
    const char *t;

    if (git_reference_lookup(&ref, repo, "refs/remotes/origin/HEAD") == 0) {
        t = git_reference_symbolic_target(ref);
        if (t && gr_startswith(t, "refs/remotes/origin/"))
            f->default_branch = gr_xstrdup(t + strlen("refs/remotes/origin/"));
        git_reference_free(ref);
    }
    if (!f->default_branch && branch_exists(repo, "main"))
        f->default_branch = gr_xstrdup("main");
    if (!f->default_branch && branch_exists(repo, "master"))
        f->default_branch = gr_xstrdup("master");
}

/* The tip of the default branch when it is not HEAD itself, else HEAD's parent. */
static void read_base(git_repository *repo, struct repo_facts *f)
{
    char *local = gr_xasprintf("refs/heads/%s", f->default_branch);
    char *remote = gr_xasprintf("refs/remotes/origin/%s", f->default_branch);
    git_oid oid;

    memcpy(f->base, f->parent, sizeof(f->base));
    if ((git_reference_name_to_id(&oid, repo, local) == 0 ||
         git_reference_name_to_id(&oid, repo, remote) == 0)) {
        char hex[GIT_OID_HEXSZ + 1];
        git_oid_tostr(hex, sizeof(hex), &oid);
        if (strcmp(hex, f->sha) != 0)
            memcpy(f->base, hex, sizeof(f->base));
    }
    free(local);
    free(remote);
}

/*
 * The URL of remote `origin`, else of the first remote in the configuration.
 * Read from the config directly: git_remote_lookup in libgit2 1.5 leaks its
 * regex match data (pcre2) on every call.
 */
static char *remote_url(git_config *cfg)
{
    git_config_iterator *it = NULL;
    git_config_entry *e;
    git_buf buf = {0};
    char *url = NULL;

    if (git_config_get_string_buf(&buf, cfg, "remote.origin.url") == 0 && buf.ptr)
        url = gr_xstrdup(buf.ptr);
    git_buf_dispose(&buf);
    if (url || git_config_iterator_new(&it, cfg) < 0)
        return url;
    while (!url && git_config_next(&e, it) == 0)
        if (gr_startswith(e->name, "remote.") && gr_endswith(e->name, ".url") && e->value)
            url = gr_xstrdup(e->value);
    git_config_iterator_free(it);
    return url;
}

static void read_remote(git_config *cfg, struct repo_facts *f)
{
    char *url = remote_url(cfg);

    if (url && !ex_github_parse_remote(url, &f->host, &f->owner, &f->name))
        f->host = f->owner = f->name = NULL;
    free(url);
}

static void read_config(git_repository *repo, struct repo_facts *f)
{
    git_config *cfg = NULL;
    git_buf buf = {0};

    if (git_repository_config_snapshot(&cfg, repo) < 0)
        return;
    read_remote(cfg, f);
    if (git_config_get_string_buf(&buf, cfg, "user.name") == 0 && buf.ptr && *buf.ptr)
        f->actor = gr_xstrdup(buf.ptr);
    git_buf_dispose(&buf);
    if (git_config_get_string_buf(&buf, cfg, "user.email") == 0 && buf.ptr && *buf.ptr)
        f->email = gr_xstrdup(buf.ptr);
    git_buf_dispose(&buf);
    git_config_free(cfg);
}

static char *abs_dir(const char *dir)
{
    char buf[PATH_MAX];

    if (realpath(dir, buf))
        return gr_xstrdup(buf);
    return gr_xstrdup(dir);
}

static void read_facts(const char *dir, struct repo_facts *f)
{
    git_repository *repo = NULL;

    memcpy(f->sha, ZERO_SHA, sizeof(f->sha));
    memcpy(f->parent, ZERO_SHA, sizeof(f->parent));
    memcpy(f->base, ZERO_SHA, sizeof(f->base));
    if (open_repo(dir, &repo) == 0) {
        read_head(repo, f);
        read_default_branch(repo, f);
        if (f->default_branch)
            read_base(repo, f);
        read_config(repo, f);
        git_repository_free(repo);
    } else if (!f->ref) {
        /* Outside any git repository there is no branch: replay as the default branch main. */
        f->ref = gr_xstrdup("refs/heads/main");
    }
    /* The workspace is the directory being replayed, even inside a larger repository. */
    f->workspace = abs_dir(dir);
    if (!f->ref)
        f->ref = gr_xstrdup("");
    if (!f->owner) {
        const char *base = strrchr(f->workspace, '/');
        f->owner = gr_xstrdup("local");
        f->name = gr_xstrdup(base && base[1] ? base + 1 : "repo");
    }
    if (!f->actor)
        f->actor = gr_xstrdup(getenv("USER") && *getenv("USER") ? getenv("USER") : "ghrun");
    if (!f->default_branch)
        f->default_branch = gr_xstrdup(
            gr_startswith(f->ref, "refs/heads/") ? f->ref + strlen("refs/heads/") : "main");
}

/* ---- default payloads -------------------------------------------------- */

static json_t *repository_json(const struct repo_facts *f, const char *server)
{
    char *full = gr_xasprintf("%s/%s", f->owner, f->name);
    char *html = gr_xasprintf("%s/%s", server, full);
    char *clone = gr_xasprintf("%s.git", html);
    json_t *r =
        json_pack("{s:s, s:s, s:{s:s, s:s}, s:s, s:s, s:s, s:b}", "name", f->name, "full_name",
                  full, "owner", "login", f->owner, "name", f->owner, "default_branch",
                  f->default_branch, "html_url", html, "clone_url", clone, "private", 0);

    free(full);
    free(html);
    free(clone);
    return r;
}

static json_t *push_payload(const struct repo_facts *f, json_t *repo)
{
    json_t *p = json_pack("{s:s, s:s, s:s, s:b, s:b, s:b, s:n, s:[], s:{s:s, s:s}, s:{s:s}}", "ref",
                          f->ref, "before", f->parent, "after", f->sha, "created", 0, "deleted", 0,
                          "forced", 0, "base_ref", "commits", "pusher", "name", f->actor, "email",
                          f->email ? f->email : "", "sender", "login", f->actor);

    json_object_set_new(p, "repository", repo);
    if (f->head_commit) {
        json_object_set(p, "head_commit", f->head_commit);
        json_array_append(json_object_get(p, "commits"), f->head_commit);
    } else {
        json_object_set_new(p, "head_commit", json_null());
    }
    return p;
}

static json_t *pr_payload(const struct repo_facts *f, json_t *repo)
{
    const char *head =
        gr_startswith(f->ref, "refs/heads/") ? f->ref + strlen("refs/heads/") : f->ref;
    json_t *p = json_pack("{s:s, s:i, s:{s:i, s:s, s:s, s:{s:s, s:s, s:O}, s:{s:s, s:s, s:O}}, "
                          "s:{s:s}}",
                          "action", "opened", "number", 1, "pull_request", "number", 1, "state",
                          "open", "title", "local changes", "head", "ref", head, "sha", f->sha,
                          "repo", repo, "base", "ref", f->default_branch, "sha", f->base, "repo",
                          repo, "sender", "login", f->actor);

    json_object_set_new(p, "repository", repo);
    return p;
}

static json_t *default_payload(const struct repo_facts *f, const char *event, const char *server)
{
    json_t *repo = repository_json(f, server);

    if (strcmp(event, "push") == 0)
        return push_payload(f, repo);
    if (strcmp(event, "pull_request") == 0 || strcmp(event, "pull_request_target") == 0)
        return pr_payload(f, repo);
    json_t *p = json_pack("{s:o, s:{s:s}}", "repository", repo, "sender", "login", f->actor);
    if (strcmp(event, "workflow_dispatch") == 0 || strcmp(event, "workflow_call") == 0) {
        json_object_set_new(p, "inputs", json_object());
        json_object_set_new(p, "ref", json_string(f->ref));
    }
    return p;
}

/* ---- the context ------------------------------------------------------- */

static const char *jstr(const json_t *obj, const char *path)
{
    char key[64];
    const char *dot;

    while ((dot = strchr(path, '.')) != NULL) {
        snprintf(key, sizeof(key), "%.*s", (int)(dot - path), path);
        obj = json_object_get(obj, key);
        path = dot + 1;
    }
    return json_string_value(json_object_get(obj, path));
}

static char *full_ref(const char *ref)
{
    if (!ref || gr_startswith(ref, "refs/") || !*ref)
        return gr_xstrdup(ref ? ref : "");
    return gr_xasprintf("refs/heads/%s", ref);
}

/* ref, ref_name, ref_type, head_ref, base_ref */
static void set_refs(json_t *g, const struct repo_facts *f, const char *event, const json_t *ev)
{
    bool pr = strcmp(event, "pull_request") == 0 || strcmp(event, "pull_request_target") == 0;
    const char *head = jstr(ev, "pull_request.head.ref"), *base = jstr(ev, "pull_request.base.ref");
    json_t *num = json_object_get(ev, "number");
    char *ref;

    if (pr && strcmp(event, "pull_request") == 0 && json_is_integer(num))
        ref = gr_xasprintf("refs/pull/%lld/merge", (long long)json_integer_value(num));
    else if (pr && base)
        ref = gr_xasprintf("refs/heads/%s", base);
    else
        ref = full_ref(jstr(ev, "ref") ? jstr(ev, "ref") : f->ref);
    json_object_set_new(g, "ref", json_string(ref));
    if (gr_startswith(ref, "refs/heads/") || gr_startswith(ref, "refs/tags/"))
        json_object_set_new(g, "ref_name", json_string(strchr(ref + 5, '/') + 1));
    else if (gr_startswith(ref, "refs/pull/"))
        json_object_set_new(g, "ref_name", json_string(ref + strlen("refs/pull/")));
    else
        json_object_set_new(g, "ref_name", json_string(ref));
    json_object_set_new(g, "ref_type",
                        json_string(gr_startswith(ref, "refs/tags/") ? "tag" : "branch"));
    json_object_set_new(g, "head_ref", json_string(pr && head ? head : ""));
    json_object_set_new(g, "base_ref",
                        json_string(pr && base             ? base
                                    : jstr(ev, "base_ref") ? jstr(ev, "base_ref")
                                                           : ""));
    free(ref);
}

static void set_urls(json_t *g, const char *host)
{
    if (!host || strcmp(host, "github.com") == 0) {
        json_object_set_new(g, "server_url", json_string("https://github.com"));
        json_object_set_new(g, "api_url", json_string("https://api.github.com"));
        json_object_set_new(g, "graphql_url", json_string("https://api.github.com/graphql"));
        return;
    }
    /* GitHub Enterprise Server layout */
    json_object_set_new(g, "server_url", json_pack("s+", "https://", host));
    json_object_set_new(g, "api_url", json_pack("s++", "https://", host, "/api/v3"));
    json_object_set_new(g, "graphql_url", json_pack("s++", "https://", host, "/api/graphql"));
}

static void set_identity(json_t *g, const struct repo_facts *f, const json_t *ev)
{
    const char *full = jstr(ev, "repository.full_name");
    const char *owner = jstr(ev, "repository.owner.login");
    const char *actor = jstr(ev, "sender.login");
    char *repo = full ? gr_xstrdup(full) : gr_xasprintf("%s/%s", f->owner, f->name);

    if (!owner && full && strchr(full, '/'))
        json_object_set_new(g, "repository_owner", json_stringn(full, strcspn(full, "/")));
    else
        json_object_set_new(g, "repository_owner", json_string(owner ? owner : f->owner));
    json_object_set_new(g, "repository", json_string(repo));
    json_object_set_new(g, "actor", json_string(actor ? actor : f->actor));
    json_object_set_new(g, "triggering_actor", json_string(actor ? actor : f->actor));
    free(repo);
}

int ex_github_context(const char *repo_dir, const char *event_name, const json_t *payload,
                      json_t **ret, struct gr_diag *reterr)
{
    struct repo_facts f = {0};
    json_t *g, *ev;
    char run_id[32];

    if (!event_name || !*event_name)
        return gr_diag_set(reterr, GR_EUSAGE, NULL, 0, 0, "no event name");
    git_libgit2_init();
    read_facts(repo_dir ? repo_dir : ".", &f);
    git_libgit2_shutdown();
    g = json_object();
    set_urls(g, f.host);
    if (payload)
        ev = json_deep_copy(payload);
    else
        ev = default_payload(&f, event_name, json_string_value(json_object_get(g, "server_url")));
    set_refs(g, &f, event_name, ev);
    set_identity(g, &f, ev);
    json_object_set_new(g, "sha", json_string(f.sha));
    json_object_set_new(g, "event_name", json_string(event_name));
    json_object_set_new(g, "workspace", json_string(f.workspace));
    snprintf(run_id, sizeof(run_id), "%lld", (long long)time(NULL));
    json_object_set_new(g, "run_id", json_string(run_id));
    json_object_set_new(g, "run_number", json_string("1"));
    json_object_set_new(g, "run_attempt", json_string("1"));
    json_object_set_new(g, "retention_days", json_string("90"));
    json_object_set_new(g, "job", json_string(""));
    json_object_set_new(g, "action", json_string(""));
    json_object_set_new(g, "token", json_string(""));
    json_object_set_new(g, "event", ev);
    facts_release(&f);
    *ret = g;
    return 0;
}

/* ---- changed files ----------------------------------------------------- */

static int add_path_cb(const git_diff_delta *d, float progress, void *data)
{
    json_t *arr = data;

    (void)progress;
    if (d->new_file.path)
        json_array_append_new(arr, json_string(d->new_file.path));
    if (d->old_file.path && (!d->new_file.path || strcmp(d->old_file.path, d->new_file.path)))
        json_array_append_new(arr, json_string(d->old_file.path));
    return 0;
}

static git_tree *tree_of(git_repository *repo, const git_oid *oid)
{
    git_commit *c = NULL;
    git_tree *t = NULL;

    if (git_commit_lookup(&c, repo, oid) == 0)
        (void)git_commit_tree(&t, c);
    git_commit_free(c);
    return t;
}

static bool resolve(git_repository *repo, const char *spec, git_oid *ret)
{
    git_object *obj = NULL;
    git_object *peeled = NULL;
    bool ok = false;

    if (!spec || !*spec || strcmp(spec, ZERO_SHA) == 0)
        return false;
    if (git_revparse_single(&obj, repo, spec) == 0 &&
        git_object_peel(&peeled, obj, GIT_OBJECT_COMMIT) == 0) {
        git_oid_cpy(ret, git_object_id(peeled));
        ok = true;
    }
    git_object_free(peeled);
    git_object_free(obj);
    return ok;
}

/* The "old" side of the diff; false: diff against the empty tree. */
static bool old_side(git_repository *repo, const json_t *github, const git_oid *head, git_oid *ret)
{
    const char *event = json_string_value(json_object_get(github, "event_name"));
    const json_t *ev = json_object_get(github, "event");
    git_oid base;
    git_commit *c = NULL;
    bool ok = false;

    if (event && strncmp(event, "pull_request", 12) == 0) {
        const char *b = json_string_value(json_object_get(github, "base_ref"));
        char *spec = b ? gr_xasprintf("refs/heads/%s", b) : NULL;
        char *rspec = b ? gr_xasprintf("refs/remotes/origin/%s", b) : NULL;
        if (resolve(repo, jstr(ev, "pull_request.base.sha"), &base) || resolve(repo, spec, &base) ||
            resolve(repo, rspec, &base))
            ok = git_merge_base(ret, repo, &base, head) == 0;
        free(spec);
        free(rspec);
        if (ok)
            return true;
    } else if (resolve(repo, jstr(ev, "before"), ret)) {
        return true;
    }
    if (git_commit_lookup(&c, repo, head) == 0 && git_commit_parentcount(c) > 0) {
        git_oid_cpy(ret, git_commit_parent_id(c, 0));
        ok = true;
    }
    git_commit_free(c);
    return ok;
}

int ex_github_changed_files(const char *repo_dir, const json_t *github, json_t **ret,
                            struct gr_diag *reterr)
{
    git_repository *repo = NULL;
    git_tree *old_tree = NULL, *new_tree = NULL;
    git_diff *diff = NULL;
    git_oid head, old;
    json_t *arr = NULL;
    const json_t *ev = json_object_get(github, "event");

    *ret = NULL;
    git_libgit2_init();
    if (open_repo(repo_dir ? repo_dir : ".", &repo) < 0)
        goto out;
    if (!resolve(repo, jstr(ev, "after"), &head) && !resolve(repo, "HEAD", &head))
        goto out;
    new_tree = tree_of(repo, &head);
    if (old_side(repo, github, &head, &old))
        old_tree = tree_of(repo, &old);
    if (!new_tree || git_diff_tree_to_tree(&diff, repo, old_tree, new_tree, NULL) < 0)
        goto out;
    arr = json_array();
    if (git_diff_foreach(diff, add_path_cb, NULL, NULL, NULL, arr) < 0) {
        json_decref(arr);
        arr = NULL;
        (void)gr_diag_set(reterr, GR_EGIT, repo_dir, 0, 0, "cannot list changed files");
    }
    *ret = arr;
out:
    git_diff_free(diff);
    git_tree_free(old_tree);
    git_tree_free(new_tree);
    git_repository_free(repo);
    git_libgit2_shutdown();
    return 0;
}
