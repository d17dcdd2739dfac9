/*
 * The artifact client of jobs from GitHub (artifact_client.h): what @actions/artifact 2.x does
 * for upload-artifact@v4 and download-artifact@v4 (toolkit packages/artifact/src/internal):
 *
 * - the backend ids come from the runtime token's scp claim (shared/util.ts);
 * - Twirp JSON POSTs with proto field names and int64 values as strings to
 *   <origin of ACTIONS_RESULTS_URL>/twirp/github.actions.results.api.v1.ArtifactService/<method>
 *   with the token as bearer (shared/artifact-twirp-client.ts, shared/config.ts);
 * - upload (upload/upload-artifact.ts, upload/blob-upload.ts): CreateArtifact (mime_type
 *   application/zip, version 7, expires_at for a retention) gives a signed Azure blob URL; the
 *   zip goes there as BlockBlobClient.uploadStream sends it, 8 MiB blocks
 *   (PUT &comp=block&blockid=ID, ids the base64 of a 48-character string of a random prefix and
 *   the zero-padded block number) and then PUT &comp=blocklist with the ids in order; then
 *   FinalizeArtifact with the size and "sha256:<hex>" of the bytes sent;
 * - list (find/list-artifacts.ts): ListArtifacts, the newest of each name (filterLatest);
 * - download (download/download-artifact.ts downloadArtifactInternal): ListArtifacts by id,
 *   GetSignedArtifactURL with that artifact's backend ids, GET of the signed URL;
 * - delete (upload-artifact's overwrite): DeleteArtifact.
 *
 * Retries as the toolkit's: 5 attempts on transport errors and on 429, 500, 502, 503 and 504,
 * the wait growing by 1.4 each time with jitter (GHRUN_RETRY_BASE_MS, default 3000 ms, is the
 * first wait); any other status fails at once with the service's message. Blocks are retried
 * one by one, so a failed block does not resend the whole archive.
 *
 * Every call blocks and runs on the thread pool: one curl easy handle per call (its connection
 * is reused for the call's requests). Errors name the method or the blob operation and the HTTP
 * status, never the token; blob URLs appear without their query (the signature).
 */
#include "artifact_client.h"
#include "http.h"
#include "protocol.h"

#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define SVC_PATH "/twirp/github.actions.results.api.v1.ArtifactService/"
#define BLOCK_SIZE (8u << 20) /* shared/config.ts getUploadChunkSize */
#define ATTEMPTS 5
#define RETRY_BASE_MS 3000
#define JSON_MAX (8u << 20)
#define ERRBODY_MAX 300
#define TOKEN_MAX (64u << 10)
#define XMS_VERSION "2024-11-04"

struct cl {
    const struct ex_artifact_call *c;
    char *run, *job; /* backend ids */
    char *origin;    /* scheme://host[:port] of ACTIONS_RESULTS_URL */
    CURL *curl;
};

/* One HTTP exchange: a request body from memory, the answer into resp or to out_fd. */
struct xfer {
    CURL *h;
    const char *method;
    const char *url;
    struct curl_slist *headers;
    const void *body;
    size_t body_len, body_off;
    struct gr_buf resp;
    int out_fd; /* >= 0: the answer's body goes there, hashed into md */
    EVP_MD_CTX *md;
    bool write_failed;
    long status;
};

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;

static void curl_init_once(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
}

/* ---- the token and the URL -------------------------------------------------------------- */

static int ids_of_scope(const char *scope, size_t n, char **ret_run, char **ret_job)
{
    static const char pfx[] = "Actions.Results:";
    const char *a, *b, *end = scope + n;

    if (n <= sizeof(pfx) - 1 || memcmp(scope, pfx, sizeof(pfx) - 1) != 0)
        return -ENOENT;
    a = scope + sizeof(pfx) - 1;
    b = memchr(a, ':', (size_t)(end - a));
    if (!b || b == a || b + 1 == end || memchr(b + 1, ':', (size_t)(end - b - 1)))
        return -EINVAL; /* exactly two ids */
    *ret_run = gr_xstrndup(a, (size_t)(b - a));
    *ret_job = gr_xstrndup(b + 1, (size_t)(end - b - 1));
    return 0;
}

int rn_artifact_backend_ids(const char *token, char **ret_run, char **ret_job,
                            struct gr_diag *reterr)
{
    const char *p1 = token ? strchr(token, '.') : NULL, *p2 = p1 ? strchr(p1 + 1, '.') : NULL;
    unsigned char *raw = NULL;
    size_t len = 0;
    json_t *claims = NULL;
    const char *scp;
    int r = -EINVAL;

