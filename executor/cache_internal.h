/* Internal to executor/cache.c and its unit test. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct ex_cache {
    char *dir;
    char *index_path;
    char *lock_path;
    char *blobs;
    char *tmp;
    uint64_t max_size;
};

/*
 * Check an archive member name for extraction: relative, no ".." component, not empty.
 * Returns the name with leading "./" and "/" runs removed, or NULL when refused.
 */
const char *ex__cache_member_name(const char *name);

/*
 * Whether a symbolic link stored at member name `name` (already checked) with target `target`
 * stays inside the extraction directory when resolved lexically.
 */
bool ex__cache_link_inside(const char *name, const char *target);

/*
 * Like ex__cache_member_name, but a run of leading "../" is allowed (member names that
 * @actions/cache writes for paths outside the workspace). Returns the name without leading
 * "./", or NULL when refused.
 */
const char *ex__cache_outside_name(const char *name);

/* base + "/" + rel (or rel when absolute) with ".", ".." and "//" resolved lexically. Owned. */
char *ex__cache_norm_path(const char *base, const char *rel);

/*
 * The writer of restored members below a destination directory (executor/cache_extract.c):
 * descriptor-relative, never through a symbolic link. One per extraction, one thread.
 */
struct archive;
struct archive_entry;
struct gr_diag;
struct ex__cache_xw;

int ex__cache_xw_new(const char *dest, struct ex__cache_xw **ret, struct gr_diag *reterr)
    __attribute__((warn_unused_result));
void ex__cache_xw_free(struct ex__cache_xw *w);

/*
 * Write member ent, read from in, at rel (a checked relative name); hardlink (checked, or NULL)
 * makes it a hard link to that member. 0, 1 when the member's type is left to the caller
 * (fifos, devices), or an error (GR_EARCHIVE when a symbolic link is on the way).
 */
int ex__cache_xw_entry(struct ex__cache_xw *w, struct archive *in, struct archive_entry *ent,
                       const char *rel, const char *hardlink, struct gr_diag *reterr)
    __attribute__((warn_unused_result));

/*
 * Write member ent (its pathname absolute by now), read from in, through libarchive's disk
 * writer out. With total not NULL, the data's bytes are added to *total, and passing max in
 * all is refused with -E2BIG.
 */
int ex__cache_disk_write(struct archive *in, struct archive *out, struct archive_entry *ent,
                         uint64_t *total, uint64_t max, struct gr_diag *reterr)
    __attribute__((warn_unused_result));

/* Set the modes and times of the directories written, deepest first. */
int ex__cache_xw_finish(struct ex__cache_xw *w, struct gr_diag *reterr)
    __attribute__((warn_unused_result));
