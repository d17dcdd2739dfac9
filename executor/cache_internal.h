/* Internal to executor/cache.c and its unit test. */
#pragma once

#include <stdbool.h>
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
