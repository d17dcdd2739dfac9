/*
 * ex_cache: the local dependency cache, a content-addressed store of archives.
 *
 * Entries are keyed as GitHub keys them: (scope, key, version). The scope is the repository
 * (one store serves many repositories without mixing them), the key is the user's cache key
 * and the version is derived from the cached paths and the compression method
 * (ex_cache_version), so two different path sets never restore each other's archive.
 *
 * Layout of a store directory:
 *   index.json         every entry; rewritten atomically (temp file + rename) under `lock`
 *   lock               flock()ed: exclusive for every change, shared for reads
 *   blobs/<sha256>     archives, named by the SHA-256 of their bytes; never modified in place
 *   tmp/               archives being written; renamed into blobs/ once complete. Each name
 *                      records its writer (pid and start time); ex_cache_open(), every save,
 *                      prune and clear remove the files of writers that are gone (killed),
 *                      never a live writer's (executor/store_tmp.h)
 *
 * A crash at any point leaves either the old index or the new one; a blob that no entry names
 * is garbage that ex_cache_prune() removes. A blob is checked against its recorded SHA-256
 * before it is extracted or served; a mismatch is reported as GR_EARCHIVE and the caller treats
 * it as a miss.
 *
 * Threads: every function here blocks (file I/O, compression, hashing) and may be called from
 * any thread, in particular from libuv's thread pool (uv_queue_work); none touches a loop. One
 * struct ex_cache may be used by several threads at once: it holds only its configuration.
 * Several processes may share one store directory.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct gr_diag;
struct ex_cache;

#define EX_CACHE_DEFAULT_MAX_SIZE (10ULL * 1024 * 1024 * 1024)
/* Length of a hex SHA-256 plus its NUL. */
#define EX_CACHE_HEX_LEN 65

/* One entry of the index. Strings are owned; release with ex_cache_entry_release(). */
struct ex_cache_entry {
    char *scope;
    char *key;
    char *version;
    char sha256[EX_CACHE_HEX_LEN];
    uint64_t size;       /* bytes of the archive */
    int64_t created_ms;  /* Unix time in milliseconds */
    int64_t accessed_ms; /* last restore (or the save) */
    uint64_t id;         /* unique in this store, never reused */
};

void ex_cache_entry_release(struct ex_cache_entry *e);
void ex_cache_entries_free(struct ex_cache_entry *v, size_t n);

/*
 * The version string of a path set, as @actions/cache computes it (toolkit
 * packages/cache/src/internal/cacheHttpClient.ts getCacheVersion): the SHA-256 (hex) of the
 * paths, then the compression method when not NULL, then "windows-only" when windows_only is
 * true (the toolkit adds it on Windows unless enableCrossOsArchive), then the salt "1.0", all
 * joined with '|'. ret receives 64 hex digits and a NUL.
 */
void ex_cache_version(const char *const *paths, size_t npaths, const char *compression,
                      bool windows_only, char ret[EX_CACHE_HEX_LEN]);

/*
 * Open (creating it when missing) the store in dir. max_size is the size cap in bytes
 * (0: EX_CACHE_DEFAULT_MAX_SIZE); saving past it evicts the least recently used entries.
 * Temp files that killed writers left in tmp/ are removed.
 * On success *ret owns the handle; free it with ex_cache_free().
 */
int ex_cache_open(const char *dir, uint64_t max_size, struct ex_cache **ret, struct gr_diag *reterr)
    __attribute__((warn_unused_result));
void ex_cache_free(struct ex_cache *c);
const char *ex_cache_dir(const struct ex_cache *c);

/*
 * The store directory to use (the default of `ghrun cache`): dir when it is neither NULL nor
 * empty, else $GHRUN_CACHE_DIR when set and not empty, else $HOME/.cache/ghrun/cache. When HOME
 * is unset or empty, home_default stands in for it; with home_default NULL the result is NULL.
 * The result is malloc()ed; the caller frees it.
 */
char *ex_cache_store_dir(const char *dir, const char *home_default);

/*
 * Find the entry to restore for keys[0..nkeys) (the key, then the restore keys) and version,
 * as GitHub matches them: for each key in order, an exact match wins; otherwise the newest
 * entry whose key starts with it. Only entries of this scope and version match. A hit marks
 * the entry used (for LRU). Returns 0 and fills *ret (release it), or GR_ENOTFOUND.
 * The archive is not checked here; see ex_cache_verify().
 */
int ex_cache_lookup(struct ex_cache *c, const char *scope, const char *const *keys, size_t nkeys,
                    const char *version, struct ex_cache_entry *ret, struct gr_diag *reterr)
    __attribute__((warn_unused_result));

/* Find an entry by exact scope/key/version without touching it. 0, or GR_ENOTFOUND. */
int ex_cache_find(struct ex_cache *c, const char *scope, const char *key, const char *version,
                  struct ex_cache_entry *ret) __attribute__((warn_unused_result));

/*
 * Save the files and directories named by paths (relative to base_dir, no "..", not absolute)
 * as a tar + zstd archive under (scope, key, version). Symbolic links are stored as links.
 * Returns 0; -EEXIST when that entry exists already (another saver won; nothing changed);
 * -EFBIG when the archive alone is larger than the cap; GR_EARCHIVE or -errno otherwise.
 * ret (may be NULL) receives the new entry.
 */
int ex_cache_save_tree(struct ex_cache *c, const char *scope, const char *key, const char *version,
                       const char *base_dir, const char *const *paths, size_t npaths,
                       struct ex_cache_entry *ret, struct gr_diag *reterr)
    __attribute__((warn_unused_result));

