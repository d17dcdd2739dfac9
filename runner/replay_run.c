/*
 * Running a replay plan. The engine replaces this file; until then replay
 * can list (-l) and dry-run (-n) plans but not execute them.
 */
#include "internal.h"

#include <stdio.h>

int rn_replay_run(struct ex_plan *plan, const struct rn_replay_opts *o)
{
    (void)plan;
    (void)o;
    fprintf(stderr, "ghrun replay: running jobs needs the engine\n");
    return 2;
}
