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
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
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

/* CPU time (user+sys, ms) of reaped children so far: steadier than wall time on a busy host. */
static double child_cpu_ms(void)
{
    struct rusage ru;

    getrusage(RUSAGE_CHILDREN, &ru);
    return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1e3 +
           (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e3;
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

/* Median wall time of n runs of argv; *ret_cpu gets the mean child CPU time per run. */
static int time_argv(char *const argv[], int n, double *ret_wall, double *ret_cpu)
{
    double *t = calloc((size_t)n, sizeof(*t));
    double c0 = child_cpu_ms();
    int r = 0;

    for (int i = 0; r == 0 && i < n; i++) {
        double t0 = now_ms();

        r = run(argv);
        t[i] = now_ms() - t0;
    }
    if (r == 0) {
        *ret_wall = median(t, n);
        *ret_cpu = (child_cpu_ms() - c0) / n;
    }
    free(t);
    return r;
}

/* The wrapped command without the options named in drop (each takes one value). */
static char **without(char **wrapped, const char *const *drop)
{
    size_t n = 0, k = 0;
    char **out;

    while (wrapped[n])
        n++;
    out = calloc(n + 1, sizeof(*out));
    for (size_t i = 0; out && i < n; i++) {
        bool skip = false;

        for (size_t d = 0; drop[d] && !skip; d++)
            skip = strcmp(wrapped[i], drop[d]) == 0;
        if (skip && wrapped[i + 1] && strcmp(wrapped[i], "--") != 0)
            i++;
        else
            out[k++] = wrapped[i];
    }
    return out;
}

/* Where a step's time goes: the same wrapped command with parts of the sandbox left out. */
static int bench_parts(char **wrapped, int n, double base)
{
    static const char *const parts[][6] = {
        {"--cgroup1", "--cgroup2", "--seccomp", "--join", NULL},
        {"--cgroup1", "--cgroup2", "--seccomp", NULL},
        {"--cgroup1", "--cgroup2", NULL},
        {"--cgroup1", NULL},
    };
    static const char *const names[] = {"no cgroup, seccomp, join", "no cgroup, seccomp",
                                        "no cgroup", "no v1 cgroups"};
    int r = 0;

    for (size_t i = 0; r == 0 && i < sizeof(parts) / sizeof(parts[0]); i++) {
        char **argv = without(wrapped, parts[i]);
        double w = 0, c = 0;

        r = argv ? time_argv(argv, n, &w, &c) : -ENOMEM;
        if (r == 0)
            printf("  part: %-26s median %.3f ms (+%.3f ms); cpu %.3f ms/step\n", names[i], w,
                   w - base, c);
        free(argv);
    }
    return r;
}

static int bench_steps(const char *label, const struct sb_policy *p, int n, double base)
{
    char *plain[] = {"/bin/true", NULL};
    char **wrapped = NULL;
    struct sb_job *job = NULL;
    double *t = calloc((size_t)n, sizeof(*t)), *tr = calloc((size_t)n, sizeof(*tr));
    double *d = calloc((size_t)n, sizeof(*d));
    int r = sb_job_new("bench", p, &job);

    double c0 = child_cpu_ms();

    if (r == 0)
        r = sb_wrap_command(job, plain, &wrapped);
    for (int i = 0; r == 0 && i < n; i++) {
        double t0 = now_ms(), t1, tp;

        r = run(wrapped);
        t1 = now_ms();
        if (r == 0)
            r = sb_step_reap(job);
        t[i] = t1 - t0;
        tr[i] = now_ms() - t0;
        /* a plain run right after: the paired difference cancels the host's load drift */
        tp = now_ms();
        if (r == 0)
            r = run(plain);
        d[i] = tr[i] - (now_ms() - tp);
    }
    if (r == 0) {
        double m = median(t, n), mr = median(tr, n);

        printf("%-28s median %.3f ms (+%.3f ms, x%.2f); with reap %.3f ms (+%.3f ms); "
               "cpu %.3f ms/step\n",
               label, m, m - base, m / base, mr, mr - base, (child_cpu_ms() - c0) / n);
        printf("  %s\n", sb_job_summary(job));
        printf("  paired with a plain run each time: median extra %.3f ms per step (with reap)\n",
               median(d, n));
        r = bench_parts(wrapped, n, base);
    } else {
        fprintf(stderr, "%s: failed: %s %s\n", label, strerror(-r), sb_last_error());
    }
    sb_argv_free(wrapped);
    sb_job_free(job);
    free(t);
    free(tr);
    free(d);
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
    struct sb_job *plainjob = NULL;
    char **helper_only = NULL;
    double base = 0, cpu = 0;
    int r;

    if (steps < 3 || jobs < 3)
        return 2;
    /* a job with a policy and nothing else, to learn where the helper is */
    if (sb_job_new("bench-plain", &(struct sb_policy){0}, &plainjob) < 0)
        return 1;
    r = time_argv(plain, steps, &base, &cpu);
    if (r < 0) {
        fprintf(stderr, "baseline failed: %s\n", strerror(-r));
        return 1;
    }
    printf("baseline fork/exec/wait      median %.3f ms (%d runs); cpu %.3f ms/step\n", base, steps,
           cpu);
    r = sb_wrap_command(plainjob, plain, &helper_only);
    if (r == 0) {
        char *const bare[] = {helper_only[0], "--", "/bin/true", NULL};
        char *const ns[] = {helper_only[0], "--ns",      "mnt,pid,ipc,uts,cgroup",
                            "--",           "/bin/true", NULL};
        double w, c;

        r = time_argv(bare, steps, &w, &c);
        if (r == 0)
            printf("helper, no isolation         median %.3f ms (+%.3f ms); cpu %.3f ms/step\n", w,
                   w - base, c);
        if (r == 0 && geteuid() == 0)
            r = time_argv(ns, steps, &w, &c);
        if (r == 0 && geteuid() == 0)
            printf("helper, namespaces only      median %.3f ms (+%.3f ms); cpu %.3f ms/step\n", w,
                   w - base, c);
    }
    sb_argv_free(helper_only);
    sb_job_free(plainjob);
    if (r < 0) {
        fprintf(stderr, "helper runs failed: %s\n", strerror(-r));
        return 1;
    }
    r = bench_steps("sandboxed step", &p, steps, base);
    net.network_none = true;
    if (r == 0)
        r = bench_steps("sandboxed step, net none", &net, steps / 4 > 3 ? steps / 4 : 3, base);
    if (r == 0)
        r = bench_jobs(&p, jobs);
    return r == 0 ? 0 : 1;
}
