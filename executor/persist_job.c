/*
 * The job's side of the persisted dependency directories (ex/persist.h): restore at the start,
 * save at the end, on libuv's thread pool, with one log line per directory. Nothing here fails
 * a job.
 */
#include "persist_internal.h"
#include "engine_internal.h"
#include "ex/persist.h"
#include "sb.h"

#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

struct pdir {
    char *dir;                         /* "~/.cache/pip" */
    struct ex_persist_manifest before; /* after the restore */
    bool have_before;                  /* ... taken */
};

struct ex__persist {
    struct ex__leg *leg;
    uv_work_t req;
    ex__leg_fn cb;
    char *store, *scope, *home;
    char *refs[2]; /* github.ref, then the default branch's ref (may be equal) */
    struct pdir *dirs;
    size_t n;
    bool own; /* restored files go to uid:gid */
    uid_t uid;
    gid_t gid;
    bool busy, saved, restored;
    json_t *lines; /* [level, text] pairs the worker made, logged on the loop */
};

/* ---- HOME ---------------------------------------------------------------- */

const char *ex__leg_home(const struct ex__leg *leg, const json_t *env)
{
    const char *v = json_string_value(json_object_get(env ? env : leg->job_env, "HOME"));
    const char *runner = getenv("HOME");
    const char *priv = sb_job_home(leg->sb);

    /* the sandbox replaces only the runner's own HOME (sandbox/helper.c, stepd.c set_home) */
    if (priv && (!v || !runner || strcmp(v, runner) == 0))
        return priv;
    if (v && *v)
        return v;
    return runner && *runner ? runner : NULL;
}

bool ex__leg_home_owner(const struct ex__leg *leg, const char *home, uid_t *ret_uid, gid_t *ret_gid)
{
    const char *priv = sb_job_home(leg->sb);

    if (!leg->slot || !priv || !home || strcmp(priv, home) != 0)
        return false;
    *ret_uid = leg->slot_uid;
    *ret_gid = leg->slot_gid;
    return true;
}

/* ---- set-up ---------------------------------------------------------------- */

void ex__persist_free(struct ex__persist *p)
{
    if (!p)
        return;
    for (size_t i = 0; i < p->n; i++)
        free(p->dirs[i].dir);
    free(p->dirs);
    free(p->store);
    free(p->scope);
    free(p->home);
    free(p->refs[0]);
    free(p->refs[1]);
    json_decref(p->lines);
    free(p);
}

static void say(struct ex__persist *p, const char *level, const char *fmt, ...) GR_PRINTF(3, 4);
static void say(struct ex__persist *p, const char *level, const char *fmt, ...)
{
    char buf[1024];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    json_array_append_new(p->lines, json_pack("[ss]", level, buf));
}

/* Log what the worker said; warnings as annotations of the job. */
static void flush_lines(struct ex__persist *p)
{
    size_t i;
    json_t *l;

    json_array_foreach(p->lines, i, l)
    {
        const char *level = json_string_value(json_array_get(l, 0));
        const char *text = json_string_value(json_array_get(l, 1));

        if (strcmp(level, "info") == 0)
            ex__leg_log(p->leg, "%s", text);
        else
            ex__leg_annotate(p->leg, NULL, level, text, NULL);
    }
    json_array_clear(p->lines);
}

/* "123 files, 4.5 MB" */
static void counts(const struct ex_persist_manifest *m, char *buf, size_t len)
{
    const char *files = m->files == 1 ? "file" : "files";
    uint64_t n = m->bytes;

    if (n < 1024)
        snprintf(buf, len, "%" PRIu64 " %s, %" PRIu64 " B", m->files, files, n);
    else if (n < 1024 * 1024)
        snprintf(buf, len, "%" PRIu64 " %s, %.1f kB", m->files, files, (double)n / 1024);
    else if (n < 1024ull * 1024 * 1024)
        snprintf(buf, len, "%" PRIu64 " %s, %.1f MB", m->files, files, (double)n / 1048576.0);
    else
        snprintf(buf, len, "%" PRIu64 " %s, %.1f GB", m->files, files, (double)n / 1073741824.0);
}

static double mono_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int64_t now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- restore ---------------------------------------------------------------- */

