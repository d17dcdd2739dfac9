/*
 * ex_artifact: the artifact store of one workflow run.
 *
 * An artifact is a named zip archive, as upload-artifact@v4 produces it. A run's store is one
 * directory (replay: <workspace>/.ghrun/artifacts/<run_id>/), so every job of the run sees
 * what earlier jobs uploaded:
 *
 *   <name>.zip          the archive, readable as is by any zip tool
 *   .meta/<name>.json   {id, name, size, sha256, created_ms, expires_ms}: the artifact exists
 *                       when its metadata does; written last, by rename
 *   .tmp/               archives being uploaded; renamed into place by ex_artifact_commit();
 *                       files of uploaders that are gone are removed (ex_artifact_prune)
 *   .lock               flock()ed: exclusive for changes, shared for reads
 *   .next_id            the next artifact id (ids are never reused within the store)
 *
 * Names follow the toolkit's rules (packages/artifact/src/internal/upload/
 * path-and-artifact-name-validation.ts): not empty, none of " : < > | * ? \ / CR LF, plus what
 * a file name cannot hold (no control characters, not "." or "..", at most
 * EX_ARTIFACT_NAME_MAX bytes). So a name never leaves the store directory.
 *
 * Threads: every function blocks (file I/O, hashing) and may run on any thread, several at
 * once; a struct ex_artifact_store holds only its configuration. Several processes may share
 * one store directory.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "gr.h"

struct ex_artifact_store;

#define EX_ARTIFACT_NAME_MAX 200
#define EX_ARTIFACT_HEX_LEN 65

/* One artifact. name is owned; release with ex_artifact_release(). */
struct ex_artifact {
    uint64_t id; /* unique in the store, from 1 */
    char *name;
    uint64_t size; /* bytes of the zip */
    char sha256[EX_ARTIFACT_HEX_LEN];
    int64_t created_ms; /* Unix time in milliseconds */
    int64_t expires_ms; /* 0: no retention limit */
};

void ex_artifact_release(struct ex_artifact *a);
void ex_artifacts_free(struct ex_artifact *v, size_t n);

/*
 * Whether name is a valid artifact name. Returns 0, or -EINVAL with the reason in reterr
 * ("artifact name 'a/b' contains '/'").
 */
int ex_artifact_name_check(const char *name, struct gr_diag *reterr) GR_MUST_CHECK;

/*
 * Open (creating it when missing) the store in dir. *ret owns the handle. Runs
 * ex_artifact_prune() (expired artifacts, abandoned uploads); a failure there is ignored.
 */
int ex_artifact_open(const char *dir, struct ex_artifact_store **ret,
                     struct gr_diag *reterr) GR_MUST_CHECK;
void ex_artifact_free(struct ex_artifact_store *s);
const char *ex_artifact_dir(const struct ex_artifact_store *s);

/* A new empty file in .tmp/ (O_CLOEXEC, 0600). *ret_path is owned; unlink it when abandoned. */
int ex_artifact_tmpfile(struct ex_artifact_store *s, char **ret_path, int *ret_fd) GR_MUST_CHECK;

struct ex_artifact_commit_opts {
    const char *sha256; /* expected SHA-256 (hex, optionally "sha256:"-prefixed), or NULL */
    uint64_t size;      /* expected size; UINT64_MAX: any */
    int retention_days; /* <= 0: no expiry */
    bool overwrite;     /* replace an artifact of the same name (else -EEXIST) */
};

/*
 * Make the finished file tmp_path (from ex_artifact_tmpfile) the artifact name: hash it, check
 * the expected size and hash (-EBADMSG on a mismatch), then rename it into place and write its
 * metadata. On any failure tmp_path is removed and nothing becomes visible. *ret (may be NULL)
 * receives the artifact.
 */
int ex_artifact_commit(struct ex_artifact_store *s, const char *name, const char *tmp_path,
                       const struct ex_artifact_commit_opts *o, struct ex_artifact *ret,
                       struct gr_diag *reterr) GR_MUST_CHECK;

/* Every artifact, by id. *ret (may be NULL when *ret_n is 0) is freed with ex_artifacts_free. */
int ex_artifact_list(struct ex_artifact_store *s, struct ex_artifact **ret,
                     size_t *ret_n) GR_MUST_CHECK;

/* The artifact called name (or with this id): 0 and *ret filled, or GR_ENOTFOUND. */
int ex_artifact_find(struct ex_artifact_store *s, const char *name,
                     struct ex_artifact *ret) GR_MUST_CHECK;
int ex_artifact_find_id(struct ex_artifact_store *s, uint64_t id,
                        struct ex_artifact *ret) GR_MUST_CHECK;

/* Path of an artifact's zip (owned). */
char *ex_artifact_path(const struct ex_artifact_store *s, const char *name);

/* Remove the artifact called name: 0 (and *ret, may be NULL, gets it), or GR_ENOTFOUND. */
int ex_artifact_delete(struct ex_artifact_store *s, const char *name,
                       struct ex_artifact *ret) GR_MUST_CHECK;

/* ---- housekeeping (helper "stores") -------------------------------------- */

/* What ex_artifact_prune() removed. */
struct ex_artifact_prune {
    size_t expired;    /* artifacts past their retention, deleted with their zip */
    size_t temp_files; /* temp files of uploads whose writer is gone, and metadata temp files */
};

/*
 * Delete the artifacts whose expires_ms is at or before now_ms (0: the current time), and the
 * temp files that killed writers left (an upload's temp file is removed only when the process
 * that created it is gone and nobody holds its flock; see executor/store_tmp.h). A live
 * upload is never touched. ex_artifact_open() runs it, and so does ex_artifact_list() when it
 * meets expired artifacts, which list and find never return. *ret (may be NULL) gets what was
 * removed through this handle so far, the open's housekeeping and this call included.
 */
int ex_artifact_prune(struct ex_artifact_store *s, int64_t now_ms,
                      struct ex_artifact_prune *ret) GR_MUST_CHECK;
