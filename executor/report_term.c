/*
 * The terminal reporter (ex/engine.h): act-style progress lines.
 *
 *   [build] 🚀  Start job
 *   [build] ⭐ Run Main Compile
 *   [build]   | compiler output
 *   [build]   | debug: a ##[debug] line (warning:, error:, notice: likewise)
 *   [build]   ▶ group title              (contents folded unless verbose)
 *   [build]   error: src/a.c:3:5: message
 *   [build]   ✅  Success - Main Compile [1.234s]
 *   [build] 🏁  Job succeeded
 *
 * Lines arrive already masked; the engine passes only what should be shown
 * (::debug:: lines only under verbose or step debug). Without colour, ANSI
 * escape sequences inside job output are removed so that logs written to a
 * file stay readable. At the end, ex_term_reporter_finish prints each job's
 * step summaries rendered from GitHub-flavoured Markdown to plain text, then
 * a table of jobs with result and duration. Durations come from the engine,
 * so the output is deterministic for a given sequence of calls.
 *
 * The Markdown renderer handles what step summaries usually hold: ATX
 * headings, paragraphs, bullet, ordered and task lists, block quotes, fenced
 * and indented code, pipe tables (aligned by code points), thematic breaks,
 * and inline bold, emphasis, strike-through, code, links, images, autolinks,
 * backslash escapes, common HTML entities and emoji shortcodes; HTML tags
 * are dropped (<br> is a space).
 */
#include "ex/engine.h"

#include <assert.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define C_RESET "\x1b[0m"
#define C_BOLD "\x1b[1m"
#define C_DIM "\x1b[2m"
#define C_RED "\x1b[31m"
#define C_GREEN "\x1b[32m"
#define C_YELLOW "\x1b[33m"
#define C_CYAN "\x1b[36m"
#define MAX_COLS 64

static const char *const job_colors[] = {"\x1b[36m", "\x1b[35m", "\x1b[34m", "\x1b[33m",
                                         "\x1b[32m", "\x1b[96m", "\x1b[95m", "\x1b[94m"};

struct term_job {
    const void *handle;
    char *name;
    char **steps; /* step names by index */
    size_t nsteps;
    bool in_group, finished;
    enum ex_result result;
    uint64_t duration_ns;
    struct gr_buf summary;
};

struct ex_term_reporter {
    FILE *out;
    bool color, verbose;
    struct ex_reporter rep;
    struct term_job *jobs;
    size_t njobs, cap;
};

/* ---- small helpers ----------------------------------------------------- */

/* Appends a colour code only when colour is on. */
static void xcolor(struct gr_buf *b, bool color, const char *code)
{
    if (color)
        gr_buf_xadds(b, code);
}

static size_t utf8_width(const char *s, size_t len)
{
    size_t i, w = 0;

    for (i = 0; i < len; i++)
        if (((unsigned char)s[i] & 0xC0) != 0x80)
            w++;
    return w;
}

/* Width on screen, ignoring ANSI escape sequences. */
static size_t visible_width(const char *s, size_t len)
{
    size_t i = 0, w = 0;

    while (i < len) {
        if (s[i] == '\x1b' && i + 1 < len && s[i + 1] == '[') {
            i += 2;
            while (i < len && !((unsigned char)s[i] >= 0x40 && (unsigned char)s[i] <= 0x7E))
                i++;
            i++;
            continue;
        }
        if (((unsigned char)s[i] & 0xC0) != 0x80)
            w++;
        i++;
    }
    return w;
}

/* Copy text, dropping ANSI CSI sequences unless colour is on. */
static void add_text(struct gr_buf *b, bool color, const char *s, size_t len)
{
    size_t i = 0, start = 0;

    if (color) {
        gr_buf_xadd(b, s, len);
        return;
    }
    while (i < len) {
        if (s[i] == '\x1b' && i + 1 < len && s[i + 1] == '[') {
            gr_buf_xadd(b, s + start, i - start);
            i += 2;
            while (i < len && !((unsigned char)s[i] >= 0x40 && (unsigned char)s[i] <= 0x7E))
                i++;
            start = ++i;
            continue;
        }
        i++;
    }
    if (start < len)
        gr_buf_xadd(b, s + start, len - start);
}

static void format_duration(char *out, size_t outlen, uint64_t ns)
{
    uint64_t ms = ns / 1000000u, s = ms / 1000u;

    if (s < 60)
        snprintf(out, outlen, "%llu.%03llus", (unsigned long long)s,
                 (unsigned long long)(ms % 1000u));
    else if (s < 3600)
        snprintf(out, outlen, "%llum%02llus", (unsigned long long)(s / 60),
                 (unsigned long long)(s % 60));
    else
        snprintf(out, outlen, "%lluh%02llum%02llus", (unsigned long long)(s / 3600),
                 (unsigned long long)(s / 60 % 60), (unsigned long long)(s % 60));
}

/* ---- jobs -------------------------------------------------------------- */

