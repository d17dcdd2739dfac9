/*
 * Native actions/upload-artifact@v4 and actions/download-artifact@v4 over the run's artifact
 * store (ex/artifact.h), the same store the embedded artifact service serves, so what one
 * uploads the other (and @actions/artifact in a script) downloads.
 *
 * upload-artifact (actions/upload-artifact src/upload/upload-artifact.ts, src/shared/search.ts):
 * - `path` lines are @actions/glob patterns with implicit descendants: relative ones start at
 *   the workspace, `~` is the home directory, `*`, `?`, `[...]` and `**` match, a later
 *   `!pattern` removes what earlier ones matched, and files or directories whose name starts
 *   with '.' are skipped unless `include-hidden-files` is true. Only files are archived.
 * - The root of the archive is the search path of the single pattern (its literal prefix), or
 *   the least common ancestor of several search paths; a single file named without a wildcard
 *   is archived without its directories.
 * - `if-no-files-found`: warn (default), error or ignore; `retention-days`;
 *   `compression-level` 0 (stored) to 9; `overwrite` replaces an artifact of the same name
 *   (else uploading a name twice fails as GitHub's CreateArtifact does).
 * - outputs `artifact-id`, `artifact-url` (server/repo/actions/runs/ID/artifacts/AID) and
 *   `artifact-digest` (the zip's SHA-256).
 *
 * download-artifact (actions/download-artifact src/download-artifact.ts): by `name` into `path`
 * (the workspace by default); otherwise every artifact of the run whose name matches
 * `pattern` (a glob), each into path/<name>, or all into path with `merge-multiple`. Output
 * `download-path`. Extraction refuses absolute names, `..` components, links and anything
 * that is not a file or a directory, and never writes through a symbolic link.
 *
 * In jobs from GitHub (ex_run_opts.artifact_remote) the archives live in GitHub's results
 * service instead of the local store: the same zip is handed to the remote's upload (after its
 * remove, for overwrite), and downloads list the run's artifacts there and fetch each into a
 * temporary file under the state directory before extracting it as in replay. The remote gets
 * ACTIONS_RESULTS_URL and ACTIONS_RUNTIME_TOKEN of the step's environment, as the toolkit reads
 * them (ex/artifact_remote.h).
 *
 * The zip work (and the remote's transfers) runs on libuv's thread pool; log lines are
 * collected there and printed, and the step finished, on the loop.
 */
#include "action_internal.h"
#include "persist_internal.h"
#include "ex/persist.h"
#include "ex/artifact.h"
#include "ex/artifact_remote.h"

#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#define WALK_DEPTH 64
#define COPY_CHUNK (256 * 1024)

ex__native_fn ex__upload_artifact_run, ex__download_artifact_run;

struct art_job {
    uv_work_t req;
    struct ex__stepexec *se;
    bool upload;
    char *store, *ws, *home, *name;
    /* the home is the job's private one and steps run as a slot: downloads there go to it */
    bool own;
    uid_t own_uid;
    gid_t own_gid;
    /* online: the remote service, the step's endpoint and token, where temporary zips go */
    const struct ex_artifact_remote *remote;
    char *url, *token, *tmpdir;
    /* upload */
    json_t *patterns;
    bool hidden, overwrite;
    int retention, level;
    char if_none[8];  /* warn, error, ignore */
    char *path_input; /* as written, for the no-files message */
    /* download */
    char *pattern, *dest;
    bool merge;
    /* results */
    int r;
    char err[1024];
    json_t *log;      /* info lines, printed on the loop */
    json_t *warnings; /* warning annotations, made on the loop */
    bool none_found;
    size_t nfiles;
    struct ex_artifact art;
};

/* ---- inputs (loop) ------------------------------------------------------ */

/* Non-empty trimmed lines of an input. */
static json_t *input_lines(const json_t *with, const char *name)
{
    const char *s = ex__native_input(with, name);
    json_t *out = json_array();

    while (*s) {
        size_t len = strcspn(s, "\n");
        const char *b = s, *e = s + len;

        while (b < e && strchr(" \t\r", *b))
            b++;
        while (e > b && strchr(" \t\r", e[-1]))
            e--;
        if (e > b) {
            char *line = gr_xstrndup(b, (size_t)(e - b));
            json_array_append_new(out, json_string(line));
            free(line);
        }
        s += len + (s[len] == '\n');
    }
    return out;
}

static const char *gh(struct ex__stepexec *se, const char *key)
{
    const char *v =
        json_string_value(json_object_get(json_object_get(se->leg->ctx, "github"), key));
    return v ? v : "";
}

