/*
 * bench_steps: cost of a step in `ghrun replay` against the bare process
 * cost of the same command.
 *
 *   1. A workflow of N steps (default 500), each `echo ok`, run by the ghrun
 *      binary; ms per step = wall time / N.
 *   2. Baseline in the same run: the command ghrun runs for such a step
 *      (bash -e <script>) started N times by a minimal fork/exec/wait loop.
 *   3. Memory: peak RSS (getrusage of the child) of ghrun replaying a
 *      workflow of 50 jobs, each with two steps.
 *
 * Each measurement is repeated (default 3) and the median printed, with the
 * ratio ghrun/baseline (target <= 1.5) and the RSS (target < 20 MB).
 *
 * usage: bench_steps [-n steps] [-r repeats] [ghrun]
 * ghrun defaults to $GHRUN, then ghrun or ../runner/ghrun next to this executable.
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

static int write_file(const char *path, const char *text)
{
    int r = gr_file_write_atomic(path, text, strlen(text), 0644);

    if (r < 0)
        fprintf(stderr, "bench_steps: cannot write '%s': %s\n", path, gr_strerror(r));
    return r;
}

static char *steps_workflow(int n)
{
    struct gr_buf b = GR_BUF_INIT(0);
    int r = gr_buf_adds(&b, "on: push\njobs:\n  bench:\n    runs-on: ubuntu-latest\n"
                            "    steps:\n");

    for (int i = 0; i < n && r == 0; i++)
        r = gr_buf_adds(&b, "      - run: echo ok\n");
    return gr_buf_detach(&b, NULL);
}

static char *jobs_workflow(int n)
{
    struct gr_buf b = GR_BUF_INIT(0);
    int r = gr_buf_adds(&b, "on: push\njobs:\n");

    for (int i = 0; i < n && r == 0; i++)
        r = gr_buf_addf(&b,
                        "  job%d:\n    runs-on: ubuntu-latest\n    steps:\n"
                        "      - run: echo ok\n      - run: echo \"$GITHUB_JOB\"\n",
                        i);
    return gr_buf_detach(&b, NULL);
}

/* Run argv with stdout/stderr to /dev/null; returns wall ns, fills rusage. */
static int64_t run_wait(char *const argv[], const char *cwd, struct rusage *ru)
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
        execv(argv[0], argv);
        _exit(127);
    }
    if (wait4(pid, &status, 0, ru) < 0)
        return -1;
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        fprintf(stderr, "bench_steps: '%s' exited with status %d\n", argv[0], status);
        return -1;
    }
    return (int64_t)(gr_now_ns() - t0);
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

    return (x > y) - (x < y);
}

static int64_t median(int64_t *v, int n)
{
    qsort(v, (size_t)n, sizeof(*v), cmp_i64);
    return v[n / 2];
}

/* The baseline: what ghrun runs per step, from a minimal loop. */
static int64_t baseline(const char *dir, int n)
{
    char *script = gr_path_join(dir, "step.sh");
    char *argv[] = {"/bin/bash", "-e", script, NULL};
    struct rusage ru;
    uint64_t t0;

    if (write_file(script, "echo ok") < 0) {
        free(script);
        return -1;
    }
    t0 = gr_now_ns();
    for (int i = 0; i < n; i++) {
        if (run_wait(argv, dir, &ru) < 0) {
            free(script);
            return -1;
        }
    }
    free(script);
    return (int64_t)(gr_now_ns() - t0);
}

static int64_t ghrun_run(const char *ghrun, const char *dir, const char *wf, struct rusage *ru)
{
    /* the engine alone: the sandbox has its own benchmark (bench_sandbox) */
    char *argv[] = {(char *)ghrun, "replay",   "push", "--sandbox", "off",
                    "-W",          (char *)wf, "-C",   (char *)dir, NULL};

    return run_wait(argv, dir, ru);
}

static char *default_ghrun(void)
{
    char self[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
    char *slash, *path;

    if (getenv("GHRUN"))
        return gr_xstrdup(getenv("GHRUN"));
    if (n <= 0)
        return gr_xstrdup("ghrun");
    self[n] = '\0';
    slash = strrchr(self, '/');
    if (slash)
        *slash = '\0';
    path = gr_xasprintf("%s/ghrun", self); /* both in the build's bin/ */
    if (access(path, X_OK) == 0)
        return path;
    free(path);
    return gr_xasprintf("%s/../runner/ghrun", self);
}

int main(int argc, char **argv)
{
    int n = 500, reps = 3, opt;
    char dir[] = "/tmp/bench_steps_XXXXXX";
    char *ghrun, *wf_steps, *wf_jobs, *text;
    int64_t t_gh[16], t_base[16], rss[16];
    int rc = 1;

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
    if (!mkdtemp(dir))
        return 1;
    wf_steps = gr_path_join(dir, "steps.yml");
    wf_jobs = gr_path_join(dir, "jobs.yml");
    text = steps_workflow(n);
    if (write_file(wf_steps, text) < 0)
        goto out;
    free(text);
    text = jobs_workflow(50);
    if (write_file(wf_jobs, text) < 0)
        goto out;
    for (int i = 0; i < reps; i++) {
        struct rusage ru;

        t_base[i] = baseline(dir, n);
        t_gh[i] = ghrun_run(ghrun, dir, wf_steps, &ru);
        if (t_gh[i] < 0 || t_base[i] < 0)
            goto out;
        if (ghrun_run(ghrun, dir, wf_jobs, &ru) < 0)
            goto out;
        rss[i] = ru.ru_maxrss;
    }
    {
        double gh = (double)median(t_gh, reps) / 1e6 / n;
        double base = (double)median(t_base, reps) / 1e6 / n;
        double mb = (double)median(rss, reps) / 1024.0;

        printf("steps: %d, repeats: %d\n", n, reps);
        printf("ghrun replay:        %.3f ms/step (median)\n", gh);
        printf("fork/exec/wait bash: %.3f ms/step (median)\n", base);
        printf("ratio: %.2fx (target <= 1.50x)\n", gh / base);
        printf("peak RSS, 50 jobs: %.1f MB (target < 20 MB)\n", mb);
    }
    rc = 0;
out:
    if (gr_rm_rf(dir) < 0)
        fprintf(stderr, "bench_steps: cannot remove '%s'\n", dir);
    free(text);
    free(wf_steps);
    free(wf_jobs);
    free(ghrun);
    return rc;
}