static struct term_job *find_job(struct ex_term_reporter *t, const void *handle, const char *name)
{
    size_t i;

    /* A handle is only unique until job_finished: the engine may reuse it afterwards. */
    for (i = 0; i < t->njobs; i++)
        if (t->jobs[i].handle == handle && !t->jobs[i].finished)
            return &t->jobs[i];
    GR_GROW(t->jobs, t->cap, t->njobs + 1);
    t->jobs[t->njobs] = (struct term_job){
        .handle = handle,
        .name = gr_xstrdup(name ? name : "job"),
        .summary = GR_BUF_INIT(0),
    };
    return &t->jobs[t->njobs++];
}

static size_t job_index(const struct ex_term_reporter *t, const struct term_job *j)
{
    return (size_t)(j - t->jobs);
}

/* "[name] " in the job's colour. */
static void add_prefix(struct gr_buf *b, const struct ex_term_reporter *t, const struct term_job *j)
{
    xcolor(b, t->color, job_colors[job_index(t, j) % GR_ARRAY_SIZE(job_colors)]);
    gr_buf_xaddch(b, '[');
    gr_buf_xadds(b, j->name);
    gr_buf_xaddch(b, ']');
    xcolor(b, t->color, C_RESET);
    gr_buf_xaddch(b, ' ');
}

static void emit(struct ex_term_reporter *t, struct gr_buf *b)
{
    gr_buf_xaddch(b, '\n');
    fwrite(b->ptr, 1, b->len, t->out);
    gr_buf_release(b);
}

/* One "[job] <mark> text" line. */
static void job_say(struct ex_term_reporter *t, struct term_job *j, const char *color,
                    const char *fmt, ...) GR_PRINTF(4, 5);

static void job_say(struct ex_term_reporter *t, struct term_job *j, const char *color,
                    const char *fmt, ...)
{
    struct gr_buf b = GR_BUF_INIT(0);
    va_list ap;
    int r;

    add_prefix(&b, t, j);
    if (color)
        xcolor(&b, t->color, color);
    va_start(ap, fmt);
    r = gr_buf_vaddf(&b, fmt, ap);
    va_end(ap);
    assert(r == 0);
    (void)r;
    if (color)
        xcolor(&b, t->color, C_RESET);
    emit(t, &b);
}

static const char *step_name(const struct term_job *j, int step)
{
    if (step >= 0 && (size_t)step < j->nsteps && j->steps[step])
        return j->steps[step];
    return NULL;
}

/* ---- callbacks --------------------------------------------------------- */

static void on_job_started(void *ctx, const void *job, const char *display_name)
{
    struct ex_term_reporter *t = ctx;
    struct term_job *j = find_job(t, job, display_name);

    if (display_name && strcmp(j->name, display_name) != 0) {
        free(j->name);
        j->name = gr_xstrdup(display_name);
    }
    job_say(t, j, NULL, "🚀  Start job");
}

static void on_step_started(void *ctx, const void *job, int step, const char *name)
{
    struct ex_term_reporter *t = ctx;
    struct term_job *j = find_job(t, job, NULL);
    size_t cap = j->nsteps;

    if (step < 0)
        return;
    if ((size_t)step >= j->nsteps) {
        GR_GROW(j->steps, cap, (size_t)step + 1);
        memset(j->steps + j->nsteps, 0, ((size_t)step + 1 - j->nsteps) * sizeof(char *));
        j->nsteps = (size_t)step + 1;
    }
    free(j->steps[step]);
    j->steps[step] = gr_xstrdup(name ? name : "");
    j->in_group = false;
    job_say(t, j, NULL, "⭐ Run Main %s", j->steps[step]);
}

/* "##[debug]", "##[warning]"... lines that the runner writes to the log. */
static const struct {
    const char *marker, *word, *color;
} log_markers[] = {
    {"##[debug]", "debug: ", C_DIM},
    {"##[notice]", "notice: ", C_CYAN},
    {"##[warning]", "warning: ", C_YELLOW},
    {"##[error]", "error: ", C_RED},
};

static void on_log_line(void *ctx, const void *job, const char *line, size_t len)
{
    struct ex_term_reporter *t = ctx;
    struct term_job *j = find_job(t, job, NULL);
    struct gr_buf b = GR_BUF_INIT(0);
    const char *color = NULL;
    size_t k;

    if (j->in_group && !t->verbose)
        return;
    add_prefix(&b, t, j);
    gr_buf_xadds(&b, j->in_group ? "  |   " : "  | ");
    for (k = 0; k < GR_ARRAY_SIZE(log_markers); k++) {
        size_t n = strlen(log_markers[k].marker);
        if (len >= n && memcmp(line, log_markers[k].marker, n) == 0) {
            color = log_markers[k].color;
            xcolor(&b, t->color, color);
            gr_buf_xadds(&b, log_markers[k].word);
            line += n;
            len -= n;
            break;
        }
    }
    add_text(&b, t->color, line, len);
    if (color)
        xcolor(&b, t->color, C_RESET);
    emit(t, &b);
}

