/* Internal to runner/: returning an idle listener's unused memory (see memtrim.c). */
#pragma once

#include <stdbool.h>

/*
 * malloc_trim, then drop this process's resident pages of read-only, unmodified file mappings
 * (library code and tables it no longer uses; they come back from the page cache on use).
 * Call from the listener's thread while idle. *ret_kb (may be NULL): how much was resident.
 */
int rn_mem_trim(long *ret_kb);
