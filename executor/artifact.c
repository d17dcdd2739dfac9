/*
 * The artifact store of a run (see ex/artifact.h for the layout).
 *
 * DESIGN. Visibility is decided by the metadata file alone: a commit renames the finished zip
 * into place first and writes .meta/<name>.json (temp file + rename) last, under the exclusive
 * lock, so a crash leaves either the old artifact or the new one; a zip without metadata is
 * ignored. Readers take the lock shared, so they never see the zip of one commit with the
 * metadata of another. Overwriting removes the old metadata before the new zip is renamed
 * over the old one, so a crash in between leaves the artifact absent, never the old record
 * naming the new bytes.
 *
 * Housekeeping (ex_artifact_prune, run by ex_artifact_open and after a list that met expired
 * artifacts): an artifact past its retention is deleted, metadata first; temp files in .tmp/
 * whose uploader is gone (store_tmp.h) and metadata temp files (only written under the
 * exclusive lock, so any left is a killed writer's) are removed. Expired artifacts that are
 * still on disk are invisible to list and find.
 */
#include "ex/artifact.h"
#include "store_tmp.h"

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

#define META_MAX (64 * 1024)

struct ex_artifact_store {
    char *dir;
    char *meta;                      /* <dir>/.meta */
    char *tmp;                       /* <dir>/.tmp */
    char *lock;                      /* <dir>/.lock */
    struct ex_artifact_prune pruned; /* removed through this handle (ex_artifact_prune) */
};

void ex_artifact_release(struct ex_artifact *a)
{
    if (!a)
        return;
    free(a->name);
    memset(a, 0, sizeof(*a));
}

void ex_artifacts_free(struct ex_artifact *v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        ex_artifact_release(&v[i]);
    free(v);
}

int ex_artifact_name_check(const char *name, struct gr_diag *reterr)
{
    static const char bad[] = "\":<>|*?\\/\r\n";
    size_t len = name ? strlen(name) : 0;

    if (len == 0)
        return gr_diag_set(reterr, -EINVAL, NULL, 0, 0, "the artifact name is empty");
    if (len > EX_ARTIFACT_NAME_MAX)
        return gr_diag_set(reterr, -EINVAL, NULL, 0, 0, "the artifact name is longer than %d bytes",
                           EX_ARTIFACT_NAME_MAX);
    for (const char *p = name; *p; p++) {
        if (*p && strchr(bad, *p))
            return gr_diag_set(reterr, -EINVAL, NULL, 0, 0,
                               "artifact name '%s' contains '%c', which is not allowed", name,
                               *p == '\r' || *p == '\n' ? ' ' : *p);
        if ((unsigned char)*p < 0x20 || *p == 0x7f)
            return gr_diag_set(reterr, -EINVAL, NULL, 0, 0,
                               "the artifact name contains a control character");
    }
    if (!strcmp(name, ".") || !strcmp(name, ".."))
        return gr_diag_set(reterr, -EINVAL, NULL, 0, 0, "'%s' is not a valid artifact name", name);
    return 0;
}

int ex_artifact_open(const char *dir, struct ex_artifact_store **ret, struct gr_diag *reterr)
{
    struct ex_artifact_store *s = gr_xcalloc(1, sizeof(*s));
    int r;

    s->dir = gr_xstrdup(dir);
    s->meta = gr_path_join(dir, ".meta");
    s->tmp = gr_path_join(dir, ".tmp");
    s->lock = gr_path_join(dir, ".lock");
    r = gr_mkdir_p(s->meta, 0755);
    if (r == 0)
        r = gr_mkdir_p(s->tmp, 0700);
    if (r < 0) {
        gr_diag_set(reterr, r, dir, 0, 0, "cannot create the artifact store: %s", gr_strerror(r));
        ex_artifact_free(s);
        return r;
    }
    /* Housekeeping only: a store that cannot be pruned now is still usable. */
    if (ex_artifact_prune(s, 0, NULL) < 0)
        GR_LOG_DEBUG("artifact: cannot prune '%s'", dir);
    *ret = s;
    return 0;
}

