/*
 * hashFiles(): the runner runs src/Misc/expressionFunc/hashFiles/src/
 * hashFiles.ts, which walks @actions/glob's DefaultGlobber (internal-
 * globber.ts) from the workspace: patterns one per line, trimmed, '#'
 * comments, leading '!' negates, the last matching pattern wins, every
 * pattern also matches the descendants of what it matches, search paths are
 * the literal prefixes of the include patterns, and directories are visited
 * depth-first with entries in byte order (libuv's scandir sorts them).
 * Each file's SHA-256 digest is fed into one outer SHA-256; the result is its
 * hex digest, or '' when nothing matched. Files outside the workspace are
 * ignored; directories are skipped.
 */
#include "expr_internal.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <limits.h>
#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct hpat {
    bool negate, dir_only, implicit;
    char **segs;
    size_t nsegs;
};

struct hctx {
    struct ex_ev *ev;
    char *ws; /* real path of the workspace */
    bool follow;
    struct hpat *pats;
    size_t npats, cappats;
    struct gr_buf joined; /* the patterns, for messages */
    EVP_MD_CTX *outer;
    size_t count;
    char **chain; /* real paths of the directories above, when following links */
    size_t nchain, capchain;
};

static void pat_release(struct hpat *p)
{
    for (size_t i = 0; i < p->nsegs; i++)
        free(p->segs[i]);
    free(p->segs);
}

static bool has_glob(const char *s)
{
    return strpbrk(s, "*?[") != NULL;
}

static void seg_push(struct hpat *p, size_t *cap, const char *s, size_t len)
{
    GR_GROW(p->segs, *cap, p->nsegs + 1);
    p->segs[p->nsegs++] = gr_xstrndup(s, len);
}

/* Split an absolute path into segments, dropping empty ones. */
static void split_path(struct hpat *p, size_t *cap, const char *path)
{
    const char *s = path;

    while (*s) {
        const char *e = strchr(s, '/');
        size_t len = e ? (size_t)(e - s) : strlen(s);
        if (len)
            seg_push(p, cap, s, len);
        s += len + (e ? 1 : 0);
    }
}

/* Build the absolute pattern: a leading ./ or ../ is relative to the workspace (or its
 * parent), as @actions/glob's fixupPattern; '.' and '..' segments elsewhere are invalid. */
static int pat_init(struct hctx *h, struct hpat *p, const char *text)
{
    size_t cap = 0, len;
    char *root = gr_xstrdup(h->ws), *abs = NULL;
    char *slash;

    while (*text == '!') {
        p->negate = !p->negate;
        text++;
    }
    len = strlen(text);
    if (len == 0) {
        free(root);
        return -EINVAL;
    }
    p->dir_only = text[len - 1] == '/';
    if (text[0] == '/') {
        abs = gr_xstrdup(text);
    } else if (strcmp(text, ".") == 0 || strncmp(text, "./", 2) == 0) {
        text += 1;
    } else if (strcmp(text, "..") == 0 || strncmp(text, "../", 3) == 0) {
        slash = strrchr(root, '/');
        if (slash)
            *slash = '\0';
        text += 2;
    }
    if (!abs)
        abs = gr_xasprintf("%s/%s", root, text);
    split_path(p, &cap, abs);
    free(abs);
    free(root);
    for (size_t i = 0; i < p->nsegs; i++)
        if (strcmp(p->segs[i], ".") == 0 || strcmp(p->segs[i], "..") == 0)
            return -EINVAL;
    return 0;
}

static void pat_add(struct hctx *h, const struct hpat *p)
{
    GR_GROW(h->pats, h->cappats, h->npats + 1);
    h->pats[h->npats++] = *p;
}

/* The pattern plus, unless it already ends in **, its implicit descendants (P + globstar). */
static int add_pattern(struct hctx *h, const char *text)
{
    struct hpat p = {0}, d = {0};
    size_t cap = 0;
    int r;

    r = pat_init(h, &p, text);
    if (r < 0) {
        pat_release(&p);
        return r;
    }
    pat_add(h, &p);
    if (!p.dir_only && p.nsegs && strcmp(p.segs[p.nsegs - 1], "**") == 0)
        return 0;
    d.negate = p.negate;
    d.implicit = true;
    for (size_t i = 0; i < p.nsegs; i++)
        seg_push(&d, &cap, p.segs[i], strlen(p.segs[i]));
    seg_push(&d, &cap, "**", 2);
    pat_add(h, &d);
    return 0;
}