/* A variable of the step's environment: its env context, else the run's step_env. */
static const char *step_env(struct ex__stepexec *se, const char *key)
{
    const char *v = json_string_value(json_object_get(se->env, key));
    size_t n = strlen(key);

    if (v)
        return v;
    for (const char *const *e = se->leg->run->opts->step_env; e && *e; e++)
        if (!strncmp(*e, key, n) && (*e)[n] == '=')
            return *e + n + 1;
    return NULL;
}

static char *store_dir(struct ex__stepexec *se)
{
    const struct ex_run_opts *o = se->leg->run->opts;

    if (o->artifact_dir && *o->artifact_dir)
        return gr_xstrdup(o->artifact_dir);
    return gr_xasprintf("%s/artifacts/%s", se->leg->run->state_dir, gh(se, "run_id"));
}

/* ---- paths (thread pool) ------------------------------------------------ */

/* Absolute, with "." and ".." resolved and no empty components. Owned. */
static char *norm_path(const char *ws, const char *home, const char *p)
{
    char *joined, *out, *o;

    if (p[0] == '~' && (p[1] == '/' || !p[1]))
        joined = gr_xasprintf("%s/%s", home, p + 1);
    else
        joined = p[0] == '/' ? gr_xstrdup(p) : gr_xasprintf("%s/%s", ws, p);
    out = gr_xmalloc(strlen(joined) + 2);
    o = out;
    for (const char *s = joined; *s;) {
        size_t n;

        while (*s == '/')
            s++;
        n = strcspn(s, "/");
        if (n == 0 || (n == 1 && s[0] == '.')) {
            s += n;
            continue;
        }
        if (n == 2 && s[0] == '.' && s[1] == '.') {
            while (o > out && *--o != '/')
                ;
            s += n;
            continue;
        }
        *o++ = '/';
        memcpy(o, s, n);
        o += n;
        s += n;
    }
    if (o == out)
        *o++ = '/';
    *o = '\0';
    free(joined);
    return out;
}

struct gpat {
    bool negate;
    char **segs;
    size_t n;
    char *search; /* the literal prefix: where the search starts */
};

struct resolve {
    struct gpat *pats;
    size_t npats;
    bool hidden;
    json_t *files;  /* absolute paths of matched files */
    json_t *search; /* search paths, ancestors only */
};

static size_t split(const char *abs, char ***ret)
{
    char **v = NULL;
    size_t n = 0, cap = 0;

    for (const char *s = abs + 1; *s;) {
        size_t len = strcspn(s, "/");
        GR_GROW(v, cap, n + 1);
        v[n++] = gr_xstrndup(s, len);
        s += len + (s[len] == '/');
    }
    *ret = v;
    return n;
}

static void gpat_init(struct gpat *g, const char *line, const char *ws, const char *home)
{
    char *abs;
    struct gr_buf b = GR_BUF_INIT(0);
    int r = 0;

    g->negate = line[0] == '!';
    abs = norm_path(ws, home, g->negate ? line + 1 : line);
    g->n = split(abs, &g->segs);
    for (size_t i = 0; i < g->n && !strpbrk(g->segs[i], "*?["); i++)
        r |= gr_buf_addf(&b, "/%s", g->segs[i]);
    if (r == 0 && b.len == 0)
        r = gr_buf_adds(&b, "/");
    g->search = r == 0 ? gr_buf_detach(&b, NULL) : gr_xstrdup("/");
    gr_buf_release(&b);
    free(abs);
}

