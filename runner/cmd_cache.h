/* `ghrun cache`: manage the local dependency cache, or serve its API for a job. */
#pragma once

/* argv[0] is "cache". Returns the exit code: 0 ok, 1 failed, 2 usage error. */
int rn_cmd_cache(int argc, char **argv);
