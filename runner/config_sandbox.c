/*
 * The sandbox section of the runner's configuration (sandbox_config.h):
 * <root>/.sandbox, and the sb_policy that online jobs run under.
 */
#include "sandbox_config.h"
#include "ex/native.h"
#include "ex/persist.h"

#include <ctype.h>
#include <errno.h>
#include <jansson.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#define RN_SANDBOX_MAX (64u << 10)

/* Other users' credentials and the container daemons (docs/sandbox.md section 4). */
static const char *const default_masks[] = {
    "/root",           "/home", "/var/lib/docker", "/var/lib/containerd", "/run/docker.sock",
    "/run/containerd", NULL,
};

static void add_mask(struct rn_sandbox_config *c, const char *path)
{
    for (size_t i = 0; i < c->n_masks; i++)
        if (strcmp(c->masks[i], path) == 0)
            return;
    c->masks = gr_xrealloc(c->masks, (c->n_masks + 2) * sizeof(*c->masks));
    c->masks[c->n_masks++] = gr_xstrdup(path);
    c->masks[c->n_masks] = NULL;
}

void rn_sandbox_config_defaults(struct rn_sandbox_config *ret, const char *root)
{
    char *abs = root ? realpath(root, NULL) : NULL;

    *ret = (struct rn_sandbox_config){.pids = 16384, .nofile = 65536, .strict = true};
    if (root)
        add_mask(ret, abs ? abs : root);
    free(abs);
    for (size_t i = 0; default_masks[i]; i++)
        add_mask(ret, default_masks[i]);
}

void rn_sandbox_config_release(struct rn_sandbox_config *c)
{
    for (size_t i = 0; i < c->n_masks; i++)
        free(c->masks[i]);
    free(c->masks);
    free(c->no_native);
    free(c->persist);
    ex_limit_rules_free(c->rules, c->n_rules);
    memset(c, 0, sizeof(*c));
}

/* "4G", "512M", "64k", or a plain number of bytes (ex_parse_size). */
static int parse_size(const json_t *v, uint64_t *ret)
{
    if (json_is_integer(v) && json_integer_value(v) >= 0) {
        *ret = (uint64_t)json_integer_value(v);
        return 0;
    }
    return ex_parse_size(json_string_value(v), ret);
}

static int bad(struct gr_diag *d, const char *path, const char *key, const char *want)
{
    return gr_diag_set(d, GR_EPARSE, path, 0, 0, "sandbox setting '%s': %s", key, want);
}

static int parse_choice(const json_t *v, const char *a, const char *b, bool *ret_is_b)
{
    const char *s = json_string_value(v);

    if (!s || (strcmp(s, a) && strcmp(s, b)))
        return -EINVAL;
    *ret_is_b = strcmp(s, b) == 0;
    return 0;
}

static int parse_gpus(struct rn_sandbox_config *c, const json_t *v)
{
    size_t i;
    json_t *g;

    if (json_is_string(v) && !strcmp(json_string_value(v), "all")) {
        c->gpus_all = true;
        return 0;
    }
    if (!json_is_array(v) || json_array_size(v) > SB_GPU_MAX)
        return -EINVAL;
    json_array_foreach(v, i, g)
    {
        if (!json_is_integer(g) || json_integer_value(g) < 0 || json_integer_value(g) > 255)
            return -EINVAL;
        c->gpus[c->n_gpus++] = (int)json_integer_value(g);
    }
    return 0;
}

static int parse_masks(struct rn_sandbox_config *c, const json_t *v)
{
    size_t i;
    json_t *m;

    if (!json_is_array(v))
        return -EINVAL;
    json_array_foreach(v, i, m)
    {
        const char *s = json_string_value(m);

        if (!s || s[0] != '/' || strcmp(s, "/") == 0)
            return -EINVAL;
        add_mask(c, s);
    }
    return 0;
}

static int parse_u64_key(const json_t *v, uint64_t *ret)
{
    if (!json_is_integer(v) || json_integer_value(v) < 0)
        return -EINVAL;
    *ret = (uint64_t)json_integer_value(v);
    return 0;
}

