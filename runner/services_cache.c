/*
 * The cache service: the v1 REST API of GitHub's Actions cache, as @actions/cache 3.x calls it
 * (toolkit packages/cache/src/internal/cacheHttpClient.ts), served from the local store.
 *
 *   GET   _apis/artifactcache/cache?keys=K1,K2&version=V   204 miss | 200 {cacheKey, scope,
 *                                                          cacheVersion, creationTime,
 *                                                          archiveLocation}
 *   GET   _apis/artifactcache/caches?key=K                 {totalCount, artifactCaches}
 *   POST  _apis/artifactcache/caches {key,version,cacheSize}  {cacheId} | 409 | 400 too big
 *   PATCH _apis/artifactcache/caches/ID  Content-Range: bytes A-B/(*|N)  204 (any order,
 *                                                          in parallel)
 *   POST  _apis/artifactcache/caches/ID {size}             204 | 409 | 400
 *   GET   _apis/artifactcache/artifacts/SHA?sig=HMAC       the archive
 *
 * Every request but the archive download must carry "Authorization: Bearer <job token>"; the
 * toolkit downloads archiveLocation without it (downloadUtils.ts downloadCacheHttpClient), so
 * that URL carries its own capability: an HMAC of the blob name under a per-service secret.
 * The toolkit uploads its own tar archive; it is stored as is, with its SHA-256.
 *
 * v2, as @actions/cache 4.x calls it with ACTIONS_CACHE_SERVICE_V2 (toolkit
 * packages/cache/src/internal/shared/cacheTwirpClient.ts, generated/results/api/v1/cache.ts;
 * JSON with proto field names, int64 as strings):
 *
 *   POST twirp/github.actions.results.api.v1.CacheService/CreateCacheEntry {key, version}
 *        -> {ok, signed_upload_url} | 409 already_exists
 *   PUT  ghrun/cache/up-ID?sig=..                      Azure Put Blob (whole archive)   201
 *   PUT  ghrun/cache/up-ID?sig=..&comp=block&blockid=B Azure Put Block                  201
 *   PUT  ghrun/cache/up-ID?sig=..&comp=blocklist       Azure Put Block List (XML)       201
 *   POST .../FinalizeCacheEntryUpload {key, version, size_bytes} -> {ok, entry_id}
 *   POST .../GetCacheEntryDownloadURL {key, restore_keys, version}
 *        -> {ok, signed_download_url, matched_key} | {ok: false}
 *
 * The upload URL is IP-style (/account/container/blob), which the Azure SDK accepts for hosts
 * that are IP addresses. The download URL is the v1 archive URL; the toolkit fetches it with a
 * plain GET because it is not on blob.core.windows.net.
 *
 * Store calls block, so they run on the thread pool; chunk writes use uv_fs at their offsets.
 * Request bodies are held in memory up to the route's limit (128 MiB chunks, 136 MiB blobs).
 */
#include "services.h"
#include "httpd.h"
#include "ex.h"

#include <errno.h>
#include <jansson.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define API_PREFIX "/_apis/artifactcache/"
#define TWIRP_PREFIX "/twirp/github.actions.results.api.v1.CacheService/"
#define BLOB_PREFIX "/ghrun/cache/"
#define MAX_BLOCKS 50000
/* Azure's single-shot upload goes up to 128 MiB (toolkit uploadUtils.ts maxSingleShotSize). */
#define BLOB_MAX (136u * 1024 * 1024)
#define MAX_KEYS 10
#define MAX_KEY_LEN 512
#define CHUNK_MAX (128u * 1024 * 1024)
#define JSON_MAX (64 * 1024)

struct range {
    uint64_t start, end; /* inclusive */
};

/* A staged Azure block: its bytes wait in a temp file until the block list commits them. */
struct block {
    char *id;
    char *path;
    int fd;
    uint64_t size;
};

struct resv {
    struct resv *next;
    uint64_t id;
    char *key;
    char *version;
    char *path; /* NULL until the temp file exists */
    int fd;
    struct range *ranges;
    size_t nranges, cap;
    int writes; /* chunk writes in flight */
    bool committing;
    bool v2; /* created through the Twirp API: uploads come as Azure blob requests */
    struct block *blocks;
    size_t nblocks, bcap;
};

struct rn_cache_service {
    uv_loop_t *loop;
    struct rn_httpd *httpd;
    struct ex_cache *cache;
    char *token;
    char *scope;
    char *url;
    unsigned char secret[32];
    struct resv *resvs;
    uint64_t next_id;
    int work;
    bool httpd_closed;
    void (*close_cb)(void *arg);
    void *close_arg;
};

enum job_kind { J_LOOKUP, J_RESERVE, J_COMMIT, J_LIST, J_BLOCK, J_BLOCKLIST };

struct job {
    uv_work_t w;
    struct rn_cache_service *s;
    struct rn_http_req *req;
    enum job_kind kind;
    char *keys[MAX_KEYS];
    size_t nkeys;
    char *version;
    struct resv *resv;
    int r;
    struct gr_diag diag;
    struct ex_cache_entry entry;
    struct ex_cache_entry *list;
    size_t nlist;
    bool corrupt;
    bool v2;
    struct block block; /* J_BLOCK: the staged block */
    char **order;       /* J_BLOCKLIST: block ids in commit order */
    size_t norder;
    uint64_t total; /* J_BLOCKLIST: committed size */
};

