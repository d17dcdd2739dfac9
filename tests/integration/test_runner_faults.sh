#!/usr/bin/env bash
# Faults injected at every stage of `ghrun run --once` (OAuth, session, long-poll, acquire,
# renew, complete, deletes): the job still completes exactly once with the right conclusion;
# a completion the server applied but answered too late is retried with the same body and
# applied once; a job whose lock cannot be taken is abandoned, never run.
RUNNER_PART=faults
. "$(dirname "$0")/test_runner_protocol.sh"
first_config
part_faults
finish_all