static void strv_free(char **v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

/* pat[0..np) against path[0..nx), "**" spanning any number of components. */
static bool seg_match(char *const *pat, size_t np, char *const *path, size_t nx)
{
    if (np == 0)
        return nx == 0;
    if (!strcmp(pat[0], "**")) {
        for (size_t k = 0; k <= nx; k++)
            if (seg_match(pat + 1, np - 1, path + k, nx - k))
                return true;
        return false;
    }
    return nx > 0 && fnmatch(pat[0], path[0], 0) == 0 &&
           seg_match(pat + 1, np - 1, path + 1, nx - 1);
}

/* With implicit descendants: the pattern matches the path or one of its ancestors. */
static bool gpat_match(const struct gpat *g, char *const *segs, size_t n)
{
    for (size_t k = n + 1; k-- > 0;)
        if (seg_match(g->segs, g->n, segs, k))
            return true;
    return false;
}

static bool included(const struct resolve *rs, const char *path)
{
    char **segs = NULL;
    size_t n = split(path, &segs);
    bool in = false;

    for (size_t i = 0; i < rs->npats; i++)
        if (rs->pats[i].negate ? in : !in)
            if (gpat_match(&rs->pats[i], segs, n))
                in = !rs->pats[i].negate;
    strv_free(segs, n);
    return in;
}

static void walk(struct resolve *rs, const char *path, int depth)
{
    const char *base = strrchr(path, '/');
    struct stat st;
    char **names;
    size_t n;
    DIR *d;

    if (!rs->hidden && base && base[1] == '.')
        return;
    if (stat(path, &st) < 0)
        return; /* missing, or a broken link (omitBrokenSymbolicLinks) */
    if (!S_ISDIR(st.st_mode)) {
        if (included(rs, path))
            json_array_append_new(rs->files, json_string(path));
        return;
    }
    if (depth >= WALK_DEPTH || !(d = opendir(path)))
        return;
    names = gr_dir_names(d, &n);
    closedir(d);
    for (size_t i = 0; i < n; i++) {
        char *child = gr_xasprintf("%s%s%s", path, strcmp(path, "/") ? "/" : "", names[i]);
        walk(rs, child, depth + 1);
        free(child);
    }
    strv_free(names, n);
}

static bool is_under(const char *path, const char *dir)
{
    size_t n = strlen(dir);

    if (!strcmp(dir, "/"))
        return true;
    return !strncmp(path, dir, n) && (path[n] == '/' || path[n] == '\0');
}

/* getSearchPaths of @actions/glob: positive patterns' search paths without descendants. */
static void search_paths(struct resolve *rs)
{
    for (size_t i = 0; i < rs->npats; i++) {
        const char *sp = rs->pats[i].search;
        bool skip = rs->pats[i].negate;

        for (size_t k = 0; !skip && k < rs->npats; k++) {
            const struct gpat *o = &rs->pats[k];
            if (k != i && !o->negate && strcmp(o->search, sp) && is_under(sp, o->search))
                skip = true;
        }
        for (size_t k = 0; !skip && k < json_array_size(rs->search); k++)
            skip = !strcmp(json_string_value(json_array_get(rs->search, k)), sp);
        if (!skip)
            json_array_append_new(rs->search, json_string(sp));
    }
}

/* getMultiPathLCA of upload-artifact's search.ts. Owned. */
static char *lca(const json_t *paths)
{
    char *out = gr_xstrdup(json_string_value(json_array_get(paths, 0)));

    for (size_t i = 1; i < json_array_size(paths); i++) {
        const char *p = json_string_value(json_array_get(paths, i));
        while (!is_under(p, out)) {
            char *slash = strrchr(out, '/');
            if (slash == out)
                slash[1] = '\0';
            else
                *slash = '\0';
        }
    }
    return out;
}

/* ---- upload (thread pool) ------------------------------------------------ */

static int zip_add(struct archive *a, const char *src, const char *name, char *buf)
{
    struct archive_entry *e = archive_entry_new();
    struct stat st;
    int fd = open(src, O_RDONLY | O_CLOEXEC), r = 0;

    if (fd < 0 || fstat(fd, &st) < 0) {
        r = -errno;
        goto out;
    }
    archive_entry_set_pathname(e, name);
    archive_entry_set_filetype(e, AE_IFREG);
    archive_entry_set_perm(e, st.st_mode & 0777);
    archive_entry_set_size(e, st.st_size);
    archive_entry_set_mtime(e, st.st_mtime, 0);
    if (archive_write_header(a, e) != ARCHIVE_OK) {
        r = GR_EARCHIVE;
        goto out;
    }
    for (;;) {
        ssize_t n = read(fd, buf, COPY_CHUNK);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            r = -errno;
        if (n <= 0)
            break;
        if (archive_write_data(a, buf, (size_t)n) != n) {
            r = GR_EARCHIVE;
            break;
        }
    }
out:
    if (fd >= 0)
        close(fd);
    archive_entry_free(e);
    return r;
}

static int zip_write(struct art_job *j, int fd, const char *root)
{
    struct archive *a = archive_write_new();
    char *buf = gr_xmalloc(COPY_CHUNK), opt[48];
    size_t rootlen = strcmp(root, "/") ? strlen(root) + 1 : 1;
    int r = 0;

    archive_write_set_format_zip(a);
    if (j->level == 0) {
        archive_write_zip_set_compression_store(a);
    } else {
        archive_write_zip_set_compression_deflate(a);
        snprintf(opt, sizeof(opt), "zip:compression-level=%d", j->level);
        (void)archive_write_set_options(a, opt); /* older libarchive: its default level */
    }
    if (archive_write_open_fd(a, fd) != ARCHIVE_OK)
        r = GR_EARCHIVE;
    for (size_t i = 0; r == 0 && i < json_array_size(j->patterns); i++) {
        const char *f = json_string_value(json_array_get(j->patterns, i));
        r = zip_add(a, f, f + rootlen, buf);
        if (r < 0)
            snprintf(j->err, sizeof(j->err), "cannot add '%s' to the artifact: %s", f,
                     r == GR_EARCHIVE ? archive_error_string(a) : gr_strerror(r));
    }
    if (archive_write_close(a) != ARCHIVE_OK && r == 0) {
        r = GR_EARCHIVE;
        snprintf(j->err, sizeof(j->err), "cannot write the zip: %s", archive_error_string(a));
    }
    archive_write_free(a);
    free(buf);
    return r;
}

static void logf_(struct art_job *j, const char *fmt, ...) GR_PRINTF(2, 3);
static void logf_(struct art_job *j, const char *fmt, ...)
{
    char line[1024];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    json_array_append_new(j->log, json_string(line));
}

/* Files and root as search.ts findFilesToUpload computes them; j->patterns becomes the files. */
static char *find_files(struct art_job *j)
{
    struct resolve rs = {.hidden = j->hidden, .files = json_array(), .search = json_array()};
    char *root = NULL;

    rs.npats = json_array_size(j->patterns);
    rs.pats = gr_xcalloc(rs.npats ? rs.npats : 1, sizeof(*rs.pats));
    for (size_t i = 0; i < rs.npats; i++)
        gpat_init(&rs.pats[i], json_string_value(json_array_get(j->patterns, i)), j->ws, j->home);
    search_paths(&rs);
    for (size_t i = 0; i < json_array_size(rs.search); i++)
        walk(&rs, json_string_value(json_array_get(rs.search, i)), 0);
    if (json_array_size(rs.search) > 1) {
        root = lca(rs.search);
        logf_(j,
              "Multiple search paths detected. The least common ancestor %s is the root "
              "directory of the artifact",
              root);
    } else if (json_array_size(rs.search) == 1) {
        const char *sp = json_string_value(json_array_get(rs.search, 0));
        const char *f = json_string_value(json_array_get(rs.files, 0));
        root = gr_xstrdup(sp);
        if (json_array_size(rs.files) == 1 && !strcmp(f, sp))
            *strrchr(root, '/') = '\0';
        if (!*root) {
            free(root);
            root = gr_xstrdup("/");
        }
    }
    json_decref(j->patterns);
    j->patterns = rs.files;
    json_decref(rs.search);
    for (size_t i = 0; i < rs.npats; i++) {
        strv_free(rs.pats[i].segs, rs.pats[i].n);
        free(rs.pats[i].search);
    }
    free(rs.pats);
    return root;
}

/* find_files, and the count the action logs; j->none_found when nothing matched. */
static char *upload_files(struct art_job *j)
{
    char *root = find_files(j);

    j->nfiles = json_array_size(j->patterns);
    if (j->nfiles == 0)
        j->none_found = true;
    else
        logf_(j, "With the provided path, there will be %zu file%s uploaded", j->nfiles,
              j->nfiles == 1 ? "" : "s");
    return root;
}

static void upload_work(struct art_job *j, struct ex_artifact_store *st)
{
    struct ex_artifact_commit_opts o = {
        .size = UINT64_MAX, .retention_days = j->retention, .overwrite = j->overwrite};
    struct gr_diag d = {0};
    char *root = upload_files(j), *tmp = NULL;
    int fd = -1;

    if (j->none_found)
        goto out;
    j->r = ex_artifact_tmpfile(st, &tmp, &fd);
    if (j->r < 0) {
        snprintf(j->err, sizeof(j->err), "cannot create a temporary file: %s", gr_strerror(j->r));
        goto out;
    }
    j->r = zip_write(j, fd, root);
    close(fd);
    if (j->r < 0) {
        (void)unlink(tmp);
        goto out;
    }
    j->r = ex_artifact_commit(st, j->name, tmp, &o, &j->art, &d);
    if (j->r == -EEXIST)
        snprintf(j->err, sizeof(j->err),
                 "Failed to CreateArtifact: an artifact with this name already exists on the "
                 "workflow run (%s); set overwrite: true to replace it",
                 j->name);
    else if (j->r < 0)
        snprintf(j->err, sizeof(j->err), "%s", d.msg);
out:
    free(tmp);
    free(root);
}

/* ---- download (thread pool) ---------------------------------------------- */

/* Whether rel is a safe relative name: no absolute path, no "..", no empty components. */
static bool safe_name(const char *rel)
{
    if (!*rel || rel[0] == '/' || strchr(rel, '\\'))
        return false;
    for (const char *s = rel; *s;) {
        size_t n = strcspn(s, "/");
        if ((n == 2 && s[0] == '.' && s[1] == '.') || (n == 0 && s[0] == '/'))
            return false;
        s += n + (s[n] == '/');
    }
    return true;
}

/* mkdir -p of dest/rel's directories, refusing symbolic links on the way. */
static int make_parents(const char *dest, const char *rel, bool last_too)
{
    char *p = gr_xasprintf("%s/%s", dest, rel);
    size_t off = strlen(dest) + 1;
    int r = 0;

    for (char *s = p + off; r == 0;) {
        char *slash = strchr(s, '/');
        struct stat st;

        if (!slash && !last_too)
            break;
        if (slash)
            *slash = '\0';
        if (lstat(p, &st) == 0)
            r = S_ISDIR(st.st_mode) ? 0 : -ENOTDIR;
        else if (mkdir(p, 0755) < 0 && errno != EEXIST)
            r = -errno;
        if (!slash)
            break;
        *slash = '/';
        s = slash + 1;
    }
    free(p);
    return r;
}

static int extract_file(struct archive *a, const char *path, mode_t mode)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, mode), r = 0;
    const void *buf;
    size_t len;
    la_int64_t off;

    if (fd < 0)
        return -errno;
    for (;;) {
        int ar = archive_read_data_block(a, &buf, &len, &off);
        if (ar == ARCHIVE_EOF)
            break;
        if (ar != ARCHIVE_OK) {
            r = GR_EARCHIVE;
            break;
        }
        if (pwrite(fd, buf, len, (off_t)off) != (ssize_t)len) {
            r = -errno;
            break;
        }
    }
    close(fd);
    return r;
}