struct chunk_write {
    uv_fs_t fs;
    struct rn_cache_service *s;
    struct rn_http_req *req;
    struct resv *resv;
    struct range range;
    int status; /* the answer on success */
};

static void service_maybe_free(struct rn_cache_service *s);

/* ---- helpers -------------------------------------------------------------- */

static void sign(const struct rn_cache_service *s, const char *sha, char out[65])
{
    static const char digits[] = "0123456789abcdef";
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int len = 0;

    HMAC(EVP_sha256(), s->secret, sizeof(s->secret), (const unsigned char *)sha, strlen(sha), md,
         &len);
    for (unsigned i = 0; i < len && i < 32; i++) {
        out[2 * i] = digits[md[i] >> 4];
        out[2 * i + 1] = digits[md[i] & 15];
    }
    out[64] = '\0';
}

static struct resv *resv_find(struct rn_cache_service *s, uint64_t id)
{
    for (struct resv *r = s->resvs; r; r = r->next)
        if (r->id == id)
            return r;
    return NULL;
}

static void block_release(struct block *b)
{
    if (b->fd >= 0)
        close(b->fd);
    if (b->path)
        (void)unlink(b->path);
    free(b->path);
    free(b->id);
    memset(b, 0, sizeof(*b));
    b->fd = -1;
}

static void resv_free(struct rn_cache_service *s, struct resv *v, bool discard)
{
    for (struct resv **pp = &s->resvs; *pp; pp = &(*pp)->next) {
        if (*pp == v) {
            *pp = v->next;
            break;
        }
    }
    if (v->fd >= 0)
        close(v->fd);
    if (discard && v->path)
        (void)unlink(v->path);
    for (size_t i = 0; i < v->nblocks; i++)
        block_release(&v->blocks[i]);
    free(v->blocks);
    free(v->path);
    free(v->key);
    free(v->version);
    free(v->ranges);
    free(v);
}

/* ---- thread-pool jobs ----------------------------------------------------- */

static struct job *job_new(void)
{
    struct job *j = gr_xcalloc(1, sizeof(*j));
    j->block.fd = -1;
    return j;
}

static void job_free(struct job *j)
{
    for (size_t i = 0; i < j->nkeys; i++)
        free(j->keys[i]);
    free(j->version);
    ex_cache_entry_release(&j->entry);
    ex_cache_entries_free(j->list, j->nlist);
    block_release(&j->block);
    for (size_t i = 0; i < j->norder; i++)
        free(j->order[i]);
    free(j->order);
    free(j);
}

static void do_lookup(struct job *j)
{
    j->r = ex_cache_lookup(j->s->cache, j->s->scope, (const char *const *)j->keys, j->nkeys,
                           j->version, &j->entry, &j->diag);
    if (j->r < 0)
        return;
    if (ex_cache_verify(j->s->cache, &j->entry, &j->diag) < 0) {
        /* Never hand out a corrupt archive; drop it so that the key can be saved again. */
        j->corrupt = true;
        int q = ex_cache_remove(j->s->cache, j->entry.id);
        (void)q;
        j->r = GR_ENOTFOUND;
    }
}

static void do_reserve(struct job *j)
{
    struct ex_cache_entry e = {0};

    j->r = ex_cache_find(j->s->cache, j->s->scope, j->resv->key, j->resv->version, &e);
    if (j->r == 0) {
        ex_cache_entry_release(&e);
        j->r = -EEXIST;
        return;
    }
    /* Into the job: the loop owns the reservation and may read it meanwhile. */
    j->r = ex_cache_tmpfile(j->s->cache, &j->block.path, &j->block.fd);
}

static void do_commit(struct job *j)
{
    struct resv *v = j->resv;

    /* Closing releases the temp file's flock only after the rename, inside save_file. */
    if (ftruncate(v->fd, (off_t)j->total) < 0) {
        j->r = gr_diag_set(&j->diag, -errno, v->path, 0, 0, "cannot size the archive");
        return;
    }
    j->r = ex_cache_save_file(j->s->cache, j->s->scope, v->key, v->version, v->path, true,
                              &j->entry, &j->diag);
    close(v->fd);
    v->fd = -1;
    if (j->r == 0) {
        free(v->path);
        v->path = NULL;
    }
}

static void do_list(struct job *j)
{
    j->r = ex_cache_list(j->s->cache, &j->list, &j->nlist);
}

static void do_block(struct job *j)
{
    j->r = ex_cache_tmpfile(j->s->cache, &j->block.path, &j->block.fd);
    if (j->r == 0)
        j->r = gr_pwrite_all(j->block.fd, j->req->body.ptr, j->req->body.len, 0);
    j->block.size = j->req->body.len;
}

/* Append one staged block at *off of the reservation's file. */
static int copy_block(const struct block *b, int dst, uint64_t *off)
{
    char *buf = gr_xmalloc(1 << 20);
    uint64_t done = 0;
    int r = 0;

    while (r == 0 && done < b->size) {
        ssize_t n = pread(b->fd, buf, 1 << 20, (off_t)done);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            r = n < 0 ? -errno : -EIO;
            break;
        }
        r = gr_pwrite_all(dst, buf, (size_t)n, *off + done);
        done += (uint64_t)n;
    }
    free(buf);
    *off += done;
    return r;
}