    if (p2 && strlen(token) < TOKEN_MAX &&
        rn_b64_decode(p1 + 1, (size_t)(p2 - p1 - 1), &raw, &len) == 0)
        claims = json_loadb((const char *)raw, len, 0, NULL);
    scp = json_string_value(json_object_get(claims, "scp"));
    for (const char *s = scp; s && *s && r == -EINVAL;) {
        size_t n = strcspn(s, " ");

        if (n && ids_of_scope(s, n, ret_run, ret_job) == 0)
            r = 0;
        else if (n && ids_of_scope(s, n, ret_run, ret_job) == -EINVAL)
            break;
        s += n + (s[n] == ' ');
    }
    json_decref(claims);
    free(raw);
    if (r < 0)
        return gr_diag_set(reterr, -EINVAL, NULL, 0, 0,
                           "Failed to get backend IDs: The provided JWT token is invalid and/or "
                           "missing claims (ACTIONS_RUNTIME_TOKEN needs an Actions.Results scope)");
    return 0;
}

/* "scheme://host[:port]" of url (shared/config.ts getResultsServiceUrl keeps the origin). */
static char *origin_of(const char *url)
{
    const char *s = url ? strstr(url, "://") : NULL;

    if (!s || s == url || !s[3] || s[3] == '/')
        return NULL;
    s += 3;
    return gr_xstrndup(url, (size_t)(s - url) + strcspn(s, "/?#"));
}

static void cl_release(struct cl *cl)
{
    free(cl->run);
    free(cl->job);
    free(cl->origin);
    if (cl->curl)
        curl_easy_cleanup(cl->curl);
}

static int cl_init(struct cl *cl, const struct ex_artifact_call *c, struct gr_diag *d)
{
    *cl = (struct cl){.c = c};
    if (!c->token || !*c->token)
        return gr_diag_set(d, -EINVAL, NULL, 0, 0,
                           "Unable to get the ACTIONS_RUNTIME_TOKEN env variable");
    if (!c->url || !*c->url)
        return gr_diag_set(d, -EINVAL, NULL, 0, 0,
                           "Unable to get the ACTIONS_RESULTS_URL env variable");
    cl->origin = origin_of(c->url);
    if (!cl->origin)
        return gr_diag_set(d, -EINVAL, NULL, 0, 0, "ACTIONS_RESULTS_URL '%s' is not a URL", c->url);
    pthread_once(&curl_once, curl_init_once);
    cl->curl = curl_easy_init();
    if (!cl->curl)
        return gr_diag_set(d, GR_ECURL, NULL, 0, 0, "cannot start a transfer");
    return rn_artifact_backend_ids(c->token, &cl->run, &cl->job, d);
}

static void logf_(struct cl *cl, const char *fmt, ...) GR_PRINTF(2, 3);
static void logf_(struct cl *cl, const char *fmt, ...)
{
    char line[600];
    va_list ap;

    if (!cl->c->log)
        return;
    va_start(ap, fmt);
    vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    cl->c->log(cl->c->log_arg, line);
}

/* ---- HTTP ------------------------------------------------------------------------------- */

static size_t on_read(char *buf, size_t size, size_t n, void *arg)
{
    struct xfer *x = arg;
    size_t k = x->body_len - x->body_off;

    if (k > size * n)
        k = size * n;
    memcpy(buf, (const char *)x->body + x->body_off, k);
    x->body_off += k;
    return k;
}

static size_t on_write(char *buf, size_t size, size_t n, void *arg)
{
    struct xfer *x = arg;
    size_t len = size * n;

    curl_easy_getinfo(x->h, CURLINFO_RESPONSE_CODE, &x->status);
    if (x->out_fd < 0 || x->status < 200 || x->status >= 300)
        return gr_buf_add(&x->resp, buf, len) < 0 ? 0 : len;
    for (size_t off = 0; off < len;) {
        ssize_t w = write(x->out_fd, buf + off, len - off);

        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            x->write_failed = true;
            return 0;
        }
        off += (size_t)w;
    }
    EVP_DigestUpdate(x->md, buf, len);
    return len;
}

/* A download attempt starts the file and its hash again. */
static int restart_out(struct xfer *x)
{
    if (x->out_fd < 0)
        return 0;
    if (ftruncate(x->out_fd, 0) < 0 || lseek(x->out_fd, 0, SEEK_SET) < 0)
        return -errno;
    return EVP_DigestInit_ex(x->md, EVP_sha256(), NULL) == 1 ? 0 : -EIO;
}