static void on_group(void *ctx, const void *job, const char *title, bool open)
{
    struct ex_term_reporter *t = ctx;
    struct term_job *j = find_job(t, job, NULL);

    j->in_group = open;
    if (!open)
        return;
    job_say(t, j, t->color ? C_BOLD : NULL, "  %s %s", t->verbose ? "▼" : "▶", title ? title : "");
}

static const char *level_color(const char *level)
{
    if (strcmp(level, "error") == 0)
        return C_RED;
    if (strcmp(level, "warning") == 0)
        return C_YELLOW;
    return C_CYAN;
}

/* "error: file:line:col: [title] " */
static void add_annotation_head(struct gr_buf *b, const struct ex_term_reporter *t,
                                const struct ex_annotation *a)
{
    const char *level = a->level ? a->level : "notice";

    gr_buf_xadds(b, "  ");
    xcolor(b, t->color, level_color(level));
    xcolor(b, t->color, C_BOLD);
    gr_buf_xadds(b, level);
    gr_buf_xaddch(b, ':');
    xcolor(b, t->color, C_RESET);
    gr_buf_xaddch(b, ' ');
    if (a->file && *a->file) {
        int r = gr_buf_addf(b, "%s", a->file);
        if (r == 0 && a->line > 0)
            r = gr_buf_addf(b, ":%d", a->line);
        if (r == 0 && a->line > 0 && a->col > 0)
            r = gr_buf_addf(b, ":%d", a->col);
        assert(r == 0);
        (void)r;
        gr_buf_xadds(b, ": ");
    }
    if (a->title && *a->title) {
        gr_buf_xaddch(b, '[');
        gr_buf_xadds(b, a->title);
        gr_buf_xadds(b, "] ");
    }
}

static void on_annotation(void *ctx, const void *job, const struct ex_annotation *a)
{
    struct ex_term_reporter *t = ctx;
    struct term_job *j = find_job(t, job, NULL);
    const char *msg = a->message ? a->message : "";

    /* one terminal line per message line, each with the full head */
    do {
        const char *nl = strchr(msg, '\n');
        size_t n = nl ? (size_t)(nl - msg) : strlen(msg);
        struct gr_buf b = GR_BUF_INIT(0);
        add_prefix(&b, t, j);
        add_annotation_head(&b, t, a);
        add_text(&b, t->color, msg, n);
        emit(t, &b);
        msg = nl ? nl + 1 : NULL;
    } while (msg);
}

static void result_words(enum ex_result r, const char **ret_mark, const char **ret_word,
                         const char **ret_color)
{
    switch (r) {
    case EX_RESULT_SUCCESS:
        *ret_mark = "✅";
        *ret_word = "Success";
        *ret_color = C_GREEN;
        break;
    case EX_RESULT_FAILURE:
        *ret_mark = "❌";
        *ret_word = "Failure";
        *ret_color = C_RED;
        break;
    case EX_RESULT_CANCELLED:
        *ret_mark = "🚫";
        *ret_word = "Cancelled";
        *ret_color = C_YELLOW;
        break;
    default:
        *ret_mark = "⏭";
        *ret_word = "Skipped";
        *ret_color = C_DIM;
        break;
    }
}

static void on_step_finished(void *ctx, const void *job, int step, enum ex_result outcome,
                             enum ex_result conclusion, uint64_t duration_ns)
{
    struct ex_term_reporter *t = ctx;
    struct term_job *j = find_job(t, job, NULL);
    const char *mark, *word, *color, *name = step_name(j, step);
    char dur[32];

    result_words(outcome, &mark, &word, &color);
    format_duration(dur, sizeof(dur), duration_ns);
    j->in_group = false;
    if (!name)
        name = "";
    if (outcome != conclusion)
        job_say(t, j, color, "  %s  %s - Main %s [%s] (continue-on-error: %s)", mark, word, name,
                dur, ex_result_name(conclusion));
    else
        job_say(t, j, color, "  %s  %s - Main %s [%s]", mark, word, name, dur);
}

static void on_job_finished(void *ctx, const void *job, enum ex_result result, json_t *outputs,
                            uint64_t duration_ns)
{
    struct ex_term_reporter *t = ctx;
    struct term_job *j = find_job(t, job, NULL);
    static const char *const words[] = {
        [EX_RESULT_SUCCESS] = "Job succeeded",
        [EX_RESULT_FAILURE] = "Job failed",
        [EX_RESULT_CANCELLED] = "Job cancelled",
        [EX_RESULT_SKIPPED] = "Job skipped",
    };
    const char *key;
    json_t *v;

    j->finished = true;
    j->result = result;
    j->duration_ns = duration_ns;
    if (t->verbose && json_is_object(outputs)) {
        json_object_foreach(outputs, key, v)
        {
            if (json_is_string(v))
                job_say(t, j, NULL, "  ⚙  outputs.%s=%s", key, json_string_value(v));
        }
    }
    job_say(t, j, NULL, "🏁  %s", (unsigned)result < GR_ARRAY_SIZE(words) ? words[result] : "?");
}

