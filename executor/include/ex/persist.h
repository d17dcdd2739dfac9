/*
 * ex_persist: dependency directories of the job's HOME (pip and uv caches, the npm cache,
 * ~/.cache) that persist from one job of a repository to the next through the cache store
 * (ex/cache.h).
 *
 * The runner names the directories (ex_run_opts.persist, $GHRUN_PERSIST): a comma-separated
 * list of "~/..." paths. Each directory is its own entry in the store:
 *   scope    the repository (github.repository), so repositories never see each other's files
 *   version  ex_persist_version(dir): derived from the directory, and never equal to the
 *            version of an actions/cache path set (ex_cache_version with its own method)
 *   key      EX_PERSIST_KEY_PREFIX "<dir>:<ref>:<unix ms, 13 digits>-<8 hex>", unique per save,
 *            so concurrent jobs never write the same entry; the newest save wins the next
 *            restore (ex_cache_lookup's prefix match) and prunes the older ones of its
 *            directory and ref.
 * Refs scope entries as GitHub scopes caches (actions/cache docs, "Restrictions for accessing
 * a cache"): a job restores what its own ref (github.ref) saved, else what the default branch
 * saved, never another branch's or pull request's; so a pull request cannot plant files in
 * the default branch's jobs.
 * At the start of a job an entry is restored only into a directory that is missing or empty
 * (a runner without sandbox shares the runner's own HOME: its files win). At the end the
 * directory is saved when its manifest (paths, types, modes, sizes, mtimes, link targets)
 * differs from the one taken after the restore.
 *
 * Threads: every function here blocks (file I/O, compression) and may run on libuv's thread
 * pool; none touches a loop.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "ex/cache.h"

struct gr_diag;

#define EX_PERSIST_KEY_PREFIX "ghrun-persist:"

/*
 * Parse a comma-separated list of directories. Each is "~/" and a relative path without
 * "." or ".." components (blanks around an item are trimmed; empty items and trailing
 * slashes are dropped; repeated slashes collapse). A directory inside another listed one is
 * dropped (the outer one holds it). *ret_dirs receives the canonical "~/a/b" forms, sorted,
 * NULL-terminated and owned (ex_persist_dirs_free); *ret_n their number (0 for an empty
 * list). Errors: GR_EPARSE with the item named in the diag.
 */
int ex_persist_parse(const char *list, char ***ret_dirs, size_t *ret_n, struct gr_diag *reterr)
    __attribute__((warn_unused_result));
void ex_persist_dirs_free(char **dirs);

/* What a directory holds; the digest changes when anything in it does. */
struct ex_persist_manifest {
    bool exists;                   /* the directory exists (a symlink is not one) */
    uint64_t files;                /* regular files and symbolic links */
    uint64_t bytes;                /* of the regular files */
    char digest[EX_CACHE_HEX_LEN]; /* SHA-256 of the sorted entry lines; "" when !exists */
};

/*
 * The manifest of home/<dir without "~/"> (dir as ex_persist_parse gives it). Entries are
 * walked in byte order of their names without following links and without leaving the
 * directory's file system. Returns 0 (also for a missing directory), or -errno.
 */
int ex_persist_manifest(const char *home, const char *dir, struct ex_persist_manifest *ret)
    __attribute__((warn_unused_result));

/* The store version of dir (64 hex digits). */
void ex_persist_version(const char *dir, char ret[EX_CACHE_HEX_LEN]);
/* The key prefix of dir's entries saved by ref, and a key of one save; owned strings. */
char *ex_persist_key_prefix(const char *dir, const char *ref);
char *ex_persist_key(const char *dir, const char *ref, int64_t now_ms, uint32_t nonce);

/*
 * Restore the newest entry of (scope, dir) that refs[0] saved, else refs[1], ... (the job's
 * ref, then the default branch's) into home. Returns 0 and fills *ret (release it);
 * GR_ENOTFOUND when the store has none; -EEXIST when the directory exists and is not empty
 * (left alone); GR_EARCHIVE or -errno when the entry cannot be extracted: the directory is
 * emptied and the reason put in reterr, and a corrupt entry (GR_EARCHIVE) is removed from the
 * store.
 */
int ex_persist_restore(struct ex_cache *c, const char *scope, const char *const *refs, size_t nrefs,
                       const char *home, const char *dir, struct ex_cache_entry *ret,
                       struct gr_diag *reterr) __attribute__((warn_unused_result));

/*
 * Save home/<dir> as a new entry of (scope, dir, ref) keyed with now_ms and a random nonce,
 * then remove the older entries of (scope, dir, ref). ret (may be NULL) receives the entry and
 * ret_pruned (may be NULL) how many older ones went. Same errors as ex_cache_save_tree();
 * GR_ENOTFOUND when the directory does not exist.
 */
int ex_persist_save(struct ex_cache *c, const char *scope, const char *ref, const char *home,
                    const char *dir, int64_t now_ms, struct ex_cache_entry *ret, size_t *ret_pruned,
                    struct gr_diag *reterr) __attribute__((warn_unused_result));
