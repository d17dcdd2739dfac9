/*
 * Internal to runner/: decoding the job message (AgentJobRequestMessage,
 * runner-protocol.md sections 8 and 9) into what the runner needs to run
 * and report a job.
 *
 * Values that arrive as TemplateTokens are kept only when they are literals
 * (string, number, boolean). A step whose script, env, shell, working
 * directory or condition needs the expression engine is marked with
 * `unsupported` (the reason) instead of being guessed at: such a step fails
 * and is reported as failed, never as run.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "gr.h"

struct rn_jobstep {
    char *id;        /* step record id (external_id) */
    char *name;      /* context name */
    char *display;   /* display name */
    char *script;    /* inputs.script */
    char *shell;     /* inputs.shell or NULL */
    char *workdir;   /* inputs.workingDirectory or NULL */
    char *condition; /* "success()" when absent */
    char **env;      /* "K=V" strings, nenv of them */
    size_t nenv;
    bool continue_on_error;
    char *unsupported; /* why this step cannot run here, or NULL */
};

struct rn_jobmsg {
    char *message_type; /* "RunnerJobRequest" or "PipelineAgentJobRequest" */
    char *plan_id, *job_id, *timeline_id, *display_name;
    long long request_id;
    char *url;   /* SystemVssConnection url (ends in '/') */
    char *token; /* SystemVssConnection AccessToken (the job token) */
    char *repository;
    char **secrets; /* values to mask (secret variables, tokens, mask hints) */
    size_t nsecrets;
    char **env; /* job-level "K=V" (workflow env, then job env) */
    size_t nenv;
    bool env_unsupported; /* the job env needs expression evaluation */
    struct rn_jobstep *steps;
    size_t nsteps;
};

/* Decode a job message; on error reterr says which field is wrong. */
int rn_jobmsg_parse(const char *text, size_t len, struct rn_jobmsg *ret,
                    struct gr_diag *reterr) GR_MUST_CHECK;
void rn_jobmsg_release(struct rn_jobmsg *m);
/* The SystemVssConnection endpoint of a job message (resources.endpoints), borrowed, or NULL. */
const json_t *rn_jobmsg_system_endpoint(const json_t *msg);
/*
 * A literal TemplateToken's text into *ret (owned): bare JSON strings,
 * numbers and booleans, and {type 0 lit}, {type 5 bool}, {type 6 num}, and an
 * object without type. Returns -EINVAL for expressions and containers.
 */
int rn_token_literal(const void *json_token, char **ret) GR_MUST_CHECK;
/* Replace every secret in line[0..len) with "***"; owned result. */
char *rn_jobmsg_mask(const struct rn_jobmsg *m, const char *line, size_t len);