static void on_summary(void *ctx, const void *job, const char *markdown, size_t len)
{
    struct ex_term_reporter *t = ctx;
    struct term_job *j = find_job(t, job, NULL);

    if (len == 0)
        return;
    if (j->summary.len && j->summary.ptr[j->summary.len - 1] != '\n')
        gr_buf_xaddch(&j->summary, '\n');
    if (j->summary.len)
        gr_buf_xaddch(&j->summary, '\n');
    gr_buf_xadd(&j->summary, markdown, len);
}

/* ---- Markdown to text: inline ------------------------------------------ */

/*
 * Limits that keep hostile input linear: a closing delimiter is looked for
 * at most MD_SEARCH bytes ahead, spans nest at most MD_DEPTH deep, and lines
 * longer than MD_LINE_MAX are copied without inline formatting.
 */
#define MD_SEARCH 512
#define MD_DEPTH 8
#define MD_LINE_MAX 65536

struct md {
    struct gr_buf *out;
    bool color;
    int depth;
};

/* Index of the closing delimiter `d` (length n) after i, or 0 when there is none. */
static size_t find_close(const char *s, size_t len, size_t i, const char *d, size_t n)
{
    size_t k, end = len - i > MD_SEARCH ? i + MD_SEARCH : len;

    for (k = i; k + n <= end; k++) {
        if (s[k] == '\\') {
            k++;
            continue;
        }
        if (memcmp(s + k, d, n) == 0 && k > i)
            return k;
    }
    return 0;
}

static void md_inline(struct md *md, const char *s, size_t len);

static bool md_entity(struct md *md, const char *s, size_t len, size_t *i)
{
    static const struct {
        const char *name, *text;
    } ents[] = {{"&amp;", "&"}, {"&lt;", "<"},   {"&gt;", ">"},   {"&quot;", "\""},
                {"&#39;", "'"}, {"&apos;", "'"}, {"&nbsp;", " "}, {"&check;", "✓"}};
    size_t e;

    for (e = 0; e < GR_ARRAY_SIZE(ents); e++) {
        size_t n = strlen(ents[e].name);
        if (*i + n <= len && memcmp(s + *i, ents[e].name, n) == 0) {
            gr_buf_xadds(md->out, ents[e].text);
            *i += n;
            return true;
        }
    }
    return false;
}

/* <tag ...> dropped; <br> becomes a space; <https://x> autolinks keep the URL. */
static bool md_tag(struct md *md, const char *s, size_t len, size_t *i)
{
    size_t room = len - *i > MD_SEARCH ? MD_SEARCH : len - *i;
    const char *gt = memchr(s + *i, '>', room);
    size_t n;

    if (!gt || *i + 1 >= len)
        return false;
    n = (size_t)(gt - s) - *i - 1;
    if (n > 4 && (memcmp(s + *i + 1, "http", 4) == 0 || memcmp(s + *i + 1, "mailto:", 7) == 0)) {
        gr_buf_xadd(md->out, s + *i + 1, n);
        *i += n + 2;
        return true;
    }
    char c = s[*i + 1];
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '/' || c == '!'))
        return false;
    if (n >= 2 && (strncmp(s + *i + 1, "br", 2) == 0 || strncmp(s + *i + 1, "BR", 2) == 0))
        gr_buf_xaddch(md->out, ' ');
    *i += n + 2;
    return true;
}

/* [text](url) and ![alt](url) */
static bool md_link(struct md *md, const char *s, size_t len, size_t *i)
{
    bool image = s[*i] == '!';
    size_t open = *i + (image ? 1 : 0), close, paren_end;

    if (open >= len || s[open] != '[')
        return false;
    close = find_close(s, len, open + 1, "]", 1);
    if (!close && open + 1 < len && s[open + 1] == ']')
        close = open + 1;
    if (!close || close + 1 >= len || s[close + 1] != '(')
        return false;
    paren_end = find_close(s, len, close + 2, ")", 1);
    if (!paren_end)
        return false;
    const char *url = s + close + 2;
    size_t url_len = paren_end - close - 2, text_len = close - open - 1;
    const char *sp = memchr(url, ' ', url_len); /* drop a "title" */
    if (sp)
        url_len = (size_t)(sp - url);
    if (image)
        gr_buf_xadds(md->out, "[image: ");
    md_inline(md, s + open + 1, text_len);
    if (image)
        gr_buf_xaddch(md->out, ']');
    if (url_len && !(text_len == url_len && memcmp(s + open + 1, url, url_len) == 0)) {
        gr_buf_xadds(md->out, " (");
        gr_buf_xadd(md->out, url, url_len);
        gr_buf_xaddch(md->out, ')');
    }
    *i = paren_end + 1;
    return true;
}

