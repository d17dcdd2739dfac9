/*
 * Dependency directories persisted per repository through the cache store (ex/persist.h):
 * the list, the manifest, keys, restore and save. The job's side (when, which HOME, the log)
 * is persist_job.c.
 */
#include "ex/persist.h"
#include "gr.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define PERSIST_DEPTH 128
/* The method part of the version: no actions/cache path set can have it. */
#define PERSIST_METHOD "ghrun-persist-1"

/* ---- the list ---------------------------------------------------------- */

void ex_persist_dirs_free(char **dirs)
{
    for (size_t i = 0; dirs && dirs[i]; i++)
        free(dirs[i]);
    free(dirs);
}

/* "~/a//b/" into "~/a/b"; NULL (and a diag) when it is not a "~/" path or has . or .. */
static char *canon_dir(const char *item, size_t len, struct gr_diag *d)
{
    struct gr_buf b = GR_BUF_INIT(4096);
    char *s = gr_xstrndup(item, len), *save = NULL, *out = NULL;
    int r = 0;

    if (len < 3 || strncmp(s, "~/", 2) != 0) {
        gr_diag_set(d, GR_EPARSE, NULL, 0, 0,
                    "'%s': a persisted directory is a path in the home directory, like "
                    "~/.cache/pip",
                    s);
        goto out;
    }
    r = gr_buf_adds(&b, "~");
    for (char *c = strtok_r(s + 2, "/", &save); c && r == 0; c = strtok_r(NULL, "/", &save)) {
        if (strcmp(c, ".") == 0 || strcmp(c, "..") == 0) {
            gr_diag_set(d, GR_EPARSE, NULL, 0, 0, "'%.*s': '.' and '..' are not allowed", (int)len,
                        item);
            goto out;
        }
        r = gr_buf_addf(&b, "/%s", c);
    }
    if (r == 0 && b.len < 3)
        gr_diag_set(d, GR_EPARSE, NULL, 0, 0, "'%.*s': the whole home directory cannot persist",
                    (int)len, item);
    else if (r == 0)
        out = gr_buf_detach(&b, NULL);
out:
    gr_buf_release(&b);
    free(s);
    return out;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* dir lies inside (or is) outer */
static bool under(const char *dir, const char *outer)
{
    size_t n = strlen(outer);

    return strncmp(dir, outer, n) == 0 && (dir[n] == '/' || dir[n] == '\0');
}

int ex_persist_parse(const char *list, char ***ret_dirs, size_t *ret_n, struct gr_diag *reterr)
{
    char **v = NULL;
    size_t n = 0, cap = 0, kept = 0;
    const char *p = list ? list : "";

    while (*p) {
        size_t len = strcspn(p, ",");
        const char *s = p, *e = p + len;
        char *dir;

        p = *e ? e + 1 : e;
        while (s < e && (*s == ' ' || *s == '\t'))
            s++;
        while (e > s && (e[-1] == ' ' || e[-1] == '\t'))
            e--;
        if (s == e)
            continue;
        dir = canon_dir(s, (size_t)(e - s), reterr);
        if (!dir) {
            for (size_t i = 0; i < n; i++)
                free(v[i]);
            free(v);
            return GR_EPARSE;
        }
        GR_GROW(v, cap, n + 2);
        v[n++] = dir;
    }
    GR_GROW(v, cap, n + 1);
    qsort(v, n, sizeof(*v), cmp_str);
    /* sorted: an outer directory comes before what lies inside it */
    for (size_t i = 0; i < n; i++) {
        if (kept && under(v[i], v[kept - 1]))
            free(v[i]);
        else
            v[kept++] = v[i];
    }
    v[kept] = NULL;
    *ret_dirs = v;
    *ret_n = kept;
    return 0;
}

/* ---- the manifest ------------------------------------------------------ */

struct walk {
    EVP_MD_CTX *md;
    struct ex_persist_manifest *m;
    dev_t dev;
    int err;
};

static void md_add(struct walk *w, const char *s, size_t len)
{
    EVP_DigestUpdate(w->md, s, len);
}

static void entry_line(struct walk *w, int dfd, const char *name, const char *rel,
                       const struct stat *st)
{
    char line[160], target[4096];
    ssize_t tl = 0;
    int n;

    if (S_ISDIR(st->st_mode)) {
        n = snprintf(line, sizeof(line), "\td %o\n", (unsigned)(st->st_mode & 07777));
    } else {
        if (S_ISLNK(st->st_mode)) {
            tl = readlinkat(dfd, name, target, sizeof(target));
            if (tl < 0)
                tl = 0;
        }
        n = snprintf(line, sizeof(line), "\t%c %o %" PRIu64 " %lld.%09ld %zd\n",
                     S_ISREG(st->st_mode)   ? 'f'
                     : S_ISLNK(st->st_mode) ? 'l'
                                            : 'o',
                     (unsigned)(st->st_mode & 07777), (uint64_t)st->st_size,
                     (long long)st->st_mtim.tv_sec, st->st_mtim.tv_nsec, tl);
        w->m->files += S_ISREG(st->st_mode) || S_ISLNK(st->st_mode);
        if (S_ISREG(st->st_mode))
            w->m->bytes += (uint64_t)st->st_size;
    }
    md_add(w, rel, strlen(rel) + 1);
    md_add(w, line, (size_t)n);
    if (tl > 0)
        md_add(w, target, (size_t)tl);
}

static void walk_dir(struct walk *w, int fd, const char *rel, int depth);

static void walk_entry(struct walk *w, int dfd, const char *name, const char *rel, int depth)
{
    struct stat st;
    int fd;

    if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
        if (errno != ENOENT) /* gone while we walk: not there */
            w->err = -errno;
        return;
    }
    entry_line(w, dfd, name, rel, &st);
    if (!S_ISDIR(st.st_mode) || st.st_dev != w->dev || depth >= PERSIST_DEPTH)
        return;
    fd = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) {
        w->err = -errno;
        return;
    }
    walk_dir(w, fd, rel, depth + 1);
}

