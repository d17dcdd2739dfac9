/*
 * The artifact service: GitHub's results service as @actions/artifact 2.x (upload-artifact@v4,
 * download-artifact@v4) calls it, served from the run's local store (ex/artifact.h).
 *
 * Twirp, JSON with proto field names and int64 as strings (toolkit packages/artifact/src/
 * generated/results/api/v1/artifact.ts, internal/shared/artifact-twirp-client.ts; the client
 * posts to <origin of ACTIONS_RESULTS_URL>/twirp/<service>/<method>):
 *
 *   CreateArtifact {workflow_run_backend_id, workflow_job_run_backend_id, name, expires_at,
 *                   version}                        -> {ok, signed_upload_url} | 409 | 400
 *   FinalizeArtifact {.., name, size, hash}         -> {ok, artifact_id}
 *   ListArtifacts {.., name_filter, id_filter}      -> {artifacts: [{workflow_run_backend_id,
 *                   workflow_job_run_backend_id, database_id, name, size, created_at, digest}]}
 *   GetSignedArtifactURL {.., name}                 -> {signed_url} | 404
 *   DeleteArtifact {.., name}                       -> {ok, artifact_id} | 404
 *
 * The upload URL is an IP-style Azure blob URL (/account/container/blob) that this server
 * answers as BlockBlobClient.uploadStream uses it (internal/upload/blob-upload.ts: 8 MiB blocks,
 * several at once): PUT ?comp=block&blockid=ID stages a block, PUT ?comp=blocklist commits the
 * listed blocks in order; a PUT without comp is a whole-blob upload. The download URL is a
 * plain GET (internal/download/download-artifact.ts streamExtractExternal). Both URLs carry
 * their own capability, an HMAC of the blob name and the expiry time (se) under a per-service
 * secret, and stop working when they expire. Every Twirp call needs the job's bearer token.
 *
 * Nothing a request sends becomes visible before FinalizeArtifact: staged blocks and the
 * assembled zip live in the store's .tmp/ and are removed when the upload fails, is abandoned
 * or the service closes. Store calls block, so they run on the thread pool.
 */
#include "services.h"
#include "httpd.h"
#include "ex/artifact.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#define TWIRP_PREFIX "/twirp/github.actions.results.api.v1.ArtifactService/"
#define BLOB_PREFIX "/ghrun/artifacts/"
#define JSON_MAX (64 * 1024)
#define BLOCK_MAX (64u * 1024 * 1024) /* the toolkit sends 8 MiB blocks */
#define BLOCKLIST_MAX (4u * 1024 * 1024)
#define MAX_BLOCKS 50000
#define UPLOAD_TTL_S (6 * 3600)
#define DOWNLOAD_TTL_S 3600
#define DEFAULT_MAX_SIZE (10ULL * 1024 * 1024 * 1024)
#define MAX_ROUTES (8 + RN_ARTIFACT_MAX_EXTRA_ROUTES)

/* A staged Azure block: size bytes at off of the upload's staging file. */
struct block {
    char *id;
    uint64_t off;
    uint64_t size;
};

/* An artifact between CreateArtifact and FinalizeArtifact. */
struct upload {
    struct upload *next;
    uint64_t id;
    char *name;
    int retention_days;
    struct block *blocks;
    size_t nblocks, bcap;
    uint64_t staged; /* bytes in blocks */
    char *stage;     /* the staging file: blocks are written one after another as they come */
    int stage_fd;
    uint64_t stage_end;
    char *path;    /* the assembled zip, once committed by a block list or a whole PUT */
    uint64_t size; /* its size */
    int writes;    /* staging requests in flight */
    bool busy;     /* assembling or finalizing */
    bool created;  /* the store said the name is free */
};

struct rn_artifact_service {
    uv_loop_t *loop;
    struct rn_httpd *httpd;
    struct ex_artifact_store *store;
    char *token;
    char *run_id;
    char *url;
    uint64_t max_size;
    int url_ttl_s; /* 0: the defaults */
    unsigned char secret[32];
    struct upload *uploads;
    uint64_t next_id;
    int work;
    bool httpd_closed;
    struct rn_httpd_route routes[MAX_ROUTES];
    void (*close_cb)(void *arg);
    void *close_arg;
};

enum job_kind {
    J_CREATE,
    J_BLOCK,
    J_ASSEMBLE,
    J_PUTBLOB,
    J_FINALIZE,
    J_LIST,
    J_URL,
    J_DELETE,
    J_DOWNLOAD
};

