/*
 * Cost of the step sandbox. Per step: fork + exec of the wrapped command
 * (as root: gr-step --connect, whose job init forks and execs /bin/true
 * in the job's namespaces) + wait, and the same plus sb_step_reap(),
 * against a plain fork/exec/wait of /bin/true measured in the same run,
 * each sandboxed step paired with a plain one right after it so the host's
 * load drift cancels. CPU per step counts the wrapper (our child) and, as
 * root, what the job's cgroup spent (the init's fork and the step: they
 * are not our children) from its cgroup v2 cpu.stat.
 * As root, also the step handed to the job's init straight over its socket
 * (sb_stepc_*, what the executor does: no wrapper process), polled to its end.
 * Per job: sb_job_new() (cgroup, filter compile, private dir, the job's
 * init with its namespaces and filesystem view) and sb_job_free().
 * Targets: < 2 ms extra per step (median), < 10 ms per job.
 *
 *   bench_sandbox [steps] [jobs]
 */
#include "sb.h"

#include <dirent.h>
#include <poll.h>
#include <spawn.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
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

/* A step through the job's socket, no wrapper: what the executor does for a served job. */
static int run_direct(const char *sock, char *const argv[])
{
    extern char **environ;
    static char cwd[4096];
    struct sb_stepc *c = NULL;
    struct sb_stepc_end e;
    int r;

    if (!cwd[0] && !getcwd(cwd, sizeof(cwd)))
        return -errno;
    r = sb_stepc_start(sock, cwd, argv, environ, (const int[3]){0, 1, 2}, &c);
    while (r == 0) {
        struct pollfd pf = {.fd = sb_stepc_fd(c),
                            .events = POLLIN | (sb_stepc_want_write(c) ? POLLOUT : 0)};

        if (poll(&pf, 1, -1) < 0 && errno != EINTR)
            r = -errno;
        else if ((r = sb_stepc_io(c, &e)) == 1)
            break;
    }
    sb_stepc_free(c);
    if (r < 0)
        return r;
    return e.exited && WIFEXITED(e.status) && WEXITSTATUS(e.status) == 0 ? 0 : -ECHILD;
}

