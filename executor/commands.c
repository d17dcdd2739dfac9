/*
 * Workflow commands and file commands (see ex/commands.h).
 *
 * DESIGN. A line is first cut into a raw command (name, properties, data)
 * by the "::" parser (ActionCommand.TryParseV2) or, failing that, by the
 * legacy "##[name k=v;k=v]data" parser (ActionCommand.TryParse); both only
 * accept registered names. Then the command manager's rules apply in order
 * (ActionCommandManager.TryProcessCommand): while stopped only the resume
 * token counts; stop-commands validates its token; the other commands check
 * their arguments and raise the runner's messages. File commands follow
 * FileCommandManager.cs (EnvFileKeyValuePairs, AddPathFileCommand).
 */
#include "ex/commands.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define MAX_PROPS 32

struct cmd_def {
    const char *name;
    enum ex_cmd_kind kind;
    bool omit_echo; /* IActionCommandExtension.OmitEcho */
};

static const struct cmd_def cmd_defs[] = {
    {"error", EX_CMD_ERROR, true},
    {"warning", EX_CMD_WARNING, true},
    {"notice", EX_CMD_NOTICE, true},
    {"debug", EX_CMD_DEBUG, true},
    {"group", EX_CMD_GROUP, false},
    {"endgroup", EX_CMD_ENDGROUP, false},
    {"add-mask", EX_CMD_ADD_MASK, true},
    {"echo", EX_CMD_ECHO, false},
    {"set-output", EX_CMD_SET_OUTPUT, false},
    {"save-state", EX_CMD_SAVE_STATE, false},
    {"set-env", EX_CMD_SET_ENV, false},
    {"add-path", EX_CMD_ADD_PATH, false},
    {"add-matcher", EX_CMD_ADD_MATCHER, false},
    {"remove-matcher", EX_CMD_REMOVE_MATCHER, false},
    {"stop-commands", EX_CMD_STOP_COMMANDS, false},
};

#define STOP_DEF (GR_ARRAY_SIZE(cmd_defs) - 1)

/* Constants.Runner.UnsupportedCommandMessageDisabled and UnsupportedStopCommandTokenDisabled */
static const char msg_disabled_1[] = "The `";
static const char msg_disabled_2[] =
    "` command is disabled. Please upgrade to using Environment Files or opt into "
    "unsecure command execution by setting the `ACTIONS_ALLOW_UNSECURE_COMMANDS` environment "
    "variable to `true`. For more information see: "
    "https://github.blog/changelog/2020-10-01-github-actions-deprecating-set-env-and-add-path-"
    "commands/";
static const char msg_stop_token[] =
    "You cannot use a endToken that is an empty string, the string 'pause-logging', or another "
    "workflow command. For more information see: "
    "https://docs.github.com/actions/learn-github-actions/"
    "workflow-commands-for-github-actions#example-stopping-and-starting-workflow-commands or opt "
    "into insecure command execution by setting the `ACTIONS_ALLOW_UNSECURE_STOPCOMMAND_TOKENS` "
    "environment variable to `true`.";

/* ---- escaping ---------------------------------------------------------- */

struct esc {
    const char *token, *replacement;
};

static const struct esc esc_data[] = {{"\r", "%0D"}, {"\n", "%0A"}, {"%", "%25"}};
static const struct esc esc_prop[] = {
    {"\r", "%0D"}, {"\n", "%0A"}, {":", "%3A"}, {",", "%2C"}, {"%", "%25"}};
static const struct esc esc_legacy[] = {
    {";", "%3B"}, {"\r", "%0D"}, {"\n", "%0A"}, {"]", "%5D"}, {"%", "%25"}};

/* String.Replace(from, to) over the whole buffer: left to right, non-overlapping. */
static void replace_all(struct gr_buf *b, const char *from, const char *to)
{
    struct gr_buf out = GR_BUF_INIT(0);
    size_t flen = strlen(from), i = 0;

    if (!memmem(b->ptr, b->len, from, flen))
        return;
    while (i < b->len) {
        if (i + flen <= b->len && memcmp(b->ptr + i, from, flen) == 0) {
            gr_buf_xadds(&out, to);
            i += flen;
        } else {
            gr_buf_xaddch(&out, b->ptr[i++]);
        }
    }
    gr_buf_release(b);
    *b = out;
}