/* ---- matching ---------------------------------------------------------- */

static bool seg_match(const char *glob, const char *name)
{
    return fnmatch(glob, name, 0) == 0;
}

/* Full match of path segments; a final ** of an implicit pattern needs one segment. */
static bool match_segs(const struct hpat *p, size_t pi, char *const *s, size_t ns)
{
    if (pi == p->nsegs)
        return ns == 0;
    if (strcmp(p->segs[pi], "**") == 0) {
        size_t min = (p->implicit && pi + 1 == p->nsegs) ? 1 : 0;
        for (size_t k = min; k <= ns; k++)
            if (match_segs(p, pi + 1, s + k, ns - k))
                return true;
        return false;
    }
    if (ns == 0 || !seg_match(p->segs[pi], s[0]))
        return false;
    return match_segs(p, pi + 1, s + 1, ns - 1);
}

/* Could a descendant of this directory match? */
static bool partial_segs(const struct hpat *p, size_t pi, char *const *s, size_t ns)
{
    if (ns == 0)
        return true;
    if (pi == p->nsegs)
        return false;
    if (strcmp(p->segs[pi], "**") == 0)
        return true;
    if (!seg_match(p->segs[pi], s[0]))
        return false;
    return partial_segs(p, pi + 1, s + 1, ns - 1);
}

enum { M_DIR = 1, M_FILE = 2 };

static unsigned match_all(const struct hctx *h, char *const *s, size_t ns)
{
    unsigned m = 0;

    for (size_t i = 0; i < h->npats; i++) {
        const struct hpat *p = &h->pats[i];
        unsigned k = match_segs(p, 0, s, ns) ? (p->dir_only ? M_DIR : M_DIR | M_FILE) : 0;
        m = p->negate ? (m & ~k) : (m | k);
    }
    return m;
}

static bool partial_all(const struct hctx *h, char *const *s, size_t ns)
{
    for (size_t i = 0; i < h->npats; i++)
        if (!h->pats[i].negate && partial_segs(&h->pats[i], 0, s, ns))
            return true;
    return false;
}

/* ---- hashing ----------------------------------------------------------- */

static int fail(struct hctx *h)
{
    return ex__ev_error(h->ev, "hashFiles('%s') failed. Fail to hash files under directory '%s'",
                        h->joined.ptr, h->ws);
}

static int hash_file(struct hctx *h, const char *path)
{
    unsigned char buf[65536], md[EVP_MAX_MD_SIZE];
    unsigned mdlen = 0;
    EVP_MD_CTX *c = EVP_MD_CTX_new();
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    ssize_t n = 0;
    int r = 0;

    if (fd < 0 || !c || EVP_DigestInit_ex(c, EVP_sha256(), NULL) != 1)
        r = -EIO;
    while (r == 0 && (n = read(fd, buf, sizeof(buf))) > 0)
        if (EVP_DigestUpdate(c, buf, (size_t)n) != 1)
            r = -EIO;
    if (r == 0 && n < 0)
        r = -errno;
    if (r == 0 && EVP_DigestFinal_ex(c, md, &mdlen) != 1)
        r = -EIO;
    if (r == 0 && EVP_DigestUpdate(h->outer, md, mdlen) != 1)
        r = -EIO;
    if (fd >= 0)
        close(fd);
    EVP_MD_CTX_free(c);
    if (r == 0)
        h->count++;
    return r;
}

static bool under_ws(const struct hctx *h, const char *path)
{
    size_t n = strlen(h->ws);
    return strncmp(path, h->ws, n) == 0 && path[n] == '/';
}

/* ---- traversal --------------------------------------------------------- */

struct item {
    char *path;
    size_t level;
};

struct walk {
    struct item *stack;
    size_t n, cap;
};

static void walk_push(struct walk *w, char *path, size_t level)
{
    GR_GROW(w->stack, w->cap, w->n + 1);
    w->stack[w->n++] = (struct item){.path = path, .level = level};
}

static int push_children(struct walk *w, const char *dir, size_t level)
{
    DIR *d = opendir(dir);
    char **names;
    size_t n;

    if (!d)
        return -errno;
    names = gr_dir_names(d, &n);
    closedir(d);
    for (size_t i = n; i-- > 0;) {
        walk_push(w, gr_path_join(dir, names[i]), level + 1);
        free(names[i]);
    }
    free(names);
    return 0;
}