/* Takes fd. */
static void walk_dir(struct walk *w, int fd, const char *rel, int depth)
{
    DIR *d = fdopendir(fd);
    char **names;
    size_t n;

    if (!d) {
        w->err = -errno;
        close(fd);
        return;
    }
    names = gr_dir_names(d, &n);
    for (size_t i = 0; i < n; i++) {
        char *sub = gr_xasprintf("%s/%s", rel, names[i]);

        walk_entry(w, dirfd(d), names[i], sub, depth);
        free(sub);
        free(names[i]);
    }
    free(names);
    closedir(d);
}

static void md_hex(EVP_MD_CTX *md, char out[EX_CACHE_HEX_LEN])
{
    unsigned char buf[EVP_MAX_MD_SIZE];
    unsigned int len = 0;

    EVP_DigestFinal_ex(md, buf, &len);
    for (unsigned int i = 0; i < len && i < 32; i++)
        snprintf(out + 2 * i, 3, "%02x", buf[i]);
}

int ex_persist_manifest(const char *home, const char *dir, struct ex_persist_manifest *ret)
{
    struct ex_persist_manifest m = {0};
    char *path = gr_path_join(home, dir + 2);
    struct walk w = {.m = &m};
    struct stat st;
    int fd, r = 0;

    fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) {
        r = errno == ENOENT || errno == ENOTDIR || errno == ELOOP ? 0 : -errno;
        goto out;
    }
    if (fstat(fd, &st) < 0) {
        r = -errno;
        close(fd);
        goto out;
    }
    m.exists = true;
    w.dev = st.st_dev;
    w.md = EVP_MD_CTX_new();
    if (!w.md) {
        close(fd);
        r = -ENOMEM;
        goto out;
    }
    EVP_DigestInit_ex(w.md, EVP_sha256(), NULL);
    walk_dir(&w, fd, ".", 0);
    md_hex(w.md, m.digest);
    EVP_MD_CTX_free(w.md);
    r = w.err;
out:
    free(path);
    if (r == 0)
        *ret = m;
    return r;
}

/* ---- keys -------------------------------------------------------------- */

void ex_persist_version(const char *dir, char ret[EX_CACHE_HEX_LEN])
{
    const char *paths[] = {dir};

    ex_cache_version(paths, 1, PERSIST_METHOD, false, ret);
}

char *ex_persist_key_prefix(const char *dir, const char *ref)
{
    return gr_xasprintf(EX_PERSIST_KEY_PREFIX "%s:%s:", dir, ref ? ref : "");
}

char *ex_persist_key(const char *dir, const char *ref, int64_t now_ms, uint32_t nonce)
{
    return gr_xasprintf(EX_PERSIST_KEY_PREFIX "%s:%s:%013" PRId64 "-%08" PRIx32, dir,
                        ref ? ref : "", now_ms, nonce);
}