/* One attempt: 0 with x->status set once an answer arrived, or GR_ECURL with err filled. */
static int attempt(struct cl *cl, struct xfer *x, char *err, size_t errlen)
{
    char ebuf[CURL_ERROR_SIZE] = "";
    CURL *h = cl->curl;
    const char *cafile = getenv("GHRUN_CA_FILE");
    CURLcode rc;

    curl_easy_reset(h);
    x->h = h;
    if (restart_out(x) < 0) {
        x->write_failed = true;
        snprintf(err, errlen, "cannot write the download: %s", strerror(errno));
        return -EIO;
    }
    x->body_off = 0;
    x->status = 0;
    gr_buf_release(&x->resp);
    curl_easy_setopt(h, CURLOPT_URL, x->url);
    curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, x->method);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, x->headers);
    curl_easy_setopt(h, CURLOPT_USERAGENT, "ghrun/" GHRUN_VERSION);
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, ebuf);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, 30L);
    curl_easy_setopt(h, CURLOPT_LOW_SPEED_LIMIT, 1L); /* blob-upload.ts: 5 minutes stalled */
    curl_easy_setopt(h, CURLOPT_LOW_SPEED_TIME, 300L);
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
    if (cafile && *cafile)
        curl_easy_setopt(h, CURLOPT_CAINFO, cafile);
    if (x->body) {
        curl_easy_setopt(h, CURLOPT_UPLOAD, 1L);
        curl_easy_setopt(h, CURLOPT_READFUNCTION, on_read);
        curl_easy_setopt(h, CURLOPT_READDATA, x);
        curl_easy_setopt(h, CURLOPT_INFILESIZE_LARGE, (curl_off_t)x->body_len);
    }
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_write);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, x);
    rc = curl_easy_perform(h);
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &x->status);
    if (x->write_failed) {
        x->write_failed = false;
        snprintf(err, errlen, "cannot write the download: %s", strerror(errno));
        return -EIO;
    }
    if (rc != CURLE_OK) {
        snprintf(err, errlen, "%s", ebuf[0] ? ebuf : curl_easy_strerror(rc));
        return GR_ECURL;
    }
    return 0;
}

static const char *reason(long status)
{
    static const struct {
        long code;
        const char *text;
    } t[] = {
        {400, "Bad Request"},       {401, "Unauthorized"},
        {403, "Forbidden"},         {404, "Not Found"},
        {409, "Conflict"},          {413, "Payload Too Large"},
        {429, "Too Many Requests"}, {500, "Internal Server Error"},
        {502, "Bad Gateway"},       {503, "Service Unavailable"},
        {504, "Gateway Timeout"},
    };

    for (size_t i = 0; i < GR_ARRAY_SIZE(t); i++)
        if (t[i].code == status)
            return t[i].text;
    return "";
}

static bool retryable_status(long s)
{
    return s == 429 || s == 500 || s == 502 || s == 503 || s == 504;
}

/* "Failed request: (STATUS) Reason[: msg]" with the Twirp error's msg, when there is one. */
static void status_error(const struct xfer *x, char *err, size_t errlen)
{
    json_t *body = json_loadb(x->resp.ptr, x->resp.len, 0, NULL);
    const char *msg = json_string_value(json_object_get(body, "msg"));

    snprintf(err, errlen, "Failed request: (%ld) %s%s%.*s", x->status, reason(x->status),
             msg ? ": " : "", ERRBODY_MAX, msg ? msg : "");
    json_decref(body);
}

static unsigned retry_wait_ms(int n)
{
    const char *e = getenv("GHRUN_RETRY_BASE_MS");
    double base = e && *e ? strtod(e, NULL) : RETRY_BASE_MS, lo = base;
    unsigned char rnd = 0;

    if (base < 1 || base > 600000)
        base = lo = RETRY_BASE_MS;
    for (int i = 0; i < n; i++)
        lo *= 1.4;
    (void)RAND_bytes(&rnd, 1);
    return (unsigned)(n == 0 ? base : lo + (lo * 0.4) * rnd / 256.0);
}

static void sleep_ms(unsigned ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L};

    while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
        ;
}

/* Scrub the token out of a message that came from elsewhere (a server's error text). */
static void scrub(struct cl *cl, char *msg)
{
    const char *tok = cl->c->token;
    size_t n = strlen(tok);
    char *p;

    if (n < 8)
        return;
    for (p = strstr(msg, tok); p; p = strstr(p + 3, tok)) {
        memmove(p + 3, p + n, strlen(p + n) + 1);
        memcpy(p, "***", 3);
    }
}

/*
 * The exchange x with retries. 0 on a 2xx answer; else the diag says "Failed to WHAT: ..." and
 * the result is GR_EHTTP (x->status holds the final status), GR_ECURL or -errno.
 */
static int perform(struct cl *cl, struct xfer *x, const char *what, struct gr_diag *d)
{
    char err[512];

    for (int n = 0;; n++) {
        int r = attempt(cl, x, err, sizeof(err));
        bool retry;
        unsigned ms;

        if (r == 0 && x->status >= 200 && x->status < 300)
            return 0;
        if (r == -EIO)
            return gr_diag_set(d, r, NULL, 0, 0, "Failed to %s: %s", what, err);
        retry = r < 0 || retryable_status(x->status);
        if (r == 0)
            status_error(x, err, sizeof(err));
        scrub(cl, err);
        if (!retry)
            return gr_diag_set(d, GR_EHTTP, NULL, 0, 0,
                               "Failed to %s: Received non-retryable error: %s", what, err);
        if (n + 1 == ATTEMPTS)
            return gr_diag_set(d, r < 0 ? r : GR_EHTTP, NULL, 0, 0,
                               "Failed to %s: Failed to make request after %d attempts: %s", what,
                               ATTEMPTS, err);
        ms = retry_wait_ms(n);
        logf_(cl, "Attempt %d of %d failed with error: %s. Retrying request in %u ms...", n + 1,
              ATTEMPTS, err, ms);
        sleep_ms(ms);
    }
}