static const struct block *block_find(const struct resv *v, const char *id)
{
    for (size_t i = 0; i < v->nblocks; i++)
        if (!strcmp(v->blocks[i].id, id))
            return &v->blocks[i];
    return NULL;
}

static void do_blocklist(struct job *j)
{
    struct resv *v = j->resv;
    uint64_t off = 0;

    for (size_t i = 0; i < j->norder; i++) {
        const struct block *b = block_find(v, j->order[i]);
        if (!b) {
            j->r = gr_diag_set(&j->diag, -EINVAL, NULL, 0, 0, "unknown block id '%s'", j->order[i]);
            return;
        }
        j->r = copy_block(b, v->fd, &off);
        if (j->r < 0)
            return;
    }
    j->r = ftruncate(v->fd, (off_t)off) < 0 ? -errno : 0;
    j->total = off;
}

static void work_cb(uv_work_t *w)
{
    struct job *j = gr_container_of(w, struct job, w);

    switch (j->kind) {
    case J_LOOKUP:
        do_lookup(j);
        break;
    case J_RESERVE:
        do_reserve(j);
        break;
    case J_COMMIT:
        do_commit(j);
        break;
    case J_LIST:
        do_list(j);
        break;
    case J_BLOCK:
        do_block(j);
        break;
    case J_BLOCKLIST:
        do_blocklist(j);
        break;
    }
}

static void answer_lookup(struct job *j)
{
    struct rn_cache_service *s = j->s;
    char sig[65], when[32], *loc;

    if (j->corrupt)
        GR_LOG_WARN("cache: %s; reporting a miss", j->diag.msg);
    if (j->r == GR_ENOTFOUND) {
        if (j->v2)
            rn_http_respond_json(j->req, 200, json_pack("{s:b}", "ok", 0));
        else
            rn_http_respond(j->req, 204, NULL, NULL, 0);
        return;
    }
    if (j->r < 0) {
        GR_LOG_WARN("cache: lookup failed: %s", j->diag.msg[0] ? j->diag.msg : gr_strerror(j->r));
        rn_http_respond_error(j->req, 500, "cache lookup failed");
        return;
    }
    sign(s, j->entry.sha256, sig);
    gr_time_iso8601_ms(j->entry.created_ms, when, sizeof(when));
    loc = gr_xasprintf("%s_apis/artifactcache/artifacts/%s?sig=%s", s->url, j->entry.sha256, sig);
    if (j->v2) {
        rn_http_respond_json(j->req, 200,
                             json_pack("{s:b,s:s,s:s}", "ok", 1, "signed_download_url", loc,
                                       "matched_key", j->entry.key));
        free(loc);
        return;
    }
    rn_http_respond_json(j->req, 200,
                         json_pack("{s:s,s:s,s:s,s:s,s:s}", "cacheKey", j->entry.key, "scope",
                                   s->scope, "cacheVersion", j->entry.version, "creationTime", when,
                                   "archiveLocation", loc));
    free(loc);
}

static void answer_reserve(struct job *j)
{
    struct resv *v = j->resv;
    char sig[65], name[32], *url;

    if (j->r < 0) {
        resv_free(j->s, v, true);
        if (j->r == -EEXIST && j->v2)
            rn_http_respond_twirp_error(j->req, 409, "already_exists",
                                        "cache entry already exists");
        else if (j->r == -EEXIST)
            rn_http_respond_error(j->req, 409, "Cache already exists.");
        else if (j->v2)
            rn_http_respond_twirp_error(j->req, 500, "internal", "cannot reserve the cache entry");
        else
            rn_http_respond_error(j->req, 500, "cannot reserve the cache entry");
        return;
    }
    v->path = j->block.path;
    v->fd = j->block.fd;
    j->block.path = NULL;
    j->block.fd = -1;
    if (!j->v2) {
        rn_http_respond_json(j->req, 200, json_pack("{s:I}", "cacheId", (json_int_t)v->id));
        return;
    }
    /* An IP-style Azure blob URL (/account/container/blob) that our own server answers. */
    (void)snprintf(name, sizeof(name), "up-%llu", (unsigned long long)v->id);
    sign(j->s, name, sig);
    url = gr_xasprintf("%s%s%s?sig=%s", j->s->url, BLOB_PREFIX + 1, name, sig);
    rn_http_respond_json(j->req, 200, json_pack("{s:b,s:s}", "ok", 1, "signed_upload_url", url));
    free(url);
}

static void answer_commit(struct job *j)
{
    struct resv *v = j->resv;
    int r = j->r;
    char id[24];

    resv_free(j->s, v, true);
    if (r < 0 && r != -EEXIST && r != -EFBIG)
        GR_LOG_WARN("cache: commit failed: %s", j->diag.msg[0] ? j->diag.msg : gr_strerror(r));
    if (j->v2) {
        (void)snprintf(id, sizeof(id), "%llu", (unsigned long long)j->entry.id);
        if (r == 0)
            rn_http_respond_json(j->req, 200, json_pack("{s:b,s:s}", "ok", 1, "entry_id", id));
        else
            rn_http_respond_json(
                j->req, 200,
                json_pack("{s:b,s:s}", "ok", 0, "message",
                          j->diag.msg[0] ? j->diag.msg : "cannot store the entry"));
        return;
    }
    if (r == 0)
        rn_http_respond(j->req, 204, NULL, NULL, 0);
    else if (r == -EEXIST)
        rn_http_respond_error(j->req, 409, j->diag.msg);
    else if (r == -EFBIG)
        rn_http_respond_error(j->req, 400, j->diag.msg);
    else
        rn_http_respond_error(j->req, 500, "cannot store the cache entry");
}

