/*
 * Per-job sandbox state and the one entry point that starts steps.
 * This first back end runs steps as plain processes in their own process
 * group; isolation (namespaces, cgroups, seccomp) plugs in behind the same
 * functions.
 */
#include "sb.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

struct sb_job {
    char *name;
    struct sb_policy policy;
};

int sb_job_new(const char *name, const struct sb_policy *policy, struct sb_job **ret)
{
    struct sb_job *j = calloc(1, sizeof(*j));

    if (!j)
        return -ENOMEM;
    j->name = strdup(name ? name : "job");
    if (!j->name) {
        free(j);
        return -ENOMEM;
    }
    if (policy)
        j->policy = *policy;
    *ret = j;
    return 0;
}

void sb_job_free(struct sb_job *job)
{
    if (!job)
        return;
    free(job->name);
    free(job);
}

int sb_wrap_command(const struct sb_job *job, char *const argv[], char ***ret_argv)
{
    size_t n = 0;
    char **out;

    (void)job;
    while (argv[n])
        n++;
    out = calloc(n + 1, sizeof(*out));
    if (!out)
        return -ENOMEM;
    for (size_t i = 0; i < n; i++) {
        out[i] = strdup(argv[i]);
        if (!out[i]) {
            sb_argv_free(out);
            return -ENOMEM;
        }
    }
    *ret_argv = out;
    return 0;
}

void sb_argv_free(char **argv)
{
    if (!argv)
        return;
    for (size_t i = 0; argv[i]; i++)
        free(argv[i]);
    free(argv);
}

int sb_step_reap(struct sb_job *job)
{
    (void)job;
    return 0;
}

int sb_job_kill(struct sb_job *job, int sig)
{
    (void)job;
    (void)sig;
    return 0;
}