static char *unescape(const char *s, size_t len, const struct esc *map, size_t n)
{
    struct gr_buf b = GR_BUF_INIT(0);
    size_t i;

    gr_buf_xadd(&b, s, len);
    for (i = 0; i < n; i++)
        replace_all(&b, map[i].replacement, map[i].token);
    return gr_buf_detach(&b, NULL);
}

/* Escaping is the inverse: '%' first, then the others (toolkit's escapeData/escapeProperty). */
static char *escape(const char *s, size_t len, const struct esc *map, size_t n)
{
    struct gr_buf b = GR_BUF_INIT(0);
    size_t i;

    gr_buf_xadd(&b, s, len);
    for (i = n; i-- > 0;)
        replace_all(&b, map[i].token, map[i].replacement);
    return gr_buf_detach(&b, NULL);
}

char *ex_cmd_unescape_data(const char *s, size_t len)
{
    return unescape(s, len, esc_data, GR_ARRAY_SIZE(esc_data));
}

char *ex_cmd_unescape_prop(const char *s, size_t len)
{
    return unescape(s, len, esc_prop, GR_ARRAY_SIZE(esc_prop));
}

char *ex_cmd_escape_data(const char *s, size_t len)
{
    return escape(s, len, esc_data, GR_ARRAY_SIZE(esc_data));
}

char *ex_cmd_escape_prop(const char *s, size_t len)
{
    return escape(s, len, esc_prop, GR_ARRAY_SIZE(esc_prop));
}

/* ---- raw parsing ------------------------------------------------------- */

/* Length of a .NET white-space character (Char.IsWhiteSpace) at s, UTF-8; 0 if none. */
static size_t space_len(const unsigned char *s, size_t n)
{
    if (n >= 1 && (s[0] == ' ' || (s[0] >= '\t' && s[0] <= '\r')))
        return 1;
    if (n >= 2 && s[0] == 0xC2 && (s[1] == 0x85 || s[1] == 0xA0))
        return 2;
    if (n < 3)
        return 0;
    if (s[0] == 0xE1 && s[1] == 0x9A && s[2] == 0x80) /* U+1680 */
        return 3;
    if (s[0] == 0xE2 && s[1] == 0x80 &&
        (s[2] <= 0x8A || s[2] == 0xA8 || s[2] == 0xA9 || s[2] == 0xAF)) /* U+2000.., U+2028 */
        return s[2] >= 0x80 ? 3 : 0;
    if (s[0] == 0xE2 && s[1] == 0x81 && s[2] == 0x9F) /* U+205F */
        return 3;
    if (s[0] == 0xE3 && s[1] == 0x80 && s[2] == 0x80) /* U+3000 */
        return 3;
    return 0;
}

static struct gr_str trim_start(struct gr_str s)
{
    size_t k;

    while ((k = space_len((const unsigned char *)s.ptr, s.len)) > 0) {
        s.ptr += k;
        s.len -= k;
    }
    return s;
}

static struct gr_str trim_end(struct gr_str s)
{
    for (;;) {
        size_t k, back = 0;
        for (k = 1; k <= 3 && k <= s.len; k++) {
            const unsigned char *p = (const unsigned char *)s.ptr + s.len - k;
            if (space_len(p, k) == k) {
                back = k;
                break;
            }
        }
        if (!back)
            return s;
        s.len -= back;
    }
}

static const char *find_str(struct gr_str s, size_t from, const char *needle)
{
    size_t n = strlen(needle);

    if (from > s.len)
        return NULL;
    return memmem(s.ptr + from, s.len - from, needle, n);
}

struct prop {
    struct gr_str key, value;
};

struct raw_cmd {
    struct gr_str name, data;
    struct prop props[MAX_PROPS];
    size_t nprops;
    bool legacy;
};

/* One "k=v" item, split as .NET Core's Split('=', 2, RemoveEmptyEntries). */
static void add_prop(struct raw_cmd *rc, struct gr_str item)
{
    struct prop p;
    size_t i = 0;

    while (i < item.len && item.ptr[i] == '=')
        i++;
    p.key.ptr = item.ptr + i;
    while (i < item.len && item.ptr[i] != '=')
        i++;
    p.key.len = (size_t)(item.ptr + i - p.key.ptr);
    if (i == item.len)
        return;
    while (i < item.len && item.ptr[i] == '=')
        i++;
    p.value = (struct gr_str){item.ptr + i, item.len - i};
    if (p.key.len == 0 || p.value.len == 0)
        return;
    if (rc->nprops == MAX_PROPS) {
        memmove(rc->props, rc->props + 1, (MAX_PROPS - 1) * sizeof(rc->props[0]));
        rc->nprops--;
    }
    rc->props[rc->nprops++] = p;
}