static void answer_block(struct job *j)
{
    struct resv *v = j->resv;

    v->writes--;
    if (j->r < 0) {
        rn_http_respond_error(j->req, 500, "cannot stage the block");
        return;
    }
    /* A block staged again under the same id replaces the earlier one. */
    for (size_t i = 0; i < v->nblocks; i++) {
        if (!strcmp(v->blocks[i].id, j->block.id)) {
            block_release(&v->blocks[i]);
            v->blocks[i] = j->block;
            goto done;
        }
    }
    GR_GROW(v->blocks, v->bcap, v->nblocks + 1);
    v->blocks[v->nblocks++] = j->block;
done:
    memset(&j->block, 0, sizeof(j->block));
    j->block.fd = -1;
    rn_http_respond(j->req, 201, NULL, NULL, 0);
}

static void answer_blocklist(struct job *j)
{
    struct resv *v = j->resv;

    v->committing = false;
    if (j->r < 0) {
        rn_http_respond_error(j->req, 400, j->diag.msg[0] ? j->diag.msg : "invalid block list");
        return;
    }
    v->nranges = 0;
    if (j->total) {
        GR_GROW(v->ranges, v->cap, 1);
        v->ranges[v->nranges++] = (struct range){0, j->total - 1};
    }
    rn_http_respond(j->req, 201, NULL, NULL, 0);
}

static void answer_list(struct job *j)
{
    json_t *arr = json_array();
    char *key = rn_http_req_query(j->req, "key");
    char when[32];

    if (j->r < 0) {
        free(key);
        json_decref(arr);
        rn_http_respond_error(j->req, 500, "cannot list the cache");
        return;
    }
    for (size_t i = 0; i < j->nlist; i++) {
        const struct ex_cache_entry *e = &j->list[i];
        if (strcmp(e->scope, j->s->scope) || (key && strcmp(e->key, key)))
            continue;
        gr_time_iso8601_ms(e->created_ms, when, sizeof(when));
        json_array_append_new(arr,
                              json_pack("{s:s,s:s,s:s,s:s}", "cacheKey", e->key, "scope", e->scope,
                                        "cacheVersion", e->version, "creationTime", when));
    }
    free(key);
    rn_http_respond_json(j->req, 200,
                         json_pack("{s:I,s:o}", "totalCount", (json_int_t)json_array_size(arr),
                                   "artifactCaches", arr));
}

static void after_work_cb(uv_work_t *w, int status)
{
    struct job *j = gr_container_of(w, struct job, w);
    struct rn_cache_service *s = j->s;

    (void)status;
    switch (j->kind) {
    case J_LOOKUP:
        answer_lookup(j);
        break;
    case J_RESERVE:
        answer_reserve(j);
        break;
    case J_COMMIT:
        answer_commit(j);
        break;
    case J_LIST:
        answer_list(j);
        break;
    case J_BLOCK:
        answer_block(j);
        break;
    case J_BLOCKLIST:
        answer_blocklist(j);
        break;
    }
    job_free(j);
    s->work--;
    service_maybe_free(s);
}

static void queue(struct rn_cache_service *s, struct job *j)
{
    int r;

    j->s = s;
    s->work++;
    r = uv_queue_work(s->loop, &j->w, work_cb, after_work_cb);
    if (r < 0) {
        s->work--;
        rn_http_respond_error(j->req, 500, "cannot schedule work");
        if (j->kind == J_RESERVE)
            resv_free(s, j->resv, true);
        else if (j->kind == J_BLOCK)
            j->resv->writes--;
        else if (j->kind == J_COMMIT || j->kind == J_BLOCKLIST)
            j->resv->committing = false;
        job_free(j);
    }
}

/* ---- handlers ------------------------------------------------------------- */

static int split_keys(const char *list, struct job *j)
{
    const char *p = list;

    while (*p) {
        size_t len = strcspn(p, ",");
        if (len == 0 || len > MAX_KEY_LEN || j->nkeys == MAX_KEYS)
            return -EINVAL;
        j->keys[j->nkeys++] = gr_xstrndup(p, len);
        p += len;
        if (*p == ',' && !*++p)
            return -EINVAL;
    }
    return j->nkeys ? 0 : -EINVAL;
}

static void h_lookup(struct rn_cache_service *s, struct rn_http_req *req)
{
    struct job *j = job_new();
    char *keys = rn_http_req_query(req, "keys");

    j->req = req;
    j->kind = J_LOOKUP;
    j->version = rn_http_req_query(req, "version");
    if (!keys || !j->version || !*j->version || split_keys(keys, j) < 0) {
        free(keys);
        job_free(j);
        rn_http_respond_error(req, 400, "keys and version are required (at most 10 keys)");
        return;
    }
    free(keys);
    queue(s, j);
}

