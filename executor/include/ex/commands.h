/*
 * Workflow commands on stdout/stderr lines (`::error file=a,line=1::msg`)
 * and file commands (GITHUB_ENV, GITHUB_OUTPUT, GITHUB_PATH, GITHUB_STATE,
 * GITHUB_STEP_SUMMARY), parsed as actions/runner does
 * (workflow-semantics.md sections 6 and 7; runner src/Runner.Common/
 * ActionCommand.cs, src/Runner.Worker/ActionCommandManager.cs and
 * FileCommandManager.cs at v2.336.0).
 *
 * How the engine uses ex_cmd_parse, per output line (already split, before
 * masking):
 *   - kind EX_CMD_NONE: an ordinary line; print it.
 *   - otherwise, when print_line is set, print the raw line first (echo on,
 *     the stop-commands line, the resume line). For add-mask with echo on
 *     the runner prints "::add-mask::***" instead (print_line is false).
 *   - error set: the command failed (the runner's exception). Log
 *     ex_cmd_failure_message() and then error as error lines, and fail the
 *     step. warning set: log it as a warning annotation; the step goes on.
 *   - then act on the kind: annotations (mask and cut message to
 *     EX_CMD_MAX_ANNOTATION bytes, make file relative to the workspace),
 *     group -> "##[group]title", endgroup -> "##[endgroup]", debug printed
 *     only with step debug, add-mask -> ex_masker_add(message), set-output /
 *     save-state / set-env (NODE_OPTIONS refused with an error annotation)
 *     / add-path, stop-commands (register the token with the masker when it
 *     is longer than 6 bytes).
 * Names of commands are matched ASCII case-insensitively. A name that is not
 * a command is an ordinary line (the runner does not warn), so
 * EX_CMD_UNKNOWN is never returned; ::notice:: is taken as enabled (the
 * service's EnhancedAnnotations flag is on at github.com).
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
    EX_CMD_SET_OUTPUT, /* deprecated ::set-output name=x::v */
    EX_CMD_SAVE_STATE, /* deprecated ::save-state name=x::v */
    EX_CMD_SET_ENV,    /* ::set-env, only with ACTIONS_ALLOW_UNSECURE_COMMANDS */
    EX_CMD_ADD_PATH,   /* ::add-path, likewise */
    EX_CMD_ADD_MATCHER,
    EX_CMD_REMOVE_MATCHER,
    EX_CMD_UNKNOWN, /* never returned (see above); kept for callers' switch statements */
};

#define EX_CMD_MAX_ANNOTATION 4096 /* ExecutionContext._maxIssueMessageLength */

/* A parsed command. Strings are owned by the struct (free with ex_cmd_release). */
struct ex_cmd {
    enum ex_cmd_kind kind;
    char *name;    /* command name as written */
    char *message; /* unescaped data after the second :: */
    /* properties (unescaped) for annotations and set-output/set-env */
    char *file, *title, *prop_name;
    int line, end_line, col, end_col; /* 0 when absent or not a number; repaired as the runner */
    char *owner;                      /* remove-matcher's owner property */
    char *error;     /* set when the command was malformed; message says why, as the runner does */
    char *warning;   /* a warning the runner logs (empty add-mask, remove-matcher arguments) */
    bool print_line; /* print the raw line (see above) */
    bool omit_echo;  /* the runner names only the command, not the line, in its failure message */
};
void ex_cmd_release(struct ex_cmd *c);

/*
 * Command state. In the runner the stop-commands state belongs to the
 * ActionCommandManager, one per job (it carries over to later steps), while
 * echo belongs to the step (off, or on under step debug): reset echo per step.
 * Zero-initialise; release with ex_cmd_state_release.
 */
struct ex_cmd_state {
    char *stop_token; /* while set, only the resume line is a command */
    bool echo;
    bool allow_unsecure;             /* ACTIONS_ALLOW_UNSECURE_COMMANDS=true */
    bool allow_unsecure_stop_tokens; /* ACTIONS_ALLOW_UNSECURE_STOPCOMMAND_TOKENS=true */
    unsigned removed; /* commands unregistered by resuming with their name as token */
};
void ex_cmd_state_release(struct ex_cmd_state *st);

/*
 * Parse one output line and update st (stop-commands, echo). Returns 0 and
 * fills ret (kind EX_CMD_NONE for plain lines); -EINVAL for NULL arguments.
 * Release ret with ex_cmd_release in every case.
 */
int ex_cmd_parse(struct ex_cmd_state *st, const char *line, size_t len,
                 struct ex_cmd *ret) GR_MUST_CHECK;
/* "Unable to process command '<line or name>' successfully." (owned), as the runner logs. */
char *ex_cmd_failure_message(const struct ex_cmd *c, const char *line, size_t len);

/*
 * Parse a GITHUB_ENV / GITHUB_OUTPUT / GITHUB_STATE file: `NAME=value` and
 * `NAME<<DELIM` heredocs. Pairs are set (later wins) on out, an object.
 * Errors (unterminated heredoc, missing '=') name the file and line; the
 * pairs before the bad line stay set on out, as in the runner.
 * As the runner on Linux: lines end at LF only (a CR stays in the value or
 * delimiter), blank lines are skipped, whichever of '=' and '<<' comes first
 * decides the form, the delimiter line must equal DELIM exactly, and the
 * value is the lines in between joined with their newlines. A leading UTF-8
 * BOM is dropped; invalid UTF-8 becomes U+FFFD (as .NET's ReadAllText).
 * Deviation: an empty name (`=v`) is an error here for every file, where the
 * runner's parser lets it through and only ENV/OUTPUT then fail on it.
 */
int ex_filecmd_parse_kv(const char *path, const char *data, size_t len, json_t *out,
                        struct gr_diag *reterr) GR_MUST_CHECK;
/*
 * Parse a GITHUB_PATH file: one directory a line (ended by LF, CRLF or CR,
 * as File.ReadAllLines), untrimmed, empty lines skipped. out is an array of
 * strings, the prepend list: each line is removed from it where present and
 * appended at the end, so it can be the job's list across steps (PATH is then
 * the list reversed: the last entry first). Returns 0, or -EINVAL when out
 * is not an array.
 */
int ex_filecmd_parse_path(const char *data, size_t len, json_t *out) GR_MUST_CHECK;
/*
 * Escaping in both directions. Data: %25 %0D %0A; properties also %3A %2C.
 * Unescaping replaces in the runner's order (CR, LF, [':' ','], then '%'),
 * each a whole-string pass, so "%250A" gives "%0A". Owned, NUL-terminated.
 */
char *ex_cmd_unescape_data(const char *s, size_t len);
char *ex_cmd_unescape_prop(const char *s, size_t len);
char *ex_cmd_escape_data(const char *s, size_t len);
char *ex_cmd_escape_prop(const char *s, size_t len);