static void split_props(struct raw_cmd *rc, struct gr_str s, char sep)
{
    size_t i = 0;

    while (i < s.len) {
        size_t start = i;
        while (i < s.len && s.ptr[i] != sep)
            i++;
        if (i > start)
            add_prop(rc, (struct gr_str){s.ptr + start, i - start});
        i++;
    }
}

/* Index into cmd_defs of a registered name; -1 if none. */
static int lookup(const struct ex_cmd_state *st, struct gr_str name)
{
    size_t i;

    for (i = 0; i < GR_ARRAY_SIZE(cmd_defs); i++) {
        if (st->removed & (1u << i))
            continue;
        if (strlen(cmd_defs[i].name) == name.len &&
            strncasecmp(cmd_defs[i].name, name.ptr, name.len) == 0)
            return (int)i;
    }
    return -1;
}

static bool is_token(const struct ex_cmd_state *st, struct gr_str name)
{
    return st->stop_token && strlen(st->stop_token) == name.len &&
           strncasecmp(st->stop_token, name.ptr, name.len) == 0;
}

static bool registered(const struct ex_cmd_state *st, struct gr_str name)
{
    return lookup(st, name) >= 0 || is_token(st, name);
}

/* Split cmd_info at its first space into name and properties. */
static bool parse_info(const struct ex_cmd_state *st, struct gr_str info, struct raw_cmd *rc,
                       char sep, bool trim)
{
    const char *sp = memchr(info.ptr, ' ', info.len);
    size_t name_len = sp ? (size_t)(sp - info.ptr) : info.len;

    rc->name = (struct gr_str){info.ptr, name_len};
    if (!registered(st, rc->name))
        return false;
    if (sp && name_len > 0) {
        struct gr_str props = {sp + 1, info.len - name_len - 1};
        if (trim)
            props = trim_end(trim_start(props));
        split_props(rc, props, sep);
    }
    return true;
}

/* ActionCommand.TryParseV2 */
static bool parse_v2(const struct ex_cmd_state *st, struct gr_str line, struct raw_cmd *rc)
{
    struct gr_str s = trim_start(line);
    const char *end;

    if (s.len < 2 || memcmp(s.ptr, "::", 2) != 0)
        return false;
    end = find_str(s, 2, "::");
    if (!end)
        return false;
    if (!parse_info(st, (struct gr_str){s.ptr + 2, (size_t)(end - s.ptr) - 2}, rc, ',', true))
        return false;
    rc->data = (struct gr_str){end + 2, s.len - (size_t)(end + 2 - s.ptr)};
    return true;
}

/* ActionCommand.TryParse: "##[name k=v;k=v]data" anywhere in the line. */
static bool parse_legacy(const struct ex_cmd_state *st, struct gr_str line, struct raw_cmd *rc)
{
    const char *pre = find_str(line, 0, "##[");
    const char *rb;

    if (!pre)
        return false;
    rb = memchr(pre, ']', line.len - (size_t)(pre - line.ptr));
    if (!rb)
        return false;
    if (!parse_info(st, (struct gr_str){pre + 3, (size_t)(rb - pre) - 3}, rc, ';', false))
        return false;
    rc->data = (struct gr_str){rb + 1, line.len - (size_t)(rb + 1 - line.ptr)};
    rc->legacy = true;
    return true;
}

/* Last value of a property (keys compare case-insensitively), unescaped; NULL if absent. */
static char *prop_get(const struct raw_cmd *rc, const char *key)
{
    size_t i = rc->nprops;

    while (i-- > 0) {
        struct gr_str k = rc->props[i].key;
        if (strlen(key) == k.len && strncasecmp(key, k.ptr, k.len) == 0) {
            struct gr_str v = rc->props[i].value;
            if (rc->legacy)
                return unescape(v.ptr, v.len, esc_legacy, GR_ARRAY_SIZE(esc_legacy));
            return ex_cmd_unescape_prop(v.ptr, v.len);
        }
    }
    return NULL;
}

/* ---- annotation positions (IssueCommandExtension.ValidateLinesAndColumns) */

