/*
 * runner/memtrim.c: an idle process's read-only, unmodified file pages stop
 * being resident (and come back intact on use); pages it modified, in a
 * writable mapping or in one made read-only afterwards (as the dynamic loader
 * does with RELRO), stay resident and keep their contents.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "memtrim.h"

#define PAGES 16

/* Resident kB of the mapping that starts at addr, from /proc/self/smaps; -1 if not found. */
static long rss_of(const void *addr)
{
    char line[512];
    unsigned long start, end;
    long v = -1;
    bool in = false;
    FILE *f = fopen("/proc/self/smaps", "re");

    assert_non_null(f);
    while (fgets(line, sizeof(line), f)) {
        if (sscanf(line, "%lx-%lx ", &start, &end) == 2 && strchr(line, '-') < strchr(line, ' '))
            in = start == (unsigned long)addr;
        else if (in && sscanf(line, "Rss: %ld kB", &v) == 1)
            break;
    }
    fclose(f);
    return v;
}

/* A temporary file of PAGES pages, each filled with its index; returns the fd. */
static int make_file(char *path, size_t page)
{
    int fd = mkstemp(path);
    char *buf = malloc(page);

    assert_true(fd >= 0);
    assert_non_null(buf);
    for (int i = 0; i < PAGES; i++) {
        memset(buf, 'a' + i, page);
        assert_int_equal(write(fd, buf, page), (ssize_t)page);
    }
    free(buf);
    return fd;
}

static void test_trim(void **state)
{
    size_t page = (size_t)sysconf(_SC_PAGESIZE), len = page * PAGES;
    char path[] = "/tmp/ghrun-memtrim.XXXXXX";
    int fd = make_file(path, page);
    volatile char *ro, *rw, *relro;
    long sum = 0, kb = -1;

    ro = mmap(NULL, len, PROT_READ, MAP_PRIVATE, fd, 0);
    rw = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
    relro = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
    assert_true(ro != MAP_FAILED && rw != MAP_FAILED && relro != MAP_FAILED);
    for (size_t off = 0; off < len; off += page) {
        sum += ro[off];
        rw[off] = 'X';
        relro[off] = 'Y';
    }
    assert_int_equal(mprotect((void *)relro, len, PROT_READ), 0);
    assert_true(sum > 0);
    assert_int_equal(rss_of((const void *)ro), (long)(len / 1024));

    assert_int_equal(rn_mem_trim(&kb), 0);
    assert_true(kb >= (long)(len / 1024));
    assert_int_equal(rss_of((const void *)ro), 0);                  /* dropped */
    assert_int_equal(rss_of((const void *)rw), (long)(len / 1024)); /* writable: kept */
    assert_int_equal(rss_of((const void *)relro), (long)(len / 1024));
    for (int i = 0; i < PAGES; i++) {
        assert_int_equal(ro[(size_t)i * page + 1], 'a' + i); /* back from the file */
        assert_int_equal(rw[(size_t)i * page], 'X');
        assert_int_equal(relro[(size_t)i * page], 'Y'); /* the modification survived */
        assert_int_equal(relro[(size_t)i * page + 1], 'a' + i);
    }
    munmap((void *)ro, len);
    munmap((void *)rw, len);
    munmap((void *)relro, len);
    close(fd);
    unlink(path);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_trim),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