/* Following links, skip a directory that is its own ancestor (internal-globber.ts stat()). */
static bool is_cycle(struct hctx *h, const char *path, size_t level)
{
    char *rp = realpath(path, NULL);

    if (!rp)
        return true;
    while (h->nchain >= level)
        free(h->chain[--h->nchain]);
    for (size_t i = 0; i < h->nchain; i++) {
        if (strcmp(h->chain[i], rp) == 0) {
            free(rp);
            return true;
        }
    }
    GR_GROW(h->chain, h->capchain, h->nchain + 1);
    h->chain[h->nchain++] = rp;
    return false;
}

static int visit(struct hctx *h, struct walk *w, const char *path, size_t level)
{
    struct hpat segs = {0};
    size_t cap = 0;
    struct stat st;
    unsigned m;
    bool partial;
    int r = 0;

    split_path(&segs, &cap, path);
    m = match_all(h, segs.segs, segs.nsegs);
    partial = m || partial_all(h, segs.segs, segs.nsegs);
    pat_release(&segs);
    if (!partial)
        return 0;
    if ((h->follow ? stat(path, &st) : lstat(path, &st)) < 0)
        return errno == ENOENT && !h->follow ? 0 : fail(h);
    if (S_ISDIR(st.st_mode) && h->follow && is_cycle(h, path, level))
        return 0;
    if (S_ISDIR(st.st_mode))
        return push_children(w, path, level) < 0 ? fail(h) : 0;
    if (!(m & M_FILE) || !under_ws(h, path))
        return 0;
    if (stat(path, &st) < 0)
        return fail(h);
    if (S_ISDIR(st.st_mode))
        return 0;
    r = hash_file(h, path);
    return r < 0 ? fail(h) : 0;
}

/* Search paths: the literal prefix of each include pattern, skipping those under another. */
static char *search_path(const struct hpat *p)
{
    struct gr_buf b = GR_BUF_INIT(0);
    size_t i;

    for (i = 0; i < p->nsegs && !has_glob(p->segs[i]); i++)
        if (gr_buf_addch(&b, '/') < 0 || gr_buf_adds(&b, p->segs[i]) < 0)
            break;
    if (b.len == 0) {
        gr_buf_release(&b);
        return gr_xstrdup("/");
    }
    return gr_buf_detach(&b, NULL);
}

static bool is_ancestor(const char *a, const char *b)
{
    size_t n = strlen(a);
    if (strcmp(a, "/") == 0)
        return strcmp(b, "/") != 0;
    return strncmp(a, b, n) == 0 && b[n] == '/';
}

static int walk_all(struct hctx *h)
{
    struct walk w = {0};
    char **roots = gr_xcalloc(h->npats + 1, sizeof(char *));
    size_t nroots = 0;
    int r = 0;

    for (size_t i = 0; i < h->npats; i++)
        if (!h->pats[i].negate && !h->pats[i].implicit)
            roots[nroots++] = search_path(&h->pats[i]);
    for (size_t i = nroots; i-- > 0;) {
        bool skip = false;
        struct stat st;
        for (size_t k = 0; k < nroots && !skip; k++)
            skip = (k < i && strcmp(roots[k], roots[i]) == 0) || is_ancestor(roots[k], roots[i]);
        if (!skip && lstat(roots[i], &st) == 0)
            walk_push(&w, gr_xstrdup(roots[i]), 1);
    }
    while (w.n) {
        struct item it = w.stack[--w.n];
        char *path = it.path;
        if (r == 0)
            r = visit(h, &w, path, it.level);
        free(path);
    }
    for (size_t i = 0; i < nroots; i++)
        free(roots[i]);
    free(roots);
    free(w.stack);
    return r;
}

/* ---- the function ------------------------------------------------------ */