/* A JSON array of strings without commas into b, comma-separated. */
static int join_list(const json_t *v, struct gr_buf *b)
{
    size_t i;
    json_t *e;
    int r = 0;

    json_array_foreach(v, i, e)
    {
        if (!json_is_string(e) || strchr(json_string_value(e), ','))
            r = -EINVAL;
        if (r == 0)
            r = gr_buf_addf(b, "%s%s", i ? "," : "", json_string_value(e));
    }
    return r;
}

/* true, or a list of actions (or one comma-separated string) with native versions. */
static int parse_no_native(struct rn_sandbox_config *c, const json_t *v)
{
    struct gr_buf b = GR_BUF_INIT(4096);
    struct gr_diag d = {0};
    int r = 0;

    if (json_is_boolean(v) || json_is_string(v)) {
        r = gr_buf_adds(&b, json_is_true(v) ? "all" : json_is_false(v) ? "" : json_string_value(v));
    } else if (json_is_array(v)) {
        r = join_list(v, &b);
    } else {
        r = -EINVAL;
    }
    if (r == 0)
        r = ex_native_list_check(b.ptr, &d) < 0 ? -EINVAL : 0;
    free(c->no_native);
    c->no_native = r == 0 && b.len ? gr_buf_detach(&b, NULL) : NULL;
    gr_buf_release(&b);
    return r;
}

/* A list of "~/..." directories (or one comma-separated string), checked (ex/persist.h). */
static int parse_persist(struct rn_sandbox_config *c, const json_t *v)
{
    struct gr_buf b = GR_BUF_INIT(64 * 1024);
    char **dirs = NULL;
    size_t n = 0;
    int r = 0;

    if (json_is_string(v)) {
        r = gr_buf_adds(&b, json_string_value(v));
    } else if (json_is_array(v)) {
        r = join_list(v, &b);
    } else {
        r = -EINVAL;
    }
    if (r == 0)
        r = ex_persist_parse(b.ptr, &dirs, &n, NULL) < 0 ? -EINVAL : 0;
    ex_persist_dirs_free(dirs);
    free(c->persist);
    c->persist = r == 0 && n ? gr_buf_detach(&b, NULL) : NULL;
    gr_buf_release(&b);
    return r;
}

/* A rule's pattern key: a non-empty string. */
static int rule_pattern(const char *k, const json_t *v, struct ex_limit_rule *r, bool *ret_is)
{
    char **slot = !strcmp(k, "repository") ? &r->repository
                  : !strcmp(k, "workflow") ? &r->workflow
                  : !strcmp(k, "job")      ? &r->job
                                           : NULL;

    *ret_is = slot != NULL;
    if (!slot)
        return 0;
    if (!json_is_string(v) || !*json_string_value(v) || *slot)
        return -EINVAL;
    *slot = gr_xstrdup(json_string_value(v));
    return 0;
}

/* One rule of "jobs"; errors name the rule and the key. */
static int parse_rule(const json_t *o, size_t idx, struct ex_limit_rule *r, const char *path,
                      struct gr_diag *reterr)
{
    const char *key, *want = "";
    char text[64];
    json_t *v;
    bool is_pattern;

    if (!json_is_object(o))
        return gr_diag_set(reterr, GR_EPARSE, path, 0, 0,
                           "sandbox setting 'jobs': rule %zu is not an object", idx + 1);
    json_object_foreach((json_t *)o, key, v)
    {
        int e = rule_pattern(key, v, r, &is_pattern);

        if (is_pattern) {
            if (e < 0)
                return gr_diag_set(reterr, GR_EPARSE, path, 0, 0,
                                   "sandbox setting 'jobs': rule %zu: '%s' wants a pattern",
                                   idx + 1, key);
            continue;
        }
        if (json_is_integer(v))
            snprintf(text, sizeof(text), "%" JSON_INTEGER_FORMAT, json_integer_value(v));
        else if (json_is_real(v))
            snprintf(text, sizeof(text), "%g", json_real_value(v));
        else
            snprintf(text, sizeof(text), "%s", json_is_string(v) ? json_string_value(v) : "");
        e = json_is_number(v) || json_is_string(v) ? ex_limits_set(&r->lim, key, text, &want)
                                                   : ex_limits_set(&r->lim, key, "", &want);
        if (e == -ENOENT)
            return gr_diag_set(reterr, GR_EPARSE, path, 0, 0,
                               "sandbox setting 'jobs': rule %zu: unknown key '%s' (want "
                               "repository, workflow, job, memory, swap, cpus, pids, nofile, "
                               "gpus or network)",
                               idx + 1, key);
        if (e < 0)
            return gr_diag_set(reterr, GR_EPARSE, path, 0, 0,
                               "sandbox setting 'jobs': rule %zu: '%s': want %s", idx + 1, key,
                               want);
    }
    return 0;
}

