/*
 * bench_parse: parse + validate a generated 2,000-line workflow.
 *
 * Prints the median time of ex_workflow_parse (YAML tree + model + schema
 * and model validation + expression checks), of ex_yaml_parse alone, and of
 * the baseline, libyaml's raw event scan of the same text (no tree), with
 * the ratios; then the memory: arena bytes of the document, heap bytes live
 * after a parse (mallinfo2), and the peak RSS growth over the whole run.
 * Targets: under 5 ms and under 2 MB. Usage: bench_parse [iterations] [lines]
 */
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <yaml.h>

#include "ex/workflow.h"
#include "ex/yaml.h"

static void add_job(struct gr_buf *b, int j, int steps)
{
    int r = 0;

    r |= gr_buf_addf(b,
                     "  job_%d:\n"
                     "    name: Job %d (${{ matrix.os }})\n"
                     "    runs-on: ${{ matrix.os }}\n"
                     "    if: github.event_name == 'push' || contains(github.ref, 'release')\n"
                     "    timeout-minutes: 30\n"
                     "    strategy:\n"
                     "      fail-fast: false\n"
                     "      matrix:\n"
                     "        os: [ubuntu-latest, ubuntu-22.04]\n"
                     "        v: [1, 2, 3]\n"
                     "    env:\n"
                     "      JOB: job_%d\n"
                     "      OS: ${{ matrix.os }}\n"
                     "    outputs:\n"
                     "      out: ${{ steps.s0.outputs.value }}\n",
                     j, j, j);
    if (j > 0)
        r |= gr_buf_addf(b, "    needs: [job_%d]\n", j - 1);
    r |= gr_buf_adds(b, "    steps:\n"
                        "      - uses: actions/checkout@v4\n"
                        "        with:\n"
                        "          fetch-depth: 0\n");
    for (int s = 0; s < steps; s++)
        r |= gr_buf_addf(b,
                         "      - id: s%d\n"
                         "        name: Step %d on ${{ runner.os }}\n"
                         "        if: success() && env.JOB != ''\n"
                         "        env:\n"
                         "          STEP: \"%d\"\n"
                         "        run: |\n"
                         "          echo \"value=${{ matrix.v }}-%d\" >> \"$GITHUB_OUTPUT\"\n"
                         "          test -n \"$STEP\"\n",
                         s, s, s, s);
    if (r < 0)
        abort();
}

static char *make_workflow(int lines, size_t *len)
{
    struct gr_buf b = GR_BUF_INIT(0);
    int j = 0;

    if (gr_buf_adds(&b, "name: bench\non:\n  push:\n    branches: [main]\n  pull_request:\n"
                        "env:\n  GLOBAL: ${{ github.sha }}\njobs:\n") < 0)
        abort();
    while (true) {
        size_t n = 0;
        for (size_t i = 0; i < b.len; i++)
            n += b.ptr[i] == '\n';
        if ((int)n >= lines)
            break;
        add_job(&b, j++, 10);
    }
    return gr_buf_detach(&b, len);
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static int scan_events(const char *src, size_t len)
{
    yaml_parser_t p;
    yaml_event_t ev;
    int n = 0, done = 0;

    yaml_parser_initialize(&p);
    yaml_parser_set_input_string(&p, (const unsigned char *)src, len);
    while (!done) {
        if (!yaml_parser_parse(&p, &ev))
            abort();
        done = ev.type == YAML_STREAM_END_EVENT;
        n++;
        yaml_event_delete(&ev);
    }
    yaml_parser_delete(&p);
    return n;
}

enum which { BASELINE, YAML_ONLY, WORKFLOW };

static void run_once(enum which w, const char *src, size_t len)
{
    struct ex_workflow *wf = NULL;
    struct ex_doc *doc = NULL;
    struct gr_diag d;

    if (w == BASELINE) {
        if (scan_events(src, len) < 10)
            abort();
        return;
    }
    if (w == YAML_ONLY) {
        if (ex_yaml_parse("bench.yml", src, len, &doc, &d) < 0)
            abort();
        ex_doc_free(doc);
        return;
    }
    if (ex_workflow_parse("bench.yml", src, len, &wf, NULL, &d) < 0) {
        fprintf(stderr, "bench.yml:%d:%d: %s\n", d.line, d.col, d.msg);
        abort();
    }
    ex_workflow_free(wf);
}

static double median_ms(enum which w, const char *src, size_t len, int iters)
{
    uint64_t *t = calloc((size_t)iters, sizeof(*t));
    double m;

    for (int i = 0; i < iters; i++) {
        uint64_t t0 = gr_now_ns();
        run_once(w, src, len);
        t[i] = gr_now_ns() - t0;
    }
    qsort(t, (size_t)iters, sizeof(*t), cmp_u64);
    m = (double)t[iters / 2] / 1e6;
    free(t);
    return m;
}

static long maxrss_kb(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_maxrss;
}

static void report_memory(const char *src, size_t len, long rss0)
{
    struct ex_workflow *wf = NULL;
    struct mallinfo2 before = mallinfo2(), after;
    struct gr_diag d;

    if (ex_workflow_parse("bench.yml", src, len, &wf, NULL, &d) < 0)
        abort();
    after = mallinfo2();
    printf("memory: arena %.0f KiB, heap live after parse %.0f KiB (mmap included), peak RSS "
           "growth %ld KiB "
           "(target < 2048 KiB)\n",
           (double)ex_doc_mem(wf->doc) / 1024.0,
           (double)(after.uordblks + after.hblkhd - before.uordblks - before.hblkhd) / 1024.0,
           maxrss_kb() - rss0);
    ex_workflow_free(wf);
}

int main(int argc, char **argv)
{
    int iters = argc > 1 ? (int)strtol(argv[1], NULL, 10) : 200;
    int lines = argc > 2 ? (int)strtol(argv[2], NULL, 10) : 2000;
    long rss0 = maxrss_kb();
    size_t len;
    char *src = make_workflow(lines, &len);
    double base, yaml, wf;

    if (iters < 1)
        iters = 1;
    printf("workflow: %d+ lines, %zu bytes, %d iterations\n", lines, len, iters);
    report_memory(src, len, rss0);
    base = median_ms(BASELINE, src, len, iters);
    yaml = median_ms(YAML_ONLY, src, len, iters);
    wf = median_ms(WORKFLOW, src, len, iters);
    printf("baseline libyaml event scan: median %.3f ms\n", base);
    printf("ex_yaml_parse (tree):        median %.3f ms (%.2fx baseline)\n", yaml, yaml / base);
    printf("ex_workflow_parse (+valid.): median %.3f ms (%.2fx baseline, target < 5 ms)\n", wf,
           wf / base);
    free(src);
    return 0;
}
