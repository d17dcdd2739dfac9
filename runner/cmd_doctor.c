/*
 * `ghrun doctor`: the sandbox's view of this host (sb_doctor), then the
 * runner's sandbox settings (<root>/.sandbox) and what a job would get under
 * them, so an operator can see which protections a job will get, or why a
 * strict runner would refuse jobs, before registering.
 */
#include "cmd_doctor.h"

#include "cmd_runner.h"
#include "sandbox_config.h"
#include "sb.h"

#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void usage(void)
{
    printf("usage: ghrun doctor [--root DIR]\n\nReport what this host supports for the step "
           "sandbox:\nnamespaces, seccomp, cgroups (v2, hybrid, v1), the gr-sandbox helper,\n"
           "the runner's sandbox settings (DIR/.sandbox) and which protections a job\n"
           "would run without under them.\n\n"
           "  --root DIR   runner root (default: $GHRUN_ROOT or the current directory)\n");
}

static void print_settings(const struct rn_sandbox_config *c, const char *path, bool found)
{
    printf("settings: %s%s\n", path, found ? "" : " (none: defaults)");
    printf("settings: memory=%" PRIu64 " swap=%" PRIu64 " cpus=%g pids=%" PRIu64 " nofile=%" PRIu64
           " network=%s strictness=%s slot_uids=%u+N gpus=%zu/job\n",
           c->memory, c->swap, c->cpus, c->pids, c->nofile, c->network_none ? "none" : "host",
           c->strict ? "strict" : "best-effort", (unsigned)(c->slot_uid ? c->slot_uid : 64000),
           c->gpus_per_job);
    for (size_t i = 0; i < c->n_masks; i++)
        printf("settings: masked: %s\n", c->masks[i]);
    for (size_t i = 0; i < c->n_rules; i++) {
        const struct ex_limit_rule *r = &c->rules[i];

        printf("settings: job rule %zu: repository=%s workflow=%s job=%s\n", i + 1,
               r->repository ? r->repository : "*", r->workflow ? r->workflow : "*",
               r->job ? r->job : "*");
    }
}

/* The GPU slots the settings name, as jobs will lease them. */
static void print_gpu_slots(const struct rn_sandbox_config *c)
{
    struct ex_gpu_slots g;

    if (!rn_config_gpu_slots(c, &g))
        return;
    printf("gpu slots: %zu of the host's %zu GPUs, %zu per job, leases in %s\n", g.slots.n, g.all.n,
           g.per_job, g.lock_dir);
    for (size_t i = 0; i < g.slots.n; i++)
        printf("gpu slots: minor %d %s %s\n", g.slots.gpu[i].minor,
               g.slots.gpu[i].uuid[0] ? g.slots.gpu[i].uuid : "-",
               g.slots.gpu[i].bus_id[0] ? g.slots.gpu[i].bus_id : "-");
}

/* A job under the runner's own policy: what it gets, or why strict refuses it. */
static int job_under_settings(const struct rn_sandbox_config *c)
{
    struct sb_policy p;
    struct sb_job *j = NULL;
    uid_t uid;
    gid_t gid;

    rn_config_sandbox_policy(c, &p);
    if (sb_job_new("doctor-settings", &p, &j) < 0) {
        printf("runner job: refused: %s\n", sb_last_error());
        return 1;
    }
    printf("runner job: %s\n", sb_job_summary(j));
    if (sb_job_slot(j, &uid, &gid, NULL) == 0)
        printf("runner job: steps run as uid %u gid %u (a job slot of its own)\n", (unsigned)uid,
               (unsigned)gid);
    else
        printf("runner job: steps run as uid %u (no job slot%s)\n", (unsigned)geteuid(),
               geteuid() ? ": the runner is not root" : ", capabilities dropped");
    for (const char *const *d = sb_job_degraded(j); *d; d++)
        printf("runner job: degraded: %s\n", *d);
    sb_job_free(j);
    return 0;
}

int rn_cmd_doctor(int argc, char **argv)
{
    static const struct option opts[] = {{"root", required_argument, NULL, 'R'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    struct rn_sandbox_config c;
    struct gr_diag d = {0};
    const char *root_opt = NULL;
    char msg[700], *root, *path;
    bool found;
    int o, rc;

    optind = 1;
    while ((o = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        if (o == 'h') {
            usage();
            return 0;
        }
        if (o != 'R')
            return 2;
        root_opt = optarg;
    }
    if (optind < argc) {
        fprintf(stderr, "ghrun doctor: unexpected argument '%s'\n", argv[optind]);
        return 2;
    }
    if (sb_doctor(stdout) < 0)
        return 1;
    root = rn_cmd_root(root_opt);
    path = gr_path_join(root, RN_SANDBOX_FILE);
    found = gr_path_exists(path);
    if (rn_sandbox_config_load(root, &c, &d) < 0) {
        gr_diag_format(&d, msg, sizeof(msg));
        fprintf(stderr, "ghrun doctor: %s\n", msg);
        free(path);
        free(root);
        return 1;
    }
    print_settings(&c, path, found);
    print_gpu_slots(&c);
    rc = job_under_settings(&c);
    rn_sandbox_config_release(&c);
    free(path);
    free(root);
    fflush(stdout);
    return rc;
}
