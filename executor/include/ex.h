/*
 * ex: the executor. Parses and validates workflows, evaluates expressions,
 * plans jobs and runs them on a libuv loop. Knows nothing of GitHub's wire
 * protocol; see docs ARCHITECTURE.md.
 *
 * Values (contexts, expression results, matrix legs) are jansson json_t
 * within the executor; they do not cross into runner/ as raw json_t except
 * through the functions documented here.
 */
#pragma once

#include "gr.h"
#include "ex/yaml.h"
#include "ex/expr.h"
#include "ex/workflow.h"
#include "ex/plan.h"
#include "ex/logs.h"
#include "ex/commands.h"
#include "ex/engine.h"
#include "ex/action.h"
#include "ex/cache.h"
#include "ex/native.h"