/* int.TryParse with NumberStyles.Integer. */
static bool try_int(const char *s, int *ret)
{
    long long v = 0;
    bool neg = false, digits = false;

    if (!s)
        return false;
    while (*s == ' ' || (*s >= '\t' && *s <= '\r'))
        s++;
    if (*s == '+' || *s == '-')
        neg = *s++ == '-';
    while (*s >= '0' && *s <= '9') {
        v = v * 10 + (*s++ - '0');
        digits = true;
        if (v > (long long)INT_MAX + 1)
            return false;
    }
    while (*s == ' ' || (*s >= '\t' && *s <= '\r'))
        s++;
    if (!digits || *s || (!neg && v > INT_MAX))
        return false;
    *ret = (int)(neg ? -v : v);
    return true;
}

static void drop(char **a, char **b)
{
    free(*a);
    free(*b);
    *a = NULL;
    *b = NULL;
}

static bool str_eq(const char *a, const char *b)
{
    return a && b && strcmp(a, b) == 0;
}

static void positions(const struct raw_cmd *rc, struct ex_cmd *c)
{
    char *line = prop_get(rc, "line"), *end_line = prop_get(rc, "endLine");
    char *col = prop_get(rc, "col"), *end_col = prop_get(rc, "endColumn");
    int ln = 0, eln = 0, cn = 0, ecn = 0;
    bool has_line = try_int(line, &ln), has_end_line = try_int(end_line, &eln);
    bool has_col = try_int(col, &cn), has_end_col = try_int(end_col, &ecn);
    bool has_column = has_col || has_end_col;

    if (has_end_line && !has_line) {
        free(line);
        line = gr_xstrdup(end_line);
        has_line = true;
    }
    if (has_end_col && !has_col) {
        free(col);
        col = gr_xstrdup(end_col);
        has_col = true;
    }
    if (!has_line && has_column)
        drop(&col, &end_col);
    if (has_end_line && !str_eq(line, end_line) && has_column)
        drop(&col, &end_col);
    if (has_line && has_end_line && eln < ln)
        drop(&line, &end_line);
    if (has_col && has_end_col && ecn < cn)
        drop(&col, &end_col);
    c->line = try_int(line, &ln) ? ln : 0;
    c->end_line = try_int(end_line, &eln) ? eln : 0;
    c->col = try_int(col, &cn) ? cn : 0;
    c->end_col = try_int(end_col, &ecn) ? ecn : 0;
    free(line);
    free(end_line);
    free(col);
    free(end_col);
}

/* ---- per-command rules -------------------------------------------------- */

static void name_required(struct ex_cmd *c, const struct raw_cmd *rc, const char *cmd)
{
    c->prop_name = prop_get(rc, "name");
    if (!c->prop_name || !*c->prop_name)
        c->error = gr_xasprintf("Required field 'name' is missing in ##[%s] command.", cmd);
}

static void do_echo(struct ex_cmd_state *st, struct ex_cmd *c)
{
    struct gr_str v = trim_end(trim_start(gr_str_c(c->message)));

    if (!*c->message)
        c->error = gr_xstrdup("Value cannot be null. (Parameter 'value')");
    else if (gr_str_caseeq(v, "on"))
        st->echo = true;
    else if (gr_str_caseeq(v, "off"))
        st->echo = false;
    else
        c->error = gr_xasprintf("Invalid echo command value. Possible values can be: 'on', "
                                "'off'. Current value is: '%s'.",
                                c->message);
}

static void do_add_mask(const struct ex_cmd_state *st, struct ex_cmd *c)
{
    struct gr_str v = trim_end(trim_start(gr_str_c(c->message)));

    if (v.len == 0)
        c->warning = gr_xstrdup("Can't add secret mask for empty string in ##[add-mask] command.");
    else if (st->echo)
        c->print_line = false; /* the runner prints "::add-mask::***" */
}

static void do_unsecure(const struct ex_cmd_state *st, struct ex_cmd *c, const struct raw_cmd *rc,
                        const char *cmd)
{
    if (!st->allow_unsecure) {
        c->error = gr_xasprintf("%s%s%s", msg_disabled_1, cmd, msg_disabled_2);
        return;
    }
    if (c->kind == EX_CMD_SET_ENV)
        name_required(c, rc, cmd);
    else if (!*c->message)
        c->error = gr_xstrdup("Value cannot be null. (Parameter 'path')");
}