void ex_artifact_free(struct ex_artifact_store *s)
{
    if (!s)
        return;
    free(s->dir);
    free(s->meta);
    free(s->tmp);
    free(s->lock);
    free(s);
}

const char *ex_artifact_dir(const struct ex_artifact_store *s)
{
    return s->dir;
}

char *ex_artifact_path(const struct ex_artifact_store *s, const char *name)
{
    return gr_xasprintf("%s/%s.zip", s->dir, name);
}

static char *meta_path(const struct ex_artifact_store *s, const char *name)
{
    return gr_xasprintf("%s/%s.json", s->meta, name);
}

int ex_artifact_tmpfile(struct ex_artifact_store *s, char **ret_path, int *ret_fd)
{
    /* Named after this process and flocked: a sweep leaves it alone while either holds. */
    return ex__store_tmp_create(s->tmp, "up", ret_path, ret_fd);
}

static int64_t clock_ms(void)
{
    return (int64_t)(gr_now_ns() / 1000000);
}

static bool expired(const struct ex_artifact *a, int64_t now)
{
    return a->expires_ms > 0 && a->expires_ms <= now;
}

static int lock_take(const struct ex_artifact_store *s, int how)
{
    int fd = open(s->lock, O_RDWR | O_CREAT | O_CLOEXEC, 0644);

    if (fd < 0)
        return -errno;
    while (flock(fd, how) < 0) {
        if (errno != EINTR) {
            int r = -errno;
            close(fd);
            return r;
        }
    }
    return fd;
}

/* ---- metadata ------------------------------------------------------------- */

static bool is_hex64(const char *s)
{
    return s && strlen(s) == 64 && strspn(s, "0123456789abcdef") == 64;
}

static int meta_read(const struct ex_artifact_store *s, const char *name, struct ex_artifact *ret)
{
    char *path = meta_path(s, name), *text = NULL;
    json_t *o = NULL;
    const char *n, *sha;
    size_t len;
    int r;

    r = gr_file_read(path, META_MAX, &text, &len);
    if (r == -ENOENT)
        r = GR_ENOTFOUND;
    if (r < 0)
        goto out;
    o = json_loadb(text, len, 0, NULL);
    n = json_string_value(json_object_get(o, "name"));
    sha = json_string_value(json_object_get(o, "sha256"));
    if (!n || strcmp(n, name) || !is_hex64(sha) || !json_is_integer(json_object_get(o, "id"))) {
        r = GR_ENOTFOUND; /* a damaged record hides the artifact */
        goto out;
    }
    ret->id = (uint64_t)json_integer_value(json_object_get(o, "id"));
    ret->name = gr_xstrdup(n);
    ret->size = (uint64_t)json_integer_value(json_object_get(o, "size"));
    memcpy(ret->sha256, sha, EX_ARTIFACT_HEX_LEN);
    ret->created_ms = json_integer_value(json_object_get(o, "created_ms"));
    ret->expires_ms = json_integer_value(json_object_get(o, "expires_ms"));
out:
    json_decref(o);
    free(text);
    free(path);
    return r;
}

/* meta_read, but an artifact past its retention is GR_ENOTFOUND. */
static int meta_read_live(const struct ex_artifact_store *s, const char *name,
                          struct ex_artifact *ret)
{
    int r = meta_read(s, name, ret);

    if (r == 0 && expired(ret, clock_ms())) {
        ex_artifact_release(ret);
        r = GR_ENOTFOUND;
    }
    return r;
}

static int meta_write(const struct ex_artifact_store *s, const struct ex_artifact *a)
{
    json_t *o = json_pack("{s:I,s:s,s:I,s:s,s:I,s:I}", "id", (json_int_t)a->id, "name", a->name,
                          "size", (json_int_t)a->size, "sha256", a->sha256, "created_ms",
                          (json_int_t)a->created_ms, "expires_ms", (json_int_t)a->expires_ms);
    char *text = json_dumps(o, JSON_COMPACT), *path = meta_path(s, a->name);
    int r = gr_file_write_atomic(path, text, strlen(text), 0644);

    free(path);
    free(text);
    json_decref(o);
    return r;
}