/* An unsandboxed step as the executor starts it: posix_spawn (clone(CLONE_VM|CLONE_VFORK)). */
static int run_spawn(char *const argv[])
{
    extern char **environ;
    pid_t pid;
    int st, r = posix_spawn(&pid, argv[0], NULL, NULL, argv, environ);

    if (r != 0)
        return -r;
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

/*
 * CPU (ms) spent so far in the cgroup v2 dirs of this process's jobs
 * ("job-<label>-<our pid>-*" under <our cgroup>/ghrun), 0 when there is none.
 */
static double jobs_cpu_ms(const char *label)
{
    static const char *const mounts[] = {"/sys/fs/cgroup/unified", "/sys/fs/cgroup"};
    char self[1024] = "", base[2048], p[4096], prefix[128], line[128];
    double ms = 0;
    FILE *f = fopen("/proc/self/cgroup", "re");

    while (f && fgets(line, sizeof(line), f))
        if (strncmp(line, "0::", 3) == 0)
            snprintf(self, sizeof(self), "%.*s", (int)strcspn(line + 3, "\n"), line + 3);
    if (f)
        fclose(f);
    snprintf(prefix, sizeof(prefix), "job-%s-%ld-", label, (long)getpid());
    for (size_t m = 0; m < 2; m++) {
        DIR *d;
        struct dirent *de;

        snprintf(base, sizeof(base), "%s%s/ghrun", mounts[m], strcmp(self, "/") ? self : "");
        d = opendir(base);
        while (d && (de = readdir(d))) {
            uint64_t us = 0;

            if (strncmp(de->d_name, prefix, strlen(prefix)) != 0)
                continue;
            snprintf(p, sizeof(p), "%s/%s/cpu.stat", base, de->d_name);
            f = fopen(p, "re");
            while (f && fgets(line, sizeof(line), f))
                if (sscanf(line, "usage_usec %" SCNu64, &us) == 1)
                    ms += (double)us / 1e3;
            if (f)
                fclose(f);
        }
        if (d) {
            closedir(d);
            break;
        }
    }
    return ms;
}

/* Where a step's time goes: the wrapper's start alone, and the reap alone. */
static int bench_parts(struct sb_job *job, char **wrapped, int n, double base)
{
    char *none[] = {wrapped[0], "--connect", "/nonexistent/gr-bench.sock", "--", "/bin/true", NULL};
    double *t = calloc((size_t)n, sizeof(*t));
    double w = 0;
    int r = 0, st;

    /* the static helper's exec and a refused connect: the wrapper's own cost */
    for (int i = 0; i < n && strcmp(wrapped[1], "--connect") == 0; i++) {
        double t0 = now_ms();
        pid_t pid = fork();

        if (pid == 0) {
            int null = open("/dev/null", O_WRONLY | O_CLOEXEC);

            dup2(null, STDERR_FILENO);
            execv(none[0], none);
            _exit(127);
        }
        if (pid < 0 || waitpid(pid, &st, 0) != pid)
            r = -errno;
        t[i] = now_ms() - t0;
        w = i == n - 1 ? median(t, n) : 0;
    }
    if (w > 0)
        printf("  part: the wrapper alone (exec, refused connect) median %.3f ms (%+.3f ms)\n", w,
               w - base);
    for (int i = 0; r == 0 && i < n; i++) {
        double t0 = now_ms();

        r = sb_step_reap(job);
        t[i] = now_ms() - t0;
    }
    if (r == 0)
        printf("  part: sb_step_reap() after an empty step median %.3f ms\n", median(t, n));
    free(t);
    return r;
}

static int bench_steps(const char *label, const struct sb_policy *p, int n, double base,
                       bool direct)
{
    char *plain[] = {"/bin/true", NULL};
    char **wrapped = NULL;
    struct sb_job *job = NULL;
    double *t = calloc((size_t)n, sizeof(*t)), *tr = calloc((size_t)n, sizeof(*tr));
    double *d = calloc((size_t)n, sizeof(*d));
    int r = sb_job_new("bench", p, &job);
    double c0 = child_cpu_ms(), j0 = jobs_cpu_ms("bench"), cplain = 0;

    if (r == 0)
        r = sb_wrap_command(job, plain, &wrapped);
    if (r == 0 && direct && !sb_job_step_socket(job)) {
        printf("%-28s skipped: steps of this job start through the wrapper only\n", label);
        direct = false;
        n = 0;
    }
    for (int i = 0; r == 0 && i < n; i++) {
        double t0 = now_ms(), t1, tp;

        r = direct ? run_direct(sb_job_step_socket(job), plain) : run(wrapped);
        t1 = now_ms();
        if (r == 0)
            r = sb_step_reap(job);
        t[i] = t1 - t0;
        tr[i] = now_ms() - t0;
        /* a plain run right after: the paired difference cancels the host's load drift */
        tp = now_ms();
        if (r == 0) {
            double cp = child_cpu_ms();

            r = run(plain);
            cplain += child_cpu_ms() - cp;
        }
        d[i] = tr[i] - (now_ms() - tp);
    }
    if (r == 0 && n > 0) {
        double m = median(t, n), mr = median(tr, n);
        double cpu = (child_cpu_ms() - c0 - cplain + jobs_cpu_ms("bench") - j0) / n;

        printf("%-28s median %.3f ms (+%.3f ms, x%.2f); with reap %.3f ms (+%.3f ms); "
               "cpu %.3f ms/step (plain %.3f)\n",
               label, m, m - base, m / base, mr, mr - base, cpu, cplain / n);
        printf("  %s\n", sb_job_summary(job));
        printf("  paired with a plain run each time: median extra %.3f ms per step (with reap)\n",
               median(d, n));
        if (!direct)
            r = bench_parts(job, wrapped, n, base);
    } else if (r < 0) {
        fprintf(stderr, "%s: failed: %s %s\n", label, strerror(-r), sb_last_error());
    }
    sb_argv_free(wrapped);
    sb_job_free(job);
    free(t);
    free(tr);
    free(d);
    return r;
}

/* CPU time (user+sys, ms) of this process. */
static double self_cpu_ms(void)
{
    struct rusage ru;

    getrusage(RUSAGE_SELF, &ru);
    return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1e3 +
           (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e3;
}

static int bench_jobs(const struct sb_policy *p, int n)
{
    double *tn = calloc((size_t)n, sizeof(*tn)), *tf = calloc((size_t)n, sizeof(*tf));
    double c0 = self_cpu_ms() + child_cpu_ms();
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
        printf("job setup median %.3f ms, teardown median %.3f ms (target < 10 ms together); "
               "cpu %.3f ms/job (the runner's side and the init's helper)\n",
               median(tn, n), median(tf, n), (self_cpu_ms() + child_cpu_ms() - c0) / n);
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
    {
        double *t = calloc((size_t)steps, sizeof(*t));

        for (int i = 0; r == 0 && i < steps; i++) {
            double t0 = now_ms();

            r = run_spawn(plain);
            t[i] = now_ms() - t0;
        }
        if (r == 0)
            printf("posix_spawn/wait (executor)  median %.3f ms (%+.3f ms)\n", median(t, steps),
                   median(t, steps) - base);
        free(t);
    }
    r = sb_wrap_command(plainjob, plain, &helper_only);
    if (r == 0) {
        /* gr-sandbox itself, also where steps start through gr-step next to it */
        char helper[4096], *slash;
        char *const bare[] = {helper, "--", "/bin/true", NULL};
        char *const ns[] = {helper, "--ns", "mnt,pid,ipc,uts,cgroup", "--", "/bin/true", NULL};

        snprintf(helper, sizeof(helper), "%s", helper_only[0]);
        slash = strrchr(helper, '/');
        if (slash && strcmp(slash, "/gr-step") == 0)
            snprintf(slash, sizeof(helper) - (size_t)(slash - helper), "/gr-sandbox");
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
    r = bench_steps("sandboxed step, wrapper", &p, steps, base, false);
    if (r == 0 && geteuid() == 0)
        r = bench_steps("sandboxed step, direct", &p, steps, base, true);
    net.network_none = true;
    if (r == 0)
        r = bench_steps("sandboxed step, net none", &net, steps / 4 > 3 ? steps / 4 : 3, base,
                        geteuid() == 0);
    if (r == 0)
        r = bench_jobs(&p, jobs);
    return r == 0 ? 0 : 1;
}