static void restore_one(struct ex__persist *p, struct ex_cache *c, struct pdir *d)
{
    struct ex_cache_entry e = {0};
    struct gr_diag dg = {0};
    char size[96];
    double t0 = mono_s();
    int r =
        ex_persist_restore(c, p->scope, (const char *const *)p->refs, 2, p->home, d->dir, &e, &dg);

    p->restored |= r == 0;
    if (ex_persist_manifest(p->home, d->dir, &d->before) == 0)
        d->have_before = true;
    counts(&d->before, size, sizeof(size));
    if (r == 0)
        say(p, "info", "persist: restored %s (%s) from %s in %.2f s", d->dir, size, e.key,
            mono_s() - t0);
    else if (r == GR_ENOTFOUND)
        say(p, "info", "persist: %s: nothing saved yet for %s (%s)", d->dir, p->scope, p->refs[0]);
    else if (r == -EEXIST)
        say(p, "info", "persist: %s exists already (%s): kept as it is", d->dir, size);
    else
        say(p, "warning", "persist: cannot restore %s, it starts empty: %s", d->dir,
            dg.msg[0] ? dg.msg : gr_strerror(r));
    ex_cache_entry_release(&e);
}

static void restore_work(uv_work_t *req)
{
    struct ex__persist *p = gr_container_of(req, struct ex__persist, req);
    struct ex_cache *c = NULL;
    struct gr_diag d = {0};

    if (ex_cache_open(p->store, 0, &c, &d) < 0) {
        say(p, "warning", "persist: cache store '%s': %s; nothing restored", p->store, d.msg);
        for (size_t i = 0; i < p->n; i++)
            p->dirs[i].have_before =
                ex_persist_manifest(p->home, p->dirs[i].dir, &p->dirs[i].before) == 0;
        return;
    }
    for (size_t i = 0; i < p->n; i++)
        restore_one(p, c, &p->dirs[i]);
    ex_cache_free(c);
    /* extracted as the runner: to the slot, with the parents the archives made (~/.cache) */
    if (p->restored && p->own && gr_chown_tree(p->home, NULL, geteuid(), p->uid, p->gid) < 0)
        say(p, "warning", "persist: cannot hand the restored files to the job's user");
}

static void restore_after(uv_work_t *req, int status)
{
    struct ex__persist *p = gr_container_of(req, struct ex__persist, req);

    (void)status;
    p->busy = false;
    flush_lines(p);
    p->cb(p->leg);
}

static struct ex__persist *persist_new(struct ex__leg *leg, char **dirs, size_t n, const char *home)
{
    struct ex__persist *p = gr_xcalloc(1, sizeof(*p));
    const json_t *gh = json_object_get(leg->ctx, "github");
    const char *repo = json_string_value(json_object_get(gh, "repository"));
    const char *ref = json_string_value(json_object_get(gh, "ref"));
    const char *def = json_string_value(json_object_get(
        json_object_get(json_object_get(gh, "event"), "repository"), "default_branch"));

    p->leg = leg;
    p->lines = json_array();
    p->store = ex_cache_store_dir(leg->run->opts->cache_dir, "/tmp");
    p->scope = gr_xstrdup(repo && *repo ? repo : "local");
    p->home = gr_xstrdup(home);
    p->refs[0] = gr_xstrdup(ref ? ref : "");
    p->refs[1] = def && *def ? gr_xasprintf("refs/heads/%s", def) : gr_xstrdup(p->refs[0]);
    p->own = ex__leg_home_owner(leg, home, &p->uid, &p->gid);
    p->dirs = gr_xcalloc(n, sizeof(*p->dirs));
    for (size_t i = 0; i < n; i++)
        p->dirs[i].dir = gr_xstrdup(dirs[i]);
    p->n = n;
    return p;
}