/* ---- restore and save -------------------------------------------------- */

/* The directory exists with something in it. */
static bool dir_has_files(const char *path)
{
    DIR *d = opendir(path);
    struct dirent *de;
    bool found = false;

    if (!d)
        return false;
    while (!found && (de = readdir(d)) != NULL)
        found = strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0;
    closedir(d);
    return found;
}

int ex_persist_restore(struct ex_cache *c, const char *scope, const char *const *refs, size_t nrefs,
                       const char *home, const char *dir, struct ex_cache_entry *ret,
                       struct gr_diag *reterr)
{
    char version[EX_CACHE_HEX_LEN];
    char **prefixes = gr_xcalloc(nrefs + 1, sizeof(*prefixes));
    char *path = gr_path_join(home, dir + 2);
    struct ex_cache_entry e = {0};
    int r;

    for (size_t i = 0; i < nrefs; i++)
        prefixes[i] = ex_persist_key_prefix(dir, refs[i]);
    if (dir_has_files(path)) {
        r = -EEXIST;
        goto out;
    }
    ex_persist_version(dir, version);
    /* for each ref in order, its newest entry (GitHub's restore-keys order) */
    r = ex_cache_lookup(c, scope, (const char *const *)prefixes, nrefs, version, &e, NULL);
    if (r < 0)
        goto out;
    r = ex_cache_restore_tree(c, &e, home, reterr);
    if (r < 0) {
        /* a broken entry would fail every later job the same way: it goes (not for a full
         * disk or another error of this host) */
        if (r == GR_EARCHIVE && ex_cache_remove(c, e.id) < 0)
            GR_LOG_DEBUG("persist: cannot remove the entry %" PRIu64, e.id);
        if (gr_rm_rf(path) < 0)
            GR_LOG_DEBUG("persist: cannot empty '%s'", path);
        ex_cache_entry_release(&e);
        goto out;
    }
    *ret = e;
out:
    for (size_t i = 0; i < nrefs; i++)
        free(prefixes[i]);
    free(prefixes);
    free(path);
    return r;
}

static uint32_t nonce(void)
{
    uint32_t v = 0;

    if (RAND_bytes((unsigned char *)&v, sizeof(v)) != 1)
        v = (uint32_t)getpid() ^ (uint32_t)(uintptr_t)&v;
    return v;
}

/* Remove the entries of (scope, version, prefix) older than keep. */
static size_t prune_older(struct ex_cache *c, const char *scope, const char *version,
                          const char *prefix, const struct ex_cache_entry *keep)
{
    struct ex_cache_entry *v = NULL;
    size_t n = 0, removed = 0;

    if (ex_cache_list(c, &v, &n) < 0)
        return 0;
    for (size_t i = 0; i < n; i++) {
        const struct ex_cache_entry *e = &v[i];

        if (e->id == keep->id || strcmp(e->scope, scope) != 0 || strcmp(e->version, version) != 0 ||
            !gr_startswith(e->key, prefix) || e->created_ms > keep->created_ms)
            continue;
        removed += ex_cache_remove(c, e->id) == 0;
    }
    ex_cache_entries_free(v, n);
    return removed;
}

int ex_persist_save(struct ex_cache *c, const char *scope, const char *ref, const char *home,
                    const char *dir, int64_t now_ms, struct ex_cache_entry *ret, size_t *ret_pruned,
                    struct gr_diag *reterr)
{
    char version[EX_CACHE_HEX_LEN];
    char *key = ex_persist_key(dir, ref, now_ms, nonce());
    char *prefix = ex_persist_key_prefix(dir, ref);
    char *path = gr_path_join(home, dir + 2);
    const char *paths[] = {dir + 2};
    struct ex_cache_entry e = {0};
    size_t pruned;
    int r;

    if (!gr_path_is_dir(path)) {
        r = gr_diag_set(reterr, GR_ENOTFOUND, NULL, 0, 0, "'%s' is not a directory", path);
        goto out;
    }
    ex_persist_version(dir, version);
    r = ex_cache_save_tree(c, scope, key, version, home, paths, 1, &e, reterr);
    if (r < 0)
        goto out;
    pruned = prune_older(c, scope, version, prefix, &e);
    if (ret_pruned)
        *ret_pruned = pruned;
    if (ret)
        *ret = e;
    else
        ex_cache_entry_release(&e);
out:
    free(key);
    free(prefix);
    free(path);
    return r;
}
