/*
 * Temp files of the cache and artifact stores (executor/store_tmp.c), internal to executor/
 * and its unit tests.
 *
 * A temp file's name records its owner: "<prefix>-<boot>-<pidns>-<pid>-<start>-XXXXXX", where
 * boot is the first 8 hex digits of the kernel's boot id, pidns the inode of the owner's pid
 * namespace, and start the owner's start time in clock ticks since boot (/proc/PID/stat field
 * 22). (pid, start) names one process of one boot for good, so a reused pid is not taken for
 * the owner. The owner also holds flock on the file while its descriptor is open.
 *
 * ex__store_tmp_sweep() removes a temp file only when its owner is gone AND nobody holds its
 * flock (a descriptor inherited across fork keeps it). The owner is gone when the boot id
 * differs, or, in the same boot and pid namespace, when /proc/PID is missing or started at
 * another time. Where liveness cannot be told (another pid namespace, a name without an owner,
 * /proc missing), the file must also be older than EX_STORE_TMP_STALE_S.
 *
 * Threads: any thread; every function blocks on file I/O.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#define EX_STORE_TMP_STALE_S (24 * 3600)

/*
 * This process's owner tag ("<boot>-<pidns>-<pid>-<start>") into buf, or "x-0-0-0" when /proc
 * cannot tell. Returns buf.
 */
char *ex__store_tmp_owner(char *buf, size_t len);

/*
 * Create dir/<prefix>-<owner>-XXXXXX (O_RDWR|O_CLOEXEC, 0600) and flock it. *ret_path is owned,
 * *ret_fd is the open descriptor (closing it drops the flock; the owner tag still protects the
 * file while this process lives). 0 or -errno.
 */
int ex__store_tmp_create(const char *dir, const char *prefix, char **ret_path, int *ret_fd)
    __attribute__((warn_unused_result));

/* Whether the temp file name (in dir fd dfd) is abandoned by the rules above. */
bool ex__store_tmp_abandoned(int dfd, const char *name);

/* Remove every abandoned temp file of dir. Returns how many were removed. */
size_t ex__store_tmp_sweep(const char *dir);

/*
 * Under the store's exclusive lock nobody writes `base` (gr_file_write_atomic's "<base>.tmp.<pid>"
 * files), so any such file in dir is left over from a killed writer: remove them. Returns how
 * many were removed.
 */
size_t ex__store_tmp_sweep_atomic(const char *dir, const char *base_suffix);