static void h_download(struct rn_cache_service *s, struct rn_http_req *req, const char *sha)
{
    char want[65], *sig = rn_http_req_query(req, "sig"), *path;
    bool ok;

    sign(s, sha, want);
    ok = sig && strlen(sig) == 64 && CRYPTO_memcmp(sig, want, 64) == 0 && strlen(sha) == 64 &&
         strspn(sha, "0123456789abcdef") == 64;
    free(sig);
    if (!ok) {
        rn_http_respond_error(req, 403, "invalid archive location");
        return;
    }
    path = gr_xasprintf("%s/blobs/%s", ex_cache_dir(s->cache), sha);
    rn_http_respond_file(req, 200, "application/octet-stream", path);
    free(path);
}

static void h_get(struct rn_http_req *req, void *ctx)
{
    struct rn_cache_service *s = ctx;
    const char *rest = req->path + strlen(API_PREFIX);

    if (gr_startswith(rest, "artifacts/")) {
        h_download(s, req, rest + strlen("artifacts/"));
        return;
    }
    if (!rn_http_req_bearer_ok(req, s->token)) {
        rn_http_respond_error(req, 401, "missing or invalid bearer token");
        return;
    }
    if (!strcmp(rest, "cache")) {
        h_lookup(s, req);
    } else if (!strcmp(rest, "caches")) {
        struct job *j = job_new();
        j->req = req;
        j->kind = J_LIST;
        queue(s, j);
    } else {
        rn_http_respond_error(req, 404, "not found");
    }
}

/* "caches/ID" -> ID, or 0. */
static uint64_t parse_id(const char *rest)
{
    uint64_t id = 0;
    const char *p;

    if (!gr_startswith(rest, "caches/"))
        return 0;
    p = rest + strlen("caches/");
    if (!*p || strlen(p) > 18)
        return 0;
    for (; *p; p++) {
        if (*p < '0' || *p > '9')
            return 0;
        id = id * 10 + (uint64_t)(*p - '0');
    }
    return id;
}

static json_t *body_json(struct rn_http_req *req)
{
    json_t *v = json_loadb(req->body.ptr, req->body.len, 0, NULL);
    if (v && !json_is_object(v)) {
        json_decref(v);
        return NULL;
    }
    return v;
}

static void reply_err(struct rn_http_req *req, bool v2, int status, const char *code,
                      const char *msg)
{
    if (v2)
        rn_http_respond_twirp_error(req, status, code, msg);
    else
        rn_http_respond_error(req, status, msg);
}

static void start_reserve(struct rn_cache_service *s, struct rn_http_req *req, const char *key,
                          const char *version, bool v2)
{
    struct resv *v;
    struct job *j;

    if (!key || !*key || strlen(key) > MAX_KEY_LEN || strchr(key, ',') || !version || !*version) {
        reply_err(req, v2, 400, "invalid_argument", "key and version are required");
        return;
    }
    for (v = s->resvs; v; v = v->next) {
        if (!strcmp(v->key, key) && !strcmp(v->version, version)) {
            reply_err(req, v2, 409, "already_exists", "Cache is being created by another job.");
            return;
        }
    }
    v = gr_xcalloc(1, sizeof(*v));
    v->id = s->next_id++;
    v->key = gr_xstrdup(key);
    v->version = gr_xstrdup(version);
    v->fd = -1;
    v->v2 = v2;
    v->next = s->resvs;
    s->resvs = v;
    j = job_new();
    j->req = req;
    j->kind = J_RESERVE;
    j->resv = v;
    j->v2 = v2;
    queue(s, j);
}

static void h_reserve(struct rn_cache_service *s, struct rn_http_req *req)
{
    json_t *body = body_json(req);
    json_t *size = json_object_get(body, "cacheSize");

    if (json_is_integer(size) && json_integer_value(size) < 0)
        rn_http_respond_error(req, 400, "invalid cacheSize");
    else
        start_reserve(s, req, json_string_value(json_object_get(body, "key")),
                      json_string_value(json_object_get(body, "version")), false);
    json_decref(body);
}

static int cmp_range(const void *a, const void *b)
{
    const struct range *x = a, *y = b;
    return x->start < y->start ? -1 : x->start > y->start;
}

/* Whether the uploaded ranges cover [0, size) exactly. */
static bool covered(struct resv *v, uint64_t size)
{
    uint64_t next = 0;

    if (v->nranges)
        qsort(v->ranges, v->nranges, sizeof(v->ranges[0]), cmp_range);
    for (size_t i = 0; i < v->nranges; i++) {
        if (v->ranges[i].start > next)
            return false;
        if (v->ranges[i].end + 1 > next)
            next = v->ranges[i].end + 1;
    }
    return next == size;
}

static void h_commit(struct rn_cache_service *s, struct rn_http_req *req, struct resv *v)
{
    json_t *body = body_json(req);
    json_t *size = json_object_get(body, "size");
    struct job *j;
    bool ok = json_is_integer(size) && json_integer_value(size) >= 0;
    uint64_t n = ok ? (uint64_t)json_integer_value(size) : 0;

    json_decref(body);
    if (!ok) {
        rn_http_respond_error(req, 400, "size is required");
        return;
    }
    if (v->committing || v->writes || !v->path) {
        rn_http_respond_error(req, 409, "upload still in progress");
        return;
    }
    if (!covered(v, n)) {
        rn_http_respond_error(req, 400, "uploaded chunks do not add up to the given size");
        return;
    }
    v->committing = true;
    j = job_new();
    j->req = req;
    j->kind = J_COMMIT;
    j->resv = v;
    j->total = n;
    queue(s, j);
}