static void do_remove_matcher(struct ex_cmd *c, const struct raw_cmd *rc)
{
    c->owner = prop_get(rc, "owner");
    bool has_owner = c->owner && *c->owner, has_file = *c->message != '\0';

    if (has_owner && has_file)
        c->warning = gr_xstrdup("Either specify an owner name or a file path in "
                                "##[remove-matcher] command. Both values cannot be set.");
    else if (!has_owner && !has_file)
        c->warning = gr_xstrdup("Either an owner name or a file path must be specified in "
                                "##[remove-matcher] command.");
}

static void apply_rules(struct ex_cmd_state *st, struct ex_cmd *c, const struct raw_cmd *rc)
{
    switch (c->kind) {
    case EX_CMD_ERROR:
    case EX_CMD_WARNING:
    case EX_CMD_NOTICE:
        c->file = prop_get(rc, "file");
        c->title = prop_get(rc, "title");
        positions(rc, c);
        break;
    case EX_CMD_ECHO:
        do_echo(st, c);
        break;
    case EX_CMD_ADD_MASK:
        do_add_mask(st, c);
        break;
    case EX_CMD_SET_OUTPUT:
        name_required(c, rc, "set-output");
        break;
    case EX_CMD_SAVE_STATE:
        name_required(c, rc, "save-state");
        break;
    case EX_CMD_SET_ENV:
        do_unsecure(st, c, rc, "set-env");
        break;
    case EX_CMD_ADD_PATH:
        do_unsecure(st, c, rc, "add-path");
        break;
    case EX_CMD_ADD_MATCHER:
        if (!*c->message)
            c->warning = gr_xstrdup("File path must be specified.");
        break;
    case EX_CMD_REMOVE_MATCHER:
        do_remove_matcher(c, rc);
        break;
    default:
        break;
    }
}

/* ActionCommandManager.ValidateStopToken, then pause. */
static void do_stop(struct ex_cmd_state *st, struct ex_cmd *c)
{
    struct gr_str tok = gr_str_c(c->message);
    bool invalid = tok.len == 0 || registered(st, tok) || gr_str_caseeq(tok, "pause-logging");

    if (invalid && !st->allow_unsecure_stop_tokens) {
        c->error = gr_xstrdup(msg_stop_token);
        c->print_line = false;
        return;
    }
    free(st->stop_token);
    st->stop_token = gr_xstrdup(c->message);
    c->print_line = true;
}

/* While stopped: only the token resumes; everything else is an ordinary line. */
static bool resumes(struct ex_cmd_state *st, struct gr_str name)
{
    int idx;

    if (!*st->stop_token || !is_token(st, name))
        return false;
    /* the runner unregisters the token; when it was a command's name, that command too */
    idx = lookup(st, name);
    if (idx >= 0)
        st->removed |= 1u << idx;
    free(st->stop_token);
    st->stop_token = NULL;
    return true;
}

static void fill(struct ex_cmd *c, const struct raw_cmd *rc)
{
    c->name = gr_xstrndup(rc->name.ptr, rc->name.len);
    if (rc->legacy)
        c->message = unescape(rc->data.ptr, rc->data.len, esc_legacy, GR_ARRAY_SIZE(esc_legacy));
    else
        c->message = ex_cmd_unescape_data(rc->data.ptr, rc->data.len);
}

int ex_cmd_parse(struct ex_cmd_state *st, const char *line, size_t len, struct ex_cmd *ret)
{
    struct gr_str l = {line, len};
    struct raw_cmd rc = {.nprops = 0};
    int idx;

    if (!st || !ret || (!line && len))
        return -EINVAL;
    *ret = (struct ex_cmd){.kind = EX_CMD_NONE, .print_line = true};
    if (len == 0 || (!parse_v2(st, l, &rc) && !parse_legacy(st, l, &rc)))
        return 0;
    if (st->stop_token) {
        if (resumes(st, rc.name)) {
            fill(ret, &rc);
            ret->kind = EX_CMD_RESUME_COMMANDS;
        }
        return 0;
    }
    idx = lookup(st, rc.name);
    if (idx < 0) /* while not stopped, registered() means lookup() finds it */
        return 0;
    fill(ret, &rc);
    ret->kind = cmd_defs[idx].kind;
    ret->omit_echo = cmd_defs[idx].omit_echo;
    if ((size_t)idx == STOP_DEF) {
        do_stop(st, ret);
        return 0;
    }
    ret->print_line = st->echo && !ret->omit_echo;
    apply_rules(st, ret, &rc);
    return 0;
}