/* **bold**, __bold__, *em*, _em_, ~~strike~~, `code` */
static bool md_span(struct md *md, const char *s, size_t len, size_t *i)
{
    static const struct {
        const char *d;
        const char *on;
    } spans[] = {{"**", C_BOLD}, {"__", C_BOLD}, {"~~", C_DIM}, {"*", "\x1b[3m"}, {"_", "\x1b[3m"}};
    size_t k;

    if (s[*i] == '`') {
        size_t close = find_close(s, len, *i + 1, "`", 1);
        if (!close)
            return false;
        xcolor(md->out, md->color, C_CYAN);
        gr_buf_xadd(md->out, s + *i + 1, close - *i - 1);
        xcolor(md->out, md->color, C_RESET);
        *i = close + 1;
        return true;
    }
    for (k = 0; k < GR_ARRAY_SIZE(spans); k++) {
        size_t n = strlen(spans[k].d), close;
        if (*i + n > len || memcmp(s + *i, spans[k].d, n) != 0)
            continue;
        if (*i + n < len && s[*i + n] == ' ')
            return false;
        /* intra-word underscores are not emphasis (snake_case) */
        if (s[*i] == '_' && *i > 0 && s[*i - 1] != ' ' && s[*i - 1] != '(')
            return false;
        close = find_close(s, len, *i + n, spans[k].d, n);
        if (!close || s[close - 1] == ' ')
            continue;
        xcolor(md->out, md->color, spans[k].on);
        md_inline(md, s + *i + n, close - *i - n);
        xcolor(md->out, md->color, C_RESET);
        *i = close + n;
        return true;
    }
    return false;
}

/* GitHub emoji shortcodes that summaries use most. */
static bool md_emoji(struct md *md, const char *s, size_t len, size_t *i)
{
    static const struct {
        const char *code, *text;
    } emoji[] = {
        {":white_check_mark:", "✅"},
        {":heavy_check_mark:", "✔"},
        {":x:", "❌"},
        {":warning:", "⚠"},
        {":rocket:", "🚀"},
        {":tada:", "🎉"},
        {":memo:", "📝"},
        {":bug:", "🐛"},
        {":fire:", "🔥"},
        {":sparkles:", "✨"},
        {":zap:", "⚡"},
        {":package:", "📦"},
        {":construction:", "🚧"},
        {":no_entry:", "⛔"},
        {":red_circle:", "🔴"},
        {":green_circle:", "🟢"},
        {":yellow_circle:", "🟡"},
        {":clock1:", "🕐"},
        {":hourglass:", "⌛"},
        {":information_source:", "ℹ"},
        {":star:", "⭐"},
        {":thumbsup:", "👍"},
        {":+1:", "👍"},
        {":lock:", "🔒"},
    };
    size_t e;

    for (e = 0; e < GR_ARRAY_SIZE(emoji); e++) {
        size_t n = strlen(emoji[e].code);
        if (*i + n <= len && memcmp(s + *i, emoji[e].code, n) == 0) {
            gr_buf_xadds(md->out, emoji[e].text);
            *i += n;
            return true;
        }
    }
    return false;
}

static void md_inline(struct md *md, const char *s, size_t len)
{
    size_t i = 0;

    if (len > MD_LINE_MAX || md->depth >= MD_DEPTH) {
        gr_buf_xadd(md->out, s, len);
        return;
    }
    md->depth++;
    while (i < len) {
        char c = s[i];
        if (c == '\\' && i + 1 < len && strchr("\\`*_{}[]()#+-.!|~<>", s[i + 1])) {
            gr_buf_xaddch(md->out, s[i + 1]);
            i += 2;
            continue;
        }
        if ((c == '!' || c == '[') && md_link(md, s, len, &i))
            continue;
        if ((c == '*' || c == '_' || c == '~' || c == '`') && md_span(md, s, len, &i))
            continue;
        if (c == '<' && md_tag(md, s, len, &i))
            continue;
        if (c == '&' && md_entity(md, s, len, &i))
            continue;
        if (c == ':' && md_emoji(md, s, len, &i))
            continue;
        gr_buf_xaddch(md->out, c);
        i++;
    }
    md->depth--;
}

/* ---- Markdown to text: blocks ------------------------------------------ */

struct md_line {
    const char *p;
    size_t n;
};

static size_t indent_of(struct md_line l)
{
    size_t i = 0;

    while (i < l.n && l.p[i] == ' ')
        i++;
    return i;
}

static bool is_blank(struct md_line l)
{
    return indent_of(l) == l.n;
}

static bool is_fence(struct md_line l)
{
    size_t i = indent_of(l);
    return i < 4 && l.n - i >= 3 &&
           (memcmp(l.p + i, "```", 3) == 0 || memcmp(l.p + i, "~~~", 3) == 0);
}

