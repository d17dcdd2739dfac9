/*
 * Cost of the step sandbox. Per step: fork + exec of the wrapped command
 * (gr-sandbox -> /bin/true) + wait, and the same plus sb_step_reap(),
 * against a plain fork/exec/wait of /bin/true measured in the same run.
 * Per job: sb_job_new() (cgroup, filter compile, private dir) and
 * sb_job_free(). Targets: < 2 ms extra per step (median), < 10 ms per job.
 *
 *   bench_sandbox [steps] [jobs]
 */
#include "sb.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;

    return x < y ? -1 : x > y;
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof(*v), cmp);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static int run(char *const argv[])
{
    int st;
    pid_t pid = fork();

    if (pid < 0)
        return -errno;
    if (pid == 0) {
        execv(argv[0], argv);
        _exit(127);
    }
    if (waitpid(pid, &st, 0) != pid)
        return -errno;
    return WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : -ECHILD;
}

static int bench_steps(const char *label, const struct sb_policy *p, int n, double base)
{
    char *plain[] = {"/bin/true", NULL};
    char **wrapped = NULL;
    struct sb_job *job = NULL;
    double *t = calloc((size_t)n, sizeof(*t)), *tr = calloc((size_t)n, sizeof(*tr));
    int r = sb_job_new("bench", p, &job);

    if (r == 0)
        r = sb_wrap_command(job, plain, &wrapped);
    for (int i = 0; r == 0 && i < n; i++) {
        double t0 = now_ms(), t1;

        r = run(wrapped);
        t1 = now_ms();
        if (r == 0)
            r = sb_step_reap(job);
        t[i] = t1 - t0;
        tr[i] = now_ms() - t0;
    }
    if (r == 0) {
        double m = median(t, n), mr = median(tr, n);

        printf("%-28s median %.3f ms (+%.3f ms, x%.2f); with reap %.3f ms (+%.3f ms)\n", label, m,
               m - base, m / base, mr, mr - base);
        printf("  %s\n", sb_job_summary(job));
    } else {
        fprintf(stderr, "%s: failed: %s %s\n", label, strerror(-r), sb_last_error());
    }
    sb_argv_free(wrapped);
    sb_job_free(job);
    free(t);
    free(tr);
    return r;
}

static int bench_jobs(const struct sb_policy *p, int n)
{
    double *tn = calloc((size_t)n, sizeof(*tn)), *tf = calloc((size_t)n, sizeof(*tf));
    int r = 0;

    for (int i = 0; r == 0 && i < n; i++) {
        struct sb_job *job = NULL;
        double t0 = now_ms(), t1;

        r = sb_job_new("bench-job", p, &job);
        t1 = now_ms();
        sb_job_free(job);
        tn[i] = t1 - t0;
        tf[i] = now_ms() - t1;
    }
    if (r == 0)
        printf("job setup median %.3f ms, teardown median %.3f ms (target < 10 ms together)\n",
               median(tn, n), median(tf, n));
    else
        fprintf(stderr, "job setup failed: %s %s\n", strerror(-r), sb_last_error());
    free(tn);
    free(tf);
    return r;
}

int main(int argc, char **argv)
{
    int steps = argc > 1 ? (int)strtol(argv[1], NULL, 10) : 200;
    int jobs = argc > 2 ? (int)strtol(argv[2], NULL, 10) : 50;
    char *plain[] = {"/bin/true", NULL};
    struct sb_policy p = {
        .memory_max = 1ull << 30,
        .pids_max = 4096,
        .slot_uid = geteuid() == 0 ? 64000 : 0,
    };
    struct sb_policy net = p;
    double *t;
    double base;
    int r = 0;

    if (steps < 3 || jobs < 3)
        return 2;
    t = calloc((size_t)steps, sizeof(*t));
    for (int i = 0; r == 0 && i < steps; i++) {
        double t0 = now_ms();

        r = run(plain);
        t[i] = now_ms() - t0;
    }
    if (r < 0) {
        fprintf(stderr, "baseline failed: %s\n", strerror(-r));
        return 1;
    }
    base = median(t, steps);
    free(t);
    printf("baseline fork/exec/wait      median %.3f ms (%d runs)\n", base, steps);
    r = bench_steps("sandboxed step", &p, steps, base);
    net.network_none = true;
    if (r == 0)
        r = bench_steps("sandboxed step, net none", &net, steps / 4 > 3 ? steps / 4 : 3, base);
    if (r == 0)
        r = bench_jobs(&p, jobs);
    return r == 0 ? 0 : 1;
}