static int parse_rules(struct rn_sandbox_config *c, const json_t *v, const char *path,
                       struct gr_diag *reterr)
{
    size_t i;
    json_t *o;
    int r;

    if (!json_is_array(v))
        return gr_diag_set(reterr, GR_EPARSE, path, 0, 0,
                           "sandbox setting 'jobs': want a list of rules");
    ex_limit_rules_free(c->rules, c->n_rules);
    c->rules = gr_xcalloc(json_array_size(v) + 1, sizeof(*c->rules));
    c->n_rules = 0;
    json_array_foreach(v, i, o)
    {
        r = parse_rule(o, i, &c->rules[c->n_rules++], path, reterr);
        if (r < 0)
            return r;
    }
    return 0;
}

/* One key; returns 0, -EINVAL with *ret_want set, or -ENOENT for an unknown key. */
static int parse_key(struct rn_sandbox_config *c, const char *k, const json_t *v,
                     const char **ret_want)
{
    uint64_t n = 0;
    int r;

    *ret_want = "a size in bytes, or a number with K, M, G or T";
    if (!strcmp(k, "memory"))
        return parse_size(v, &c->memory);
    if (!strcmp(k, "swap"))
        return parse_size(v, &c->swap);
    *ret_want = "a non-negative integer";
    if (!strcmp(k, "pids"))
        return parse_u64_key(v, &c->pids);
    if (!strcmp(k, "nofile"))
        return parse_u64_key(v, &c->nofile);
    if (!strcmp(k, "gpus_per_job")) {
        r = parse_u64_key(v, &n);
        c->gpus_per_job = (size_t)n;
        c->gpus_per_job_set = true;
        return r < 0 || n > SB_GPU_MAX ? -EINVAL : 0;
    }
    *ret_want = "a uid above 0";
    if (!strcmp(k, "slot_uid")) {
        r = parse_u64_key(v, &n);
        c->slot_uid = (uid_t)n;
        return r < 0 || n == 0 || n >= UINT32_MAX ? -EINVAL : 0;
    }
    *ret_want = "a number of CPUs (e.g. 2 or 0.5)";
    if (!strcmp(k, "cpus")) {
        c->cpus = json_number_value(v);
        return json_is_number(v) && c->cpus >= 0 && c->cpus <= 4096 ? 0 : -EINVAL;
    }
    *ret_want = "\"host\" or \"none\"";
    if (!strcmp(k, "network"))
        return parse_choice(v, "host", "none", &c->network_none);
    *ret_want = "\"strict\" or \"best-effort\"";
    if (!strcmp(k, "strictness"))
        return parse_choice(v, "best-effort", "strict", &c->strict);
    *ret_want = "\"enforce\" or \"audit\"";
    if (!strcmp(k, "seccomp"))
        return parse_choice(v, "enforce", "audit", &c->seccomp_audit);
    *ret_want = "true or false";
    if (!strcmp(k, "allow_ptrace")) {
        c->allow_ptrace = json_is_true(v);
        return json_is_boolean(v) ? 0 : -EINVAL;
    }
    *ret_want = "a list of GPU minor numbers";
    if (!strcmp(k, "gpus"))
        return parse_gpus(c, v);
    *ret_want = "a list of absolute paths (not /)";
    if (!strcmp(k, "mask"))
        return parse_masks(c, v);
    *ret_want = "true, or a list of actions with a native version (actions/checkout, "
                "actions/cache, actions/cache/restore, actions/cache/save, "
                "actions/upload-artifact, actions/download-artifact)";
    if (!strcmp(k, "no_native"))
        return parse_no_native(c, v);
    *ret_want = "a list of directories in the home directory (\"~/.cache/pip\", \"~/.npm\")";
    if (!strcmp(k, "persist"))
        return parse_persist(c, v);
    return -ENOENT;
}

