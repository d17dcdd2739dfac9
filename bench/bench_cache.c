/*
 * bench_cache: save and restore of a node_modules-like tree through the local cache store
 * (ex_cache_save_tree / ex_cache_restore_tree: tar + zstd via libarchive, SHA-256, atomic
 * rename and index) against `tar -I zstd -cf` / `tar -I zstd -xf` of the same tree, in the same
 * run.
 *
 * usage: bench_cache [FILES [TOTAL_MB [REPS]]]
 * Defaults: $GHRUN_BENCH_FILES, $GHRUN_BENCH_MB, $GHRUN_BENCH_REPS, else the size:
 * 50000 files, 500 MB, 3 reps. The tree is built under $TMPDIR (default /tmp).
 *
 * The tree: FILES/20 packages, each with package.json, lib/ and src/ files and a .bin link;
 * file contents are JS-like text drawn from a small vocabulary, so they compress about as well
 * as real packages do. Prints the median of REPS runs for each and the ratio ours / tar.
 * Every timed step starts after sync(), so the writeback of the step before (a restored tree,
 * a removed one) is not billed to it; no step fsyncs its own output.
 */
#include "ex.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static const char *words[] = {
    "function", "return",  "const",   "require", "module", "exports",   "this",      "var",
    "if",       "else",    "for",     "while",   "null",   "undefined", "true",      "false",
    "new",      "Promise", "async",   "await",   "=>",     "{",         "}",         "(",
    ")",        ";",       "options", "value",   "key",    "length",    "push",      "callback",
    "err",      "data",    "buffer",  "string",  "object", "typeof",    "prototype", "call",
};

static unsigned rng = 2463534242u;

static unsigned next_rand(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 17;
    rng ^= rng << 5;
    return rng;
}

static void write_text(const char *path, size_t size)
{
    FILE *f = fopen(path, "we");
    size_t n = 0;

    if (!f) {
        perror(path);
        exit(1);
    }
    while (n < size) {
        const char *w = words[next_rand() % GR_ARRAY_SIZE(words)];
        int len = fprintf(f, "%s%s", w, next_rand() % 9 == 0 ? "\n  " : " ");
        if (next_rand() % 50 == 0)
            len += fprintf(f, "%u", next_rand() % 100000);
        n += (size_t)len;
    }
    fclose(f);
}

static void make_tree(const char *root, int files, size_t total)
{
    int pkgs = files / 20 > 0 ? files / 20 : 1;
    size_t per = total / (size_t)files;
    char path[4096];

    for (int p = 0; p < pkgs; p++) {
        (void)snprintf(path, sizeof(path), "%s/node_modules/pkg-%04d/lib", root, p);
        if (gr_mkdir_p(path, 0755) < 0)
            exit(1);
        (void)snprintf(path, sizeof(path), "%s/node_modules/pkg-%04d/src", root, p);
        if (gr_mkdir_p(path, 0755) < 0)
            exit(1);
        for (int i = 0; i < 20; i++) {
            const char *sub = i == 0 ? "" : i < 12 ? "lib/" : "src/";
            const char *name = i == 0 ? "package.json" : "file";
            if (i == 0)
                (void)snprintf(path, sizeof(path), "%s/node_modules/pkg-%04d/%s", root, p, name);
            else
                (void)snprintf(path, sizeof(path), "%s/node_modules/pkg-%04d/%s%s%02d.js", root, p,
                               sub, name, i);
            /* Sizes vary (a few large files, many small) around the mean. */
            size_t sz = (size_t)(next_rand() % 4 == 0 ? per * 3 : per / 3 + 1);
            write_text(path, sz);
        }
    }
    (void)snprintf(path, sizeof(path), "%s/node_modules/.bin", root);
    if (gr_mkdir_p(path, 0755) < 0)
        exit(1);
    for (int p = 0; p < pkgs && p < 200; p++) {
        char target[128];
        (void)snprintf(path, sizeof(path), "%s/node_modules/.bin/tool-%d", root, p);
        (void)snprintf(target, sizeof(target), "../pkg-%04d/lib/file01.js", p);
        if (symlink(target, path) < 0)
            exit(1);
    }
}

static void rm_rf(const char *p)
{
    if (gr_rm_rf(p) < 0) {
        fprintf(stderr, "cannot remove '%s'\n", p);
        exit(1);
    }
}

static int run(char *const argv[])
{
    pid_t pid = fork();
    int st;

    if (pid == 0) {
        execvp(argv[0], argv);
        _exit(127);
    }
    if (pid < 0 || waitpid(pid, &st, 0) != pid)
        return -1;
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof(*v), cmp_double);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static double secs(uint64_t t0)
{
    return (double)(gr_now_ns() - t0) / 1e9;
}

