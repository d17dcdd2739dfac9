/*
 * Step output: line splitting and secret masking (workflow-semantics.md
 * section 8). Every registered secret, and each line of a multi-line secret,
 * is replaced by "***". Masking is applied per complete line, so a secret
 * split across writes is still caught; a line longer than the limit is cut
 * into pieces at the limit (after masking what fits).
 *
 * Masking follows actions/runner src/Sdk/DTLogging/Logging/SecretMasker.cs:
 * every occurrence of every registered value is found (overlapping ones
 * too), the found ranges are merged when they overlap or touch, and each
 * merged range becomes one "***". So of two secrets where one is a prefix of
 * the other, the longer range wins, and "ab" registered masks "abab" as a
 * single "***". Besides each value, the masker registers the encodings that
 * the runner adds through HostContext's value encoders (ValueEncoders.cs):
 * base64 of the UTF-8 bytes and of the bytes shifted by one and two, the
 * JSON-string, URI-data and XML escapes, `"` as `\"` (command lines), `'` as
 * `''` (expressions), the value without surrounding double quotes (when
 * longer than 8 and quoted), and the PowerShell ampersand sections.
 *
 * Search: values of 4 bytes or more go through a Wu-Manber scan (2-byte
 * blocks, window = the shortest such value, at most 256), so typical output
 * is skipped many bytes at a time; values of 1 to 3 bytes are found by a
 * first-byte table scan, done only while such values exist.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "gr.h"

#define EX_LOG_MAX_LINE (1024 * 1024)

#define EX_MASK_TEXT "***"

struct ex_masker; /* opaque; not thread-safe */

struct ex_masker *ex_masker_new(void);
void ex_masker_free(struct ex_masker *m);
/*
 * Register a secret (copied), as ::add-mask:: does: the value as given, and
 * each of its lines (split at CR and LF, trimmed of ASCII whitespace, empty
 * ones dropped), each with its encodings. Empty values are ignored, values
 * already registered too. Secrets from the job message should be trimmed by
 * the caller first (the runner's Worker.cs trims secret variables).
 */
void ex_masker_add(struct ex_masker *m, const char *secret, size_t len);
/* Number of distinct values registered (each line counts; encodings do not). */
size_t ex_masker_count(const struct ex_masker *m);
/* Whether masking would change text[0..len) (used to drop job outputs holding secrets). */
bool ex_masker_matches(const struct ex_masker *m, const char *text, size_t len);
/* Mask line[0..len) into out (appended); -E2BIG when out's limit is reached. */
int ex_masker_apply(const struct ex_masker *m, const char *line, size_t len,
                    struct gr_buf *out) GR_MUST_CHECK;

/* Called once per complete line (without the newline); the text is valid only during the call. */
typedef void (*ex_line_fn)(void *ctx, const char *line, size_t len);

/*
 * Splits a byte stream into lines the way the runner's StreamReader.ReadLine
 * does: a line ends at "\n", "\r\n" or a lone "\r" (so each redraw of a
 * progress bar is its own line, as in GitHub's log). Bytes are passed through
 * unchanged: NUL and invalid UTF-8 stay in the line (the callback gets an
 * explicit length; the text is not NUL-terminated). A line longer than
 * EX_LOG_MAX_LINE is delivered in pieces of EX_LOG_MAX_LINE bytes.
 */
struct ex_linesplit {
    struct gr_buf partial;
    ex_line_fn cb;
    void *ctx;
    bool after_cr; /* the last byte seen was a "\r": skip a "\n" that follows */
};
void ex_linesplit_init(struct ex_linesplit *ls, ex_line_fn cb, void *ctx);
/* Feed bytes; calls cb (before returning) for each complete line. */
void ex_linesplit_feed(struct ex_linesplit *ls, const char *data, size_t len);
/* End of stream: emit a last unterminated line, if any. */
void ex_linesplit_flush(struct ex_linesplit *ls);
void ex_linesplit_release(struct ex_linesplit *ls);