/* The next id from .next_id (under the exclusive lock). */
static uint64_t next_id(const struct ex_artifact_store *s)
{
    char *path = gr_path_join(s->dir, ".next_id"), *text = NULL, num[24];
    uint64_t id = 1;
    size_t len;

    if (gr_file_read(path, 64, &text, &len) == 0) {
        char *end;
        unsigned long long v = strtoull(text, &end, 10);
        if (v > 0)
            id = v;
    }
    (void)snprintf(num, sizeof(num), "%llu\n", (unsigned long long)(id + 1));
    if (gr_file_write_atomic(path, num, strlen(num), 0644) < 0)
        GR_LOG_DEBUG("artifact: cannot update '%s'", path);
    free(text);
    free(path);
    return id;
}

/* ---- commit --------------------------------------------------------------- */

static int hash_file(const char *path, char out[EX_ARTIFACT_HEX_LEN], uint64_t *ret_size)
{
    static const char digits[] = "0123456789abcdef";
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    unsigned char buf[1 << 16], dig[EVP_MAX_MD_SIZE];
    unsigned int dlen = 0;
    uint64_t size = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC), r = 0;

    if (!md)
        abort();
    EVP_DigestInit_ex(md, EVP_sha256(), NULL);
    if (fd < 0)
        r = -errno;
    while (r == 0) {
        ssize_t n = read(fd, buf, sizeof(buf));
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            r = -errno;
        if (n <= 0)
            break;
        EVP_DigestUpdate(md, buf, (size_t)n);
        size += (uint64_t)n;
    }
    if (fd >= 0)
        close(fd);
    EVP_DigestFinal_ex(md, dig, &dlen);
    EVP_MD_CTX_free(md);
    for (unsigned i = 0; i < 32; i++) {
        out[2 * i] = digits[dig[i] >> 4];
        out[2 * i + 1] = digits[dig[i] & 15];
    }
    out[64] = '\0';
    *ret_size = size;
    return r;
}

static int check_expected(const struct ex_artifact_commit_opts *o, const struct ex_artifact *a,
                          struct gr_diag *reterr)
{
    const char *want = o ? o->sha256 : NULL;

    if (o && o->size != UINT64_MAX && o->size != a->size)
        return gr_diag_set(reterr, -EBADMSG, NULL, 0, 0,
                           "artifact '%s' has %llu bytes, but %llu were announced", a->name,
                           (unsigned long long)a->size, (unsigned long long)o->size);
    if (want && gr_startswith(want, "sha256:"))
        want += strlen("sha256:");
    if (want && *want && strcmp(want, a->sha256))
        return gr_diag_set(reterr, -EBADMSG, NULL, 0, 0,
                           "artifact '%s' does not match its announced SHA-256", a->name);
    return 0;
}

/* Under the exclusive lock: replace or refuse an existing artifact, rename, record. */
static int commit_locked(struct ex_artifact_store *s, const char *tmp_path, bool overwrite,
                         struct ex_artifact *a, struct gr_diag *reterr)
{
    struct ex_artifact old = {0};
    char *zip = ex_artifact_path(s, a->name), *meta = meta_path(s, a->name);
    int r = meta_read_live(s, a->name, &old);