static void xfer_release(struct xfer *x)
{
    curl_slist_free_all(x->headers);
    gr_buf_release(&x->resp);
}

/* POST a Twirp method; body is stolen, *ret the answer (an object). */
static int twirp(struct cl *cl, const char *method, json_t *body, json_t **ret, struct gr_diag *d)
{
    char *url = gr_xasprintf("%s%s%s", cl->origin, SVC_PATH, method);
    char *text = json_dumps(body, JSON_COMPACT),
         *auth = gr_xasprintf("Authorization: Bearer %s", cl->c->token);
    struct xfer x = {.method = "POST",
                     .url = url,
                     .body = text,
                     .body_len = strlen(text),
                     .resp = GR_BUF_INIT(JSON_MAX),
                     .out_fd = -1};
    json_t *ans = NULL;
    int r;

    x.headers = curl_slist_append(x.headers, "Content-Type: application/json");
    x.headers = curl_slist_append(x.headers, "Accept: application/json");
    x.headers = curl_slist_append(x.headers, auth);
    x.headers = curl_slist_append(x.headers, "Expect:");
    r = perform(cl, &x, method, d);
    if (r == 0) {
        ans = json_loadb(x.resp.ptr, x.resp.len, 0, NULL);
        if (!json_is_object(ans))
            r = gr_diag_set(d, GR_EPROTO, NULL, 0, 0, "Failed to %s: the answer is not JSON",
                            method);
    }
    if (r < 0 && x.status == 404)
        r = GR_ENOTFOUND;
    else if (r < 0 && x.status == 409)
        r = -EEXIST;
    if (r == 0)
        *ret = ans;
    else
        json_decref(ans);
    memset(auth, 0, strlen(auth));
    free(auth);
    xfer_release(&x);
    free(text);
    free(url);
    json_decref(body);
    return r;
}

static json_t *ids_body(const struct cl *cl)
{
    return json_pack("{s:s,s:s}", "workflow_run_backend_id", cl->run, "workflow_job_run_backend_id",
                     cl->job);
}

/* An int64 as protobuf JSON has it: a string of digits, or a number. */
static int json_u64(const json_t *v, uint64_t *ret)
{
    const char *s = json_string_value(v);
    char *end;

    if (json_is_integer(v) && json_integer_value(v) >= 0) {
        *ret = (uint64_t)json_integer_value(v);
        return 0;
    }
    if (!s || !*s || *s == '-')
        return -EINVAL;
    errno = 0;
    *ret = strtoull(s, &end, 10);
    return errno || *end ? -EINVAL : 0;
}

/* ---- blob storage ------------------------------------------------------------------------ */

/* The URL with its query left out: what errors may show of a signed URL. */
static char *scrubbed(const char *url)
{
    return gr_xstrndup(url, strcspn(url, "?#"));
}

static char *hex_of(const unsigned char *md, size_t n)
{
    char *out = gr_xmalloc(2 * n + 1);

    for (size_t i = 0; i < n; i++)
        snprintf(out + 2 * i, 3, "%02x", md[i]);
    return out;
}

/* generateBlockID of @azure/storage-blob: base64 of prefix + zero-padded number, 48 chars. */
static char *block_id(const char *prefix, size_t num)
{
    char raw[49], digits[24];
    size_t plen = strlen(prefix), dlen;

    dlen = (size_t)snprintf(digits, sizeof(digits), "%zu", num);
    if (plen > 48 - dlen)
        plen = 48 - dlen;
    memcpy(raw, prefix, plen);
    memset(raw + plen, '0', 48 - plen - dlen);
    memcpy(raw + 48 - dlen, digits, dlen);
    return rn_b64_encode(raw, 48, false);
}

static int put_blob(struct cl *cl, const char *url, const char *extra_header, const void *data,
                    size_t len, const char *what, struct gr_diag *d)
{
    struct xfer x = {.method = "PUT",
                     .url = url,
                     .body = data,
                     .body_len = len,
                     .resp = GR_BUF_INIT(JSON_MAX),
                     .out_fd = -1};
    int r;

    x.headers = curl_slist_append(x.headers, "x-ms-version: " XMS_VERSION);
    x.headers = curl_slist_append(x.headers, "Expect:");
    if (extra_header)
        x.headers = curl_slist_append(x.headers, extra_header);
    r = perform(cl, &x, what, d);
    xfer_release(&x);
    return r;
}

static ssize_t read_full(int fd, char *buf, size_t n)
{
    size_t got = 0;

    while (got < n) {
        ssize_t k = read(fd, buf + got, n - got);

        if (k < 0 && errno == EINTR)
            continue;
        if (k < 0)
            return -errno;
        if (k == 0)
            break;
        got += (size_t)k;
    }
    return (ssize_t)got;
}