/* Flush what earlier steps left dirty, then read the clock. */
static uint64_t start_clock(void)
{
    sync();
    return gr_now_ns();
}

static uint64_t file_size(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0 ? (uint64_t)st.st_size : 0;
}

/* argv[i] when given, else the environment variable, else def. */
static int int_arg(int argc, char **argv, int i, const char *env, int def)
{
    const char *s = i < argc ? argv[i] : getenv(env);

    return s && *s ? (int)strtol(s, NULL, 10) : def;
}

int main(int argc, char **argv)
{
    int files = int_arg(argc, argv, 1, "GHRUN_BENCH_FILES", 50000);
    int mb = int_arg(argc, argv, 2, "GHRUN_BENCH_MB", 500);
    int reps = int_arg(argc, argv, 3, "GHRUN_BENCH_REPS", 3);
    const char *tmpdir = getenv("TMPDIR");
    char *root = gr_xasprintf("%s/bench-cache-XXXXXX", tmpdir && *tmpdir ? tmpdir : "/tmp");
    double ts[16], tr[16], bs[16], br[16];
    const char *paths[] = {"node_modules"};
    struct ex_cache *c = NULL;
    struct ex_cache_entry e = {0};
    uint64_t t0, ours_size = 0;
    char *src, *store, *dst, *tarfile;

    if (files < 20 || mb < 1 || reps < 1 || reps > 16) {
        fprintf(stderr, "usage: bench_cache [FILES>=20 [TOTAL_MB>=1 [REPS 1..16]]]\n");
        return 2;
    }
    if (!mkdtemp(root))
        return 1;
    src = gr_path_join(root, "src");
    store = gr_path_join(root, "store");
    dst = gr_path_join(root, "dst");
    tarfile = gr_path_join(root, "baseline.tar.zst");
    printf("bench_cache: %d files, %d MB of JS-like text, %d reps, %ld CPUs\n", files, mb, reps,
           sysconf(_SC_NPROCESSORS_ONLN));
    fflush(stdout);
    make_tree(src, files, (size_t)mb * 1024 * 1024);
    if (ex_cache_open(store, 0, &c, NULL) < 0)
        return 1;
    for (int i = 0; i < reps; i++) {
        char key[32];
        (void)snprintf(key, sizeof(key), "bench-%d", i);
        t0 = start_clock();
        if (ex_cache_save_tree(c, "bench", key, "v", src, paths, 1, &e, NULL) < 0)
            return 1;
        ts[i] = secs(t0);
        ours_size = e.size;
        rm_rf(dst);
        t0 = start_clock();
        if (ex_cache_restore_tree(c, &e, dst, NULL) < 0)
            return 1;
        tr[i] = secs(t0);
        ex_cache_entry_release(&e);

        char *save[] = {"tar", "-I", "zstd", "-cf", tarfile, "-C", src, "node_modules", NULL};
        char *load[] = {"tar", "-I", "zstd", "-xf", tarfile, "-C", dst, NULL};
        (void)unlink(tarfile);
        t0 = start_clock();
        if (run(save) != 0)
            return 1;
        bs[i] = secs(t0);
        rm_rf(dst);
        if (gr_mkdir_p(dst, 0755) < 0)
            return 1;
        t0 = start_clock();
        if (run(load) != 0)
            return 1;
        br[i] = secs(t0);
        rm_rf(dst);
        printf("  rep %d: save ours %.3f s, tar %.3f s; restore ours %.3f s, tar %.3f s\n", i + 1,
               ts[i], bs[i], tr[i], br[i]);
        fflush(stdout);
    }
    double ms = median(ts, reps), mr = median(tr, reps), mbs = median(bs, reps),
           mbr = median(br, reps);
    printf("archive size: ours %.1f MB, tar -I zstd %.1f MB\n", (double)ours_size / 1048576.0,
           (double)file_size(tarfile) / 1048576.0);
    printf("save:    ours %.3f s   tar -I zstd -cf %.3f s   ratio %.2f\n", ms, mbs, ms / mbs);
    printf("restore: ours %.3f s   tar -I zstd -xf %.3f s   ratio %.2f\n", mr, mbr, mr / mbr);
    printf("(ours includes the SHA-256 of the archive, the rename into place and the index\n"
           " update; restore includes verifying the SHA-256 before extraction)\n");
    ex_cache_free(c);
    rm_rf(root);
    free(src);
    free(store);
    free(dst);
    free(tarfile);
    free(root);
    return 0;
}