    if (r == 0 && !overwrite) {
        r = gr_diag_set(reterr, -EEXIST, NULL, 0, 0,
                        "an artifact named '%s' already exists in this run", a->name);
        goto out;
    }
    /* From here the old artifact is gone (an expired one too): its record goes first. */
    if (unlink(meta) < 0 && errno != ENOENT) {
        r = gr_diag_set(reterr, -errno, meta, 0, 0, "cannot replace artifact '%s': %s", a->name,
                        strerror(errno));
        goto out;
    }
    a->id = next_id(s);
    /* Temp files are private (0600) while written; a stored artifact is readable like any. */
    if (chmod(tmp_path, 0644) < 0 || rename(tmp_path, zip) < 0) {
        r = gr_diag_set(reterr, -errno, zip, 0, 0, "cannot store the artifact: %s",
                        strerror(errno));
        goto out;
    }
    r = meta_write(s, a);
    if (r < 0) {
        (void)unlink(zip);
        gr_diag_set(reterr, r, NULL, 0, 0, "cannot record artifact '%s': %s", a->name,
                    gr_strerror(r));
    }
out:
    ex_artifact_release(&old);
    free(meta);
    free(zip);
    return r;
}

int ex_artifact_commit(struct ex_artifact_store *s, const char *name, const char *tmp_path,
                       const struct ex_artifact_commit_opts *o, struct ex_artifact *ret,
                       struct gr_diag *reterr)
{
    struct ex_artifact a = {0};
    int lock = -1, r;

    r = ex_artifact_name_check(name, reterr);
    if (r < 0)
        goto out;
    a.name = gr_xstrdup(name);
    r = hash_file(tmp_path, a.sha256, &a.size);
    if (r < 0) {
        gr_diag_set(reterr, r, tmp_path, 0, 0, "cannot read the upload: %s", gr_strerror(r));
        goto out;
    }
    r = check_expected(o, &a, reterr);
    if (r < 0)
        goto out;
    a.created_ms = clock_ms();
    if (o && o->retention_days > 0)
        a.expires_ms = a.created_ms + (int64_t)o->retention_days * 86400000;
    lock = lock_take(s, LOCK_EX);
    if (lock < 0) {
        r = gr_diag_set(reterr, lock, s->lock, 0, 0, "cannot lock the artifact store");
        goto out;
    }
    r = commit_locked(s, tmp_path, o && o->overwrite, &a, reterr);
out:
    if (lock >= 0)
        close(lock);
    if (r < 0)
        (void)unlink(tmp_path);
    if (r == 0 && ret)
        *ret = a;
    else
        ex_artifact_release(&a);
    return r;
}

/* ---- reading -------------------------------------------------------------- */

static int cmp_id(const void *x, const void *y)
{
    const struct ex_artifact *a = x, *b = y;
    return a->id < b->id ? -1 : a->id > b->id;
}

/* Every live artifact; *ret_expired counts the expired ones met. */
static int list_locked(struct ex_artifact_store *s, struct ex_artifact **ret, size_t *ret_n,
                       size_t *ret_expired)
{
    struct ex_artifact *v = NULL;
    size_t n = 0, cap = 0, old = 0;
    int64_t now = clock_ms();
    DIR *d = opendir(s->meta);
    struct dirent *de;

    if (!d)
        return -errno;
    while ((de = readdir(d)) != NULL) {
        size_t len = strlen(de->d_name);
        struct ex_artifact a = {0};
        char *name;

        if (len <= 5 || strcmp(de->d_name + len - 5, ".json"))
            continue;
        name = gr_xstrndup(de->d_name, len - 5);
        if (ex_artifact_name_check(name, NULL) == 0 && meta_read(s, name, &a) == 0) {
            if (expired(&a, now)) {
                old++;
                ex_artifact_release(&a);
            } else {
                GR_GROW(v, cap, n + 1);
                v[n++] = a;
            }
        }
        free(name);
    }
    closedir(d);
    if (n)
        qsort(v, n, sizeof(*v), cmp_id);
    *ret = v;
    *ret_n = n;
    *ret_expired = old;
    return 0;
}

int ex_artifact_list(struct ex_artifact_store *s, struct ex_artifact **ret, size_t *ret_n)
{
    size_t old = 0;
    int lock = lock_take(s, LOCK_SH), r;

    if (lock < 0)
        return lock;
    r = list_locked(s, ret, ret_n, &old);
    close(lock);
    /* Expired artifacts met on the way are deleted now (the shared lock is released). */
    if (r == 0 && old > 0 && ex_artifact_prune(s, 0, NULL) < 0)
        GR_LOG_DEBUG("artifact: cannot prune '%s'", s->dir);
    return r;
}