void ex__persist_start(struct ex__leg *leg, ex__leg_fn next)
{
    const char *list = leg->run->opts->persist;
    const char *home = ex__leg_home(leg, NULL);
    struct gr_diag d = {0};
    char **dirs = NULL, msg[700];
    size_t n = 0;
    int r;

    if (!list)
        list = getenv("GHRUN_PERSIST");
    if (!list || !*list || leg->persist) {
        next(leg);
        return;
    }
    r = ex_persist_parse(list, &dirs, &n, &d);
    if (r < 0 || !home) {
        gr_diag_format(&d, msg, sizeof(msg));
        ex__leg_annotate(leg, NULL, "warning",
                         r < 0 ? msg : "persist: the job has no HOME: nothing persists", NULL);
    } else if (n) {
        leg->persist = persist_new(leg, dirs, n, home);
    }
    ex_persist_dirs_free(dirs);
    if (!leg->persist) {
        next(leg);
        return;
    }
    leg->persist->cb = next;
    leg->persist->busy = true;
    r = uv_queue_work(leg->run->loop, &leg->persist->req, restore_work, restore_after);
    if (r < 0) {
        leg->persist->busy = false;
        ex__leg_annotate(leg, NULL, "warning", "persist: cannot start the restore", NULL);
        next(leg);
    }
}

/* ---- save ---------------------------------------------------------------- */

static void save_one(struct ex__persist *p, struct ex_cache *c, struct pdir *d)
{
    struct ex_persist_manifest now = {0};
    struct ex_cache_entry e = {0};
    struct gr_diag dg = {0};
    char size[96];
    size_t pruned = 0;
    double t0 = mono_s();
    int r = ex_persist_manifest(p->home, d->dir, &now);

    if (r < 0) {
        say(p, "warning", "persist: cannot read %s: %s; not saved", d->dir, gr_strerror(r));
        return;
    }
    counts(&now, size, sizeof(size));
    if (!now.exists || (now.files == 0 && (!d->have_before || d->before.files == 0))) {
        say(p, "info", "persist: %s is empty: nothing to save", d->dir);
        return;
    }
    if (d->have_before && strcmp(now.digest, d->before.digest) == 0) {
        say(p, "info", "persist: %s unchanged (%s): not saved", d->dir, size);
        return;
    }
    r = ex_persist_save(c, p->scope, p->refs[0], p->home, d->dir, now_ms(), &e, &pruned, &dg);
    if (r < 0) {
        say(p, "warning", "persist: cannot save %s: %s", d->dir,
            dg.msg[0] ? dg.msg : gr_strerror(r));
        return;
    }
    say(p, "info", "persist: saved %s (%s) as %s in %.2f s%s", d->dir, size, e.key, mono_s() - t0,
        pruned ? ", older entry removed" : "");
    ex_cache_entry_release(&e);
}

static void save_work(uv_work_t *req)
{
    struct ex__persist *p = gr_container_of(req, struct ex__persist, req);
    struct ex_cache *c = NULL;
    struct gr_diag d = {0};

    if (ex_cache_open(p->store, 0, &c, &d) < 0) {
        say(p, "warning", "persist: cache store '%s': %s; nothing saved", p->store, d.msg);
        return;
    }
    for (size_t i = 0; i < p->n; i++)
        save_one(p, c, &p->dirs[i]);
    ex_cache_free(c);
}

static void save_after(uv_work_t *req, int status)
{
    struct ex__persist *p = gr_container_of(req, struct ex__persist, req);

    (void)status;
    p->busy = false;
    flush_lines(p);
    p->cb(p->leg);
}

void ex__persist_end(struct ex__leg *leg, ex__leg_fn end)
{
    struct ex__persist *p = leg->persist;

    if (p && p->busy)
        return;
    if (!p || p->saved) {
        end(leg);
        return;
    }
    p->saved = true;
    if (leg->cancelled || leg->timed_out) {
        ex__leg_log(leg, "persist: the job %s: nothing saved",
                    leg->timed_out ? "timed out" : "was cancelled");
        end(leg);
        return;
    }
    /* what the steps left running must not write while the directories are archived */
    for (size_t i = 0; i < leg->n_pgids; i++)
        (void)kill(-leg->pgids[i], SIGKILL);
    if (leg->sb && sb_job_kill(leg->sb, SIGKILL) < 0)
        GR_LOG_DEBUG("persist: cannot kill the job's leftovers");
    p->cb = end;
    p->busy = true;
    if (uv_queue_work(leg->run->loop, &p->req, save_work, save_after) < 0) {
        p->busy = false;
        ex__leg_annotate(leg, NULL, "warning", "persist: cannot start the save", NULL);
        end(leg);
    }
}