static int extract(struct art_job *j, const char *zip, const char *dest)
{
    struct archive *a = archive_read_new();
    struct archive_entry *e;
    int r = gr_mkdir_p(dest, 0755);

    archive_read_support_format_zip(a);
    if (r == 0 && archive_read_open_filename(a, zip, COPY_CHUNK) != ARCHIVE_OK)
        r = GR_EARCHIVE;
    while (r == 0 && archive_read_next_header(a, &e) == ARCHIVE_OK) {
        const char *rel = archive_entry_pathname(e);
        mode_t type = archive_entry_filetype(e);
        char *path;

        if (!rel || !safe_name(rel) || (type != AE_IFREG && type != AE_IFDIR)) {
            snprintf(j->err, sizeof(j->err), "refusing the archive member '%s' of '%s'",
                     rel ? rel : "", zip);
            r = GR_EARCHIVE;
            break;
        }
        r = make_parents(dest, rel, type == AE_IFDIR);
        path = gr_xasprintf("%s/%s", dest, rel);
        if (r == 0 && type == AE_IFREG)
            r = extract_file(a, path, (archive_entry_perm(e) & 0777) | 0600);
        if (r < 0 && !j->err[0])
            snprintf(j->err, sizeof(j->err), "cannot extract '%s': %s", path,
                     r == GR_EARCHIVE ? archive_error_string(a) : gr_strerror(r));
        free(path);
    }
    archive_read_free(a);
    return r;
}

