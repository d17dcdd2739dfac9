/*
 * Benchmark: step output through the line splitter and the secret masker.
 *
 * A 64 MiB buffer of realistic build-log lines (compiler lines, test output,
 * long JSON lines, progress lines with CR, a registered secret now and then)
 * is fed 16 times, in 64 KiB chunks, through ex_linesplit + ex_masker_apply
 * with 10 registered secrets (so 1 GiB in all; the masker also holds their
 * encodings). Baseline, measured in the same run: `cat` (fork/exec) of the
 * same bytes (a temporary file named 16 times) into a pipe that we read in
 * 64 KiB pieces. Prints the median MB/s of each over several runs and the
 * ratio. Because the machine may be shared, it also prints throughput per
 * CPU second (this process's CPU time for split+mask; for the baseline, the
 * reader's CPU time plus cat's).
 *
 * Usage: bench_logs [runs] [MiB per run]   (defaults: 5, 1024)
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "ex/logs.h"
#include "gr.h"

#define PATTERN_SIZE (64u << 20)
#define CHUNK (64u << 10)

static const char *const secrets[10] = {
    "ghp_R4nd0mT0k3nV4lu3F0rB3nchm4rk1ng00001",
    "AKIAIOSFODNN7EXAMPLE",
    "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
    "hunter2-Correct-Horse",
    "npm_aBcDeFgHiJkLmNoPqRsTuVwXyZ0123456789",
    "xoxb-123456789012-1234567890123-AbCdEfGhIjKlMnOpQrStUvWx",
    "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJiZW5jaCJ9.c2lnbmF0dXJl",
    "s3cr3t-db-p4ss!",
    "glpat-aB3dE5gH7jK9mN1pQ3sT",
    "sk_live_51HbenchmarkKEYabcdefghijklmnop",
};

static unsigned rng_state = 2463534242u;

static unsigned rnd(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 17;
    rng_state ^= rng_state << 5;
    return rng_state;
}

static void add_line(struct gr_buf *b, size_t n)
{
    static const char *const words[] = {
        "src/executor/engine.c",
        "warning:",
        "unused",
        "variable",
        "[100%]",
        "Building",
        "C",
        "object",
        "CMakeFiles/ex.dir/logs.c.o",
        "PASS",
        "test_parse_matrix",
        "(0.02s)",
        "npm",
        "WARN",
        "deprecated",
        "request@2.88.2:",
        "Downloading",
        "https://example.com/",
        "Collecting",
        "numpy==1.26.4",
        "ok",
        "FAIL",
        "expected",
        "got",
        "{\"id\":",
        "42,",
        "\"name\":",
        "\"value\"}",
        "2026-11-27T03:52:10.1234567Z",
        "##[group]Run",
        "make",
        "-j2",
        "all",
        "error:",
        "undefined",
        "reference",
        "to",
        "`main'",
        "lib/util.js:12:5",
    };
    size_t start = b->len;
    int r = 0;

    while (b->len - start < n && r == 0) {
        const char *w = words[rnd() % GR_ARRAY_SIZE(words)];
        if (b->len > start)
            r = gr_buf_addch(b, ' ');
        if (r == 0)
            r = gr_buf_adds(b, w);
    }
    if (r == 0 && rnd() % 500 == 0) {
        r = gr_buf_adds(b, " token=");
        if (r == 0)
            r = gr_buf_adds(b, secrets[rnd() % 10]);
    }
    if (r == 0)
        r = gr_buf_adds(b, rnd() % 50 == 0 ? "\r" : rnd() % 10 == 0 ? "\r\n" : "\n");
    if (r < 0)
        abort();
}

static char *make_pattern(void)
{
    struct gr_buf b = GR_BUF_INIT(0);
    char *p;

    while (b.len < PATTERN_SIZE - 4096) {
        unsigned k = rnd() % 100;
        size_t n = k < 70 ? 20 + rnd() % 100 : k < 97 ? 100 + rnd() % 200 : 1000 + rnd() % 3000;
        add_line(&b, n);
    }
    while (b.len < PATTERN_SIZE)
        if (gr_buf_addch(&b, '\n') < 0)
            abort();
    p = gr_buf_detach(&b, NULL);
    return p;
}

struct sink {
    const struct ex_masker *m;
    struct gr_buf out;
    size_t lines, bytes_out;
};

static void on_line(void *ctx, const char *line, size_t len)
{
    struct sink *s = ctx;

    gr_buf_reset(&s->out);
    if (ex_masker_apply(s->m, line, len, &s->out) < 0)
        abort();
    s->lines++;
    s->bytes_out += s->out.len + 1;
}

static double now_s(void)
{
    return (double)gr_now_ns() / 1e9;
}

static double cpu_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double tv_s(struct timeval tv)
{
    return (double)tv.tv_sec + (double)tv.tv_usec / 1e6;
}

/* CPU seconds of the last measurement (wall-clock time is returned). */
static double last_cpu;

