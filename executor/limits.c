/*
 * A job's own sandbox limits (ex/limits.h): parsing them from settings and runs-on labels,
 * matching the runner's rules, and lowering a policy to them.
 */
#include "ex/limits.h"
#include "gr.h"

#include <ctype.h>
#include <errno.h>
#include <fnmatch.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NOFILE_DEFAULT 65536 /* the sandbox's RLIMIT_NOFILE when the policy says 0 */

int ex_parse_size(const char *s, uint64_t *ret)
{
    static const char units[] = "KMGT";
    unsigned long long n;
    const char *u;
    char *end;

    if (!s || !isdigit((unsigned char)*s))
        return -EINVAL;
    errno = 0;
    n = strtoull(s, &end, 10);
    if (errno)
        return -ERANGE;
    if (*end) {
        u = strchr(units, toupper((unsigned char)*end));
        if (!u)
            return -EINVAL;
        for (const char *k = units; k <= u; k++) {
            if (n > ULLONG_MAX / 1024)
                return -ERANGE;
            n *= 1024;
        }
        end++;
        end += !strcmp(end, "iB") ? 2 : !strcmp(end, "B") ? 1 : 0;
    }
    if (*end)
        return -EINVAL;
    *ret = n;
    return 0;
}

static int parse_count(const char *s, uint64_t max, uint64_t *ret)
{
    unsigned long long n;
    char *end;

    if (!s || !isdigit((unsigned char)*s))
        return -EINVAL;
    errno = 0;
    n = strtoull(s, &end, 10);
    if (errno || *end || n > max)
        return -EINVAL;
    *ret = n;
    return 0;
}

int ex_limits_set(struct ex_limits *l, const char *key, const char *value, const char **ret_want)
{
    uint64_t n = 0;
    char *end;

    *ret_want = "a size in bytes, or a number with K, M, G or T";
    if (!strcmp(key, "memory") || !strcmp(key, "swap")) {
        if (ex_parse_size(value, &n) < 0 || (n == 0 && key[0] == 'm'))
            return -EINVAL;
        *(key[0] == 'm' ? &l->memory : &l->swap) = n;
        l->set |= key[0] == 'm' ? EX_LIM_MEMORY : EX_LIM_SWAP;
        return 0;
    }
    *ret_want = "a number of CPUs above 0 (e.g. 2 or 0.5)";
    if (!strcmp(key, "cpus")) {
        double d = value && *value ? strtod(value, &end) : 0;

        if (!value || !*value || *end || !(d > 0) || d > 4096)
            return -EINVAL;
        l->cpus = d;
        l->set |= EX_LIM_CPUS;
        return 0;
    }
    *ret_want = "a whole number above 0";
    if (!strcmp(key, "pids") || !strcmp(key, "nofile")) {
        if (parse_count(value, UINT32_MAX, &n) < 0 || n == 0)
            return -EINVAL;
        *(key[0] == 'p' ? &l->pids : &l->nofile) = n;
        l->set |= key[0] == 'p' ? EX_LIM_PIDS : EX_LIM_NOFILE;
        return 0;
    }
    *ret_want = "a number of GPUs";
    if (!strcmp(key, "gpu") || !strcmp(key, "gpus")) {
        if (parse_count(value, SB_GPU_MAX, &n) < 0)
            return -EINVAL;
        l->gpus = (size_t)n;
        l->set |= EX_LIM_GPUS;
        return 0;
    }
    *ret_want = "\"none\" or \"host\"";
    if (!strcmp(key, "network")) {
        if (!value || (strcmp(value, "none") && strcmp(value, "host")))
            return -EINVAL;
        if (!strcmp(value, "none")) {
            l->network_none = true;
            l->set |= EX_LIM_NETWORK;
        }
        return 0;
    }
    return -ENOENT;
}

int ex_limits_label(struct ex_limits *l, const char *label, const char **ret_want)
{
    const char *colon = strchr(label, ':');
    char key[16];
    size_t n = colon ? (size_t)(colon - label) : 0;
    int r;

    if (!n || n >= sizeof(key))
        return 0;
    memcpy(key, label, n);
    key[n] = '\0';
    r = ex_limits_set(l, key, colon + 1, ret_want);
    return r == -ENOENT ? 0 : r < 0 ? r : 1;
}

void ex_limits_merge(struct ex_limits *a, const struct ex_limits *b)
{
#define LOWER(bit, f)                                                                              \
    do {                                                                                           \
        if ((b->set & (bit)) && (!(a->set & (bit)) || b->f < a->f))                                \
            a->f = b->f;                                                                           \
    } while (0)
    LOWER(EX_LIM_MEMORY, memory);
    LOWER(EX_LIM_SWAP, swap);
    LOWER(EX_LIM_CPUS, cpus);
    LOWER(EX_LIM_PIDS, pids);
    LOWER(EX_LIM_NOFILE, nofile);
    LOWER(EX_LIM_GPUS, gpus);
#undef LOWER
    a->network_none = a->network_none || b->network_none;
    a->set |= b->set;
}

static bool match(const char *pattern, const char *s)
{
    return !pattern || fnmatch(pattern, s ? s : "", 0) == 0;
}