static bool wanted(const struct art_job *j, const struct ex_artifact *a)
{
    int64_t now = (int64_t)(gr_now_ns() / 1000000);

    if (a->expires_ms && a->expires_ms < now)
        return false;
    if (j->name)
        return !strcmp(a->name, j->name);
    return !j->pattern || fnmatch(j->pattern, a->name, 0) == 0;
}

/* Where artifact a goes (owned); says so in the log. */
static char *download_dest(struct art_job *j, const struct ex_artifact *a)
{
    char *dest = j->name || j->merge ? gr_xstrdup(j->dest) : gr_path_join(j->dest, a->name);

    logf_(j, "Downloading artifact '%s' (%llu bytes) to %s", a->name, (unsigned long long)a->size,
          dest);
    return dest;
}

/* After count of the n listed artifacts v (freed here) were downloaded. */
static void downloads_done(struct art_job *j, size_t count, struct ex_artifact *v, size_t n)
{
    if (j->r == 0 && j->name && count == 0) {
        j->r = GR_ENOTFOUND;
        snprintf(j->err, sizeof(j->err),
                 "Unable to download artifact(s): Artifact not found for name: %s", j->name);
    }
    if (j->r == 0)
        logf_(j, "Total of %zu artifact(s) downloaded", count);
    ex_artifacts_free(v, n);
}

static void download_work(struct art_job *j, struct ex_artifact_store *st)
{
    struct ex_artifact *v = NULL;
    size_t n = 0, count = 0;

    j->r = ex_artifact_list(st, &v, &n);
    for (size_t i = 0; j->r == 0 && i < n; i++) {
        char *zip, *dest;

        if (!wanted(j, &v[i]))
            continue;
        count++;
        zip = ex_artifact_path(st, v[i].name);
        dest = download_dest(j, &v[i]);
        j->r = extract(j, zip, dest);
        free(zip);
        free(dest);
    }
    downloads_done(j, count, v, n);
}

