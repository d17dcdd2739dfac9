/*
 * Action tarballs (resolver_internal.h). GitHub's repository archives hold
 * one top-level directory, "<owner>-<repo>-<short sha>/", and the official
 * runner copies that directory's contents to _actions/<owner>/<repo>/<ref>
 * (actions/runner src/Runner.Worker/ActionManager.cs,
 * DownloadRepositoryActionAsync: "repository archive from github always
 * contains a nested folder"). It runs `tar -xzf`; here libarchive writes
 * each member itself, so every name and link target is checked first
 * (the member-name rules are the cache's: ex__cache_member_name and
 * ex__cache_link_inside in cache.c), and libarchive's own guards
 * (ARCHIVE_EXTRACT_SECURE_SYMLINKS, _NODOTDOT) stay on underneath.
 */
#include "resolver_internal.h"
#include "cache_internal.h"

#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

struct tar_state {
    const char *dest;
    char *top;    /* the top-level directory's name */
    char **links; /* extracted symbolic links (full paths), checked at the end */
    size_t n_links;
    size_t entries;
    uint64_t bytes;
};

static void state_release(struct tar_state *s)
{
    for (size_t i = 0; i < s->n_links; i++)
        free(s->links[i]);
    free(s->links);
    free(s->top);
}

/* name (already checked) without its first component; "" for the top entry itself. */
static int strip_top(struct tar_state *s, const char *name, const char **ret,
                     struct gr_diag *reterr)
{
    size_t n = strcspn(name, "/");
    const char *rest = name + n;

    if (!s->top)
        s->top = gr_xstrndup(name, n);
    else if (strlen(s->top) != n || strncmp(s->top, name, n) != 0)
        return gr_diag_set(reterr, GR_EARCHIVE, NULL, 0, 0,
                           "refusing the archive: more than one top-level entry ('%s' and "
                           "'%.*s')",
                           s->top, (int)n, name);
    while (*rest == '/')
        rest++;
    *ret = rest;
    return 0;
}

static int check_type(struct archive_entry *ent, const char *raw, bool top, struct gr_diag *reterr)
{
    mode_t t = archive_entry_filetype(ent);

    if (archive_entry_hardlink(ent) && !top)
        return 0;
    if (top && t != AE_IFDIR)
        return gr_diag_set(reterr, GR_EARCHIVE, NULL, 0, 0,
                           "refusing the archive: its top-level entry '%s' is not a directory",
                           raw);
    if (t != AE_IFREG && t != AE_IFDIR && t != AE_IFLNK)
        return gr_diag_set(reterr, GR_EARCHIVE, NULL, 0, 0,
                           "refusing archive member '%s': not a file, directory or link", raw);
    return 0;
}

/*
 * Whether no component of path below dest (the last one included) is a symbolic link:
 * a hard link made through one could pick up a file outside dest. -ELOOP when one is.
 */
static int no_links_on_way(const char *dest, const char *path)
{
    char *p = gr_xstrdup(path);
    size_t dl = strlen(dest);
    struct stat st;
    int r = 0;

    for (char *c = p + dl + 1; r == 0;) {
        char *slash = strchr(c, '/');

        if (slash)
            *slash = 0;
        if (lstat(p, &st) == 0 && S_ISLNK(st.st_mode))
            r = -ELOOP;
        if (!slash)
            break;
        *slash = '/';
        c = slash + 1;
    }
    free(p);
    return r;
}

/* A hard link names another member: the same rules, the same top directory. */
static int place_hardlink(struct tar_state *s, struct archive_entry *ent, const char *raw,
                          struct gr_diag *reterr)
{
    const char *hl = archive_entry_hardlink(ent), *name = ex__cache_member_name(hl), *rest;
    char *full;
    int r;

    if (!name || !*name)
        return gr_diag_set(reterr, GR_EARCHIVE, NULL, 0, 0,
                           "refusing hard link '%s' -> '%s': outside the action", raw, hl);
    r = strip_top(s, name, &rest, reterr);
    if (r < 0)
        return r;
    if (!*rest)
        return gr_diag_set(reterr, GR_EARCHIVE, NULL, 0, 0,
                           "refusing hard link '%s' -> '%s': outside the action", raw, hl);
    full = gr_path_join(s->dest, rest);
    r = no_links_on_way(s->dest, full);
    if (r < 0)
        r = gr_diag_set(reterr, GR_EARCHIVE, NULL, 0, 0,
                        "refusing hard link '%s' -> '%s': its target is or goes through a "
                        "symbolic link",
                        raw, hl);
    else
        archive_entry_set_hardlink(ent, full);
    free(full);
    return r;
}

/*
 * Check one member and point it below dest. *ret_skip: the top directory's own entry,
 * which is not written (dest is it).
 */
static int place_entry(struct tar_state *s, struct archive_entry *ent, bool *ret_skip,
                       struct gr_diag *reterr)
{
    const char *raw = archive_entry_pathname(ent), *name = ex__cache_member_name(raw), *rest;
    const char *sl = archive_entry_symlink(ent);
    mode_t perm = archive_entry_perm(ent) & 0777;
    char *full;
    int r;