char *ex_cmd_failure_message(const struct ex_cmd *c, const char *line, size_t len)
{
    if (c->omit_echo)
        return gr_xasprintf("Unable to process command '%s' successfully.", c->name);
    return gr_xasprintf("Unable to process command '%.*s' successfully.", (int)len, line);
}

void ex_cmd_release(struct ex_cmd *c)
{
    if (!c)
        return;
    free(c->name);
    free(c->message);
    free(c->file);
    free(c->title);
    free(c->prop_name);
    free(c->owner);
    free(c->error);
    free(c->warning);
    *c = (struct ex_cmd){.kind = EX_CMD_NONE};
}

void ex_cmd_state_release(struct ex_cmd_state *st)
{
    if (!st)
        return;
    free(st->stop_token);
    st->stop_token = NULL;
}

/* ---- file commands ------------------------------------------------------ */

/* Copy with invalid UTF-8 replaced by U+FFFD, one per maximal invalid subpart. */
static char *utf8_clean(const char *s, size_t len, size_t *ret_len)
{
    struct gr_buf b = GR_BUF_INIT(0);
    const unsigned char *u = (const unsigned char *)s;
    size_t i = 0;

    while (i < len) {
        unsigned char c = u[i];
        size_t need = c < 0x80                 ? 0
                      : c >= 0xC2 && c <= 0xDF ? 1
                      : c >= 0xE0 && c <= 0xEF ? 2
                      : c >= 0xF0 && c <= 0xF4 ? 3
                                               : (size_t)-1;
        size_t k = 1;
        if (need == (size_t)-1) {
            gr_buf_xadd(&b, "\xEF\xBF\xBD", 3);
            i++;
            continue;
        }
        for (; k <= need && i + k < len; k++) {
            unsigned char lo = 0x80, hi = 0xBF;
            if (k == 1 && c == 0xE0)
                lo = 0xA0;
            else if (k == 1 && c == 0xED)
                hi = 0x9F;
            else if (k == 1 && c == 0xF0)
                lo = 0x90;
            else if (k == 1 && c == 0xF4)
                hi = 0x8F;
            if (u[i + k] < lo || u[i + k] > hi)
                break;
        }
        if (k <= need)
            gr_buf_xadd(&b, "\xEF\xBF\xBD", 3);
        else
            gr_buf_xadd(&b, s + i, k);
        i += k;
    }
    *ret_len = b.len;
    return gr_buf_detach(&b, NULL);
}

static int set_pair(json_t *out, struct gr_str key, struct gr_str value)
{
    size_t klen, vlen;
    char *k = utf8_clean(key.ptr, key.len, &klen);
    char *v = utf8_clean(value.ptr, value.len, &vlen);
    int r = json_object_setn_new(out, k, klen, json_stringn(v, vlen));

    free(k);
    free(v);
    return r < 0 ? -ENOMEM : 0;
}

/* EnvFileKeyValuePairs.ReadLine on Linux: LF only. Returns false at the end. */
static bool read_line(const char *text, size_t len, size_t *index, struct gr_str *ret, bool *ret_nl)
{
    const char *lf;

    if (*index >= len)
        return false;
    lf = memchr(text + *index, '\n', len - *index);
    *ret = (struct gr_str){text + *index, lf ? (size_t)(lf - text) - *index : len - *index};
    *ret_nl = lf != NULL;
    *index = lf ? (size_t)(lf - text) + 1 : len;
    return true;
}

struct kv_reader {
    const char *path, *text;
    size_t len, index;
    int lineno;
};

/* The heredoc value after the NAME<<DELIM line. */
static int read_heredoc(struct kv_reader *rd, struct gr_str delim, struct gr_str *ret,
                        struct gr_diag *reterr)
{
    int first = rd->lineno;
    size_t start = rd->index, end = rd->index;
    struct gr_str l;
    bool nl;

    for (;;) {
        if (!read_line(rd->text, rd->len, &rd->index, &l, &nl))
            return gr_diag_set(reterr, GR_EPARSE, rd->path, first, 0,
                               "Invalid value. Matching delimiter not found '%.*s'", (int)delim.len,
                               delim.ptr);
        rd->lineno++;
        if (l.len == delim.len && memcmp(l.ptr, delim.ptr, l.len) == 0)
            break;
        if (!nl)
            return gr_diag_set(reterr, GR_EPARSE, rd->path, rd->lineno, 0,
                               "Invalid value. EOF marker missing new line.");
        end = rd->index - 1;
    }
    *ret = (struct gr_str){rd->text + start, end > start ? end - start : 0};
    return 0;
}