int ex_artifact_find(struct ex_artifact_store *s, const char *name, struct ex_artifact *ret)
{
    int lock, r;

    if (ex_artifact_name_check(name, NULL) < 0)
        return GR_ENOTFOUND;
    lock = lock_take(s, LOCK_SH);
    if (lock < 0)
        return lock;
    r = meta_read_live(s, name, ret);
    close(lock);
    return r;
}

int ex_artifact_find_id(struct ex_artifact_store *s, uint64_t id, struct ex_artifact *ret)
{
    struct ex_artifact *v = NULL;
    size_t n = 0;
    int r = ex_artifact_list(s, &v, &n);

    if (r < 0)
        return r;
    r = GR_ENOTFOUND;
    for (size_t i = 0; i < n; i++) {
        if (v[i].id == id) {
            *ret = v[i];
            v[i].name = NULL;
            r = 0;
            break;
        }
    }
    ex_artifacts_free(v, n);
    return r;
}

int ex_artifact_delete(struct ex_artifact_store *s, const char *name, struct ex_artifact *ret)
{
    struct ex_artifact a = {0};
    char *meta, *zip;
    int lock, r;

    if (ex_artifact_name_check(name, NULL) < 0)
        return GR_ENOTFOUND;
    lock = lock_take(s, LOCK_EX);
    if (lock < 0)
        return lock;
    r = meta_read(s, name, &a);
    meta = meta_path(s, name);
    zip = ex_artifact_path(s, name);
    /* The metadata goes first: from then on the artifact does not exist. */
    if (r == 0 && unlink(meta) < 0)
        r = -errno;
    if (r == 0)
        (void)unlink(zip);
    close(lock);
    free(meta);
    free(zip);
    if (r == 0 && ret)
        *ret = a;
    else
        ex_artifact_release(&a);
    return r;
}

/* ---- housekeeping --------------------------------------------------------- */

/* Delete the artifacts of the store that expired at now (metadata first). Under the lock. */
static size_t prune_expired(struct ex_artifact_store *s, int64_t now)
{
    DIR *d = opendir(s->meta);
    struct dirent *de;
    size_t n = 0;

    while (d && (de = readdir(d)) != NULL) {
        size_t len = strlen(de->d_name);
        struct ex_artifact a = {0};
        char *name, *zip;

        if (len <= 5 || strcmp(de->d_name + len - 5, ".json"))
            continue;
        name = gr_xstrndup(de->d_name, len - 5);
        if (ex_artifact_name_check(name, NULL) == 0 && meta_read(s, name, &a) == 0 &&
            expired(&a, now) && unlinkat(dirfd(d), de->d_name, 0) == 0) {
            zip = ex_artifact_path(s, name);
            (void)unlink(zip);
            free(zip);
            n++;
        }
        ex_artifact_release(&a);
        free(name);
    }
    if (d)
        closedir(d);
    return n;
}

int ex_artifact_prune(struct ex_artifact_store *s, int64_t now_ms, struct ex_artifact_prune *ret)
{
    struct ex_artifact_prune p = {0};
    int lock;

    p.temp_files = ex__store_tmp_sweep(s->tmp);
    lock = lock_take(s, LOCK_EX);
    if (lock < 0)
        return lock;
    p.temp_files += ex__store_tmp_sweep_atomic(s->meta, ".json");
    p.temp_files += ex__store_tmp_sweep_atomic(s->dir, ".next_id");
    p.expired = prune_expired(s, now_ms > 0 ? now_ms : clock_ms());
    close(lock);
    s->pruned.expired += p.expired;
    s->pruned.temp_files += p.temp_files;
    if (ret)
        *ret = s->pruned;
    return 0;
}