/*
 * The blocks of one upload. Like uploadStream's maxConcurrency (shared/config.ts getConcurrency:
 * 32 below 5 CPUs, else 16 per CPU up to 300), several blocks are in flight at once, each on its
 * own thread and connection; here at most 8 by default (GHRUN_ARTIFACT_CONCURRENCY, 1 to 64),
 * since each holds an 8 MiB buffer. The file is read, hashed and numbered in order under the
 * lock; block ids depend on the number only, so the list is committed in file order.
 */
#define UPLOAD_CONCURRENCY 8
#define UPLOAD_CONCURRENCY_MAX 64

struct blocks {
    pthread_mutex_t mu;
    const struct cl *cl; /* shared: the call, ids, origin (each uploader has its own handle) */
    const char *signed_url;
    char prefix[37]; /* a random UUID-like prefix */
    int fd;
    EVP_MD_CTX *md;
    size_t n;      /* blocks read so far: the next block's number */
    uint64_t read; /* bytes read and hashed */
    uint64_t sent; /* bytes whose block was staged */
    bool eof;
    int err; /* the first failure, 0 while none */
    struct gr_diag diag;
};

static int stage_block(struct cl *cl, struct blocks *b, size_t num, const char *data, size_t len,
                       struct gr_diag *d)
{
    char *id = block_id(b->prefix, num), *enc = curl_easy_escape(cl->curl, id, 0);
    char *url = gr_xasprintf("%s%scomp=block&blockid=%s", b->signed_url,
                             strchr(b->signed_url, '?') ? "&" : "?", enc);
    char what[64];
    int r;

    snprintf(what, sizeof(what), "upload block %zu of the artifact", num);
    r = put_blob(cl, url, "Content-Type: application/octet-stream", data, len, what, d);
    curl_free(enc);
    free(url);
    free(id);
    return r;
}

/* Under b->mu: the next block into buf. >0 its length (*ret_num its number), 0 at the end. */
static ssize_t next_block(struct blocks *b, char *buf, size_t *ret_num)
{
    ssize_t n;

    if (b->err || b->eof)
        return 0;
    n = read_full(b->fd, buf, BLOCK_SIZE);
    if (n < 0) {
        b->err = gr_diag_set(&b->diag, (int)n, NULL, 0, 0, "cannot read the artifact: %s",
                             gr_strerror((int)n));
        return 0;
    }
    if (n == 0) {
        b->eof = true;
        return 0;
    }
    EVP_DigestUpdate(b->md, buf, (size_t)n);
    b->read += (uint64_t)n;
    *ret_num = b->n++;
    return n;
}

static void *uploader(void *arg)
{
    struct blocks *b = arg;
    struct cl cl = *b->cl;
    char *buf = gr_xmalloc(BLOCK_SIZE);

    cl.curl = curl_easy_init();
    for (;;) {
        struct gr_diag d = {0};
        size_t num = 0;
        ssize_t n;
        int r;

        pthread_mutex_lock(&b->mu);
        n = cl.curl ? next_block(b, buf, &num) : 0;
        if (!cl.curl && !b->err)
            b->err = gr_diag_set(&b->diag, GR_ECURL, NULL, 0, 0, "cannot start a transfer");
        pthread_mutex_unlock(&b->mu);
        if (n <= 0)
            break;
        r = stage_block(&cl, b, num, buf, (size_t)n, &d);
        pthread_mutex_lock(&b->mu);
        if (r < 0 && !b->err) {
            b->err = r;
            b->diag = d;
        } else if (r == 0) {
            b->sent += (uint64_t)n;
            logf_(&cl, "Uploaded bytes %llu", (unsigned long long)b->sent);
        }
        pthread_mutex_unlock(&b->mu);
        if (r < 0)
            break;
    }
    if (cl.curl)
        curl_easy_cleanup(cl.curl);
    free(buf);
    return NULL;
}

static unsigned upload_concurrency(void)
{
    const char *e = getenv("GHRUN_ARTIFACT_CONCURRENCY");
    long v = e && *e ? strtol(e, NULL, 10) : UPLOAD_CONCURRENCY;

    return v >= 1 && v <= UPLOAD_CONCURRENCY_MAX ? (unsigned)v : UPLOAD_CONCURRENCY;
}