static int collect(struct hctx *h, const struct ex_node *n)
{
    char buf[32];
    int r;

    for (size_t i = 0; i < n->nargs; i++) {
        struct ex_val v;
        const char *s;
        size_t len;
        r = ex__eval(h->ev, n->args[i], &v);
        if (r < 0)
            return r;
        ex__val_to_str(&v, buf, &s, &len);
        if (i == 0 && len >= 2 && strncmp(s, "--", 2) == 0) {
            if (!ex__ci_eq(s, len, "--follow-symbolic-links", 23))
                return ex__ev_error(h->ev,
                                    "Specified argument was out of the range of valid values. "
                                    "(Parameter 'Invalid glob option %s, avaliable option: "
                                    "'--follow-symbolic-links'.')",
                                    s);
            h->follow = true;
            continue;
        }
        if (h->joined.len && gr_buf_add(&h->joined, ", ", 2) < 0)
            return -E2BIG;
        if (gr_buf_add(&h->joined, s, len) < 0)
            return -E2BIG;
    }
    return 0;
}

/* Patterns: the arguments joined by newlines, one per trimmed line. */
static int parse_patterns(struct hctx *h, const struct ex_node *n)
{
    struct gr_buf all = GR_BUF_INIT(0);
    char buf[32];
    char *line, *save = NULL;
    int r = 0;

    for (size_t i = 0; r == 0 && i < n->nargs; i++) {
        struct ex_val v;
        const char *s;
        size_t len;
        r = ex__eval(h->ev, n->args[i], &v);
        if (r < 0)
            break;
        ex__val_to_str(&v, buf, &s, &len);
        if (i == 0 && h->follow && strncmp(s, "--", 2) == 0)
            continue;
        if (gr_buf_add(&all, s, len) < 0 || gr_buf_addch(&all, '\n') < 0)
            r = -E2BIG;
    }
    for (line = strtok_r(all.ptr, "\n", &save); r == 0 && line;
         line = strtok_r(NULL, "\n", &save)) {
        size_t start = 0, len = strlen(line);
        while (start < len && (line[start] == ' ' || (line[start] >= 9 && line[start] <= 13)))
            start++;
        while (len > start && (line[len - 1] == ' ' || (line[len - 1] >= 9 && line[len - 1] <= 13)))
            len--;
        line[len] = '\0';
        if (start == len || line[start] == '#')
            continue;
        if (add_pattern(h, line + start) < 0)
            r = fail(h);
    }
    gr_buf_release(&all);
    return r;
}

static int finish(struct hctx *h, struct ex_val *ret)
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned mdlen = 0;
    char *hex;

    if (EVP_DigestFinal_ex(h->outer, md, &mdlen) != 1)
        return fail(h);
    if (h->count == 0) {
        *ret = (struct ex_val){.kind = EX_V_STR, .s = "", .len = 0};
        return 0;
    }
    hex = ex__arena_alloc(&h->ev->ar, mdlen * 2 + 1);
    for (unsigned i = 0; i < mdlen; i++) {
        static const char digits[] = "0123456789abcdef";
        hex[2 * i] = digits[md[i] >> 4];
        hex[2 * i + 1] = digits[md[i] & 15];
    }
    hex[mdlen * 2] = '\0';
    *ret = (struct ex_val){.kind = EX_V_STR, .s = hex, .len = mdlen * 2};
    return 0;
}

int ex__hashfiles(struct ex_ev *ev, const struct ex_node *n, struct ex_val *ret)
{
    struct hctx h = {.ev = ev, .joined = GR_BUF_INIT(0)};
    int r;

    if (!ev->env || !ev->env->workspace)
        return ex__ev_error(ev, "hashFiles() needs a workspace (github.workspace)");
    h.ws = realpath(ev->env->workspace, NULL);
    if (!h.ws) {
        r = ex__ev_error(ev, "hashFiles(): workspace '%s' does not exist", ev->env->workspace);
        goto out;
    }
    r = collect(&h, n);
    if (r == 0)
        r = parse_patterns(&h, n);
    h.outer = EVP_MD_CTX_new();
    if (r == 0 && (!h.outer || EVP_DigestInit_ex(h.outer, EVP_sha256(), NULL) != 1))
        r = fail(&h);
    if (r == 0)
        r = walk_all(&h);
    if (r == 0)
        r = finish(&h, ret);
out:
    EVP_MD_CTX_free(h.outer);
    for (size_t i = 0; i < h.npats; i++)
        pat_release(&h.pats[i]);
    free(h.pats);
    while (h.nchain)
        free(h.chain[--h.nchain]);
    free(h.chain);
    gr_buf_release(&h.joined);
    free(h.ws);
    return r;
}
