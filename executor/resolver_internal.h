/*
 * Internals of the remote action resolver (resolver.c, resolver_tar.c).
 * Never exported.
 */
#pragma once

#include <stddef.h>

#include "gr.h"

#define EX_ACTION_TAR_MAX_BYTES (2ull << 30) /* extracted bytes of one action tarball */
#define EX_ACTION_TAR_MAX_ENTRIES 200000u

/*
 * Extract a repository tarball (tar, gzip-compressed or not; len bytes at
 * data) as GitHub serves it for an action: every member lies under one
 * top-level directory ("owner-repo-sha/"), which is stripped, so its
 * contents land directly in dest (created; it must not exist). Refused,
 * with nothing written outside dest: absolute member names, ".."
 * components, more than one top-level entry, symbolic links whose target
 * is absolute or leaves dest (lexically, and after extraction through
 * realpath), hard links to outside, device and fifo members, more than
 * EX_ACTION_TAR_MAX_ENTRIES members or EX_ACTION_TAR_MAX_BYTES bytes
 * (-E2BIG). set-id bits are dropped. On error dest may hold a partial
 * tree: the caller extracts into a temporary directory and renames it
 * into place. Blocking: run it on the thread pool. Returns 0, or
 * GR_EARCHIVE / -E2BIG / -errno with reterr.
 */
int ex__action_tar_extract(const void *data, size_t len, const char *dest,
                           struct gr_diag *reterr) GR_MUST_CHECK;