static int commit_blocks(struct cl *cl, const struct blocks *b, struct gr_diag *d)
{
    const char *sep = strchr(b->signed_url, '?') ? "&" : "?";
    char *url = gr_xasprintf("%s%scomp=blocklist", b->signed_url, sep);
    struct gr_buf xml = GR_BUF_INIT(64u << 20);
    struct xfer x = {.method = "PUT", .url = url, .resp = GR_BUF_INIT(JSON_MAX), .out_fd = -1};
    int r = gr_buf_adds(&xml, "<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"yes\"?>"
                              "<BlockList>");

    for (size_t i = 0; r == 0 && i < b->n; i++) {
        char *id = block_id(b->prefix, i);

        r = gr_buf_addf(&xml, "<Latest>%s</Latest>", id);
        free(id);
    }
    if (r == 0)
        r = gr_buf_adds(&xml, "</BlockList>");
    if (r < 0) {
        r = gr_diag_set(d, -E2BIG, NULL, 0, 0,
                        "Failed to commit the artifact's block list: "
                        "too many blocks");
        goto out;
    }
    x.body = xml.ptr;
    x.body_len = xml.len;
    x.headers = curl_slist_append(x.headers, "x-ms-version: " XMS_VERSION);
    x.headers = curl_slist_append(x.headers, "x-ms-blob-content-type: application/zip");
    x.headers = curl_slist_append(x.headers, "Content-Type: application/xml");
    x.headers = curl_slist_append(x.headers, "Expect:");
    r = perform(cl, &x, "commit the artifact's block list", d);
out:
    xfer_release(&x);
    gr_buf_release(&xml);
    free(url);
    return r;
}

/*
 * uploadToBlobStorage: the file in blocks, several at once, then the block list; size and
 * SHA-256 of it.
 */
static int blob_upload(struct cl *cl, const char *signed_url, const char *path, uint64_t *ret_size,
                       char **ret_hex, struct gr_diag *d)
{
    struct blocks b = {.cl = cl, .signed_url = signed_url};
    unsigned char rnd[18], md[EVP_MAX_MD_SIZE];
    unsigned mdlen = 0, want = upload_concurrency(), started = 0;
    pthread_t th[UPLOAD_CONCURRENCY_MAX];
    struct stat st;
    int r = 0;

    pthread_mutex_init(&b.mu, NULL);
    b.fd = open(path, O_RDONLY | O_CLOEXEC);
    b.md = EVP_MD_CTX_new();
    if (b.fd < 0 || !b.md || EVP_DigestInit_ex(b.md, EVP_sha256(), NULL) != 1 ||
        RAND_bytes(rnd, sizeof(rnd)) != 1) {
        r = gr_diag_set(d, b.fd < 0 ? -errno : -EIO, NULL, 0, 0, "cannot read '%s': %s", path,
                        b.fd < 0 ? strerror(errno) : "no SHA-256");
        goto out;
    }
    for (size_t i = 0; i < sizeof(rnd); i++)
        snprintf(b.prefix + 2 * i, 3, "%02x", rnd[i]);
    /* no more uploaders than blocks; an empty file is one thread finding the end */
    if (fstat(b.fd, &st) == 0 && st.st_size >= 0) {
        uint64_t blocks = ((uint64_t)st.st_size + BLOCK_SIZE - 1) / BLOCK_SIZE;

        if (blocks < want)
            want = blocks ? (unsigned)blocks : 1;
    }
    for (; started < want; started++)
        if (pthread_create(&th[started], NULL, uploader, &b) != 0)
            break;
    if (started == 0)
        uploader(&b);
    for (unsigned i = 0; i < started; i++)
        pthread_join(th[i], NULL);
    if (b.err) {
        *d = b.diag;
        r = b.err;
        goto out;
    }
    r = commit_blocks(cl, &b, d);
    if (r < 0)
        goto out;
    EVP_DigestFinal_ex(b.md, md, &mdlen);
    *ret_size = b.read;
    *ret_hex = hex_of(md, mdlen);
out:
    if (b.fd >= 0)
        close(b.fd);
    EVP_MD_CTX_free(b.md);
    pthread_mutex_destroy(&b.mu);
    return r;
}

/* ---- the operations ---------------------------------------------------------------------- */

static void expires_at(json_t *body, int days)
{
    time_t t = time(NULL) + (time_t)days * 86400;
    struct tm tm;
    char ts[32];

    gmtime_r(&t, &tm);
    strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%SZ", &tm);
    json_object_set_new(body, "expires_at", json_string(ts));
}

static int create(struct cl *cl, const char *name, int retention_days, char **ret_url,
                  struct gr_diag *d)
{
    json_t *body = ids_body(cl), *ans = NULL;
    const char *url;
    int r;

    json_object_set_new(body, "name", json_string(name));
    json_object_set_new(body, "mime_type", json_string("application/zip"));
    json_object_set_new(body, "version", json_integer(7));
    if (retention_days > 0)
        expires_at(body, retention_days);
    r = twirp(cl, "CreateArtifact", body, &ans, d);
    if (r < 0)
        return r;
    url = json_string_value(json_object_get(ans, "signed_upload_url"));
    if (!json_is_true(json_object_get(ans, "ok")) || !url || !*url)
        r = gr_diag_set(d, GR_EPROTO, NULL, 0, 0,
                        "CreateArtifact: response from backend was not ok");
    else
        *ret_url = gr_xstrdup(url);
    json_decref(ans);
    return r;
}

