/*
 * Internal to runner/: what `ghrun replay` hands to the part that runs jobs.
 * cmd_replay.c parses flags, loads and plans; replay_run.c runs a plan.
 */
#pragma once

#include <stdbool.h>
#include <jansson.h>

#include "cli.h"
#include "ex.h"

/* Parsed `ghrun replay` options. Everything is owned by cmd_replay.c and valid during the call. */
struct rn_replay_opts {
    const char *directory;    /* -C: the repository (workspace); "." by default */
    const char *json_path;    /* --json FILE, or NULL */
    const char *job_id;       /* -j, or NULL */
    const char *event_name;   /* positional, or NULL (each workflow's default) */
    json_t *event_payload;    /* -e FILE, or NULL */
    json_t *inputs;           /* --input: object of strings */
    json_t *secrets;          /* -s, --secret-file: object of strings (never print) */
    json_t *vars;             /* --var, --var-file */
    json_t *env;              /* --env, --env-file */
    json_t *matrix_filter;    /* --matrix k:v: key -> array of accepted strings, or NULL */
    int jobs;                 /* --jobs N: parallel jobs, 0 = default */
    bool verbose;             /* -v */
    bool ignore_filters;      /* --ignore-filters */
    const char *node;         /* --node PATH */
    const char *action_dir;   /* --action-dir DIR */
    const char *actions_url;  /* --actions-url URL */
    const char *sandbox;      /* --sandbox: NULL (off), "best-effort" or "strict" */
    bool no_native;           /* --no-native */
    const char *native_off;   /* --no-native=LIST, GHRUN_NO_NATIVE (ex/native.h), or NULL */
    const char *artifact_dir; /* --artifact-dir DIR, or NULL */
    const char *persist;      /* --persist DIR,..., GHRUN_PERSIST (ex/persist.h), or NULL */
};

/*
 * Run every job of a triggered plan. Returns the exit code: 0 all jobs
 * succeeded, 1 a job failed, 2 the plan could not be run.
 */
int rn_replay_run(struct ex_plan *plan, const struct rn_replay_opts *o);
