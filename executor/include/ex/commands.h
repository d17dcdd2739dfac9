/*
 * Workflow commands on stdout/stderr lines (`::error file=a,line=1::msg`)
 * and file commands (GITHUB_ENV, GITHUB_OUTPUT, GITHUB_PATH, GITHUB_STATE,
 * GITHUB_STEP_SUMMARY), parsed as actions/runner does
 * (workflow-semantics.md sections 6 and 7).
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <jansson.h>

#include "gr.h"

enum ex_cmd_kind {
    EX_CMD_NONE = 0, /* not a command: an ordinary line */
    EX_CMD_ERROR,
    EX_CMD_WARNING,
    EX_CMD_NOTICE,
    EX_CMD_DEBUG,
    EX_CMD_GROUP,
    EX_CMD_ENDGROUP,
    EX_CMD_ADD_MASK,
    EX_CMD_STOP_COMMANDS,
    EX_CMD_RESUME_COMMANDS, /* the ::TOKEN:: line that ends stop-commands */
    EX_CMD_ECHO,
    EX_CMD_SET_OUTPUT,  /* deprecated ::set-output name=x::v */
    EX_CMD_SAVE_STATE,  /* deprecated ::save-state name=x::v */
    EX_CMD_SET_ENV,     /* ::set-env, only with ACTIONS_ALLOW_UNSECURE_COMMANDS */
    EX_CMD_ADD_PATH,    /* ::add-path, likewise */
    EX_CMD_ADD_MATCHER,
    EX_CMD_REMOVE_MATCHER,
    EX_CMD_UNKNOWN,     /* ::something:: not known: reported, line printed as is */
};

/* A parsed command. Strings are owned by the struct (free with ex_cmd_release). */
struct ex_cmd {
    enum ex_cmd_kind kind;
    char *name;    /* command name as written */
    char *message; /* unescaped data after the second :: */
    /* properties (unescaped) for annotations and set-output/set-env */
    char *file, *title, *prop_name;
    int line, end_line, col, end_col; /* 0 when absent */
    char *error;   /* set when the command was malformed; message says why, as the runner does */
};
void ex_cmd_release(struct ex_cmd *c);

/* Per-step command state: stop-commands token, echo. */
struct ex_cmd_state {
    char *stop_token;    /* while set, only the resume line is a command */
    bool echo;
    bool allow_unsecure; /* ACTIONS_ALLOW_UNSECURE_COMMANDS=true */
};
void ex_cmd_state_release(struct ex_cmd_state *st);

/* Parse one output line. Returns 0 and fills ret (kind EX_CMD_NONE for plain lines). */
int ex_cmd_parse(struct ex_cmd_state *st, const char *line, size_t len, struct ex_cmd *ret)
    GR_MUST_CHECK;

/*
 * Parse a GITHUB_ENV / GITHUB_OUTPUT / GITHUB_STATE file: `NAME=value` and
 * `NAME<<DELIM` heredocs. Pairs are set (later wins) on out, an object.
 * Errors (unterminated heredoc, missing '=') name the file and line.
 */
int ex_filecmd_parse_kv(const char *path, const char *data, size_t len, json_t *out,
                        struct gr_diag *reterr) GR_MUST_CHECK;
/* Parse a GITHUB_PATH file: one directory a line; appended to out (array) in file order. */
int ex_filecmd_parse_path(const char *data, size_t len, json_t *out) GR_MUST_CHECK;
/* Escaping for properties and data (%25 %0D %0A %3A %2C) in both directions. Owned results. */
char *ex_cmd_unescape_data(const char *s, size_t len);
char *ex_cmd_unescape_prop(const char *s, size_t len);
