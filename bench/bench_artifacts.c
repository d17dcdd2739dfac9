/*
 * bench_artifacts: artifact upload and download through the embedded artifact service on
 * loopback, the way @actions/artifact 2.x talks to it (CreateArtifact, 8 MiB Put Block requests
 * five at a time, Put Block List, FinalizeArtifact; GetSignedArtifactURL and one GET), against a
 * plain PUT and GET of the same bytes to a static file server in the same process (the same
 * HTTP server, a route that writes the body to a file and one that sends it back).
 *
 * usage: bench_artifacts [MB [REPS]]   (default 256 MB, 5 reps)
 *
 * Prints the median throughput of each in MB/s and the ratio service / static (target >= 0.8).
 */
#include "../runner/services.h" /* runner internals: bench/ sees only public headers */
#include "../runner/httpd.h"

#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define BLOCK (8u * 1024 * 1024)
#define CONCURRENCY 5

struct server {
    uv_loop_t loop;
    uv_thread_t thread;
    uv_async_t stop;
    struct rn_artifact_service *art;
    struct rn_httpd *plain;
    char *dir;
};

static char *static_dir;

static void h_static_put(struct rn_http_req *req, void *ctx)
{
    char *path = gr_xasprintf("%s/static.bin", static_dir);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    ssize_t n = fd >= 0 ? write(fd, req->body.ptr, req->body.len) : -1;

    (void)ctx;
    if (fd >= 0)
        close(fd);
    free(path);
    rn_http_respond(req, n == (ssize_t)req->body.len ? 201 : 500, NULL, NULL, 0);
}

static void h_static_get(struct rn_http_req *req, void *ctx)
{
    char *path = gr_xasprintf("%s/static.bin", static_dir);

    (void)ctx;
    rn_http_respond_file(req, 200, "application/octet-stream", path);
    free(path);
}

static const struct rn_httpd_route static_routes[] = {
    {.method = "PUT", .prefix = "/static", .max_body = 1u << 30, .fn = h_static_put},
    {.method = "GET", .prefix = "/static", .max_body = 0, .fn = h_static_get},
};

static void on_stop(uv_async_t *a)
{
    struct server *sv = a->data;

    uv_close((uv_handle_t *)&sv->stop, NULL);
    rn_artifact_service_close(sv->art, NULL, NULL);
    rn_httpd_close(sv->plain, NULL, NULL);
}

static void run_thread(void *arg)
{
    struct server *sv = arg;
    (void)uv_run(&sv->loop, UV_RUN_DEFAULT);
}

/* ---- a small curl client ---------------------------------------------------- */

struct mem {
    char *p;
    size_t len;
};

static size_t to_mem(char *d, size_t sz, size_t n, void *arg)
{
    struct mem *m = arg;

    m->p = gr_xrealloc(m->p, m->len + sz * n + 1);
    memcpy(m->p + m->len, d, sz * n);
    m->len += sz * n;
    m->p[m->len] = '\0';
    return sz * n;
}

static CURL *easy(const char *url, const char *method, const void *body, size_t len,
                  struct curl_slist *h, struct mem *out)
{
    CURL *c = curl_easy_init();

    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    if (body) {
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
    }
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, to_mem);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, out);
    return c;
}

static long perform(CURL *c)
{
    long code = 0;

    if (curl_easy_perform(c) != CURLE_OK)
        return -1;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
    return code;
}

/* POST a Twirp call; its answer on 200 (owned), else NULL. */
static char *twirp(const char *base, const char *token, const char *method, const char *body)
{
    char *url =
        gr_xasprintf("%stwirp/github.actions.results.api.v1.ArtifactService/%s", base, method);
    char *auth = gr_xasprintf("Authorization: Bearer %s", token), *res = NULL;
    struct curl_slist *h = curl_slist_append(NULL, auth);
    struct mem m = {0};
    CURL *c;

    h = curl_slist_append(h, "Content-Type: application/json");
    c = easy(url, "POST", body, strlen(body), h, &m);
    if (perform(c) == 200 && m.p) {
        res = m.p;
        m.p = NULL;
    }
    curl_easy_cleanup(c);
    curl_slist_free_all(h);
    free(m.p);
    free(auth);
    free(url);
    return res;
}