static bool is_rule(struct md_line l)
{
    size_t i, count = 0;
    char c = 0;

    for (i = indent_of(l); i < l.n; i++) {
        if (l.p[i] == ' ')
            continue;
        if (c == 0 && (l.p[i] == '-' || l.p[i] == '*' || l.p[i] == '_'))
            c = l.p[i];
        if (l.p[i] != c)
            return false;
        count++;
    }
    return count >= 3;
}

static bool is_table_row(struct md_line l)
{
    return memchr(l.p, '|', l.n) != NULL;
}

static bool is_table_sep(struct md_line l)
{
    size_t i;
    bool dash = false;

    if (!is_table_row(l))
        return false;
    for (i = 0; i < l.n; i++) {
        if (l.p[i] == '-')
            dash = true;
        else if (!strchr("|: ", l.p[i]))
            return false;
    }
    return dash;
}

/* A rendered table: all cell text in one buffer, each row an array of cells. */
struct tcell {
    size_t off, len, width;
};

struct trow {
    struct tcell *cells;
    size_t n;
};

/* Split a table row into cells rendered into text. */
static struct trow table_cells(struct md *md, struct md_line l, struct gr_buf *text)
{
    struct tcell tmp[MAX_COLS];
    struct trow row = {0};
    size_t i = indent_of(l), end = l.n;

    while (end > i && l.p[end - 1] == ' ')
        end--;
    if (i < end && l.p[i] == '|')
        i++;
    if (end > i && l.p[end - 1] == '|' && (end < 2 || l.p[end - 2] != '\\'))
        end--;
    while (i <= end && row.n < MAX_COLS) {
        size_t a = i, b;
        while (i < end && !(l.p[i] == '|' && (i == 0 || l.p[i - 1] != '\\')))
            i++;
        b = i;
        while (a < b && l.p[a] == ' ')
            a++;
        while (b > a && l.p[b - 1] == ' ')
            b--;
        struct md sub = {.out = text, .color = md->color};
        size_t off = text->len;
        md_inline(&sub, l.p + a, b - a);
        tmp[row.n++] =
            (struct tcell){off, text->len - off, visible_width(text->ptr + off, text->len - off)};
        i++;
    }
    row.cells = gr_xmalloc(row.n * sizeof(*row.cells) + 1);
    memcpy(row.cells, tmp, row.n * sizeof(*row.cells));
    return row;
}

static void pad(struct gr_buf *b, size_t n)
{
    while (n--)
        gr_buf_xaddch(b, ' ');
}

static void table_row_out(struct md *md, const struct trow *row, const char *text,
                          const size_t *widths, const bool *right, size_t cols)
{
    size_t c, start = md->out->len;

    for (c = 0; c < cols; c++) {
        size_t w = c < row->n ? row->cells[c].width : 0;
        if (c)
            gr_buf_xadds(md->out, " | ");
        if (right[c])
            pad(md->out, widths[c] - w);
        if (c < row->n)
            gr_buf_xadd(md->out, text + row->cells[c].off, row->cells[c].len);
        if (!right[c])
            pad(md->out, widths[c] - w);
    }
    while (md->out->len > start && md->out->ptr[md->out->len - 1] == ' ')
        md->out->len--;
    md->out->ptr[md->out->len] = '\0';
    gr_buf_xaddch(md->out, '\n');
}

/* Right alignment from the separator row ("---:"). */
static void table_align(struct md_line sep, bool *right, size_t cols)
{
    size_t i = indent_of(sep), c = 0;

    if (i < sep.n && sep.p[i] == '|')
        i++;
    while (i < sep.n && c < cols) {
        size_t start = i;
        while (i < sep.n && sep.p[i] != '|')
            i++;
        size_t a = start, e = i;
        while (a < e && sep.p[a] == ' ')
            a++;
        while (e > a && sep.p[e - 1] == ' ')
            e--;
        /* "---:" is right-aligned; ":---:" (centred) and ":---" stay left */
        right[c++] = e > a && sep.p[e - 1] == ':' && sep.p[a] != ':';
        i++;
    }
}

static void table_sep_out(struct md *md, const size_t *widths, size_t cols)
{
    size_t c, k;

    for (c = 0; c < cols; c++) {
        if (c)
            gr_buf_xadds(md->out, "-+-");
        for (k = 0; k < widths[c]; k++)
            gr_buf_xaddch(md->out, '-');
    }
    gr_buf_xaddch(md->out, '\n');
}