/* ---- the remote service (thread pool) ------------------------------------ */

static void remote_log(void *arg, const char *line)
{
    logf_(arg, "%s", line);
}

static struct ex_artifact_call remote_call(struct art_job *j)
{
    return (struct ex_artifact_call){
        .url = j->url, .token = j->token, .log = remote_log, .log_arg = j};
}

/* A new empty file for a zip in j->tmpdir: its path (owned) and fd, or NULL with j->err set. */
static char *remote_tmpfile(struct art_job *j, int *ret_fd)
{
    char *path = gr_xasprintf("%s/artifact-XXXXXX", j->tmpdir);
    int r = gr_mkdir_p(j->tmpdir, 0700);

    *ret_fd = r < 0 ? -1 : mkostemp(path, O_CLOEXEC);
    if (*ret_fd < 0) {
        j->r = r < 0 ? r : -errno;
        snprintf(j->err, sizeof(j->err), "cannot create a temporary file in '%s': %s", j->tmpdir,
                 gr_strerror(j->r));
        free(path);
        return NULL;
    }
    return path;
}

static void remote_upload_work(struct art_job *j)
{
    struct ex_artifact_call c = remote_call(j);
    struct gr_diag d = {0};
    char *root = upload_files(j), *tmp = NULL;
    int fd = -1;

    if (j->none_found)
        goto out;
    tmp = remote_tmpfile(j, &fd);
    if (!tmp)
        goto out;
    j->r = zip_write(j, fd, root);
    close(fd);
    if (j->r == 0 && j->overwrite) {
        j->r = j->remote->remove(j->remote->ctx, &c, j->name, &d);
        if (j->r == 0)
            logf_(j, "Artifact '%s' deleted", j->name);
        else if (j->r == GR_ENOTFOUND)
            j->r = 0; /* nothing to overwrite */
    }
    if (j->r == 0 && !j->err[0])
        j->r = j->remote->upload(j->remote->ctx, &c, j->name, tmp, j->retention, &j->art, &d);
    if (j->r == -EEXIST)
        snprintf(j->err, sizeof(j->err),
                 "Failed to CreateArtifact: an artifact with this name already exists on the "
                 "workflow run (%s); set overwrite: true to replace it",
                 j->name);
    else if (j->r < 0 && !j->err[0])
        snprintf(j->err, sizeof(j->err), "%s", d.msg);
    (void)unlink(tmp);
out:
    free(tmp);
    free(root);
}

/* One listed artifact into dest: fetched to a temporary zip, checked, extracted. */
static int remote_fetch(struct art_job *j, const struct ex_artifact *a, const char *dest)
{
    struct ex_artifact_call c = remote_call(j);
    char got[EX_ARTIFACT_HEX_LEN] = "", *tmp;
    struct gr_diag d = {0};
    int fd, r;

    tmp = remote_tmpfile(j, &fd);
    if (!tmp)
        return j->r;
    close(fd);
    logf_(j, "Starting download of artifact to: %s", dest);
    r = j->remote->download(j->remote->ctx, &c, a->id, tmp, got, &d);
    if (r < 0)
        snprintf(j->err, sizeof(j->err), "Unable to download and extract artifact: %s", d.msg);
    if (r == 0 && a->sha256[0] && strcmp(a->sha256, got))
        json_array_append_new(j->warnings,
                              json_sprintf("Artifact '%s' digest validation failed. Please "
                                           "verify the integrity of the artifact.",
                                           a->name));
    if (r == 0)
        r = extract(j, tmp, dest);
    if (r == 0)
        logf_(j, "Artifact download completed successfully.");
    (void)unlink(tmp);
    free(tmp);
    return r;
}

static void remote_download_work(struct art_job *j)
{
    struct ex_artifact_call c = remote_call(j);
    struct ex_artifact *v = NULL;
    struct gr_diag d = {0};
    size_t n = 0, count = 0;

    j->r = j->remote->list(j->remote->ctx, &c, j->name, &v, &n, &d);
    if (j->r < 0)
        snprintf(j->err, sizeof(j->err), "Unable to download artifact(s): %s", d.msg);
    for (size_t i = 0; j->r == 0 && i < n; i++) {
        char *dest;

        if (!wanted(j, &v[i]))
            continue;
        count++;
        dest = download_dest(j, &v[i]);
        j->r = remote_fetch(j, &v[i], dest);
        free(dest);
    }
    downloads_done(j, count, v, n);
}