static int finalize(struct cl *cl, const char *name, uint64_t size, const char *hex,
                    uint64_t *ret_id, struct gr_diag *d)
{
    json_t *body = ids_body(cl), *ans = NULL;
    char *hash = gr_xasprintf("sha256:%s", hex), num[24];
    int r;

    snprintf(num, sizeof(num), "%llu", (unsigned long long)size);
    json_object_set_new(body, "name", json_string(name));
    json_object_set_new(body, "size", json_string(num));
    json_object_set_new(body, "hash", json_string(hash));
    free(hash);
    r = twirp(cl, "FinalizeArtifact", body, &ans, d);
    if (r == 0 && (!json_is_true(json_object_get(ans, "ok")) ||
                   json_u64(json_object_get(ans, "artifact_id"), ret_id) < 0))
        r = gr_diag_set(d, GR_EPROTO, NULL, 0, 0,
                        "FinalizeArtifact: response from backend was not ok");
    json_decref(ans);
    return r;
}

static int cl_upload(void *ctx, const struct ex_artifact_call *c, const char *name,
                     const char *path, int retention_days, struct ex_artifact *ret,
                     struct gr_diag *d)
{
    struct cl cl;
    char *url = NULL, *hex = NULL;
    uint64_t size = 0, id = 0;
    int r;

    (void)ctx;
    r = cl_init(&cl, c, d);
    if (r == 0)
        r = create(&cl, name, retention_days, &url, d);
    if (r < 0)
        goto out;
    logf_(&cl, "Uploading artifact: %s.zip", name);
    r = blob_upload(&cl, url, path, &size, &hex, d);
    if (r < 0)
        goto out;
    logf_(&cl, "SHA256 digest of uploaded artifact is %s", hex);
    logf_(&cl, "Finalizing artifact upload");
    r = finalize(&cl, name, size, hex, &id, d);
    if (r < 0)
        goto out;
    logf_(&cl, "Artifact %s successfully finalized. Artifact ID %llu", name,
          (unsigned long long)id);
    if (ret) {
        *ret = (struct ex_artifact){.id = id, .name = gr_xstrdup(name), .size = size};
        snprintf(ret->sha256, sizeof(ret->sha256), "%s", hex);
    }
out:
    free(hex);
    free(url);
    cl_release(&cl);
    return r;
}

/* RFC 3339 (protobuf Timestamp JSON) to Unix milliseconds; 0 when it is not one. */
static int64_t ts_ms(const char *s)
{
    struct tm tm = {0};
    const char *rest = s ? strptime(s, "%Y-%m-%dT%H:%M:%S", &tm) : NULL;

    return rest ? (int64_t)timegm(&tm) * 1000 : 0;
}

static int cmp_id_desc(const void *a, const void *b)
{
    const struct ex_artifact *x = a, *y = b;

    return x->id < y->id ? 1 : x->id > y->id ? -1 : 0;
}

static int cmp_id(const void *a, const void *b)
{
    return -cmp_id_desc(a, b);
}

/* The answer's artifacts: valid ones only, the newest of each name, by id. */
static size_t parse_list(const json_t *arts, struct ex_artifact *v)
{
    size_t n = 0, i, kept = 0;
    json_t *a;

    json_array_foreach(arts, i, a)
    {
        const char *name = json_string_value(json_object_get(a, "name"));
        const char *dg = json_string_value(json_object_get(a, "digest"));
        struct ex_artifact x = {0};

        if (!name || json_u64(json_object_get(a, "database_id"), &x.id) < 0)
            continue;
        (void)json_u64(json_object_get(a, "size"), &x.size);
        x.created_ms = ts_ms(json_string_value(json_object_get(a, "created_at")));
        if (dg && !strncmp(dg, "sha256:", 7))
            snprintf(x.sha256, sizeof(x.sha256), "%s", dg + 7);
        x.name = gr_xstrdup(name);
        v[n++] = x;
    }
    if (n)
        qsort(v, n, sizeof(*v), cmp_id_desc);
    for (i = 0; i < n; i++) { /* filterLatest */
        bool seen = false;

        for (size_t k = 0; k < kept && !seen; k++)
            seen = !strcmp(v[k].name, v[i].name);
        if (seen)
            ex_artifact_release(&v[i]);
        else
            v[kept++] = v[i];
    }
    if (kept)
        qsort(v, kept, sizeof(*v), cmp_id);
    return kept;
}

static int list_call(struct cl *cl, json_t *body, json_t **ret_arts, struct gr_diag *d)
{
    json_t *ans = NULL;
    int r = twirp(cl, "ListArtifacts", body, &ans, d);

    if (r < 0)
        return r;
    *ret_arts = json_incref(json_object_get(ans, "artifacts"));
    json_decref(ans);
    if (*ret_arts && !json_is_array(*ret_arts)) {
        json_decref(*ret_arts);
        *ret_arts = NULL;
        return gr_diag_set(d, GR_EPROTO, NULL, 0, 0, "ListArtifacts: artifacts is not a list");
    }
    return 0;
}