/* One non-empty line: NAME=value or NAME<<DELIM. */
static int kv_entry(struct kv_reader *rd, struct gr_str l, json_t *out, struct gr_diag *reterr)
{
    const char *eq = memchr(l.ptr, '=', l.len);
    const char *hd = memmem(l.ptr, l.len, "<<", 2);
    struct gr_str key = {0}, value = {0};
    int r;

    if (eq && (!hd || eq < hd)) {
        key = (struct gr_str){l.ptr, (size_t)(eq - l.ptr)};
        value = (struct gr_str){eq + 1, l.len - key.len - 1};
        if (key.len == 0)
            return gr_diag_set(reterr, GR_EPARSE, rd->path, rd->lineno, 0,
                               "Invalid format '%.*s'. Name must not be empty", (int)l.len, l.ptr);
        return set_pair(out, key, value);
    }
    if (!hd)
        return gr_diag_set(reterr, GR_EPARSE, rd->path, rd->lineno, 0, "Invalid format '%.*s'",
                           (int)l.len, l.ptr);
    key = (struct gr_str){l.ptr, (size_t)(hd - l.ptr)};
    struct gr_str delim = {hd + 2, l.len - key.len - 2};
    if (key.len == 0 || delim.len == 0)
        return gr_diag_set(reterr, GR_EPARSE, rd->path, rd->lineno, 0,
                           "Invalid format '%.*s'. Name must not be empty and delimiter must "
                           "not be empty",
                           (int)l.len, l.ptr);
    r = read_heredoc(rd, delim, &value, reterr);
    if (r < 0)
        return r;
    return set_pair(out, key, value);
}

int ex_filecmd_parse_kv(const char *path, const char *data, size_t len, json_t *out,
                        struct gr_diag *reterr)
{
    struct kv_reader rd = {.path = path, .text = data, .len = len};
    struct gr_str l;
    bool nl;
    int r;

    if (!json_is_object(out) || (!data && len))
        return -EINVAL;
    if (len >= 3 && memcmp(data, "\xEF\xBB\xBF", 3) == 0)
        rd.index = 3;
    while (read_line(rd.text, rd.len, &rd.index, &l, &nl)) {
        rd.lineno++;
        if (l.len == 0)
            continue;
        r = kv_entry(&rd, l, out, reterr);
        if (r < 0)
            return r;
    }
    return 0;
}

/*
 * Keep only the last occurrence of each entry (PrependPath.RemoveAll + Add,
 * line after line), in one pass with a map from entry to its last index.
 */
static int path_dedup(json_t *all, json_t *out)
{
    json_t *last = json_object(), *v;
    size_t i;
    int r = 0;

    json_array_foreach(all, i, v)
    {
        if (json_object_setn_new(last, json_string_value(v), json_string_length(v),
                                 json_integer((json_int_t)i)) < 0)
            r = -ENOMEM;
    }
    json_array_clear(out);
    json_array_foreach(all, i, v)
    {
        json_t *at = json_object_getn(last, json_string_value(v), json_string_length(v));
        if (r == 0 && json_integer_value(at) == (json_int_t)i)
            r = json_array_append(out, v) < 0 ? -ENOMEM : 0;
    }
    json_decref(last);
    return r;
}

int ex_filecmd_parse_path(const char *data, size_t len, json_t *out)
{
    json_t *all, *v;
    size_t i = 0, k;
    int r;

    if (!json_is_array(out) || (!data && len))
        return -EINVAL;
    all = json_array();
    json_array_foreach(out, k, v)
    {
        if (json_is_string(v))
            (void)json_array_append(all, v);
    }
    if (len >= 3 && memcmp(data, "\xEF\xBB\xBF", 3) == 0)
        i = 3;
    while (i < len) {
        size_t start = i, vlen;
        while (i < len && data[i] != '\n' && data[i] != '\r')
            i++;
        if (i > start) {
            char *clean = utf8_clean(data + start, i - start, &vlen);
            (void)json_array_append_new(all, json_stringn(clean, vlen));
            free(clean);
        }
        if (i < len && data[i] == '\r' && i + 1 < len && data[i + 1] == '\n')
            i++;
        i++;
    }
    r = path_dedup(all, out);
    json_decref(all);
    return r;
}
