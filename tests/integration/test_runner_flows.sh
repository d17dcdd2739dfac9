#!/usr/bin/env bash
# Runner flows beyond the basic job: refresh and token messages, cancellation, SIGTERM and
# SIGINT, job hooks, remove, ephemeral, JIT, the runner-admin/broker flow with PS256, and a
# classic registration that selects the broker.
RUNNER_PART=flows
. "$(dirname "$0")/test_runner_protocol.sh"
first_config
part_flows
finish_all