static int cl_list(void *ctx, const struct ex_artifact_call *c, const char *name,
                   struct ex_artifact **ret, size_t *ret_n, struct gr_diag *d)
{
    struct cl cl;
    json_t *body, *arts = NULL;
    struct ex_artifact *v;
    size_t n;
    int r;

    (void)ctx;
    r = cl_init(&cl, c, d);
    if (r < 0)
        goto out;
    body = ids_body(&cl);
    if (name)
        json_object_set_new(body, "name_filter", json_string(name));
    r = list_call(&cl, body, &arts, d);
    if (r < 0)
        goto out;
    v = gr_xcalloc(json_array_size(arts) + 1, sizeof(*v));
    n = parse_list(arts, v);
    logf_(&cl, "Found %zu artifact(s)", n);
    *ret = v;
    *ret_n = n;
out:
    json_decref(arts);
    cl_release(&cl);
    return r;
}

/* The signed download URL of artifact id (ListArtifacts by id, then GetSignedArtifactURL). */
static int signed_url(struct cl *cl, uint64_t id, char **ret, struct gr_diag *d)
{
    json_t *body = ids_body(cl), *arts = NULL, *ans = NULL, *a;
    char num[24];
    const char *url;
    int r;

    snprintf(num, sizeof(num), "%llu", (unsigned long long)id);
    json_object_set_new(body, "id_filter", json_string(num));
    r = list_call(cl, body, &arts, d);
    if (r < 0)
        return r;
    a = json_array_get(arts, 0);
    if (!a) {
        json_decref(arts);
        return gr_diag_set(d, GR_ENOTFOUND, NULL, 0, 0, "No artifacts found for ID: %s", num);
    }
    body = json_pack("{s:O?,s:O?,s:O?}", "workflow_run_backend_id",
                     json_object_get(a, "workflow_run_backend_id"), "workflow_job_run_backend_id",
                     json_object_get(a, "workflow_job_run_backend_id"), "name",
                     json_object_get(a, "name"));
    json_decref(arts);
    r = twirp(cl, "GetSignedArtifactURL", body, &ans, d);
    url = json_string_value(json_object_get(ans, "signed_url"));
    if (r == 0 && (!url || !*url))
        r = gr_diag_set(d, GR_EPROTO, NULL, 0, 0, "GetSignedArtifactURL: no signed_url");
    if (r == 0)
        *ret = gr_xstrdup(url);
    json_decref(ans);
    return r;
}

static int get_blob(struct cl *cl, const char *url, const char *path, char *ret_hex,
                    struct gr_diag *d)
{
    struct xfer x = {.method = "GET", .url = url, .resp = GR_BUF_INIT(JSON_MAX), .out_fd = -1};
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned mdlen = 0;
    char *hex;
    int r;

    x.md = EVP_MD_CTX_new();
    x.out_fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (x.out_fd < 0 || !x.md) {
        r = gr_diag_set(d, -errno, NULL, 0, 0, "cannot create '%s': %s", path, strerror(errno));
        goto out;
    }
    r = perform(cl, &x, "download the artifact", d);
    if (r == 0) {
        EVP_DigestFinal_ex(x.md, md, &mdlen);
        hex = hex_of(md, mdlen);
        snprintf(ret_hex, EX_ARTIFACT_HEX_LEN, "%s", hex);
        free(hex);
    }
out:
    if (x.out_fd >= 0)
        close(x.out_fd);
    EVP_MD_CTX_free(x.md);
    xfer_release(&x);
    return r;
}

static int cl_download(void *ctx, const struct ex_artifact_call *c, uint64_t id, const char *path,
                       char *ret_sha256, struct gr_diag *d)
{
    struct cl cl;
    char *url = NULL, *shown = NULL;
    int r;

    (void)ctx;
    r = cl_init(&cl, c, d);
    if (r == 0)
        r = signed_url(&cl, id, &url, d);
    if (r < 0)
        goto out;
    shown = scrubbed(url);
    logf_(&cl, "Redirecting to blob download url: %s", shown);
    r = get_blob(&cl, url, path, ret_sha256, d);
out:
    free(shown);
    free(url);
    cl_release(&cl);
    return r;
}

static int cl_remove(void *ctx, const struct ex_artifact_call *c, const char *name,
                     struct gr_diag *d)
{
    struct cl cl;
    json_t *body, *ans = NULL;
    int r;

    (void)ctx;
    r = cl_init(&cl, c, d);
    if (r == 0) {
        body = ids_body(&cl);
        json_object_set_new(body, "name", json_string(name));
        r = twirp(&cl, "DeleteArtifact", body, &ans, d);
    }
    json_decref(ans);
    cl_release(&cl);
    return r;
}

const struct ex_artifact_remote rn_artifact_client = {
    .upload = cl_upload,
    .list = cl_list,
    .download = cl_download,
    .remove = cl_remove,
};
