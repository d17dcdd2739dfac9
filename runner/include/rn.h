/*
 * rn: the runner. main(), the CLI, the loop, and everything that speaks to
 * GitHub. Implements the executor's host interfaces.
 */
#pragma once

#include "gr.h"

/* Run the CLI; returns the process exit code (0 ok, 1 job failure, 2 usage/validation). */
int rn_cli_main(int argc, char **argv);