static void h_post(struct rn_http_req *req, void *ctx)
{
    struct rn_cache_service *s = ctx;
    const char *rest = req->path + strlen(API_PREFIX);
    uint64_t id;
    struct resv *v;

    if (!rn_http_req_bearer_ok(req, s->token)) {
        rn_http_respond_error(req, 401, "missing or invalid bearer token");
        return;
    }
    if (!strcmp(rest, "caches")) {
        h_reserve(s, req);
        return;
    }
    id = parse_id(rest);
    v = id ? resv_find(s, id) : NULL;
    if (!v) {
        rn_http_respond_error(req, 404, "no such cache reservation");
        return;
    }
    h_commit(s, req, v);
}

/* "bytes A-B/" then "*" or the total. */
static int parse_content_range(const char *h, struct range *ret)
{
    unsigned long long a, b;
    int end = 0;

    if (!h || sscanf(h, "bytes %llu-%llu/%n", &a, &b, &end) != 2 || end == 0 || b < a)
        return -EINVAL;
    if (strcmp(h + end, "*") != 0 && strspn(h + end, "0123456789") != strlen(h + end))
        return -EINVAL;
    ret->start = a;
    ret->end = b;
    return 0;
}

static void chunk_written(uv_fs_t *fs)
{
    struct chunk_write *cw = gr_container_of(fs, struct chunk_write, fs);
    struct resv *v = cw->resv;
    ssize_t n = fs->result;
    uint64_t want = cw->range.end - cw->range.start + 1;

    uv_fs_req_cleanup(fs);
    v->writes--;
    if (n < 0 || (uint64_t)n != want) {
        GR_LOG_WARN("cache: cannot write an upload chunk: %s",
                    n < 0 ? uv_strerror((int)n) : "short write");
        rn_http_respond_error(cw->req, 500, "cannot write the chunk");
    } else {
        GR_GROW(v->ranges, v->cap, v->nranges + 1);
        v->ranges[v->nranges++] = cw->range;
        rn_http_respond(cw->req, cw->status, NULL, NULL, 0);
    }
    cw->s->work--;
    service_maybe_free(cw->s);
    free(cw);
}

/* Write the request body at rg.start of the reservation's file; answer status when done. */
static void start_write(struct rn_cache_service *s, struct rn_http_req *req, struct resv *v,
                        struct range rg, int status)
{
    struct chunk_write *cw = gr_xcalloc(1, sizeof(*cw));
    uv_buf_t buf = uv_buf_init(req->body.ptr, (unsigned)req->body.len);
    int r;

    cw->s = s;
    cw->req = req;
    cw->resv = v;
    cw->range = rg;
    cw->status = status;
    v->writes++;
    s->work++;
    r = uv_fs_write(s->loop, &cw->fs, v->fd, &buf, 1, (int64_t)rg.start, chunk_written);
    if (r < 0) {
        cw->fs.result = r;
        chunk_written(&cw->fs);
    }
}

static void h_patch(struct rn_http_req *req, void *ctx)
{
    struct rn_cache_service *s = ctx;
    uint64_t id = parse_id(req->path + strlen(API_PREFIX));
    struct resv *v = id ? resv_find(s, id) : NULL;
    struct range rg;

    if (!rn_http_req_bearer_ok(req, s->token)) {
        rn_http_respond_error(req, 401, "missing or invalid bearer token");
        return;
    }
    if (!v) {
        rn_http_respond_error(req, 404, "no such cache reservation");
        return;
    }
    if (parse_content_range(rn_http_req_header(req, "Content-Range"), &rg) < 0 ||
        rg.end - rg.start + 1 != req->body.len) {
        rn_http_respond_error(req, 400, "Content-Range does not match the body");
        return;
    }
    if (v->committing || !v->path) {
        rn_http_respond_error(req, 409, "cache entry is not accepting chunks");
        return;
    }
    start_write(s, req, v, rg, 204);
}

/* ---- v2: Twirp CacheService and Azure block-blob uploads ------------------- */

static struct resv *resv_find_key(struct rn_cache_service *s, const char *key, const char *version)
{
    for (struct resv *v = s->resvs; v; v = v->next)
        if (v->v2 && key && version && !strcmp(v->key, key) && !strcmp(v->version, version))
            return v;
    return NULL;
}

/* int64 fields arrive as JSON strings (protobuf JSON mapping) or numbers. */
static int json_u64(json_t *v, uint64_t *ret)
{
    const char *str = json_string_value(v);
    char *end;

    if (json_is_integer(v) && json_integer_value(v) >= 0) {
        *ret = (uint64_t)json_integer_value(v);
        return 0;
    }
    if (!str || !*str || *str == '-')
        return -EINVAL;
    errno = 0;
    *ret = strtoull(str, &end, 10);
    return errno || *end ? -EINVAL : 0;
}