struct job {
    uv_work_t w;
    struct rn_artifact_service *s;
    struct rn_http_req *req;
    enum job_kind kind;
    struct upload *up;
    char *name;
    char *hash;         /* J_FINALIZE: expected digest, or NULL */
    uint64_t size;      /* J_FINALIZE: announced size; J_LIST: id filter (0: none) */
    uint64_t id;        /* J_DOWNLOAD */
    struct block block; /* J_BLOCK */
    int fd;             /* J_BLOCK: the staging file */
    char *tmp;          /* J_CREATE: the staging file; J_PUTBLOB, J_ASSEMBLE: the zip */
    int tmp_fd;
    bool inplace; /* J_ASSEMBLE: the staging file already holds the blocks in order */
    char **order; /* J_ASSEMBLE: block ids in commit order */
    size_t norder;
    int r;
    struct gr_diag diag;
    struct ex_artifact art;
    struct ex_artifact *list;
    size_t nlist;
};

static void service_maybe_free(struct rn_artifact_service *s);

/* ---- helpers -------------------------------------------------------------- */

static void hex(const unsigned char *in, size_t n, char *out)
{
    static const char digits[] = "0123456789abcdef";

    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[in[i] >> 4];
        out[2 * i + 1] = digits[in[i] & 15];
    }
    out[2 * n] = '\0';
}

/* sig = HMAC-SHA256(secret, "<blob>:<expiry>") in hex. */
static void sign(const struct rn_artifact_service *s, const char *blob, long long se, char out[65])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    char *msg = gr_xasprintf("%s:%lld", blob, se);

    HMAC(EVP_sha256(), s->secret, sizeof(s->secret), (const unsigned char *)msg, strlen(msg), md,
         &len);
    free(msg);
    hex(md, 32, out);
}

static char *signed_url(const struct rn_artifact_service *s, const char *blob, int ttl)
{
    long long se = (long long)time(NULL) + ttl;
    char sig[65];

    sign(s, blob, se, sig);
    return gr_xasprintf("%s%s%s?se=%lld&sig=%s", s->url, BLOB_PREFIX + 1, blob, se, sig);
}

/* Whether the request's se/sig sign its blob name and have not expired. */
static bool signature_ok(const struct rn_artifact_service *s, const struct rn_http_req *req,
                         const char *blob)
{
    char *se = rn_http_req_query(req, "se"), *sig = rn_http_req_query(req, "sig"), *end = NULL;
    long long when = se ? strtoll(se, &end, 10) : 0;
    char want[65];
    bool ok = se && *se && end && !*end && sig && strlen(sig) == 64;

    if (ok) {
        sign(s, blob, when, want);
        ok = CRYPTO_memcmp(sig, want, 64) == 0 && when >= (long long)time(NULL);
    }
    free(se);
    free(sig);
    return ok;
}

static char *u64_str(uint64_t v)
{
    return gr_xasprintf("%llu", (unsigned long long)v);
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
    if (!str || !*str || *str == '-' || strspn(str, "0123456789") != strlen(str))
        return -EINVAL;
    errno = 0;
    *ret = strtoull(str, &end, 10);
    return errno || *end ? -EINVAL : 0;
}

/* ---- uploads -------------------------------------------------------------- */

static void block_release(struct block *b)
{
    free(b->id);
    memset(b, 0, sizeof(*b));
}

static struct upload *upload_by_name(struct rn_artifact_service *s, const char *name)
{
    for (struct upload *u = s->uploads; u; u = u->next)
        if (name && !strcmp(u->name, name))
            return u;
    return NULL;
}

static struct upload *upload_by_id(struct rn_artifact_service *s, uint64_t id)
{
    for (struct upload *u = s->uploads; u; u = u->next)
        if (u->id == id)
            return u;
    return NULL;
}

static void stage_release(struct upload *u)
{
    if (u->stage_fd >= 0)
        close(u->stage_fd);
    if (u->stage)
        (void)unlink(u->stage);
    free(u->stage);
    u->stage = NULL;
    u->stage_fd = -1;
    for (size_t i = 0; i < u->nblocks; i++)
        block_release(&u->blocks[i]);
    u->nblocks = 0;
}

static void upload_free(struct rn_artifact_service *s, struct upload *u)
{
    for (struct upload **pp = &s->uploads; *pp; pp = &(*pp)->next) {
        if (*pp == u) {
            *pp = u->next;
            break;
        }
    }
    stage_release(u);
    free(u->blocks);
    if (u->path)
        (void)unlink(u->path);
    free(u->path);
    free(u->name);
    free(u);
}

/* ---- thread-pool work ----------------------------------------------------- */

static struct job *job_new(struct rn_http_req *req, enum job_kind kind)
{
    struct job *j = gr_xcalloc(1, sizeof(*j));

    j->req = req;
    j->kind = kind;
    j->tmp_fd = -1;
    return j;
}

static void job_free(struct job *j)
{
    free(j->name);
    free(j->hash);
    block_release(&j->block);
    if (j->tmp_fd >= 0)
        close(j->tmp_fd);
    if (j->tmp)
        (void)unlink(j->tmp);
    free(j->tmp);
    for (size_t i = 0; i < j->norder; i++)
        free(j->order[i]);
    free(j->order);
    ex_artifact_release(&j->art);
    ex_artifacts_free(j->list, j->nlist);
    free(j);
}