bool ex_limit_rule_matches(const struct ex_limit_rule *r, const char *repository,
                           const char *workflow, const char *job)
{
    return match(r->repository, repository) && match(r->workflow, workflow) && match(r->job, job);
}

void ex_limit_rules_free(struct ex_limit_rule *v, size_t n)
{
    for (size_t i = 0; v && i < n; i++) {
        free(v[i].repository);
        free(v[i].workflow);
        free(v[i].job);
    }
    free(v);
}

static void human(char *buf, size_t len, uint64_t v)
{
    static const char *const units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    double d = (double)v;
    size_t u = 0;

    while (d >= 1024 && u + 1 < GR_ARRAY_SIZE(units)) {
        d /= 1024;
        u++;
    }
    if (d == floor(d))
        snprintf(buf, len, "%.0f %s", d, units[u]);
    else
        snprintf(buf, len, "%.1f %s", d, units[u]);
}

/* Append "name value" to the note (lowered) or "name value (the runner's X stays)" (refused). */
static void say(char *buf, size_t len, const char *name, const char *value, const char *kept)
{
    size_t off = buf ? strlen(buf) : len;

    if (off >= len)
        return;
    if (kept)
        snprintf(buf + off, len - off, "%s%s %s (the runner's %s stays)", off ? ", " : "", name,
                 value, kept);
    else
        snprintf(buf + off, len - off, "%s%s %s", off ? ", " : "", name, value);
}

struct lower_ctx {
    char *note, *refused;
    size_t note_len, refused_len;
};

/* *cur (0: none, treated as unlimited unless zero_is is set) lowered to want. */
static void lower_u64(const struct lower_ctx *c, const char *name, uint64_t *cur, uint64_t zero_is,
                      uint64_t want, bool bytes)
{
    uint64_t have = *cur ? *cur : zero_is;
    char w[32], h[32];

    if (bytes) {
        human(w, sizeof(w), want);
        human(h, sizeof(h), have);
    } else {
        snprintf(w, sizeof(w), "%" PRIu64, want);
        snprintf(h, sizeof(h), "%" PRIu64, have);
    }
    if (have && want > have) {
        say(c->refused, c->refused_len, name, w, h);
        return;
    }
    if (have && want == have)
        return;
    *cur = want;
    say(c->note, c->note_len, name, w, NULL);
}

void ex_limits_apply(const struct ex_limits *l, struct sb_policy *pol, size_t *gpus, char *note,
                     size_t note_len, char *refused, size_t refused_len)
{
    struct lower_ctx c = {note, refused, note_len, refused_len};
    char w[32], h[32];

    if (note && note_len)
        note[0] = '\0';
    if (refused && refused_len)
        refused[0] = '\0';
    if (l->set & EX_LIM_MEMORY)
        lower_u64(&c, "memory", &pol->memory_max, 0, l->memory, true);
    if (l->set & EX_LIM_SWAP) {
        /* swap 0 is no swap, not unlimited */
        if (l->swap < pol->swap_max) {
            pol->swap_max = l->swap;
            human(w, sizeof(w), l->swap);
            say(note, note_len, "swap", w, NULL);
        } else if (l->swap > pol->swap_max) {
            human(w, sizeof(w), l->swap);
            human(h, sizeof(h), pol->swap_max);
            say(refused, refused_len, "swap", w, h);
        }
    }
    if (l->set & EX_LIM_CPUS) {
        /* per 100 ms period, as rn_config_sandbox_policy; the kernel's floor is 1 ms */
        uint64_t quota = (uint64_t)llround(l->cpus * 100000.0) < 1000
                             ? 1000
                             : (uint64_t)llround(l->cpus * 100000.0);

        snprintf(w, sizeof(w), "%g", l->cpus);
        snprintf(h, sizeof(h), "%g", (double)pol->cpu_quota_us / 100000.0);
        if (pol->cpu_quota_us && quota > pol->cpu_quota_us) {
            say(refused, refused_len, "cpus", w, h);
        } else if (quota != pol->cpu_quota_us) {
            pol->cpu_quota_us = quota;
            say(note, note_len, "cpus", w, NULL);
        }
    }
    if (l->set & EX_LIM_PIDS)
        lower_u64(&c, "pids", &pol->pids_max, 0, l->pids, false);
    if (l->set & EX_LIM_NOFILE)
        lower_u64(&c, "nofile", &pol->nofile, NOFILE_DEFAULT, l->nofile, false);
    if ((l->set & EX_LIM_GPUS) && gpus) {
        snprintf(w, sizeof(w), "%zu", l->gpus);
        snprintf(h, sizeof(h), "%zu", *gpus);
        if (l->gpus > *gpus) {
            say(refused, refused_len, "gpu", w, h);
        } else if (l->gpus < *gpus) {
            *gpus = l->gpus;
            say(note, note_len, "gpu", w, NULL);
        }
    }
    if ((l->set & EX_LIM_NETWORK) && l->network_none && !pol->network_none) {
        pol->network_none = true;
        say(note, note_len, "network", "none", NULL);
    }
}
