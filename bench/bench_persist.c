/*
 * bench_persist: a persisted dependency directory (ex/persist.h) of a pip-cache-like tree:
 * the save at the end of a job (manifest + ex_persist_save: archive, index, prune) and the
 * restore at the start (ex_persist_restore + manifest), against the bare store operations the
 * native actions/cache does for the same directory (ex_cache_save_tree, ex_cache_restore_tree),
 * in the same run; and the unchanged check of a job that did not touch the directory (one
 * manifest), which is all a job pays then.
 *
 * usage: bench_persist [TOTAL_MB [REPS]]
 * Defaults: $GHRUN_BENCH_MB, $GHRUN_BENCH_REPS, else 100 MB and 3 reps. The tree is built under
 * $TMPDIR (default /tmp): ~/.cache/pip with http/ (many small cached responses) and wheels/
 * (fewer large files); contents are random bytes, as compressed wheels and responses are.
 * Prints the median of REPS runs of each and the ratio persist / store.
 */
#include "ex.h"
#include "ex/persist.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static unsigned rng = 2463534242u;

static unsigned next_rand(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 17;
    rng ^= rng << 5;
    return rng;
}

static void write_random(const char *path, size_t size)
{
    FILE *f = fopen(path, "we");
    unsigned buf[4096];

    if (!f) {
        perror(path);
        exit(1);
    }
    while (size) {
        size_t n = size < sizeof(buf) ? size : sizeof(buf);

        for (size_t i = 0; i < GR_ARRAY_SIZE(buf); i++)
            buf[i] = next_rand();
        if (fwrite(buf, 1, n, f) != n) {
            perror(path);
            exit(1);
        }
        size -= n;
    }
    fclose(f);
}

/* home/.cache/pip: 60% of the bytes in wheels of ~2 MB, the rest in http entries of ~40 kB. */
static size_t build_tree(const char *home, size_t total)
{
    size_t files = 0, wheels = total * 6 / 10, done = 0;
    char *dir;

    for (int i = 0; done < total; i++) {
        bool wheel = done < wheels;
        size_t size = wheel ? 1024 * 1024 + next_rand() % (2 * 1024 * 1024)
                            : 4096 + next_rand() % (72 * 1024);
        char *path;

        dir = wheel ? gr_xasprintf("%s/.cache/pip/wheels/%02x/%02x", home, i % 16, i % 7)
                    : gr_xasprintf("%s/.cache/pip/http/%x/%x/%x", home, i % 16, (i / 16) % 16,
                                   (i / 256) % 16);
        if (gr_mkdir_p(dir, 0755) < 0) {
            fprintf(stderr, "cannot create %s\n", dir);
            exit(1);
        }
        path = gr_xasprintf("%s/%s%d", dir, wheel ? "pkg-1.0-py3-none-any.whl." : "entry.", i);
        if (size > total - done)
            size = total - done;
        write_random(path, size);
        done += size;
        files++;
        free(path);
        free(dir);
    }
    return files;
}

static double now_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
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

static void must(int r, const char *what)
{
    if (r < 0) {
        fprintf(stderr, "%s: %s\n", what, gr_strerror(r));
        exit(1);
    }
}

int main(int argc, char **argv)
{
    const char *env_mb = getenv("GHRUN_BENCH_MB"), *env_reps = getenv("GHRUN_BENCH_REPS");
    const char *tmpdir = getenv("TMPDIR");
    long mb = argc > 1 ? atol(argv[1]) : env_mb ? atol(env_mb) : 100;
    int reps = argc > 2 ? atoi(argv[2]) : env_reps ? atoi(env_reps) : 3;
    char *root = gr_xasprintf("%s/bench-persist-XXXXXX", tmpdir ? tmpdir : "/tmp");
    char *home, *home2, *store, version[EX_CACHE_HEX_LEN];
    const char *paths[] = {".cache/pip"}, *refs[] = {"refs/heads/main"};
    double *ps, *cs, *pr, *cr, *mf;
    struct ex_persist_manifest m;
    struct ex_cache *c = NULL;
    size_t files;

    if (mb <= 0 || reps <= 0 || !mkdtemp(root)) {
        fprintf(stderr, "usage: bench_persist [TOTAL_MB [REPS]]\n");
        return 2;
    }
    home = gr_path_join(root, "home");
    home2 = gr_path_join(root, "home2");
    store = gr_path_join(root, "store");
    files = build_tree(home, (size_t)mb * 1024 * 1024);
    must(ex_cache_open(store, 0, &c, NULL), "open the store");
    ex_persist_version("~/.cache/pip", version);
    ps = gr_xcalloc((size_t)reps, sizeof(double));
    cs = gr_xcalloc((size_t)reps, sizeof(double));
    pr = gr_xcalloc((size_t)reps, sizeof(double));
    cr = gr_xcalloc((size_t)reps, sizeof(double));
    mf = gr_xcalloc((size_t)reps, sizeof(double));
    printf("bench_persist: ~/.cache/pip, %zu files, %ld MB, %d reps\n", files, mb, reps);
    for (int i = 0; i < reps; i++) {
        struct ex_cache_entry e = {0};
        char *key = gr_xasprintf("base-%d", i);
        double t;

        sync();
        t = now_s();
        must(ex_cache_save_tree(c, "o/r", key, "base", home, paths, 1, &e, NULL), "store save");
        cs[i] = now_s() - t;
        sync();
        t = now_s();
        must(ex_cache_restore_tree(c, &e, home2, NULL), "store restore");
        cr[i] = now_s() - t;
        must(gr_rm_rf(home2), "rm");
        must(ex_cache_remove(c, e.id), "remove");
        ex_cache_entry_release(&e);
        free(key);

        sync();
        t = now_s();
        must(ex_persist_manifest(home, "~/.cache/pip", &m), "manifest");
        must(ex_persist_save(c, "o/r", "refs/heads/main", home, "~/.cache/pip", 1000 + i, NULL,
                             NULL, NULL),
             "persist save");
        ps[i] = now_s() - t;
        sync();
        t = now_s();
        must(ex_persist_restore(c, "o/r", refs, 1, home2, "~/.cache/pip", &e, NULL),
             "persist restore");
        must(ex_persist_manifest(home2, "~/.cache/pip", &m), "manifest");
        pr[i] = now_s() - t;
        ex_cache_entry_release(&e);
        t = now_s();
        must(ex_persist_manifest(home2, "~/.cache/pip", &m), "manifest");
        mf[i] = now_s() - t;
        must(gr_rm_rf(home2), "rm");
    }
    printf("save:      persist %.3f s  store %.3f s  ratio %.2f\n", median(ps, reps),
           median(cs, reps), median(ps, reps) / median(cs, reps));
    printf("restore:   persist %.3f s  store %.3f s  ratio %.2f\n", median(pr, reps),
           median(cr, reps), median(pr, reps) / median(cr, reps));
    printf("unchanged: %.3f s (one manifest of %" PRIu64 " files)\n", median(mf, reps), m.files);
    ex_cache_free(c);
    must(gr_rm_rf(root), "rm");
    free(ps);
    free(cs);
    free(pr);
    free(cr);
    free(mf);
    free(home);
    free(home2);
    free(store);
    free(root);
    return 0;
}