/* Render the table in lines[0..n) (row 1 is the separator); returns rows used. */
static size_t md_table(struct md *md, const struct md_line *lines, size_t n)
{
    size_t nrows = 2, r, c, cols = 0, widths[MAX_COLS] = {0};
    bool right[MAX_COLS] = {false};
    struct gr_buf text = GR_BUF_INIT(0);
    struct trow *rows;

    while (nrows < n && is_table_row(lines[nrows]) && !is_blank(lines[nrows]))
        nrows++;
    rows = gr_xcalloc(nrows, sizeof(*rows));
    for (r = 0; r < nrows; r++) {
        if (r == 1)
            continue;
        rows[r] = table_cells(md, lines[r], &text);
        if (rows[r].n > cols)
            cols = rows[r].n;
        for (c = 0; c < rows[r].n; c++)
            if (rows[r].cells[c].width > widths[c])
                widths[c] = rows[r].cells[c].width;
    }
    table_align(lines[1], right, cols);
    for (r = 0; r < nrows; r++) {
        if (r == 1)
            table_sep_out(md, widths, cols);
        else
            table_row_out(md, &rows[r], text.ptr, widths, right, cols);
        free(rows[r].cells);
    }
    free(rows);
    gr_buf_release(&text);
    return nrows;
}

static size_t md_code_block(struct md *md, const struct md_line *lines, size_t n)
{
    size_t i;

    for (i = 1; i < n && !is_fence(lines[i]); i++) {
        gr_buf_xadds(md->out, "    ");
        xcolor(md->out, md->color, C_CYAN);
        gr_buf_xadd(md->out, lines[i].p, lines[i].n);
        xcolor(md->out, md->color, C_RESET);
        gr_buf_xaddch(md->out, '\n');
    }
    return i < n ? i + 1 : n;
}

static bool md_heading(struct md *md, struct md_line l)
{
    size_t i = indent_of(l), level = 0, k, w;
    size_t start_len = md->out->len;

    while (i < l.n && l.p[i] == '#')
        i++;
    level = i - indent_of(l);
    if (level == 0 || level > 6 || (i < l.n && l.p[i] != ' '))
        return false;
    while (i < l.n && l.p[i] == ' ')
        i++;
    size_t end = l.n;
    while (end > i && (l.p[end - 1] == '#' || l.p[end - 1] == ' '))
        end--;
    if (level > 2)
        gr_buf_xadds(md->out, "» ");
    xcolor(md->out, md->color, C_BOLD);
    md_inline(md, l.p + i, end - i);
    xcolor(md->out, md->color, C_RESET);
    w = visible_width(md->out->ptr + start_len, md->out->len - start_len);
    gr_buf_xaddch(md->out, '\n');
    if (level <= 2) {
        for (k = 0; k < w; k++)
            gr_buf_xadds(md->out, level == 1 ? "=" : "-");
        gr_buf_xaddch(md->out, '\n');
    }
    return true;
}

/* "- x", "* x", "+ x", "1. x", "1) x", task boxes; returns false when not a list item. */
static bool md_list_item(struct md *md, struct md_line l)
{
    size_t ind = indent_of(l), i = ind;

    if (i + 1 < l.n && strchr("-*+", l.p[i]) && l.p[i + 1] == ' ') {
        i += 2;
        pad(md->out, ind + 2);
        if (i + 3 < l.n && l.p[i] == '[' && strchr(" xX", l.p[i + 1]) && l.p[i + 2] == ']' &&
            l.p[i + 3] == ' ') {
            gr_buf_xadds(md->out, l.p[i + 1] == ' ' ? "☐ " : "☑ ");
            i += 4;
        } else {
            gr_buf_xadds(md->out, "• ");
        }
    } else {
        while (i < l.n && l.p[i] >= '0' && l.p[i] <= '9')
            i++;
        if (i == ind || i - ind > 9 || i + 1 >= l.n || !strchr(".)", l.p[i]) || l.p[i + 1] != ' ')
            return false;
        pad(md->out, ind + 2);
        gr_buf_xadd(md->out, l.p + ind, i - ind);
        gr_buf_xadds(md->out, ". ");
        i += 2;
    }
    md_inline(md, l.p + i, l.n - i);
    gr_buf_xaddch(md->out, '\n');
    return true;
}

/* One block starting at lines[0]; returns the number of lines it used. */
static size_t md_block(struct md *md, const struct md_line *lines, size_t n)
{
    struct md_line l = lines[0];
    size_t i = indent_of(l);

    if (is_fence(l))
        return md_code_block(md, lines, n);
    if (i >= 4) {
        gr_buf_xadd(md->out, l.p, l.n);
        gr_buf_xaddch(md->out, '\n');
        return 1;
    }
    if (md_heading(md, l))
        return 1;
    if (is_rule(l)) {
        gr_buf_xadds(md->out, "────────────────────────────────────────\n");
        return 1;
    }
    if (n > 1 && is_table_row(l) && is_table_sep(lines[1]))
        return md_table(md, lines, n);
    if (md_list_item(md, l))
        return 1;
    if (l.p[i] == '>') {
        i++;
        if (i < l.n && l.p[i] == ' ')
            i++;
        gr_buf_xadds(md->out, "│ ");
        md_inline(md, l.p + i, l.n - i);
        gr_buf_xaddch(md->out, '\n');
        return 1;
    }
    md_inline(md, l.p + i, l.n - i);
    gr_buf_xaddch(md->out, '\n');
    return 1;
}