static double run_ours(const struct ex_masker *m, const char *pat, size_t total, size_t *ret_lines,
                       size_t *ret_out)
{
    struct sink s = {.m = m, .out = GR_BUF_INIT(0)};
    struct ex_linesplit ls;
    size_t done = 0;
    double t0 = now_s(), c0 = cpu_s();

    ex_linesplit_init(&ls, on_line, &s);
    while (done < total) {
        size_t off = done % PATTERN_SIZE;
        ex_linesplit_feed(&ls, pat + off, CHUNK);
        done += CHUNK;
    }
    ex_linesplit_flush(&ls);
    double t = now_s() - t0;
    last_cpu = cpu_s() - c0;
    ex_linesplit_release(&ls);
    gr_buf_release(&s.out);
    *ret_lines = s.lines;
    *ret_out = s.bytes_out;
    return t;
}

static double run_cat(const char *path, unsigned copies, size_t *ret_bytes)
{
    char **argv = gr_xcalloc(copies + 2, sizeof(char *));
    char *buf = gr_xmalloc(CHUNK);
    int fds[2];
    size_t got = 0;
    unsigned i;
    pid_t pid;

    argv[0] = "cat";
    for (i = 0; i < copies; i++)
        argv[i + 1] = (char *)path;
    if (pipe2(fds, O_CLOEXEC) < 0)
        abort();
    struct rusage ru;
    double t0 = now_s(), c0 = cpu_s();
    pid = fork();
    if (pid == 0) {
        dup2(fds[1], 1);
        execvp("cat", argv);
        _exit(127);
    }
    close(fds[1]);
    for (;;) {
        ssize_t n = read(fds[0], buf, CHUNK);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        got += (size_t)n;
    }
    wait4(pid, NULL, 0, &ru);
    double t = now_s() - t0;
    /* the reader's CPU plus cat's */
    last_cpu = cpu_s() - c0 + tv_s(ru.ru_utime) + tv_s(ru.ru_stime);
    close(fds[0]);
    free(buf);
    free(argv);
    *ret_bytes = got;
    return t;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof(double), cmp_double);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static char *write_pattern(const char *pat)
{
    const char *dir = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
    char *path = gr_xasprintf("%s/bench_logs_......", dir);
    size_t off = 0;
    int fd;

    memset(path + strlen(path) - 6, 'X', 6); /* the template mkostemp wants */
    fd = mkostemp(path, O_CLOEXEC);
    if (fd < 0)
        abort();
    while (off < PATTERN_SIZE) {
        ssize_t n = write(fd, pat + off, PATTERN_SIZE - off);
        if (n <= 0)
            abort();
        off += (size_t)n;
    }
    close(fd);
    return path;
}

int main(int argc, char **argv)
{
    int runs = argc > 1 ? (int)strtol(argv[1], NULL, 10) : 5;
    size_t mib = argc > 2 ? (size_t)strtoul(argv[2], NULL, 10) : 1024;
    size_t total = (mib << 20) / PATTERN_SIZE * PATTERN_SIZE;
    double ours[64], cat[64], ours_cpu[64], cat_cpu[64];
    size_t lines = 0, out = 0, catbytes = 0;
    struct ex_masker *m = ex_masker_new();
    char *pat, *path;
    int i;

    if (runs < 1 || runs > 64 || total == 0) {
        fprintf(stderr, "usage: bench_logs [runs 1..64] [MiB per run >= 64]\n");
        return 2;
    }
    for (i = 0; i < 10; i++)
        ex_masker_add(m, secrets[i], strlen(secrets[i]));
    pat = make_pattern();
    path = write_pattern(pat);
    (void)run_ours(m, pat, PATTERN_SIZE, &lines, &out); /* warm-up, not counted */
    for (i = 0; i < runs; i++) {
        ours[i] = (double)total / 1e6 / run_ours(m, pat, total, &lines, &out);
        ours_cpu[i] = (double)total / 1e6 / last_cpu;
        cat[i] = (double)total / 1e6 / run_cat(path, (unsigned)(total / PATTERN_SIZE), &catbytes);
        cat_cpu[i] = (double)total / 1e6 / last_cpu;
        printf("run %d: split+mask %.0f MB/s (%.0f per CPU second), cat %.0f MB/s (%.0f per CPU "
               "second)\n",
               i + 1, ours[i], ours_cpu[i], cat[i], cat_cpu[i]);
    }
    double mo = median(ours, runs), mc = median(cat, runs);
    printf("data: %zu MiB per run in %u KiB chunks, %zu lines, %zu values registered "
           "(10 secrets)\n",
           total >> 20, CHUNK >> 10, lines, ex_masker_count(m));
    printf("masked output: %zu bytes (input %zu); cat read %zu bytes\n", out, total, catbytes);
    printf("median split+mask: %.0f MB/s\n", mo);
    printf("median cat baseline: %.0f MB/s\n", mc);
    printf("ratio split+mask / cat: %.2f\n", mo / mc);
    double moc = median(ours_cpu, runs), mcc = median(cat_cpu, runs);
    printf("per CPU second (less sensitive to a loaded machine): split+mask %.0f MB/s, cat %.0f "
           "MB/s (reader + cat), ratio %.2f\n",
           moc, mcc, moc / mcc);
    unlink(path);
    free(path);
    free(pat);
    ex_masker_free(m);
    return 0;
}