/* The request body into a new temp file: *ret_path. */
static int body_to_file(struct job *j, char **ret_path)
{
    int fd = -1;
    int r = ex_artifact_tmpfile(j->s->store, ret_path, &fd);

    if (r < 0)
        return r;
    r = gr_write_all(fd, j->req->body.ptr, j->req->body.len);
    close(fd);
    return r;
}

/* Append size bytes at off of src to dst (in the kernel where it can). */
static int copy_range(int src, uint64_t off, uint64_t size, int dst)
{
    uint64_t done = 0;
    char *buf = NULL;
    int r = 0;

    while (done < size) {
        loff_t in = (loff_t)(off + done);
        ssize_t n = copy_file_range(src, &in, dst, NULL, (size_t)(size - done), 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        done += (uint64_t)n;
    }
    while (r == 0 && done < size) {
        size_t want = size - done < (1 << 20) ? (size_t)(size - done) : (1 << 20);
        ssize_t n;
        if (!buf)
            buf = gr_xmalloc(1 << 20);
        n = pread(src, buf, want, (off_t)(off + done));
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            r = n < 0 ? -errno : -EIO;
        else if ((r = gr_write_all(dst, buf, (size_t)n)) == 0)
            done += (uint64_t)n;
    }
    free(buf);
    return r;
}

static const struct block *block_find(const struct upload *u, const char *id)
{
    for (size_t i = 0; i < u->nblocks; i++)
        if (!strcmp(u->blocks[i].id, id))
            return &u->blocks[i];
    return NULL;
}

/*
 * The zip from the block list. Blocks usually arrive in the order the list names them; then
 * the staging file is the zip already and only its tail (blocks staged again) is cut off.
 */
static void do_assemble(struct job *j)
{
    struct upload *u = j->up;
    const struct block **bl = gr_xcalloc(j->norder + 1, sizeof(*bl));
    bool inorder = true;

    for (size_t i = 0; i < j->norder; i++) {
        bl[i] = block_find(u, j->order[i]);
        if (!bl[i]) {
            j->r = gr_diag_set(&j->diag, -EINVAL, NULL, 0, 0, "unknown block id '%s'", j->order[i]);
            goto out;
        }
        inorder = inorder && bl[i]->off == j->size;
        j->size += bl[i]->size;
    }
    if (inorder) {
        j->inplace = true;
        j->r = u->stage_fd >= 0 && ftruncate(u->stage_fd, (off_t)j->size) < 0 ? -errno : 0;
        goto out;
    }
    j->r = ex_artifact_tmpfile(j->s->store, &j->tmp, &j->tmp_fd);
    for (size_t i = 0; j->r == 0 && i < j->norder; i++)
        j->r = copy_range(u->stage_fd, bl[i]->off, bl[i]->size, j->tmp_fd);
out:
    free(bl);
}

static void do_finalize(struct job *j)
{
    struct ex_artifact_commit_opts o = {
        .sha256 = j->hash,
        .size = j->size,
        .retention_days = j->up->retention_days,
    };

    j->r = ex_artifact_commit(j->s->store, j->up->name, j->up->path, &o, &j->art, &j->diag);
}

static void work_cb(uv_work_t *w)
{
    struct job *j = gr_container_of(w, struct job, w);

    switch (j->kind) {
    case J_CREATE:
        j->r = ex_artifact_find(j->s->store, j->name, &j->art);
        if (j->r == GR_ENOTFOUND) {
            int r = ex_artifact_tmpfile(j->s->store, &j->tmp, &j->tmp_fd);
            j->r = r < 0 ? r : GR_ENOTFOUND;
        }
        break;
    case J_URL:
        j->r = ex_artifact_find(j->s->store, j->name, &j->art);
        break;
    case J_BLOCK:
        j->r = gr_pwrite_all(j->fd, j->req->body.ptr, j->req->body.len, j->block.off);
        break;
    case J_PUTBLOB:
        j->r = body_to_file(j, &j->tmp);
        j->block.size = j->req->body.len;
        break;
    case J_ASSEMBLE:
        do_assemble(j);
        break;
    case J_FINALIZE:
        do_finalize(j);
        break;
    case J_LIST:
        j->r = ex_artifact_list(j->s->store, &j->list, &j->nlist);
        break;
    case J_DELETE:
        j->r = ex_artifact_delete(j->s->store, j->name, &j->art);
        break;
    case J_DOWNLOAD:
        j->r = ex_artifact_find_id(j->s->store, j->id, &j->art);
        break;
    }
}

/* ---- answers (on the loop) ------------------------------------------------ */

static void answer_create(struct job *j)
{
    struct upload *u = j->up;
    char blob[32], *url;

    if (j->r == 0) {
        upload_free(j->s, u);
        rn_http_respond_twirp_error(
            j->req, 409, "already_exists",
            "an artifact with this name already exists on the workflow run");
        return;
    }
    if (j->r != GR_ENOTFOUND) {
        upload_free(j->s, u);
        rn_http_respond_twirp_error(j->req, 500, "internal", "cannot read the artifact store");
        return;
    }
    u->created = true;
    u->stage = j->tmp;
    u->stage_fd = j->tmp_fd;
    j->tmp = NULL;
    j->tmp_fd = -1;
    (void)snprintf(blob, sizeof(blob), "up-%llu", (unsigned long long)u->id);
    url = signed_url(j->s, blob, j->s->url_ttl_s ? j->s->url_ttl_s : UPLOAD_TTL_S);
    rn_http_respond_json(j->req, 200, json_pack("{s:b,s:s}", "ok", 1, "signed_upload_url", url));
    free(url);
}

static void answer_block(struct job *j)
{
    struct upload *u = j->up;

    u->writes--;
    if (j->r < 0) {
        u->staged -= j->block.size;
        rn_http_respond_error(j->req, 500, "cannot stage the block");
        return;
    }
    /* A block staged again under the same id replaces the earlier one (whose bytes stay in
     * the staging file, unused). */
    for (size_t i = 0; i < u->nblocks; i++) {
        if (!strcmp(u->blocks[i].id, j->block.id)) {
            u->staged -= u->blocks[i].size;
            block_release(&u->blocks[i]);
            u->blocks[i] = j->block;
            goto done;
        }
    }
    GR_GROW(u->blocks, u->bcap, u->nblocks + 1);
    u->blocks[u->nblocks++] = j->block;
done:
    memset(&j->block, 0, sizeof(j->block));
    rn_http_respond(j->req, 201, NULL, NULL, 0);
}

/* J_ASSEMBLE and J_PUTBLOB: the zip is whole; the staged blocks are no longer needed. */
static void answer_assembled(struct job *j)
{
    struct upload *u = j->up;

    u->busy = false;
    if (j->kind == J_PUTBLOB)
        u->writes--;
    if (j->r < 0) {
        if (j->kind == J_PUTBLOB)
            u->staged -= j->block.size;
        rn_http_respond_error(j->req, j->r == -EINVAL ? 400 : 500,
                              j->diag.msg[0] ? j->diag.msg : "cannot assemble the blob");
        return;
    }
    if (u->path)
        (void)unlink(u->path);
    free(u->path);
    if (j->inplace) {
        u->path = u->stage;
        u->stage = NULL;
    } else {
        u->path = j->tmp;
        j->tmp = NULL;
    }
    u->size = j->kind == J_PUTBLOB ? j->block.size : j->size;
    stage_release(u); /* the zip is whole: later blocks are refused */
    u->staged = u->size;
    rn_http_respond(j->req, 201, NULL, NULL, 0);
}

static void answer_finalize(struct job *j)
{
    struct rn_artifact_service *s = j->s;
    char *id;

    /* ex_artifact_commit consumed or removed the zip either way. */
    free(j->up->path);
    j->up->path = NULL;
    upload_free(s, j->up);
    if (j->r == -EEXIST) {
        rn_http_respond_twirp_error(j->req, 409, "already_exists", j->diag.msg);
        return;
    }
    if (j->r < 0) {
        GR_LOG_WARN("artifacts: %s", j->diag.msg[0] ? j->diag.msg : gr_strerror(j->r));
        rn_http_respond_twirp_error(j->req, j->r == -EBADMSG ? 400 : 500,
                                    j->r == -EBADMSG ? "invalid_argument" : "internal",
                                    j->diag.msg[0] ? j->diag.msg : "cannot store the artifact");
        return;
    }
    id = u64_str(j->art.id);
    rn_http_respond_json(j->req, 200, json_pack("{s:b,s:s}", "ok", 1, "artifact_id", id));
    free(id);
}

static json_t *artifact_json(const struct rn_artifact_service *s, const struct ex_artifact *a)
{
    char when[32], *id = u64_str(a->id), *size = u64_str(a->size);
    char *digest = gr_xasprintf("sha256:%s", a->sha256);
    json_t *o;

    gr_time_iso8601_ms(a->created_ms, when, sizeof(when));
    o = json_pack("{s:s,s:s,s:s,s:s,s:s,s:s,s:s}", "workflow_run_backend_id", s->run_id,
                  "workflow_job_run_backend_id", s->run_id, "database_id", id, "name", a->name,
                  "size", size, "created_at", when, "digest", digest);
    free(id);
    free(size);
    free(digest);
    return o;
}

static void answer_list(struct job *j)
{
    json_t *arr = json_array();

    if (j->r < 0) {
        json_decref(arr);
        rn_http_respond_twirp_error(j->req, 500, "internal", "cannot list the artifacts");
        return;
    }
    for (size_t i = 0; i < j->nlist; i++) {
        const struct ex_artifact *a = &j->list[i];
        if ((j->name && strcmp(a->name, j->name)) || (j->size && a->id != j->size))
            continue;
        json_array_append_new(arr, artifact_json(j->s, a));
    }
    rn_http_respond_json(j->req, 200, json_pack("{s:o}", "artifacts", arr));
}

static void answer_url(struct job *j)
{
    char blob[32], *url;

    if (j->r < 0) {
        rn_http_respond_twirp_error(j->req, j->r == GR_ENOTFOUND ? 404 : 500,
                                    j->r == GR_ENOTFOUND ? "not_found" : "internal",
                                    "artifact not found");
        return;
    }
    (void)snprintf(blob, sizeof(blob), "dl-%llu", (unsigned long long)j->art.id);
    url = signed_url(j->s, blob, j->s->url_ttl_s ? j->s->url_ttl_s : DOWNLOAD_TTL_S);
    rn_http_respond_json(j->req, 200, json_pack("{s:s}", "signed_url", url));
    free(url);
}

static void answer_delete(struct job *j)
{
    char *id;

    if (j->r < 0) {
        rn_http_respond_twirp_error(j->req, j->r == GR_ENOTFOUND ? 404 : 500,
                                    j->r == GR_ENOTFOUND ? "not_found" : "internal",
                                    "artifact not found");
        return;
    }
    id = u64_str(j->art.id);
    rn_http_respond_json(j->req, 200, json_pack("{s:b,s:s}", "ok", 1, "artifact_id", id));
    free(id);
}

static void answer_download(struct job *j)
{
    char *path;

    if (j->r < 0) {
        rn_http_respond_error(j->req, 404, "The specified blob does not exist.");
        return;
    }
    path = ex_artifact_path(j->s->store, j->art.name);
    rn_http_respond_file(j->req, 200, "application/zip", path);
    free(path);
}

static void after_work_cb(uv_work_t *w, int status)
{
    struct job *j = gr_container_of(w, struct job, w);
    struct rn_artifact_service *s = j->s;

    (void)status;
    switch (j->kind) {
    case J_CREATE:
        answer_create(j);
        break;
    case J_BLOCK:
        answer_block(j);
        break;
    case J_ASSEMBLE:
    case J_PUTBLOB:
        answer_assembled(j);
        break;
    case J_FINALIZE:
        answer_finalize(j);
        break;
    case J_LIST:
        answer_list(j);
        break;
    case J_URL:
        answer_url(j);
        break;
    case J_DELETE:
        answer_delete(j);
        break;
    case J_DOWNLOAD:
        answer_download(j);
        break;
    }
    job_free(j);
    s->work--;
    service_maybe_free(s);
}

static void queue(struct rn_artifact_service *s, struct job *j)
{
    j->s = s;
    s->work++;
    if (uv_queue_work(s->loop, &j->w, work_cb, after_work_cb) == 0)
        return;
    /* Only fails for a NULL callback; answer as the job would on an I/O error. */
    j->r = -EIO;
    after_work_cb(&j->w, 0);
}

/* ---- Twirp handlers ------------------------------------------------------- */

/* Retention from expires_at (RFC 3339), rounded up to whole days; 0 when absent. */
static int retention_days(json_t *expires)
{
    const char *v = json_string_value(expires);
    struct tm tm = {0};
    time_t t, now = time(NULL);

    if (!v || !strptime(v, "%Y-%m-%dT%H:%M:%S", &tm))
        return 0;
    t = timegm(&tm);
    return t > now ? (int)((t - now + 86399) / 86400) : 0;
}

static void t_create(struct rn_artifact_service *s, struct rn_http_req *req, json_t *body)
{
    const char *name = json_string_value(json_object_get(body, "name"));
    struct gr_diag d = {0};
    struct upload *u;
    struct job *j;

    if (ex_artifact_name_check(name, &d) < 0) {
        rn_http_respond_twirp_error(req, 400, "invalid_argument", d.msg);
        return;
    }
    if (upload_by_name(s, name)) {
        rn_http_respond_twirp_error(req, 409, "already_exists",
                                    "an upload of this artifact is in progress");
        return;
    }
    u = gr_xcalloc(1, sizeof(*u));
    u->stage_fd = -1;
    u->id = s->next_id++;
    u->name = gr_xstrdup(name);
    u->retention_days = retention_days(json_object_get(body, "expires_at"));
    u->next = s->uploads;
    s->uploads = u;
    j = job_new(req, J_CREATE);
    j->up = u;
    j->name = gr_xstrdup(name);
    queue(s, j);
}

static void t_finalize(struct rn_artifact_service *s, struct rn_http_req *req, json_t *body)
{
    struct upload *u = upload_by_name(s, json_string_value(json_object_get(body, "name")));
    json_t *hash = json_object_get(body, "hash");
    uint64_t size = 0;
    struct job *j;

    if (json_u64(json_object_get(body, "size"), &size) < 0) {
        rn_http_respond_twirp_error(req, 400, "invalid_argument", "size is required");
        return;
    }
    if (!u || !u->created) {
        rn_http_respond_twirp_error(req, 404, "not_found",
                                    "no upload was created for this artifact");
        return;
    }
    if (u->busy || u->writes) {
        rn_http_respond_twirp_error(req, 409, "failed_precondition",
                                    "the upload is still in progress");
        return;
    }
    if (!u->path) {
        rn_http_respond_twirp_error(req, 400, "failed_precondition",
                                    "no blob was committed for this artifact");
        return;
    }
    u->busy = true;
    j = job_new(req, J_FINALIZE);
    j->up = u;
    j->size = size;
    /* google.protobuf.StringValue maps to a plain string in JSON; accept {"value": ..} too. */
    if (json_is_object(hash))
        hash = json_object_get(hash, "value");
    if (json_string_value(hash))
        j->hash = gr_xstrdup(json_string_value(hash));
    queue(s, j);
}

static void t_list(struct rn_artifact_service *s, struct rn_http_req *req, json_t *body)
{
    json_t *name = json_object_get(body, "name_filter"), *id = json_object_get(body, "id_filter");
    struct job *j = job_new(req, J_LIST);

    if (json_is_object(name))
        name = json_object_get(name, "value");
    if (json_is_object(id))
        id = json_object_get(id, "value");
    if ((name && !json_is_string(name)) || (id && json_u64(id, &j->size) < 0)) {
        job_free(j);
        rn_http_respond_twirp_error(req, 400, "invalid_argument",
                                    "invalid name_filter or id_filter");
        return;
    }
    if (name)
        j->name = gr_xstrdup(json_string_value(name));
    queue(s, j);
}

static void t_by_name(struct rn_artifact_service *s, struct rn_http_req *req, json_t *body,
                      enum job_kind kind)
{
    const char *name = json_string_value(json_object_get(body, "name"));
    struct gr_diag d = {0};
    struct job *j;

    if (ex_artifact_name_check(name, &d) < 0) {
        rn_http_respond_twirp_error(req, 400, "invalid_argument", d.msg);
        return;
    }
    j = job_new(req, kind);
    j->name = gr_xstrdup(name);
    queue(s, j);
}

static void h_twirp(struct rn_http_req *req, void *ctx)
{
    struct rn_artifact_service *s = ctx;
    const char *method = req->path + strlen(TWIRP_PREFIX);
    const char *run;
    json_t *body;

    if (!rn_http_req_bearer_ok(req, s->token)) {
        rn_http_respond_twirp_error(req, 401, "unauthenticated", "missing or invalid bearer token");
        return;
    }
    body = json_loadb(req->body.ptr, req->body.len, 0, NULL);
    if (!json_is_object(body)) {
        json_decref(body);
        rn_http_respond_twirp_error(req, 400, "malformed",
                                    "the request body must be a JSON object");
        return;
    }
    run = json_string_value(json_object_get(body, "workflow_run_backend_id"));
    if (run && strcmp(run, s->run_id))
        rn_http_respond_twirp_error(req, 404, "not_found", "unknown workflow run");
    else if (!strcmp(method, "CreateArtifact"))
        t_create(s, req, body);
    else if (!strcmp(method, "FinalizeArtifact"))
        t_finalize(s, req, body);
    else if (!strcmp(method, "ListArtifacts"))
        t_list(s, req, body);
    else if (!strcmp(method, "GetSignedArtifactURL"))
        t_by_name(s, req, body, J_URL);
    else if (!strcmp(method, "DeleteArtifact"))
        t_by_name(s, req, body, J_DELETE);
    else
        rn_http_respond_twirp_error(req, 404, "bad_route", "no such method");
    json_decref(body);
}

/* ---- blob handlers -------------------------------------------------------- */

/* "<prefix><digits>" -> the number, or 0. */
static uint64_t blob_id(const char *name, const char *prefix)
{
    uint64_t id = 0;

    if (!gr_startswith(name, prefix) || !name[strlen(prefix)])
        return 0;
    for (const char *p = name + strlen(prefix); *p; p++) {
        if (*p < '0' || *p > '9' || id > UINT64_MAX / 10 - 10)
            return 0;
        id = id * 10 + (uint64_t)(*p - '0');
    }
    return id;
}

/* Block ids from <BlockList><Latest|Committed|Uncommitted>ID</...>...</BlockList>, in order. */
static int parse_block_list(const char *xml, struct job *j)
{
    static const char *tags[] = {"<Latest>", "<Committed>", "<Uncommitted>"};
    const char *p = xml;

    if (!strstr(xml, "<BlockList>") || !strstr(xml, "</BlockList>"))
        return -EINVAL;
    while ((p = strchr(p, '<')) != NULL) {
        size_t t;
        const char *end;

        for (t = 0; t < GR_ARRAY_SIZE(tags); t++)
            if (gr_startswith(p, tags[t]))
                break;
        if (t == GR_ARRAY_SIZE(tags)) {
            p++;
            continue;
        }
        p += strlen(tags[t]);
        end = strchr(p, '<');
        if (!end || end == p || j->norder >= MAX_BLOCKS)
            return -EINVAL;
        if (j->norder % 64 == 0)
            j->order = gr_xrealloc(j->order, (j->norder + 64) * sizeof(*j->order));
        j->order[j->norder++] = gr_xstrndup(p, (size_t)(end - p));
        p = end;
    }
    return 0;
}

static void blob_stage(struct rn_artifact_service *s, struct rn_http_req *req, struct upload *u,
                       enum job_kind kind)
{
    char *id = kind == J_BLOCK ? rn_http_req_query(req, "blockid") : NULL;
    struct job *j;

    if (kind == J_BLOCK && (!id || !*id || strlen(id) > 128 || u->nblocks >= MAX_BLOCKS)) {
        free(id);
        rn_http_respond_error(req, 400, "a block needs a blockid of at most 128 bytes");
        return;
    }
    if (u->staged + req->body.len > s->max_size) {
        free(id);
        rn_http_respond_error(req, 413, "the artifact is larger than this runner accepts");
        return;
    }
    if (kind == J_BLOCK && u->stage_fd < 0) {
        free(id);
        rn_http_respond_error(req, 409, "the blob was committed already");
        return;
    }
    j = job_new(req, kind);
    j->up = u;
    j->block.id = id;
    if (kind == J_BLOCK) {
        j->fd = u->stage_fd;
        j->block.off = u->stage_end;
        j->block.size = req->body.len;
        u->stage_end += req->body.len;
    }
    u->writes++;
    u->staged += req->body.len;
    if (kind == J_PUTBLOB)
        u->busy = true;
    queue(s, j);
}

static void blob_commit(struct rn_artifact_service *s, struct rn_http_req *req, struct upload *u)
{
    struct job *j = job_new(req, J_ASSEMBLE);

    if (u->writes) {
        job_free(j);
        rn_http_respond_error(req, 409, "blocks are still being written");
        return;
    }
    if (parse_block_list(req->body.ptr, j) < 0) {
        job_free(j);
        rn_http_respond_error(req, 400, "invalid block list");
        return;
    }
    j->up = u;
    u->busy = true;
    queue(s, j);
}

static void h_blob_put(struct rn_http_req *req, void *ctx)
{
    struct rn_artifact_service *s = ctx;
    const char *name = req->path + strlen(BLOB_PREFIX);
    uint64_t id = blob_id(name, "up-");
    struct upload *u = id && signature_ok(s, req, name) ? upload_by_id(s, id) : NULL;
    char *comp;

    if (!u || !u->created) {
        rn_http_respond_error(req, 403, "invalid or expired upload URL");
        return;
    }
    if (u->busy) {
        rn_http_respond_error(req, 409, "the upload is not accepting data");
        return;
    }
    comp = rn_http_req_query(req, "comp");
    if (comp && !strcmp(comp, "block"))
        blob_stage(s, req, u, J_BLOCK);
    else if (comp && !strcmp(comp, "blocklist"))
        blob_commit(s, req, u);
    else if (comp)
        rn_http_respond_error(req, 400, "unsupported blob operation");
    else if (u->writes)
        rn_http_respond_error(req, 409, "blocks are still being written");
    else
        blob_stage(s, req, u, J_PUTBLOB);
    free(comp);
}

static void h_blob_get(struct rn_http_req *req, void *ctx)
{
    struct rn_artifact_service *s = ctx;
    const char *name = req->path + strlen(BLOB_PREFIX);
    uint64_t id = blob_id(name, "dl-");
    struct job *j;

    if (!id || !signature_ok(s, req, name)) {
        rn_http_respond_error(req, 403, "invalid or expired download URL");
        return;
    }
    j = job_new(req, J_DOWNLOAD);
    j->id = id;
    queue(s, j);
}

static const struct rn_httpd_route own_routes[] = {
    {.method = "POST", .prefix = TWIRP_PREFIX, .max_body = JSON_MAX, .fn = h_twirp},
    {.method = "PUT", .prefix = BLOB_PREFIX, .max_body = BLOCK_MAX, .fn = h_blob_put},
    {.method = "GET", .prefix = BLOB_PREFIX, .max_body = 0, .fn = h_blob_get},
};

/* ---- lifecycle ------------------------------------------------------------ */

static void b64url(const void *data, size_t len, struct gr_buf *out)
{
    static const char tbl[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    const unsigned char *p = data;

    for (size_t i = 0; i < len; i += 3) {
        uint32_t v = (uint32_t)p[i] << 16;
        size_t n = len - i < 3 ? len - i : 3;
        if (n > 1)
            v |= (uint32_t)p[i + 1] << 8;
        if (n > 2)
            v |= p[i + 2];
        for (size_t k = 0; k < n + 1; k++)
            if (gr_buf_addch(out, tbl[(v >> (18 - 6 * k)) & 63]) < 0)
                abort();
    }
}

char *rn_artifact_token_new(const char *run_backend_id, const char *job_backend_id)
{
    static const char head[] = "{\"alg\":\"HS256\",\"typ\":\"JWT\"}";
    unsigned char sig[32];
    long long now = (long long)time(NULL);
    struct gr_buf b = GR_BUF_INIT(0);
    char *claims = gr_xasprintf("{\"scp\":\"Actions.GenericRead:00000000-0000-0000-0000-"
                                "000000000000 Actions.Results:%s:%s\",\"iat\":%lld,\"exp\":%lld}",
                                run_backend_id, job_backend_id, now, now + 86400);

    if (RAND_bytes(sig, sizeof(sig)) != 1)
        abort();
    b64url(head, strlen(head), &b);
    if (gr_buf_addch(&b, '.') < 0)
        abort();
    b64url(claims, strlen(claims), &b);
    if (gr_buf_addch(&b, '.') < 0)
        abort();
    b64url(sig, sizeof(sig), &b);
    free(claims);
    return gr_buf_detach(&b, NULL);
}

static void service_free(struct rn_artifact_service *s)
{
    while (s->uploads)
        upload_free(s, s->uploads);
    ex_artifact_free(s->store);
    free(s->token);
    free(s->run_id);
    free(s->url);
    free(s);
}

int rn_artifact_service_start(uv_loop_t *loop, const struct rn_artifact_service_opts *opts,
                              struct rn_artifact_service **ret, struct gr_diag *reterr)
{
    struct rn_artifact_service *s = gr_xcalloc(1, sizeof(*s));
    const char *host = opts->host ? opts->host : "127.0.0.1";
    size_t nown = GR_ARRAY_SIZE(own_routes), n = 0;
    int r;

    if (!opts->token || !*opts->token || !opts->run_backend_id || !*opts->run_backend_id ||
        opts->nextra > RN_ARTIFACT_MAX_EXTRA_ROUTES) {
        free(s);
        return gr_diag_set(reterr, -EINVAL, NULL, 0, 0,
                           "the artifact service needs a job token and a run id");
    }
    s->loop = loop;
    s->next_id = 1;
    s->token = gr_xstrdup(opts->token);
    s->run_id = gr_xstrdup(opts->run_backend_id);
    s->max_size = opts->max_size ? opts->max_size : DEFAULT_MAX_SIZE;
    s->url_ttl_s = opts->url_ttl_s;
    if (RAND_bytes(s->secret, sizeof(s->secret)) != 1)
        abort();
    for (size_t i = 0; i < nown; i++) {
        s->routes[n] = own_routes[i];
        s->routes[n++].ctx = s;
    }
    for (size_t i = 0; i < opts->nextra; i++)
        s->routes[n++] = opts->extra[i];
    r = ex_artifact_open(opts->dir, &s->store, reterr);
    if (r == 0) {
        r = rn_httpd_start(loop, host, opts->port, s->routes, n, s, &s->httpd);
        if (r < 0)
            r = gr_diag_set(reterr, r, NULL, 0, 0, "cannot listen on %s:%d: %s", host, opts->port,
                            uv_strerror(r));
    }
    if (r < 0) {
        service_free(s);
        return r;
    }
    s->url = gr_xasprintf("http://%s:%d/", host, rn_httpd_port(s->httpd));
    *ret = s;
    return 0;
}

const char *rn_artifact_service_url(const struct rn_artifact_service *s)
{
    return s->url;
}

int rn_artifact_service_port(const struct rn_artifact_service *s)
{
    return rn_httpd_port(s->httpd);
}

static void service_maybe_free(struct rn_artifact_service *s)
{
    void (*cb)(void *arg) = s->close_cb;
    void *arg = s->close_arg;

    if (!s->httpd_closed || s->work)
        return;
    service_free(s);
    if (cb)
        cb(arg);
}

static void httpd_closed(void *arg)
{
    struct rn_artifact_service *s = arg;

    s->httpd_closed = true;
    service_maybe_free(s);
}

void rn_artifact_service_close(struct rn_artifact_service *s, void (*cb)(void *arg), void *arg)
{
    s->close_cb = cb;
    s->close_arg = arg;
    rn_httpd_close(s->httpd, httpd_closed, s);
}