int rn_sandbox_config_parse(const char *text, size_t len, const char *path, const char *root,
                            struct rn_sandbox_config *ret, struct gr_diag *reterr)
{
    struct rn_sandbox_config c;
    json_error_t jerr;
    const char *key, *want = "";
    json_t *o, *v;
    int r = 0;

    rn_sandbox_config_defaults(&c, root);
    o = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!o) {
        r = gr_diag_set(reterr, GR_EPARSE, path, jerr.line, jerr.column, "%s", jerr.text);
        goto out;
    }
    if (!json_is_object(o)) {
        r = gr_diag_set(reterr, GR_EPARSE, path, 1, 1, "the sandbox settings are not an object");
        goto out;
    }
    json_object_foreach(o, key, v)
    {
        if (!strcmp(key, "jobs")) {
            r = parse_rules(&c, v, path, reterr);
            if (r < 0)
                goto out;
            continue;
        }
        r = parse_key(&c, key, v, &want);
        if (r == -ENOENT) {
            r = gr_diag_set(reterr, GR_EPARSE, path, 0, 0, "unknown sandbox setting '%s'", key);
            goto out;
        }
        if (r < 0) {
            r = bad(reterr, path, key, want);
            goto out;
        }
    }
    if (c.gpus_per_job > c.n_gpus && !c.gpus_all)
        r = gr_diag_set(reterr, GR_EPARSE, path, 0, 0,
                        "sandbox setting 'gpus_per_job': %zu, but only %zu GPUs are configured",
                        c.gpus_per_job, c.n_gpus);
out:
    json_decref(o);
    if (r < 0) {
        rn_sandbox_config_release(&c);
        return r;
    }
    *ret = c;
    return 0;
}

int rn_sandbox_config_load_file(const char *path, const char *root, struct rn_sandbox_config *ret,
                                struct gr_diag *reterr)
{
    size_t len = 0;
    char *text = NULL;
    int r = gr_file_read(path, RN_SANDBOX_MAX, &text, &len);

    if (r < 0)
        return gr_diag_set(reterr, r, path, 0, 0, "cannot read the sandbox settings: %s",
                           gr_strerror(r));
    r = rn_sandbox_config_parse(text, len, path, root, ret, reterr);
    free(text);
    return r;
}

/*
 * GHRUN_NO_NATIVE and GHRUN_PERSIST, when set and not empty, replace the file's "no_native"
 * and "persist" (the same syntax as replay's: "1" and "true" mean all actions).
 */
static int env_overrides(struct rn_sandbox_config *c, struct gr_diag *reterr)
{
    const char *nn = getenv("GHRUN_NO_NATIVE"), *pe = getenv("GHRUN_PERSIST");
    struct gr_diag d = {0};
    char **dirs = NULL;
    size_t n = 0;

    if (nn && *nn) {
        if (!strcmp(nn, "1") || !strcasecmp(nn, "true"))
            nn = "all";
        if (ex_native_list_check(nn, &d) < 0)
            return gr_diag_set(reterr, -EINVAL, NULL, 0, 0, "GHRUN_NO_NATIVE: %s", d.msg);
        free(c->no_native);
        c->no_native = gr_xstrdup(nn);
    }
    if (pe && *pe) {
        if (ex_persist_parse(pe, &dirs, &n, &d) < 0)
            return gr_diag_set(reterr, -EINVAL, NULL, 0, 0, "GHRUN_PERSIST: %s", d.msg);
        ex_persist_dirs_free(dirs);
        free(c->persist);
        c->persist = gr_xstrdup(pe);
    }
    return 0;
}