/* The "signed_*_url" of a Twirp answer (owned; frees the answer), or NULL. */
static char *url_of(char *answer)
{
    char *q = answer ? strstr(answer, "_url\":\"") : NULL, *res = NULL;

    if (q) {
        q += strlen("_url\":\"");
        res = gr_xstrndup(q, strcspn(q, "\""));
    }
    free(answer);
    return res;
}

/* Put Block for every 8 MiB of data, CONCURRENCY at a time, then Put Block List. */
static int upload_blocks(const char *url, const char *data, size_t len)
{
    size_t nblocks = (len + BLOCK - 1) / BLOCK, next = 0, done = 0;
    CURLM *m = curl_multi_init();
    struct mem sink = {0};
    struct gr_buf xml = GR_BUF_INIT(0);
    char *u;
    int r = 0, running;

    while (done < nblocks) {
        while (next < nblocks && next - done < CONCURRENCY) {
            char *bu = gr_xasprintf("%s&comp=block&blockid=YmxvY2st%06zu", url, next);
            size_t off = next * BLOCK, n = len - off < BLOCK ? len - off : BLOCK;
            CURL *c = easy(bu, "PUT", data + off, n, NULL, &sink);
            curl_multi_add_handle(m, c);
            free(bu);
            next++;
        }
        curl_multi_perform(m, &running);
        curl_multi_poll(m, NULL, 0, 100, NULL);
        CURLMsg *msg;
        int left;
        while ((msg = curl_multi_info_read(m, &left)) != NULL) {
            long code = 0;
            curl_easy_getinfo(msg->easy_handle, CURLINFO_RESPONSE_CODE, &code);
            if (msg->data.result != CURLE_OK || code != 201)
                r = -EIO;
            curl_multi_remove_handle(m, msg->easy_handle);
            curl_easy_cleanup(msg->easy_handle);
            done++;
        }
    }
    curl_multi_cleanup(m);
    r |= gr_buf_adds(&xml, "<?xml version=\"1.0\" encoding=\"utf-8\"?><BlockList>");
    for (size_t i = 0; i < nblocks; i++)
        r |= gr_buf_addf(&xml, "<Latest>YmxvY2st%06zu</Latest>", i);
    r |= gr_buf_adds(&xml, "</BlockList>");
    u = gr_xasprintf("%s&comp=blocklist", url);
    CURL *c = easy(u, "PUT", xml.ptr, xml.len, NULL, &sink);
    if (perform(c) != 201)
        r = -EIO;
    curl_easy_cleanup(c);
    free(u);
    gr_buf_release(&xml);
    free(sink.p);
    return r;
}

static size_t to_fd(char *d, size_t sz, size_t n, void *arg)
{
    return write(*(int *)arg, d, sz * n) == (ssize_t)(sz * n) ? sz * n : 0;
}

static int get_to_file(const char *url, const char *path)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    CURL *c = curl_easy_init();
    long code;

    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, to_fd);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &fd);
    code = perform(c);
    curl_easy_cleanup(c);
    close(fd);
    return code == 200 ? 0 : -EIO;
}

/* ---- measurements --------------------------------------------------------------- */

static double now_s(void)
{
    return (double)gr_now_ns() / 1e9;
}

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof(*v), cmp_d);
    return v[n / 2];
}

static int service_round(const char *base, const char *token, const char *data, size_t len, int i,
                         const char *out, double *up, double *down)
{
    char body[256], *url;
    double t0 = now_s();
    int r;

    snprintf(body, sizeof(body), "{\"workflow_run_backend_id\":\"1\",\"name\":\"bench-%d\"}", i);
    url = url_of(twirp(base, token, "CreateArtifact", body));
    if (!url)
        return -EIO;
    r = upload_blocks(url, data, len);
    free(url);
    snprintf(body, sizeof(body), "{\"name\":\"bench-%d\",\"size\":\"%zu\"}", i, len);
    url = r == 0 ? twirp(base, token, "FinalizeArtifact", body) : NULL;
    if (!url || !strstr(url, "\"ok\":true"))
        r = -EIO;
    free(url);
    *up = now_s() - t0;
    snprintf(body, sizeof(body), "{\"name\":\"bench-%d\"}", i);
    t0 = now_s();
    url = url_of(twirp(base, token, "GetSignedArtifactURL", body));
    if (!url)
        return -EIO;
    r |= get_to_file(url, out);
    free(url);
    *down = now_s() - t0;
    return r;
}

