/* `ghrun doctor`: report what this host supports for the step sandbox. */
#pragma once

/* Prints sb_doctor()'s report on stdout. Returns the process exit code. */
int rn_cmd_doctor(int argc, char **argv);