static void work_cb(uv_work_t *req)
{
    struct art_job *j = gr_container_of(req, struct art_job, req);
    struct ex_artifact_store *st = NULL;
    struct gr_diag d = {0};

    if (j->remote) {
        if (j->upload)
            remote_upload_work(j);
        else
            remote_download_work(j);
    } else {
        j->r = ex_artifact_open(j->store, &st, &d);
        if (j->r < 0) {
            snprintf(j->err, sizeof(j->err), "artifact store '%s': %s", j->store, d.msg);
            return;
        }
        if (j->upload)
            upload_work(j, st);
        else
            download_work(j, st);
        ex_artifact_free(st);
    }
    /* a download into the job's private home: the workspace goes to the slot after the step
     * (ex__slot_claim), the home here */
    if (!j->upload && j->own && j->dest && gr_startswith(j->dest, j->home))
        (void)gr_chown_tree(j->home, NULL, geteuid(), j->own_uid, j->own_gid);
}

/* ---- results (loop) ------------------------------------------------------ */

static void job_free(struct art_job *j)
{
    free(j->store);
    free(j->ws);
    free(j->home);
    free(j->name);
    free(j->pattern);
    free(j->dest);
    free(j->path_input);
    free(j->url);
    free(j->token);
    free(j->tmpdir);
    json_decref(j->patterns);
    json_decref(j->log);
    json_decref(j->warnings);
    ex_artifact_release(&j->art);
    free(j);
}

static enum ex_result upload_done(struct art_job *j, const char *if_none)
{
    struct ex__stepexec *se = j->se;
    char *msg, *id, *url;

    if (j->none_found) {
        msg = gr_xasprintf("No files were found with the provided path: %s. No artifacts "
                           "will be uploaded.",
                           j->path_input);
        if (!strcasecmp(if_none, "error"))
            ex__leg_annotate(se->leg, se, "error", msg, NULL);
        else if (!strcasecmp(if_none, "ignore"))
            ex__leg_log(se->leg, "%s", msg);
        else
            ex__leg_annotate(se->leg, se, "warning", msg, NULL);
        free(msg);
        return strcasecmp(if_none, "error") ? EX_RESULT_SUCCESS : EX_RESULT_FAILURE;
    }
    if (j->r < 0) {
        ex__leg_annotate(se->leg, se, "error", j->err, NULL);
        return EX_RESULT_FAILURE;
    }
    id = gr_xasprintf("%llu", (unsigned long long)j->art.id);
    url = gr_xasprintf("%s/%s/actions/runs/%s/artifacts/%s", gh(se, "server_url"),
                       gh(se, "repository"), gh(se, "run_id"), id);
    ex__leg_log(se->leg,
                "Artifact %s has been successfully uploaded! Final size is %llu bytes. "
                "Artifact ID is %s",
                j->name, (unsigned long long)j->art.size, id);
    ex__leg_log(se->leg, "Artifact download URL: %s", url);
    json_object_set_new(se->outputs, "artifact-id", json_string(id));
    json_object_set_new(se->outputs, "artifact-url", json_string(url));
    msg = gr_xasprintf("%s", j->art.sha256);
    json_object_set_new(se->outputs, "artifact-digest", json_string(msg));
    free(msg);
    free(id);
    free(url);
    return EX_RESULT_SUCCESS;
}

static void after_cb(uv_work_t *req, int status)
{
    struct art_job *j = gr_container_of(req, struct art_job, req);
    struct ex__stepexec *se = j->se;
    struct ex__leg *leg = se->leg;
    struct ex__frame *frame = se->frame;
    enum ex_result res;
    size_t i;
    json_t *v;

    if (status < 0 && j->r == 0) {
        j->r = -ECANCELED;
        snprintf(j->err, sizeof(j->err), "the artifact work was cancelled");
    }
    json_array_foreach(j->log, i, v) ex__leg_log(leg, "%s", json_string_value(v));
    json_array_foreach(j->warnings, i, v)
        ex__leg_annotate(leg, se, "warning", json_string_value(v), NULL);
    if (j->upload) {
        res = upload_done(j, j->if_none);
    } else if (j->r < 0) {
        ex__leg_annotate(leg, se, "error", j->err[0] ? j->err : gr_strerror(j->r), NULL);
        res = EX_RESULT_FAILURE;
    } else {
        json_object_set_new(se->outputs, "download-path", json_string(j->dest));
        res = EX_RESULT_SUCCESS;
    }
    job_free(j);
    ex__step_finished(se, res);
    ex__step_advance(leg, frame);
}

