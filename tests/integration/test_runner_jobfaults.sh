#!/usr/bin/env bash
# Faults injected at the job's stages of `ghrun run --once` (acquire, renew, complete): the
# job still completes exactly once with the right conclusion; a completion the server applied
# but answered too late is retried with the same body and applied once; a job whose lock
# cannot be taken is abandoned, never run. (The session's stages: test_runner_faults.sh.)
RUNNER_PART=faults
. "$(dirname "$0")/test_runner_protocol.sh"
first_config
part_faults job
finish_all
