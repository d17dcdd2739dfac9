#!/usr/bin/env bash
# Faults injected at the session's stages of `ghrun run --once` (OAuth, session, long-poll,
# message and session deletes): the job still completes exactly once with the right
# conclusion. The job's own stages are test_runner_jobfaults.sh's.
RUNNER_PART=faults
. "$(dirname "$0")/test_runner_protocol.sh"
first_config
part_faults session
finish_all