int rn_sandbox_config_load(const char *root, struct rn_sandbox_config *ret, struct gr_diag *reterr)
{
    char *path = gr_path_join(root, RN_SANDBOX_FILE);
    int r = 0;

    if (gr_path_exists(path))
        r = rn_sandbox_config_load_file(path, root, ret, reterr);
    else
        rn_sandbox_config_defaults(ret, root);
    if (r == 0) {
        r = env_overrides(ret, reterr);
        if (r < 0)
            rn_sandbox_config_release(ret);
    }
    if (r < 0 && reterr) {
        /* the diag borrows its file name: fold it into the message before path goes */
        char msg[sizeof(reterr->msg)];

        gr_diag_format(reterr, msg, sizeof(msg));
        gr_diag_set(reterr, r, NULL, 0, 0, "%s", msg);
    }
    free(path);
    return r;
}

void rn_config_sandbox_policy(const struct rn_sandbox_config *c, struct sb_policy *ret)
{
    *ret = (struct sb_policy){
        .memory_max = c->memory,
        .swap_max = c->swap,
        .cpu_quota_us = (uint64_t)llround(c->cpus * 100000.0),
        .pids_max = c->pids,
        .nofile = c->nofile,
        .network_none = c->network_none,
        .strict = c->strict,
        /* a root runner leases a slot per job: ghr-slot<N>, else slot_uid (64000) + N */
        .slot_auto = true,
        .slot_uid = c->slot_uid,
        .mask_paths = (const char *const *)c->masks,
        .allow_ptrace = c->allow_ptrace,
        .seccomp_audit = c->seccomp_audit,
        /* GPUs configured: every job is device-restricted, and gets only its lease */
        .gpu_isolate = c->n_gpus > 0 || c->gpus_all,
    };
}

static const char *env_or(const char *name, const char *def)
{
    const char *v = getenv(name);

    return v && *v ? v : def;
}

int rn_config_gpu_slots(const struct rn_sandbox_config *c, struct ex_gpu_slots *ret)
{
    static char lock_dir[PATH_MAX];
    const char *rt = getenv("XDG_RUNTIME_DIR");
    struct sb_gpu_env env = {
        .dev_dir = env_or("GHRUN_GPU_DEV_DIR", NULL),
        .proc_dir = env_or("GHRUN_GPU_PROC_DIR", NULL),
        .nvidia_smi = getenv("GHRUN_NVIDIA_SMI"),
    };

    memset(ret, 0, sizeof(*ret));
    if (!c->n_gpus && !c->gpus_all)
        return 0;
    (void)sb_gpu_discover(&env, &ret->all);
    for (size_t i = 0; i < ret->all.n; i++) {
        bool want = c->gpus_all;

        for (size_t k = 0; k < c->n_gpus && !want; k++)
            want = c->gpus[k] == ret->all.gpu[i].minor;
        if (want)
            ret->slots.gpu[ret->slots.n++] = ret->all.gpu[i];
    }
    for (size_t k = 0; k < c->n_gpus; k++) {
        bool found = false;

        for (size_t i = 0; i < ret->all.n && !found; i++)
            found = c->gpus[k] == ret->all.gpu[i].minor;
        if (!found)
            fprintf(stderr, "ghrun: warning: sandbox setting 'gpus': this host has no GPU %d\n",
                    c->gpus[k]);
    }
    /* without "gpus_per_job" a job gets all the slots (one runner per GPU host) */
    ret->per_job =
        !c->gpus_per_job_set || c->gpus_per_job > ret->slots.n ? ret->slots.n : c->gpus_per_job;
    ret->dev_dir = env.dev_dir;
    if (getenv("GHRUN_GPU_LOCK_DIR") && *getenv("GHRUN_GPU_LOCK_DIR"))
        snprintf(lock_dir, sizeof(lock_dir), "%s", getenv("GHRUN_GPU_LOCK_DIR"));
    else if (geteuid() == 0)
        snprintf(lock_dir, sizeof(lock_dir), "/run/ghrun/gpus");
    else if (rt && *rt == '/')
        snprintf(lock_dir, sizeof(lock_dir), "%s/ghrun-gpus", rt);
    else
        snprintf(lock_dir, sizeof(lock_dir), "/tmp/ghrun-gpus-%u", (unsigned)geteuid());
    ret->lock_dir = lock_dir;
    return 1;
}
