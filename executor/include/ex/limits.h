/*
 * ex_limits: a job's own sandbox limits and GPU slots.
 *
 * The runner's settings give every job the same policy (memory, swap, CPUs, pids, open
 * files, network, GPUs per job). A job may ask for less, never for more:
 *   - by its runs-on labels, "key:value" (docs/sandbox.md section 9: `gpu:2`): memory:4G,
 *     swap:0, cpus:1.5, pids:512, nofile:4096, gpu:1, network:none. GitHub matches runs-on
 *     on its side and does not send the labels with the job message
 *     (docs/runner-protocol.md section 10), so these apply to replayed workflows;
 *   - by the runner's rules: jobs whose github.repository, github.workflow and github.job
 *     match a rule's patterns (fnmatch) get its limits (online and replay alike).
 * What a job asks for above the runner's value is ignored, and said in its log.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sb.h"

enum {
    EX_LIM_MEMORY = 1 << 0,
    EX_LIM_SWAP = 1 << 1,
    EX_LIM_CPUS = 1 << 2,
    EX_LIM_PIDS = 1 << 3,
    EX_LIM_NOFILE = 1 << 4,
    EX_LIM_GPUS = 1 << 5,
    EX_LIM_NETWORK = 1 << 6,
};

struct ex_limits {
    unsigned set;          /* EX_LIM_* of the fields asked for */
    uint64_t memory, swap; /* bytes */
    uint64_t pids, nofile; /* counts, above 0 */
    double cpus;           /* CPUs of quota, above 0 */
    size_t gpus;           /* GPUs of the runner's slots */
    bool network_none;     /* set with EX_LIM_NETWORK: no network (host is no request) */
};

/* A runner rule; NULL patterns match anything. */
struct ex_limit_rule {
    char *repository, *workflow, *job;
    struct ex_limits lim;
};

/*
 * The GPUs jobs lease (docs/sandbox.md section 9): all the host's GPUs (hidden from a job
 * unless leased), the ones jobs may lease (a subset), how many each job gets, and where
 * the lease locks live (shared by every runner on the host).
 */
struct ex_gpu_slots {
    struct sb_gpu_inv all, slots;
    size_t per_job;
    const char *lock_dir; /* NULL: /run/ghrun/gpus */
    const char *dev_dir;  /* where the nodes are; NULL: /dev */
};

/* "4G", "512M", "64k", "1GiB", or bytes. Returns 0, -EINVAL or -ERANGE. */
int ex_parse_size(const char *s, uint64_t *ret);
/*
 * One setting (memory, swap, cpus, pids, nofile, gpu, network) from its text. Returns 0,
 * -ENOENT for another key, or -EINVAL with *ret_want saying what the value should be.
 */
int ex_limits_set(struct ex_limits *l, const char *key, const char *value, const char **ret_want);
/*
 * One runs-on label: 1 when it is "key:value" of a setting and l took it, 0 for any other
 * label, -EINVAL (with *ret_want) for a setting's label with a bad value.
 */
int ex_limits_label(struct ex_limits *l, const char *label, const char **ret_want);
/* a becomes the lower of a and b in each field b sets. */
void ex_limits_merge(struct ex_limits *a, const struct ex_limits *b);
bool ex_limit_rule_matches(const struct ex_limit_rule *r, const char *repository,
                           const char *workflow, const char *job);
void ex_limit_rules_free(struct ex_limit_rule *v, size_t n);
/*
 * Lower pol and *gpus to what l asks, never raising one (0 in pol is no limit; nofile 0 is
 * the sandbox's 65536). Writes "memory 64 MiB, pids 32" of what changed to note, and
 * "cpus 8 (the runner's 2 stay)" of what was refused to refused (either may be NULL).
 */
void ex_limits_apply(const struct ex_limits *l, struct sb_policy *pol, size_t *gpus, char *note,
                     size_t note_len, char *refused, size_t refused_len);