/* Render Markdown text to readable lines (appended to out). */
static void md_render(struct gr_buf *out, bool color, const char *s, size_t len)
{
    struct md md = {.out = out, .color = color};
    struct md_line *lines = NULL;
    size_t n = 0, cap = 0, i = 0;
    bool blank_pending = false;

    while (i < len) {
        const char *nl = memchr(s + i, '\n', len - i);
        size_t e = nl ? (size_t)(nl - s) : len;
        size_t le = e > i && s[e - 1] == '\r' ? e - 1 : e;
        GR_GROW(lines, cap, n + 1);
        lines[n++] = (struct md_line){s + i, le - i};
        i = e + 1;
    }
    for (i = 0; i < n;) {
        if (is_blank(lines[i])) {
            blank_pending = out->len > 0;
            i++;
            continue;
        }
        if (blank_pending)
            gr_buf_xaddch(out, '\n');
        blank_pending = false;
        i += md_block(&md, lines + i, n - i);
    }
    free(lines);
}

/* ---- finish ------------------------------------------------------------ */

static void print_summaries(struct ex_term_reporter *t)
{
    size_t i;

    for (i = 0; i < t->njobs; i++) {
        struct term_job *j = &t->jobs[i];
        struct gr_buf b = GR_BUF_INIT(0);
        if (j->summary.len == 0)
            continue;
        xcolor(&b, t->color, C_BOLD);
        gr_buf_xadds(&b, "── Summary: ");
        gr_buf_xadds(&b, j->name);
        gr_buf_xadds(&b, " ──");
        xcolor(&b, t->color, C_RESET);
        gr_buf_xaddch(&b, '\n');
        md_render(&b, t->color, j->summary.ptr, j->summary.len);
        gr_buf_xaddch(&b, '\n');
        fwrite(b.ptr, 1, b.len, t->out);
        gr_buf_release(&b);
    }
}

static void print_table(struct ex_term_reporter *t)
{
    size_t i, w = 3;
    struct gr_buf b = GR_BUF_INIT(0);

    for (i = 0; i < t->njobs; i++) {
        size_t n = utf8_width(t->jobs[i].name, strlen(t->jobs[i].name));
        if (n > w)
            w = n;
    }
    xcolor(&b, t->color, C_BOLD);
    gr_buf_xadds(&b, "JOB");
    pad(&b, w - 3);
    gr_buf_xadds(&b, "  RESULT     DURATION");
    xcolor(&b, t->color, C_RESET);
    gr_buf_xaddch(&b, '\n');
    for (i = 0; i < t->njobs; i++) {
        const struct term_job *j = &t->jobs[i];
        const char *mark, *word, *color, *res = j->finished ? ex_result_name(j->result) : "-";
        char dur[32] = "-";
        result_words(j->result, &mark, &word, &color);
        if (j->finished)
            format_duration(dur, sizeof(dur), j->duration_ns);
        gr_buf_xadds(&b, j->name);
        pad(&b, w - utf8_width(j->name, strlen(j->name)) + 2);
        xcolor(&b, t->color && j->finished, color);
        gr_buf_xadds(&b, res);
        xcolor(&b, t->color && j->finished, C_RESET);
        pad(&b, strlen(res) < 11 ? 11 - strlen(res) : 1);
        gr_buf_xadds(&b, dur);
        gr_buf_xaddch(&b, '\n');
    }
    fwrite(b.ptr, 1, b.len, t->out);
    gr_buf_release(&b);
}

/* ---- public ------------------------------------------------------------ */

struct ex_term_reporter *ex_term_reporter_new(FILE *out, bool color, bool verbose)
{
    struct ex_term_reporter *t = gr_xcalloc(1, sizeof(*t));

    t->out = out;
    t->color = color;
    t->verbose = verbose;
    t->rep = (struct ex_reporter){
        .ctx = t,
        .job_started = on_job_started,
        .step_started = on_step_started,
        .log_line = on_log_line,
        .group = on_group,
        .annotation = on_annotation,
        .step_finished = on_step_finished,
        .job_finished = on_job_finished,
        .summary = on_summary,
    };
    return t;
}

const struct ex_reporter *ex_term_reporter_get(struct ex_term_reporter *t)
{
    return &t->rep;
}

void ex_term_reporter_finish(struct ex_term_reporter *t)
{
    if (t->njobs == 0)
        return;
    fputc('\n', t->out);
    print_summaries(t);
    print_table(t);
    fflush(t->out);
}

void ex_term_reporter_free(struct ex_term_reporter *t)
{
    size_t i, k;

    if (!t)
        return;
    for (i = 0; i < t->njobs; i++) {
        for (k = 0; k < t->jobs[i].nsteps; k++)
            free(t->jobs[i].steps[k]);
        free(t->jobs[i].steps);
        free(t->jobs[i].name);
        gr_buf_release(&t->jobs[i].summary);
    }
    free(t->jobs);
    free(t);
}
