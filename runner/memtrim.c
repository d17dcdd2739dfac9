/*
 * Give back the memory an idle listener does not use (memtrim.h).
 *
 * Start-up touches far more of the shared libraries than the idle loop needs:
 * the dynamic loader reads the symbol and relocation tables of some thirty
 * libraries (libcurl's dependencies and OpenSSL bind every symbol at load time).
 * Those pages stay resident until the kernel needs memory. A mapping that is
 * file-backed, not writable and holds no anonymous (copied-on-write) page is
 * identical to the file, so MADV_DONTNEED only drops this process's page table
 * entries: the pages stay in the page cache and come back on first use with a
 * minor fault. Writable mappings and RELRO ones (which the loader wrote before
 * making them read-only, so they hold anonymous pages) are left alone.
 */
#include "memtrim.h"

#include <errno.h>
#include <malloc.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>

#define TRIM_MAX_RANGES 1024

struct range {
    unsigned long start, end;
    long rss_kb;
};

int rn_mem_trim(long *ret_kb)
{
    static struct range r[TRIM_MAX_RANGES]; /* listener thread only */
    char line[512], perms[8];
    unsigned long start, end, inode;
    long v, dropped = 0;
    bool cand = false;
    int n = 0;
    FILE *f;

    (void)malloc_trim(0);
    f = fopen("/proc/self/smaps", "re");
    if (!f)
        return -errno;
    while (fgets(line, sizeof(line), f)) {
        if (sscanf(line, "%lx-%lx %7s %*s %*s %lu", &start, &end, perms, &inode) == 4) {
            cand = inode != 0 && perms[1] != 'w' && n < TRIM_MAX_RANGES;
            if (cand)
                r[n] = (struct range){start, end, 0};
        } else if (cand && sscanf(line, "Rss: %ld kB", &v) == 1) {
            r[n].rss_kb = v;
        } else if (cand && sscanf(line, "Anonymous: %ld kB", &v) == 1) {
            if (v == 0 && r[n].rss_kb > 0)
                n++; /* keep it */
            cand = false;
        }
    }
    fclose(f);
    for (int i = 0; i < n; i++)
        if (madvise((void *)r[i].start, r[i].end - r[i].start, MADV_DONTNEED) == 0)
            dropped += r[i].rss_kb;
    if (ret_kb)
        *ret_kb = dropped;
    return 0;
}