static struct art_job *job_new(struct ex__stepexec *se, bool upload)
{
    struct art_job *j = gr_xcalloc(1, sizeof(*j));
    /* `~` is the HOME the steps see (the job's private one when sandboxed), not the runner's */
    const char *home = ex__leg_home(se->leg, se->env);

    j->se = se;
    j->upload = upload;
    j->store = store_dir(se);
    j->ws = gr_xstrdup(se->leg->run->workdir);
    j->home = gr_xstrdup(home && *home ? home : "/");
    j->own = ex__leg_home_owner(se->leg, j->home, &j->own_uid, &j->own_gid);
    j->log = json_array();
    j->warnings = json_array();
    j->remote = se->leg->run->opts->artifact_remote;
    if (j->remote) {
        const char *url = step_env(se, "ACTIONS_RESULTS_URL");
        const char *tok = step_env(se, "ACTIONS_RUNTIME_TOKEN");

        j->url = url ? gr_xstrdup(url) : NULL;
        j->token = tok ? gr_xstrdup(tok) : NULL;
        j->tmpdir = gr_xstrdup(se->leg->run->state_dir);
    }
    return j;
}

static int job_start(struct art_job *j)
{
    struct ex__stepexec *se = j->se;
    int r = uv_queue_work(se->leg->run->loop, &j->req, work_cb, after_cb);

    if (r < 0) {
        job_free(j);
        return ex__action_fail(se, "cannot start the artifact work: %s", uv_strerror(r));
    }
    return 0;
}

/* ---- the steps ------------------------------------------------------------ */

static int parse_int(const char *s, int lo, int hi, int def, int *ret)
{
    char *end;
    long v;

    if (!*s) {
        *ret = def;
        return 0;
    }
    v = strtol(s, &end, 10);
    if (*end || v < lo || v > hi)
        return -EINVAL;
    *ret = (int)v;
    return 0;
}

static int upload_start(struct ex__stepexec *se, json_t *with)
{
    const char *name = ex__native_input(with, "name"),
               *if_none = ex__native_input(with, "if-no-files-found");
    struct gr_diag d = {0};
    struct art_job *j;

    if (!*name)
        name = "artifact";
    if (!*if_none)
        if_none = "warn";
    if (strcasecmp(if_none, "warn") && strcasecmp(if_none, "error") &&
        strcasecmp(if_none, "ignore"))
        return ex__action_fail(se,
                               "Unrecognized if-no-files-found input. Provided: %s. "
                               "Available options: warn, error, ignore",
                               if_none);
    if (ex_artifact_name_check(name, &d) < 0)
        return ex__action_fail(se, "%s", d.msg);
    j = job_new(se, true);
    j->name = gr_xstrdup(name);
    j->patterns = input_lines(with, "path");
    j->hidden = ex__native_input_bool(with, "include-hidden-files");
    j->overwrite = ex__native_input_bool(with, "overwrite");
    if (json_array_size(j->patterns) == 0) {
        job_free(j);
        return ex__action_fail(se, "Input required and not supplied: path");
    }
    if (parse_int(ex__native_input(with, "retention-days"), 0, 90, 0, &j->retention) < 0 ||
        parse_int(ex__native_input(with, "compression-level"), 0, 9, 6, &j->level) < 0) {
        job_free(j);
        return ex__action_fail(se, "invalid retention-days (0-90) or compression-level (0-9)");
    }
    j->path_input = gr_xstrdup(ex__native_input(with, "path"));
    snprintf(j->if_none, sizeof(j->if_none), "%s", if_none);
    return job_start(j);
}

int ex__upload_artifact_run(struct ex__stepexec *se, const char *uses)
{
    struct gr_diag d = {0};
    json_t *with = NULL;
    int r;

    (void)uses;
    if (ex__native_with(se, &with, &d) < 0)
        return ex__action_fail(se, "%s", d.msg);
    r = upload_start(se, with);
    json_decref(with);
    return r;
}

int ex__download_artifact_run(struct ex__stepexec *se, const char *uses)
{
    struct gr_diag d = {0};
    json_t *with = NULL;
    struct art_job *j;
    const char *name, *path;
    char *dest;

    (void)uses;
    if (ex__native_with(se, &with, &d) < 0)
        return ex__action_fail(se, "%s", d.msg);
    name = ex__native_input(with, "name");
    path = ex__native_input(with, "path");
    j = job_new(se, false);
    dest = norm_path(j->ws, j->home, *path ? path : ".");
    j->dest = dest;
    j->name = *name ? gr_xstrdup(name) : NULL;
    j->pattern =
        *ex__native_input(with, "pattern") ? gr_xstrdup(ex__native_input(with, "pattern")) : NULL;
    j->merge = ex__native_input_bool(with, "merge-multiple");
    json_decref(with);
    return job_start(j);
}
