/*
 * The local dependency cache: a content-addressed store of tar + zstd archives with an index.
 *
 * DESIGN. The index (index.json) is the only thing that makes an entry visible. Every change
 * takes the store's lock (flock on `lock`, exclusive), re-reads the index, changes it and writes
 * it back atomically (temp file, fsync, rename). Archives are written to tmp/ first and renamed
 * to blobs/<sha256> before the index names them, so a process that dies leaves at worst an
 * unused temp file or blob, never a visible half entry. Archives are not fsynced: after a power
 * loss a blob may be short, but every blob is checked against its SHA-256 before use, so that
 * shows up as a miss, and fsync would double the cost of a save on a busy disk. Temp file names
 * carry their writer (pid and start time, store_tmp.h) and the writer flocks them, so opening the
 * store, every save, prune and clear remove what a killed writer left in tmp/ and never a live
 * writer's file. Two savers of one (scope, key, version): whoever commits first wins,
 * the other gets -EEXIST and its archive is dropped. Eviction is least recently used by
 * accessed_ms; blobs shared by several entries (same bytes) are counted and removed once.
 */
#include "ex.h"
#include "cache_internal.h"
#include "store_tmp.h"

#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define INDEX_MAX (256u * 1024 * 1024)
#define IO_CHUNK (1u << 20)
#define ZSTD_LEVEL "3"

struct idx {
    struct ex_cache_entry *v;
    size_t n, cap;
    uint64_t next_id;
};

/* ---- small helpers -------------------------------------------------------- */

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void hex(const unsigned char *md, size_t n, char *out)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[md[i] >> 4];
        out[2 * i + 1] = digits[md[i] & 15];
    }
    out[2 * n] = '\0';
}

static void md_final_hex(EVP_MD_CTX *md, char out[EX_CACHE_HEX_LEN])
{
    unsigned char buf[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    EVP_DigestFinal_ex(md, buf, &len);
    hex(buf, len, out);
}

static EVP_MD_CTX *md_new(void)
{
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    if (!md)
        abort();
    EVP_DigestInit_ex(md, EVP_sha256(), NULL);
    return md;
}

/*
 * Read a whole file, hashing it (SHA-256, hex into sha) and, when dst >= 0,
 * copying it to dst; ret_size receives its length. sha and ret_size are
 * written only on success.
 */
static int copy_hashing(const char *src, int dst, char sha[EX_CACHE_HEX_LEN], uint64_t *ret_size)
{
    EVP_MD_CTX *md = md_new();
    char *buf = gr_xmalloc(IO_CHUNK);
    uint64_t size = 0;
    int fd, r = 0;

    fd = open(src, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        r = -errno;
        goto out;
    }
    for (;;) {
        ssize_t n = read(fd, buf, IO_CHUNK);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            r = n < 0 ? -errno : 0;
            break;
        }
        if (dst >= 0) {
            r = gr_write_all(dst, buf, (size_t)n);
            if (r < 0)
                break;
        }
        EVP_DigestUpdate(md, buf, (size_t)n);
        size += (uint64_t)n;
    }
    if (r == 0) {
        md_final_hex(md, sha);
        *ret_size = size;
    }
out:
    if (fd >= 0)
        close(fd);
    free(buf);
    EVP_MD_CTX_free(md);
    return r;
}

/* Hash a whole file; ret_size receives its length. */
static int hash_file(const char *path, char out[EX_CACHE_HEX_LEN], uint64_t *ret_size)
{
    return copy_hashing(path, -1, out, ret_size);
}

void ex_cache_version(const char *const *paths, size_t npaths, const char *compression,
                      bool windows_only, char ret[EX_CACHE_HEX_LEN])
{
    EVP_MD_CTX *md = md_new();

    for (size_t i = 0; i < npaths; i++) {
        EVP_DigestUpdate(md, paths[i], strlen(paths[i]));
        EVP_DigestUpdate(md, "|", 1);
    }
    if (compression) {
        EVP_DigestUpdate(md, compression, strlen(compression));
        EVP_DigestUpdate(md, "|", 1);
    }
    if (windows_only)
        EVP_DigestUpdate(md, "windows-only|", 13);
    EVP_DigestUpdate(md, "1.0", 3);
    md_final_hex(md, ret);
    EVP_MD_CTX_free(md);
}

/* ---- entries and the index ----------------------------------------------- */

void ex_cache_entry_release(struct ex_cache_entry *e)
{
    if (!e)
        return;
    free(e->scope);
    free(e->key);
    free(e->version);
    memset(e, 0, sizeof(*e));
}

void ex_cache_entries_free(struct ex_cache_entry *v, size_t n)
{
    for (size_t i = 0; v && i < n; i++)
        ex_cache_entry_release(&v[i]);
    free(v);
}

static void entry_copy(struct ex_cache_entry *dst, const struct ex_cache_entry *src)
{
    *dst = *src;
    dst->scope = gr_xstrdup(src->scope);
    dst->key = gr_xstrdup(src->key);
    dst->version = gr_xstrdup(src->version);
}

static void idx_release(struct idx *x)
{
    ex_cache_entries_free(x->v, x->n);
    memset(x, 0, sizeof(*x));
}

static struct ex_cache_entry *idx_push(struct idx *x)
{
    GR_GROW(x->v, x->cap, x->n + 1);
    memset(&x->v[x->n], 0, sizeof(x->v[0]));
    return &x->v[x->n++];
}

static void idx_drop(struct idx *x, size_t i)
{
    ex_cache_entry_release(&x->v[i]);
    memmove(&x->v[i], &x->v[i + 1], (x->n - i - 1) * sizeof(x->v[0]));
    x->n--;
}

