/*
 * bench_actions: what actions cost over the steps they run, measured with
 * the ghrun binary.
 *
 *   1. Composite: a job of N uses: of a local composite action holding 10
 *      `run: echo ok` steps, against the same 10 x N steps written inline
 *      in the job. Target ratio <= 1.1.
 *   2. JavaScript: a job of N uses: of a trivial node20 action (an empty
 *      main script), per step, against `node -e ''` started N times by a
 *      minimal fork/exec/wait loop in this process. Target ratio <= 1.2.
 *
 * Each measurement is repeated (default 3) and the median printed. The
 * machine may be busy, so the numbers are indicative.
 *
 * usage: bench_actions [-n uses] [-r repeats] [ghrun]
 * ghrun defaults to $GHRUN, then ghrun next to this executable (build/bin/).
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "gr.h"

#define INNER 10 /* run steps per composite action */

static int write_file(const char *dir, const char *name, const char *text)
{
    char *path = gr_path_join(dir, name);
    char *slash = strrchr(path, '/');
    int r;

    *slash = '\0';
    r = gr_mkdir_p(path, 0755);
    *slash = '/';
    if (r == 0)
        r = gr_file_write_atomic(path, text, strlen(text), 0644);
    if (r < 0)
        fprintf(stderr, "bench_actions: cannot write '%s': %s\n", path, gr_strerror(r));
    free(path);
    return r;
}

static char *job_header(struct gr_buf *b)
{
    if (gr_buf_adds(b, "on: push\njobs:\n  bench:\n    runs-on: ubuntu-latest\n    steps:\n") < 0)
        return NULL;
    return b->ptr;
}

static char *repeat_workflow(int n, const char *step)
{
    struct gr_buf b = GR_BUF_INIT(0);
    int r = job_header(&b) ? 0 : -1;

    for (int i = 0; i < n && r == 0; i++)
        r = gr_buf_adds(&b, step);
    return gr_buf_detach(&b, NULL);
}

static int setup(const char *dir, int n)
{
    struct gr_buf comp = GR_BUF_INIT(0);
    char *wf;
    int r = gr_buf_adds(&comp, "runs:\n  using: composite\n  steps:\n");

    for (int i = 0; i < INNER && r == 0; i++)
        r = gr_buf_adds(&comp, "    - run: echo ok\n      shell: bash\n");
    if (r == 0)
        r = write_file(dir, "comp/action.yml", comp.ptr);
    gr_buf_release(&comp);
    if (r == 0)
        r = write_file(dir, "js/action.yml", "runs:\n  using: node20\n  main: index.js\n");
    if (r == 0)
        r = write_file(dir, "js/index.js", "\n");
    wf = repeat_workflow(n, "      - uses: ./comp\n");
    if (r == 0)
        r = write_file(dir, "composite.yml", wf);
    free(wf);
    wf = repeat_workflow(n * INNER, "      - run: echo ok\n        shell: bash\n");
    if (r == 0)
        r = write_file(dir, "inline.yml", wf);
    free(wf);
    wf = repeat_workflow(n, "      - uses: ./js\n");
    if (r == 0)
        r = write_file(dir, "js.yml", wf);
    free(wf);
    return r;
}

/* Run argv with stdout/stderr to /dev/null; returns wall ns. */
static int64_t run_wait(char *const argv[], const char *cwd)
{
    uint64_t t0 = gr_now_ns();
    int status = 0;
    pid_t pid = fork();

    if (pid < 0)
        return -1;
    if (pid == 0) {
        int fd = open("/dev/null", O_WRONLY | O_CLOEXEC);

        if (fd >= 0) {
            dup2(fd, 1);
            dup2(fd, 2);
        }
        if (cwd && chdir(cwd) != 0)
            _exit(126);
        execvp(argv[0], argv);
        _exit(127);
    }
    if (waitpid(pid, &status, 0) < 0)
        return -1;
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        fprintf(stderr, "bench_actions: '%s %s %s' exited with status %d\n", argv[0],
                argv[1] ? argv[1] : "", argv[1] && argv[2] ? argv[2] : "", status);
        return -1;
    }
    return (int64_t)(gr_now_ns() - t0);
}

static int64_t replay(const char *ghrun, const char *dir, const char *wf)
{
    char *path = gr_path_join(dir, wf);
    char *argv[] = {(char *)ghrun, "replay", "push", "-W", path, "-C", (char *)dir, NULL};
    int64_t t = run_wait(argv, dir);

    free(path);
    return t;
}

static int64_t node_direct(const char *dir, int n)
{
    char *argv[] = {"node", "-e", "", NULL};
    uint64_t t0 = gr_now_ns();

    for (int i = 0; i < n; i++) {
        if (run_wait(argv, dir) < 0)
            return -1;
    }
    return (int64_t)(gr_now_ns() - t0);
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

    return (x > y) - (x < y);
}

static double median_ms(int64_t *v, int n)
{
    qsort(v, (size_t)n, sizeof(*v), cmp_i64);
    return (double)v[n / 2] / 1e6;
}

static char *default_ghrun(void)
{
    char self[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
    char *slash;

    if (getenv("GHRUN"))
        return gr_xstrdup(getenv("GHRUN"));
    if (n <= 0)
        return gr_xstrdup("ghrun");
    self[n] = '\0';
    slash = strrchr(self, '/');
    if (slash)
        *slash = '\0';
    return gr_xasprintf("%s/ghrun", self);
}

static void report(int n, int reps, int64_t *comp, int64_t *inl, int64_t *js, int64_t *node)
{
    double c = median_ms(comp, reps), i = median_ms(inl, reps);
    double j = median_ms(js, reps) / n, d = median_ms(node, reps) / n;

    printf("composite: %d uses x %d run steps: %.1f ms; the same %d steps inline: %.1f ms; "
           "ratio %.2f (target <= 1.10)\n",
           n, INNER, c, n * INNER, i, c / i);
    printf("javascript: %.2f ms per trivial node20 action step; node -e '' directly: %.2f ms; "
           "ratio %.2f (target <= 1.20)\n",
           j, d, j / d);
}

int main(int argc, char **argv)
{
    int n = 20, reps = 3, opt, rc = 1;
    char dir[] = "/tmp/bench_actions_XXXXXX";
    int64_t comp[16], inl[16], js[16], node[16];
    char *ghrun;

    while ((opt = getopt(argc, argv, "n:r:")) != -1) {
        if (opt == 'n')
            n = (int)strtol(optarg, NULL, 10);
        else if (opt == 'r')
            reps = (int)strtol(optarg, NULL, 10);
        else
            return 2;
    }
    if (n < 1 || reps < 1 || reps > 16)
        return 2;
    ghrun = optind < argc ? gr_xstrdup(argv[optind]) : default_ghrun();
    if (!mkdtemp(dir) || setup(dir, n) < 0)
        goto out;
    for (int k = 0; k < reps; k++) {
        comp[k] = replay(ghrun, dir, "composite.yml");
        inl[k] = replay(ghrun, dir, "inline.yml");
        js[k] = replay(ghrun, dir, "js.yml");
        node[k] = node_direct(dir, n);
        if (comp[k] < 0 || inl[k] < 0 || js[k] < 0 || node[k] < 0)
            goto out;
    }
    report(n, reps, comp, inl, js, node);
    rc = 0;
out:
    if (gr_rm_rf(dir) < 0)
        fprintf(stderr, "bench_actions: cannot remove '%s'\n", dir);
    free(ghrun);
    return rc;
}