static void twirp_finalize(struct rn_cache_service *s, struct rn_http_req *req, json_t *body)
{
    struct resv *v = resv_find_key(s, json_string_value(json_object_get(body, "key")),
                                   json_string_value(json_object_get(body, "version")));
    uint64_t size = 0;
    struct job *j;
    const char *why = NULL;

    if (json_u64(json_object_get(body, "size_bytes"), &size) < 0)
        why = "size_bytes is required";
    else if (!v)
        why = "no upload was started for this key and version";
    else if (v->committing || v->writes || !v->path)
        why = "the upload is still in progress";
    else if (!covered(v, size))
        why = "the uploaded blob does not have the given size";
    if (why) {
        rn_http_respond_json(req, 200, json_pack("{s:b,s:s}", "ok", 0, "message", why));
        return;
    }
    v->committing = true;
    j = job_new();
    j->req = req;
    j->kind = J_COMMIT;
    j->resv = v;
    j->v2 = true;
    j->total = size;
    queue(s, j);
}

static void twirp_download(struct rn_cache_service *s, struct rn_http_req *req, json_t *body)
{
    struct job *j = job_new();
    const char *key = json_string_value(json_object_get(body, "key"));
    const char *version = json_string_value(json_object_get(body, "version"));
    json_t *rk = json_object_get(body, "restore_keys"), *item;
    size_t i;
    bool ok = key && *key && version && *version && (!rk || json_is_array(rk));

    j->req = req;
    j->kind = J_LOOKUP;
    j->v2 = true;
    if (ok) {
        j->keys[j->nkeys++] = gr_xstrdup(key);
        j->version = gr_xstrdup(version);
    }
    json_array_foreach(rk, i, item)
    {
        const char *k = json_string_value(item);
        if (!ok || !k || !*k || j->nkeys == MAX_KEYS) {
            ok = false;
            break;
        }
        j->keys[j->nkeys++] = gr_xstrdup(k);
    }
    if (!ok) {
        job_free(j);
        rn_http_respond_twirp_error(req, 400, "invalid_argument",
                                    "key, version and at most 9 restore keys");
        return;
    }
    queue(s, j);
}

static void h_twirp(struct rn_http_req *req, void *ctx)
{
    struct rn_cache_service *s = ctx;
    const char *method = req->path + strlen(TWIRP_PREFIX);
    json_t *body;

    if (!rn_http_req_bearer_ok(req, s->token)) {
        rn_http_respond_twirp_error(req, 401, "unauthenticated", "missing or invalid bearer token");
        return;
    }
    body = body_json(req);
    if (!body) {
        rn_http_respond_twirp_error(req, 400, "malformed",
                                    "the request body must be a JSON object");
        return;
    }
    if (!strcmp(method, "CreateCacheEntry"))
        start_reserve(s, req, json_string_value(json_object_get(body, "key")),
                      json_string_value(json_object_get(body, "version")), true);
    else if (!strcmp(method, "FinalizeCacheEntryUpload"))
        twirp_finalize(s, req, body);
    else if (!strcmp(method, "GetCacheEntryDownloadURL"))
        twirp_download(s, req, body);
    else
        rn_http_respond_twirp_error(req, 404, "bad_route", "no such method");
    json_decref(body);
}

/* The reservation a signed blob URL names, or NULL. */
static struct resv *blob_resv(struct rn_cache_service *s, struct rn_http_req *req)
{
    const char *name = req->path + strlen(BLOB_PREFIX);
    char want[65], *sig = rn_http_req_query(req, "sig");
    uint64_t id = 0;
    bool ok;

    sign(s, name, want);
    ok = sig && strlen(sig) == 64 && CRYPTO_memcmp(sig, want, 64) == 0;
    free(sig);
    if (!ok || !gr_startswith(name, "up-"))
        return NULL;
    for (const char *p = name + 3; *p; p++) {
        if (*p < '0' || *p > '9' || id > UINT64_MAX / 10 - 10)
            return NULL;
        id = id * 10 + (uint64_t)(*p - '0');
    }
    struct resv *v = resv_find(s, id);
    return v && v->v2 ? v : NULL;
}

static void blob_block(struct rn_cache_service *s, struct rn_http_req *req, struct resv *v)
{
    char *id = rn_http_req_query(req, "blockid");
    struct job *j;

    if (!id || !*id || strlen(id) > 128 || v->nblocks >= MAX_BLOCKS) {
        free(id);
        rn_http_respond_error(req, 400, "a block needs a blockid");
        return;
    }
    j = job_new();
    j->req = req;
    j->kind = J_BLOCK;
    j->resv = v;
    j->block.id = id;
    v->writes++;
    queue(s, j);
}

/* Block ids from <BlockList><Latest|Committed|Uncommitted>ID</...>...</BlockList>, in order. */
static int parse_block_list(const char *xml, struct job *j)
{
    static const char *tags[] = {"<Latest>", "<Committed>", "<Uncommitted>"};
    const char *p = xml;

    while ((p = strchr(p, '<')) != NULL) {
        size_t t;
        for (t = 0; t < GR_ARRAY_SIZE(tags); t++)
            if (gr_startswith(p, tags[t]))
                break;
        if (t == GR_ARRAY_SIZE(tags)) {
            p++;
            continue;
        }
        p += strlen(tags[t]);
        const char *end = strchr(p, '<');
        if (!end || j->norder >= MAX_BLOCKS)
            return -EINVAL;
        if (j->norder % 64 == 0)
            j->order = gr_xrealloc(j->order, (j->norder + 64) * sizeof(*j->order));
        j->order[j->norder++] = gr_xstrndup(p, (size_t)(end - p));
        p = end;
    }
    return strstr(xml, "<BlockList>") ? 0 : -EINVAL;
}