static bool is_hex64(const char *s)
{
    size_t i = 0;
    for (; s[i]; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return false;
    return i == 64;
}

static int entry_from_json(json_t *o, struct ex_cache_entry *e)
{
    const char *scope = json_string_value(json_object_get(o, "scope"));
    const char *key = json_string_value(json_object_get(o, "key"));
    const char *version = json_string_value(json_object_get(o, "version"));
    const char *sha = json_string_value(json_object_get(o, "sha256"));

    if (!scope || !key || !version || !sha || !is_hex64(sha))
        return GR_EPARSE;
    e->scope = gr_xstrdup(scope);
    e->key = gr_xstrdup(key);
    e->version = gr_xstrdup(version);
    memcpy(e->sha256, sha, EX_CACHE_HEX_LEN);
    e->size = (uint64_t)json_integer_value(json_object_get(o, "size"));
    e->created_ms = json_integer_value(json_object_get(o, "created_ms"));
    e->accessed_ms = json_integer_value(json_object_get(o, "accessed_ms"));
    e->id = (uint64_t)json_integer_value(json_object_get(o, "id"));
    return 0;
}

static int idx_load(struct ex_cache *c, struct idx *x, struct gr_diag *reterr)
{
    json_error_t jerr;
    json_t *root = NULL, *arr, *item;
    char *text = NULL;
    size_t len, i;
    int r;

    memset(x, 0, sizeof(*x));
    x->next_id = 1;
    r = gr_file_read(c->index_path, INDEX_MAX, &text, &len);
    if (r == -ENOENT)
        return 0;
    if (r < 0)
        return gr_diag_set(reterr, r, c->index_path, 0, 0, "cannot read the cache index");
    root = json_loadb(text, len, 0, &jerr);
    arr = json_object_get(root, "entries");
    if (!root || !json_is_array(arr)) {
        r = gr_diag_set(reterr, GR_EPARSE, c->index_path, jerr.line, jerr.column,
                        "cache index is not valid: %s", root ? "no entries" : jerr.text);
        goto out;
    }
    x->next_id = (uint64_t)json_integer_value(json_object_get(root, "next_id"));
    json_array_foreach(arr, i, item)
    {
        struct ex_cache_entry *e = idx_push(x);
        r = entry_from_json(item, e);
        if (r < 0) {
            x->n--;
            r = gr_diag_set(reterr, r, c->index_path, 0, 0, "cache index entry %zu is invalid", i);
            goto out;
        }
        if (e->id >= x->next_id)
            x->next_id = e->id + 1;
    }
out:
    if (r < 0)
        idx_release(x);
    json_decref(root);
    free(text);
    return r;
}

static int idx_store(struct ex_cache *c, const struct idx *x)
{
    json_t *root = json_object(), *arr = json_array();
    char *text;
    int r;

    for (size_t i = 0; i < x->n; i++) {
        const struct ex_cache_entry *e = &x->v[i];
        json_array_append_new(arr, json_pack("{s:s,s:s,s:s,s:s,s:I,s:I,s:I,s:I}", "scope", e->scope,
                                             "key", e->key, "version", e->version, "sha256",
                                             e->sha256, "size", (json_int_t)e->size, "created_ms",
                                             (json_int_t)e->created_ms, "accessed_ms",
                                             (json_int_t)e->accessed_ms, "id", (json_int_t)e->id));
    }
    json_object_set_new(root, "version", json_integer(1));
    json_object_set_new(root, "next_id", json_integer((json_int_t)x->next_id));
    json_object_set_new(root, "entries", arr);
    text = json_dumps(root, JSON_COMPACT);
    json_decref(root);
    if (!text)
        abort();
    r = gr_file_write_atomic(c->index_path, text, strlen(text), 0644);
    free(text);
    return r;
}

/* flock the store; returns the lock fd (close it to unlock) or -errno. */
static int store_lock(struct ex_cache *c, int op)
{
    int fd = open(c->lock_path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0)
        return -errno;
    while (flock(fd, op) < 0) {
        if (errno != EINTR) {
            int r = -errno;
            close(fd);
            return r;
        }
    }
    return fd;
}

static void store_unlock(int fd)
{
    if (fd >= 0)
        close(fd);
}

/* ---- open / free ---------------------------------------------------------- */

int ex_cache_open(const char *dir, uint64_t max_size, struct ex_cache **ret, struct gr_diag *reterr)
{
    struct ex_cache *c = gr_xcalloc(1, sizeof(*c));
    int r;

    c->dir = gr_xstrdup(dir);
    c->index_path = gr_path_join(dir, "index.json");
    c->lock_path = gr_path_join(dir, "lock");
    c->blobs = gr_path_join(dir, "blobs");
    c->tmp = gr_path_join(dir, "tmp");
    c->max_size = max_size ? max_size : EX_CACHE_DEFAULT_MAX_SIZE;
    r = gr_mkdir_p(c->blobs, 0755);
    if (r == 0)
        r = gr_mkdir_p(c->tmp, 0755);
    if (r < 0) {
        r = gr_diag_set(reterr, r, dir, 0, 0, "cannot create the cache directory: %s",
                        gr_strerror(r));
        ex_cache_free(c);
        return r;
    }
    (void)ex__store_tmp_sweep(c->tmp);
    *ret = c;
    return 0;
}

void ex_cache_free(struct ex_cache *c)
{
    if (!c)
        return;
    free(c->dir);
    free(c->index_path);
    free(c->lock_path);
    free(c->blobs);
    free(c->tmp);
    free(c);
}

const char *ex_cache_dir(const struct ex_cache *c)
{
    return c->dir;
}

char *ex_cache_store_dir(const char *dir, const char *home_default)
{
    const char *env = getenv("GHRUN_CACHE_DIR");
    const char *home = getenv("HOME");

    if (dir && *dir)
        return gr_xstrdup(dir);
    if (env && *env)
        return gr_xstrdup(env);
    if (!home || !*home)
        home = home_default;
    return home ? gr_xasprintf("%s/.cache/ghrun/cache", home) : NULL;
}

char *ex_cache_blob_path(const struct ex_cache *c, const struct ex_cache_entry *e)
{
    return gr_path_join(c->blobs, e->sha256);
}

/* ---- lookup --------------------------------------------------------------- */

static bool newer(const struct ex_cache_entry *a, const struct ex_cache_entry *b)
{
    return a->created_ms > b->created_ms || (a->created_ms == b->created_ms && a->id > b->id);
}

/* GitHub's order: for each key, an exact match, else the newest prefix match. */
static ssize_t match(const struct idx *x, const char *scope, const char *const *keys, size_t nkeys,
                     const char *version)
{
    for (size_t k = 0; k < nkeys; k++) {
        ssize_t best = -1;
        size_t klen = strlen(keys[k]);
        for (size_t i = 0; i < x->n; i++) {
            const struct ex_cache_entry *e = &x->v[i];
            if (strcmp(e->scope, scope) || strcmp(e->version, version))
                continue;
            if (!strcmp(e->key, keys[k]))
                return (ssize_t)i;
            if (strncmp(e->key, keys[k], klen) == 0 && (best < 0 || newer(e, &x->v[best])))
                best = (ssize_t)i;
        }
        if (best >= 0)
            return best;
    }
    return -1;
}

int ex_cache_lookup(struct ex_cache *c, const char *scope, const char *const *keys, size_t nkeys,
                    const char *version, struct ex_cache_entry *ret, struct gr_diag *reterr)
{
    struct idx x;
    ssize_t i;
    int lock, r;

    lock = store_lock(c, LOCK_EX);
    if (lock < 0)
        return gr_diag_set(reterr, lock, c->lock_path, 0, 0, "cannot lock the cache");
    r = idx_load(c, &x, reterr);
    if (r < 0)
        goto out;
    i = match(&x, scope, keys, nkeys, version);
    if (i < 0) {
        r = GR_ENOTFOUND;
        goto out;
    }
    x.v[i].accessed_ms = now_ms();
    /* The access time only steers eviction: a failure to record it is not a failed lookup. */
    (void)idx_store(c, &x);
    entry_copy(ret, &x.v[i]);
out:
    idx_release(&x);
    store_unlock(lock);
    return r;
}

int ex_cache_find(struct ex_cache *c, const char *scope, const char *key, const char *version,
                  struct ex_cache_entry *ret)
{
    struct idx x;
    int lock, r;

    lock = store_lock(c, LOCK_SH);
    if (lock < 0)
        return lock;
    r = idx_load(c, &x, NULL);
    if (r < 0)
        goto out;
    r = GR_ENOTFOUND;
    for (size_t i = 0; i < x.n; i++) {
        if (!strcmp(x.v[i].scope, scope) && !strcmp(x.v[i].key, key) &&
            !strcmp(x.v[i].version, version)) {
            entry_copy(ret, &x.v[i]);
            r = 0;
            break;
        }
    }
out:
    idx_release(&x);
    store_unlock(lock);
    return r;
}

int ex_cache_list(struct ex_cache *c, struct ex_cache_entry **ret, size_t *ret_n)
{
    struct idx x;
    int lock, r;

    lock = store_lock(c, LOCK_SH);
    if (lock < 0)
        return lock;
    r = idx_load(c, &x, NULL);
    store_unlock(lock);
    if (r < 0)
        return r;
    for (size_t i = 1; i < x.n; i++) {
        for (size_t j = i; j > 0 && newer(&x.v[j - 1], &x.v[j]); j--) {
            struct ex_cache_entry t = x.v[j];
            x.v[j] = x.v[j - 1];
            x.v[j - 1] = t;
        }
    }
    *ret = x.v;
    *ret_n = x.n;
    return 0;
}

/* ---- commit, eviction ----------------------------------------------------- */

static bool sha_used(const struct idx *x, const char *sha)
{
    for (size_t i = 0; i < x->n; i++)
        if (!strcmp(x->v[i].sha256, sha))
            return true;
    return false;
}

static uint64_t idx_total(const struct idx *x)
{
    uint64_t total = 0;
    for (size_t i = 0; i < x->n; i++) {
        bool seen = false;
        for (size_t j = 0; j < i && !seen; j++)
            seen = !strcmp(x->v[j].sha256, x->v[i].sha256);
        if (!seen)
            total += x->v[i].size;
    }
    return total;
}

/*
 * Drop least recently used entries (never the one with id `keep`) until the total is at most
 * max. The removed entries' SHA-256s go to dead (owned) for blob deletion after the index
 * is written.
 */
static size_t evict(struct idx *x, uint64_t max, uint64_t keep, struct idx *dead)
{
    size_t removed = 0;

    while (x->n && idx_total(x) > max) {
        ssize_t lru = -1;
        for (size_t i = 0; i < x->n; i++) {
            if (x->v[i].id == keep)
                continue;
            if (lru < 0 || x->v[i].accessed_ms < x->v[lru].accessed_ms)
                lru = (ssize_t)i;
        }
        if (lru < 0)
            break;
        entry_copy(idx_push(dead), &x->v[lru]);
        idx_drop(x, (size_t)lru);
        removed++;
    }
    return removed;
}

static void unlink_dead_blobs(struct ex_cache *c, const struct idx *x, const struct idx *dead)
{
    for (size_t i = 0; i < dead->n; i++) {
        if (sha_used(x, dead->v[i].sha256))
            continue;
        char *p = ex_cache_blob_path(c, &dead->v[i]);
        (void)unlink(p);
        free(p);
    }
}

static int commit_blob(struct ex_cache *c, const char *scope, const char *key, const char *version,
                       const char *tmp_path, const char *sha, uint64_t size,
                       struct ex_cache_entry *ret, struct gr_diag *reterr)
{
    struct idx x, dead = {0};
    struct ex_cache_entry probe = {.sha256 = ""}, *e;
    char *blob = NULL;
    bool shared;
    int lock, r;

    memcpy(probe.sha256, sha, EX_CACHE_HEX_LEN);
    lock = store_lock(c, LOCK_EX);
    if (lock < 0)
        return gr_diag_set(reterr, lock, c->lock_path, 0, 0, "cannot lock the cache");
    r = idx_load(c, &x, reterr);
    if (r < 0)
        goto out;
    for (size_t i = 0; i < x.n; i++) {
        if (!strcmp(x.v[i].scope, scope) && !strcmp(x.v[i].key, key) &&
            !strcmp(x.v[i].version, version)) {
            r = gr_diag_set(reterr, -EEXIST, NULL, 0, 0,
                            "cache entry '%s' exists already; another job saved it first", key);
            goto out;
        }
    }
    if (size > c->max_size) {
        r = gr_diag_set(reterr, -EFBIG, NULL, 0, 0,
                        "archive of %llu bytes is larger than the cache limit of %llu bytes",
                        (unsigned long long)size, (unsigned long long)c->max_size);
        goto out;
    }
    blob = ex_cache_blob_path(c, &probe);
    shared = sha_used(&x, sha);
    if (rename(tmp_path, blob) < 0) {
        r = gr_diag_set(reterr, -errno, blob, 0, 0, "cannot store the archive: %s",
                        strerror(errno));
        goto out;
    }
    e = idx_push(&x);
    e->scope = gr_xstrdup(scope);
    e->key = gr_xstrdup(key);
    e->version = gr_xstrdup(version);
    memcpy(e->sha256, sha, EX_CACHE_HEX_LEN);
    e->size = size;
    e->created_ms = e->accessed_ms = now_ms();
    e->id = x.next_id++;
    if (ret)
        entry_copy(ret, e);
    evict(&x, c->max_size, e->id, &dead);
    r = idx_store(c, &x);
    if (r < 0) {
        if (!shared)
            (void)unlink(blob);
        if (ret)
            ex_cache_entry_release(ret);
        r = gr_diag_set(reterr, r, c->index_path, 0, 0, "cannot write the cache index");
        goto out;
    }
    unlink_dead_blobs(c, &x, &dead);
out:
    if (r < 0)
        (void)unlink(tmp_path);
    free(blob);
    idx_release(&x);
    idx_release(&dead);
    store_unlock(lock);
    return r;
}

int ex_cache_tmpfile(struct ex_cache *c, char **ret_path, int *ret_fd)
{
    /* Named after this process and flocked: sweeps leave it alone while either holds. */
    return ex__store_tmp_create(c->tmp, "part", ret_path, ret_fd);
}

/* ---- saving a tree -------------------------------------------------------- */

struct wsink {
    int fd;
    EVP_MD_CTX *md;
    uint64_t size;
    int err;
};

static la_ssize_t sink_write(struct archive *a, void *p, const void *buf, size_t len)
{
    struct wsink *s = p;
    int r = gr_write_all(s->fd, buf, len);

    if (r < 0) {
        s->err = r;
        archive_set_error(a, -r, "write: %s", strerror(-r));
        return -1;
    }
    EVP_DigestUpdate(s->md, buf, len);
    s->size += len;
    return (la_ssize_t)len;
}

static bool rel_path_ok(const char *p)
{
    const char *name = ex__cache_member_name(p);
    return name && *name;
}

#define WALK_MAX_DEPTH 256

static int walk(struct archive *out, int atfd, const char *name, const char *rel, char *buf,
                int depth, struct gr_diag *reterr);

/* Copy a regular file's bytes (at most its recorded size) into the archive. */
static int add_file_data(struct archive *out, int atfd, const char *name, const char *rel,
                         int64_t size, char *buf, struct gr_diag *reterr)
{
    int fd = openat(atfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    int64_t done = 0;
    int r = 0;

    if (fd < 0)
        return gr_diag_set(reterr, -errno, rel, 0, 0, "cannot open: %s", strerror(errno));
    while (done < size) {
        ssize_t n = read(fd, buf, IO_CHUNK);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            r = gr_diag_set(reterr, -errno, rel, 0, 0, "cannot read: %s", strerror(errno));
            break;
        }
        if (n == 0)
            break; /* shrank while we read: libarchive pads the member */
        if (archive_write_data(out, buf, (size_t)n) < 0) {
            r = gr_diag_set(reterr, GR_EARCHIVE, rel, 0, 0, "cannot archive: %s",
                            archive_error_string(out));
            break;
        }
        done += n;
    }
    close(fd);
    return r;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Archive a directory's children, sorted so that archives of equal trees are equal. */
static int walk_dir(struct archive *out, int atfd, const char *name, const char *rel, char *buf,
                    int depth, struct gr_diag *reterr)
{
    int fd = openat(atfd, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
    char **v = NULL;
    size_t n = 0, cap = 0;
    struct dirent *de;
    DIR *d;
    int r = 0;

    if (fd < 0)
        return gr_diag_set(reterr, -errno, rel, 0, 0, "cannot open: %s", strerror(errno));
    d = fdopendir(fd);
    if (!d) {
        close(fd);
        return gr_diag_set(reterr, -errno, rel, 0, 0, "cannot list: %s", strerror(errno));
    }
    while ((de = readdir(d)) != NULL) {
        if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
            continue;
        GR_GROW(v, cap, n + 1);
        v[n++] = gr_xstrdup(de->d_name);
    }
    if (n)
        qsort(v, n, sizeof(*v), cmp_str);
    for (size_t i = 0; i < n; i++) {
        char *child = gr_xasprintf("%s/%s", rel, v[i]);
        if (r == 0)
            r = walk(out, dirfd(d), v[i], child, buf, depth + 1, reterr);
        free(child);
        free(v[i]);
    }
    free(v);
    closedir(d);
    return r;
}

/*
 * Archive dirfd/name as member rel, and below it for a directory. Our own walk with
 * openat/fstatat and O_NOFOLLOW instead of archive_read_disk, which fchdir()s: this runs on
 * the thread pool, where changing the process's working directory would hit other threads.
 * Symbolic links are stored as links; sockets, fifos and devices are left out.
 */
static int walk(struct archive *out, int atfd, const char *name, const char *rel, char *buf,
                int depth, struct gr_diag *reterr)
{
    struct archive_entry *ent;
    struct stat st;
    char target[4096];
    int r = 0;

    if (depth > WALK_MAX_DEPTH)
        return gr_diag_set(reterr, -ELOOP, rel, 0, 0, "directories nest too deeply");
    if (fstatat(atfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
        return gr_diag_set(reterr, -errno, rel, 0, 0, "cannot read: %s", strerror(errno));
    if (!S_ISREG(st.st_mode) && !S_ISDIR(st.st_mode) && !S_ISLNK(st.st_mode))
        return 0;
    ent = archive_entry_new();
    archive_entry_copy_stat(ent, &st);
    archive_entry_set_pathname(ent, rel);
    if (S_ISLNK(st.st_mode)) {
        ssize_t n = readlinkat(atfd, name, target, sizeof(target) - 1);
        if (n < 0) {
            r = gr_diag_set(reterr, -errno, rel, 0, 0, "cannot read link: %s", strerror(errno));
            goto out;
        }
        target[n] = '\0';
        archive_entry_set_symlink(ent, target);
        archive_entry_set_size(ent, 0);
    } else if (S_ISDIR(st.st_mode)) {
        archive_entry_set_size(ent, 0);
    }
    if (archive_write_header(out, ent) != ARCHIVE_OK) {
        r = gr_diag_set(reterr, GR_EARCHIVE, rel, 0, 0, "cannot archive: %s",
                        archive_error_string(out));
        goto out;
    }
    if (S_ISREG(st.st_mode) && st.st_size > 0)
        r = add_file_data(out, atfd, name, rel, st.st_size, buf, reterr);
    else if (S_ISDIR(st.st_mode))
        r = walk_dir(out, atfd, name, rel, buf, depth, reterr);
out:
    archive_entry_free(ent);
    return r;
}

static bool under_any(const char *path, const char *const *roots, size_t nroots);

/* The place of the normalized absolute path full below alias->real when it lies at or below
 * alias->named (owned), else NULL. */
static char *alias_map(const struct ex_cache_alias *alias, const char *full)
{
    size_t n = alias ? strlen(alias->named) : 0;

    if (!alias || strncmp(full, alias->named, n) != 0 || (full[n] != '/' && full[n] != '\0'))
        return NULL;
    return gr_xasprintf("%s%s", alias->real, full + n);
}

/* Archive base/path (or the absolute path from, when not NULL) as member path and below. */
static int add_path(struct archive *out, const char *base, const char *path, const char *from,
                    char *buf, struct gr_diag *reterr)
{
    int fd = open(base, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    const char *rel = ex__cache_outside_name(path);
    char *name;
    int r;

    if (fd < 0)
        return gr_diag_set(reterr, -errno, base, 0, 0, "cannot open: %s", strerror(errno));
    /* Trailing slashes would end up in member names. */
    name = gr_xstrdup(rel);
    for (size_t len = strlen(name); len > 1 && name[len - 1] == '/'; len--)
        name[len - 1] = '\0';
    r = walk(out, from ? AT_FDCWD : fd, from ? from : name, name, buf, 0, reterr);
    free(name);
    close(fd);
    return r;
}

static struct archive *writer_new(struct wsink *sink, bool gzip)
{
    struct archive *a = archive_write_new();
    char threads[24];
    long n = sysconf(_SC_NPROCESSORS_ONLN);

    (void)snprintf(threads, sizeof(threads), "%ld", n > 1 ? n : 1);
    if (gzip) {
        archive_write_add_filter_gzip(a);
    } else {
        archive_write_add_filter_zstd(a);
        /* Multi-threaded compression where libarchive/libzstd support it; harmless otherwise. */
        (void)archive_write_set_filter_option(a, "zstd", "threads", threads);
        (void)archive_write_set_filter_option(a, "zstd", "compression-level", ZSTD_LEVEL);
    }
    archive_write_set_format_pax_restricted(a);
    archive_write_set_bytes_in_last_block(a, 1);
    if (archive_write_open2(a, sink, NULL, sink_write, NULL, NULL) != ARCHIVE_OK) {
        archive_write_free(a);
        return NULL;
    }
    return a;
}

static int write_tree(int fd, const char *base_dir, const char *const *paths, size_t npaths,
                      bool gzip, const char *const *from, char sha[EX_CACHE_HEX_LEN],
                      uint64_t *ret_size, struct gr_diag *reterr)
{
    struct wsink sink = {.fd = fd, .md = md_new()};
    struct archive *a = writer_new(&sink, gzip);
    char *buf = gr_xmalloc(IO_CHUNK);
    int r = 0;

    if (!a) {
        r = gr_diag_set(reterr, GR_EARCHIVE, NULL, 0, 0, "cannot start a zstd archive");
        goto out;
    }
    for (size_t i = 0; i < npaths && r == 0; i++)
        r = add_path(a, base_dir, paths[i], from ? from[i] : NULL, buf, reterr);
    if (archive_write_close(a) != ARCHIVE_OK && r == 0)
        r = gr_diag_set(reterr, sink.err ? sink.err : GR_EARCHIVE, NULL, 0, 0,
                        "cannot finish the archive: %s", archive_error_string(a));
    if (r == 0) {
        md_final_hex(sink.md, sha);
        *ret_size = sink.size;
    }
out:
    if (a)
        archive_write_free(a);
    free(buf);
    EVP_MD_CTX_free(sink.md);
    return r;
}

static int save_paths(struct ex_cache *c, const char *scope, const char *key, const char *version,
                      const char *base_dir, const char *const *paths, size_t npaths, bool gzip,
                      const char *const *from, struct ex_cache_entry *ret, struct gr_diag *reterr)
{
    char sha[EX_CACHE_HEX_LEN], *tmp = NULL;
    uint64_t size = 0;
    int fd = -1, r;

    (void)ex__store_tmp_sweep(c->tmp);
    r = ex_cache_tmpfile(c, &tmp, &fd);
    if (r < 0)
        return gr_diag_set(reterr, r, c->tmp, 0, 0, "cannot create a temporary file");
    r = write_tree(fd, base_dir, paths, npaths, gzip, from, sha, &size, reterr);
    if (r < 0) {
        (void)unlink(tmp);
        goto out;
    }
    r = commit_blob(c, scope, key, version, tmp, sha, size, ret, reterr);
out:
    close(fd);
    free(tmp);
    return r;
}

int ex_cache_save_tree(struct ex_cache *c, const char *scope, const char *key, const char *version,
                       const char *base_dir, const char *const *paths, size_t npaths,
                       struct ex_cache_entry *ret, struct gr_diag *reterr)
{
    for (size_t i = 0; i < npaths; i++)
        if (!rel_path_ok(paths[i]))
            return gr_diag_set(reterr, -EINVAL, paths[i], 0, 0,
                               "cache paths must be relative and must not contain '..'");
    return save_paths(c, scope, key, version, base_dir, paths, npaths, false, NULL, ret, reterr);
}

int ex_cache_save_members(struct ex_cache *c, const char *scope, const char *key,
                          const char *version, const char *base_dir, const char *const *members,
                          size_t n, bool gzip, struct ex_cache_entry *ret, struct gr_diag *reterr)
{
    return ex_cache_save_members_from(c, scope, key, version, base_dir, members, NULL, n, gzip, ret,
                                      reterr);
}

int ex_cache_save_members_from(struct ex_cache *c, const char *scope, const char *key,
                               const char *version, const char *base_dir,
                               const char *const *members, const char *const *from, size_t n,
                               bool gzip, struct ex_cache_entry *ret, struct gr_diag *reterr)
{
    for (size_t i = 0; i < n; i++) {
        const char *m = ex__cache_outside_name(members[i]);

        if (!m || !*m)
            return gr_diag_set(reterr, -EINVAL, members[i], 0, 0,
                               "cache member names must be relative, with '..' only at the start");
    }
    return save_paths(c, scope, key, version, base_dir, members, n, gzip, from, ret, reterr);
}

/* ---- saving a file -------------------------------------------------------- */

static int save_by_move(struct ex_cache *c, const char *scope, const char *key, const char *version,
                        const char *src, struct ex_cache_entry *ret, struct gr_diag *reterr)
{
    char sha[EX_CACHE_HEX_LEN], *tmp = NULL;
    uint64_t size = 0;
    int fd = -1, r;

    /* A unique name in tmp/ (it names this process), then the source over it: the source may
     * be a caller's file. */
    r = ex__store_tmp_create(c->tmp, "move", &tmp, &fd);
    if (r < 0)
        goto out;
    close(fd);
    if (rename(src, tmp) < 0) {
        r = -errno;
        (void)unlink(tmp);
        goto out;
    }
    r = hash_file(tmp, sha, &size);
    if (r < 0) {
        (void)unlink(tmp);
        r = gr_diag_set(reterr, r, src, 0, 0, "cannot read the archive");
        goto out;
    }
    r = commit_blob(c, scope, key, version, tmp, sha, size, ret, reterr);
out:
    free(tmp);
    return r;
}

int ex_cache_save_file(struct ex_cache *c, const char *scope, const char *key, const char *version,
                       const char *src, bool move, struct ex_cache_entry *ret,
                       struct gr_diag *reterr)
{
    char sha[EX_CACHE_HEX_LEN], *tmp = NULL;
    uint64_t size = 0;
    int fd = -1, r;

    (void)ex__store_tmp_sweep(c->tmp);
    if (move) {
        r = save_by_move(c, scope, key, version, src, ret, reterr);
        if (r != -EXDEV)
            return r;
    }
    r = ex_cache_tmpfile(c, &tmp, &fd);
    if (r < 0)
        return gr_diag_set(reterr, r, c->tmp, 0, 0, "cannot create a temporary file");
    r = copy_hashing(src, fd, sha, &size);
    if (r < 0) {
        (void)unlink(tmp);
        r = gr_diag_set(reterr, r, src, 0, 0, "cannot copy the archive: %s", gr_strerror(r));
        goto out;
    }
    r = commit_blob(c, scope, key, version, tmp, sha, size, ret, reterr);
    if (r == 0 && move)
        (void)unlink(src);
out:
    close(fd);
    free(tmp);
    return r;
}

/* ---- verify and restore --------------------------------------------------- */

int ex_cache_verify(struct ex_cache *c, const struct ex_cache_entry *e, struct gr_diag *reterr)
{
    char sha[EX_CACHE_HEX_LEN], *path = ex_cache_blob_path(c, e);
    uint64_t size = 0;
    int r;

    r = hash_file(path, sha, &size);
    if (r < 0)
        r = gr_diag_set(reterr, GR_EARCHIVE, path, 0, 0, "cache archive of '%s' unreadable: %s",
                        e->key, gr_strerror(r));
    else if (size != e->size || strcmp(sha, e->sha256) != 0)
        r = gr_diag_set(reterr, GR_EARCHIVE, path, 0, 0,
                        "cache archive of '%s' is corrupt (sha256 %s, want %s)", e->key, sha,
                        e->sha256);
    free(path);
    return r;
}

/* name without its leading "./" (and "././", ".//"). */
static const char *skip_dot_slash(const char *name)
{
    while (name[0] == '.' && name[1] == '/') {
        name += 2;
        while (*name == '/')
            name++;
    }
    return name;
}

const char *ex__cache_member_name(const char *name)
{
    const char *p;

    if (!name || name[0] == '/')
        return NULL;
    name = skip_dot_slash(name);
    for (p = name; *p;) {
        size_t len = strcspn(p, "/");
        if (len == 2 && p[0] == '.' && p[1] == '.')
            return NULL;
        p += len;
        while (*p == '/')
            p++;
    }
    return name;
}

const char *ex__cache_outside_name(const char *name)
{
    const char *p;

    if (!name || name[0] == '/')
        return NULL;
    name = skip_dot_slash(name);
    for (p = name; p[0] == '.' && p[1] == '.' && (p[2] == '/' || !p[2]);) {
        p += 2;
        while (*p == '/')
            p++;
    }
    return ex__cache_member_name(p) ? name : NULL;
}

char *ex__cache_norm_path(const char *base, const char *rel)
{
    char *joined = rel[0] == '/' ? gr_xstrdup(rel) : gr_xasprintf("%s/%s", base, rel);
    char *out = gr_xmalloc(strlen(joined) + 2);
    size_t len = 0;

    for (const char *p = joined; *p;) {
        size_t seg = strcspn(p, "/");

        if (seg == 2 && p[0] == '.' && p[1] == '.') {
            while (len > 0 && out[len - 1] != '/')
                len--;
            if (len > 0)
                len--;
        } else if (seg && !(seg == 1 && p[0] == '.')) {
            out[len++] = '/';
            memcpy(out + len, p, seg);
            len += seg;
        }
        p += seg;
        while (*p == '/')
            p++;
    }
    if (len == 0)
        out[len++] = '/';
    out[len] = '\0';
    free(joined);
    return out;
}

/* Whether the normalized absolute path lies at or below root (also normalized). */
static bool under_root(const char *path, const char *root)
{
    size_t n = strlen(root);

    if (n == 1 && root[0] == '/')
        return true;
    return strncmp(path, root, n) == 0 && (path[n] == '/' || path[n] == '\0');
}

static bool under_any(const char *path, const char *const *roots, size_t nroots)
{
    for (size_t i = 0; i < nroots; i++)
        if (under_root(path, roots[i]))
            return true;
    return false;
}

bool ex__cache_link_inside(const char *name, const char *target)
{
    const char *slash = strrchr(name, '/');
    long depth = 0;
    const char *p;

    if (target[0] == '/')
        return false;
    /* Depth of the directory holding the link. */
    for (p = name; slash && p < slash;) {
        size_t len = strcspn(p, "/");
        if (len && !(len == 1 && p[0] == '.'))
            depth++;
        p += len;
        while (p < slash && *p == '/')
            p++;
    }
    for (p = target; *p;) {
        size_t len = strcspn(p, "/");
        if (len == 2 && p[0] == '.' && p[1] == '.')
            depth--;
        else if (len && !(len == 1 && p[0] == '.'))
            depth++;
        if (depth < 0)
            return false;
        p += len;
        while (*p == '/')
            p++;
    }
    return true;
}

/*
 * A member that leaves dest through leading "../" (what @actions/cache writes for paths
 * outside the workspace): allowed only when it, and a link's target, land under one of roots.
 */
static int place_outside(struct archive_entry *ent, const char *dest, const char *raw,
                         const char *const *roots, size_t nroots,
                         const struct ex_cache_alias *alias, struct gr_diag *reterr)
{
    const char *hl = archive_entry_hardlink(ent);
    const char *sl = archive_entry_symlink(ent);
    char *full = ex__cache_norm_path(dest, raw), *dir = NULL, *t = NULL;
    char *real = alias_map(alias, full);
    int r = 0;

    if (real && under_any(real, roots, nroots)) {
        free(full);
        full = real;
    } else {
        free(real);
    }

    if (!under_any(full, roots, nroots)) {
        r = gr_diag_set(reterr, GR_EARCHIVE, NULL, 0, 0,
                        "refusing archive member '%s': outside the workspace and the cached "
                        "paths",
                        raw);
        goto out;
    }
    if (sl) {
        dir = gr_xstrndup(full, (size_t)(strrchr(full, '/') - full));
        t = ex__cache_norm_path(*dir ? dir : "/", sl);
        if (sl[0] == '/' || !under_any(t, roots, nroots))
            r = gr_diag_set(reterr, GR_EARCHIVE, NULL, 0, 0,
                            "refusing symbolic link '%s' -> '%s': it points outside the cached "
                            "paths",
                            raw, sl);
    } else if (hl) {
        t = ex__cache_outside_name(hl) ? ex__cache_norm_path(dest, hl) : NULL;
        real = t ? alias_map(alias, t) : NULL;
        if (real && under_any(real, roots, nroots)) {
            free(t);
            t = real;
        } else {
            free(real);
        }
        if (!t || !under_any(t, roots, nroots))
            r = gr_diag_set(reterr, GR_EARCHIVE, NULL, 0, 0,
                            "refusing hard link '%s' -> '%s': outside the cached paths", raw, hl);
        else
            archive_entry_set_hardlink(ent, t);
    }
    if (r == 0)
        archive_entry_set_pathname(ent, full);
out:
    free(full);
    free(dir);
    free(t);
    return r;
}

/*
 * Check one member. 0: it goes below dest as *ret_rel (a hard link to *ret_hl, else NULL), both
 * borrowed from ent; 1: it leaves dest through leading "../" (place_outside decides); or an
 * error.
 */
static int check_entry(struct archive_entry *ent, size_t nroots, const char **ret_rel,
                       const char **ret_hl, struct gr_diag *reterr)
{
    const char *raw = archive_entry_pathname(ent);
    const char *name = ex__cache_member_name(raw);
    const char *hl = archive_entry_hardlink(ent);
    const char *sl = archive_entry_symlink(ent);
    const char *hname = NULL;

    if ((!name || !*name) && nroots > 0 && raw && ex__cache_outside_name(raw))
        return 1;
    if (!name || !*name)
        return gr_diag_set(reterr, GR_EARCHIVE, NULL, 0, 0,
                           "refusing archive member '%s': absolute or outside the destination",
                           raw ? raw : "");
    if (sl && !ex__cache_link_inside(name, sl))
        return gr_diag_set(reterr, GR_EARCHIVE, NULL, 0, 0,
                           "refusing symbolic link '%s' -> '%s': it points outside the "
                           "destination",
                           name, sl);
    if (hl) {
        hname = ex__cache_member_name(hl);
        if (!hname || !*hname)
            return gr_diag_set(reterr, GR_EARCHIVE, NULL, 0, 0,
                               "refusing hard link '%s' -> '%s': outside the destination", name,
                               hl);
    }
    *ret_rel = name;
    *ret_hl = hname;
    return 0;
}

/* Point a checked member (rel, hard link target hl) at its place below dest. */
static void place_below(struct archive_entry *ent, const char *dest, const char *rel,
                        const char *hl)
{
    char *full = gr_path_join(dest, rel), *hfull = hl ? gr_path_join(dest, hl) : NULL;

    if (hfull)
        archive_entry_set_hardlink(ent, hfull);
    archive_entry_set_pathname(ent, full);
    free(full);
    free(hfull);
}

static int copy_data(struct archive *in, struct archive *out, const char *name, uint64_t *total,
                     uint64_t max, struct gr_diag *reterr)
{
    const void *buf;
    size_t len;
    la_int64_t off;

    for (;;) {
        int st = archive_read_data_block(in, &buf, &len, &off);
        if (st == ARCHIVE_EOF)
            return 0;
        if (st != ARCHIVE_OK)
            return gr_diag_set(reterr, GR_EARCHIVE, name, 0, 0, "cannot read archive: %s",
                               archive_error_string(in));
        if (total && (*total += len) > max)
            return gr_diag_set(reterr, -E2BIG, NULL, 0, 0,
                               "refusing the archive: more than %llu bytes when extracted",
                               (unsigned long long)max);
        if (archive_write_data_block(out, buf, len, off) != ARCHIVE_OK)
            return gr_diag_set(reterr, GR_EARCHIVE, name, 0, 0, "cannot extract: %s",
                               archive_error_string(out));
    }
}

int ex__cache_disk_write(struct archive *in, struct archive *out, struct archive_entry *ent,
                         uint64_t *total, uint64_t max, struct gr_diag *reterr)
{
    const char *name = archive_entry_pathname(ent);
    int r = 0;

    if (archive_write_header(out, ent) != ARCHIVE_OK)
        return gr_diag_set(reterr, GR_EARCHIVE, name, 0, 0, "cannot extract: %s",
                           archive_error_string(out));
    if (archive_entry_size(ent) > 0)
        r = copy_data(in, out, name, total, max, reterr);
    if (r == 0 && archive_write_finish_entry(out) != ARCHIVE_OK)
        r = gr_diag_set(reterr, GR_EARCHIVE, name, 0, 0, "cannot extract: %s",
                        archive_error_string(out));
    return r;
}

/*
 * One member: below dest through the descriptor-based writer (cache_extract.c); members outside
 * dest (toolkit archives) and special files through libarchive's disk writer.
 */
static int extract_entry(struct archive *in, struct archive *out, struct ex__cache_xw *w,
                         struct archive_entry *ent, const char *dest, const char *const *roots,
                         size_t nroots, const struct ex_cache_alias *alias, struct gr_diag *reterr)
{
    const char *rel = NULL, *hl = NULL;
    char *relc, *hlc;
    int r = check_entry(ent, nroots, &rel, &hl, reterr);

    if (r == 1) {
        r = place_outside(ent, dest, archive_entry_pathname(ent), roots, nroots, alias, reterr);
        return r < 0 ? r : ex__cache_disk_write(in, out, ent, NULL, 0, reterr);
    }
    if (r < 0)
        return r;
    r = ex__cache_xw_entry(w, in, ent, rel, hl, reterr);
    if (r != 1)
        return r;
    relc = gr_xstrdup(rel);
    hlc = hl ? gr_xstrdup(hl) : NULL;
    place_below(ent, dest, relc, hlc);
    free(relc);
    free(hlc);
    return ex__cache_disk_write(in, out, ent, NULL, 0, reterr);
}

static int extract(const char *blob, const char *dest, const char *const *roots, size_t nroots,
                   const struct ex_cache_alias *alias, struct gr_diag *reterr)
{
    struct archive *in = archive_read_new(), *out = archive_write_disk_new();
    struct ex__cache_xw *w = NULL;
    struct archive_entry *ent;
    int r, st = ARCHIVE_EOF;

    archive_read_support_filter_zstd(in);
    archive_read_support_filter_gzip(in);
    archive_read_support_format_tar(in);
    archive_write_disk_set_options(out, ARCHIVE_EXTRACT_TIME | ARCHIVE_EXTRACT_PERM |
                                            ARCHIVE_EXTRACT_SECURE_SYMLINKS |
                                            ARCHIVE_EXTRACT_SECURE_NODOTDOT);
    r = ex__cache_xw_new(dest, &w, reterr);
    if (r < 0)
        goto out;
    if (archive_read_open_filename(in, blob, IO_CHUNK) != ARCHIVE_OK) {
        r = gr_diag_set(reterr, GR_EARCHIVE, blob, 0, 0, "cannot open archive: %s",
                        archive_error_string(in));
        goto out;
    }
    while (r == 0 && (st = archive_read_next_header(in, &ent)) == ARCHIVE_OK)
        r = extract_entry(in, out, w, ent, dest, roots, nroots, alias, reterr);
    if (r == 0 && st != ARCHIVE_EOF)
        r = gr_diag_set(reterr, GR_EARCHIVE, blob, 0, 0, "cannot read archive: %s",
                        archive_error_string(in));
    if (r == 0)
        r = ex__cache_xw_finish(w, reterr);
out:
    if (archive_write_close(out) != ARCHIVE_OK && r == 0)
        r = gr_diag_set(reterr, GR_EARCHIVE, dest, 0, 0, "cannot finish extraction: %s",
                        archive_error_string(out));
    archive_write_free(out);
    archive_read_free(in);
    ex__cache_xw_free(w);
    return r;
}

int ex_cache_restore_members(struct ex_cache *c, const struct ex_cache_entry *e,
                             const char *dest_dir, const char *const *roots, size_t nroots,
                             struct gr_diag *reterr)
{
    return ex_cache_restore_members_alias(c, e, dest_dir, roots, nroots, NULL, reterr);
}

int ex_cache_restore_members_alias(struct ex_cache *c, const struct ex_cache_entry *e,
                                   const char *dest_dir, const char *const *roots, size_t nroots,
                                   const struct ex_cache_alias *alias, struct gr_diag *reterr)
{
    char *blob = NULL;
    int r;

    r = ex_cache_verify(c, e, reterr);
    if (r < 0)
        return r;
    r = gr_mkdir_p(dest_dir, 0755);
    if (r < 0)
        return gr_diag_set(reterr, r, dest_dir, 0, 0, "cannot create the destination");
    blob = ex_cache_blob_path(c, e);
    r = extract(blob, dest_dir, roots, nroots, alias, reterr);
    free(blob);
    return r;
}

int ex_cache_restore_tree(struct ex_cache *c, const struct ex_cache_entry *e, const char *dest_dir,
                          struct gr_diag *reterr)
{
    return ex_cache_restore_members(c, e, dest_dir, NULL, 0, reterr);
}

/* ---- management ----------------------------------------------------------- */

int ex_cache_remove(struct ex_cache *c, uint64_t id)
{
    struct idx x, dead = {0};
    int lock, r;

    lock = store_lock(c, LOCK_EX);
    if (lock < 0)
        return lock;
    r = idx_load(c, &x, NULL);
    if (r < 0)
        goto out;
    r = GR_ENOTFOUND;
    for (size_t i = 0; i < x.n; i++) {
        if (x.v[i].id != id)
            continue;
        entry_copy(idx_push(&dead), &x.v[i]);
        idx_drop(&x, i);
        r = idx_store(c, &x);
        if (r == 0)
            unlink_dead_blobs(c, &x, &dead);
        break;
    }
out:
    idx_release(&x);
    idx_release(&dead);
    store_unlock(lock);
    return r;
}

/*
 * Delete blobs nobody names, temp files of writers that are gone, and index temp files (only
 * written under the lock, so any left is a killed writer's). Called under the exclusive lock.
 */
static void sweep(struct ex_cache *c, const struct idx *x)
{
    DIR *d = opendir(c->blobs);
    struct dirent *de;

    while (d && (de = readdir(d)) != NULL) {
        if (de->d_name[0] == '.')
            continue;
        if (!is_hex64(de->d_name) || !sha_used(x, de->d_name))
            (void)unlinkat(dirfd(d), de->d_name, 0);
    }
    if (d)
        closedir(d);
    (void)ex__store_tmp_sweep(c->tmp);
    (void)ex__store_tmp_sweep_atomic(c->dir, "index.json");
}

int ex_cache_prune(struct ex_cache *c, uint64_t max_size, size_t *ret_removed)
{
    struct idx x, dead = {0};
    size_t removed;
    int lock, r;

    lock = store_lock(c, LOCK_EX);
    if (lock < 0)
        return lock;
    r = idx_load(c, &x, NULL);
    if (r < 0)
        goto out;
    removed = evict(&x, max_size ? max_size : c->max_size, 0, &dead);
    if (removed)
        r = idx_store(c, &x);
    if (r < 0)
        goto out;
    sweep(c, &x);
    if (ret_removed)
        *ret_removed = removed;
out:
    idx_release(&x);
    idx_release(&dead);
    store_unlock(lock);
    return r;
}

int ex_cache_clear(struct ex_cache *c)
{
    struct idx x = {.next_id = 1};
    int lock, r;

    lock = store_lock(c, LOCK_EX);
    if (lock < 0)
        return lock;
    r = idx_load(c, &x, NULL);
    if (r == 0) {
        uint64_t next = x.next_id;
        idx_release(&x);
        x.next_id = next;
        r = idx_store(c, &x);
    }
    if (r == 0)
        sweep(c, &x);
    idx_release(&x);
    store_unlock(lock);
    return r;
}
