/*
 * Which `uses:` run natively (steps/native.c) instead of through their JavaScript action.
 *
 * A "no-native list" names the actions that must not run natively, separated by commas:
 * "actions/checkout,actions/cache". An entry covers its sub-actions ("actions/cache" also
 * actions/cache/restore and actions/cache/save); names match without regard to case, as GitHub
 * resolves owner and repository; blanks around entries and empty entries are ignored; "all"
 * (or "*") means every native action. The list reaches the engine as
 * ex_run_opts.no_native_list (`ghrun replay --no-native=LIST`, GHRUN_NO_NATIVE, the runner's
 * "no_native" setting).
 *
 * Threads: pure functions, any thread.
 */
#pragma once

#include <stdbool.h>

#include "gr.h"

/*
 * Whether list is a valid no-native list: 0, or -EINVAL with the reason in reterr
 * ("'actions/chekout' is not a native action (native: actions/checkout, ...)").
 */
int ex_native_list_check(const char *list, struct gr_diag *reterr) GR_MUST_CHECK;

/* Whether list (NULL: empty) turns off the native version of uses ("owner/repo[/path]@ref"). */
bool ex_native_list_has(const char *list, const char *uses);

/* Whether uses has a native implementation at all. */
bool ex_native_exists(const char *uses);
