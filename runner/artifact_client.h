/*
 * Internal to runner/: the client of GitHub's results service ArtifactService that the native
 * upload-artifact and download-artifact of jobs from GitHub use (ex/artifact_remote.h).
 */
#pragma once

#include "ex/artifact_remote.h"

/* The results-service client; stateless, for any number of threads at once. */
extern const struct ex_artifact_remote rn_artifact_client;

/*
 * The backend ids of a runtime token: its payload's `scp` claim holds
 * "Actions.Results:<workflow_run_backend_id>:<workflow_job_run_backend_id>" (toolkit
 * packages/artifact/src/internal/shared/util.ts getBackendIdsFromToken). Owned strings; -EINVAL
 * (reterr says why, without the token) when the token is no JWT or lacks that scope.
 */
int rn_artifact_backend_ids(const char *token, char **ret_run, char **ret_job,
                            struct gr_diag *reterr) GR_MUST_CHECK;