static int static_round(const char *base, const char *data, size_t len, const char *out, double *up,
                        double *down)
{
    char *url = gr_xasprintf("%sstatic", base);
    struct mem sink = {0};
    double t0 = now_s();
    CURL *c = easy(url, "PUT", data, len, NULL, &sink);
    int r = perform(c) == 201 ? 0 : -EIO;

    curl_easy_cleanup(c);
    *up = now_s() - t0;
    t0 = now_s();
    r |= get_to_file(url, out);
    *down = now_s() - t0;
    free(sink.p);
    free(url);
    return r;
}

int main(int argc, char **argv)
{
    size_t mb = argc > 1 ? strtoul(argv[1], NULL, 10) : 256, len = mb << 20;
    int reps = argc > 2 ? (int)strtol(argv[2], NULL, 10) : 5;
    char tmpl[] = "/tmp/bench-artifacts-XXXXXX", *token, *sbase, *out;
    struct server sv = {0};
    struct gr_diag d = {0};
    double su[16], sd[16], pu[16], pd[16];
    char *data;

    if (!mkdtemp(tmpl) || reps < 1 || reps > 16 || mb == 0)
        return 2;
    static_dir = tmpl;
    data = gr_xmalloc(len);
    for (size_t i = 0; i < len; i++)
        data[i] = (char)(i * 2654435761u >> 13);
    curl_global_init(CURL_GLOBAL_DEFAULT);
    uv_loop_init(&sv.loop);
    sv.dir = gr_xasprintf("%s/store", tmpl);
    token = rn_artifact_token_new("1", "1");
    struct rn_artifact_service_opts ao = {.dir = sv.dir, .token = token, .run_backend_id = "1"};
    if (rn_artifact_service_start(&sv.loop, &ao, &sv.art, &d) < 0 ||
        rn_httpd_start(&sv.loop, "127.0.0.1", 0, static_routes, 2, NULL, &sv.plain) < 0) {
        fprintf(stderr, "cannot start the servers: %s\n", d.msg);
        return 1;
    }
    sbase = gr_xasprintf("http://127.0.0.1:%d/", rn_httpd_port(sv.plain));
    uv_async_init(&sv.loop, &sv.stop, on_stop);
    sv.stop.data = &sv;
    uv_thread_create(&sv.thread, run_thread, &sv);
    out = gr_xasprintf("%s/download.bin", tmpl);
    printf("artifact upload/download of %zu MB, %d reps (median)\n", mb, reps);
    for (int i = 0; i < reps; i++) {
        if (static_round(sbase, data, len, out, &pu[i], &pd[i]) < 0 ||
            service_round(rn_artifact_service_url(sv.art), token, data, len, i, out, &su[i],
                          &sd[i]) < 0) {
            fprintf(stderr, "round %d failed\n", i);
            return 1;
        }
    }
    double mu = (double)mb / median(su, reps), md = (double)mb / median(sd, reps);
    double bu = (double)mb / median(pu, reps), bd = (double)mb / median(pd, reps);
    printf("upload:   service %8.1f MB/s   static PUT %8.1f MB/s   ratio %.2f\n", mu, bu, mu / bu);
    printf("download: service %8.1f MB/s   static GET %8.1f MB/s   ratio %.2f\n", md, bd, md / bd);
    uv_async_send(&sv.stop);
    uv_thread_join(&sv.thread);
    (void)uv_loop_close(&sv.loop);
    if (gr_rm_rf(tmpl) < 0)
        fprintf(stderr, "cannot remove '%s'\n", tmpl);
    curl_global_cleanup();
    free(data);
    free(out);
    free(sbase);
    free(token);
    free(sv.dir);
    return 0;
}