    if (!name || !*name)
        return gr_diag_set(reterr, GR_EARCHIVE, NULL, 0, 0,
                           "refusing archive member '%s': absolute or outside the action",
                           raw ? raw : "");
    r = strip_top(s, name, &rest, reterr);
    if (r == 0)
        r = check_type(ent, raw, !*rest, reterr);
    if (r < 0 || !*rest) {
        *ret_skip = true;
        return r;
    }
    if (sl && archive_entry_filetype(ent) == AE_IFLNK && !ex__cache_link_inside(rest, sl))
        return gr_diag_set(reterr, GR_EARCHIVE, NULL, 0, 0,
                           "refusing symbolic link '%s' -> '%s': it points outside the action", raw,
                           sl);
    if (archive_entry_hardlink(ent)) {
        r = place_hardlink(s, ent, raw, reterr);
        if (r < 0)
            return r;
    }
    /* no set-id or sticky bits; the runner must be able to read, write and enter */
    archive_entry_set_perm(ent, perm | (archive_entry_filetype(ent) == AE_IFDIR ? 0700 : 0600));
    full = gr_path_join(s->dest, rest);
    archive_entry_set_pathname(ent, full);
    if (archive_entry_filetype(ent) == AE_IFLNK && !archive_entry_hardlink(ent)) {
        s->links = gr_xrealloc(s->links, (s->n_links + 1) * sizeof(*s->links));
        s->links[s->n_links++] = full;
    } else {
        free(full);
    }
    *ret_skip = false;
    return 0;
}

static int one_entry(struct tar_state *s, struct archive *in, struct archive *out,
                     struct archive_entry *ent, struct gr_diag *reterr)
{
    bool skip = false;
    int r;

    if (++s->entries > EX_ACTION_TAR_MAX_ENTRIES)
        return gr_diag_set(reterr, -E2BIG, NULL, 0, 0, "refusing the archive: more than %u members",
                           EX_ACTION_TAR_MAX_ENTRIES);
    r = place_entry(s, ent, &skip, reterr);
    if (r < 0 || skip)
        return r;
    return ex__cache_disk_write(in, out, ent, &s->bytes, EX_ACTION_TAR_MAX_BYTES, reterr);
}

/* Links that resolve must resolve inside dest (a link through another link, say). */
static int links_check(struct tar_state *s, struct gr_diag *reterr)
{
    char *root = realpath(s->dest, NULL), *to;
    size_t rl;
    int r = 0;

    if (!root)
        return gr_diag_set(reterr, -errno, s->dest, 0, 0, "cannot resolve the action directory");
    rl = strlen(root);
    for (size_t i = 0; i < s->n_links && r == 0; i++) {
        to = realpath(s->links[i], NULL);
        if (to && !(strncmp(to, root, rl) == 0 && (to[rl] == '/' || !to[rl])))
            r = gr_diag_set(reterr, GR_EARCHIVE, NULL, 0, 0,
                            "refusing symbolic link '%s': it resolves outside the action",
                            s->links[i] + strlen(s->dest) + 1);
        free(to);
    }
    free(root);
    return r;
}

static int extract(struct tar_state *s, struct archive *in, struct archive *out,
                   struct gr_diag *reterr)
{
    struct archive_entry *ent;
    int r = 0, st;

    while (r == 0 && (st = archive_read_next_header(in, &ent)) == ARCHIVE_OK)
        r = one_entry(s, in, out, ent, reterr);
    if (r == 0 && st != ARCHIVE_EOF)
        r = gr_diag_set(reterr, GR_EARCHIVE, NULL, 0, 0, "cannot read the archive: %s",
                        archive_error_string(in));
    if (r == 0 && !s->top)
        r = gr_diag_set(reterr, GR_EARCHIVE, NULL, 0, 0, "the archive is empty");
    if (archive_write_close(out) != ARCHIVE_OK && r == 0)
        r = gr_diag_set(reterr, GR_EARCHIVE, NULL, 0, 0, "cannot finish the extraction: %s",
                        archive_error_string(out));
    if (r == 0)
        r = links_check(s, reterr);
    return r;
}

int ex__action_tar_extract(const void *data, size_t len, const char *dest, struct gr_diag *reterr)
{
    struct archive *in = archive_read_new(), *out = archive_write_disk_new();
    struct tar_state s = {.dest = dest};
    int r;

    archive_read_support_filter_gzip(in);
    archive_read_support_format_tar(in);
    archive_write_disk_set_options(out, ARCHIVE_EXTRACT_TIME | ARCHIVE_EXTRACT_PERM |
                                            ARCHIVE_EXTRACT_SECURE_SYMLINKS |
                                            ARCHIVE_EXTRACT_SECURE_NODOTDOT);
    if (mkdir(dest, 0755) < 0) {
        r = gr_diag_set(reterr, -errno, dest, 0, 0, "cannot create the directory");
        goto out;
    }
    if (archive_read_open_memory(in, data, len) != ARCHIVE_OK) {
        r = gr_diag_set(reterr, GR_EARCHIVE, NULL, 0, 0, "cannot open the archive: %s",
                        archive_error_string(in));
        goto out;
    }
    r = extract(&s, in, out, reterr);
out:
    archive_write_free(out);
    archive_read_free(in);
    state_release(&s);
    return r;
}