/*
 * Save as @actions/cache lays out its archive: members are paths relative to base_dir as the
 * toolkit names them (path.relative(workspace, file)), so a path outside base_dir starts with a
 * run of "../" (e.g. "../../home/u/.npm"); never absolute and no ".." after the first other
 * component. gzip: tar + gzip (the toolkit's format where zstd is not installed) instead of
 * tar + zstd. Same results as ex_cache_save_tree().
 */
int ex_cache_save_members(struct ex_cache *c, const char *scope, const char *key,
                          const char *version, const char *base_dir, const char *const *members,
                          size_t n, bool gzip, struct ex_cache_entry *ret, struct gr_diag *reterr)
    __attribute__((warn_unused_result));

/*
 * Store the file at src (an archive made elsewhere, e.g. uploaded by the toolkit) as is.
 * When move is true and src is on the store's file system, it is renamed instead of copied.
 * Same results as ex_cache_save_tree().
 */
int ex_cache_save_file(struct ex_cache *c, const char *scope, const char *key, const char *version,
                       const char *src, bool move, struct ex_cache_entry *ret,
                       struct gr_diag *reterr) __attribute__((warn_unused_result));

/*
 * A temporary file in the store's tmp/ directory (same file system as the blobs), opened
 * O_RDWR|O_CLOEXEC, for a caller that assembles an archive before ex_cache_save_file(..., true).
 * *ret_path is owned by the caller; *ret_fd is the open descriptor.
 */
int ex_cache_tmpfile(struct ex_cache *c, char **ret_path, int *ret_fd)
    __attribute__((warn_unused_result));

/* Path of an entry's archive (owned string). */
char *ex_cache_blob_path(const struct ex_cache *c, const struct ex_cache_entry *e);

/* Check the archive of e against its SHA-256 and size: 0, or GR_EARCHIVE with a diag. */
int ex_cache_verify(struct ex_cache *c, const struct ex_cache_entry *e, struct gr_diag *reterr)
    __attribute__((warn_unused_result));

/*
 * Verify the archive of e, then extract it under dest_dir (created if missing). Entries that
 * are absolute, contain "..", go through a symbolic link, or are links pointing outside
 * dest_dir are refused: GR_EARCHIVE with the offending name in the diag.
 */
int ex_cache_restore_tree(struct ex_cache *c, const struct ex_cache_entry *e, const char *dest_dir,
                          struct gr_diag *reterr) __attribute__((warn_unused_result));

/*
 * ex_cache_restore_tree() for archives written by ex_cache_save_members() or by @actions/cache:
 * dest_dir must be absolute; a member starting with "../" is extracted where it points
 * (lexically) only when that lies at or below one of roots (absolute, normalized directories:
 * the cached paths), and so must its link target; any other member is checked as
 * ex_cache_restore_tree() checks it. nroots == 0 refuses every "../" member.
 */
int ex_cache_restore_members(struct ex_cache *c, const struct ex_cache_entry *e,
                             const char *dest_dir, const char *const *roots, size_t nroots,
                             struct gr_diag *reterr) __attribute__((warn_unused_result));

/*
 * A directory archived under another name. The native actions/cache of a sandboxed job names
 * the job's private HOME as the runner's HOME (what its steps see without a sandbox), so that
 * its entries restore in later jobs, whose private HOME lies elsewhere, and in jobs without
 * sandbox. Both absolute and normalized.
 */
struct ex_cache_alias {
    const char *named; /* the name in archives */
    const char *real;  /* where it is on disk */
};

/*
 * ex_cache_save_members() where from (NULL, or n entries of which any may be NULL) gives the
 * absolute path that member i is read from instead of base_dir/member.
 */
int ex_cache_save_members_from(struct ex_cache *c, const char *scope, const char *key,
                               const char *version, const char *base_dir,
                               const char *const *members, const char *const *from, size_t n,
                               bool gzip, struct ex_cache_entry *ret, struct gr_diag *reterr)
    __attribute__((warn_unused_result));

/*
 * ex_cache_restore_members() where a "../" member that lands at or below alias->named goes to
 * the same place below alias->real instead, when that lies under one of roots (alias may be
 * NULL).
 */
int ex_cache_restore_members_alias(struct ex_cache *c, const struct ex_cache_entry *e,
                                   const char *dest_dir, const char *const *roots, size_t nroots,
                                   const struct ex_cache_alias *alias, struct gr_diag *reterr)
    __attribute__((warn_unused_result));

/* Every entry (all scopes), oldest first. *ret is owned (ex_cache_entries_free). */
int ex_cache_list(struct ex_cache *c, struct ex_cache_entry **ret, size_t *ret_n)
    __attribute__((warn_unused_result));

/* Remove one entry by id. 0, or GR_ENOTFOUND. */
int ex_cache_remove(struct ex_cache *c, uint64_t id) __attribute__((warn_unused_result));

/*
 * Evict least recently used entries until the store holds at most max_size bytes
 * (0: the store's cap), and delete blobs and temp files that nothing uses.
 * ret_removed (may be NULL) receives the number of entries removed.
 */
int ex_cache_prune(struct ex_cache *c, uint64_t max_size, size_t *ret_removed)
    __attribute__((warn_unused_result));

/* Remove every entry and blob. */
int ex_cache_clear(struct ex_cache *c) __attribute__((warn_unused_result));