static void blob_block_list(struct rn_cache_service *s, struct rn_http_req *req, struct resv *v)
{
    struct job *j = job_new();

    j->req = req;
    j->kind = J_BLOCKLIST;
    j->resv = v;
    if (parse_block_list(req->body.ptr, j) < 0) {
        job_free(j);
        rn_http_respond_error(req, 400, "invalid block list");
        return;
    }
    v->committing = true;
    queue(s, j);
}

static void h_blob_put(struct rn_http_req *req, void *ctx)
{
    struct rn_cache_service *s = ctx;
    struct resv *v = blob_resv(s, req);
    char *comp;

    if (!v) {
        rn_http_respond_error(req, 403, "invalid or expired upload URL");
        return;
    }
    if (v->committing || !v->path) {
        rn_http_respond_error(req, 409, "the upload is not accepting data");
        return;
    }
    comp = rn_http_req_query(req, "comp");
    if (comp && !strcmp(comp, "block")) {
        blob_block(s, req, v);
    } else if (comp && !strcmp(comp, "blocklist")) {
        if (v->writes)
            rn_http_respond_error(req, 409, "blocks are still being written");
        else
            blob_block_list(s, req, v);
    } else if (comp) {
        rn_http_respond_error(req, 400, "unsupported blob operation");
    } else {
        /* Put Blob: the whole archive in one request. */
        v->nranges = 0;
        if (req->body.len == 0)
            rn_http_respond(req, 201, NULL, NULL, 0);
        else
            start_write(s, req, v, (struct range){0, req->body.len - 1}, 201);
    }
    free(comp);
}

static const struct rn_httpd_route routes[] = {
    {.method = "GET", .prefix = API_PREFIX, .max_body = 0, .fn = h_get},
    {.method = "POST", .prefix = API_PREFIX, .max_body = JSON_MAX, .fn = h_post},
    {.method = "PATCH", .prefix = API_PREFIX, .max_body = CHUNK_MAX, .fn = h_patch},
    {.method = "POST", .prefix = TWIRP_PREFIX, .max_body = JSON_MAX, .fn = h_twirp},
    {.method = "PUT", .prefix = BLOB_PREFIX, .max_body = BLOB_MAX, .fn = h_blob_put},
};

size_t rn_cache_service_routes(struct rn_cache_service *s, struct rn_httpd_route *out, size_t max)
{
    size_t n = GR_ARRAY_SIZE(routes) < max ? GR_ARRAY_SIZE(routes) : max;

    for (size_t i = 0; i < n; i++) {
        out[i] = routes[i];
        out[i].ctx = s;
    }
    return n;
}

/* ---- lifecycle ------------------------------------------------------------ */

int rn_cache_service_start(uv_loop_t *loop, const struct rn_cache_service_opts *opts,
                           struct rn_cache_service **ret, struct gr_diag *reterr)
{
    struct rn_cache_service *s = gr_xcalloc(1, sizeof(*s));
    const char *host = opts->host ? opts->host : "127.0.0.1";
    int r;

    if (!opts->token || !*opts->token) {
        free(s);
        return gr_diag_set(reterr, -EINVAL, NULL, 0, 0, "the cache service needs a job token");
    }
    s->loop = loop;
    s->next_id = 1;
    s->token = gr_xstrdup(opts->token);
    s->scope = gr_xstrdup(opts->scope ? opts->scope : "local");
    if (RAND_bytes(s->secret, sizeof(s->secret)) != 1)
        abort();
    r = ex_cache_open(opts->dir, opts->max_size, &s->cache, reterr);
    if (r == 0) {
        r = rn_httpd_start(loop, host, opts->port, routes, GR_ARRAY_SIZE(routes), s, &s->httpd);
        if (r < 0)
            r = gr_diag_set(reterr, r, NULL, 0, 0, "cannot listen on %s:%d: %s", host, opts->port,
                            uv_strerror(r));
    }
    if (r < 0) {
        ex_cache_free(s->cache);
        free(s->token);
        free(s->scope);
        free(s);
        return r;
    }
    s->url = gr_xasprintf("http://%s:%d/", host, rn_httpd_port(s->httpd));
    *ret = s;
    return 0;
}

const char *rn_cache_service_url(const struct rn_cache_service *s)
{
    return s->url;
}

int rn_cache_service_port(const struct rn_cache_service *s)
{
    return rn_httpd_port(s->httpd);
}

static void service_maybe_free(struct rn_cache_service *s)
{
    if (!s->httpd_closed || s->work)
        return;
    while (s->resvs)
        resv_free(s, s->resvs, true);
    if (s->close_cb)
        s->close_cb(s->close_arg);
    ex_cache_free(s->cache);
    free(s->token);
    free(s->scope);
    free(s->url);
    free(s);
}

static void httpd_closed(void *arg)
{
    struct rn_cache_service *s = arg;
    s->httpd_closed = true;
    service_maybe_free(s);
}

void rn_cache_service_close(struct rn_cache_service *s, void (*cb)(void *arg), void *arg)
{
    s->close_cb = cb;
    s->close_arg = arg;
    rn_httpd_close(s->httpd, httpd_closed, s);
}
