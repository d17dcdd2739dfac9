/*
 * Step output: line splitting and secret masking (workflow-semantics.md
 * section 8). Every registered secret, and each line of a multi-line secret,
 * is replaced by "***". Masking is applied per complete line, so a secret
 * split across writes is still caught; a line longer than the limit is cut
 * into pieces at the limit (after masking what fits).
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "gr.h"

#define EX_LOG_MAX_LINE (1024 * 1024)

struct ex_masker; /* opaque; not thread-safe */

struct ex_masker *ex_masker_new(void);
void ex_masker_free(struct ex_masker *m);
/* Register a secret (copied). Empty values are ignored; a multi-line value registers each line. */
void ex_masker_add(struct ex_masker *m, const char *secret, size_t len);
size_t ex_masker_count(const struct ex_masker *m);
/* Mask line[0..len) into out (appended). */
int ex_masker_apply(const struct ex_masker *m, const char *line, size_t len, struct gr_buf *out)
    GR_MUST_CHECK;

/* Called once per complete line (without the newline); the text is valid only during the call. */
typedef void (*ex_line_fn)(void *ctx, const char *line, size_t len);

/* Splits a byte stream into lines. */
struct ex_linesplit {
    struct gr_buf partial;
    ex_line_fn cb;
    void *ctx;
};
void ex_linesplit_init(struct ex_linesplit *ls, ex_line_fn cb, void *ctx);
/* Feed bytes; calls cb for each complete line ("\n" or "\r\n" ended). */
void ex_linesplit_feed(struct ex_linesplit *ls, const char *data, size_t len);
/* End of stream: emit a last unterminated line, if any. */
void ex_linesplit_flush(struct ex_linesplit *ls);
void ex_linesplit_release(struct ex_linesplit *ls);
